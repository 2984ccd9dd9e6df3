//! Modes (SEMANTICS.md sections 1, 7, 8 and 11): suspension and resumption on every change of
//! the effective mode, LOCKDOWN and its latch, pauses, the admin override, `combine_mode`, the
//! settle-time rule, and the two mode-only gates.

use crate::common::core_fixtures::*;
use learning_contracts::core::mode::{ToolNeeds, combine_mode, recall_gate, tool_gate};
use learning_contracts::core::{
    BoundaryMode, CheckKind, Code, ContractKind, ContractState, CoreError, EffectiveMode, Event,
    MemoryClass, ModeSettler, PauseScope, Registry, SpecPatch, Suspension,
};

const REQUIRED: [(&str, BoundaryMode); 5] = [
    ("req-open", BoundaryMode::Open),
    ("req-restricted", BoundaryMode::Restricted),
    ("req-trusted", BoundaryMode::Trusted),
    ("req-airgap", BoundaryMode::Airgap),
    ("req-coldroom", BoundaryMode::Coldroom),
];

/// What section 8 says a contract requiring `required` carries in `mode` (no pause).
fn expected_suspension(mode: EffectiveMode, required: BoundaryMode) -> Suspension {
    match mode {
        EffectiveMode::Unknown | EffectiveMode::Known(BoundaryMode::Lockdown) => Suspension {
            lockdown: true,
            ..Suspension::NONE
        },
        EffectiveMode::Known(current) => Suspension {
            mode: current < required,
            ..Suspension::NONE
        },
    }
}

/// Contracts requiring each mode (procedural with a stated requirement, and a strategic one
/// with its kind's default), a prohibition, and a draft; all owned by OWNER.
fn populated(mode: EffectiveMode) -> Registry {
    let mut registry = Registry::default();
    for (id, required) in REQUIRED {
        let patch = SpecPatch {
            required_mode: Some(required),
            ..email_patch()
        };
        active_contract(
            &mut registry,
            OWNER,
            ContractKind::Procedural,
            &patch,
            id,
            at(0),
        );
    }
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
        ContractKind::Prohibited,
        &prohibition_patch(&["forbidden"], &["*"]),
        "prohibition",
        at(0),
    );
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Episodic,
        &email_patch(),
        "draft",
        at(0),
    );
    set_mode(&mut registry, mode, at(1));
    assert_eq!(registry.mode(), mode);
    registry
}

/// Every contract with a requirement, with it.
fn requirements() -> Vec<(&'static str, BoundaryMode)> {
    let mut all = REQUIRED.to_vec();
    all.push(("strategic", BoundaryMode::Trusted));
    all
}

fn suspension_of(registry: &Registry, id: &str) -> Suspension {
    registry.suspension(registry.contract(id).unwrap())
}

#[test]
fn every_mode_change_suspends_and_resumes_as_section_8_says() {
    for from in all_effective_modes() {
        for to in all_effective_modes() {
            let mut registry = populated(from);
            for (id, required) in requirements() {
                assert_eq!(
                    suspension_of(&registry, id),
                    expected_suspension(from, required)
                );
            }
            let planned = registry.plan_mode_change(to, "reading changed", at(100));
            if from == to {
                assert!(planned.is_none(), "{from} -> {to} is no change");
                continue;
            }
            let change = planned.unwrap_or_else(|| panic!("{from} -> {to} is a change"));
            assert_eq!(change.host.as_ref().map(|h| h.mode), Some(to));
            assert!(change.contracts.is_empty(), "suspension is not a state");
            assert_eq!(change.audit.len(), 1);
            assert_eq!(change.audit[0].action, "mode.change");

            let mut to_lockdown = Vec::new();
            let mut to_mode = Vec::new();
            let mut resumed = Vec::new();
            for (id, required) in requirements() {
                let before = expected_suspension(from, required);
                let after = expected_suspension(to, required);
                if before == after {
                    continue;
                }
                if after.lockdown {
                    to_lockdown.push(id.to_string());
                } else if after.mode {
                    to_mode.push(id.to_string());
                } else {
                    resumed.push(id.to_string());
                }
            }
            let mut expected = vec![Event::ModeChanged {
                old: from,
                new: to,
                reason: "reading changed".into(),
            }];
            for (mut ids, reason) in [(to_lockdown, "lockdown"), (to_mode, "mode")] {
                if !ids.is_empty() {
                    ids.sort();
                    expected.push(Event::ContractsSuspended { ids, reason });
                }
            }
            if !resumed.is_empty() {
                resumed.sort();
                expected.push(Event::ContractsResumed { ids: resumed });
            }
            let events = registry.apply(change);
            assert_eq!(events, expected, "{from} -> {to}");

            assert_eq!(registry.mode(), to);
            for (id, required) in requirements() {
                let expected = expected_suspension(to, required);
                assert_eq!(
                    suspension_of(&registry, id),
                    expected,
                    "{id}: {from} -> {to}"
                );
                let effective = registry.is_effective(registry.contract(id).unwrap(), at(101));
                assert_eq!(effective, !expected.any(), "{id}: {from} -> {to}");
                // The checks see the same thing.
                let request = naming(req(OWNER, "email", "w", MemoryClass::Public), id);
                let decision = registry.check(CheckKind::MemoryCreation, &request, at(101));
                let code = match to {
                    EffectiveMode::Unknown => Code::BoundaryUnknown,
                    EffectiveMode::Known(BoundaryMode::Lockdown) => Code::Lockdown,
                    _ if expected.mode => Code::Suspended,
                    _ => Code::Allowed,
                };
                assert_eq!(decision.code, code, "{id}: {from} -> {to}: {decision:?}");
            }
            assert_eq!(suspension_of(&registry, "prohibition"), Suspension::NONE);
            assert_eq!(suspension_of(&registry, "draft"), Suspension::NONE);
            assert_eq!(
                registry.suspended_count(),
                requirements()
                    .iter()
                    .filter(|(_, r)| expected_suspension(to, *r).any())
                    .count()
            );
        }
    }
}

#[test]
fn leaving_lockdown_resumes_every_contract_whose_requirement_the_new_mode_meets() {
    let mut registry = populated(EffectiveMode::Known(BoundaryMode::Trusted));
    let planned = registry.plan_enter_lockdown(&admin(), "intrusion suspected", at(10));
    apply_ok(&mut registry, planned);
    for (id, _) in requirements() {
        assert!(suspension_of(&registry, id).lockdown, "{id}");
    }
    let planned = registry.plan_release_lockdown(&admin(), "all clear", at(20));
    apply_ok(&mut registry, planned);
    let events = set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Airgap),
        at(30),
    );
    assert_eq!(
        events,
        vec![
            Event::ModeChanged {
                old: EffectiveMode::Known(BoundaryMode::Lockdown),
                new: EffectiveMode::Known(BoundaryMode::Airgap),
                reason: "test reading".into(),
            },
            Event::ContractsSuspended {
                ids: vec!["req-coldroom".into()],
                reason: "mode",
            },
            Event::ContractsResumed {
                ids: vec![
                    "req-airgap".into(),
                    "req-open".into(),
                    "req-restricted".into(),
                    "req-trusted".into(),
                    "strategic".into(),
                ],
            },
        ]
    );
    for (id, required) in requirements() {
        let s = suspension_of(&registry, id);
        assert!(!s.lockdown, "{id}");
        assert_eq!(s.mode, required == BoundaryMode::Coldroom, "{id}");
    }
}

#[test]
fn a_prohibition_is_never_suspended_and_always_applies() {
    let mut registry = populated(EffectiveMode::Unknown);
    let planned = registry.plan_pause(&admin(), PauseScope::All, "stop", at(2));
    apply_ok(&mut registry, planned);
    let planned = registry.plan_resume(&admin(), PauseScope::All, at(3));
    apply_ok(&mut registry, planned);
    for mode in all_effective_modes() {
        set_mode(&mut registry, mode, at(4));
        let planned = registry.plan_pause(&owner(), PauseScope::Owner(OWNER), "stop", at(5));
        let events = apply_ok(&mut registry, planned);
        for event in &events {
            if let Event::ContractsSuspended { ids, .. } = event {
                assert!(!ids.contains(&"prohibition".to_string()));
            }
        }
        let prohibition = registry.contract("prohibition").unwrap();
        assert_eq!(registry.suspension(prohibition), Suspension::NONE, "{mode}");
        assert!(registry.is_effective(prohibition, at(6)), "{mode}");
        let planned = registry.plan_resume(&owner(), PauseScope::Owner(OWNER), at(6));
        apply_ok(&mut registry, planned);
        if let Some(current) = mode.operating() {
            let request = req(OWNER, "forbidden", "w", MemoryClass::Public);
            let decision = registry.check(CheckKind::Recall, &request, at(7));
            assert_eq!(decision.code, Code::Prohibited, "{current}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// LOCKDOWN

#[test]
fn only_an_admin_enters_lockdown_and_only_with_a_reason() {
    let registry = populated(EffectiveMode::Known(BoundaryMode::Trusted));
    for actor in [owner(), owner_confirmed(), other()] {
        let e = err(registry.plan_enter_lockdown(&actor, "because", at(10)));
        assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    }
    for reason in ["", "   ", "\t\n"] {
        let e = err(registry.plan_enter_lockdown(&admin(), reason, at(10)));
        assert!(
            matches!(&e, CoreError::InvalidArgument { key, .. } if key == "reason"),
            "{e:?}"
        );
    }
}

#[test]
fn entering_lockdown_latches_it_and_suspends_everything_in_one_change() {
    let mut registry = populated(EffectiveMode::Known(BoundaryMode::Coldroom));
    let change = registry
        .plan_enter_lockdown(&admin(), " tripwire: usb in coldroom ", at(10))
        .expect("admin enters lockdown");
    let host = change.host.clone().expect("host state written");
    assert_eq!(host.mode, EffectiveMode::Known(BoundaryMode::Lockdown));
    let latch = host.lockdown.expect("latched");
    assert_eq!(latch.reason, "tripwire: usb in coldroom");
    assert_eq!(latch.since, at(10));
    assert_eq!(latch.by, Some(ADMIN));
    let mut ids: Vec<String> = requirements()
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    ids.sort();
    assert_eq!(
        change.events,
        vec![
            Event::ModeChanged {
                old: EffectiveMode::Known(BoundaryMode::Coldroom),
                new: EffectiveMode::Known(BoundaryMode::Lockdown),
                reason: "lockdown: tripwire: usb in coldroom".into(),
            },
            Event::ContractsSuspended {
                ids,
                reason: "lockdown"
            },
            Event::LockdownLatched {
                reason: "tripwire: usb in coldroom".into(),
                by: Some(ADMIN),
            },
            Event::HostChanged,
        ]
    );
    let actions: Vec<&str> = change.audit.iter().map(|a| a.action).collect();
    assert!(actions.contains(&"lockdown.enter") && actions.contains(&"mode.change"));
    registry.apply(change);
    assert_eq!(
        registry.mode(),
        EffectiveMode::Known(BoundaryMode::Lockdown)
    );
    assert!(registry.host().lockdown.is_some());
    for kind in ALL_CHECKS {
        let request = naming(req(OWNER, "email", "w", MemoryClass::Public), "req-open");
        assert_eq!(registry.check(kind, &request, at(11)).code, Code::Lockdown);
    }
}

#[test]
fn entering_lockdown_while_already_in_lockdown_only_latches() {
    let mut registry = populated(EffectiveMode::Known(BoundaryMode::Lockdown));
    let change = registry
        .plan_enter_lockdown(&admin(), "make it stick", at(10))
        .unwrap();
    assert_eq!(
        change.events,
        vec![
            Event::LockdownLatched {
                reason: "make it stick".into(),
                by: Some(ADMIN),
            },
            Event::HostChanged
        ]
    );
    registry.apply(change);
    assert!(registry.host().lockdown.is_some());
}

#[test]
fn only_an_admin_releases_a_latched_lockdown_with_a_reason() {
    let mut registry = populated(EffectiveMode::Known(BoundaryMode::Trusted));
    let e = err(registry.plan_release_lockdown(&admin(), "nothing to release", at(5)));
    assert!(matches!(e, CoreError::InvalidState { .. }), "{e:?}");
    let planned = registry.plan_enter_lockdown(&admin(), "incident", at(10));
    apply_ok(&mut registry, planned);
    for actor in [owner(), owner_confirmed(), other()] {
        let e = err(registry.plan_release_lockdown(&actor, "please", at(11)));
        assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    }
    let e = err(registry.plan_release_lockdown(&admin(), " ", at(11)));
    assert!(matches!(e, CoreError::InvalidArgument { .. }), "{e:?}");
    let change = registry
        .plan_release_lockdown(&admin(), "incident closed", at(12))
        .unwrap();
    assert_eq!(
        change.events,
        vec![
            Event::LockdownReleased {
                reason: "incident closed".into()
            },
            Event::HostChanged
        ]
    );
    assert_eq!(change.audit[0].action, "lockdown.release");
    registry.apply(change);
    assert!(registry.host().lockdown.is_none());
    // Without any reading from the source the mode stays LOCKDOWN until one arrives.
    assert_eq!(
        registry.mode(),
        EffectiveMode::Known(BoundaryMode::Lockdown)
    );
    for (id, _) in requirements() {
        assert!(suspension_of(&registry, id).lockdown);
    }
}

// ---------------------------------------------------------------------------------------------
// Pause

fn two_owners() -> Registry {
    let mut registry = registry_in(BoundaryMode::Trusted);
    for id in ["mine-b", "mine-a"] {
        active_contract(
            &mut registry,
            OWNER,
            ContractKind::Episodic,
            &email_patch(),
            id,
            at(0),
        );
    }
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["health"], &["*"]),
        "my-prohibition",
        at(0),
    );
    create_draft(
        &mut registry,
        &owner(),
        ContractKind::Episodic,
        &email_patch(),
        "my-draft",
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
    registry
}

#[test]
fn an_owner_pauses_and_resumes_their_own_learning_without_a_prompt() {
    let mut registry = two_owners();
    let change = registry
        .plan_pause(&owner(), PauseScope::Owner(OWNER), "stop now", at(1))
        .expect("no confirmation needed");
    assert_eq!(
        change.events,
        vec![
            Event::ContractsSuspended {
                ids: vec!["mine-a".into(), "mine-b".into()],
                reason: "pause",
            },
            Event::HostChanged,
        ]
    );
    assert_eq!(change.audit[0].action, "learning.pause");
    registry.apply(change);
    assert!(registry.is_paused(OWNER) && !registry.is_paused(OTHER));
    assert!(registry.host().paused_owners.contains_key(&OWNER));
    assert!(suspension_of(&registry, "mine-a").pause);
    assert!(!suspension_of(&registry, "theirs").pause);
    assert_eq!(suspension_of(&registry, "my-prohibition"), Suspension::NONE);
    let request = req(OWNER, "email", "w", MemoryClass::Public);
    assert_eq!(
        registry
            .check(CheckKind::MemoryCreation, &request, at(2))
            .code,
        Code::Paused
    );
    let theirs = req(OTHER, "email", "w", MemoryClass::Public);
    assert!(
        registry
            .check(CheckKind::MemoryCreation, &theirs, at(2))
            .allowed
    );

    let change = registry
        .plan_resume(&owner(), PauseScope::Owner(OWNER), at(3))
        .unwrap();
    assert_eq!(
        change.events,
        vec![
            Event::ContractsResumed {
                ids: vec!["mine-a".into(), "mine-b".into()],
            },
            Event::HostChanged,
        ]
    );
    registry.apply(change);
    assert!(!registry.is_paused(OWNER));
    assert!(
        registry
            .check(CheckKind::MemoryCreation, &request, at(4))
            .allowed
    );
    let e = err(registry.plan_resume(&owner(), PauseScope::Owner(OWNER), at(5)));
    assert!(matches!(e, CoreError::InvalidState { .. }), "{e:?}");
}

#[test]
fn only_the_owner_or_an_admin_pauses_an_owner() {
    let mut registry = two_owners();
    let e = err(registry.plan_pause(&other(), PauseScope::Owner(OWNER), "mischief", at(1)));
    assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    let planned = registry.plan_pause(&admin(), PauseScope::Owner(OWNER), "policy", at(1));
    apply_ok(&mut registry, planned);
    assert!(registry.is_paused(OWNER));
    let e = err(registry.plan_resume(&other(), PauseScope::Owner(OWNER), at(2)));
    assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
}

#[test]
fn only_an_admin_pauses_everyone() {
    let mut registry = two_owners();
    for actor in [owner(), owner_confirmed()] {
        let e = err(registry.plan_pause(&actor, PauseScope::All, "all", at(1)));
        assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    }
    let change = registry
        .plan_pause(&admin(), PauseScope::All, "incident", at(1))
        .unwrap();
    assert_eq!(
        change.events,
        vec![
            Event::ContractsSuspended {
                ids: vec!["mine-a".into(), "mine-b".into(), "theirs".into()],
                reason: "pause",
            },
            Event::HostChanged,
        ]
    );
    registry.apply(change);
    assert!(registry.is_paused(OWNER) && registry.is_paused(OTHER) && registry.is_paused(4242));
    // An owner's own pause under a global one changes no contract.
    let change = registry
        .plan_pause(&owner(), PauseScope::Owner(OWNER), "me too", at(2))
        .unwrap();
    assert_eq!(change.events, vec![Event::HostChanged]);
    registry.apply(change);
    let e = err(registry.plan_resume(&owner(), PauseScope::All, at(3)));
    assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    let change = registry
        .plan_resume(&admin(), PauseScope::All, at(3))
        .unwrap();
    assert_eq!(
        change.events,
        vec![
            Event::ContractsResumed {
                ids: vec!["theirs".into()],
            },
            Event::HostChanged,
        ],
        "the owner's own pause still holds"
    );
    registry.apply(change);
    assert!(registry.is_paused(OWNER) && !registry.is_paused(OTHER));
}

#[test]
fn a_paused_contract_resumes_only_when_the_pause_and_the_mode_allow() {
    let mut registry = populated(EffectiveMode::Known(BoundaryMode::Open));
    let planned = registry.plan_pause(&owner(), PauseScope::Owner(OWNER), "stop", at(2));
    apply_ok(&mut registry, planned);
    let s = suspension_of(&registry, "strategic");
    assert!(s.pause && s.mode && !s.lockdown);
    assert_eq!(s.names(), vec!["mode", "pause"]);
    set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Trusted),
        at(3),
    );
    let s = suspension_of(&registry, "strategic");
    assert!(s.pause && !s.mode);
    let planned = registry.plan_resume(&owner(), PauseScope::Owner(OWNER), at(4));
    apply_ok(&mut registry, planned);
    assert_eq!(suspension_of(&registry, "strategic"), Suspension::NONE);
}

// ---------------------------------------------------------------------------------------------
// Override and combine_mode

#[test]
fn only_an_admin_sets_an_override_and_never_to_lockdown() {
    let mut registry = registry_in(BoundaryMode::Airgap);
    let e = err(registry.plan_set_override(&owner_confirmed(), BoundaryMode::Open, "x", at(1)));
    assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    let e = err(registry.plan_set_override(&admin(), BoundaryMode::Lockdown, "x", at(1)));
    assert!(matches!(e, CoreError::InvalidArgument { .. }), "{e:?}");
    let e = err(registry.plan_set_override(&admin(), BoundaryMode::Open, "", at(1)));
    assert!(matches!(e, CoreError::InvalidArgument { .. }), "{e:?}");
    let e = err(registry.plan_clear_override(&admin(), at(1)));
    assert!(matches!(e, CoreError::InvalidState { .. }), "{e:?}");
    let planned = registry.plan_set_override(&admin(), BoundaryMode::Open, "vpn is down", at(1));
    apply_ok(&mut registry, planned);
    assert_eq!(
        registry.host().mode_override.as_ref().map(|o| o.mode),
        Some(BoundaryMode::Open)
    );
    let e = err(registry.plan_clear_override(&owner(), at(2)));
    assert!(matches!(e, CoreError::AccessDenied(_)), "{e:?}");
    let planned = registry.plan_clear_override(&admin(), at(2));
    apply_ok(&mut registry, planned);
    assert!(registry.host().mode_override.is_none());
}

#[test]
fn combine_mode_override_only_lowers_and_the_latch_wins() {
    use BoundaryMode::*;
    let known = EffectiveMode::Known;
    // The override claims less isolation than the reading: it applies.
    assert_eq!(combine_mode(known(Airgap), Some(Open), false), known(Open));
    assert_eq!(
        combine_mode(known(Coldroom), Some(Trusted), false),
        known(Trusted)
    );
    // It never raises the mode.
    assert_eq!(
        combine_mode(known(Open), Some(Coldroom), false),
        known(Open)
    );
    assert_eq!(
        combine_mode(known(Trusted), Some(Trusted), false),
        known(Trusted)
    );
    // It never lifts LOCKDOWN or UNKNOWN.
    assert_eq!(
        combine_mode(known(Lockdown), Some(Open), false),
        known(Lockdown)
    );
    assert_eq!(
        combine_mode(EffectiveMode::Unknown, Some(Open), false),
        EffectiveMode::Unknown
    );
    // The latch wins over everything.
    for reading in all_effective_modes() {
        for override_mode in std::iter::once(None).chain(BoundaryMode::ALL.map(Some)) {
            assert_eq!(
                combine_mode(reading, override_mode, true),
                known(Lockdown),
                "{reading} {override_mode:?}"
            );
            let combined = combine_mode(reading, override_mode, false);
            // Without the latch, the result is the reading or a lower operating mode.
            match (reading.operating(), combined.operating()) {
                (None, _) => assert_eq!(combined, reading),
                (Some(read), Some(result)) => {
                    assert!(result <= read);
                    assert_eq!(result < read, override_mode.is_some_and(|o| o < read));
                }
                (Some(_), None) => panic!("an override cannot lock: {reading} {override_mode:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The settle-time rule

const SETTLE: i64 = 2_000;

fn settled_at(mode: BoundaryMode) -> ModeSettler {
    let mut settler = ModeSettler::new(SETTLE);
    let target = EffectiveMode::Known(mode);
    // Out of UNKNOWN, LOCKDOWN applies at once; any operating mode after the settle time.
    if settler.observe(target, at(0)).is_none() {
        assert_eq!(settler.poll(at(SETTLE)), Some(target));
    }
    assert_eq!(settler.applied(), target);
    settler
}

#[test]
fn a_settler_starts_unknown_and_waits_before_the_first_reading_applies() {
    let mut settler = ModeSettler::new(SETTLE);
    assert_eq!(settler.applied(), EffectiveMode::Unknown);
    let open = EffectiveMode::Known(BoundaryMode::Open);
    assert_eq!(settler.observe(open, at(0)), None);
    assert_eq!(settler.pending(), Some((open, at(0))));
    assert_eq!(settler.deadline(), Some(at(SETTLE)));
    assert_eq!(settler.poll(at(SETTLE - 1)), None);
    assert_eq!(settler.observe(open, at(SETTLE - 1)), None);
    assert_eq!(settler.applied(), EffectiveMode::Unknown);
    assert_eq!(settler.poll(at(SETTLE)), Some(open));
    assert_eq!(settler.applied(), open);
    assert_eq!(settler.pending(), None);
    assert_eq!(settler.poll(at(SETTLE * 10)), None);
}

#[test]
fn restrictive_changes_apply_at_once() {
    for target in [
        EffectiveMode::Known(BoundaryMode::Trusted),
        EffectiveMode::Known(BoundaryMode::Open),
        EffectiveMode::Known(BoundaryMode::Lockdown),
        EffectiveMode::Unknown,
    ] {
        let mut settler = settled_at(BoundaryMode::Airgap);
        assert_eq!(settler.observe(target, at(SETTLE + 1)), Some(target));
        assert_eq!(settler.applied(), target);
        assert_eq!(settler.pending(), None);
    }
}

#[test]
fn a_restrictive_change_cancels_a_pending_permissive_one() {
    let mut settler = settled_at(BoundaryMode::Trusted);
    let coldroom = EffectiveMode::Known(BoundaryMode::Coldroom);
    let open = EffectiveMode::Known(BoundaryMode::Open);
    assert_eq!(settler.observe(coldroom, at(3_000)), None);
    assert_eq!(settler.observe(open, at(3_500)), Some(open));
    assert_eq!(settler.pending(), None);
    assert_eq!(settler.poll(at(10_000)), None);
    assert_eq!(settler.applied(), open);
}

#[test]
fn permissive_changes_apply_only_after_the_settle_time() {
    for (from, to) in [
        (BoundaryMode::Open, BoundaryMode::Restricted),
        (BoundaryMode::Trusted, BoundaryMode::Coldroom),
        (BoundaryMode::Lockdown, BoundaryMode::Open),
    ] {
        let mut settler = settled_at(from);
        let target = EffectiveMode::Known(to);
        let seen = at(5_000);
        assert_eq!(settler.observe(target, seen), None, "{from} -> {to}");
        assert_eq!(settler.applied(), EffectiveMode::Known(from));
        assert_eq!(settler.observe(target, seen.plus_millis(SETTLE - 1)), None);
        assert_eq!(settler.poll(seen.plus_millis(SETTLE - 1)), None);
        assert_eq!(settler.poll(seen.plus_millis(SETTLE)), Some(target));
        assert_eq!(settler.applied(), target);
    }
    // Leaving UNKNOWN is permissive too.
    let mut settler = settled_at(BoundaryMode::Open);
    settler.observe(EffectiveMode::Unknown, at(5_000));
    let open = EffectiveMode::Known(BoundaryMode::Open);
    assert_eq!(settler.observe(open, at(5_001)), None);
    assert_eq!(settler.observe(open, at(5_001 + SETTLE)), Some(open));
}

#[test]
fn flapping_within_the_settle_time_leaves_the_permissive_change_unapplied() {
    let mut settler = settled_at(BoundaryMode::Open);
    let open = EffectiveMode::Known(BoundaryMode::Open);
    let airgap = EffectiveMode::Known(BoundaryMode::Airgap);
    let mut now = 10_000;
    for i in 0..40 {
        let candidate = if i % 2 == 0 { airgap } else { open };
        assert_eq!(settler.observe(candidate, at(now)), None, "step {i}");
        assert_eq!(settler.poll(at(now + SETTLE / 2)), None, "step {i}");
        assert_eq!(settler.applied(), open);
        now += SETTLE / 2 + 1;
    }
    // Flapping between two permissive candidates does not settle either.
    let coldroom = EffectiveMode::Known(BoundaryMode::Coldroom);
    for i in 0..40 {
        let candidate = if i % 2 == 0 { airgap } else { coldroom };
        assert_eq!(settler.observe(candidate, at(now)), None, "step {i}");
        now += SETTLE - 1;
    }
    assert_eq!(settler.applied(), open);
    // Once the reading holds still, it applies.
    let last = settler.pending().expect("a candidate waits").0;
    assert_eq!(settler.poll(at(now)), None);
    assert_eq!(settler.poll(at(now + SETTLE)), Some(last));
}

#[test]
fn a_zero_or_negative_settle_time_applies_at_once() {
    for settle in [0, -5] {
        let mut settler = ModeSettler::new(settle);
        let airgap = EffectiveMode::Known(BoundaryMode::Airgap);
        assert_eq!(settler.observe(airgap, at(0)), Some(airgap));
    }
}

// ---------------------------------------------------------------------------------------------
// The gates

#[test]
fn recall_gate_allows_a_class_iff_the_modes_cap_reaches_it() {
    for mode in all_effective_modes() {
        for class in MemoryClass::ALL {
            let decision = recall_gate(mode, class);
            let (allowed, code) = match mode {
                EffectiveMode::Unknown => (false, Code::BoundaryUnknown),
                EffectiveMode::Known(BoundaryMode::Lockdown) => (false, Code::Lockdown),
                // SEMANTICS.md section 1: OPEN 1, RESTRICTED 2, TRUSTED 3, AIRGAP 4, COLDROOM 5.
                EffectiveMode::Known(m) => {
                    let cap = m as u8 + 1;
                    if class.wire() <= cap {
                        (true, Code::Allowed)
                    } else {
                        (false, Code::BoundaryClass)
                    }
                }
            };
            assert_eq!(decision.allowed, allowed, "{mode} {class}");
            assert_eq!(decision.code, code, "{mode} {class}");
            assert!(!decision.reason.is_empty());
        }
    }
}

#[test]
fn tool_gate_follows_the_table_for_every_mode() {
    let all_needs: Vec<ToolNeeds> = (0..8u8)
        .map(|bits| ToolNeeds {
            network: bits & 1 != 0,
            filesystem: bits & 2 != 0,
            usb: bits & 4 != 0,
        })
        .collect();
    for mode in all_effective_modes() {
        for needs in &all_needs {
            for vpn in [false, true] {
                let decision = tool_gate(mode, "tool", *needs, vpn, &[]);
                let expected = match mode {
                    EffectiveMode::Unknown => Code::BoundaryUnknown,
                    EffectiveMode::Known(BoundaryMode::Lockdown) => Code::Lockdown,
                    EffectiveMode::Known(m) => {
                        let refused = match m {
                            BoundaryMode::Open => false,
                            BoundaryMode::Restricted => needs.usb,
                            BoundaryMode::Trusted => needs.network && !vpn,
                            BoundaryMode::Airgap => needs.network || needs.usb,
                            BoundaryMode::Coldroom => {
                                needs.network || needs.filesystem || needs.usb
                            }
                            BoundaryMode::Lockdown => unreachable!(),
                        };
                        if refused {
                            Code::BoundaryMode
                        } else {
                            Code::Allowed
                        }
                    }
                };
                assert_eq!(decision.code, expected, "{mode} {needs:?} vpn={vpn}");
                assert_eq!(decision.allowed, expected == Code::Allowed);
            }
        }
    }
}

#[test]
fn tool_gate_denies_configured_tools_in_every_mode() {
    let denied = vec!["exfil".to_string(), "keylogger".to_string()];
    for mode in all_effective_modes() {
        for tool in ["exfil", "keylogger"] {
            let decision = tool_gate(mode, tool, ToolNeeds::default(), true, &denied);
            assert!(!decision.allowed, "{mode} {tool}");
            let expected = match mode {
                EffectiveMode::Unknown => Code::BoundaryUnknown,
                EffectiveMode::Known(BoundaryMode::Lockdown) => Code::Lockdown,
                _ => Code::ToolDenied,
            };
            assert_eq!(decision.code, expected);
        }
        let decision = tool_gate(mode, "editor", ToolNeeds::default(), true, &denied);
        assert_eq!(decision.allowed, !mode.is_locked(), "{mode}");
    }
}

#[test]
fn the_active_and_suspended_counts_follow_the_mode() {
    let mut registry = populated(EffectiveMode::Known(BoundaryMode::Coldroom));
    assert_eq!(registry.active_count(), 7);
    assert_eq!(registry.suspended_count(), 0);
    set_mode(
        &mut registry,
        EffectiveMode::Known(BoundaryMode::Restricted),
        at(5),
    );
    // Requiring TRUSTED, AIRGAP, COLDROOM, and the strategic one.
    assert_eq!(registry.suspended_count(), 4);
    assert_eq!(state(&registry, "strategic"), ContractState::Active);
}

#[test]
fn a_mode_change_audits_at_most_a_thousand_ids_per_list_and_every_count() {
    use learning_contracts::core::host::MAX_AUDITED_IDS;
    let mut registry = registry_in(BoundaryMode::Coldroom);
    let total = MAX_AUDITED_IDS + 500;
    let patch = SpecPatch {
        required_mode: Some(BoundaryMode::Airgap),
        ..scope_patch(&["coding"], &["work"], &[])
    };
    for i in 0..total {
        active_contract(
            &mut registry,
            1000,
            ContractKind::Episodic,
            &patch,
            &format!("c-{i:05}"),
            at(1),
        );
    }
    let change = registry
        .plan_mode_change(EffectiveMode::Known(BoundaryMode::Open), "reading", at(2))
        .expect("a change");
    let details = &change.audit[0].details;
    assert_eq!(details["counts"]["suspended_mode"], total);
    assert_eq!(
        details["suspended_mode"].as_array().unwrap().len(),
        MAX_AUDITED_IDS
    );
    // The signal still names every contract.
    let named: usize = change
        .events
        .iter()
        .map(|e| match e {
            Event::ContractsSuspended { ids, .. } => ids.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(named, total);
}
