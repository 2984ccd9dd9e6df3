//! A load on the real daemon: concurrent agents checking and registering memories while the
//! Boundary Daemon flips the mode and an admin enters and releases LOCKDOWN. Every decision is
//! recorded with the mode it names ("… in mode X") and with the mode changes its connection
//! had seen when the answer arrived, and then proven: no check was allowed in a mode that
//! forbade it, none while UNKNOWN or LOCKDOWN, and every denial has a reason of the boundary.
//! Used by tests/system/stress_load.rs (a smaller load, in CI) and benches/load.rs (the full load).

#![allow(dead_code)]

use super::bus::*;
use super::fake_boundary_daemon::{Behaviour, FAKE_TOKEN, FakeBoundaryDaemon};
use futures_util::StreamExt;
use learning_contracts::core::{BoundaryMode, EffectiveMode};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use zbus::OwnedVariant;

/// How big a load.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    /// Concurrent agent connections.
    pub agents: usize,
    /// Checks each agent makes.
    pub checks_per_agent: usize,
    /// Memory registrations each agent makes, spread among its checks.
    pub registrations_per_agent: usize,
    /// Mode changes the Boundary Daemon makes during the load (at least).
    pub flips: usize,
    /// How often an admin enters and releases LOCKDOWN during the load.
    pub lockdowns: usize,
}

/// The contracts each owner holds, one per required mode, each allowed whenever its mode
/// permits.
#[derive(Clone, Debug)]
struct Target {
    contract_id: String,
    domain: &'static str,
    context: &'static str,
    required: BoundaryMode,
}

const TARGETS: [(&str, &str, &str, BoundaryMode); 4] = [
    ("procedural", "coding", "work", BoundaryMode::Open),
    ("strategic", "planning", "work", BoundaryMode::Trusted),
    ("episodic", "journal", "home", BoundaryMode::Airgap),
    ("episodic", "secrets", "vault", BoundaryMode::Coldroom),
];

/// The Boundary Daemon's modes the flipper cycles through; every few flips the source fails
/// (UNKNOWN) instead.
const CYCLE: [&str; 5] = ["open", "trusted", "coldroom", "restricted", "airgap"];

/// One answer an agent got.
#[derive(Clone, Debug)]
pub struct Decision {
    /// CheckMemoryCreation, CheckRecall, CheckAbstraction or RegisterMemory.
    pub method: &'static str,
    target: usize,
    pub allowed: bool,
    pub code: String,
    pub reason: String,
    /// Round trip.
    pub latency: Duration,
    /// The reply's serial number on its connection, to place it among the signals.
    reply_to: u32,
}

/// What the load did and how fast.
#[derive(Debug)]
pub struct LoadReport {
    pub plan: LoadPlan,
    pub wall: Duration,
    pub checks: usize,
    pub registrations: usize,
    pub allowed: usize,
    pub allowed_registrations: usize,
    pub mode_changes: usize,
    /// Allowed decisions, by the mode they name.
    pub allowed_by_mode: HashMap<String, usize>,
    /// Denials, by code.
    pub denied_by_code: HashMap<String, usize>,
    pub check_latencies: Vec<Duration>,
    pub registration_latencies: Vec<Duration>,
}

impl LoadReport {
    /// The `q`-quantile (0..=1) of sorted latencies.
    pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let index = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[index]
    }

    /// A few lines for people.
    pub fn summary(&self) -> String {
        let per_second = |n: usize| n as f64 / self.wall.as_secs_f64();
        format!(
            "{} agents: {} checks and {} registrations in {:.2} s ({:.0} checks/s, {:.0} registrations/s), {} mode changes\n\
             check latency p50 {:?} p99 {:?} max {:?}; registration p50 {:?} p99 {:?}\n\
             allowed {} (registrations {}), by mode {:?}; denied by code {:?}",
            self.plan.agents,
            self.checks,
            self.registrations,
            self.wall.as_secs_f64(),
            per_second(self.checks),
            per_second(self.registrations),
            self.mode_changes,
            Self::quantile(&self.check_latencies, 0.5),
            Self::quantile(&self.check_latencies, 0.99),
            self.check_latencies.last().copied().unwrap_or_default(),
            Self::quantile(&self.registration_latencies, 0.5),
            Self::quantile(&self.registration_latencies, 0.99),
            self.allowed,
            self.allowed_registrations,
            self.allowed_by_mode,
            self.denied_by_code,
        )
    }
}

/// The daemon's configuration for the load: the fake Boundary Daemon polled every 10 ms.
/// The full-size load registers thousands of memories per uid a minute: the per-uid write
/// rate is lifted, because this measures throughput, not the limit.
pub fn load_config(fake: &FakeBoundaryDaemon) -> String {
    format!(
        "[authorization]\nmode = \"unix\"\n[limits]\nmax_owner_writes_per_minute = 4000000000\n[mode]\nsource = \"boundary-daemon\"\nsettle_time_ms = 0\n[mode.boundary_daemon]\nsocket = \"{}\"\npoll_interval_ms = 10\ntimeout_ms = 200\nmax_backoff_ms = 20\ntoken = \"{FAKE_TOKEN}\"\npush_lockdown = false\n",
        fake.socket().display()
    )
}

async fn call<B, R>(conn: &zbus::Connection, interface: &str, method: &str, body: &B) -> R
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    call_daemon(conn, interface, method, body)
        .await
        .unwrap_or_else(|err| panic!("{interface}.{method}: {err}"))
}

/// Creates and activates the owner's four contracts.
async fn contracts_for(bus: &TestBus, owner: u32) -> Vec<Target> {
    let conn = connect_as(bus, owner, &[]).await;
    let mut targets = Vec::new();
    for (kind, domain, context, required) in TARGETS {
        let mut spec: HashMap<String, OwnedVariant> = HashMap::new();
        spec.insert("domains".into(), variant(vec![domain]));
        spec.insert("contexts".into(), variant(vec![context]));
        spec.insert("retention".into(), variant("permanent"));
        spec.insert("required_mode".into(), variant(required.name()));
        spec.insert("classification_cap".into(), variant(1u8));
        let id: String = call(&conn, "Contracts1", "CreateDraft", &(kind, spec)).await;
        let () = call(&conn, "Contracts1", "Submit", &(id.as_str(),)).await;
        let () = call(&conn, "Contracts1", "Activate", &(id.as_str(),)).await;
        targets.push(Target {
            contract_id: id,
            domain,
            context,
            required,
        });
    }
    targets
}

/// What one connection received, in order: a mode change (its new mode) or the answer to a
/// call (its serial).
#[derive(Debug)]
enum Arrival {
    Mode { old: String, new: String },
    Reply(u32),
}

/// Records every message the connection receives, in order, until `done`.
fn record_arrivals(
    conn: &zbus::Connection,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Arrival>> {
    let mut stream = zbus::MessageStream::from(conn);
    tokio::spawn(async move {
        let mut arrivals = Vec::new();
        loop {
            let next = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
            let message = match next {
                Ok(Some(Ok(message))) => message,
                Ok(Some(Err(_))) => continue,
                Ok(None) => break,
                Err(_) if done.load(Ordering::SeqCst) => break,
                Err(_) => continue,
            };
            let header = message.header();
            match message.message_type() {
                zbus::message::Type::Signal
                    if header
                        .member()
                        .is_some_and(|m| m.as_str() == "ModeSwitched") =>
                {
                    let (old, new, _reason): (String, String, String) =
                        message.body().deserialize().unwrap();
                    arrivals.push(Arrival::Mode { old, new });
                }
                zbus::message::Type::MethodReturn | zbus::message::Type::Error => {
                    if let Some(serial) = header.reply_serial() {
                        arrivals.push(Arrival::Reply(serial.get()));
                    }
                }
                _ => {}
            }
        }
        arrivals
    })
}

async fn subscribe_to_mode_changes(conn: &zbus::Connection) {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface("org.learningcontracts.Boundary1")
        .member("ModeSwitched")
        .path(PATH)
        .build()
        .unwrap();
    zbus::fdo::DBusProxy::new(conn)
        .await
        .unwrap()
        .add_match_rule(rule)
        .await
        .unwrap();
}

/// One agent: `checks` checks with `registrations` RegisterMemory calls spread among them,
/// cycling through the owner's contracts and the three checks.
async fn agent(
    conn: zbus::Connection,
    targets: Vec<Target>,
    checks: usize,
    registrations: usize,
    agent_index: usize,
) -> (Vec<Decision>, Vec<Arrival>) {
    let done = Arc::new(AtomicBool::new(false));
    subscribe_to_mode_changes(&conn).await;
    let arrivals = record_arrivals(&conn, done.clone());
    let every = (checks / registrations.max(1)).max(1);
    let mut decisions = Vec::with_capacity(checks + registrations);
    let mut registered = 0;
    for i in 0..checks {
        let target_index = (i + agent_index) % targets.len();
        let target = &targets[target_index];
        let mut request: HashMap<String, OwnedVariant> = HashMap::new();
        request.insert("domain".into(), variant(target.domain));
        request.insert("context".into(), variant(target.context));
        request.insert("classification".into(), variant(1u8));
        request.insert("contract_id".into(), variant(target.contract_id.as_str()));
        let method = match (i / targets.len()) % 3 {
            0 => "CheckMemoryCreation",
            1 => "CheckRecall",
            _ => {
                request.insert("abstraction".into(), variant("raw"));
                "CheckAbstraction"
            }
        };
        decisions.push(decide(&conn, method, target_index, &request).await);
        if registered < registrations && i % every == every - 1 {
            registered += 1;
            request.remove("abstraction");
            decisions.push(decide(&conn, "RegisterMemory", target_index, &request).await);
        }
    }
    done.store(true, Ordering::SeqCst);
    (decisions, arrivals.await.unwrap())
}

async fn decide(
    conn: &zbus::Connection,
    method: &'static str,
    target: usize,
    request: &HashMap<String, OwnedVariant>,
) -> Decision {
    let started = Instant::now();
    let reply = conn
        .call_method(
            Some(BUS_NAME),
            PATH,
            Some("org.learningcontracts.Enforcement1"),
            method,
            &(request,),
        )
        .await
        .unwrap_or_else(|err| panic!("{method}: {err}"));
    let latency = started.elapsed();
    let reply_to = reply.header().reply_serial().unwrap().get();
    let (allowed, code, reason) = if method == "RegisterMemory" {
        let (allowed, code, reason, _contract, _memory): (bool, String, String, String, String) =
            reply.body().deserialize().unwrap();
        (allowed, code, reason)
    } else {
        let (allowed, code, reason, _contract): (bool, String, String, String) =
            reply.body().deserialize().unwrap();
        (allowed, code, reason)
    };
    Decision {
        method,
        target,
        allowed,
        code,
        reason,
        latency,
        reply_to,
    }
}

/// The mode an allowed answer names: "… in mode X."
fn named_mode(reason: &str) -> Option<EffectiveMode> {
    let (_, tail) = reason.rsplit_once(" in mode ")?;
    EffectiveMode::parse(tail.trim_end_matches('.'))
}

/// Denial codes that say the boundary (or a suspension for it) decided; with the contracts
/// of this load, nothing else may deny.
const BOUNDARY_CODES: &[&str] = &["lockdown", "boundary_unknown", "suspended", "boundary_mode"];

/// Proves the rules over one agent's answers, panicking with the first violation.
fn prove(agent: usize, targets: &[Target], decisions: &[Decision], arrivals: &[Arrival]) {
    // The modes this connection saw, in order, and for each reply how many changes came first.
    let mut timeline: Vec<String> = Vec::new();
    let mut seen_before: HashMap<u32, usize> = HashMap::new();
    for arrival in arrivals {
        match arrival {
            Arrival::Mode { old, new } => {
                if timeline.is_empty() {
                    timeline.push(old.clone());
                }
                timeline.push(new.clone());
            }
            Arrival::Reply(serial) => {
                seen_before.insert(*serial, timeline.len().saturating_sub(1));
            }
        }
    }
    for decision in decisions {
        let target = &targets[decision.target];
        if !decision.allowed {
            assert!(
                BOUNDARY_CODES.contains(&decision.code.as_str()),
                "agent {agent}: {} on {} denied for a reason other than the boundary: {} {}",
                decision.method,
                target.contract_id,
                decision.code,
                decision.reason
            );
            continue;
        }
        let mode = named_mode(&decision.reason).unwrap_or_else(|| {
            panic!(
                "agent {agent}: an allowed answer names no mode: {}",
                decision.reason
            )
        });
        let EffectiveMode::Known(known) = mode else {
            panic!("agent {agent}: allowed while UNKNOWN: {}", decision.reason);
        };
        assert_ne!(
            known,
            BoundaryMode::Lockdown,
            "agent {agent}: allowed in LOCKDOWN: {}",
            decision.reason
        );
        assert!(
            known >= target.required,
            "agent {agent}: {} allowed in {known}, but contract {} needs {} or more isolated",
            decision.method,
            target.contract_id,
            target.required
        );
        // The named mode is one the connection saw around the answer: the change before, the
        // one in force, or the next (a change applies a moment before its signal goes out).
        if let Some(&k) = seen_before.get(&decision.reply_to)
            && !timeline.is_empty()
        {
            let around: Vec<&str> = timeline[k.saturating_sub(1)..(k + 2).min(timeline.len())]
                .iter()
                .map(String::as_str)
                .collect();
            assert!(
                around.contains(&known.name()),
                "agent {agent}: allowed in {known}, but the modes around the answer were {around:?}"
            );
        }
    }
}

/// Runs the load and proves it. Needs root (private bus, other uids).
pub fn run_load(plan: LoadPlan) -> LoadReport {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run_load_async(plan))
}

async fn run_load_async(plan: LoadPlan) -> LoadReport {
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("coldroom");
    let bus = TestBus::start();
    let daemon = DaemonProcess::start(&bus, &load_config(&fake));
    let admin = connect_as(&bus, 0, &[0]).await;
    wait_for_mode(&admin, "COLDROOM").await;

    let owners = [
        users().owner,
        users().other,
        users().agent,
        users().group_admin,
    ];
    let mut targets_of = HashMap::new();
    for owner in owners {
        targets_of.insert(owner, contracts_for(&bus, owner).await);
    }
    let mut connections = Vec::new();
    for index in 0..plan.agents {
        let owner = owners[index % owners.len()];
        connections.push((index, owner, connect_as(&bus, owner, &[]).await));
    }

    // The admin counts every mode change it sees.
    subscribe_to_mode_changes(&admin).await;
    let admin_done = Arc::new(AtomicBool::new(false));
    let admin_arrivals = record_arrivals(&admin, admin_done.clone());

    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let mut agents = Vec::new();
    for (index, owner, conn) in connections {
        let targets = targets_of[&owner].clone();
        let (checks, registrations) = (plan.checks_per_agent, plan.registrations_per_agent);
        agents.push(tokio::spawn(async move {
            (
                index,
                owner,
                agent(conn, targets, checks, registrations, index).await,
            )
        }));
    }

    // The flipper: the Boundary Daemon's mode changes, a failure (UNKNOWN) every seventh flip,
    // and the admin's LOCKDOWN now and then; each waits until the daemon has applied it.
    let flipper = {
        let admin = admin.clone();
        let running = running.clone();
        let plan = plan.clone();
        tokio::spawn(async move {
            let lockdown_every = (plan.flips / plan.lockdowns.max(1)).max(1);
            let mut flips = 0;
            let mut lockdowns = 0;
            let mut i = 0;
            while flips < plan.flips || running.load(Ordering::SeqCst) {
                i += 1;
                let expected = if i % 7 == 0 {
                    fake.set_behaviour(Behaviour::Garbage);
                    "UNKNOWN".to_string()
                } else {
                    fake.set_behaviour(Behaviour::Answer);
                    let mode = CYCLE[i % CYCLE.len()];
                    fake.set_mode(mode);
                    mode.to_uppercase()
                };
                wait_for_mode(&admin, &expected).await;
                flips += 1;
                tokio::time::sleep(Duration::from_millis(15)).await;
                if lockdowns < plan.lockdowns && flips % lockdown_every == 0 {
                    lockdowns += 1;
                    let () = call(&admin, "Boundary1", "EnterLockdown", &("load test",)).await;
                    wait_for_mode(&admin, "LOCKDOWN").await;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let () =
                        call(&admin, "Boundary1", "ReleaseLockdown", &("load test over",)).await;
                    flips += 2;
                }
                if flips >= plan.flips * 4 {
                    break;
                }
            }
            fake.set_behaviour(Behaviour::Answer);
            (flips, lockdowns, fake)
        })
    };

    let mut report = LoadReport {
        plan: plan.clone(),
        wall: Duration::ZERO,
        checks: 0,
        registrations: 0,
        allowed: 0,
        allowed_registrations: 0,
        mode_changes: 0,
        allowed_by_mode: HashMap::new(),
        denied_by_code: HashMap::new(),
        check_latencies: Vec::new(),
        registration_latencies: Vec::new(),
    };
    let mut results = Vec::new();
    for handle in agents {
        results.push(handle.await.unwrap());
    }
    report.wall = started.elapsed();
    running.store(false, Ordering::SeqCst);
    let (flips, lockdowns, _fake) = flipper.await.unwrap();
    admin_done.store(true, Ordering::SeqCst);
    let admin_arrivals = admin_arrivals.await.unwrap();
    report.mode_changes = admin_arrivals
        .iter()
        .filter(|a| matches!(a, Arrival::Mode { .. }))
        .count();
    assert!(flips >= plan.flips, "only {flips} flips were made");
    assert_eq!(lockdowns, plan.lockdowns, "lockdowns entered");

    for (index, owner, (decisions, arrivals)) in &results {
        prove(*index, &targets_of[owner], decisions, arrivals);
        for decision in decisions {
            if decision.method == "RegisterMemory" {
                report.registrations += 1;
                report.registration_latencies.push(decision.latency);
                report.allowed_registrations += usize::from(decision.allowed);
            } else {
                report.checks += 1;
                report.check_latencies.push(decision.latency);
            }
            if decision.allowed {
                report.allowed += 1;
                if let Some(EffectiveMode::Known(mode)) = named_mode(&decision.reason) {
                    *report
                        .allowed_by_mode
                        .entry(mode.name().to_string())
                        .or_default() += 1;
                }
            } else {
                *report
                    .denied_by_code
                    .entry(decision.code.clone())
                    .or_default() += 1;
            }
        }
    }
    report.check_latencies.sort();
    report.registration_latencies.sort();
    // The load really crossed the modes: answers were allowed, and denied by the boundary.
    assert!(
        report.allowed > 0,
        "nothing was allowed: {}",
        report.summary()
    );
    assert!(
        report.denied_by_code.contains_key("lockdown"),
        "no answer came during LOCKDOWN: {}",
        report.summary()
    );
    drop(daemon);
    report
}

/// Waits until Boundary1.Mode reads `mode`.
pub async fn wait_for_mode(conn: &zbus::Connection, mode: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = String::try_from(boundary_property(conn, "Mode").await).unwrap();
        if now == mode {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the mode stayed {now}, not {mode}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
