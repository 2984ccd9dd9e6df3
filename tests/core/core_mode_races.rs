//! The effective mode when commits fail or race (SEMANTICS.md sections 8, 11 and 14): a plan
//! made from an older snapshot never undoes a committed lockdown or override (review F8);
//! checks and gates are judged in the newest reading as well as in the committed mode, so they
//! are never looser than either (F1); admin changes of the latch and the override commit the
//! mode they mean in the same change; tripwires judge against the last operating mode
//! committed, across restarts (F7).

use crate::common::core_fixtures::*;
use learning_contracts::core::mode::ToolNeeds;
use learning_contracts::core::{
    BoundaryMode, CheckKind, Code, ContractKind, EffectiveMode, Event, HostState, MemoryClass,
    Registry,
};

const AIRGAP: EffectiveMode = EffectiveMode::Known(BoundaryMode::Airgap);
const COLDROOM: EffectiveMode = EffectiveMode::Known(BoundaryMode::Coldroom);
const OPEN: EffectiveMode = EffectiveMode::Known(BoundaryMode::Open);
const TRUSTED: EffectiveMode = EffectiveMode::Known(BoundaryMode::Trusted);
const LOCKDOWN: EffectiveMode = EffectiveMode::Known(BoundaryMode::Lockdown);

/// An episodic contract (cap SECRET) for `email` in any context, in `mode`.
fn with_contract(mode: BoundaryMode) -> Registry {
    let mut registry = registry_in(mode);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &email_patch(),
        "c1",
        at(0),
    );
    registry
}

fn creation(registry: &Registry, class: MemoryClass) -> Code {
    registry
        .check(
            CheckKind::MemoryCreation,
            &req(OWNER, "email", "w", class),
            at(5),
        )
        .code
}

#[test]
fn a_mode_planned_from_an_older_snapshot_never_undoes_a_committed_lockdown() {
    let mut registry = with_contract(BoundaryMode::Airgap);
    // The supervisor decided COLDROOM from a snapshot; an admin's lockdown commits first.
    let planned = registry.plan_enter_lockdown(&admin(), "incident", at(2));
    apply_ok(&mut registry, planned);
    assert_eq!(registry.mode(), LOCKDOWN);
    if let Some(change) = registry.plan_mode_change(COLDROOM, "reading: coldroom", at(3)) {
        registry.apply(change);
    }
    assert_eq!(
        registry.mode(),
        LOCKDOWN,
        "a stale plan lifted a latched lockdown"
    );
    assert!(registry.host().lockdown.is_some());
    assert_eq!(creation(&registry, MemoryClass::Public), Code::Lockdown);
    assert!(
        registry
            .plan_settled_reading(COLDROOM, "reading: coldroom", at(4))
            .is_none()
    );
}

#[test]
fn a_mode_planned_from_an_older_snapshot_never_claims_more_than_the_override() {
    let mut registry = with_contract(BoundaryMode::Airgap);
    registry.note_reading(AIRGAP);
    let planned = registry.plan_set_override(&admin(), BoundaryMode::Trusted, "maintenance", at(2));
    apply_ok(&mut registry, planned);
    assert_eq!(
        registry.mode(),
        TRUSTED,
        "the override applies in its own change"
    );
    if let Some(change) = registry.plan_mode_change(COLDROOM, "reading: coldroom", at(3)) {
        registry.apply(change);
    }
    assert_eq!(registry.mode(), TRUSTED);
}

#[test]
fn checks_are_never_looser_than_the_newest_reading_while_it_is_not_committed() {
    let mut registry = with_contract(BoundaryMode::Airgap);
    registry.note_reading(AIRGAP);
    assert_eq!(creation(&registry, MemoryClass::Secret), Code::Allowed);
    // A reading of OPEN arrives; its commit fails (a full disk) or has not happened yet.
    registry.note_reading(OPEN);
    assert_eq!(registry.mode(), AIRGAP, "nothing was committed");
    assert_eq!(
        creation(&registry, MemoryClass::Secret),
        Code::BoundaryClass
    );
    assert_eq!(creation(&registry, MemoryClass::Internal), Code::Allowed);
    assert!(!registry.recall_gate(MemoryClass::Secret).allowed);
    assert!(registry.recall_gate(MemoryClass::Internal).allowed);
    // Then LOCKDOWN, or no reading at all.
    registry.note_reading(LOCKDOWN);
    assert_eq!(creation(&registry, MemoryClass::Public), Code::Lockdown);
    assert_eq!(
        registry.recall_gate(MemoryClass::Public).code,
        Code::Lockdown
    );
    registry.note_reading(EffectiveMode::Unknown);
    assert_eq!(
        creation(&registry, MemoryClass::Public),
        Code::BoundaryUnknown
    );
    // A more permissive reading does not loosen anything before it is committed.
    registry.note_reading(COLDROOM);
    assert_eq!(
        creation(&registry, MemoryClass::Secret),
        Code::Allowed,
        "judged in AIRGAP, the committed mode"
    );
    assert!(!registry.recall_gate(MemoryClass::CrownJewel).allowed);
}

#[test]
fn a_check_must_be_allowed_in_both_the_committed_and_the_newest_mode() {
    // Export is allowed in OPEN and denied in AIRGAP and above; the recall gate the reverse for
    // high classes: neither direction of "more permissive" may slip through.
    let mut registry = registry_in(BoundaryMode::Open);
    let patch = learning_contracts::core::SpecPatch {
        transferable: Some(true),
        ..email_patch()
    };
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &patch,
        "c1",
        at(0),
    );
    let export = |registry: &Registry| {
        registry
            .check(
                CheckKind::Export,
                &req(OWNER, "email", "w", MemoryClass::Public),
                at(5),
            )
            .code
    };
    registry.note_reading(OPEN);
    assert_eq!(export(&registry), Code::Allowed);
    registry.note_reading(AIRGAP);
    assert_eq!(export(&registry), Code::BoundaryMode);
    let network = ToolNeeds {
        network: true,
        ..ToolNeeds::default()
    };
    assert!(!registry.tool_gate("curl", network, false, &[]).allowed);
    registry.note_reading(OPEN);
    assert!(registry.tool_gate("curl", network, false, &[]).allowed);
}

#[test]
fn a_settled_reading_is_never_committed_looser_than_the_newest_one() {
    let mut registry = with_contract(BoundaryMode::Open);
    registry.note_reading(AIRGAP);
    // AIRGAP settled, but OPEN arrived meanwhile: OPEN is what commits.
    registry.note_reading(OPEN);
    assert!(
        registry
            .plan_settled_reading(AIRGAP, "reading: airgap", at(3))
            .is_none(),
        "OPEN is committed already"
    );
    registry.note_reading(LOCKDOWN);
    let change = registry
        .plan_settled_reading(AIRGAP, "reading: airgap", at(4))
        .expect("LOCKDOWN commits");
    registry.apply(change);
    assert_eq!(registry.mode(), LOCKDOWN);
}

#[test]
fn release_and_override_commit_the_mode_they_mean_in_the_same_change() {
    let mut registry = with_contract(BoundaryMode::Coldroom);
    registry.note_reading(COLDROOM);
    let planned = registry.plan_enter_lockdown(&admin(), "drill", at(2));
    apply_ok(&mut registry, planned);
    let change = registry
        .plan_release_lockdown(&admin(), "drill over", at(3))
        .unwrap();
    assert!(change.events.iter().any(|e| matches!(
        e,
        Event::ModeChanged { old, new, .. } if *old == LOCKDOWN && *new == COLDROOM
    )));
    registry.apply(change);
    assert_eq!(registry.mode(), COLDROOM);
    assert_eq!(creation(&registry, MemoryClass::Secret), Code::Allowed);

    let planned = registry.plan_set_override(&admin(), BoundaryMode::Open, "tests", at(4));
    apply_ok(&mut registry, planned);
    assert_eq!(registry.mode(), OPEN);
    assert_eq!(
        creation(&registry, MemoryClass::Secret),
        Code::BoundaryClass
    );
    let planned = registry.plan_clear_override(&admin(), at(5));
    apply_ok(&mut registry, planned);
    assert_eq!(registry.mode(), COLDROOM);

    // A release while the source itself reads lockdown stays in LOCKDOWN.
    let planned = registry.plan_enter_lockdown(&admin(), "again", at(6));
    apply_ok(&mut registry, planned);
    registry.note_reading(LOCKDOWN);
    let planned = registry.plan_release_lockdown(&admin(), "over", at(7));
    apply_ok(&mut registry, planned);
    assert!(registry.host().lockdown.is_none());
    assert_eq!(registry.mode(), LOCKDOWN);
}

#[test]
fn a_tripwire_not_yet_committed_denies_like_lockdown_until_its_latch_commits() {
    let mut registry = with_contract(BoundaryMode::Airgap);
    registry.note_reading(AIRGAP);
    registry.note_tripwire("tripwire: network link eth0 came up while in AIRGAP".into());
    assert_eq!(creation(&registry, MemoryClass::Public), Code::Lockdown);
    assert_eq!(registry.mode(), AIRGAP, "nothing committed yet");
    let reason = registry.pending_latch().unwrap().to_string();
    let planned =
        registry.plan_enter_lockdown(&learning_contracts::core::Actor::daemon(), &reason, at(3));
    apply_ok(&mut registry, planned);
    assert!(registry.pending_latch().is_none());
    assert_eq!(registry.mode(), LOCKDOWN);
}

#[test]
fn tripwires_judge_against_the_last_operating_mode_committed_across_restarts() {
    let mut registry = with_contract(BoundaryMode::Airgap);
    assert_eq!(registry.tripwire_baseline(), AIRGAP);
    // The source is lost: UNKNOWN is committed, the baseline stays AIRGAP.
    set_mode(&mut registry, EffectiveMode::Unknown, at(2));
    assert_eq!(registry.tripwire_baseline(), AIRGAP);
    // A restart loads the stored host state: the mode starts UNKNOWN, the baseline is kept.
    let host = registry.host().clone();
    assert_eq!(host.last_operating, Some(BoundaryMode::Airgap));
    let restarted = Registry::from_parts(Vec::new(), Vec::new(), host);
    assert_eq!(restarted.mode(), EffectiveMode::Unknown);
    assert_eq!(restarted.tripwire_baseline(), AIRGAP);
    // A store written before the baseline was kept knows it from its stored mode.
    let old = HostState {
        mode: COLDROOM,
        ..HostState::default()
    };
    let restarted = Registry::from_parts(Vec::new(), Vec::new(), old);
    assert_eq!(restarted.tripwire_baseline(), COLDROOM);
}

#[test]
fn the_most_restrictive_mode_puts_lockdown_then_unknown_then_less_isolation_first() {
    use EffectiveMode::Unknown;
    for (a, b, expected) in [
        (OPEN, COLDROOM, OPEN),
        (COLDROOM, TRUSTED, TRUSTED),
        (AIRGAP, Unknown, Unknown),
        (Unknown, LOCKDOWN, LOCKDOWN),
        (LOCKDOWN, OPEN, LOCKDOWN),
        (Unknown, Unknown, Unknown),
    ] {
        assert_eq!(a.most_restrictive(b), expected, "{a} and {b}");
        assert_eq!(b.most_restrictive(a), expected, "{b} and {a}");
    }
}
