//! Startup and idle memory of the real daemon binary with a full store: 1,000 and 100,000
//! Active contracts with their lifecycle's audit records, filled through the library's ledger
//! in a temp dir. Each round spawns the
//! daemon on a private system bus with NOTIFY_SOCKET pointing at a datagram socket this bench
//! reads, and times spawn → `READY=1` (READY is sent once the store is loaded, the name owned
//! and the first mode reading in). After the last round it waits for the daemon to settle
//! and reads VmRSS and VmHWM from /proc. Prints min, median and max. Needs root (the bus
//! policy). Numbers: benches/README.md.

#[path = "../tests/common/bus.rs"]
mod bus;
#[path = "../tests/common/stored.rs"]
mod stored;
use stored::active_contract;

use bus::*;
use learning_contracts::core::{Caller, Change, ContractKind, Name, Scope, Timestamp};
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};
use ulid::Ulid;

const ROUNDS: usize = 9;

/// `count` Active contracts across 1,000 owners and 20 domains, as an agent-heavy host has,
/// with ULID ids and the three audit records the lifecycle writes for each (created,
/// submitted, activated, by a caller on the bus): the integrity check reads the audit log too.
fn seed_store(state_dir: &Path, count: usize) {
    std::fs::create_dir_all(state_dir).unwrap();
    let now = Timestamp::now();
    let (mut ledger, _) =
        learning_contracts::ledger::Ledger::open(&state_dir.join("contracts.db"), now).unwrap();
    let domains: Vec<Name> = (0..20)
        .map(|n| Name::parse(&format!("domain-{n}")).unwrap())
        .collect();
    let any = Name::parse("*").unwrap();
    let kinds = [
        ContractKind::Episodic,
        ContractKind::Procedural,
        ContractKind::Strategic,
    ];
    for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
        let mut change = Change::at(now);
        let ids: Vec<String> = chunk.iter().map(|_| Ulid::new().to_string()).collect();
        for (&n, id) in chunk.iter().zip(&ids) {
            let owner = 1000 + (n % 1000) as u32;
            let caller = Caller {
                uid: Some(owner),
                pid: Some(4000 + n as u32 % 30_000),
                bus_name: Some(format!(":1.{}", 100 + n)),
            };
            let kind = kinds[n % kinds.len()].as_str();
            let created = json!({"kind": kind, "owner": owner, "system": false});
            let activated = json!({"confirmed": true, "admin": false, "supersedes": null});
            change.audit(&caller, "contract.create", Some(id), created);
            change.audit(&caller, "contract.submit", Some(id), json!({}));
            change.audit(&caller, "contract.activate", Some(id), activated);
        }
        change.contracts = chunk
            .iter()
            .zip(ids)
            .map(|(&n, id)| {
                let scope = Scope {
                    domains: vec![domains[n % domains.len()].clone()],
                    contexts: vec![any.clone()],
                    tools: vec![],
                };
                let owner = 1000 + (n % 1000) as u32;
                let description = format!("contract number {n}");
                active_contract(id, owner, kinds[n % kinds.len()], scope, description, now)
            })
            .collect();
        ledger.commit(change).unwrap();
    }
}

/// Spawns the daemon and waits for READY=1 on `notify`; returns it and the time taken.
fn start(bus: &TestBus, root: &Path, notify: &UnixDatagram) -> (DaemonProcess, Duration) {
    let started = Instant::now();
    let notify_path = notify.local_addr().unwrap();
    let notify_path = notify_path.as_pathname().unwrap().to_str().unwrap();
    let mut daemon = DaemonProcess::spawn_with(
        bus,
        &static_config("AIRGAP", ""),
        root,
        &[("NOTIFY_SOCKET", notify_path)],
        &[],
    );
    let mut buf = [0u8; 4096];
    loop {
        match notify.recv(&mut buf) {
            Ok(len) => {
                if String::from_utf8_lossy(&buf[..len])
                    .lines()
                    .any(|line| line == "READY=1")
                {
                    return (daemon, started.elapsed());
                }
            }
            Err(err) => {
                daemon.stop();
                panic!("no READY=1 ({err}):\n{}", daemon.log());
            }
        }
    }
}

fn kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn measure(bus: &TestBus, count: usize) {
    let root = tempfile::tempdir().unwrap();
    let seeding = Instant::now();
    seed_store(&root.path().join("state"), count);
    println!(
        "{count} contracts: store filled in {:.1} s ({} MiB)",
        seeding.elapsed().as_secs_f64(),
        std::fs::metadata(root.path().join("state/contracts.db"))
            .unwrap()
            .len()
            / (1024 * 1024)
    );
    let notify_path = root.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut times = Vec::new();
    let mut last = None;
    for round in 0..ROUNDS {
        let (mut daemon, took) = start(bus, root.path(), &notify);
        times.push(took);
        if round + 1 == ROUNDS {
            last = Some(daemon);
        } else {
            daemon.stop();
        }
    }
    times.sort();
    println!(
        "{count} contracts: spawn → READY=1 min {:.1} ms, median {:.1} ms, max {:.1} ms ({ROUNDS} starts)",
        ms(times[0]),
        ms(times[ROUNDS / 2]),
        ms(times[ROUNDS - 1])
    );
    let mut daemon = last.unwrap();
    let pid = daemon.child.id();
    // Idle: the startup work is done and nothing calls.
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "{count} contracts: idle VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        kib(pid, "VmRSS") as f64 / 1024.0,
        kib(pid, "VmHWM") as f64 / 1024.0
    );
    daemon.stop();
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped the startup benchmark: needs root");
        return;
    }
    let bus = TestBus::start();
    for count in [1_000, 100_000] {
        measure(&bus, count);
    }
}
