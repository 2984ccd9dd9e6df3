//! The hostile local user of issue 12: a stranger uid keeps `in_flight` calls outstanding on
//! each of four raw connections (Audit1.Verify, denied checks, drafts, session open/end) while
//! an owner checks and registers memories and an admin enters LOCKDOWN. The run reports what
//! the other users saw: the owner's check latencies unloaded and loaded, how long LOCKDOWN took
//! to show, how much the store grew and how much of it was the stranger's, the watchdog's
//! largest gap, and any denial that named the boundary while the mode allowed the contract.
//! tests/system/adversarial_load.rs runs it small and asserts the behaviour; benches/adversarial.rs
//! runs it full size and prints the numbers.

#![allow(dead_code)]

use super::bus::*;
use super::raw::{Enc, RawClient, Reply, check_body, dict_body};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zbus::OwnedVariant;

/// How big a run is.
#[derive(Clone, Debug)]
pub struct AdversaryPlan {
    /// Calls the stranger keeps outstanding on each connection.
    pub in_flight: usize,
    /// The stranger's four connections call the bus daemon itself (`GetId`) instead of this
    /// service: the control for what no service on the bus can prevent.
    pub at_the_bus_itself: bool,
    /// How long the stranger's load lasts, LOCKDOWN entered halfway.
    pub load: Duration,
    /// Owner checks timed without load.
    pub unloaded_checks: usize,
    /// Memories the owner registers during the load (before LOCKDOWN).
    pub registrations: usize,
    /// The watchdog interval given to the daemon.
    pub watchdog: Duration,
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct AdversaryReport {
    /// Replies the stranger got, per connection kind.
    pub stranger_replies: BTreeMap<&'static str, u64>,
    /// Error names the stranger got, with counts.
    pub stranger_errors: BTreeMap<String, u64>,
    /// The owner's check latencies without load.
    pub unloaded: Vec<Duration>,
    /// The owner's check latencies under load, before LOCKDOWN.
    pub loaded: Vec<Duration>,
    /// The owner's registrations that were acknowledged.
    pub registered: usize,
    /// How long each of the owner's registrations under load took.
    pub registrations: Vec<Duration>,
    /// Owner decisions that named the boundary (or LOCKDOWN) while the mode allowed them.
    pub wrong_denials: Vec<String>,
    /// From the admin's EnterLockdown call to its reply.
    pub lockdown_reply: Duration,
    /// From the call until the Mode property read LOCKDOWN.
    pub lockdown_mode: Duration,
    /// From the call until an owner check was denied with `lockdown`.
    pub lockdown_checks: Duration,
    /// Whether the stranger still had calls outstanding when LOCKDOWN showed.
    pub stranger_busy_at_lockdown: bool,
    /// Owner checks after LOCKDOWN that were not denied with `lockdown`.
    pub allowed_after_lockdown: usize,
    /// Bytes the store grew during the load, in all.
    pub store_growth: i64,
    /// Of which the owner's registrations (measured per registration before the load).
    pub owner_growth: i64,
    /// Audit records written during the load.
    pub audit_records: u64,
    /// How long the load lasted.
    pub elapsed: Duration,
    /// The largest gap between two watchdog pings during the load.
    pub watchdog_max_gap: Duration,
    /// Watchdog pings seen during the load.
    pub watchdog_pings: usize,
    /// Whether the daemon exited 0 after SIGTERM, and how long it took; none if it had not
    /// exited after 30 s.
    pub clean_stop: Option<(bool, Duration)>,
    /// The daemon's log.
    pub log: String,
}

/// A quantile of sorted durations.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

impl AdversaryReport {
    /// The stranger's share of the store's growth, per minute of load.
    pub fn stranger_growth_per_minute(&self) -> f64 {
        let stranger = (self.store_growth - self.owner_growth).max(0) as f64;
        stranger * 60.0 / self.elapsed.as_secs_f64().max(0.001)
    }

    /// p99 of the owner's checks under load over p99 unloaded.
    pub fn p99_ratio(&self) -> f64 {
        let mut unloaded = self.unloaded.clone();
        let mut loaded = self.loaded.clone();
        unloaded.sort();
        loaded.sort();
        quantile(&loaded, 0.99).as_secs_f64() / quantile(&unloaded, 0.99).as_secs_f64().max(1e-9)
    }

    /// A few lines for a person.
    pub fn summary(&self) -> String {
        let mut unloaded = self.unloaded.clone();
        let mut loaded = self.loaded.clone();
        let mut registrations = self.registrations.clone();
        unloaded.sort();
        loaded.sort();
        registrations.sort();
        format!(
            "stranger replies {:?}; errors {:?}\n\
             owner check p50/p99 unloaded {:?}/{:?}, loaded {:?}/{:?} over {} checks (p99 ratio {:.2}); {} registered (p50/p99 {:?}/{:?})\n\
             LOCKDOWN: reply {:?}, Mode {:?}, checks denying {:?}; stranger busy then: {}\n\
             store +{} bytes in {:.1} s (owner {}), stranger {:.0} bytes/min; {} audit records\n\
             watchdog: {} pings, largest gap {:?}; wrong denials {}; stop {:?}",
            self.stranger_replies,
            self.stranger_errors,
            quantile(&unloaded, 0.5),
            quantile(&unloaded, 0.99),
            quantile(&loaded, 0.5),
            quantile(&loaded, 0.99),
            loaded.len(),
            self.p99_ratio(),
            self.registered,
            quantile(&registrations, 0.5),
            quantile(&registrations, 0.99),
            self.lockdown_reply,
            self.lockdown_mode,
            self.lockdown_checks,
            self.stranger_busy_at_lockdown,
            self.store_growth,
            self.elapsed.as_secs_f64(),
            self.owner_growth,
            self.stranger_growth_per_minute(),
            self.audit_records,
            self.watchdog_pings,
            self.watchdog_max_gap,
            self.wrong_denials.len(),
            self.clean_stop,
        )
    }
}

#[derive(Clone, Copy, Debug)]
enum Flood {
    Verify,
    DeniedChecks,
    Drafts,
    Sessions,
    BusItself,
}

impl Flood {
    fn name(self) -> &'static str {
        match self {
            Flood::Verify => "verify",
            Flood::DeniedChecks => "denied-checks",
            Flood::Drafts => "drafts",
            Flood::Sessions => "sessions",
            Flood::BusItself => "bus-itself",
        }
    }

    fn send(self, client: &mut RawClient, session: Option<String>) -> u32 {
        match self {
            Flood::Verify => client.call_daemon("org.learningcontracts.Audit1", "Verify", "", &[]),
            Flood::BusItself => client.call(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "GetId",
                "",
                &[],
            ),
            Flood::DeniedChecks => client.call_daemon(
                "org.learningcontracts.Enforcement1",
                "CheckMemoryCreation",
                "a{sv}",
                &check_body("coding", "work", |_| {}),
            ),
            Flood::Drafts => {
                let mut enc = Enc::default();
                enc.str("episodic");
                enc.dict(|e| {
                    e.entry("domains", "as", |e| e.array(4, |e| e.str("coding")));
                    e.entry("contexts", "as", |e| e.array(4, |e| e.str("work")));
                    e.entry("retention", "s", |e| e.str("permanent"));
                });
                client.call_daemon(
                    "org.learningcontracts.Contracts1",
                    "CreateDraft",
                    "sa{sv}",
                    &enc.buf,
                )
            }
            Flood::Sessions => match session {
                Some(id) => {
                    let mut enc = Enc::default();
                    enc.str(&id);
                    client.call_daemon("org.learningcontracts.Sessions1", "End", "s", &enc.buf)
                }
                None => client.call_daemon(
                    "org.learningcontracts.Sessions1",
                    "Open",
                    "a{sv}",
                    &dict_body(|_| {}),
                ),
            },
        }
    }
}

struct Stranger {
    replies: AtomicU64,
    outstanding: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// One connection of the stranger: `in_flight` calls outstanding until `stop`.
fn flood(
    bus_socket: &TestBus,
    uid: u32,
    kind: Flood,
    in_flight: usize,
    stop: Arc<AtomicBool>,
    stats: Arc<Stranger>,
) -> std::thread::JoinHandle<()> {
    let mut client = RawClient::connect(bus_socket, uid);
    std::thread::spawn(move || {
        client.set_read_timeout(Duration::from_secs(30));
        let mut opened: HashMap<u32, ()> = HashMap::new();
        for _ in 0..in_flight {
            let serial = kind.send(&mut client, None);
            opened.insert(serial, ());
        }
        stats
            .outstanding
            .fetch_add(in_flight as u64, Ordering::SeqCst);
        while !stop.load(Ordering::SeqCst) {
            let Ok((_, reply, first)) = client.next_reply() else {
                break;
            };
            stats.replies.fetch_add(1, Ordering::Relaxed);
            let session = match (&reply, kind) {
                (Reply::Return, Flood::Sessions) => first,
                (Reply::Error(name, _), _) => {
                    *stats
                        .errors
                        .lock()
                        .unwrap()
                        .entry(name.clone())
                        .or_default() += 1;
                    None
                }
                _ => None,
            };
            kind.send(&mut client, session);
        }
        stats
            .outstanding
            .fetch_sub(in_flight as u64, Ordering::SeqCst);
        client.close();
    })
}

/// Collects the daemon's watchdog pings.
fn watch_pings(
    socket: UnixDatagram,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Instant>> {
    std::thread::spawn(move || {
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut pings = Vec::new();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::SeqCst) {
            if let Ok(n) = socket.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "WATCHDOG=1")
            {
                pings.push(Instant::now());
            }
        }
        pings
    })
}

fn store_bytes(state_dir: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        state_dir.join("contracts.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    pages * size
}

fn check_request() -> HashMap<String, OwnedVariant> {
    let mut request = HashMap::new();
    request.insert("domain".to_string(), variant("coding"));
    request.insert("context".to_string(), variant("work"));
    request.insert("classification".to_string(), variant(2u8));
    request
}

async fn owner_check(owner: &zbus::Connection) -> ((bool, String, String, String), Duration) {
    let started = Instant::now();
    let decision: (bool, String, String, String) = call_daemon(
        owner,
        "Enforcement1",
        "CheckMemoryCreation",
        &(check_request(),),
    )
    .await
    .unwrap();
    (decision, started.elapsed())
}

async fn register(owner: &zbus::Connection, contract: &str, n: usize) -> bool {
    let mut request = check_request();
    request.insert("contract_id".into(), variant(contract));
    request.insert("memory_id".into(), variant(format!("owner-mem-{n}")));
    let reply: zbus::Result<(bool, String, String, String, String)> =
        call_daemon(owner, "Enforcement1", "RegisterMemory", &(request,)).await;
    matches!(reply, Ok((true, ..)))
}

async fn head_seq(admin: &zbus::Connection) -> u64 {
    let proxy = zbus::fdo::PropertiesProxy::builder(admin)
        .destination(BUS_NAME)
        .path(PATH)
        .build()
        .await
        .unwrap();
    let value = proxy
        .get(
            zbus::names::InterfaceName::from_static_str_unchecked("org.learningcontracts.Audit1"),
            "HeadSeq",
        )
        .await
        .unwrap();
    u64::try_from(value).unwrap()
}

/// Runs the scenario; needs root.
pub async fn run_adversary(plan: AdversaryPlan) -> AdversaryReport {
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let notify_dir = tempfile::tempdir().unwrap();
    let notify_path = notify_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let watchdog_usec = plan.watchdog.as_micros().to_string();
    let mut daemon = DaemonProcess::start_with(
        &bus,
        &static_config("AIRGAP", ""),
        root.path(),
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            ("WATCHDOG_USEC", &watchdog_usec),
        ],
        &[],
    );
    let users = users();
    let owner = connect_as(&bus, users.owner, &[]).await;
    let admin = connect_as(&bus, 0, &[0]).await;
    let mut report = AdversaryReport::default();

    let mut spec: HashMap<String, OwnedVariant> = HashMap::new();
    spec.insert("domains".into(), variant(vec!["coding"]));
    spec.insert("contexts".into(), variant(vec!["work"]));
    spec.insert("retention".into(), variant("permanent"));
    let contract: String = call_daemon(&owner, "Contracts1", "CreateDraft", &("episodic", spec))
        .await
        .unwrap();
    let () = call_daemon(&owner, "Contracts1", "Submit", &(contract.as_str(),))
        .await
        .unwrap();
    let () = call_daemon(&owner, "Contracts1", "Activate", &(contract.as_str(),))
        .await
        .unwrap();

    // Unloaded: the owner's checks, and what one registration adds to the store.
    for _ in 0..plan.unloaded_checks {
        let (decision, took) = owner_check(&owner).await;
        assert!(
            decision.0,
            "the owner's check was denied unloaded: {decision:?}"
        );
        report.unloaded.push(took);
    }
    let calibration = 50;
    let before = store_bytes(&daemon.state_dir);
    for n in 0..calibration {
        assert!(register(&owner, &contract, 1_000_000 + n).await);
    }
    let per_registration = (store_bytes(&daemon.state_dir) - before) as f64 / calibration as f64;

    // The stranger.
    let stop = Arc::new(AtomicBool::new(false));
    let pings = watch_pings(notify, Arc::clone(&stop));
    let seq_before = head_seq(&admin).await;
    let bytes_before = store_bytes(&daemon.state_dir);
    let started = Instant::now();
    let stats: Vec<(Flood, Arc<Stranger>)> = [
        Flood::Verify,
        Flood::DeniedChecks,
        Flood::Drafts,
        Flood::Sessions,
    ]
    .into_iter()
    .map(|kind| {
        if plan.at_the_bus_itself {
            Flood::BusItself
        } else {
            kind
        }
    })
    .map(|kind| {
        (
            kind,
            Arc::new(Stranger {
                replies: AtomicU64::new(0),
                outstanding: AtomicU64::new(0),
                errors: Mutex::new(BTreeMap::new()),
            }),
        )
    })
    .collect();
    let threads: Vec<_> = stats
        .iter()
        .map(|(kind, stats)| {
            flood(
                &bus,
                users.other,
                *kind,
                plan.in_flight,
                Arc::clone(&stop),
                Arc::clone(stats),
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The owner under load, until halfway.
    let halfway = started + plan.load / 2;
    let mut n = 0;
    while Instant::now() < halfway {
        let (decision, took) = owner_check(&owner).await;
        report.loaded.push(took);
        if !decision.0 {
            report
                .wrong_denials
                .push(format!("check in AIRGAP: {decision:?}"));
        }
        if n < plan.registrations {
            let started = Instant::now();
            let acknowledged = register(&owner, &contract, n).await;
            report.registrations.push(started.elapsed());
            if acknowledged {
                report.registered += 1;
            } else {
                report
                    .wrong_denials
                    .push(format!("registration {n} refused in AIRGAP"));
            }
            n += 1;
        }
    }

    // The admin's LOCKDOWN.
    let called = Instant::now();
    let () = call_daemon(&admin, "Boundary1", "EnterLockdown", &("drill under load",))
        .await
        .unwrap();
    report.lockdown_reply = called.elapsed();
    loop {
        let mode = String::try_from(boundary_property(&admin, "Mode").await).unwrap();
        if mode == "LOCKDOWN" {
            report.lockdown_mode = called.elapsed();
            break;
        }
        assert!(
            called.elapsed() < Duration::from_secs(30),
            "LOCKDOWN never showed"
        );
    }
    loop {
        let (decision, _) = owner_check(&owner).await;
        if decision.1 == "lockdown" {
            report.lockdown_checks = called.elapsed();
            break;
        }
        assert!(
            called.elapsed() < Duration::from_secs(30),
            "checks never denied"
        );
    }
    report.stranger_busy_at_lockdown = stats
        .iter()
        .all(|(_, s)| s.outstanding.load(Ordering::SeqCst) > 0);

    // The rest of the load: nothing of the owner's may be allowed now.
    while started.elapsed() < plan.load {
        let (decision, _) = owner_check(&owner).await;
        if decision.0 || decision.1 != "lockdown" {
            report.allowed_after_lockdown += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.store(true, Ordering::SeqCst);
    report.elapsed = started.elapsed();
    for thread in threads {
        let _ = thread.join();
    }
    report.audit_records = head_seq(&admin).await - seq_before;
    report.store_growth = store_bytes(&daemon.state_dir) - bytes_before;
    report.owner_growth = (per_registration * report.registered as f64) as i64;
    let pings = pings.join().unwrap();
    report.watchdog_pings = pings.len();
    let mut edges = vec![started];
    edges.extend(pings.iter().copied().filter(|p| *p >= started));
    edges.push(started + report.elapsed);
    report.watchdog_max_gap = edges
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .max()
        .unwrap_or_default();
    for (kind, stats) in &stats {
        *report.stranger_replies.entry(kind.name()).or_default() +=
            stats.replies.load(Ordering::Relaxed);
        for (name, count) in stats.errors.lock().unwrap().iter() {
            *report.stranger_errors.entry(name.clone()).or_default() += count;
        }
    }
    let stopping = Instant::now();
    let _ = nix::sys::signal::kill(daemon.pid(), nix::sys::signal::Signal::SIGTERM);
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            report.clean_stop = Some((status.success(), stopping.elapsed()));
            break;
        }
        if stopping.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    report.log = daemon.log();
    report
}
