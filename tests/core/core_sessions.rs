//! Sessions and the clocks (SEMANTICS.md sections 5, 6, 9 and 10): an amendment away from
//! `session` retention drops the binding; session idle time and the purge token's lifetime run
//! on the monotonic clock, whatever the wall clock does; timebound expiry follows the wall
//! clock across its steps as docs/DECISIONS.md says.

use crate::common;

use crate::common::core_fixtures::*;
use learning_contracts::core::forgetting::PURGE_TOKEN_MILLIS;
use learning_contracts::core::{
    BoundaryMode, Caller, CheckKind, Code, ContractKind, ContractState, CoreError, HostState,
    MemoryClass, MemoryStatus, Monotonic, Now, PurgeTokens, Registry, RetentionKind, SessionLimits,
    SpecPatch,
};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// The idle time the session tests use.
const IDLE: i64 = 1_000;

/// The clocks when the wall clock reads `at(wall)` and the monotonic one `mono`.
fn clocks(wall: i64, mono: i64) -> Now {
    Now {
        wall: at(wall),
        mono: Monotonic::from_millis(mono),
    }
}

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

fn open_session_at(registry: &mut Registry, id: &str, now: Now) {
    let planned = registry.plan_open_session(&Caller::uid(OWNER), OWNER, id.into(), LIMITS, now);
    apply_ok(registry, planned);
}

fn open_session(registry: &mut Registry, id: &str) {
    open_session_at(registry, id, clocks(1, 1));
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

#[test]
fn a_record_of_another_retention_that_names_a_session_does_not_end_with_it() {
    // What an older version's amendment wrote: a permanent contract still naming a session.
    let mut stored = common::stored::active_contract(
        "perm".into(),
        OWNER,
        ContractKind::Episodic,
        learning_contracts::core::Scope::default(),
        String::new(),
        at(0),
    );
    stored.session = Some("s1".into());
    let mut registry = Registry::from_parts(vec![stored], Vec::new(), HostState::default());
    open_session(&mut registry, "s1");
    let change = registry
        .plan_end_session(None, "s1", "idle time reached", at(5))
        .unwrap();
    assert!(change.contracts.is_empty(), "{:?}", change.contracts);
    registry.apply(change);
    assert_eq!(state(&registry, "perm"), ContractState::Active);
}

// ---------------------------------------------------------------------------------------------
// Session idle time runs on the monotonic clock (F14)

#[test]
fn a_wall_clock_step_forward_does_not_end_a_session_early() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    open_session_at(&mut registry, "s1", clocks(0, 5_000));
    // The wall clock jumps a day ahead, 10 ms after the session was opened.
    assert!(
        registry.idle_sessions(IDLE, clocks(DAY, 5_010)).is_empty(),
        "a wall-clock step ended a session used 10 ms ago"
    );
    assert!(registry.idle_sessions(IDLE, clocks(DAY, 5_999)).is_empty());
    assert_eq!(
        registry.idle_sessions(IDLE, clocks(DAY, 6_000)),
        vec!["s1".to_string()]
    );
}

#[test]
fn a_wall_clock_step_back_does_not_stretch_the_idle_time() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    open_session_at(&mut registry, "s1", clocks(0, 5_000));
    // The wall clock goes back an hour; the idle time still runs out on time.
    assert!(
        registry
            .idle_sessions(IDLE, clocks(-HOUR, 5_999))
            .is_empty()
    );
    assert_eq!(
        registry.idle_sessions(IDLE, clocks(-HOUR + 1_000, 6_000)),
        vec!["s1".to_string()],
        "a wall-clock step back kept an idle session open"
    );
}

#[test]
fn use_of_a_session_keeps_it_whatever_the_wall_clock_says() {
    let mut registry = registry_in(BoundaryMode::Trusted);
    open_session_at(&mut registry, "s1", clocks(0, 5_000));
    open_session_at(&mut registry, "s2", clocks(0, 5_000));
    registry.touch_session("s2", Monotonic::from_millis(5_800));
    // A use reported late, from before the last one, does not move the idle time back.
    registry.touch_session("s2", Monotonic::from_millis(5_100));
    assert_eq!(
        registry.idle_sessions(IDLE, clocks(-DAY, 6_000)),
        vec!["s1".to_string()]
    );
    assert_eq!(
        registry.session("s2").unwrap().idle_deadline(IDLE),
        Monotonic::from_millis(6_800)
    );
    assert_eq!(
        registry.idle_sessions(IDLE, clocks(DAY, 6_800)),
        vec!["s1".to_string(), "s2".to_string()]
    );
}

// ---------------------------------------------------------------------------------------------
// The purge token's two minutes run on the monotonic clock (F14)

const SECRET: [u8; 32] = [0xab; 32];

#[test]
fn a_purge_token_expires_after_two_monotonic_minutes_though_the_wall_clock_went_back() {
    let mut tokens = PurgeTokens::default();
    let token = tokens.issue(OWNER, "c1", clocks(0, 1_000), SECRET);
    // The wall clock goes back an hour; by the wall the token would have an hour more.
    let later = clocks(-HOUR + PURGE_TOKEN_MILLIS, 1_000 + PURGE_TOKEN_MILLIS);
    assert_eq!(
        tokens.redeem(&token, OWNER, "c1", later),
        Err(CoreError::TokenInvalid),
        "the token outlived its two minutes"
    );
}

#[test]
fn a_purge_token_stays_valid_for_its_two_minutes_though_the_wall_clock_jumped_ahead() {
    let mut tokens = PurgeTokens::default();
    let token = tokens.issue(OWNER, "c1", clocks(0, 1_000), SECRET);
    let later = clocks(DAY, 1_000 + PURGE_TOKEN_MILLIS - 1);
    assert_eq!(tokens.redeem(&token, OWNER, "c1", later), Ok(()));
}

#[test]
fn issuing_drops_tokens_expired_on_the_monotonic_clock() {
    let mut tokens = PurgeTokens::default();
    tokens.issue(OWNER, "c1", clocks(0, 0), SECRET);
    // Two minutes later on the monotonic clock, an hour earlier on the wall.
    tokens.issue(OWNER, "c1", clocks(-HOUR, PURGE_TOKEN_MILLIS), [1; 32]);
    assert_eq!(tokens.len(), 1, "the expired token was kept");
}

// ---------------------------------------------------------------------------------------------
// Timebound expiry stays on the wall clock, across its steps (docs/DECISIONS.md)

fn timebound_contract(until: i64) -> Registry {
    let mut registry = registry_in(BoundaryMode::Trusted);
    active_contract(
        &mut registry,
        OWNER,
        ContractKind::Episodic,
        &timebound_patch(at(until)),
        "tb",
        at(0),
    );
    registry
}

fn creation(registry: &Registry, now: i64) -> Code {
    registry
        .check(
            CheckKind::MemoryCreation,
            &naming(req(OWNER, "email", "work", MemoryClass::Public), "tb"),
            at(now),
        )
        .code
}

#[test]
fn a_wall_clock_step_past_a_timebound_end_expires_the_contract_at_once() {
    let mut registry = timebound_contract(HOUR);
    assert_eq!(creation(&registry, 1_000), Code::Allowed);
    // The wall clock jumps a day ahead: checks deny at once, before any sweep.
    assert_eq!(creation(&registry, DAY), Code::Expired);
    assert_eq!(registry.next_expiry(), Some(at(HOUR)));
    let change = registry
        .plan_expire_due(at(DAY))
        .expect("the end has passed");
    registry.apply(change);
    assert_eq!(state(&registry, "tb"), ContractState::Expired);
}

#[test]
fn a_wall_clock_step_back_does_not_revive_an_expired_contract() {
    let mut registry = timebound_contract(HOUR);
    let change = registry
        .plan_expire_due(at(DAY))
        .expect("the end has passed");
    registry.apply(change);
    // The wall clock goes back to before the end: Expired is terminal.
    assert_eq!(creation(&registry, 1_000), Code::NotActive);
    assert_eq!(state(&registry, "tb"), ContractState::Expired);
    assert!(registry.plan_expire_due(at(1_000)).is_none());
    assert_eq!(registry.next_expiry(), None);
    let e = err(registry.plan_activate(&owner_confirmed(), "tb", at(1_000)));
    assert!(matches!(e, CoreError::InvalidState { .. }), "{e:?}");
}

#[test]
fn a_wall_clock_step_back_before_the_end_moves_the_expiry_with_the_wall_clock() {
    let registry = timebound_contract(HOUR);
    // Back an hour, before the end was reached: the contract is still in its term, and its end
    // is still the instant the owner agreed to.
    assert_eq!(creation(&registry, -HOUR), Code::Allowed);
    assert!(registry.plan_expire_due(at(-HOUR)).is_none());
    assert_eq!(registry.next_expiry(), Some(at(HOUR)));
    assert_eq!(creation(&registry, HOUR), Code::Expired);
}

#[test]
fn the_monotonic_clock_never_goes_back() {
    let mut last = Monotonic::now();
    for _ in 0..1_000 {
        let next = Monotonic::now();
        assert!(next >= last, "{next} after {last}");
        last = next;
    }
    let both = Now::read();
    assert!(both.mono >= last);
}
