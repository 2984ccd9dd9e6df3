//! The plain-language summary a person reads before approving a contract (spec sections 6.2
//! and 15): what the assistant may do, about what, where and through which tools, for how
//! long, how sensitive, in which modes, whether anything leaves the machine, and how it ends.
//!
//! The summary is built only from the enforced fields. The free-text `description` is left
//! out on purpose: it may have been written by an agent, and words that the rules do not
//! enforce must not reach the person approving.

use super::format_utc;
use crate::contract::{Abstraction, ContractKind, ContractSpec, RetentionKind};
use crate::mode::{BoundaryMode, MemoryClass};
use crate::scope::Name;
use crate::time::Timestamp;

/// The summary of a contract of `kind` with `spec`, judged at `now` (a timebound end that has
/// passed is called out). Every sentence ends with a full stop; the last one says how the
/// contract can end. A spec that cannot be approved yet says so, and why.
pub fn summarize(kind: ContractKind, spec: &ContractSpec, now: Timestamp) -> String {
    let prohibited = kind == ContractKind::Prohibited;
    let mut sentences = vec![opening(kind, spec)];
    sentences.extend(generalization(kind, spec.max_abstraction));
    if prohibited {
        sentences.push("This prohibition overrides every other contract.".to_string());
        if spec.system {
            sentences.push("It applies to every user of this computer.".to_string());
        }
    }

    let (retention, retention_blocked) = retention_sentence(kind, spec, now);
    sentences.push(retention);
    if kind.may_store()
        && matches!(
            spec.retention,
            Some(RetentionKind::Timebound | RetentionKind::Session)
        )
    {
        sentences.push(
            "When it ends, what was learned is frozen: kept, but never used again.".to_string(),
        );
    }

    if kind.may_store() {
        let cap = spec
            .classification_cap
            .or(kind.max_classification())
            .unwrap_or(MemoryClass::Public);
        sentences.push(classification_sentence(cap));
    }
    sentences.extend(mode_sentence(kind, spec.required_mode));

    sentences.push(if spec.transferable {
        "What it learns may be shared outside this machine.".to_string()
    } else {
        "Nothing will leave this machine.".to_string()
    });
    if spec.recall_requires_owner {
        sentences.push("It may recall what it learned only while you are present.".to_string());
    }

    let problems: Vec<String> = spec
        .problems(kind, true, now)
        .into_iter()
        // The retention sentence already said why retention blocks approval.
        .filter(|p| !(retention_blocked && (p.key == "retention" || p.key == "retention_until")))
        .map(|p| p.message)
        .collect();
    if !problems.is_empty() {
        sentences.push(format!(
            "Before it can be approved: {}.",
            problems.join("; ")
        ));
    }

    sentences.push(ending(kind, spec.retention));
    sentences.join(" ")
}

/// What the kind allows, with the scope in words.
fn opening(kind: ContractKind, spec: &ContractSpec) -> String {
    let scope = &spec.scope;
    let about = match scope.domains.as_slice() {
        [] => "a subject not yet named".to_string(),
        domains => join_natural(&names(domains)),
    };
    let place = contexts_phrase(&scope.contexts);
    let tools = tools_phrase(&scope.tools);
    match kind {
        ContractKind::Observation => format!(
            "You allow the assistant to watch your activity about {about} {place}{tools}, but it keeps nothing and learns nothing from what it sees."
        ),
        ContractKind::Episodic => format!(
            "You allow the assistant to remember specific episodes about {about} {place}{tools}."
        ),
        ContractKind::Procedural => {
            format!("You allow the assistant to learn and reuse tips about {about} {place}{tools}.")
        }
        ContractKind::Strategic => format!(
            "You allow the assistant to form longer-term strategies about {about} {place}{tools}."
        ),
        // Prohibitions cover every tool, so the tools are not mentioned.
        ContractKind::Prohibited => {
            format!("The assistant may never learn anything about {about} {place}.")
        }
    }
}

/// "in any context", "in the work context", "in the work and home contexts".
fn contexts_phrase(contexts: &[Name]) -> String {
    if contexts.iter().any(Name::is_any) {
        return "in any context".to_string();
    }
    match contexts {
        [] => "in a context not yet named".to_string(),
        [one] => format!("in the {one} context"),
        many => format!("in the {} contexts", join_natural(&names(many))),
    }
}

/// ", not through any tool", " using any tool", " using the editor and the debugger".
fn tools_phrase(tools: &[Name]) -> String {
    if tools.iter().any(Name::is_any) {
        return " using any tool".to_string();
    }
    if tools.is_empty() {
        return ", not through any tool".to_string();
    }
    let each: Vec<String> = tools.iter().map(|tool| format!("the {tool}")).collect();
    format!(" using {}", join_natural(&each))
}

/// How far it may generalize, for the kinds that store.
fn generalization(kind: ContractKind, lowered: Option<Abstraction>) -> Option<String> {
    let max = kind.max_abstraction()?;
    let level = lowered.map_or(max, |level| level.min(max));
    Some(
        match level {
            Abstraction::Raw => {
                "It keeps each episode as it happened and may not generalize from them."
            }
            Abstraction::Pattern => {
                "It may generalize only as far as recurring patterns, never to rules of thumb or strategies."
            }
            Abstraction::Heuristic => {
                "It may generalize as far as reusable rules of thumb (heuristics), never to longer-term strategies."
            }
            Abstraction::Strategy => "It may generalize as far as longer-term strategies.",
        }
        .to_string(),
    )
}

/// How long it lasts, and whether that alone blocks approval.
fn retention_sentence(kind: ContractKind, spec: &ContractSpec, now: Timestamp) -> (String, bool) {
    let noun = if kind == ContractKind::Prohibited {
        "prohibition"
    } else {
        "contract"
    };
    match (spec.retention, spec.retention_until) {
        (None, _) => (
            format!("How long this {noun} lasts is not yet decided, so it cannot be approved yet."),
            true,
        ),
        (Some(RetentionKind::Permanent), _) if kind == ContractKind::Prohibited => {
            ("This prohibition is permanent.".to_string(), false)
        }
        (Some(RetentionKind::Permanent), _) => {
            (format!("This {noun} lasts until you revoke it."), false)
        }
        (Some(RetentionKind::Session), _) => (
            format!("This {noun} lasts only for the session it is bound to."),
            false,
        ),
        (Some(RetentionKind::Timebound), None) => (
            format!(
                "This {noun} is meant to end at a set time, but no end time is set yet, so it cannot be approved yet."
            ),
            true,
        ),
        (Some(RetentionKind::Timebound), Some(until)) if until <= now => (
            format!(
                "This {noun} lasts until {}, which has already passed, so it cannot be approved.",
                format_utc(until)
            ),
            true,
        ),
        (Some(RetentionKind::Timebound), Some(until)) => (
            format!("This {noun} lasts until {}.", format_utc(until)),
            false,
        ),
    }
}

/// The classification cap in words, with its level so it can be compared with the modes.
fn classification_sentence(cap: MemoryClass) -> String {
    match cap {
        MemoryClass::Public => "It may only handle information that is public.".to_string(),
        _ => format!(
            "It may handle information up to {} (level {} of 5), never anything more sensitive.",
            class_words(cap),
            cap.wire()
        ),
    }
}

fn class_words(class: MemoryClass) -> &'static str {
    match class {
        MemoryClass::Public => "public",
        MemoryClass::Internal => "internal",
        MemoryClass::Confidential => "confidential",
        MemoryClass::Secret => "secret",
        MemoryClass::TopSecret => "top secret",
        MemoryClass::CrownJewel => "crown jewel",
    }
}

/// The mode requirement, said only when it matters: always for strategic contracts, and for
/// other kinds only when stricter than the kind's default. Prohibitions apply in every mode.
fn mode_sentence(kind: ContractKind, stated: Option<BoundaryMode>) -> Option<String> {
    let least = kind.default_required_mode()?;
    // A looser stated mode never applies (SEMANTICS.md section 2); the problems say so.
    let required = stated.map_or(least, |mode| mode.max(least));
    if required == least && kind != ContractKind::Strategic {
        return None;
    }
    let verb = if kind == ContractKind::Observation {
        "watch"
    } else {
        "learn"
    };
    Some(format!(
        "It may {verb} only while this computer is in {required} mode ({}) or a more isolated one.",
        mode_words(required)
    ))
}

fn mode_words(mode: BoundaryMode) -> &'static str {
    match mode {
        BoundaryMode::Open => "direct network access",
        BoundaryMode::Restricted => "network limited to the local network",
        BoundaryMode::Trusted => "every connection out goes through a VPN or encrypted tunnel",
        BoundaryMode::Airgap => "no network at all",
        BoundaryMode::Coldroom => "no network, no removable media, and all storage encrypted",
        BoundaryMode::Lockdown => "nothing at all is allowed",
    }
}

/// How the contract ends: only prohibitions cannot be revoked (SEMANTICS.md section 5).
fn ending(kind: ContractKind, retention: Option<RetentionKind>) -> String {
    if kind != ContractKind::Prohibited {
        return "You can revoke this at any time.".to_string();
    }
    if retention == Some(RetentionKind::Permanent) {
        "It cannot be revoked, and since it is permanent it never ends.".to_string()
    } else {
        "It cannot be revoked; it ends only when it expires.".to_string()
    }
}

fn names(list: &[Name]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

/// "a", "a and b", "a, b and c".
fn join_natural(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
