//! The four checks of SEMANTICS.md section 7: every code reached through the public API, the
//! evaluation order (for each adjacent pair of steps, a request failing both gets the earlier
//! code), prohibitions, discovery, pauses, expiry by the clock, and scope matching with name
//! normalization (section 3).

use crate::common::core_fixtures::*;
use learning_contracts::core::scope::NameError;
use learning_contracts::core::{
    Abstraction, BoundaryMode, Caller, CheckKind, Code, ContractKind, ContractState, Decision,
    EffectiveMode, MemoryClass, Name, PauseScope, Registry, RetentionKind, Scope, SpecPatch,
};

/// Session limits roomy enough not to matter here.
const LIMITS: learning_contracts::core::SessionLimits = learning_contracts::core::SessionLimits {
    per_owner: 8,
    per_connection: 8,
};

const CREATE: CheckKind = CheckKind::MemoryCreation;
const ABSTRACT: CheckKind = CheckKind::Abstraction;
const RECALL: CheckKind = CheckKind::Recall;
const EXPORT: CheckKind = CheckKind::Export;

fn public(domain: &str, context: &str) -> learning_contracts::core::CheckRequest {
    req(OWNER, domain, context, MemoryClass::Public)
}

#[track_caller]
fn assert_code(decision: &Decision, code: Code) {
    assert_eq!(decision.code, code, "{decision:?}");
    assert_eq!(decision.allowed, code == Code::Allowed, "{decision:?}");
    assert!(!decision.reason.is_empty());
}

#[track_caller]
fn assert_decided_by(decision: &Decision, code: Code, contract: Option<&str>) {
    assert_code(decision, code);
    assert_eq!(decision.contract_id.as_deref(), contract, "{decision:?}");
}

fn transferable_patch() -> SpecPatch {
    SpecPatch {
        transferable: Some(true),
        ..email_patch()
    }
}

/// An Active episodic contract `ep` of the owner over email, any context, any tool.
fn with_episodic(mode: BoundaryMode) -> Registry {
    let mut registry = registry_in(mode);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &transferable_patch(),
        "ep",
        at(0),
    );
    registry
}

fn pause_owner(registry: &mut Registry) {
    let planned = registry.plan_pause(&owner(), PauseScope::Owner(OWNER), "stop", at(1));
    apply_ok(registry, planned);
}

// =============================================================================================
// Every code

#[test]
fn code_allowed_for_each_check() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    must_register(&mut registry, &public("email", "work"), "m1", &[], at(1));
    for kind in ALL_CHECKS {
        let request = about_memory(public("email", "work"), "m1");
        let decision = registry.check(kind, &request, at(2));
        assert_decided_by(&decision, Code::Allowed, Some("ep"));
    }
    assert_eq!(Code::Allowed.as_str(), "allowed");
}

#[test]
fn code_boundary_unknown_before_any_reading() {
    let mut registry = Registry::default();
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &transferable_patch(),
        "ep",
        at(0),
    );
    assert_eq!(registry.mode(), EffectiveMode::Unknown);
    for kind in ALL_CHECKS {
        let decision = registry.check(kind, &naming(public("email", "work"), "ep"), at(1));
        assert_decided_by(&decision, Code::BoundaryUnknown, None);
        assert_eq!(decision.code.as_str(), "boundary_unknown");
    }
}

#[test]
fn code_lockdown_in_lockdown() {
    let mut registry = with_episodic(BoundaryMode::Coldroom);
    set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Lockdown),
        at(1),
    );
    for kind in ALL_CHECKS {
        let decision = registry.check(kind, &public("email", "work"), at(2));
        assert_decided_by(&decision, Code::Lockdown, None);
        assert_eq!(decision.code.as_str(), "lockdown");
    }
}

#[test]
fn code_paused_stops_learning_but_not_recall() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    must_register(&mut registry, &public("email", "work"), "m1", &[], at(1));
    pause_owner(&mut registry);
    for kind in [CREATE, ABSTRACT, EXPORT] {
        let decision = registry.check(kind, &about_memory(public("email", "work"), "m1"), at(2));
        assert_code(&decision, Code::Paused);
        assert_eq!(decision.code.as_str(), "paused");
    }
    let recall = registry.check(RECALL, &about_memory(public("email", "work"), "m1"), at(2));
    assert_decided_by(&recall, Code::Allowed, Some("ep"));
    // A registration is a creation: paused too.
    let decision = register(&mut registry, &public("email", "work"), "m2", &[], at(2));
    assert_code(&decision, Code::Paused);
    assert!(registry.memory(OWNER, "m2").is_none());
}

#[test]
fn code_paused_by_a_global_pause() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    let planned = registry.plan_pause(&admin(), PauseScope::All, "incident", at(1));
    apply_ok(&mut registry, planned);
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(2)),
        Code::Paused,
    );
    assert_code(
        &registry.check(RECALL, &public("email", "work"), at(2)),
        Code::Allowed,
    );
    // Another owner is paused as well.
    let other_request = req(OTHER, "email", "work", MemoryClass::Public);
    assert_code(&registry.check(CREATE, &other_request, at(2)), Code::Paused);
}

#[test]
fn code_prohibited_whichever_contract_is_named() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["email"], &["work"]),
        "no-work-email",
        at(0),
    );
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "theirs",
        at(0),
    );
    for request in [
        public("email", "work"),
        naming(public("email", "work"), "ep"),
        naming(public("email", "work"), "no-work-email"),
        naming(public("email", "work"), "theirs"),
        naming(public("email", "work"), "does-not-exist"),
    ] {
        for kind in ALL_CHECKS {
            let decision = registry.check(kind, &request, at(1));
            assert_decided_by(&decision, Code::Prohibited, Some("no-work-email"));
        }
    }
    // Outside the prohibition's contexts, the contract decides.
    assert_decided_by(
        &registry.check(CREATE, &public("email", "home"), at(1)),
        Code::Allowed,
        Some("ep"),
    );
}

#[test]
fn a_system_prohibition_applies_to_every_owner() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "theirs",
        at(0),
    );
    active_system_prohibition(&mut registry, &["email"], &["*"], "sys", at(0));
    assert!(registry.contract("sys").unwrap().owner == ADMIN);
    for uid in [OWNER, OTHER, 4242] {
        let decision = registry.check(
            CREATE,
            &req(uid, "email", "any", MemoryClass::Public),
            at(1),
        );
        assert_decided_by(&decision, Code::Prohibited, Some("sys"));
    }
}

#[test]
fn another_owners_own_prohibition_does_not_apply() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Prohibited,
        &prohibition_patch(&["email"], &["*"]),
        "their-prohibition",
        at(0),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(1)),
        Code::Allowed,
        Some("ep"),
    );
    let theirs = req(OTHER, "email", "work", MemoryClass::Public);
    assert_decided_by(
        &registry.check(CREATE, &theirs, at(1)),
        Code::Prohibited,
        Some("their-prohibition"),
    );
}

#[test]
fn a_prohibition_stops_applying_at_its_retention_end_without_a_sweep() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    let patch = SpecPatch {
        retention: Some(RetentionKind::Timebound),
        retention_until: Some(at(500)),
        ..prohibition_patch(&["email"], &["*"])
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &patch,
        "p",
        at(0),
    );
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(499)),
        Code::Prohibited,
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(500)),
        Code::Allowed,
        Some("ep"),
    );
}

#[test]
fn a_prohibition_in_draft_or_review_does_not_apply() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    let patch = prohibition_patch(&["email"], &["*"]);
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
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(1)),
        Code::Allowed,
    );
}

#[test]
fn code_no_contract_when_nothing_covers() {
    let registry = with_episodic(BoundaryMode::Trusted);
    for kind in ALL_CHECKS {
        let decision = registry.check(kind, &public("calendar", "work"), at(1));
        assert_decided_by(&decision, Code::NoContract, None);
        assert_eq!(decision.code.as_str(), "no_contract");
    }
    // A contract of another owner never decides for this one.
    let theirs = req(OTHER, "email", "work", MemoryClass::Public);
    assert_decided_by(
        &registry.check(CREATE, &theirs, at(1)),
        Code::NoContract,
        None,
    );
}

#[test]
fn naming_another_owners_contract_gives_no_contract() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "theirs",
        at(0),
    );
    for kind in ALL_CHECKS {
        let decision = registry.check(kind, &naming(public("email", "work"), "theirs"), at(1));
        assert_decided_by(&decision, Code::NoContract, None);
        assert!(
            !decision.reason.contains("theirs"),
            "must not reveal it: {decision:?}"
        );
        let decision = registry.check(kind, &naming(public("email", "work"), "unknown"), at(1));
        assert_decided_by(&decision, Code::NoContract, None);
    }
}

#[test]
fn code_not_active_for_a_named_contract_that_is_not_active() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Episodic,
        &email_patch(),
        "draft",
        at(0),
    );
    review_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "review",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "revoked",
        at(0),
    );
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
    for id in ["draft", "review", "revoked", "expired"] {
        for kind in ALL_CHECKS {
            let decision = registry.check(kind, &naming(public("email", "work"), id), at(20));
            assert_decided_by(&decision, Code::NotActive, Some(id));
            assert_eq!(decision.code.as_str(), "not_active");
        }
    }
    // Discovery never picks a contract that is not Active.
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(20)),
        Code::NoContract,
    );
}

#[test]
fn code_not_active_for_a_session_contract_not_bound_to_an_open_session() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = SpecPatch {
        retention: Some(RetentionKind::Session),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "sess",
        at(0),
    );
    let decision = registry.check(CREATE, &public("email", "work"), at(1));
    assert_decided_by(&decision, Code::NotActive, Some("sess"));
    let planned =
        registry.plan_open_session(&Caller::uid(OWNER), OWNER, "s1".into(), LIMITS, both_at(1));
    apply_ok(&mut registry, planned);
    let planned = registry.plan_bind(&owner(), "s1", "sess", at(1));
    apply_ok(&mut registry, planned);
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(2)),
        Code::Allowed,
        Some("sess"),
    );
}

#[test]
fn code_expired_exactly_at_retention_until_without_any_sweep() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let until = at(10_000);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &SpecPatch {
            transferable: Some(true),
            ..timebound_patch(until)
        },
        "tb",
        at(0),
    );
    must_register(&mut registry, &public("email", "work"), "m1", &[], at(1));
    for kind in ALL_CHECKS {
        for request in [
            about_memory(public("email", "work"), "m1"),
            naming(about_memory(public("email", "work"), "m1"), "tb"),
        ] {
            let before = registry.check(kind, &request, at(9_999));
            assert_decided_by(&before, Code::Allowed, Some("tb"));
            for now in [at(10_000), at(10_001), at(99_999)] {
                let after = registry.check(kind, &request, now);
                assert_decided_by(&after, Code::Expired, Some("tb"));
                assert_eq!(after.code.as_str(), "expired");
            }
        }
    }
    // Nothing was swept: the contract is still recorded as Active.
    assert_eq!(state(&registry, "tb"), ContractState::Active);
    assert!(!registry.is_effective(registry.contract("tb").unwrap(), until));
    assert!(registry.is_effective(registry.contract("tb").unwrap(), at(9_999)));
}

#[test]
fn code_suspended_when_the_mode_is_below_the_contracts_requirement() {
    for mode in [BoundaryMode::Open, BoundaryMode::Restricted] {
        let mut registry = registry_in(mode);
        active_contract(
            &mut registry,
            OWNER,
            ContractKind::Strategic,
            &transferable_patch(),
            "strat",
            at(0),
        );
        for kind in ALL_CHECKS {
            let decision = registry.check(kind, &public("email", "work"), at(1));
            assert_decided_by(&decision, Code::Suspended, Some("strat"));
            assert_eq!(decision.code.as_str(), "suspended");
        }
    }
}

#[test]
fn code_boundary_mode_for_export_in_airgap_or_above() {
    for (mode, allowed) in [
        (BoundaryMode::Open, true),
        (BoundaryMode::Restricted, true),
        (BoundaryMode::Trusted, true),
        (BoundaryMode::Airgap, false),
        (BoundaryMode::Coldroom, false),
    ] {
        let registry = with_episodic(mode);
        let decision = registry.check(EXPORT, &public("email", "work"), at(1));
        if allowed {
            assert_decided_by(&decision, Code::Allowed, Some("ep"));
        } else {
            assert_decided_by(&decision, Code::BoundaryMode, Some("ep"));
            assert_eq!(decision.code.as_str(), "boundary_mode");
        }
        // The other checks are not affected by the export rule.
        assert_code(
            &registry.check(CREATE, &public("email", "work"), at(1)),
            Code::Allowed,
        );
    }
}

#[test]
fn code_type_forbids_for_observation_and_episodic_generalization() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Observation,
        &email_patch(),
        "obs",
        at(0),
    );
    for kind in ALL_CHECKS {
        let decision = registry.check(kind, &public("email", "work"), at(1));
        assert_decided_by(&decision, Code::TypeForbids, Some("obs"));
        assert_eq!(decision.code.as_str(), "type_forbids");
    }
    let mut registry = with_episodic(BoundaryMode::Trusted);
    for level in [
        Abstraction::Pattern,
        Abstraction::Heuristic,
        Abstraction::Strategy,
    ] {
        let request = at_level(public("email", "work"), level);
        assert_decided_by(
            &registry.check(ABSTRACT, &request, at(1)),
            Code::TypeForbids,
            Some("ep"),
        );
        // Registration above RAW runs the abstraction check too.
        let decision = register(&mut registry, &request, "gen", &[], at(1));
        assert_code(&decision, Code::TypeForbids);
    }
    assert_code(
        &registry.check(
            ABSTRACT,
            &at_level(public("email", "work"), Abstraction::Raw),
            at(1),
        ),
        Code::Allowed,
    );
}

#[test]
fn code_abstraction_cap_above_the_contracts_maximum() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Procedural,
        &email_patch(),
        "proc",
        at(0),
    );
    let capped = SpecPatch {
        max_abstraction: Some(Abstraction::Pattern),
        ..scope_patch(&["notes"], &["*"], &["*"])
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Procedural,
        &capped,
        "capped",
        at(0),
    );
    for (domain, level, code) in [
        ("email", Abstraction::Raw, Code::Allowed),
        ("email", Abstraction::Pattern, Code::Allowed),
        ("email", Abstraction::Heuristic, Code::Allowed),
        ("email", Abstraction::Strategy, Code::AbstractionCap),
        ("notes", Abstraction::Pattern, Code::Allowed),
        ("notes", Abstraction::Heuristic, Code::AbstractionCap),
        ("notes", Abstraction::Strategy, Code::AbstractionCap),
    ] {
        let decision = registry.check(ABSTRACT, &at_level(public(domain, "work"), level), at(1));
        assert_code(&decision, code);
    }
    assert_eq!(Code::AbstractionCap.as_str(), "abstraction_cap");
    // The creation check itself does not look at the level; registration does.
    let request = at_level(public("email", "work"), Abstraction::Strategy);
    assert_code(&registry.check(CREATE, &request, at(1)), Code::Allowed);
    assert_code(
        &register(&mut registry, &request, "m", &[], at(1)),
        Code::AbstractionCap,
    );
}

#[test]
fn code_classification_cap_above_the_contracts_cap() {
    let mut registry = registry_in(BoundaryMode::Coldroom);
    let patch = SpecPatch {
        classification_cap: Some(MemoryClass::Internal),
        transferable: Some(true),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "low",
        at(0),
    );
    for kind in [CREATE, ABSTRACT, RECALL] {
        assert_code(
            &registry.check(
                kind,
                &req(OWNER, "email", "w", MemoryClass::Internal),
                at(1),
            ),
            Code::Allowed,
        );
        let decision = registry.check(
            kind,
            &req(OWNER, "email", "w", MemoryClass::Confidential),
            at(1),
        );
        assert_decided_by(&decision, Code::ClassificationCap, Some("low"));
        assert_eq!(decision.code.as_str(), "classification_cap");
    }
    // The kind's default cap applies when none is stated: episodic stops at SECRET.
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &scope_patch(&["notes"], &["*"], &["*"]),
        "dflt",
        at(0),
    );
    assert_code(
        &registry.check(
            CREATE,
            &req(OWNER, "notes", "w", MemoryClass::Secret),
            at(1),
        ),
        Code::Allowed,
    );
    assert_code(
        &registry.check(
            CREATE,
            &req(OWNER, "notes", "w", MemoryClass::TopSecret),
            at(1),
        ),
        Code::ClassificationCap,
    );
}

#[test]
fn code_boundary_class_above_the_modes_cap() {
    for (mode, highest) in [
        (BoundaryMode::Open, MemoryClass::Internal),
        (BoundaryMode::Restricted, MemoryClass::Confidential),
        (BoundaryMode::Trusted, MemoryClass::Secret),
        (BoundaryMode::Airgap, MemoryClass::TopSecret),
    ] {
        let mut registry = registry_in(mode);
        active_contract(
            &mut registry,
            OWNER,
            ContractKind::Strategic,
            &email_patch(),
            "s",
            at(0),
        );
        active_contract(
            &mut registry,
            OWNER,
            ContractKind::Episodic,
            &scope_patch(&["notes"], &["*"], &["*"]),
            "e",
            at(0),
        );
        for class in MemoryClass::ALL {
            let (id, domain) = if mode >= BoundaryMode::Trusted {
                ("s", "email")
            } else {
                ("e", "notes")
            };
            let contract_cap = registry.contract(id).unwrap().classification_cap().unwrap();
            let decision = registry.check(CREATE, &req(OWNER, domain, "w", class), at(1));
            let expected = if class > contract_cap {
                Code::ClassificationCap
            } else if class > highest {
                Code::BoundaryClass
            } else {
                Code::Allowed
            };
            assert_code(&decision, expected);
        }
    }
    assert_eq!(Code::BoundaryClass.as_str(), "boundary_class");
}

#[test]
fn code_out_of_scope_for_a_named_contract_that_does_not_cover() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = scope_patch(&["email", "calendar"], &["work", "home"], &["mail-client"]);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "narrow",
        at(0),
    );
    let named = |r| naming(r, "narrow");
    for (request, code) in [
        (named(public("email", "work")), Code::Allowed),
        (named(public("calendar", "home")), Code::Allowed),
        (
            named(with_tool(public("email", "work"), "mail-client")),
            Code::Allowed,
        ),
        (named(public("contacts", "work")), Code::OutOfScope),
        (named(public("email", "travel")), Code::OutOfScope),
        (
            named(with_tool(public("email", "work"), "browser")),
            Code::OutOfScope,
        ),
    ] {
        assert_code(&registry.check(CREATE, &request, at(1)), code);
    }
    assert_eq!(Code::OutOfScope.as_str(), "out_of_scope");
}

#[test]
fn code_memory_unavailable_for_a_memory_that_is_not_active() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    must_register(&mut registry, &public("email", "work"), "live", &[], at(1));
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(100)),
        "tb",
        at(0),
    );
    must_register(
        &mut registry,
        &naming(public("email", "work"), "tb"),
        "frozen",
        &[],
        at(2),
    );
    let change = registry.plan_expire_due(at(100)).unwrap();
    registry.apply(change);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "gone",
        at(0),
    );
    must_register(
        &mut registry,
        &naming(public("email", "work"), "gone"),
        "tomb",
        &[],
        at(3),
    );
    revoke(&mut registry, "gone", at(4));
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "theirs",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OTHER, "email", "work", MemoryClass::Public),
        "their-memory",
        &[],
        at(5),
    );

    let ok = registry.check(
        RECALL,
        &about_memory(public("email", "work"), "live"),
        at(200),
    );
    assert_decided_by(&ok, Code::Allowed, Some("ep"));
    for memory in ["frozen", "tomb"] {
        // Named by memory only: the memory's contract is no longer active.
        let decision = registry.check(
            RECALL,
            &about_memory(public("email", "work"), memory),
            at(200),
        );
        assert_code(&decision, Code::NotActive);
        // Under the owner's live contract, the memory is not available.
        let decision = registry.check(
            RECALL,
            &naming(about_memory(public("email", "work"), memory), "ep"),
            at(200),
        );
        assert_decided_by(&decision, Code::MemoryUnavailable, Some("ep"));
    }
    for memory in ["no-such-memory", "their-memory"] {
        let decision = registry.check(
            RECALL,
            &about_memory(public("email", "work"), memory),
            at(200),
        );
        assert_decided_by(&decision, Code::MemoryUnavailable, Some("ep"));
        assert_eq!(decision.code.as_str(), "memory_unavailable");
    }
}

#[test]
fn code_owner_absent_when_recall_requires_the_owner() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = SpecPatch {
        recall_requires_owner: Some(true),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "present",
        at(0),
    );
    must_register(&mut registry, &public("email", "work"), "m1", &[], at(1));
    let mut request = about_memory(public("email", "work"), "m1");
    let decision = registry.check(RECALL, &request, at(2));
    assert_decided_by(&decision, Code::OwnerAbsent, Some("present"));
    assert_eq!(decision.code.as_str(), "owner_absent");
    // Only recall reads owner presence.
    assert_code(&registry.check(CREATE, &request, at(2)), Code::Allowed);
    request.owner_present = true;
    assert_code(&registry.check(RECALL, &request, at(2)), Code::Allowed);
}

#[test]
fn code_not_transferable_for_export_unless_the_owner_allowed_it() {
    let mut registry = registry_in(BoundaryMode::Open);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "local",
        at(0),
    );
    let decision = registry.check(EXPORT, &public("email", "work"), at(1));
    assert_decided_by(&decision, Code::NotTransferable, Some("local"));
    assert_eq!(decision.code.as_str(), "not_transferable");
    assert_code(
        &registry.check(RECALL, &public("email", "work"), at(1)),
        Code::Allowed,
    );
}

// =============================================================================================
// The order: for each adjacent pair of steps, a request that fails both gets the earlier code.

#[test]
fn code_store_unavailable_while_the_store_cannot_be_written() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    registry.set_store_fault(Some("disk full".into()));
    for kind in ALL_CHECKS {
        let decision = registry.check(kind, &public("email", "work"), at(1));
        assert_decided_by(&decision, Code::StoreUnavailable, None);
        assert_eq!(decision.code.as_str(), "store_unavailable");
    }
    registry.set_store_fault(None);
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(2)),
        Code::Allowed,
    );
}

#[test]
fn order_1_1b_lockdown_beats_store_unavailable_which_beats_paused() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    pause_owner(&mut registry);
    registry.set_store_fault(Some("disk full".into()));
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(2)),
        Code::StoreUnavailable,
    );
    set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Lockdown),
        at(3),
    );
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(4)),
        Code::Lockdown,
    );
}

#[test]
fn order_1_lockdown_or_unknown_beats_paused() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    pause_owner(&mut registry);
    set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Lockdown),
        at(2),
    );
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(3)),
        Code::Lockdown,
    );
    set_mode(&mut registry, EffectiveMode::Unknown, at(4));
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(5)),
        Code::BoundaryUnknown,
    );
}

#[test]
fn order_2_paused_beats_prohibited() {
    let mut registry = with_episodic(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["email"], &["*"]),
        "p",
        at(0),
    );
    pause_owner(&mut registry);
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(2)),
        Code::Paused,
    );
    // Recall is not paused, so the prohibition answers it.
    assert_code(
        &registry.check(RECALL, &public("email", "work"), at(2)),
        Code::Prohibited,
    );
}

#[test]
fn order_3_prohibited_beats_no_contract() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["email"], &["*"]),
        "p",
        at(0),
    );
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "theirs",
        at(0),
    );
    for request in [
        public("email", "work"),
        naming(public("email", "work"), "theirs"),
    ] {
        assert_decided_by(
            &registry.check(CREATE, &request, at(1)),
            Code::Prohibited,
            Some("p"),
        );
    }
}

#[test]
fn order_4_no_contract_beats_not_active() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    create_draft(
        &mut registry,
        &other(),
        ContractKind::Episodic,
        &email_patch(),
        "their-draft",
        at(0),
    );
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Episodic,
        &email_patch(),
        "their-revoked",
        at(0),
    );
    revoke(&mut registry, "their-revoked", at(1));
    for id in ["their-draft", "their-revoked"] {
        let decision = registry.check(CREATE, &naming(public("email", "work"), id), at(2));
        assert_decided_by(&decision, Code::NoContract, None);
    }
}

#[test]
fn order_5_not_active_beats_expired() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(100)),
        "revoked",
        at(0),
    );
    revoke(&mut registry, "revoked", at(1));
    review_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(100)),
        "review",
        at(0),
    );
    for id in ["revoked", "review"] {
        let decision = registry.check(CREATE, &naming(public("email", "work"), id), at(200));
        assert_decided_by(&decision, Code::NotActive, Some(id));
    }
}

#[test]
fn order_5_expired_beats_suspended() {
    let mut registry = registry_in(BoundaryMode::Open);
    let patch = SpecPatch {
        retention: Some(RetentionKind::Timebound),
        retention_until: Some(at(100)),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Strategic,
        &patch,
        "s",
        at(0),
    );
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(99)),
        Code::Suspended,
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(100)),
        Code::Expired,
        Some("s"),
    );
    assert_code(
        &registry.check(RECALL, &naming(public("email", "work"), "s"), at(100)),
        Code::Expired,
    );
}

#[test]
fn order_5_6_suspended_beats_boundary_mode() {
    // Requires COLDROOM, host in AIRGAP: below the requirement (step 6) and, for export, in
    // AIRGAP (step 10); the `mode` suspension (step 5) answers first.
    let mut registry = registry_in(BoundaryMode::Airgap);
    let patch = SpecPatch {
        required_mode: Some(BoundaryMode::Coldroom),
        transferable: Some(true),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "cold",
        at(0),
    );
    assert!(registry.suspension(registry.contract("cold").unwrap()).mode);
    for kind in ALL_CHECKS {
        assert_decided_by(
            &registry.check(kind, &public("email", "work"), at(1)),
            Code::Suspended,
            Some("cold"),
        );
    }
}

#[test]
fn order_6_7_mode_requirement_beats_type_forbids() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = SpecPatch {
        required_mode: Some(BoundaryMode::Airgap),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Observation,
        &patch,
        "obs",
        at(0),
    );
    let episodic = SpecPatch {
        required_mode: Some(BoundaryMode::Airgap),
        ..scope_patch(&["notes"], &["*"], &["*"])
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &episodic,
        "ep",
        at(0),
    );
    let decision = registry.check(CREATE, &public("email", "work"), at(1));
    assert_ne!(decision.code, Code::TypeForbids);
    assert_decided_by(&decision, Code::Suspended, Some("obs"));
    let decision = registry.check(
        ABSTRACT,
        &at_level(public("notes", "work"), Abstraction::Pattern),
        at(1),
    );
    assert_ne!(decision.code, Code::TypeForbids);
    assert_decided_by(&decision, Code::Suspended, Some("ep"));
}

#[test]
fn order_7_type_forbids_beats_abstraction_cap() {
    let registry = with_episodic(BoundaryMode::Trusted);
    let decision = registry.check(
        ABSTRACT,
        &at_level(public("email", "work"), Abstraction::Strategy),
        at(1),
    );
    assert_decided_by(&decision, Code::TypeForbids, Some("ep"));
}

#[test]
fn order_7_8_type_and_abstraction_beat_classification_cap() {
    let mut registry = registry_in(BoundaryMode::Coldroom);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Observation,
        &email_patch(),
        "obs",
        at(0),
    );
    let capped = SpecPatch {
        max_abstraction: Some(Abstraction::Pattern),
        classification_cap: Some(MemoryClass::Internal),
        ..scope_patch(&["notes"], &["*"], &["*"])
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Procedural,
        &capped,
        "proc",
        at(0),
    );
    let decision = registry.check(
        CREATE,
        &req(OWNER, "email", "w", MemoryClass::Secret),
        at(1),
    );
    assert_decided_by(&decision, Code::TypeForbids, Some("obs"));
    let request = at_level(
        req(OWNER, "notes", "w", MemoryClass::Secret),
        Abstraction::Heuristic,
    );
    assert_decided_by(
        &registry.check(ABSTRACT, &request, at(1)),
        Code::AbstractionCap,
        Some("proc"),
    );
}

#[test]
fn order_8_classification_cap_beats_boundary_class() {
    let mut registry = registry_in(BoundaryMode::Open);
    let patch = SpecPatch {
        classification_cap: Some(MemoryClass::Confidential),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "c",
        at(0),
    );
    // SECRET is above the contract's cap (CONFIDENTIAL) and above OPEN's cap (INTERNAL).
    let decision = registry.check(
        CREATE,
        &req(OWNER, "email", "w", MemoryClass::Secret),
        at(1),
    );
    assert_decided_by(&decision, Code::ClassificationCap, Some("c"));
    // CONFIDENTIAL is within the contract's cap but above OPEN's.
    let decision = registry.check(
        CREATE,
        &req(OWNER, "email", "w", MemoryClass::Confidential),
        at(1),
    );
    assert_decided_by(&decision, Code::BoundaryClass, Some("c"));
}

#[test]
fn order_8_9_boundary_class_beats_out_of_scope() {
    let registry = with_episodic(BoundaryMode::Open);
    let request = naming(req(OWNER, "calendar", "w", MemoryClass::Confidential), "ep");
    assert_decided_by(
        &registry.check(CREATE, &request, at(1)),
        Code::BoundaryClass,
        Some("ep"),
    );
    let request = naming(req(OWNER, "calendar", "w", MemoryClass::Internal), "ep");
    assert_decided_by(
        &registry.check(CREATE, &request, at(1)),
        Code::OutOfScope,
        Some("ep"),
    );
}

#[test]
fn order_9_10_out_of_scope_beats_every_per_check_code() {
    let mut registry = registry_in(BoundaryMode::Airgap);
    let patch = SpecPatch {
        recall_requires_owner: Some(true),
        ..scope_patch(&["email"], &["work"], &["*"])
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "c",
        at(0),
    );
    let outside = naming(public("email", "home"), "c");
    // memory_unavailable (no such memory) and owner_absent, for recall.
    let decision = registry.check(
        RECALL,
        &about_memory(outside.clone(), "no-such-memory"),
        at(1),
    );
    assert_decided_by(&decision, Code::OutOfScope, Some("c"));
    let decision = registry.check(RECALL, &outside, at(1));
    assert_decided_by(&decision, Code::OutOfScope, Some("c"));
    // not_transferable and export in AIRGAP.
    let decision = registry.check(EXPORT, &outside, at(1));
    assert_decided_by(&decision, Code::OutOfScope, Some("c"));
    // Inside the scope, the per-check codes answer.
    let inside = naming(public("email", "work"), "c");
    assert_code(
        &registry.check(
            RECALL,
            &about_memory(inside.clone(), "no-such-memory"),
            at(1),
        ),
        Code::MemoryUnavailable,
    );
    assert_code(&registry.check(RECALL, &inside, at(1)), Code::OwnerAbsent);
    assert_code(
        &registry.check(EXPORT, &inside, at(1)),
        Code::NotTransferable,
    );
}

#[test]
fn order_9_10_a_frozen_memory_outside_the_amended_scope_is_out_of_scope() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = scope_patch(&["email", "calendar"], &["*"], &["*"]);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "v1",
        at(0),
    );
    must_register(
        &mut registry,
        &public("calendar", "work"),
        "cal",
        &[],
        at(1),
    );
    let narrower = SpecPatch {
        domains: Some(ns(&["email"])),
        ..SpecPatch::default()
    };
    let planned = registry.plan_amend(&owner(), "v1", &narrower, "v2".into(), at(2));
    apply_ok(&mut registry, planned);
    let planned = registry.plan_submit(&owner(), "v2", at(2));
    apply_ok(&mut registry, planned);
    let planned = registry.plan_activate(&owner_confirmed(), "v2", at(2));
    apply_ok(&mut registry, planned);
    // The memory is frozen (step 10) and its own domain is outside the scope (step 9).
    let decision = registry.check(RECALL, &about_memory(public("email", "work"), "cal"), at(3));
    assert_decided_by(&decision, Code::OutOfScope, Some("v2"));
}

#[test]
fn order_10_memory_unavailable_beats_owner_absent() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = SpecPatch {
        recall_requires_owner: Some(true),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "c",
        at(0),
    );
    let decision = registry.check(
        RECALL,
        &about_memory(public("email", "work"), "missing"),
        at(1),
    );
    assert_decided_by(&decision, Code::MemoryUnavailable, Some("c"));
}

#[test]
fn order_10_not_transferable_beats_export_in_airgap() {
    let mut registry = registry_in(BoundaryMode::Coldroom);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "c",
        at(0),
    );
    let decision = registry.check(EXPORT, &public("email", "work"), at(1));
    assert_decided_by(&decision, Code::NotTransferable, Some("c"));
}

// =============================================================================================
// Discovery

#[test]
fn discovery_prefers_an_explicit_context_over_the_wildcard_even_when_older() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &scope_patch(&["email"], &["work"], &["*"]),
        "explicit",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "wildcard",
        at(10),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(20)),
        Code::Allowed,
        Some("explicit"),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "home"), at(20)),
        Code::Allowed,
        Some("wildcard"),
    );
}

#[test]
fn discovery_prefers_the_newest_among_equally_specific_contracts() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "zz-older",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "aa-newer",
        at(10),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(20)),
        Code::Allowed,
        Some("aa-newer"),
    );
    let explicit = scope_patch(&["email"], &["work"], &["*"]);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &explicit,
        "zz-explicit-old",
        at(11),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &explicit,
        "aa-explicit-new",
        at(12),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(20)),
        Code::Allowed,
        Some("aa-explicit-new"),
    );
}

#[test]
fn discovery_picks_an_effective_contract_over_a_more_specific_suspended_one() {
    let mut registry = registry_in(BoundaryMode::Open);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "effective",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Strategic,
        &scope_patch(&["email"], &["work"], &["*"]),
        "suspended",
        at(10),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(20)),
        Code::Allowed,
        Some("effective"),
    );
}

#[test]
fn discovery_skips_a_contract_past_its_end_for_an_effective_one() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "permanent",
        at(0),
    );
    let explicit = SpecPatch {
        contexts: Some(ns(&["work"])),
        ..timebound_patch(at(100))
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &explicit,
        "timebound",
        at(10),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(99)),
        Code::Allowed,
        Some("timebound"),
    );
    assert_decided_by(
        &registry.check(CREATE, &public("email", "work"), at(100)),
        Code::Allowed,
        Some("permanent"),
    );
}

#[test]
fn a_recall_naming_a_memory_is_decided_by_the_memorys_contract() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "broad",
        at(0),
    );
    must_register(&mut registry, &public("email", "work"), "m", &[], at(1));
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &scope_patch(&["email"], &["work"], &["*"]),
        "narrow",
        at(2),
    );
    assert_decided_by(
        &registry.check(RECALL, &public("email", "work"), at(3)),
        Code::Allowed,
        Some("narrow"),
    );
    assert_decided_by(
        &registry.check(RECALL, &about_memory(public("email", "work"), "m"), at(3)),
        Code::Allowed,
        Some("broad"),
    );
    // Naming another contract than the memory's: the memory is not available under it.
    assert_decided_by(
        &registry.check(
            RECALL,
            &naming(about_memory(public("email", "work"), "m"), "narrow"),
            at(3),
        ),
        Code::MemoryUnavailable,
        Some("narrow"),
    );
}

#[test]
fn a_recall_naming_a_memory_is_checked_against_the_memorys_class() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "ep",
        at(0),
    );
    must_register(
        &mut registry,
        &req(OWNER, "email", "work", MemoryClass::Secret),
        "secret",
        &[],
        at(1),
    );
    set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Restricted),
        at(2),
    );
    let decision = registry.check(
        RECALL,
        &about_memory(public("email", "work"), "secret"),
        at(3),
    );
    assert_decided_by(&decision, Code::BoundaryClass, Some("ep"));
}

/// SEMANTICS.md section 7 step 3 (prohibitions, for all four checks) with section 9 ("a recall
/// that names a memory is checked against that memory's own domain, context and class as well
/// as the request's"): a prohibition covering the memory's own domain and context must stop its
/// recall, even when the request names another domain.
#[test]
fn a_prohibition_covering_a_named_memorys_domain_stops_its_recall() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = scope_patch(&["email", "calendar"], &["*"], &["*"]);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "ep",
        at(0),
    );
    must_register(&mut registry, &public("email", "work"), "m", &[], at(1));
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["email"], &["*"]),
        "no-email",
        at(2),
    );
    // Asking in the memory's own domain is prohibited...
    let decision = registry.check(RECALL, &about_memory(public("email", "work"), "m"), at(3));
    assert_decided_by(&decision, Code::Prohibited, Some("no-email"));
    // ...and so must be asking for the same memory from another domain.
    let decision = registry.check(
        RECALL,
        &about_memory(public("calendar", "work"), "m"),
        at(3),
    );
    assert_decided_by(&decision, Code::Prohibited, Some("no-email"));
}

// =============================================================================================
// Scope matching and names

#[test]
fn scope_covers_listed_domains_listed_or_any_contexts_and_tools() {
    let scope = Scope {
        domains: ns(&["email", "calendar"]),
        contexts: ns(&["work"]),
        tools: ns(&["mail-client"]),
    };
    assert!(scope.covers("email", "work", None));
    assert!(scope.covers("calendar", "work", Some("mail-client")));
    assert!(!scope.covers("contacts", "work", None), "unlisted domain");
    assert!(!scope.covers("email", "home", None), "unlisted context");
    assert!(
        !scope.covers("email", "work", Some("browser")),
        "unlisted tool"
    );
    let any = Scope {
        domains: ns(&["email"]),
        contexts: ns(&["*"]),
        tools: ns(&["*"]),
    };
    assert!(any.covers("email", "anything", Some("any-tool")));
    assert!(
        !any.covers("calendar", "anything", None),
        "domains have no wildcard"
    );
    assert!(any.names_context("*") && !any.names_context("work"));
    let no_tools = Scope {
        tools: Vec::new(),
        ..any.clone()
    };
    assert!(no_tools.covers("email", "work", None));
    assert!(!no_tools.covers("email", "work", Some("any-tool")));
    // A '*' domain entry is not a wildcard either.
    let star_domain = Scope {
        domains: ns(&["*"]),
        ..any
    };
    assert!(!star_domain.covers("email", "work", None));
}

#[test]
fn empty_tools_means_no_tool_mediated_learning() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &scope_patch(&["email"], &["*"], &[]),
        "no-tools",
        at(0),
    );
    assert_code(
        &registry.check(CREATE, &public("email", "work"), at(1)),
        Code::Allowed,
    );
    let tooled = with_tool(public("email", "work"), "browser");
    assert_decided_by(
        &registry.check(CREATE, &naming(tooled.clone(), "no-tools"), at(1)),
        Code::OutOfScope,
        Some("no-tools"),
    );
    // Without naming the contract, nothing covers the tool-mediated request.
    assert_code(&registry.check(CREATE, &tooled, at(1)), Code::NoContract);
}

#[test]
fn wildcard_tools_cover_any_tool() {
    let registry = with_episodic(BoundaryMode::Trusted);
    let tooled = with_tool(public("email", "work"), "whatever-tool");
    assert_decided_by(
        &registry.check(CREATE, &tooled, at(1)),
        Code::Allowed,
        Some("ep"),
    );
}

#[test]
fn names_are_trimmed_and_lower_cased() {
    assert_eq!(Name::parse("  Email\t").unwrap().as_str(), "email");
    assert_eq!(Name::parse("WORK").unwrap().as_str(), "work");
    assert_eq!(Name::parse("Ärger").unwrap().as_str(), "ärger");
    assert!(Name::parse("*").unwrap().is_any());
    // Requests and scopes meet after normalization.
    let mut registry = registry_in(BoundaryMode::Trusted);
    let patch = SpecPatch {
        domains: Some(vec![Name::parse(" EMail ").unwrap()]),
        contexts: Some(vec![Name::parse("Work").unwrap()]),
        tools: Some(Vec::new()),
        retention: Some(RetentionKind::Permanent),
        ..SpecPatch::default()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "c",
        at(0),
    );
    let request = learning_contracts::core::CheckRequest::new(
        OWNER,
        Name::parse("EMAIL").unwrap(),
        Name::parse(" work ").unwrap(),
        MemoryClass::Public,
    );
    assert_decided_by(
        &registry.check(CREATE, &request, at(1)),
        Code::Allowed,
        Some("c"),
    );
}

#[test]
fn names_read_from_json_are_normalized_and_checked_like_any_other() {
    let read = |json: &str| serde_json::from_str::<Name>(json);
    assert_eq!(read(r#"" Work ""#).unwrap().as_str(), "work");
    assert_eq!(read(r#""Ärger""#).unwrap().as_str(), "ärger");
    assert_eq!(read(r#""mail\u0041""#).unwrap().as_str(), "maila");
    assert_eq!(read(r#""email""#).unwrap(), Name::parse("email").unwrap());
    for bad in [r#""""#, r#""a\u200bb""#, r#""a\nb""#, "17", "null"] {
        assert!(read(bad).is_err(), "{bad} was read as a name");
    }
    assert!(read(&format!("\"{}\"", "a".repeat(129))).is_err());
}

#[test]
fn names_are_one_to_128_bytes() {
    assert_eq!(Name::parse(""), Err(NameError::Empty));
    assert_eq!(Name::parse(" \t "), Err(NameError::Empty));
    assert_eq!(Name::parse("a").unwrap().as_str(), "a");
    let longest = "a".repeat(128);
    assert_eq!(Name::parse(&longest).unwrap().as_str(), longest);
    assert_eq!(
        Name::parse(&format!("  {longest}  ")).unwrap().as_str(),
        longest
    );
    assert_eq!(Name::parse(&"a".repeat(129)), Err(NameError::TooLong(129)));
    // Bytes, not characters: 64 two-byte characters fit, 65 do not.
    assert!(Name::parse(&"é".repeat(64)).is_ok());
    assert_eq!(Name::parse(&"é".repeat(65)), Err(NameError::TooLong(130)));
    // The limit applies after lower-casing ('İ' is 2 bytes, its lower case 3).
    assert_eq!(Name::parse(&"İ".repeat(43)), Err(NameError::TooLong(129)));
}

#[test]
fn names_refuse_control_and_invisible_characters() {
    for raw in [
        "a\nb",
        "a\tb",
        "a\rb",
        "a\u{0}b",
        "a\u{7}b",
        "a\u{1b}b",
        "a\u{7f}b",
        "a\u{85}b",
        "a\u{200b}b",
        "a\u{202e}b",
        "a\u{2066}b",
        "a\u{feff}b",
    ] {
        assert_eq!(Name::parse(raw), Err(NameError::Unprintable), "{raw:?}");
    }
}

/// SEMANTICS.md section 3: names are "printable". A line or paragraph separator inside a name
/// breaks it over lines where a person reviews the contract.
#[test]
fn names_refuse_line_and_paragraph_separators() {
    for raw in ["a\u{2028}b", "a\u{2029}b"] {
        assert_eq!(Name::parse(raw), Err(NameError::Unprintable), "{raw:?}");
    }
}
