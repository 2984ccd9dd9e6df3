//! The `a{sv}` dictionaries the daemon answers with: contracts and memories, with the keys of
//! DBUS-API.md. Absent times are 0 and absent ids empty, so every key is always present.

use crate::core::{Contract, MemoryRecord, Registry, Timestamp};
use std::collections::HashMap;
use zbus::{OwnedVariant, Variant};

/// A dictionary to send.
pub type Dict = HashMap<String, OwnedVariant>;

fn put<'a>(dict: &mut Dict, key: &str, value: impl Into<Variant<'a>>) {
    if let Ok(value) = OwnedVariant::try_from(value.into()) {
        dict.insert(key.to_string(), value);
    }
}

fn secs(at: Option<Timestamp>) -> i64 {
    at.map_or(0, Timestamp::as_secs)
}

fn strings(list: &[crate::core::Name]) -> Vec<String> {
    list.iter().map(|name| name.as_str().to_string()).collect()
}

/// A contract as a dictionary: the spec keys (with the values in force) plus its identity,
/// state, suspension and times.
pub fn contract(registry: &Registry, contract: &Contract, now: Timestamp) -> Dict {
    let mut dict = Dict::new();
    let spec = &contract.spec;
    put(&mut dict, "id", contract.id.as_str());
    put(&mut dict, "kind", contract.kind.as_str());
    put(&mut dict, "state", contract.state.as_str());
    put(&mut dict, "owner", contract.owner);
    put(&mut dict, "domains", strings(&spec.scope.domains));
    put(&mut dict, "contexts", strings(&spec.scope.contexts));
    put(&mut dict, "tools", strings(&spec.scope.tools));
    put(
        &mut dict,
        "retention",
        spec.retention.map_or("", |r| r.as_str()),
    );
    put(&mut dict, "retention_until", secs(spec.retention_until));
    if let Some(cap) = contract.classification_cap() {
        put(&mut dict, "classification_cap", cap.wire());
    }
    if let Some(mode) = contract.required_mode() {
        put(&mut dict, "required_mode", mode.name());
    }
    if let Some(level) = contract.max_abstraction() {
        put(&mut dict, "max_abstraction", level.as_str());
    }
    put(&mut dict, "transferable", spec.transferable);
    put(
        &mut dict,
        "recall_requires_owner",
        spec.recall_requires_owner,
    );
    put(&mut dict, "description", spec.description.as_str());
    put(&mut dict, "system", spec.system);
    let suspension: Vec<String> = registry
        .suspension(contract)
        .names()
        .into_iter()
        .map(str::to_string)
        .collect();
    put(&mut dict, "suspension", suspension);
    put(&mut dict, "effective", registry.is_effective(contract, now));
    put(&mut dict, "created", contract.created.as_secs());
    put(&mut dict, "activated", secs(contract.activated));
    put(&mut dict, "ended", secs(contract.ended));
    put(
        &mut dict,
        "supersedes",
        contract.supersedes.as_deref().unwrap_or(""),
    );
    put(
        &mut dict,
        "superseded_by",
        contract.superseded_by.as_deref().unwrap_or(""),
    );
    put(
        &mut dict,
        "session_id",
        contract.session.as_deref().unwrap_or(""),
    );
    dict
}

/// A memory record as a dictionary.
pub fn memory(memory: &MemoryRecord) -> Dict {
    let mut dict = Dict::new();
    put(&mut dict, "id", memory.id.as_str());
    put(&mut dict, "contract_id", memory.contract_id.as_str());
    put(&mut dict, "owner", memory.owner);
    put(&mut dict, "domain", memory.domain.as_str());
    put(&mut dict, "context", memory.context.as_str());
    put(&mut dict, "classification", memory.classification.wire());
    put(&mut dict, "abstraction", memory.abstraction.as_str());
    put(&mut dict, "derived_from", memory.derived_from.clone());
    put(&mut dict, "created", memory.created.as_secs());
    put(&mut dict, "status", memory.status.as_str());
    dict
}
