//! Batched checks and the generation in the pure core: `Registry::check_each` answers each
//! request exactly as `Registry::check` does, `asks_presence` names the allowed recalls that
//! owner presence decides, check kinds are named on the wire as in the audit, and
//! `Registry::generation` moves on every change a decision reads and never on a read.

use crate::common::core_fixtures::*;
use learning_contracts::core::{
    Abstraction, BoundaryMode, Caller, Change, CheckKind, CheckRequest, ContractKind,
    EffectiveMode, MemoryClass, PauseScope, Registry, SpecPatch,
};

/// The owner's contracts: `ep` (episodic, email), `pr` (procedural over notes, recall only
/// while the owner is present), `st` (strategic over plans: suspended below TRUSTED), `no`
/// (a prohibition over health), and another owner's `theirs`; the memory `m1` under `ep`.
fn registry() -> Registry {
    let mut registry = registry_in(BoundaryMode::Restricted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &SpecPatch {
            transferable: Some(true),
            ..email_patch()
        },
        "ep",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Procedural,
        &SpecPatch {
            recall_requires_owner: Some(true),
            ..scope_patch(&["notes"], &["*"], &[])
        },
        "pr",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Strategic,
        &scope_patch(&["plans"], &["*"], &[]),
        "st",
        at(0),
    );
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["health"], &["*"]),
        "no",
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
    must_register(
        &mut registry,
        &req(OWNER, "email", "work", MemoryClass::Internal),
        "m1",
        &[],
        at(1),
    );
    registry
}

fn mixed() -> Vec<CheckRequest> {
    let mut present = req(OWNER, "notes", "desk", MemoryClass::Public);
    present.owner_present = true;
    vec![
        req(OWNER, "email", "work", MemoryClass::Internal),
        req(OWNER, "email", "work", MemoryClass::Secret),
        req(OWNER, "health", "home", MemoryClass::Public),
        req(OWNER, "garden", "home", MemoryClass::Public),
        naming(req(OWNER, "email", "work", MemoryClass::Public), "theirs"),
        naming(req(OWNER, "email", "work", MemoryClass::Public), "unknown"),
        naming(req(OWNER, "notes", "desk", MemoryClass::Public), "ep"),
        req(OWNER, "plans", "q3", MemoryClass::Public),
        req(OWNER, "notes", "desk", MemoryClass::Public),
        present,
        about_memory(req(OWNER, "email", "work", MemoryClass::Public), "m1"),
        about_memory(req(OWNER, "email", "work", MemoryClass::Public), "gone"),
        at_level(
            req(OWNER, "notes", "desk", MemoryClass::Public),
            Abstraction::Strategy,
        ),
        at_level(
            req(OWNER, "email", "work", MemoryClass::Public),
            Abstraction::Pattern,
        ),
    ]
}

#[test]
fn check_each_answers_each_request_as_check_does() {
    let registry = registry();
    let requests = mixed();
    for kind in ALL_CHECKS {
        let each = registry.check_each(kind, &requests, at(2));
        let one_by_one: Vec<_> = requests
            .iter()
            .map(|request| registry.check(kind, request, at(2)))
            .collect();
        assert_eq!(each, one_by_one, "{kind:?}");
        assert!(each.iter().any(|d| d.allowed), "{kind:?}: {each:?}");
        assert!(each.iter().any(|d| !d.allowed), "{kind:?}: {each:?}");
    }
    assert!(
        registry
            .check_each(CheckKind::Recall, &[], at(2))
            .is_empty()
    );
}

#[test]
fn presence_is_asked_only_for_an_allowed_recall_under_a_contract_that_requires_it() {
    let registry = registry();
    // Judged first as present (as the bus does), then with the answer.
    let mut request = req(OWNER, "notes", "desk", MemoryClass::Public);
    request.owner_present = true;
    let allowed = registry.check(CheckKind::Recall, &request, at(2));
    assert!(allowed.allowed, "{allowed:?}");
    assert!(registry.asks_presence(CheckKind::Recall, &allowed));
    request.owner_present = false;
    let absent = registry.check(CheckKind::Recall, &request, at(2));
    assert_eq!(absent.code.as_str(), "owner_absent");
    assert!(!registry.asks_presence(CheckKind::Recall, &absent));
    // Not for another check, another contract, or a denial.
    let created = registry.check(CheckKind::MemoryCreation, &request, at(2));
    assert!(created.allowed);
    assert!(!registry.asks_presence(CheckKind::MemoryCreation, &created));
    let email = registry.check(
        CheckKind::Recall,
        &req(OWNER, "email", "work", MemoryClass::Public),
        at(2),
    );
    assert!(email.allowed);
    assert!(!registry.asks_presence(CheckKind::Recall, &email));
}

#[test]
fn check_kinds_are_named_on_the_wire_as_in_the_audit() {
    for kind in ALL_CHECKS {
        assert_eq!(CheckKind::from_name(kind.as_str()), Some(kind));
    }
    for name in ["", "Recall", "memory-creation", "recall ", "gate"] {
        assert_eq!(CheckKind::from_name(name), None, "{name:?}");
    }
}

#[test]
fn the_generation_moves_on_every_change_a_decision_reads_and_never_on_a_read() {
    let mut registry = registry();
    let mut last = registry.generation();
    #[track_caller]
    fn moved_since(last: &mut u64, registry: &Registry, what: &str) {
        let now = registry.generation();
        assert!(now > *last, "{what} did not move the generation");
        *last = now;
    }
    macro_rules! moved {
        ($registry:expr, $what:expr) => {
            moved_since(&mut last, $registry, $what)
        };
    }

    // Reads, and a change that only audits, move nothing.
    let still = registry.generation();
    registry.check_each(CheckKind::Recall, &mixed(), at(2));
    registry.check(
        CheckKind::Export,
        &req(OWNER, "email", "work", MemoryClass::Public),
        at(2),
    );
    let mut audit_only = Change::at(at(2));
    audit_only.audit(
        &Caller::uid(OWNER),
        "check.denied",
        None,
        serde_json::json!({}),
    );
    registry.apply(audit_only);
    assert_eq!(registry.generation(), still);

    // A memory registered, a contract revoked.
    must_register(
        &mut registry,
        &req(OWNER, "notes", "desk", MemoryClass::Public),
        "m2",
        &[],
        at(3),
    );
    moved!(&registry, "a memory registered");
    revoke(&mut registry, "ep", at(3));
    moved!(&registry, "a revocation");
    // The mode, and the suspensions it brings.
    set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Trusted),
        at(3),
    );
    moved!(&registry, "a mode change");
    // A reading not committed yet; the same reading again moves nothing.
    registry.note_reading(EffectiveMode::Known(BoundaryMode::Open));
    moved!(&registry, "a new reading");
    registry.note_reading(EffectiveMode::Known(BoundaryMode::Open));
    assert_eq!(registry.generation(), last, "the same reading again");
    // A tripwire waiting for its latch.
    registry.note_tripwire("a link came up".into());
    moved!(&registry, "a tripwire");
    // The store failing and recovering; failing again while it fails moves nothing.
    registry.set_store_fault(Some("disk full".into()));
    moved!(&registry, "a store fault");
    registry.set_store_fault(Some("still full".into()));
    assert_eq!(registry.generation(), last, "the same fault again");
    registry.set_store_fault(None);
    moved!(&registry, "the store recovering");
    // A pause.
    let planned = registry.plan_pause(&owner(), PauseScope::Owner(OWNER), "stop", at(4));
    apply_ok(&mut registry, planned);
    moved!(&registry, "a pause");
    // Something outside the registry (a reloaded configuration).
    registry.advance_generation();
    moved!(&registry, "advance_generation");

    // A restarted daemon starts where it says.
    registry.start_generation_at(1_700_000_000_000_000);
    assert_eq!(registry.generation(), 1_700_000_000_000_000);
}
