//! Shared fixtures for the tests of the pure core: fixed instants, names, actors, and short
//! helpers that plan a change and apply it at once (in production the store commits first).

#![allow(dead_code)]

use learning_contracts::core::{
    Abstraction, Actor, Change, CheckKind, CheckRequest, ContractKind, ContractState, CoreError,
    Decision, EffectiveMode, Event, MemoryClass, MemoryStatus, Monotonic, Name, Now, Registry,
    RetentionKind, SpecPatch, Timestamp, Uid,
};
use learning_contracts::core::{BoundaryMode, Caller};

/// The owner most tests use.
pub const OWNER: Uid = 1000;
/// Another local user.
pub const OTHER: Uid = 1001;
/// An admin.
pub const ADMIN: Uid = 0;
/// A fixed base instant (milliseconds since the epoch).
pub const T0: i64 = 1_700_000_000_000;

/// The instant `offset` milliseconds after [`T0`].
pub fn at(offset: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset)
}

/// Both clocks `offset` milliseconds on: the wall clock at [`at`]`(offset)`, the monotonic
/// clock at `offset`. For tests where the two move together.
pub fn both_at(offset: i64) -> Now {
    Now {
        wall: at(offset),
        mono: Monotonic::from_millis(offset),
    }
}

/// A valid name.
pub fn n(raw: &str) -> Name {
    Name::parse(raw).unwrap_or_else(|e| panic!("'{raw}' should be a valid name: {e}"))
}

/// Valid names.
pub fn ns(raw: &[&str]) -> Vec<Name> {
    raw.iter().map(|r| n(r)).collect()
}

/// The owner, without confirmation.
pub fn owner() -> Actor {
    Actor::user(OWNER)
}

/// The owner, having passed an interactive confirmation.
pub fn owner_confirmed() -> Actor {
    Actor::user(OWNER).confirmed()
}

/// Another user, even with a confirmation.
pub fn other() -> Actor {
    Actor::user(OTHER).confirmed()
}

/// An admin that owns none of the test contracts.
pub fn admin() -> Actor {
    Actor::admin(ADMIN)
}

/// A permanent spec with the given scope.
pub fn scope_patch(domains: &[&str], contexts: &[&str], tools: &[&str]) -> SpecPatch {
    SpecPatch {
        domains: Some(ns(domains)),
        contexts: Some(ns(contexts)),
        tools: Some(ns(tools)),
        retention: Some(RetentionKind::Permanent),
        ..SpecPatch::default()
    }
}

/// A permanent spec over `email`, any context, any tool.
pub fn email_patch() -> SpecPatch {
    scope_patch(&["email"], &["*"], &["*"])
}

/// A permanent prohibition over the domains and contexts (prohibitions take no tools).
pub fn prohibition_patch(domains: &[&str], contexts: &[&str]) -> SpecPatch {
    scope_patch(domains, contexts, &[])
}

/// A timebound spec over `email` ending at `until`.
pub fn timebound_patch(until: Timestamp) -> SpecPatch {
    SpecPatch {
        retention: Some(RetentionKind::Timebound),
        retention_until: Some(until),
        ..email_patch()
    }
}

/// A registry whose effective mode is `mode` (applied at [`T0`]).
pub fn registry_in(mode: BoundaryMode) -> Registry {
    let mut registry = Registry::default();
    set_mode(&mut registry, EffectiveMode::Known(mode), at(0));
    registry
}

/// Plans and applies a change of the effective mode; the events, empty when nothing changed.
pub fn set_mode(registry: &mut Registry, mode: EffectiveMode, now: Timestamp) -> Vec<Event> {
    match registry.plan_mode_change(mode, "test reading", now) {
        Some(change) => registry.apply(change),
        None => Vec::new(),
    }
}

/// Applies a planned change, panicking with the error if planning failed.
pub fn apply_ok(registry: &mut Registry, planned: Result<Change, CoreError>) -> Vec<Event> {
    let change = planned.unwrap_or_else(|e| panic!("the change should be planned: {e:?}"));
    registry.apply(change)
}

/// Creates a Draft of `kind` as `actor`.
pub fn create_draft(
    registry: &mut Registry,
    actor: &Actor,
    kind: ContractKind,
    patch: &SpecPatch,
    id: &str,
    now: Timestamp,
) -> String {
    let planned = registry.plan_create_draft(actor, kind, patch, id.to_string(), now);
    apply_ok(registry, planned);
    id.to_string()
}

/// Creates and submits a contract of `owner` (state Review).
pub fn review_contract(
    registry: &mut Registry,
    owner: Uid,
    kind: ContractKind,
    patch: &SpecPatch,
    id: &str,
    now: Timestamp,
) -> String {
    let actor = Actor::user(owner);
    create_draft(registry, &actor, kind, patch, id, now);
    let planned = registry.plan_submit(&actor, id, now);
    apply_ok(registry, planned);
    id.to_string()
}

/// Creates, submits and activates (with the owner's confirmation) a contract of `owner`.
pub fn active_contract(
    registry: &mut Registry,
    owner: Uid,
    kind: ContractKind,
    patch: &SpecPatch,
    id: &str,
    now: Timestamp,
) -> String {
    review_contract(registry, owner, kind, patch, id, now);
    let planned = registry.plan_activate(&Actor::user(owner).confirmed(), id, now);
    apply_ok(registry, planned);
    assert_eq!(state(registry, id), ContractState::Active);
    id.to_string()
}

/// Creates and activates a system prohibition as the admin.
pub fn active_system_prohibition(
    registry: &mut Registry,
    domains: &[&str],
    contexts: &[&str],
    id: &str,
    now: Timestamp,
) -> String {
    let patch = SpecPatch {
        system: Some(true),
        ..prohibition_patch(domains, contexts)
    };
    let actor = admin();
    create_draft(registry, &actor, ContractKind::Prohibited, &patch, id, now);
    let planned = registry.plan_submit(&actor, id, now);
    apply_ok(registry, planned);
    let planned = registry.plan_activate(&actor, id, now);
    apply_ok(registry, planned);
    id.to_string()
}

/// Revokes a contract as its owner.
pub fn revoke(registry: &mut Registry, id: &str, now: Timestamp) -> Vec<Event> {
    let owner = registry.contract(id).expect("contract exists").owner;
    let planned = registry.plan_revoke(&Actor::user(owner), id, "test revocation", now);
    apply_ok(registry, planned)
}

/// The state of a contract.
pub fn state(registry: &Registry, id: &str) -> ContractState {
    registry.contract(id).expect("contract exists").state
}

/// A request of `owner` for `domain` and `context` at `class`, nothing else named.
pub fn req(owner: Uid, domain: &str, context: &str, class: MemoryClass) -> CheckRequest {
    CheckRequest::new(owner, n(domain), n(context), class)
}

/// The same request, naming a contract.
pub fn naming(mut request: CheckRequest, contract_id: &str) -> CheckRequest {
    request.contract_id = Some(contract_id.to_string());
    request
}

/// The same request, naming a memory.
pub fn about_memory(mut request: CheckRequest, memory_id: &str) -> CheckRequest {
    request.memory_id = Some(memory_id.to_string());
    request
}

/// The same request at an abstraction level.
pub fn at_level(mut request: CheckRequest, level: Abstraction) -> CheckRequest {
    request.abstraction = level;
    request
}

/// The same request, through a tool.
pub fn with_tool(mut request: CheckRequest, tool: &str) -> CheckRequest {
    request.tool = Some(n(tool));
    request
}

/// Every check kind.
pub const ALL_CHECKS: [CheckKind; 4] = [
    CheckKind::MemoryCreation,
    CheckKind::Abstraction,
    CheckKind::Recall,
    CheckKind::Export,
];

/// Registers a memory; applies the change when allowed; returns the decision.
pub fn register(
    registry: &mut Registry,
    request: &CheckRequest,
    memory_id: &str,
    derived_from: &[&str],
    now: Timestamp,
) -> Decision {
    let derived: Vec<String> = derived_from.iter().map(|s| s.to_string()).collect();
    let registration = registry
        .plan_register_memory(
            &Caller::uid(request.owner),
            request,
            memory_id.to_string(),
            &derived,
            shred_key(request.owner, memory_id),
            now,
        )
        .unwrap_or_else(|e| panic!("registration should be planned: {e:?}"));
    if registration.decision.allowed {
        registry.apply(registration.change);
    }
    registration.decision
}

/// Registers a memory that must be allowed.
pub fn must_register(
    registry: &mut Registry,
    request: &CheckRequest,
    memory_id: &str,
    derived_from: &[&str],
    now: Timestamp,
) {
    let decision = register(registry, request, memory_id, derived_from, now);
    assert!(
        decision.allowed,
        "memory {memory_id} should be registered: {decision:?}"
    );
}

/// A memory's audit key for tests: derived from its owner and id, so runs are repeatable.
pub fn shred_key(owner: u32, memory_id: &str) -> learning_contracts::core::memory::ShredKey {
    use sha2::{Digest, Sha512};
    let digest = Sha512::digest(format!("{owner}/{memory_id}").as_bytes());
    let mut random = [0u8; 48];
    random.copy_from_slice(&digest[..48]);
    learning_contracts::core::memory::ShredKey::from_random(random)
}

/// The status of a memory, found by id among every owner's (fixtures give ids once).
pub fn status(registry: &Registry, memory_id: &str) -> MemoryStatus {
    registry
        .memories()
        .find(|memory| memory.id == memory_id)
        .expect("memory exists")
        .status
}

/// The error of a planning result that must fail.
pub fn err<T: std::fmt::Debug>(result: Result<T, CoreError>) -> CoreError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => e,
    }
}

/// The spec keys of an InvalidSpec error, sorted and deduplicated.
pub fn problem_keys(error: &CoreError) -> Vec<String> {
    match error {
        CoreError::InvalidSpec { problems } => {
            let mut keys: Vec<String> = problems.iter().map(|p| p.key.clone()).collect();
            keys.sort();
            keys.dedup();
            keys
        }
        other => panic!("expected InvalidSpec, got {other:?}"),
    }
}

/// Every effective mode: UNKNOWN and the six boundary modes.
pub fn all_effective_modes() -> Vec<EffectiveMode> {
    std::iter::once(EffectiveMode::Unknown)
        .chain(BoundaryMode::ALL.into_iter().map(EffectiveMode::Known))
        .collect()
}
