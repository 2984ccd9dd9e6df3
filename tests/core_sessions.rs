//! Sessions and the clocks (SEMANTICS.md sections 5, 6, 9 and 10): an amendment away from
//! `session` retention drops the binding; session idle time and the purge token's lifetime run
//! on the monotonic clock, whatever the wall clock does; timebound expiry follows the wall
//! clock across its steps as docs/DECISIONS.md says.

mod common;

use common::core_fixtures::*;
use learning_contracts::core::{
    BoundaryMode, Caller, CheckKind, Code, ContractKind, ContractState, MemoryClass, MemoryStatus,
    Registry, RetentionKind, SessionLimits, SpecPatch,
};

/// Session limits roomy enough not to matter here.
const LIMITS: SessionLimits = SessionLimits {
    per_owner: 8,
    per_connection: 8,
};

fn session_patch(domain: &str) -> SpecPatch {
    SpecPatch {
        retention: Some(RetentionKind::Session),
        ..scope_patch(&[domain], &["*"], &["*"])
    }
}

fn open_session(registry: &mut Registry, id: &str) {
    let planned = registry.plan_open_session(&Caller::uid(OWNER), OWNER, id.into(), LIMITS, at(1));
    apply_ok(registry, planned);
}

fn bind(registry: &mut Registry, session: &str, contract: &str) {
    let planned = registry.plan_bind(&owner(), session, contract, at(1));
    apply_ok(registry, planned);
}

/// A session contract `sc1` bound to session `s1`, with memory `m1`.
fn bound_session_contract() -> Registry {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &session_patch("email"),
        "sc1",
        at(0),
    );
    open_session(&mut registry, "s1");
    bind(&mut registry, "s1", "sc1");
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Public),
        "m1",
        &[],
        at(2),
    );
    registry
}

fn amend_activate(registry: &mut Registry, patch: &SpecPatch) {
    let planned = registry.plan_amend(&owner(), "sc1", patch, "v2".into(), at(3));
    apply_ok(registry, planned);
    let planned = registry.plan_submit(&owner(), "v2", at(3));
    apply_ok(registry, planned);
    let planned = registry.plan_activate(&owner_confirmed(), "v2", at(4));
    apply_ok(registry, planned);
    assert_eq!(state(registry, "sc1"), ContractState::Amended);
    assert_eq!(state(registry, "v2"), ContractState::Active);
}

// ---------------------------------------------------------------------------------------------
// Amendments and the session binding (F13)

#[test]
fn an_amendment_away_from_session_retention_drops_the_binding_and_outlives_the_session() {
    let mut registry = bound_session_contract();
    let permanent = SpecPatch {
        retention: Some(RetentionKind::Permanent),
        ..SpecPatch::default()
    };
    amend_activate(&mut registry, &permanent);
    assert_eq!(
        registry.contract("v2").unwrap().session,
        None,
        "a permanent contract is bound to no session"
    );

    let change = registry
        .plan_end_session(None, "s1", "the agent's connection left the bus", at(5))
        .unwrap();
    registry.apply(change);
    assert_eq!(state(&registry, "v2"), ContractState::Active);
    assert_eq!(status(&registry, "m1"), MemoryStatus::Active);
    let decision = registry.check(
        CheckKind::MemoryCreation,
        &req(OWNER, "email", "w", MemoryClass::Public),
        at(6),
    );
    assert!(decision.allowed, "{decision:?}");
    assert_eq!(decision.contract_id.as_deref(), Some("v2"));
}

#[test]
fn an_amendment_that_keeps_session_retention_keeps_the_binding_and_ends_with_the_session() {
    let mut registry = bound_session_contract();
    let wider = SpecPatch {
        domains: Some(ns(&["email", "notes"])),
        ..SpecPatch::default()
    };
    amend_activate(&mut registry, &wider);
    assert_eq!(
        registry.contract("v2").unwrap().session.as_deref(),
        Some("s1")
    );

    let change = registry
        .plan_end_session(None, "s1", "idle time reached", at(5))
        .unwrap();
    registry.apply(change);
    assert_eq!(state(&registry, "v2"), ContractState::Expired);
    assert_eq!(status(&registry, "m1"), MemoryStatus::Frozen);
    let decision = registry.check(
        CheckKind::MemoryCreation,
        &naming(req(OWNER, "email", "w", MemoryClass::Public), "v2"),
        at(6),
    );
    assert_eq!(decision.code, Code::NotActive);
}
