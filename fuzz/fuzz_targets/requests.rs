//! The request dictionaries of every bus method that takes one, decoded from a D-Bus body of
//! signature a{sv} by the daemon's own bounded reader (`args::Request`), exactly as a call's
//! argument is decoded: `CreateDraft`, `UpdateDraft` and `Amend`
//! (spec), the four checks and `RegisterMemory` (request), `List` (filter),
//! `DraftFromTemplate` (params, then every template), `ToolGate` (needs) and `Sessions1.Open`
//! (options); and the string arguments (ids, modes, kinds, names) with every string found in
//! the dictionary. Each parser must answer Ok or InvalidArgs with a short message, never panic.
//!
//! The first byte picks the byte order (bit 0) and the limits (bit 1: the defaults, 64
//! entries and 4096 bytes; else tiny ones, so the limit paths are reached by small inputs).

#![no_main]

use learning_contracts::bus::args::{
    self, Arg, BATCH_MAX, Batch, ID_MAX_BYTES, Request, RequestKind, list_filter, session_options,
    spec_patch, template_params, tool_needs,
};
use learning_contracts::bus::error::BusError;
use learning_contracts::config::LimitsConfig;
use learning_contracts::core::plain::{TEMPLATES, instantiate};
use learning_contracts::core::{CheckKind, Name, Timestamp};
use libfuzzer_sys::fuzz_target;
use zbus::wire::serialized::{Context, Data};
use zbus::wire::{BE, LE};

/// An error message echoes a key or a value only cut short: no caller can make the daemon
/// send back (or log) what it sent in.
const MAX_MESSAGE_BYTES: usize = 1024;

fn refused<T>(what: &str, outcome: Result<T, BusError>) -> Option<T> {
    match outcome {
        Ok(value) => Some(value),
        Err(err) => {
            assert_eq!(
                err.error_name(),
                "org.freedesktop.DBus.Error.InvalidArgs",
                "{what}: {err}"
            );
            assert!(
                err.message().len() <= MAX_MESSAGE_BYTES,
                "{what}: a {}-byte message: {:.200}",
                err.message().len(),
                err.message()
            );
            None
        }
    }
}

/// Every string a value holds, for the string-argument parsers.
fn strings(value: &Arg, out: &mut Vec<String>) {
    match value {
        Arg::Str(text) => out.push(text.clone()),
        Arg::Strs(list) => out.extend(list.iter().cloned()),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let endian = if flags & 1 == 0 { LE } else { BE };
    let limits = if flags & 2 == 0 {
        LimitsConfig::default()
    } else {
        LimitsConfig {
            max_entries: 2,
            max_string_bytes: 16,
            ..LimitsConfig::default()
        }
    };
    // The same bytes as a CheckBatch's requests: never more than BATCH_MAX held, however many
    // the body counts, and each held request parses as a single call's does.
    if let Ok((batch, _)) = Data::new(body, Context::new(endian, 0)).deserialize::<Batch>() {
        assert!(batch.requests().len() <= BATCH_MAX);
        assert!(batch.requests().len() <= batch.len());
        for dict in batch.requests().iter().take(4) {
            refused(
                "batch request",
                args::request(dict, RequestKind::Check(CheckKind::Recall), &limits),
            );
        }
    }
    let Ok((dict, _)) = Data::new(body, Context::new(endian, 0)).deserialize::<Request>() else {
        return;
    };

    if let Some(patch) = refused("spec", spec_patch(&dict, &limits)) {
        for list in [&patch.domains, &patch.contexts, &patch.tools]
            .into_iter()
            .flatten()
        {
            assert!(list.len() <= limits.max_entries);
        }
        if let Some(description) = &patch.description {
            assert!(description.len() <= limits.max_string_bytes);
        }
        assert!(patch.retention_until.is_none_or(|at| at.as_millis() > 0));
    }
    let kinds = [
        RequestKind::Check(CheckKind::MemoryCreation),
        RequestKind::Check(CheckKind::Abstraction),
        RequestKind::Check(CheckKind::Recall),
        RequestKind::Check(CheckKind::Export),
        RequestKind::Register,
    ];
    for kind in kinds {
        if let Some(request) = refused("request", args::request(&dict, kind, &limits)) {
            assert!(!request.domain.is_any() && !request.context.is_any());
            for id in [&request.contract_id, &request.memory_id]
                .into_iter()
                .flatten()
            {
                assert!(!id.is_empty() && id.len() <= ID_MAX_BYTES);
            }
            assert!(request.derived_from.len() <= limits.max_entries);
            if kind != RequestKind::Register {
                assert!(request.derived_from.is_empty());
            }
        }
    }
    refused("filter", list_filter(&dict, &limits));
    refused("needs", tool_needs(&dict, &limits));
    refused("options", session_options(&dict, &limits));
    if let Some(params) = refused("params", template_params(&dict, &limits)) {
        assert!(params.len() <= limits.max_entries);
        let now = Timestamp::from_millis(1_777_636_800_000);
        let names = TEMPLATES.iter().map(|t| t.name).chain(["no-such-template"]);
        for name in names {
            // As the handler does: the template's error becomes InvalidArgs naming the key.
            let outcome = instantiate(name, &params, now)
                .map_err(|err| BusError::invalid_args("params", err));
            if let Some((_, patch)) = refused("template", outcome) {
                assert_ne!(patch.transferable, Some(true), "{name}: {params:?}");
            }
        }
    }

    // The plain string arguments, with every string the dictionary holds.
    let mut texts: Vec<String> = Vec::new();
    for (key, value) in dict.iter() {
        texts.push(key.to_string());
        strings(value, &mut texts);
    }
    for text in texts.iter().take(16) {
        if let Some(id) = refused("id", args::parse_id("id", text)) {
            assert!(!id.is_empty() && id.len() <= ID_MAX_BYTES);
        }
        refused("mode", args::parse_mode("mode", text));
        refused("kind", args::parse_kind(text));
        let _ = Name::parse(text);
    }
});
