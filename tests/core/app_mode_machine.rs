//! A state-machine property test of the mode keeper (`app::mode`), on a real SQLite store whose
//! commits the test makes fail by holding the write lock from another connection, and with the
//! source's readings in its hands. Random interleavings of readings (with links coming up, for
//! the tripwire), supervisor steps, commits that fail, the store recovering, the clock moving,
//! EnterLockdown, ReleaseLockdown, SetOverride, ClearOverride, sessions opened with a bound
//! contract and ended, and restarts. After every step:
//! - checks and gates are never judged looser than the newest reading combined with the latch
//!   (or a tripwire not yet committed) and the override;
//! - a committed latch means the committed mode is locked;
//! - the units' wish (what the announcer tells the reconciler) is frozen exactly while the
//!   committed mode is LOCKDOWN;
//! - a failed commit changes nothing, and everything acknowledged is there after a restart;
//! - a session contract whose session end was acknowledged stays expired, restarts included;
//! - with the store writable and the settle time past, a step commits the newest reading.

use learning_contracts::app::mode::{ModeKeeper, commit_mode, take_reading};
use learning_contracts::core::mode::{combine_mode, recall_gate};
use learning_contracts::core::{
    Actor, BoundaryMode, Caller, EffectiveMode, Event, MemoryClass, Timestamp,
};
use learning_contracts::ledger::Ledger;
use learning_contracts::source::detect::rules::{Judgement, TripwireConfig};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const SETTLE_MS: i64 = 1000;
const OWNER: u32 = 1000;

#[derive(Clone, Debug)]
enum Op {
    Reading(EffectiveMode, bool),
    Step,
    /// The supervisor decides from what it sees now; its job waits behind the writer.
    Decide,
    /// The waiting job runs, whatever committed meanwhile.
    CommitDecided,
    Advance(i64),
    BlockStore,
    UnblockStore,
    EnterLockdown,
    ReleaseLockdown,
    SetOverride(BoundaryMode),
    ClearOverride,
    /// An agent opens a session and binds a new session contract of the owner to it.
    OpenSession,
    /// The oldest open session ends (its agent left, or ended it).
    EndSession,
    Restart,
}

fn any_mode() -> impl Strategy<Value = EffectiveMode> {
    prop_oneof![
        Just(EffectiveMode::Unknown),
        (0u8..6).prop_map(|w| EffectiveMode::Known(BoundaryMode::from_wire(w).unwrap())),
    ]
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any_mode(), prop::bool::weighted(0.2)).prop_map(|(m, up)| Op::Reading(m, up)),
        6 => Just(Op::Step),
        2 => Just(Op::Decide),
        2 => Just(Op::CommitDecided),
        3 => (0i64..2500).prop_map(Op::Advance),
        2 => Just(Op::BlockStore),
        2 => Just(Op::UnblockStore),
        1 => Just(Op::EnterLockdown),
        2 => Just(Op::ReleaseLockdown),
        1 => (0u8..5).prop_map(|w| Op::SetOverride(BoundaryMode::from_wire(w).unwrap())),
        1 => Just(Op::ClearOverride),
        2 => Just(Op::OpenSession),
        2 => Just(Op::EndSession),
        1 => Just(Op::Restart),
    ]
}

fn admin() -> Actor {
    Actor {
        caller: Caller::uid(0),
        uid: 0,
        admin: true,
        confirmed: false,
    }
}

fn judgement(link_up: bool) -> Judgement {
    Judgement {
        predicates: Default::default(),
        links_up: if link_up {
            vec!["eth0".into()]
        } else {
            Vec::new()
        },
        links_present: if link_up {
            vec!["eth0 veth 02:00:00:00:00:01".into()]
        } else {
            Vec::new()
        },
        removable_media: Vec::new(),
        route_out_is_vpn: false,
    }
}

/// The daemon as the test drives it: the ledger on a real file, the keeper, the clock, and a
/// second connection that holds the write lock while the store is "failing".
struct Machine {
    path: PathBuf,
    ledger: Option<Ledger>,
    keeper: ModeKeeper,
    monotonic: i64,
    blocker: Option<rusqlite::Connection>,
    /// The newest reading the source gave this process.
    reading: Option<EffectiveMode>,
    /// What the announcer last told the unit reconciler.
    units_frozen: Option<bool>,
    /// The host record as of the last acknowledged commit.
    acknowledged: learning_contracts::core::HostState,
    /// A decision whose writer job has not run yet.
    decided: Option<Option<EffectiveMode>>,
    /// Open sessions and the contract bound to each, oldest first.
    sessions: Vec<(String, String)>,
    /// Session contracts whose session end was acknowledged: expired for good.
    ended: Vec<String>,
    next_id: u32,
}

impl Machine {
    fn open(path: &Path) -> Machine {
        let mut ledger = Ledger::open(path, Timestamp::from_millis(1)).unwrap().0;
        ledger.set_busy_timeout(Duration::ZERO).unwrap();
        let acknowledged = ledger.registry().host().clone();
        Machine {
            path: path.to_path_buf(),
            ledger: Some(ledger),
            keeper: ModeKeeper::new(SETTLE_MS),
            monotonic: 0,
            blocker: None,
            reading: None,
            units_frozen: None,
            acknowledged,
            decided: None,
            sessions: Vec::new(),
            ended: Vec::new(),
            next_id: 0,
        }
    }

    fn ledger(&mut self) -> &mut Ledger {
        self.ledger.as_mut().unwrap()
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_000_000 + self.monotonic)
    }

    /// Whatever committed: its announcements reach the units, and its host record is what a
    /// restart must find.
    fn committed(&mut self, events: &[Event]) {
        let registry = self.ledger.as_ref().unwrap().registry();
        if events
            .iter()
            .any(|e| matches!(e, Event::ModeChanged { .. }))
        {
            self.units_frozen =
                Some(registry.mode() == EffectiveMode::Known(BoundaryMode::Lockdown));
        }
        self.acknowledged = registry.host().clone();
    }

    fn decide(&mut self) -> Option<EffectiveMode> {
        let monotonic = Timestamp::from_millis(self.monotonic);
        let ledger = self.ledger.as_ref().unwrap();
        self.keeper.decide(&ledger.registry(), monotonic)
    }

    fn step(&mut self) -> bool {
        let settled = self.decide();
        self.commit(settled)
    }

    fn commit(&mut self, settled: Option<EffectiveMode>) -> bool {
        let now = self.now();
        let ledger = self.ledger.as_mut().unwrap();
        let before = ledger.registry().host().clone();
        match commit_mode(ledger, settled, "test reading", now) {
            Ok(events) => {
                self.committed(&events);
                true
            }
            Err(_) => {
                // A failed commit leaves nothing half applied (a latch that committed before
                // the mode step failed is acknowledged by the events it had).
                let host = self.ledger().registry().host().clone();
                assert!(
                    host == before || host.lockdown.is_some() && before.lockdown.is_none(),
                    "a failed commit changed the host record"
                );
                self.acknowledged = host;
                false
            }
        }
    }

    fn admin_change(
        &mut self,
        plan: impl FnOnce(
            &learning_contracts::core::Registry,
            Timestamp,
        ) -> Result<
            learning_contracts::core::Change,
            learning_contracts::core::CoreError,
        >,
    ) {
        let now = self.now();
        let before = self.ledger().registry().host().clone();
        match self.ledger().run(|registry| plan(registry, now)) {
            Ok(events) => self.committed(&events),
            Err(_) => assert_eq!(
                self.ledger().registry().host(),
                &before,
                "a refused or failed admin change left a trace"
            ),
        }
        // The bus handler wakes the supervisor.
        self.step();
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Reading(mode, link_up) => {
                self.reading = Some(*mode);
                let judgement = judgement(*link_up);
                take_reading(
                    &mut self.ledger().shared_registry().write(),
                    *mode,
                    Some(&judgement),
                    &TripwireConfig::default(),
                );
            }
            Op::Step => {
                self.step();
            }
            Op::Decide => {
                if self.decided.is_none() {
                    self.decided = Some(self.decide());
                }
            }
            Op::CommitDecided => {
                if let Some(settled) = self.decided.take() {
                    self.commit(settled);
                }
            }
            Op::Advance(ms) => self.monotonic += ms,
            Op::BlockStore => {
                if self.blocker.is_none() {
                    let blocker = rusqlite::Connection::open(&self.path).unwrap();
                    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
                    self.blocker = Some(blocker);
                }
            }
            Op::UnblockStore => {
                if let Some(blocker) = self.blocker.take() {
                    blocker.execute_batch("ROLLBACK").unwrap();
                }
                // The recovery probe, then the supervisor is woken.
                self.ledger().probe_store();
                self.step();
            }
            Op::EnterLockdown => {
                self.admin_change(|r, now| r.plan_enter_lockdown(&admin(), "drill", now))
            }
            Op::ReleaseLockdown => {
                self.admin_change(|r, now| r.plan_release_lockdown(&admin(), "over", now))
            }
            Op::SetOverride(mode) => {
                let mode = *mode;
                self.admin_change(move |r, now| r.plan_set_override(&admin(), mode, "test", now))
            }
            Op::ClearOverride => self.admin_change(|r, now| r.plan_clear_override(&admin(), now)),
            Op::OpenSession => self.open_session(),
            Op::EndSession => {
                if self.sessions.is_empty() {
                    return;
                }
                let (session, contract) = self.sessions[0].clone();
                let now = self.now();
                let ended = self.ledger().run(|registry| {
                    registry.plan_end_session(None, &session, "the agent left", now)
                });
                if let Ok(events) = ended {
                    self.committed(&events);
                    self.sessions.remove(0);
                    self.ended.push(contract);
                }
            }
            Op::Restart => {
                if let Some(blocker) = self.blocker.take() {
                    blocker.execute_batch("ROLLBACK").unwrap();
                }
                drop(self.ledger.take());
                let acknowledged = self.acknowledged.clone();
                let ended = std::mem::take(&mut self.ended);
                let sessions = std::mem::take(&mut self.sessions);
                let next_id = self.next_id;
                *self = Machine::open(&self.path.clone());
                self.next_id = next_id;
                // Sessions die with the process: their contracts expired at the restart.
                self.ended = ended;
                self.ended
                    .extend(sessions.into_iter().map(|(_, contract)| contract));
                let host = self.ledger().registry().host().clone();
                assert_eq!(
                    host.lockdown.is_some(),
                    acknowledged.lockdown.is_some(),
                    "the latch after a restart"
                );
                assert_eq!(
                    host.mode_override, acknowledged.mode_override,
                    "the override after a restart"
                );
                assert_eq!(host.paused_all, acknowledged.paused_all);
            }
        }
    }

    /// Opens a session for the owner and binds a new, active session contract to it; every
    /// step must be acknowledged for the session to count.
    fn open_session(&mut self) {
        use learning_contracts::core::{ContractKind, Name, Now, RetentionKind, SessionLimits};
        self.next_id += 1;
        let contract = format!("c{:05}", self.next_id);
        let session = format!("s{:05}", self.next_id);
        let now = self.now();
        let mono = learning_contracts::core::Monotonic::from_millis(self.monotonic);
        let owner = Actor {
            caller: Caller::uid(OWNER),
            uid: OWNER,
            admin: false,
            confirmed: true,
        };
        let patch = learning_contracts::core::SpecPatch {
            domains: Some(vec![Name::parse("email").unwrap()]),
            contexts: Some(vec![Name::parse("*").unwrap()]),
            retention: Some(RetentionKind::Session),
            ..Default::default()
        };
        let steps: [&dyn Fn(&learning_contracts::core::Registry) -> _; 5] = [
            &|r| {
                r.plan_create_draft(
                    &owner,
                    ContractKind::Episodic,
                    &patch,
                    contract.clone(),
                    now,
                )
            },
            &|r| r.plan_submit(&owner, &contract, now),
            &|r| r.plan_activate(&owner, &contract, now),
            &|r| {
                r.plan_open_session(
                    &Caller::uid(OWNER),
                    OWNER,
                    session.clone(),
                    SessionLimits {
                        per_owner: 1000,
                        per_connection: 1000,
                    },
                    Now { wall: now, mono },
                )
            },
            &|r| r.plan_bind(&owner, &session, &contract, now),
        ];
        for step in steps {
            match self.ledger().run(step) {
                Ok(events) => self.committed(&events),
                Err(_) => return,
            }
        }
        self.sessions.push((session, contract));
    }

    fn check_invariants(&mut self, op: &Op) {
        let registry = self.ledger.as_ref().unwrap().registry();
        // An acknowledged session end expired its contract, for good, restarts included.
        for id in &self.ended {
            if let Some(contract) = registry.contract(id) {
                assert_eq!(
                    contract.state,
                    learning_contracts::core::ContractState::Expired,
                    "after {op:?}: contract {id} of an ended session is {:?}",
                    contract.state
                );
            }
        }
        let host = registry.host();
        let committed = registry.mode();
        let latched = host.lockdown.is_some() || registry.pending_latch().is_some();
        // Never looser than the newest reading, the latch or the override.
        let floor = self.reading.map(|reading| {
            combine_mode(
                reading,
                host.mode_override.as_ref().map(|o| o.mode),
                latched,
            )
        });
        for class in MemoryClass::ALL {
            let gate = registry.recall_gate(class);
            if !gate.allowed {
                continue;
            }
            assert!(
                recall_gate(committed, class).allowed,
                "after {op:?}: class {class} allowed beyond the committed mode {committed}"
            );
            if let Some(floor) = floor {
                assert!(
                    recall_gate(floor, class).allowed,
                    "after {op:?}: class {class} allowed beyond the newest reading's mode {floor}"
                );
            }
            assert!(
                !latched,
                "after {op:?}: class {class} allowed while latched"
            );
        }
        if host.lockdown.is_some() {
            assert!(
                committed.is_locked(),
                "after {op:?}: latched but the committed mode is {committed}"
            );
        }
        if let Some(frozen) = self.units_frozen {
            assert_eq!(
                frozen,
                committed == EffectiveMode::Known(BoundaryMode::Lockdown),
                "after {op:?}: the units' wish does not match the committed mode {committed}"
            );
        }
    }

    /// With the store writable and the settle time past, the supervisor converges.
    fn converge(&mut self) {
        if let Some(blocker) = self.blocker.take() {
            blocker.execute_batch("ROLLBACK").unwrap();
        }
        self.ledger().probe_store();
        for _ in 0..3 {
            self.monotonic += SETTLE_MS + 1;
            assert!(self.step(), "a step failed on a writable store");
        }
        let registry = self.ledger.as_ref().unwrap().registry();
        if let Some(newest) = registry.newest_mode() {
            assert_eq!(
                registry.mode(),
                newest,
                "the committed mode never reached the newest reading"
            );
        }
    }
}

proptest! {
    #![proptest_config(crate::common::proptest_config(48))]

    #[test]
    fn the_mode_is_never_looser_than_the_newest_reading_latch_or_override(
        ops in prop::collection::vec(any_op(), 1..40)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut machine = Machine::open(&dir.path().join("contracts.db"));
        for op in &ops {
            machine.apply(op);
            machine.check_invariants(op);
        }
        machine.converge();
        machine.check_invariants(&Op::Step);
    }
}
