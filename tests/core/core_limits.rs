//! Per-owner budgets and the store guard's rule, in the pure core (SEMANTICS section 12): a
//! planned change that would take an owner past a budget is refused with LimitReached, admins
//! are not limited, revoking frees room at once, and the guard holds back owners' additions
//! but never mode changes, lockdowns or revocations.

use crate::common::core_fixtures::*;
use learning_contracts::core::budget::draws_on_shared_room;
use learning_contracts::core::{
    Actor, BoundaryMode, Caller, Change, ContractKind, CoreError, MemoryClass, OwnerBudgets,
    PauseScope, Registry, SessionLimits,
};

const BUDGETS: OwnerBudgets = OwnerBudgets {
    max_open_drafts: 2,
    max_active_memories: 2,
    max_writes_per_minute: 1000,
};

/// Plans a draft as `actor`, judges it against the budgets, and applies it when admitted.
fn try_draft(registry: &mut Registry, actor: &Actor, id: &str) -> Result<(), CoreError> {
    let change = registry
        .plan_create_draft(
            actor,
            ContractKind::Episodic,
            &email_patch(),
            id.into(),
            at(1),
        )
        .unwrap();
    registry.check_budgets(&change, &BUDGETS)?;
    registry.apply(change);
    Ok(())
}

fn try_register(registry: &mut Registry, id: &str) -> Result<(), CoreError> {
    let request = req(OWNER, "email", "work", MemoryClass::Internal);
    let registration = registry
        .plan_register_memory(
            &Caller::uid(OWNER),
            &request,
            id.into(),
            &[],
            shred_key(OWNER, id),
            at(2),
        )
        .unwrap();
    assert!(registration.decision.allowed, "{:?}", registration.decision);
    registry.check_budgets(&registration.change, &BUDGETS)?;
    registry.apply(registration.change);
    Ok(())
}

fn is_limit(result: Result<(), CoreError>, setting: &str) {
    match result {
        Err(CoreError::LimitReached(message)) => {
            assert!(message.contains(setting), "{message}")
        }
        other => panic!("expected LimitReached naming {setting}, got {other:?}"),
    }
}

#[test]
fn drafts_past_the_budget_are_refused_and_revoking_or_activating_frees_room() {
    let mut registry = registry_in(BoundaryMode::Open);
    try_draft(&mut registry, &owner(), "d1").unwrap();
    try_draft(&mut registry, &owner(), "d2").unwrap();
    // Review counts like Draft.
    let submitted = registry.plan_submit(&owner(), "d1", at(2));
    apply_ok(&mut registry, submitted);
    is_limit(
        try_draft(&mut registry, &owner(), "d3"),
        "max_open_drafts_per_owner",
    );
    // Another owner has a budget of their own.
    try_draft(&mut registry, &Actor::user(OTHER), "o1").unwrap();

    let revoked = registry.plan_revoke(&owner(), "d2", "not needed", at(3));
    apply_ok(&mut registry, revoked);
    try_draft(&mut registry, &owner(), "d3").unwrap();
    is_limit(
        try_draft(&mut registry, &owner(), "d4"),
        "max_open_drafts_per_owner",
    );
    let activated = registry.plan_activate(&owner_confirmed(), "d1", at(4));
    apply_ok(&mut registry, activated);
    assert_eq!(registry.owner_counts().open_drafts(OWNER), 1);
    try_draft(&mut registry, &owner(), "d4").unwrap();
}

#[test]
fn an_amendment_takes_a_draft_place() {
    let mut registry = registry_in(BoundaryMode::Open);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "a",
        at(0),
    );
    try_draft(&mut registry, &owner(), "d1").unwrap();
    try_draft(&mut registry, &owner(), "d2").unwrap();
    let amendment = registry
        .plan_amend(&owner(), "a", &email_patch(), "a2".into(), at(2))
        .unwrap();
    is_limit(
        registry.check_budgets(&amendment, &BUDGETS),
        "max_open_drafts_per_owner",
    );
}

#[test]
fn root_is_not_limited() {
    let mut registry = registry_in(BoundaryMode::Open);
    let root = Actor::user(0);
    for n in 0..5 {
        try_draft(&mut registry, &root, &format!("r{n}")).unwrap();
    }
    assert_eq!(registry.owner_counts().open_drafts(0), 5);
}

#[test]
fn memories_past_the_budget_are_refused_until_the_contract_is_revoked() {
    let mut registry = registry_in(BoundaryMode::Open);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "c",
        at(0),
    );
    try_register(&mut registry, "m1").unwrap();
    try_register(&mut registry, "m2").unwrap();
    is_limit(try_register(&mut registry, "m3"), "max_memories_per_owner");
    assert_eq!(registry.owner_counts().active_memories(OWNER), 2);
    let revoked = registry.plan_revoke(&owner(), "c", "done", at(3));
    apply_ok(&mut registry, revoked);
    assert_eq!(registry.owner_counts().active_memories(OWNER), 0);
}

#[test]
fn the_store_guard_holds_back_owners_additions_but_not_lockdowns_mode_changes_or_revocations() {
    let mut registry = registry_in(BoundaryMode::Open);
    let draft = registry
        .plan_create_draft(
            &owner(),
            ContractKind::Episodic,
            &email_patch(),
            "d".into(),
            at(1),
        )
        .unwrap();
    assert!(draws_on_shared_room(&draft));
    registry.apply(draft);
    let pause = registry
        .plan_pause(&owner(), PauseScope::Owner(OWNER), "quiet", at(2))
        .unwrap();
    assert!(draws_on_shared_room(&pause));
    let session = registry
        .plan_open_session(
            &Caller::uid(OWNER),
            OWNER,
            "s".into(),
            SessionLimits {
                per_owner: 8,
                per_connection: 8,
            },
            both_at(2),
        )
        .unwrap();
    assert!(draws_on_shared_room(&session));

    let lockdown = registry
        .plan_enter_lockdown(&admin(), "disk nearly full", at(3))
        .unwrap();
    assert!(!draws_on_shared_room(&lockdown));
    let pause_all = registry
        .plan_pause(&admin(), PauseScope::All, "disk nearly full", at(3))
        .unwrap();
    assert!(!draws_on_shared_room(&pause_all));
    let revoke = registry.plan_revoke(&owner(), "d", "tidy", at(3)).unwrap();
    assert!(!draws_on_shared_room(&revoke));
    let mode = registry
        .plan_mode_change(
            learning_contracts::core::EffectiveMode::Known(BoundaryMode::Airgap),
            "reading",
            at(3),
        )
        .unwrap();
    assert!(!draws_on_shared_room(&mode));
    // The aggregated audit alone is never held back.
    let audit = Change {
        audit: vec![learning_contracts::core::AuditEvent {
            caller: Caller::uid(OWNER),
            action: "check.denied",
            contract_id: None,
            details: serde_json::json!({"count": 5}),
        }],
        ..Change::at(at(4))
    };
    assert!(!draws_on_shared_room(&audit));
}

#[test]
fn the_write_rate_admits_so_many_changes_per_uid_per_minute() {
    use learning_contracts::core::budget::WriteRate;
    let mut rate = WriteRate::default();
    for n in 0..3 {
        assert!(rate.admit(OWNER, at(n), 3));
    }
    assert!(!rate.admit(OWNER, at(59_999), 3));
    // Another uid has its own window.
    assert!(rate.admit(OTHER, at(10), 3));
    // A new minute, a new window.
    assert!(rate.admit(OWNER, at(60_000), 3));
    // A clock stepped back starts a new window rather than blocking for the step.
    for n in 0..2 {
        assert!(rate.admit(OWNER, at(60_001 + n), 3));
    }
    assert!(!rate.admit(OWNER, at(60_010), 3));
    assert!(rate.admit(OWNER, at(-5_000), 3));
}
