//! The lifecycle of SEMANTICS.md section 5: every row of the table, allowed and refused (wrong
//! actor, wrong state), amendments and their atomic hand-over, prohibitions, and the
//! validation that runs when a draft is submitted.

use crate::common::core_fixtures::*;
use learning_contracts::core::{
    Abstraction, Actor, CheckKind, Contract, ContractKind, ContractSpec, ContractState, CoreError,
    Event, HostState, MemoryClass, MemoryStatus, Registry, RetentionKind, SpecPatch,
};
use learning_contracts::core::{BoundaryMode, Caller};

fn is_access_denied(e: &CoreError) -> bool {
    matches!(e, CoreError::AccessDenied(_))
}

fn is_not_found(e: &CoreError) -> bool {
    matches!(e, CoreError::NotFound { .. })
}

fn is_invalid_state(e: &CoreError) -> bool {
    matches!(e, CoreError::InvalidState { .. })
}

fn audit_actions(change: &learning_contracts::core::Change) -> Vec<&'static str> {
    change.audit.iter().map(|a| a.action).collect()
}

fn draft(registry: &mut Registry, id: &str) -> String {
    create_draft(
        registry,
        &owner(),
        ContractKind::Episodic,
        &email_patch(),
        id,
        at(0),
    )
}

fn review(registry: &mut Registry, id: &str) -> String {
    review_contract(
        registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        id,
        at(0),
    )
}

fn active(registry: &mut Registry, id: &str) -> String {
    active_contract(
        registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        id,
        at(0),
    )
}

// ---------------------------------------------------------------------------------------------
// (none) -> Draft

#[test]
fn any_local_user_creates_a_draft_and_becomes_its_owner() {
    let registry = Registry::default();
    for uid in [OWNER, OTHER, 4242] {
        let change = registry
            .plan_create_draft(
                &Actor::user(uid),
                ContractKind::Procedural,
                &email_patch(),
                format!("c-{uid}"),
                at(5),
            )
            .expect("any local user may create a draft");
        assert_eq!(change.contracts.len(), 1);
        let contract = &change.contracts[0];
        assert_eq!(contract.owner, uid);
        assert_eq!(contract.state, ContractState::Draft);
        assert_eq!(contract.kind, ContractKind::Procedural);
        assert_eq!(contract.created, at(5));
        assert_eq!(audit_actions(&change), vec!["contract.create"]);
        assert_eq!(
            change.audit[0].contract_id.as_deref(),
            Some(&*format!("c-{uid}"))
        );
    }
}

#[test]
fn a_draft_may_be_incomplete_but_not_reuse_an_id() {
    let mut registry = Registry::default();
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Episodic,
        &SpecPatch::default(),
        "c1",
        at(0),
    );
    assert_eq!(state(&registry, "c1"), ContractState::Draft);
    let e = err(registry.plan_create_draft(
        &other(),
        ContractKind::Episodic,
        &email_patch(),
        "c1".into(),
        at(1),
    ));
    assert!(matches!(e, CoreError::AlreadyExists { .. }), "{e:?}");
}

#[test]
fn only_an_admin_creates_a_system_prohibition() {
    let registry = Registry::default();
    let patch = SpecPatch {
        system: Some(true),
        ..prohibition_patch(&["health"], &["*"])
    };
    for actor in [owner(), owner_confirmed()] {
        let e = err(registry.plan_create_draft(
            &actor,
            ContractKind::Prohibited,
            &patch,
            "sys".into(),
            at(0),
        ));
        assert!(is_access_denied(&e), "{e:?}");
    }
    let change = registry
        .plan_create_draft(
            &admin(),
            ContractKind::Prohibited,
            &patch,
            "sys".into(),
            at(0),
        )
        .expect("an admin may create a system prohibition");
    assert!(change.contracts[0].is_system());
}

#[test]
fn a_non_admin_cannot_turn_a_draft_into_a_system_prohibition() {
    let mut registry = Registry::default();
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Prohibited,
        &prohibition_patch(&["health"], &["*"]),
        "p",
        at(0),
    );
    let patch = SpecPatch {
        system: Some(true),
        ..SpecPatch::default()
    };
    let e = err(registry.plan_update_draft(&owner_confirmed(), "p", &patch, at(1)));
    assert!(is_access_denied(&e), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Draft -> Review

#[test]
fn the_owner_submits_a_draft_for_review() {
    let mut registry = Registry::default();
    draft(&mut registry, "c1");
    let change = registry
        .plan_submit(&owner(), "c1", at(1))
        .expect("the owner submits");
    assert_eq!(change.contracts.len(), 1);
    assert_eq!(change.contracts[0].state, ContractState::Review);
    assert_eq!(audit_actions(&change), vec!["contract.submit"]);
    // Planning alone changes nothing.
    assert_eq!(state(&registry, "c1"), ContractState::Draft);
    registry.apply(change);
    assert_eq!(state(&registry, "c1"), ContractState::Review);
}

#[test]
fn only_the_owner_submits() {
    let mut registry = Registry::default();
    draft(&mut registry, "c1");
    let e = err(registry.plan_submit(&other(), "c1", at(1)));
    assert!(
        is_not_found(&e),
        "another uid must not learn it exists: {e:?}"
    );
    let e = err(registry.plan_submit(&admin(), "c1", at(1)));
    assert!(is_access_denied(&e), "{e:?}");
    assert_eq!(state(&registry, "c1"), ContractState::Draft);
}

#[test]
fn submit_is_refused_outside_draft() {
    let mut registry = Registry::default();
    review(&mut registry, "in-review");
    active(&mut registry, "active");
    draft(&mut registry, "withdrawn");
    revoke(&mut registry, "withdrawn", at(1));
    for id in ["in-review", "active", "withdrawn"] {
        let e = err(registry.plan_submit(&owner(), id, at(2)));
        assert!(is_invalid_state(&e), "{id}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Review -> Draft

#[test]
fn owner_or_admin_returns_a_contract_in_review_to_draft() {
    for actor in [owner(), admin()] {
        let mut registry = Registry::default();
        review(&mut registry, "c1");
        let change = registry
            .plan_return_to_draft(&actor, "c1", "please narrow the scope", at(1))
            .expect("owner or admin may request changes");
        assert_eq!(audit_actions(&change), vec!["contract.return"]);
        registry.apply(change);
        assert_eq!(state(&registry, "c1"), ContractState::Draft);
    }
}

#[test]
fn return_to_draft_is_refused_for_another_uid_and_outside_review() {
    let mut registry = Registry::default();
    review(&mut registry, "c1");
    let e = err(registry.plan_return_to_draft(&other(), "c1", "no", at(1)));
    assert!(is_not_found(&e), "{e:?}");
    draft(&mut registry, "d");
    active(&mut registry, "a");
    for id in ["d", "a"] {
        let e = err(registry.plan_return_to_draft(&owner(), id, "no", at(1)));
        assert!(is_invalid_state(&e), "{id}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Review -> Active

#[test]
fn the_confirmed_owner_or_an_admin_activates() {
    for actor in [owner_confirmed(), admin()] {
        let mut registry = Registry::default();
        review(&mut registry, "c1");
        let change = registry
            .plan_activate(&actor, "c1", at(3))
            .expect("activation allowed");
        assert_eq!(audit_actions(&change), vec!["contract.activate"]);
        registry.apply(change);
        let contract = registry.contract("c1").unwrap();
        assert_eq!(contract.state, ContractState::Active);
        assert_eq!(contract.activated, Some(at(3)));
        assert_eq!(contract.owner, OWNER);
    }
}

#[test]
fn activation_is_refused_without_confirmation_or_for_another_uid() {
    let mut registry = Registry::default();
    review(&mut registry, "c1");
    let e = err(registry.plan_activate(&owner(), "c1", at(1)));
    assert!(is_access_denied(&e), "owner without confirmation: {e:?}");
    let e = err(registry.plan_activate(&other(), "c1", at(1)));
    assert!(is_not_found(&e), "another uid, even confirmed: {e:?}");
    assert_eq!(state(&registry, "c1"), ContractState::Review);
}

#[test]
fn activation_is_refused_outside_review() {
    let mut registry = Registry::default();
    draft(&mut registry, "d");
    active(&mut registry, "a");
    review(&mut registry, "r");
    revoke(&mut registry, "r", at(1));
    for id in ["d", "a", "r"] {
        for actor in [owner_confirmed(), admin()] {
            let e = err(registry.plan_activate(&actor, id, at(2)));
            assert!(is_invalid_state(&e), "{id}: {e:?}");
        }
    }
}

#[test]
fn activation_needs_a_timebound_end_in_the_future() {
    let mut registry = Registry::default();
    review_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(100)),
        "c1",
        at(0),
    );
    for now in [at(100), at(101)] {
        let e = err(registry.plan_activate(&owner_confirmed(), "c1", now));
        assert_eq!(problem_keys(&e), vec!["retention_until"]);
    }
    registry
        .plan_activate(&owner_confirmed(), "c1", at(99))
        .expect("the end still lies in the future");
}

// ---------------------------------------------------------------------------------------------
// Draft, Review -> Revoked (withdrawn)

#[test]
fn owner_or_admin_withdraws_a_draft_or_a_contract_in_review() {
    for actor in [owner(), admin()] {
        let mut registry = Registry::default();
        draft(&mut registry, "d");
        review(&mut registry, "r");
        for id in ["d", "r"] {
            let planned = registry.plan_revoke(&actor, id, "withdrawn", at(1));
            let change = planned.expect("withdrawal allowed");
            assert_eq!(audit_actions(&change), vec!["contract.revoke"]);
            registry.apply(change);
            let contract = registry.contract(id).unwrap();
            assert_eq!(contract.state, ContractState::Revoked);
            assert_eq!(contract.ended, Some(at(1)));
        }
    }
}

#[test]
fn another_uid_cannot_withdraw() {
    let mut registry = Registry::default();
    draft(&mut registry, "d");
    review(&mut registry, "r");
    for id in ["d", "r"] {
        let e = err(registry.plan_revoke(&other(), id, "mine now", at(1)));
        assert!(is_not_found(&e), "{e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Active -> Revoked

#[test]
fn owner_or_admin_revokes_an_active_contract() {
    for actor in [owner(), admin()] {
        let mut registry = registry_in(BoundaryMode::Open);
        active(&mut registry, "c1");
        let change = registry
            .plan_revoke(&actor, "c1", "done", at(2))
            .expect("revocation allowed");
        registry.apply(change);
        assert_eq!(state(&registry, "c1"), ContractState::Revoked);
        assert_eq!(registry.active_count(), 0);
        let decision = registry.check(
            CheckKind::MemoryCreation,
            &req(OWNER, "email", "work", MemoryClass::Public),
            at(3),
        );
        assert!(!decision.allowed);
    }
}

#[test]
fn another_uid_cannot_revoke() {
    let mut registry = Registry::default();
    active(&mut registry, "c1");
    let e = err(registry.plan_revoke(&other(), "c1", "no", at(1)));
    assert!(is_not_found(&e), "{e:?}");
    assert_eq!(state(&registry, "c1"), ContractState::Active);
}

#[test]
fn an_active_prohibition_is_not_revocable_by_anyone() {
    let mut registry = Registry::default();
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["health"], &["*"]),
        "p",
        at(0),
    );
    for actor in [owner(), owner_confirmed(), admin()] {
        let e = err(registry.plan_revoke(&actor, "p", "no", at(1)));
        assert_eq!(e, CoreError::NotRevocable { id: "p".into() });
    }
    active_system_prohibition(&mut registry, &["finance"], &["*"], "sys", at(0));
    let e = err(registry.plan_revoke(&admin(), "sys", "no", at(1)));
    assert_eq!(e, CoreError::NotRevocable { id: "sys".into() });
}

#[test]
fn a_prohibition_in_draft_or_review_can_still_be_withdrawn() {
    let mut registry = Registry::default();
    let patch = prohibition_patch(&["health"], &["*"]);
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Prohibited,
        &patch,
        "pd",
        at(0),
    );
    review_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &patch,
        "pr",
        at(0),
    );
    for id in ["pd", "pr"] {
        let planned = registry.plan_revoke(&owner(), id, "changed my mind", at(1));
        apply_ok(&mut registry, planned);
        assert_eq!(state(&registry, id), ContractState::Revoked);
    }
}

// ---------------------------------------------------------------------------------------------
// Active -> Expired (the daemon)

#[test]
fn the_daemon_expires_a_timebound_contract_at_its_end() {
    let mut registry = Registry::default();
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(1000)),
        "c1",
        at(0),
    );
    assert_eq!(registry.next_expiry(), Some(at(1000)));
    assert!(registry.plan_expire_due(at(999)).is_none());
    let change = registry.plan_expire_due(at(1000)).expect("due at its end");
    assert_eq!(change.contracts.len(), 1);
    assert_eq!(change.contracts[0].state, ContractState::Expired);
    assert_eq!(change.audit[0].action, "contract.expire");
    assert_eq!(change.audit[0].caller, Caller::daemon());
    registry.apply(change);
    assert_eq!(state(&registry, "c1"), ContractState::Expired);
    assert_eq!(registry.contract("c1").unwrap().ended, Some(at(1000)));
    assert_eq!(registry.next_expiry(), None);
    assert!(registry.plan_expire_due(at(5000)).is_none());
}

#[test]
fn permanent_contracts_never_expire() {
    let mut registry = Registry::default();
    active(&mut registry, "c1");
    assert!(registry.plan_expire_due(at(i64::MAX / 2)).is_none());
    assert_eq!(registry.next_expiry(), None);
}

// ---------------------------------------------------------------------------------------------
// Terminal states

#[test]
fn terminal_states_allow_no_transition() {
    let mut registry = Registry::default();
    active(&mut registry, "revoked");
    revoke(&mut registry, "revoked", at(1));
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(10)),
        "expired",
        at(0),
    );
    let change = registry.plan_expire_due(at(10)).unwrap();
    registry.apply(change);
    active(&mut registry, "amended");
    let planned = registry.plan_amend(
        &owner(),
        "amended",
        &SpecPatch::default(),
        "v2".into(),
        at(1),
    );
    apply_ok(&mut registry, planned);
    let planned = registry.plan_submit(&owner(), "v2", at(2));
    apply_ok(&mut registry, planned);
    let planned = registry.plan_activate(&owner_confirmed(), "v2", at(3));
    apply_ok(&mut registry, planned);

    for (id, expected) in [
        ("revoked", ContractState::Revoked),
        ("expired", ContractState::Expired),
        ("amended", ContractState::Amended),
    ] {
        assert_eq!(state(&registry, id), expected);
        assert!(expected.is_terminal());
        for actor in [owner_confirmed(), admin()] {
            let results = [
                registry.plan_submit(&actor, id, at(20)).err(),
                registry.plan_return_to_draft(&actor, id, "x", at(20)).err(),
                registry.plan_activate(&actor, id, at(20)).err(),
                registry.plan_revoke(&actor, id, "x", at(20)).err(),
                registry
                    .plan_update_draft(&actor, id, &SpecPatch::default(), at(20))
                    .err(),
            ];
            for result in results {
                let e = result.unwrap_or_else(|| panic!("{id} must stay {expected}"));
                assert!(
                    is_invalid_state(&e) || (actor.admin && is_access_denied(&e)),
                    "{id}: {e:?}"
                );
            }
        }
        let e =
            err(registry.plan_amend(&owner(), id, &SpecPatch::default(), "again".into(), at(20)));
        assert!(is_invalid_state(&e), "{id}: {e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Amendments

#[test]
fn an_amendment_is_a_draft_of_the_same_owner_and_kind_that_supersedes() {
    let mut registry = Registry::default();
    active(&mut registry, "v1");
    let patch = SpecPatch {
        contexts: Some(ns(&["work"])),
        ..SpecPatch::default()
    };
    let change = registry
        .plan_amend(&owner(), "v1", &patch, "v2".into(), at(1))
        .expect("the owner amends");
    assert_eq!(change.contracts.len(), 1, "only the new draft is written");
    let v2 = &change.contracts[0];
    assert_eq!(v2.state, ContractState::Draft);
    assert_eq!(v2.owner, OWNER);
    assert_eq!(v2.kind, ContractKind::Episodic);
    assert_eq!(v2.supersedes.as_deref(), Some("v1"));
    assert_eq!(v2.spec.scope.contexts, ns(&["work"]));
    assert_eq!(
        v2.spec.scope.domains,
        ns(&["email"]),
        "unpatched keys carry over"
    );
    registry.apply(change);
    assert_eq!(state(&registry, "v1"), ContractState::Active);
}

#[test]
fn an_amendment_is_refused_for_others_admins_and_non_active_contracts() {
    let mut registry = Registry::default();
    active(&mut registry, "v1");
    let e = err(registry.plan_amend(&other(), "v1", &SpecPatch::default(), "x".into(), at(1)));
    assert!(is_not_found(&e), "{e:?}");
    let e = err(registry.plan_amend(&admin(), "v1", &SpecPatch::default(), "x".into(), at(1)));
    assert!(is_access_denied(&e), "{e:?}");
    draft(&mut registry, "d");
    review(&mut registry, "r");
    for id in ["d", "r"] {
        let e = err(registry.plan_amend(&owner(), id, &SpecPatch::default(), "x".into(), at(1)));
        assert!(is_invalid_state(&e), "{id}: {e:?}");
    }
}

#[test]
fn a_prohibition_cannot_be_amended() {
    let mut registry = Registry::default();
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["health"], &["*"]),
        "p",
        at(0),
    );
    let patch = SpecPatch {
        contexts: Some(ns(&["work"])),
        ..SpecPatch::default()
    };
    let e = err(registry.plan_amend(&owner(), "p", &patch, "p2".into(), at(1)));
    assert_eq!(e, CoreError::NotRevocable { id: "p".into() });
    active_system_prohibition(&mut registry, &["finance"], &["*"], "sys", at(0));
    let e = err(registry.plan_amend(&admin(), "sys", &patch, "sys2".into(), at(1)));
    assert_eq!(e, CoreError::NotRevocable { id: "sys".into() });
}

fn amend_and_submit(registry: &mut Registry, old: &str, patch: &SpecPatch, new: &str, now: i64) {
    let planned = registry.plan_amend(&owner(), old, patch, new.into(), at(now));
    apply_ok(registry, planned);
    let planned = registry.plan_submit(&owner(), new, at(now));
    apply_ok(registry, planned);
}

#[test]
fn the_old_version_stays_active_until_the_amendment_is_activated() {
    let mut registry = registry_in(BoundaryMode::Open);
    active(&mut registry, "v1");
    amend_and_submit(&mut registry, "v1", &SpecPatch::default(), "v2", 1);
    assert_eq!(state(&registry, "v1"), ContractState::Active);
    assert_eq!(state(&registry, "v2"), ContractState::Review);
    let decision = registry.check(
        CheckKind::MemoryCreation,
        &req(OWNER, "email", "work", MemoryClass::Public),
        at(2),
    );
    assert!(decision.allowed);
    assert_eq!(decision.contract_id.as_deref(), Some("v1"));
}

#[test]
fn activating_an_amendment_hands_over_in_one_change_with_no_gap() {
    let mut registry = registry_in(BoundaryMode::Open);
    active(&mut registry, "v1");
    amend_and_submit(&mut registry, "v1", &SpecPatch::default(), "v2", 1);
    let request = req(OWNER, "email", "work", MemoryClass::Public);

    let change = registry
        .plan_activate(&owner_confirmed(), "v2", at(5))
        .expect("amendment activation");
    let mut states: Vec<(String, ContractState)> = change
        .contracts
        .iter()
        .map(|c| (c.id.clone(), c.state))
        .collect();
    states.sort();
    assert_eq!(
        states,
        vec![
            ("v1".to_string(), ContractState::Amended),
            ("v2".to_string(), ContractState::Active)
        ],
        "both versions change in the same change"
    );
    let old = change.contracts.iter().find(|c| c.id == "v1").unwrap();
    assert_eq!(old.superseded_by.as_deref(), Some("v2"));
    assert_eq!(old.ended, Some(at(5)));
    let actions = audit_actions(&change);
    assert!(actions.contains(&"contract.amended") && actions.contains(&"contract.activate"));

    // Right before the commit, the old version decides; right after, the new one: no gap.
    let before = registry.check(CheckKind::MemoryCreation, &request, at(5));
    assert!(before.allowed);
    assert_eq!(before.contract_id.as_deref(), Some("v1"));
    registry.apply(change);
    let after = registry.check(CheckKind::MemoryCreation, &request, at(5));
    assert!(after.allowed);
    assert_eq!(after.contract_id.as_deref(), Some("v2"));

    // Never two active versions.
    assert_eq!(registry.active_count(), 1);
    let active: Vec<&str> = registry.active_contracts().map(|c| c.id.as_str()).collect();
    assert_eq!(active, vec!["v2"]);
    assert_eq!(state(&registry, "v1"), ContractState::Amended);
    // The old version is no longer usable by name.
    let named = registry.check(CheckKind::MemoryCreation, &naming(request, "v1"), at(6));
    assert_eq!(named.code.as_str(), "not_active");
}

#[test]
fn an_amendment_moves_memories_and_freezes_those_no_longer_covered() {
    let mut registry = registry_in(BoundaryMode::Coldroom);
    let patch = scope_patch(&["email", "calendar"], &["*"], &["*"]);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Procedural,
        &patch,
        "v1",
        at(0),
    );
    let base = |domain: &str, class: MemoryClass, level: Abstraction| {
        at_level(req(OWNER, domain, "work", class), level)
    };
    must_register(
        &mut registry,
        &base("email", MemoryClass::Internal, Abstraction::Raw),
        "m-kept",
        &[],
        at(1),
    );
    must_register(
        &mut registry,
        &base("calendar", MemoryClass::Internal, Abstraction::Raw),
        "m-scope",
        &[],
        at(1),
    );
    must_register(
        &mut registry,
        &base("email", MemoryClass::Secret, Abstraction::Raw),
        "m-cap",
        &[],
        at(1),
    );
    must_register(
        &mut registry,
        &base("email", MemoryClass::Public, Abstraction::Heuristic),
        "m-abs",
        &[],
        at(1),
    );
    assert_eq!(registry.memories_of("v1").count(), 4);

    let narrower = SpecPatch {
        domains: Some(ns(&["email"])),
        classification_cap: Some(MemoryClass::Confidential),
        max_abstraction: Some(Abstraction::Pattern),
        ..SpecPatch::default()
    };
    amend_and_submit(&mut registry, "v1", &narrower, "v2", 2);
    let change = registry
        .plan_activate(&owner_confirmed(), "v2", at(3))
        .unwrap();
    let events = registry.apply(change);

    assert_eq!(
        registry.memories_of("v1").count(),
        0,
        "nothing stays with the old version"
    );
    for id in ["m-kept", "m-scope", "m-cap", "m-abs"] {
        assert_eq!(
            registry.memory(OWNER, id).unwrap().contract_id,
            "v2",
            "{id} moved"
        );
    }
    assert_eq!(status(&registry, "m-kept"), MemoryStatus::Active);
    for id in ["m-scope", "m-cap", "m-abs"] {
        assert_eq!(status(&registry, id), MemoryStatus::Frozen, "{id}");
    }
    assert!(events.contains(&Event::MemoriesChanged {
        contract_id: "v2".into(),
        status: MemoryStatus::Frozen,
        memory_ids: vec!["m-abs".into(), "m-cap".into(), "m-scope".into()],
    }));
    // The kept memory is recallable under the new version; the frozen ones are not.
    let recall = registry.check(
        CheckKind::Recall,
        &about_memory(req(OWNER, "email", "work", MemoryClass::Public), "m-kept"),
        at(4),
    );
    assert!(recall.allowed, "{recall:?}");
    assert_eq!(recall.contract_id.as_deref(), Some("v2"));
    let recall = registry.check(
        CheckKind::Recall,
        &about_memory(req(OWNER, "email", "work", MemoryClass::Public), "m-abs"),
        at(4),
    );
    assert_eq!(recall.code.as_str(), "memory_unavailable");
}

#[test]
fn an_amendment_whose_original_was_revoked_cannot_be_activated() {
    let mut registry = Registry::default();
    active(&mut registry, "v1");
    amend_and_submit(&mut registry, "v1", &SpecPatch::default(), "v2", 1);
    revoke(&mut registry, "v1", at(2));
    for actor in [owner_confirmed(), admin()] {
        let e = err(registry.plan_activate(&actor, "v2", at(3)));
        assert!(is_invalid_state(&e), "{e:?}");
    }
    assert_eq!(state(&registry, "v2"), ContractState::Review);
}

#[test]
fn an_amendment_whose_original_reached_its_end_cannot_be_activated_even_before_the_sweep() {
    let mut registry = Registry::default();
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(100)),
        "v1",
        at(0),
    );
    let patch = SpecPatch {
        retention: Some(RetentionKind::Permanent),
        ..SpecPatch::default()
    };
    amend_and_submit(&mut registry, "v1", &patch, "v2", 1);
    registry
        .plan_activate(&owner_confirmed(), "v2", at(99))
        .expect("the original is still in force at end - 1 ms");
    let e = err(registry.plan_activate(&owner_confirmed(), "v2", at(100)));
    assert!(is_invalid_state(&e), "{e:?}");
}

#[test]
fn only_one_of_two_competing_amendments_can_be_activated() {
    let mut registry = Registry::default();
    active(&mut registry, "v1");
    amend_and_submit(&mut registry, "v1", &SpecPatch::default(), "v2a", 1);
    amend_and_submit(&mut registry, "v1", &SpecPatch::default(), "v2b", 1);
    let planned = registry.plan_activate(&owner_confirmed(), "v2a", at(2));
    apply_ok(&mut registry, planned);
    let e = err(registry.plan_activate(&owner_confirmed(), "v2b", at(3)));
    assert!(is_invalid_state(&e), "{e:?}");
    assert_eq!(registry.active_count(), 1);
}

#[test]
fn activating_an_amendment_needs_confirmation_or_an_admin() {
    let mut registry = Registry::default();
    active(&mut registry, "v1");
    amend_and_submit(&mut registry, "v1", &SpecPatch::default(), "v2", 1);
    let e = err(registry.plan_activate(&owner(), "v2", at(2)));
    assert!(is_access_denied(&e), "{e:?}");
    let e = err(registry.plan_activate(&other(), "v2", at(2)));
    assert!(is_not_found(&e), "{e:?}");
    registry
        .plan_activate(&admin(), "v2", at(2))
        .expect("an admin may activate the amendment");
}

#[test]
fn an_amendment_cannot_make_a_system_contract() {
    let mut registry = Registry::default();
    active(&mut registry, "v1");
    let patch = SpecPatch {
        system: Some(true),
        ..SpecPatch::default()
    };
    let e = err(registry.plan_amend(&owner(), "v1", &patch, "v2".into(), at(1)));
    assert!(is_access_denied(&e), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Validation at submit

fn submit_problems(kind: ContractKind, patch: &SpecPatch, now: i64) -> Vec<String> {
    let mut registry = Registry::default();
    create_draft(&mut registry, &owner(), kind, patch, "c", at(0));
    problem_keys(&err(registry.plan_submit(&owner(), "c", at(now))))
}

#[test]
fn submit_names_every_missing_dimension_by_key() {
    assert_eq!(
        submit_problems(ContractKind::Episodic, &SpecPatch::default(), 1),
        vec!["contexts", "domains", "retention"]
    );
    let no_domains = SpecPatch {
        domains: Some(Vec::new()),
        ..email_patch()
    };
    assert_eq!(
        submit_problems(ContractKind::Episodic, &no_domains, 1),
        vec!["domains"]
    );
    let no_contexts = SpecPatch {
        contexts: Some(Vec::new()),
        ..email_patch()
    };
    assert_eq!(
        submit_problems(ContractKind::Episodic, &no_contexts, 1),
        vec!["contexts"]
    );
    let no_retention = SpecPatch {
        retention: None,
        ..email_patch()
    };
    assert_eq!(
        submit_problems(ContractKind::Episodic, &no_retention, 1),
        vec!["retention"]
    );
}

#[test]
fn empty_tools_is_a_complete_scope() {
    let no_tools = scope_patch(&["email"], &["work"], &[]);
    let mut registry = Registry::default();
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Episodic,
        &no_tools,
        "c",
        at(0),
    );
    registry
        .plan_submit(&owner(), "c", at(1))
        .expect("empty tools means no tool-mediated learning, not an incomplete scope");
}

#[test]
fn submit_refuses_a_timebound_contract_without_an_end_or_with_an_end_in_the_past() {
    let no_end = SpecPatch {
        retention: Some(RetentionKind::Timebound),
        ..email_patch()
    };
    assert_eq!(
        submit_problems(ContractKind::Episodic, &no_end, 1),
        vec!["retention_until"]
    );
    // The end lies at or before the moment of submission.
    assert_eq!(
        submit_problems(ContractKind::Episodic, &timebound_patch(at(50)), 50),
        vec!["retention_until"]
    );
    assert_eq!(
        submit_problems(ContractKind::Episodic, &timebound_patch(at(50)), 60),
        vec!["retention_until"]
    );
    assert!(submit_problems_ok(
        ContractKind::Episodic,
        &timebound_patch(at(50)),
        49
    ));
}

fn submit_problems_ok(kind: ContractKind, patch: &SpecPatch, now: i64) -> bool {
    let mut registry = Registry::default();
    create_draft(&mut registry, &owner(), kind, patch, "c", at(0));
    registry.plan_submit(&owner(), "c", at(now)).is_ok()
}

/// A Draft as the store might hold it, bypassing the checks at creation: submit must still run
/// the full validation.
fn stored_draft(kind: ContractKind, spec: ContractSpec, owner: u32) -> Registry {
    let contract = Contract {
        id: "c".into(),
        owner,
        kind,
        state: ContractState::Draft,
        spec,
        created: at(0),
        updated: at(0),
        activated: None,
        ended: None,
        supersedes: None,
        superseded_by: None,
        session: None,
    };
    Registry::from_parts(vec![contract], Vec::new(), HostState::default())
}

fn complete_spec() -> ContractSpec {
    ContractSpec::default().patched(&email_patch())
}

#[test]
fn submit_reports_every_spec_problem_by_key() {
    let cases: Vec<(&str, ContractKind, ContractSpec)> = vec![
        (
            "domains",
            ContractKind::Episodic,
            ContractSpec {
                scope: learning_contracts::core::Scope {
                    domains: ns(&["*"]),
                    ..complete_spec().scope
                },
                ..complete_spec()
            },
        ),
        (
            "classification_cap",
            ContractKind::Episodic,
            ContractSpec {
                classification_cap: Some(MemoryClass::TopSecret),
                ..complete_spec()
            },
        ),
        (
            "classification_cap",
            ContractKind::Observation,
            ContractSpec {
                classification_cap: Some(MemoryClass::Internal),
                ..complete_spec()
            },
        ),
        (
            "classification_cap",
            ContractKind::Strategic,
            ContractSpec {
                classification_cap: Some(MemoryClass::CrownJewel),
                ..complete_spec()
            },
        ),
        (
            "required_mode",
            ContractKind::Strategic,
            ContractSpec {
                required_mode: Some(BoundaryMode::Restricted),
                ..complete_spec()
            },
        ),
        (
            "required_mode",
            ContractKind::Episodic,
            ContractSpec {
                required_mode: Some(BoundaryMode::Lockdown),
                ..complete_spec()
            },
        ),
        (
            "system",
            ContractKind::Procedural,
            ContractSpec {
                system: true,
                ..complete_spec()
            },
        ),
    ];
    for (key, kind, spec) in cases {
        let registry = stored_draft(kind, spec, OWNER);
        let e = err(registry.plan_submit(&owner(), "c", at(1)));
        assert_eq!(problem_keys(&e), vec![key], "{kind}");
    }
}

#[test]
fn spec_problems_are_refused_already_when_the_draft_is_written() {
    let registry = Registry::default();
    let cases: Vec<(&str, ContractKind, SpecPatch, bool)> = vec![
        (
            "domains",
            ContractKind::Episodic,
            scope_patch(&["*"], &["*"], &["*"]),
            false,
        ),
        (
            "classification_cap",
            ContractKind::Procedural,
            SpecPatch {
                classification_cap: Some(MemoryClass::TopSecret),
                ..email_patch()
            },
            false,
        ),
        (
            "required_mode",
            ContractKind::Strategic,
            SpecPatch {
                required_mode: Some(BoundaryMode::Open),
                ..email_patch()
            },
            false,
        ),
        (
            "system",
            ContractKind::Episodic,
            SpecPatch {
                system: Some(true),
                ..email_patch()
            },
            true,
        ),
        (
            "contexts",
            ContractKind::Episodic,
            scope_patch(&["email"], &["*", "work"], &["*"]),
            false,
        ),
        (
            "retention_until",
            ContractKind::Episodic,
            SpecPatch {
                retention_until: Some(at(1_000)),
                ..email_patch()
            },
            false,
        ),
    ];
    for (key, kind, patch, as_admin) in cases {
        let actor = if as_admin { admin() } else { owner() };
        let e = err(registry.plan_create_draft(&actor, kind, &patch, "c".into(), at(0)));
        assert_eq!(problem_keys(&e), vec![key], "{kind}");
    }
}

#[test]
fn caps_and_modes_at_the_kind_limits_are_accepted() {
    for (kind, cap, mode) in [
        (
            ContractKind::Observation,
            MemoryClass::Public,
            BoundaryMode::Open,
        ),
        (
            ContractKind::Episodic,
            MemoryClass::Secret,
            BoundaryMode::Open,
        ),
        (
            ContractKind::Procedural,
            MemoryClass::Secret,
            BoundaryMode::Coldroom,
        ),
        (
            ContractKind::Strategic,
            MemoryClass::TopSecret,
            BoundaryMode::Trusted,
        ),
    ] {
        let patch = SpecPatch {
            classification_cap: Some(cap),
            required_mode: Some(mode),
            ..email_patch()
        };
        assert!(submit_problems_ok(kind, &patch, 1), "{kind}");
    }
}

#[test]
fn submit_reports_several_problems_at_once() {
    let spec = ContractSpec {
        scope: learning_contracts::core::Scope {
            domains: Vec::new(),
            contexts: Vec::new(),
            tools: Vec::new(),
        },
        retention: None,
        classification_cap: Some(MemoryClass::CrownJewel),
        required_mode: Some(BoundaryMode::Open),
        system: true,
        ..ContractSpec::default()
    };
    let registry = stored_draft(ContractKind::Strategic, spec, OWNER);
    let e = err(registry.plan_submit(&owner(), "c", at(1)));
    assert_eq!(
        problem_keys(&e),
        vec![
            "classification_cap",
            "contexts",
            "domains",
            "required_mode",
            "retention",
            "system"
        ]
    );
}

#[test]
fn transitions_are_audited_and_announced() {
    let mut registry = Registry::default();
    let change = registry
        .plan_create_draft(
            &owner(),
            ContractKind::Episodic,
            &email_patch(),
            "c".into(),
            at(0),
        )
        .unwrap();
    assert!(matches!(
        change.events.as_slice(),
        [Event::ContractChanged {
            state: ContractState::Draft,
            ..
        }]
    ));
    registry.apply(change);
    let change = registry.plan_submit(&owner(), "c", at(1)).unwrap();
    assert!(matches!(
        change.events.as_slice(),
        [Event::ContractChanged {
            state: ContractState::Review,
            ..
        }]
    ));
    registry.apply(change);
    let change = registry
        .plan_activate(&owner_confirmed(), "c", at(2))
        .unwrap();
    assert_eq!(change.audit[0].caller, Caller::uid(OWNER));
    assert!(matches!(
        change.events.as_slice(),
        [Event::ContractChanged {
            state: ContractState::Active,
            ..
        }]
    ));
}
