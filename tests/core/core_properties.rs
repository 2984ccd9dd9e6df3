//! Properties of the core over generated inputs: scope matching against a plain model,
//! suspension after any sequence of mode changes (section 8), nothing allowed in LOCKDOWN or
//! UNKNOWN, nothing allowed through a contract that is not effective, and the settle rule.

use crate::common::core_fixtures::*;
use learning_contracts::core::{
    Abstraction, BoundaryMode, CheckKind, CheckRequest, Code, ContractKind, EffectiveMode, Event,
    MemoryClass, ModeSettler, PauseScope, Registry, RetentionKind, Scope, SpecPatch, Suspension,
    Timestamp,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const ALPHABET: [&str; 4] = ["a", "b", "c", "d"];
/// Names a request may use: the scope's alphabet and one name no scope lists.
const REQUEST_NAMES: [&str; 5] = ["a", "b", "c", "d", "zz"];

fn effective_mode() -> impl Strategy<Value = EffectiveMode> {
    (0usize..7).prop_map(|i| all_effective_modes()[i])
}

fn check_kind() -> impl Strategy<Value = CheckKind> {
    (0usize..4).prop_map(|i| ALL_CHECKS[i])
}

fn class() -> impl Strategy<Value = MemoryClass> {
    (0usize..6).prop_map(|i| MemoryClass::ALL[i])
}

/// Mostly low classes, so that generated requests are often allowed.
fn usual_class() -> impl Strategy<Value = MemoryClass> {
    prop_oneof![3 => Just(MemoryClass::Public), 1 => class()]
}

/// No pause most of the time, else the owner's or everyone's.
fn pause_choice() -> impl Strategy<Value = usize> {
    prop_oneof![4 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)]
}

fn abstraction() -> impl Strategy<Value = Abstraction> {
    (0usize..4).prop_map(|i| Abstraction::ALL[i])
}

/// A non-empty subset of the alphabet, as a bit mask 1..=15.
fn subset(mask: u8) -> Vec<&'static str> {
    ALPHABET
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, name)| *name)
        .collect()
}

#[derive(Clone, Debug)]
enum ListGen {
    Any,
    Empty,
    Names(u8),
}

fn list_gen(allow_empty: bool) -> impl Strategy<Value = ListGen> {
    let empty_weight = if allow_empty { 1 } else { 0 };
    prop_oneof![
        1 => Just(ListGen::Any),
        empty_weight => Just(ListGen::Empty),
        3 => (1u8..16).prop_map(ListGen::Names),
    ]
}

fn list(spec: &ListGen) -> Vec<&'static str> {
    match spec {
        ListGen::Any => vec!["*"],
        ListGen::Empty => Vec::new(),
        ListGen::Names(mask) => subset(*mask),
    }
}

/// The straightforward reading of section 3.
fn model_covers(
    domains: &[&str],
    contexts: &[&str],
    tools: &[&str],
    domain: &str,
    context: &str,
    tool: Option<&str>,
) -> bool {
    domains.contains(&domain)
        && (contexts.contains(&"*") || contexts.contains(&context))
        && match tool {
            None => true,
            Some(tool) => tools.contains(&"*") || tools.contains(&tool),
        }
}

proptest! {
    #![proptest_config(crate::common::proptest_config(256))]

    #[test]
    fn scope_matching_agrees_with_the_model(
        domain_mask in 1u8..16,
        contexts in list_gen(false),
        tools in list_gen(true),
        domain in 0usize..5,
        context in 0usize..5,
        tool in proptest::option::of(0usize..5),
    ) {
        let domains = subset(domain_mask);
        let contexts = list(&contexts);
        let tools = list(&tools);
        let (domain, context) = (REQUEST_NAMES[domain], REQUEST_NAMES[context]);
        let tool = tool.map(|t| REQUEST_NAMES[t]);
        let expected = model_covers(&domains, &contexts, &tools, domain, context, tool);

        let scope = Scope { domains: ns(&domains), contexts: ns(&contexts), tools: ns(&tools) };
        prop_assert_eq!(scope.covers(domain, context, tool), expected);
        prop_assert!(scope.problems(true).is_empty());

        // The same through the checks, naming the contract and by discovery.
        let mut registry = registry_in(BoundaryMode::Trusted);
        let patch = scope_patch(&domains, &contexts, &tools);
        active_contract(&mut registry, OWNER, ContractKind::Episodic, &patch, "c", at(0));
        let mut request = req(OWNER, domain, context, MemoryClass::Public);
        request.tool = tool.map(n);
        let discovered = registry.check(CheckKind::MemoryCreation, &request, at(1));
        prop_assert_eq!(discovered.allowed, expected, "{:?}", discovered);
        if !expected {
            prop_assert_eq!(discovered.code, Code::NoContract);
        }
        let named = registry.check(CheckKind::MemoryCreation, &naming(request, "c"), at(1));
        prop_assert_eq!(named.allowed, expected, "{:?}", named);
        if !expected {
            prop_assert_eq!(named.code, Code::OutOfScope);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Suspension after any sequence of mode changes

fn section_8(mode: EffectiveMode, required: BoundaryMode) -> Suspension {
    match mode.operating() {
        None => Suspension {
            lockdown: true,
            ..Suspension::NONE
        },
        Some(current) => Suspension {
            mode: current < required,
            ..Suspension::NONE
        },
    }
}

#[derive(Clone, Debug)]
enum HostStep {
    Mode(EffectiveMode),
    PauseOwner(bool),
    PauseAll(bool),
}

fn host_step() -> impl Strategy<Value = HostStep> {
    prop_oneof![
        6 => effective_mode().prop_map(HostStep::Mode),
        1 => any::<bool>().prop_map(HostStep::PauseOwner),
        1 => any::<bool>().prop_map(HostStep::PauseAll),
    ]
}

fn mode_world() -> (Registry, Vec<(String, BoundaryMode)>) {
    let mut registry = Registry::default();
    let mut required = Vec::new();
    for (i, mode) in BoundaryMode::ALL[..5].iter().enumerate() {
        let id = format!("p{i}");
        let patch = SpecPatch {
            required_mode: Some(*mode),
            ..email_patch()
        };
        active_contract(
            &mut registry,
            OWNER,
            ContractKind::Procedural,
            &patch,
            &id,
            at(0),
        );
        required.push((id, *mode));
    }
    active_contract(
        &mut registry,
        OTHER,
        ContractKind::Strategic,
        &email_patch(),
        "s",
        at(0),
    );
    required.push(("s".to_string(), BoundaryMode::Trusted));
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Prohibited,
        &prohibition_patch(&["x"], &["*"]),
        "prohibition",
        at(0),
    );
    (registry, required)
}

proptest! {
    #![proptest_config(crate::common::proptest_config(256))]

    #[test]
    fn suspension_follows_section_8_after_any_sequence_of_mode_changes(
        steps in proptest::collection::vec(host_step(), 1..30),
    ) {
        let (mut registry, required) = mode_world();
        // What the announcements say, replayed: contract -> (mode, lockdown) and paused set.
        let mut announced: BTreeMap<String, (bool, bool)> = required
            .iter()
            .map(|(id, _)| {
                let s = registry.suspension(registry.contract(id).unwrap());
                (id.clone(), (s.mode, s.lockdown))
            })
            .collect();
        let mut paused: BTreeSet<String> = BTreeSet::new();
        let mut owner_paused = false;
        let mut all_paused = false;
        for (i, step) in steps.iter().enumerate() {
            let now = at(10 + i as i64);
            match step {
                HostStep::Mode(mode) => {
                    let before = registry.mode();
                    match registry.plan_mode_change(*mode, "reading", now) {
                        None => prop_assert_eq!(before, *mode),
                        Some(change) => {
                            for event in registry.apply(change) {
                                match event {
                                    Event::ContractsSuspended { ids, reason } => {
                                        for id in ids {
                                            let entry = announced.get_mut(&id).unwrap();
                                            *entry = (reason == "mode", reason == "lockdown");
                                        }
                                    }
                                    Event::ContractsResumed { ids } => {
                                        for id in ids {
                                            announced.insert(id, (false, false));
                                        }
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                HostStep::PauseOwner(on) | HostStep::PauseAll(on) => {
                    let scope = match step {
                        HostStep::PauseOwner(_) => PauseScope::Owner(OWNER),
                        _ => PauseScope::All,
                    };
                    let was = match scope {
                        PauseScope::Owner(_) => &mut owner_paused,
                        PauseScope::All => &mut all_paused,
                    };
                    let planned = if *on {
                        registry.plan_pause(&admin(), scope, "stop", now)
                    } else {
                        registry.plan_resume(&admin(), scope, now)
                    };
                    if !*on && !*was {
                        prop_assert!(planned.is_err());
                        continue;
                    }
                    *was = *on;
                    for event in registry.apply(planned.unwrap()) {
                        match event {
                            Event::ContractsSuspended { ids, reason } => {
                                prop_assert_eq!(reason, "pause");
                                paused.extend(ids);
                            }
                            Event::ContractsResumed { ids } => {
                                for id in ids {
                                    paused.remove(&id);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            let mode = registry.mode();
            for (id, needed) in &required {
                let contract = registry.contract(id).unwrap();
                let actual = registry.suspension(contract);
                let expected = section_8(mode, *needed);
                prop_assert_eq!((actual.mode, actual.lockdown), (expected.mode, expected.lockdown), "{} in {}", id, mode);
                prop_assert_eq!(announced[id], (expected.mode, expected.lockdown), "announced for {} in {}", id, mode);
                let should_pause = all_paused || (owner_paused && contract.owner == OWNER);
                prop_assert_eq!(actual.pause, should_pause, "{}", id);
                prop_assert_eq!(paused.contains(id), should_pause, "announced pause for {}", id);
            }
            let prohibition = registry.contract("prohibition").unwrap();
            prop_assert_eq!(registry.suspension(prohibition), Suspension::NONE);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generated worlds for the checks

#[derive(Clone, Debug)]
struct ContractGen {
    kind: usize,
    owner_is_other: bool,
    extra_mode: usize,
    context_any: bool,
    tools_any: bool,
    until: Option<i64>,
    session_unbound: bool,
    transferable: bool,
    recall_requires_owner: bool,
    revoked: bool,
}

fn contract_gen() -> impl Strategy<Value = ContractGen> {
    (
        0usize..5,
        prop::bool::weighted(0.2),
        0usize..5,
        any::<bool>(),
        prop::bool::weighted(0.7),
        proptest::option::of(1i64..2_000),
        prop::bool::weighted(0.1),
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(
                kind,
                owner_is_other,
                extra_mode,
                context_any,
                tools_any,
                until,
                session_unbound,
                transferable,
                recall_requires_owner,
                revoked,
            )| {
                ContractGen {
                    kind,
                    owner_is_other,
                    extra_mode,
                    context_any,
                    tools_any,
                    until,
                    session_unbound,
                    transferable,
                    recall_requires_owner,
                    revoked,
                }
            },
        )
}

const KINDS: [ContractKind; 5] = [
    ContractKind::Observation,
    ContractKind::Episodic,
    ContractKind::Procedural,
    ContractKind::Strategic,
    ContractKind::Prohibited,
];

/// Builds the world in `build_mode`; returns the registry and the ids.
fn build_world(
    contracts: &[ContractGen],
    with_prohibitions: bool,
    build_mode: BoundaryMode,
) -> (Registry, Vec<String>) {
    let mut registry = registry_in(build_mode);
    let mut ids = Vec::new();
    for (i, spec) in contracts.iter().enumerate() {
        let kind = KINDS[spec.kind];
        if kind == ContractKind::Prohibited && !with_prohibitions {
            continue;
        }
        let id = format!("c{i:02}");
        let owner = if spec.owner_is_other { OTHER } else { OWNER };
        let contexts: &[&str] = if spec.context_any { &["*"] } else { &["work"] };
        let prohibited = kind == ContractKind::Prohibited;
        let stores = kind.may_store();
        let tools: &[&str] = if prohibited || !spec.tools_any {
            &[]
        } else {
            &["*"]
        };
        let mut patch = scope_patch(&["email"], contexts, tools);
        if let Some(least) = kind.default_required_mode() {
            let wanted = BoundaryMode::ALL[spec.extra_mode];
            patch.required_mode = Some(wanted.max(least));
        }
        if let Some(until) = spec.until {
            patch.retention = Some(RetentionKind::Timebound);
            patch.retention_until = Some(at(until));
        } else if spec.session_unbound && !prohibited {
            patch.retention = Some(RetentionKind::Session);
        }
        patch.transferable = Some(spec.transferable && stores);
        patch.recall_requires_owner = Some(spec.recall_requires_owner && stores);
        active_contract(&mut registry, owner, kind, &patch, &id, at(0));
        if spec.revoked && !prohibited {
            revoke(&mut registry, &id, at(0));
        }
        ids.push(id);
    }
    (registry, ids)
}

#[derive(Clone, Debug)]
struct RequestGen {
    kind: CheckKind,
    owner_is_other: bool,
    context_work: bool,
    class: MemoryClass,
    level: Abstraction,
    tool: bool,
    named: Option<usize>,
    owner_present: bool,
}

fn request_gen() -> impl Strategy<Value = RequestGen> {
    (
        check_kind(),
        prop::bool::weighted(0.2),
        any::<bool>(),
        usual_class(),
        prop_oneof![2 => Just(Abstraction::Raw), 1 => abstraction()],
        prop::bool::weighted(0.3),
        proptest::option::weighted(0.4, 0usize..8),
        any::<bool>(),
    )
        .prop_map(
            |(kind, owner_is_other, context_work, class, level, tool, named, owner_present)| {
                RequestGen {
                    kind,
                    owner_is_other,
                    context_work,
                    class,
                    level,
                    tool,
                    named,
                    owner_present,
                }
            },
        )
}

fn make_request(spec: &RequestGen, ids: &[String]) -> CheckRequest {
    let owner = if spec.owner_is_other { OTHER } else { OWNER };
    let context = if spec.context_work { "work" } else { "home" };
    let mut request = at_level(req(owner, "email", context, spec.class), spec.level);
    if spec.tool {
        request.tool = Some(n("tool"));
    }
    if let Some(i) = spec.named {
        request.contract_id = Some(ids.get(i).cloned().unwrap_or_else(|| "unknown".into()));
    }
    request.owner_present = spec.owner_present;
    request
}

fn set_pause(registry: &mut Registry, pause: usize) {
    let scope = match pause {
        1 => PauseScope::Owner(OWNER),
        2 => PauseScope::All,
        _ => return,
    };
    let planned = registry.plan_pause(&admin(), scope, "stop", at(0));
    apply_ok(registry, planned);
}

proptest! {
    #![proptest_config(crate::common::proptest_config(256))]

    #[test]
    fn nothing_is_allowed_in_lockdown_or_unknown(
        contracts in proptest::collection::vec(contract_gen(), 0..6),
        requests in proptest::collection::vec(request_gen(), 1..12),
        locked in prop::bool::ANY,
        pause in pause_choice(),
        now in 0i64..3_000,
    ) {
        let (mut registry, ids) = build_world(&contracts, true, BoundaryMode::Coldroom);
        set_pause(&mut registry, pause);
        let mode = if locked {
            EffectiveMode::Known(BoundaryMode::Lockdown)
        } else {
            EffectiveMode::Unknown
        };
        set_mode(&mut registry, mode, at(now));
        prop_assert!(registry.mode().is_locked());
        for spec in &requests {
            let request = make_request(spec, &ids);
            let decision = registry.check(spec.kind, &request, at(now));
            prop_assert!(!decision.allowed, "{:?}", decision);
            let code = if locked { Code::Lockdown } else { Code::BoundaryUnknown };
            prop_assert_eq!(decision.code, code);
        }
        for id in &ids {
            let contract = registry.contract(id).unwrap();
            if contract.kind != ContractKind::Prohibited {
                prop_assert!(!registry.is_effective(contract, at(now)));
            }
        }
    }

    #[test]
    fn no_check_is_allowed_through_a_contract_that_is_not_effective(
        contracts in proptest::collection::vec(contract_gen(), 1..6),
        requests in proptest::collection::vec(request_gen(), 1..12),
        mode in effective_mode(),
        pause in pause_choice(),
        now in 0i64..3_000,
    ) {
        let (mut registry, ids) = build_world(&contracts, false, BoundaryMode::Coldroom);
        set_pause(&mut registry, pause);
        set_mode(&mut registry, mode, at(1));
        let now = at(now);
        for spec in &requests {
            // Discovery only: no contract named.
            let spec = RequestGen { named: None, ..spec.clone() };
            let request = make_request(&spec, &ids);
            let decision = registry.check(spec.kind, &request, now);
            if !decision.allowed {
                continue;
            }
            let id = decision.contract_id.clone().expect("an allowed check names its contract");
            let contract = registry.contract(&id).unwrap();
            prop_assert_eq!(contract.owner, request.owner);
            let suspension = registry.suspension(contract);
            // A pause does not stop recall (section 7 step 2); anything else must be effective.
            let only_paused_recall = spec.kind == CheckKind::Recall
                && suspension == Suspension { pause: true, ..Suspension::NONE };
            prop_assert!(
                registry.is_effective(contract, now) || only_paused_recall,
                "{:?} allowed through {} which is not effective: {:?}",
                spec.kind, id, contract
            );
        }
        // When none of the owner's contracts is effective, no learning check is allowed at all.
        let any_effective = registry
            .active_contracts()
            .any(|c| c.owner == OWNER && registry.is_effective(c, now));
        if !any_effective {
            for spec in &requests {
                let spec = RequestGen { named: None, owner_is_other: false, ..spec.clone() };
                if spec.kind == CheckKind::Recall {
                    continue;
                }
                let decision = registry.check(spec.kind, &make_request(&spec, &ids), now);
                prop_assert!(!decision.allowed, "{:?}", decision);
            }
        }
    }

    #[test]
    fn a_named_contract_allows_only_while_it_is_effective(
        contracts in proptest::collection::vec(contract_gen(), 1..6),
        requests in proptest::collection::vec(request_gen(), 1..12),
        mode in effective_mode(),
        pause in pause_choice(),
        now in 0i64..3_000,
    ) {
        let (mut registry, ids) = build_world(&contracts, false, BoundaryMode::Coldroom);
        set_pause(&mut registry, pause);
        set_mode(&mut registry, mode, at(1));
        let now = at(now);
        for spec in &requests {
            let request = make_request(spec, &ids);
            let decision = registry.check(spec.kind, &request, now);
            if let (true, Some(named)) = (decision.allowed, request.contract_id.as_deref()) {
                prop_assert_eq!(decision.contract_id.as_deref(), Some(named));
                let contract = registry.contract(named).unwrap();
                prop_assert_eq!(contract.owner, request.owner);
                let suspension = registry.suspension(contract);
                let only_paused_recall = spec.kind == CheckKind::Recall
                    && suspension == Suspension { pause: true, ..Suspension::NONE };
                prop_assert!(registry.is_effective(contract, now) || only_paused_recall);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The settle rule

#[derive(Clone, Debug)]
enum SettleStep {
    Observe(i64, EffectiveMode),
    Poll(i64),
}

fn settle_step() -> impl Strategy<Value = SettleStep> {
    prop_oneof![
        4 => (0i64..1_500, effective_mode()).prop_map(|(d, m)| SettleStep::Observe(d, m)),
        1 => (0i64..3_000).prop_map(SettleStep::Poll),
    ]
}

proptest! {
    #![proptest_config(crate::common::proptest_config(512))]

    #[test]
    fn the_applied_mode_never_becomes_more_permissive_before_the_settle_time(
        settle in 0i64..2_500,
        steps in proptest::collection::vec(settle_step(), 1..60),
    ) {
        let mut settler = ModeSettler::new(settle);
        let mut clock = 0i64;
        let mut observations: Vec<(i64, EffectiveMode)> = Vec::new();
        for step in &steps {
            let before = settler.applied();
            let (now, result) = match step {
                SettleStep::Observe(delay, mode) => {
                    clock += delay;
                    observations.push((clock, *mode));
                    (clock, settler.observe(*mode, Timestamp::from_millis(clock)))
                }
                SettleStep::Poll(delay) => {
                    clock += delay;
                    (clock, settler.poll(Timestamp::from_millis(clock)))
                }
            };
            let after = settler.applied();
            prop_assert_eq!(result.is_some(), after != before);
            if let Some(applied) = result {
                prop_assert_eq!(applied, after);
            }
            if let SettleStep::Observe(_, mode) = step {
                // A restrictive change applies at once.
                if *mode != before && !before.is_more_permissive(*mode) {
                    prop_assert_eq!(after, *mode);
                }
            }
            if after != before && before.is_more_permissive(after) {
                // The readings up to now have been `after` without interruption since at
                // least `settle` milliseconds ago.
                let streak_start = observations
                    .iter()
                    .rev()
                    .take_while(|(_, m)| *m == after)
                    .last()
                    .map(|(t, _)| *t);
                let Some(start) = streak_start else {
                    return Err(TestCaseError::fail("applied a mode that was not the last reading"));
                };
                prop_assert!(
                    now - start >= settle,
                    "{} applied at {} after a streak from {} (settle {})",
                    after, now, start, settle
                );
            }
        }
    }
}
