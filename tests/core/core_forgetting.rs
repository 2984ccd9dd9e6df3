//! Memories and forgetting (SEMANTICS.md sections 6, 9 and 10): registration, the revocation
//! cascade, freezing on expiry and at the end of a session, and the deep purge with its
//! one-time token.

use crate::common::core_fixtures::*;
use learning_contracts::core::forgetting::PURGE_TOKEN_MILLIS;
use learning_contracts::core::{
    Abstraction, BoundaryMode, Caller, CheckKind, Code, ContractKind, ContractState, CoreError,
    Event, MemoryClass, MemoryStatus, PurgeTokens, Registry, RetentionKind, SpecPatch,
};

/// Session limits roomy enough not to matter here.
const LIMITS: learning_contracts::core::SessionLimits = learning_contracts::core::SessionLimits {
    per_owner: 8,
    per_connection: 8,
};

fn memories_event(events: &[Event], contract: &str, status: MemoryStatus) -> Option<Vec<String>> {
    events.iter().find_map(|event| match event {
        Event::MemoriesChanged {
            contract_id,
            status: s,
            memory_ids,
        } if contract_id == contract && *s == status => Some(memory_ids.clone()),
        _ => None,
    })
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Owner's contracts in TRUSTED: `src` (strategic, email), `b` (episodic, notes and email),
/// `c` (procedural, calendar, notes and email), with memories at every level and derivations
/// across them (each deriving contract covers what its sources hold).
fn cascade_world() -> Registry {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Strategic,
        &email_patch(),
        "src",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &scope_patch(&["notes", "email"], &["*"], &["*"]),
        "b",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Procedural,
        &scope_patch(&["calendar", "notes", "email"], &["*"], &["*"]),
        "c",
        at(0),
    );
    let in_src = |level| at_level(req(OWNER, "email", "w", MemoryClass::Internal), level);
    must_register(
        &mut registry,
        &in_src(Abstraction::Raw),
        "s-raw",
        &[],
        at(1),
    );
    must_register(
        &mut registry,
        &in_src(Abstraction::Pattern),
        "s-pat",
        &["s-raw"],
        at(1),
    );
    must_register(
        &mut registry,
        &in_src(Abstraction::Heuristic),
        "s-heu",
        &[],
        at(1),
    );
    must_register(
        &mut registry,
        &in_src(Abstraction::Strategy),
        "s-str",
        &["s-heu"],
        at(1),
    );
    // A derived memory is at least the class of its sources (Internal), and its contract
    // covers what they hold.
    let in_b = |class| naming(req(OWNER, "notes", "w", class), "b");
    must_register(
        &mut registry,
        &in_b(MemoryClass::Internal),
        "b-derived",
        &["s-raw"],
        at(2),
    );
    must_register(
        &mut registry,
        &in_b(MemoryClass::Public),
        "b-independent",
        &[],
        at(2),
    );
    let in_c = |level| {
        naming(
            at_level(req(OWNER, "calendar", "w", MemoryClass::Internal), level),
            "c",
        )
    };
    must_register(
        &mut registry,
        &in_c(Abstraction::Raw),
        "c-transitive",
        &["b-derived"],
        at(3),
    );
    must_register(
        &mut registry,
        &in_c(Abstraction::Pattern),
        "c-from-heuristic",
        &["s-heu", "b-independent"],
        at(3),
    );
    registry
}

#[test]
fn revocation_tombstones_invalidates_and_quarantines_transitively() {
    let mut registry = cascade_world();
    let events = revoke(&mut registry, "src", at(10));

    assert_eq!(status(&registry, "s-raw"), MemoryStatus::Tombstoned);
    assert_eq!(status(&registry, "s-pat"), MemoryStatus::Tombstoned);
    assert_eq!(status(&registry, "s-heu"), MemoryStatus::Invalidated);
    assert_eq!(status(&registry, "s-str"), MemoryStatus::Invalidated);
    assert_eq!(status(&registry, "b-derived"), MemoryStatus::Quarantined);
    assert_eq!(status(&registry, "c-transitive"), MemoryStatus::Quarantined);
    assert_eq!(
        status(&registry, "c-from-heuristic"),
        MemoryStatus::Quarantined
    );
    assert_eq!(status(&registry, "b-independent"), MemoryStatus::Active);
    // Quarantined memories stay with their own contracts, which stay Active.
    assert_eq!(
        registry.memory(OWNER, "b-derived").unwrap().contract_id,
        "b"
    );
    assert_eq!(state(&registry, "b"), ContractState::Active);
    assert_eq!(state(&registry, "c"), ContractState::Active);

    // Each effect is announced with the memory ids.
    assert_eq!(
        memories_event(&events, "src", MemoryStatus::Tombstoned),
        Some(ids(&["s-pat", "s-raw"]))
    );
    assert_eq!(
        memories_event(&events, "src", MemoryStatus::Invalidated),
        Some(ids(&["s-heu", "s-str"]))
    );
    assert_eq!(
        memories_event(&events, "b", MemoryStatus::Quarantined),
        Some(ids(&["b-derived"]))
    );
    assert_eq!(
        memories_event(&events, "c", MemoryStatus::Quarantined),
        Some(ids(&["c-from-heuristic", "c-transitive"]))
    );

    // None of them can be recalled any more; the untouched one can.
    for (memory, domain) in [
        ("b-derived", "notes"),
        ("c-transitive", "calendar"),
        ("c-from-heuristic", "calendar"),
    ] {
        let request = about_memory(req(OWNER, domain, "w", MemoryClass::Public), memory);
        let decision = registry.check(CheckKind::Recall, &request, at(11));
        assert_eq!(decision.code, Code::MemoryUnavailable, "{memory}");
    }
    let request = about_memory(
        req(OWNER, "notes", "w", MemoryClass::Public),
        "b-independent",
    );
    assert!(registry.check(CheckKind::Recall, &request, at(11)).allowed);
    // A revoked source cannot be derived from.
    let decision = register(
        &mut registry,
        &req(OWNER, "notes", "w", MemoryClass::Public),
        "late",
        &["s-raw"],
        at(12),
    );
    assert_eq!(decision.code, Code::MemoryUnavailable);
}

#[test]
fn revocation_quarantines_a_frozen_derived_memory_too() {
    let mut registry = cascade_world();
    let patch = SpecPatch {
        retention: Some(RetentionKind::Timebound),
        retention_until: Some(at(100)),
        ..scope_patch(&["travel", "email"], &["*"], &["*"])
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "tb",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "travel", "w", MemoryClass::Internal),
        "tb-derived",
        &["s-raw"],
        at(4),
    );
    let change = registry.plan_expire_due(at(100)).unwrap();
    registry.apply(change);
    assert_eq!(status(&registry, "tb-derived"), MemoryStatus::Frozen);
    revoke(&mut registry, "src", at(101));
    assert_eq!(status(&registry, "tb-derived"), MemoryStatus::Quarantined);
}

#[test]
fn revoking_a_draft_touches_no_memory() {
    let mut registry = cascade_world();
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Episodic,
        &email_patch(),
        "d",
        at(0),
    );
    let planned = registry.plan_revoke(&owner(), "d", "withdrawn", at(5));
    let change = planned.unwrap();
    assert!(change.memories.is_empty());
}

#[test]
fn expiry_freezes_the_contracts_active_memories() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Strategic,
        &email_patch(),
        "src",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Public),
        "src-m",
        &[],
        at(1),
    );
    let patch = SpecPatch {
        retention: Some(RetentionKind::Timebound),
        retention_until: Some(at(1_000)),
        ..scope_patch(&["notes", "email"], &["*"], &["*"])
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "tb",
        at(0),
    );
    let in_tb = req(OWNER, "notes", "w", MemoryClass::Public);
    must_register(&mut registry, &in_tb, "m1", &[], at(1));
    must_register(&mut registry, &in_tb, "m2", &[], at(1));
    must_register(&mut registry, &in_tb, "m-derived", &["src-m"], at(1));
    revoke(&mut registry, "src", at(2));
    assert_eq!(status(&registry, "m-derived"), MemoryStatus::Quarantined);

    assert!(registry.plan_expire_due(at(999)).is_none());
    let change = registry.plan_expire_due(at(1_000)).expect("due");
    let events = registry.apply(change);
    assert_eq!(state(&registry, "tb"), ContractState::Expired);
    for id in ["m1", "m2"] {
        assert_eq!(status(&registry, id), MemoryStatus::Frozen, "{id}");
        assert_eq!(
            registry.memory(OWNER, id).unwrap().contract_id,
            "tb",
            "kept, not moved"
        );
    }
    assert_eq!(
        status(&registry, "m-derived"),
        MemoryStatus::Quarantined,
        "only active memories freeze"
    );
    assert_eq!(
        memories_event(&events, "tb", MemoryStatus::Frozen),
        Some(ids(&["m1", "m2"]))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ContractChanged { id, state: ContractState::Expired, .. } if id == "tb"
    )));
    let decision = registry.check(CheckKind::Recall, &about_memory(in_tb, "m1"), at(1_001));
    assert!(!decision.allowed);
}

#[test]
fn several_contracts_due_at_once_all_expire() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(50)),
        "a",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(60)),
        "b",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(70)),
        "c",
        at(0),
    );
    assert_eq!(registry.next_expiry(), Some(at(50)));
    let change = registry.plan_expire_due(at(60)).unwrap();
    registry.apply(change);
    assert_eq!(state(&registry, "a"), ContractState::Expired);
    assert_eq!(state(&registry, "b"), ContractState::Expired);
    assert_eq!(state(&registry, "c"), ContractState::Active);
    assert_eq!(registry.next_expiry(), Some(at(70)));
}

// ---------------------------------------------------------------------------------------------
// Sessions

fn session_patch(domain: &str) -> SpecPatch {
    SpecPatch {
        retention: Some(RetentionKind::Session),
        ..scope_patch(&[domain], &["*"], &["*"])
    }
}

fn open_session(registry: &mut Registry, id: &str) {
    let planned =
        registry.plan_open_session(&Caller::uid(OWNER), OWNER, id.into(), LIMITS, both_at(1));
    apply_ok(registry, planned);
}

fn bind(registry: &mut Registry, session: &str, contract: &str) {
    let planned = registry.plan_bind(&owner(), session, contract, at(1));
    apply_ok(registry, planned);
}

#[test]
fn ending_a_session_expires_its_contracts_and_freezes_their_memories() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &session_patch("email"),
        "sc1",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &session_patch("notes"),
        "sc2",
        at(0),
    );
    open_session(&mut registry, "s1");
    open_session(&mut registry, "s2");
    bind(&mut registry, "s1", "sc1");
    bind(&mut registry, "s2", "sc2");
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Public),
        "m1",
        &[],
        at(2),
    );
    must_register(
        &mut registry,
        &req(OWNER, "notes", "w", MemoryClass::Public),
        "m2",
        &[],
        at(2),
    );

    let e = err(registry.plan_end_session(Some(&other()), "s1", "not mine", at(3)));
    assert!(matches!(e, CoreError::NotFound { .. }), "{e:?}");

    let change = registry
        .plan_end_session(Some(&owner()), "s1", "agent finished", at(3))
        .unwrap();
    let events = registry.apply(change);
    assert_eq!(state(&registry, "sc1"), ContractState::Expired);
    assert_eq!(status(&registry, "m1"), MemoryStatus::Frozen);
    assert!(registry.session("s1").is_none());
    assert!(events.contains(&Event::SessionEnded {
        session_id: "s1".into(),
        owner: OWNER,
        expired_contract_ids: ids(&["sc1"]),
    }));
    assert_eq!(
        memories_event(&events, "sc1", MemoryStatus::Frozen),
        Some(ids(&["m1"]))
    );
    // The other session and its contract are untouched.
    assert_eq!(state(&registry, "sc2"), ContractState::Active);
    assert_eq!(status(&registry, "m2"), MemoryStatus::Active);
    let decision = registry.check(
        CheckKind::MemoryCreation,
        &naming(req(OWNER, "email", "w", MemoryClass::Public), "sc1"),
        at(4),
    );
    assert_eq!(decision.code, Code::NotActive);

    // The daemon ends the other one (connection gone).
    let change = registry
        .plan_end_session(None, "s2", "connection closed", at(5))
        .unwrap();
    assert_eq!(change.audit.last().unwrap().caller, Caller::daemon());
    registry.apply(change);
    assert_eq!(state(&registry, "sc2"), ContractState::Expired);
    assert_eq!(status(&registry, "m2"), MemoryStatus::Frozen);
}

#[test]
fn idle_sessions_are_found_by_their_deadline() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    open_session(&mut registry, "s1");
    open_session(&mut registry, "s2");
    registry.touch_session("s2", both_at(500).mono);
    assert!(registry.idle_sessions(1_000, both_at(1_000)).is_empty());
    assert_eq!(registry.idle_sessions(1_000, both_at(1_001)), ids(&["s1"]));
    assert_eq!(
        registry.idle_sessions(1_000, both_at(1_500)),
        ids(&["s1", "s2"])
    );
}

// ---------------------------------------------------------------------------------------------
// Deep purge: the token

const SECRET: [u8; 32] = [0xab; 32];
const OTHER_SECRET: [u8; 32] = [9; 32];

#[test]
fn a_purge_token_is_valid_for_its_caller_and_contract_for_two_minutes_once() {
    assert_eq!(PURGE_TOKEN_MILLIS, 120_000);
    let mut tokens = PurgeTokens::default();
    let token = tokens.issue(OWNER, "c1", both_at(0), SECRET);
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        tokens.redeem(&token, OWNER, "c1", both_at(PURGE_TOKEN_MILLIS - 1)),
        Ok(())
    );
    assert!(tokens.is_empty());
    assert_eq!(
        tokens.redeem(&token, OWNER, "c1", both_at(PURGE_TOKEN_MILLIS - 1)),
        Err(CoreError::TokenInvalid),
        "used once"
    );
}

#[test]
fn a_purge_token_expires_at_exactly_two_minutes() {
    let mut tokens = PurgeTokens::default();
    let token = tokens.issue(OWNER, "c1", both_at(0), SECRET);
    assert_eq!(
        tokens.redeem(&token, OWNER, "c1", both_at(PURGE_TOKEN_MILLIS)),
        Err(CoreError::TokenInvalid)
    );
    let token = tokens.issue(OWNER, "c1", both_at(0), OTHER_SECRET);
    assert_eq!(
        tokens.redeem(&token, OWNER, "c1", both_at(PURGE_TOKEN_MILLIS + 60_000)),
        Err(CoreError::TokenInvalid)
    );
}

#[test]
fn a_purge_token_is_bound_to_caller_and_contract() {
    let mut tokens = PurgeTokens::default();
    let token = tokens.issue(OWNER, "c1", both_at(0), SECRET);
    assert_eq!(
        tokens.redeem(&token, OTHER, "c1", both_at(1)),
        Err(CoreError::TokenInvalid)
    );
    // Any presentation uses it up: the rightful caller cannot use it after a wrong one.
    assert_eq!(
        tokens.redeem(&token, OWNER, "c1", both_at(2)),
        Err(CoreError::TokenInvalid)
    );
    let token = tokens.issue(OWNER, "c1", both_at(3), SECRET);
    assert_eq!(
        tokens.redeem(&token, OWNER, "c2", both_at(4)),
        Err(CoreError::TokenInvalid)
    );
    assert_eq!(
        tokens.redeem(&token, OWNER, "c1", both_at(5)),
        Err(CoreError::TokenInvalid)
    );
}

#[test]
fn an_unknown_purge_token_is_refused() {
    let mut tokens = PurgeTokens::default();
    assert_eq!(
        tokens.redeem("deadbeef", OWNER, "c1", both_at(0)),
        Err(CoreError::TokenInvalid)
    );
    let token = tokens.issue(OWNER, "c1", both_at(0), SECRET);
    assert_ne!(token, token.to_uppercase());
    assert_eq!(
        tokens.redeem(&token.to_uppercase(), OWNER, "c1", both_at(1)),
        Err(CoreError::TokenInvalid)
    );
    assert_eq!(
        tokens.redeem("", OWNER, "c1", both_at(1)),
        Err(CoreError::TokenInvalid)
    );
    // The real token is still there after unknown ones were presented.
    assert_eq!(tokens.redeem(&token, OWNER, "c1", both_at(2)), Ok(()));
}

#[test]
fn issuing_drops_expired_tokens_and_tokens_differ_by_secret() {
    let mut tokens = PurgeTokens::default();
    let first = tokens.issue(OWNER, "c1", both_at(0), SECRET);
    let second = tokens.issue(OWNER, "c1", both_at(PURGE_TOKEN_MILLIS), OTHER_SECRET);
    assert_ne!(first, second);
    assert_eq!(tokens.len(), 1, "the expired one was dropped");
    assert_eq!(
        tokens.redeem(&second, OWNER, "c1", both_at(PURGE_TOKEN_MILLIS + 1)),
        Ok(())
    );
}

// ---------------------------------------------------------------------------------------------
// Deep purge: who, when, and what is left

fn purge_world() -> Registry {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "gone",
        at(0),
    );
    let in_gone = naming(req(OWNER, "email", "w", MemoryClass::Public), "gone");
    must_register(&mut registry, &in_gone, "m1", &[], at(1));
    must_register(&mut registry, &in_gone, "m2", &[], at(1));
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &scope_patch(&["notes", "email"], &["*"], &["*"]),
        "keep",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "notes", "w", MemoryClass::Public),
        "k1",
        &["m1"],
        at(2),
    );
    registry
}

#[test]
fn a_deep_purge_is_refused_for_a_contract_that_is_not_revoked_or_expired() {
    let mut registry = purge_world();
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Episodic,
        &email_patch(),
        "draft",
        at(0),
    );
    for id in ["gone", "draft"] {
        for actor in [owner_confirmed(), admin()] {
            let e = err(registry.plan_purge_request(&actor, id, at(5)));
            assert!(matches!(e, CoreError::InvalidState { .. }), "{id}: {e:?}");
            let e = err(registry.plan_purge(&actor, id, at(5)));
            assert!(matches!(e, CoreError::InvalidState { .. }), "{id}: {e:?}");
        }
    }
    assert!(registry.memory(OWNER, "m1").is_some());
}

#[test]
fn a_deep_purge_needs_the_confirmed_owner_or_an_admin() {
    let mut registry = purge_world();
    revoke(&mut registry, "gone", at(5));
    let e = err(registry.plan_purge_request(&owner(), "gone", at(6)));
    assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    let e = err(registry.plan_purge(&owner(), "gone", at(6)));
    assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    let e = err(registry.plan_purge_request(&other(), "gone", at(6)));
    assert!(matches!(e, CoreError::NotFound { .. }), "{e:?}");
    let e = err(registry.plan_purge(&other(), "gone", at(6)));
    assert!(matches!(e, CoreError::NotFound { .. }), "{e:?}");
    for actor in [owner_confirmed(), admin()] {
        let change = registry.plan_purge_request(&actor, "gone", at(6)).unwrap();
        assert_eq!(change.audit.len(), 1);
        assert_eq!(change.audit[0].action, "memory.purge_requested");
        assert!(change.memories.is_empty() && change.purged.is_empty());
        registry.plan_purge(&actor, "gone", at(6)).unwrap();
    }
}

#[test]
fn after_a_deep_purge_nothing_of_its_memories_is_left() {
    let mut registry = purge_world();
    revoke(&mut registry, "gone", at(5));
    assert_eq!(status(&registry, "k1"), MemoryStatus::Quarantined);
    let change = registry
        .plan_purge(&owner_confirmed(), "gone", at(6))
        .unwrap();
    let mut purged: Vec<(u32, String)> = change
        .purged
        .iter()
        .map(|p| (p.owner, p.id.clone()))
        .collect();
    purged.sort();
    assert_eq!(
        purged,
        [(OWNER, "m1".to_string()), (OWNER, "m2".to_string())]
    );
    for record in &change.audit {
        let details = record.details.to_string();
        assert!(
            !details.contains("\"m1\"") && !details.contains("\"m2\""),
            "{details}"
        );
    }
    // The memory of another contract derived from a purged one keeps an opaque link.
    let relinked: Vec<_> = change.memories.iter().filter(|m| m.id == "k1").collect();
    assert_eq!(relinked.len(), 1, "{:?}", change.memories);
    assert!(
        relinked[0]
            .derived_from
            .iter()
            .all(|link| link != "m1" && link != "m2"),
        "{:?}",
        relinked[0].derived_from
    );
    assert!(
        relinked[0]
            .derived_from
            .iter()
            .any(|link| link == learning_contracts::core::memory::PURGED_SOURCE)
    );
    let events = registry.apply(change);
    assert_eq!(
        memories_event(&events, "gone", MemoryStatus::Purged),
        Some(ids(&["m1", "m2"]))
    );
    for id in ["m1", "m2"] {
        assert!(registry.memory(OWNER, id).is_none(), "{id} record deleted");
    }
    assert_eq!(registry.memories_of("gone").count(), 0);
    // Memories of other contracts are not purged.
    assert_eq!(status(&registry, "k1"), MemoryStatus::Quarantined);
    // Recalling a purged memory is not possible.
    let request = naming(
        about_memory(req(OWNER, "notes", "w", MemoryClass::Public), "m1"),
        "keep",
    );
    assert_eq!(
        registry.check(CheckKind::Recall, &request, at(7)).code,
        Code::MemoryUnavailable
    );
    // Nothing remembers the purged id: registering it again makes a new memory.
    must_register(
        &mut registry,
        &naming(req(OWNER, "notes", "w", MemoryClass::Public), "keep"),
        "m1",
        &[],
        at(7),
    );
    assert_eq!(registry.memory(OWNER, "m1").unwrap().contract_id, "keep");
}

#[test]
fn an_expired_contracts_memories_can_be_purged() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(10)),
        "tb",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Public),
        "m",
        &[],
        at(1),
    );
    let change = registry.plan_expire_due(at(10)).unwrap();
    registry.apply(change);
    let planned = registry.plan_purge(&admin(), "tb", at(11));
    apply_ok(&mut registry, planned);
    assert!(registry.memory(OWNER, "m").is_none());
}

// ---------------------------------------------------------------------------------------------
// Registration

#[test]
fn an_allowed_registration_records_the_memory() {
    let registry = {
        let mut r = registry_in(BoundaryMode::Trusted);
        active_contract(
            &mut r,
            OWNER,
            ContractKind::Procedural,
            &email_patch(),
            "p",
            at(0),
        );
        r
    };
    let request = at_level(
        req(OWNER, "email", "work", MemoryClass::Confidential),
        Abstraction::Heuristic,
    );
    let registration = registry
        .plan_register_memory(
            &Caller::uid(OWNER),
            &request,
            "m1".into(),
            &[],
            shred_key(OWNER, "m1"),
            at(3),
        )
        .unwrap();
    assert!(registration.decision.allowed);
    assert_eq!(registration.decision.contract_id.as_deref(), Some("p"));
    assert_eq!(registration.memory_id, "m1");
    let change = registration.change;
    assert_eq!(change.memories.len(), 1);
    let record = &change.memories[0];
    assert_eq!(record.id, "m1");
    assert_eq!(record.contract_id, "p");
    assert_eq!(record.owner, OWNER);
    assert_eq!(record.domain.as_str(), "email");
    assert_eq!(record.context.as_str(), "work");
    assert_eq!(record.classification, MemoryClass::Confidential);
    assert_eq!(record.abstraction, Abstraction::Heuristic);
    assert!(record.derived_from.is_empty());
    assert_eq!(record.status, MemoryStatus::Active);
    assert_eq!(record.created, at(3));
    assert!(change.contracts.is_empty() && change.purged.is_empty() && change.host.is_none());
    assert_eq!(change.audit.len(), 1);
    assert_eq!(change.audit[0].action, "memory.register");
    assert_eq!(change.audit[0].contract_id.as_deref(), Some("p"));
    let mut registry = registry;
    registry.apply(change);
    assert_eq!(status(&registry, "m1"), MemoryStatus::Active);
    assert_eq!(registry.memories_of("p").count(), 1);
}

#[test]
fn a_denied_registration_gives_only_an_audit_record() {
    let mut registry = registry_in(BoundaryMode::Open);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "e",
        at(0),
    );
    for (request, code) in [
        (
            req(OWNER, "calendar", "w", MemoryClass::Public),
            Code::NoContract,
        ),
        (
            req(OWNER, "email", "w", MemoryClass::Secret),
            Code::BoundaryClass,
        ),
        (
            at_level(
                req(OWNER, "email", "w", MemoryClass::Public),
                Abstraction::Pattern,
            ),
            Code::TypeForbids,
        ),
    ] {
        let registration = registry
            .plan_register_memory(
                &Caller::uid(OWNER),
                &request,
                "m".into(),
                &[],
                shred_key(OWNER, "m"),
                at(1),
            )
            .unwrap();
        assert!(!registration.decision.allowed);
        assert_eq!(registration.decision.code, code);
        let change = registration.change;
        assert!(change.memories.is_empty());
        assert!(change.contracts.is_empty() && change.purged.is_empty() && change.host.is_none());
        assert!(change.events.is_empty() && change.sessions.is_empty());
        assert_eq!(change.audit.len(), 1);
        assert_eq!(change.audit[0].action, "check.denied");
        assert_eq!(change.audit[0].details["code"], code.as_str());
        assert_eq!(change.audit[0].caller, Caller::uid(OWNER));
        registry.apply(change);
        assert!(registry.memory(OWNER, "m").is_none());
    }
}

#[test]
fn a_memory_id_belongs_to_its_owner_and_is_registered_once_per_owner() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "e",
        at(0),
    );
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "t",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Public),
        "m1",
        &[],
        at(1),
    );
    // The owner cannot register the id twice.
    let e = err(registry.plan_register_memory(
        &Caller::uid(OWNER),
        &req(OWNER, "email", "w", MemoryClass::Public),
        "m1".into(),
        &[],
        shred_key(OWNER, "m1"),
        at(2),
    ));
    assert_eq!(
        e,
        CoreError::AlreadyExists {
            what: "memory",
            id: "m1".into()
        }
    );
    // Another owner's same id is another memory: nothing tells it the first exists, and it
    // cannot squat the first owner's id.
    must_register(
        &mut registry,
        &req(OTHER, "email", "w", MemoryClass::Public),
        "m1",
        &[],
        at(2),
    );
    let mine = registry.memory(OWNER, "m1").unwrap();
    let theirs = registry.memory(OTHER, "m1").unwrap();
    assert_eq!((mine.contract_id.as_str(), mine.owner), ("e", OWNER));
    assert_eq!((theirs.contract_id.as_str(), theirs.owner), ("t", OTHER));
    // Revoking one owner's contract touches only that owner's memory of the id.
    revoke(&mut registry, "t", at(3));
    assert_eq!(
        registry.memory(OWNER, "m1").unwrap().status,
        MemoryStatus::Active
    );
    assert_eq!(
        registry.memory(OTHER, "m1").unwrap().status,
        MemoryStatus::Tombstoned
    );
}

#[test]
fn deriving_from_an_unknown_or_unavailable_source_gives_memory_unavailable() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "e",
        at(0),
    );
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "t",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Public),
        "mine",
        &[],
        at(1),
    );
    must_register(
        &mut registry,
        &req(OTHER, "email", "w", MemoryClass::Public),
        "theirs",
        &[],
        at(1),
    );
    let request = req(OWNER, "email", "w", MemoryClass::Public);
    for sources in [vec!["nope"], vec!["mine", "nope"], vec!["theirs"]] {
        let decision = register(&mut registry, &request, "new", &sources, at(2));
        assert!(!decision.allowed);
        assert_eq!(decision.code, Code::MemoryUnavailable, "{sources:?}");
        assert_eq!(decision.contract_id.as_deref(), Some("e"));
        assert!(registry.memory(OWNER, "new").is_none());
    }
    must_register(&mut registry, &request, "new", &["mine"], at(3));
    assert_eq!(
        registry.memory(OWNER, "new").unwrap().derived_from,
        ids(&["mine"])
    );
    let derived: Vec<&str> = registry
        .derived_from(OWNER, "mine")
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(derived, vec!["new"]);
}

#[test]
fn too_many_sources_is_a_bad_argument() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "e",
        at(0),
    );
    let sources: Vec<String> = (0..257).map(|i| format!("s{i}")).collect();
    let e = err(registry.plan_register_memory(
        &Caller::uid(OWNER),
        &req(OWNER, "email", "w", MemoryClass::Public),
        "m".into(),
        &sources,
        shred_key(OWNER, "m"),
        at(1),
    ));
    assert!(
        matches!(&e, CoreError::InvalidArgument { key, .. } if key == "derived_from"),
        "{e:?}"
    );
}

/// The review's F11: a memory of a suspended strategic contract, named as the source of a
/// lower-class memory under an episodic contract in OPEN, laundered it into something
/// recallable. A derived memory is never looser than its sources (SEMANTICS.md section 9).
fn laundering_world() -> Registry {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Strategic,
        &email_patch(),
        "strategic",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "episodic",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &scope_patch(&["notes"], &["*"], &["*"]),
        "notes-only",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Secret),
        "plan",
        &[],
        at(1),
    );
    must_register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Confidential),
        "thread",
        &[],
        at(1),
    );
    registry
}

#[test]
fn a_source_of_a_suspended_contract_cannot_be_derived_from() {
    let mut registry = laundering_world();
    // OPEN suspends the strategic contract (it needs TRUSTED); the episodic one stays active.
    set_mode(
        &mut registry,
        learning_contracts::core::EffectiveMode::Known(BoundaryMode::Open),
        at(2),
    );
    let decision = register(
        &mut registry,
        &req(OWNER, "email", "w", MemoryClass::Public),
        "laundered",
        &["plan"],
        at(3),
    );
    assert!(!decision.allowed, "{decision:?}");
    assert_ne!(decision.code, Code::Allowed);
    assert!(registry.memory(OWNER, "laundered").is_none());
}

#[test]
fn a_derived_memory_is_at_least_the_class_of_its_highest_source() {
    let mut registry = laundering_world();
    let in_episodic = |class| naming(req(OWNER, "email", "w", class), "episodic");
    let below = register(
        &mut registry,
        &in_episodic(MemoryClass::Internal),
        "summary",
        &["thread"],
        at(2),
    );
    assert!(!below.allowed);
    assert_eq!(below.code, Code::SourceClass, "{below:?}");
    assert_eq!(below.code.as_str(), "source_class");
    assert_eq!(below.contract_id.as_deref(), Some("episodic"));
    assert!(registry.memory(OWNER, "summary").is_none());

    must_register(
        &mut registry,
        &in_episodic(MemoryClass::Confidential),
        "summary",
        &["thread"],
        at(3),
    );
}

#[test]
fn a_source_outside_what_the_new_memorys_contract_may_recall_is_refused() {
    let mut registry = laundering_world();
    // The notes-only contract could never recall an email memory: deriving from one would
    // carry email into notes.
    let decision = register(
        &mut registry,
        &req(OWNER, "notes", "w", MemoryClass::Confidential),
        "note",
        &["thread"],
        at(2),
    );
    assert!(!decision.allowed);
    assert_eq!(decision.code, Code::OutOfScope, "{decision:?}");
    assert_eq!(decision.contract_id.as_deref(), Some("notes-only"));
    assert!(registry.memory(OWNER, "note").is_none());
}
