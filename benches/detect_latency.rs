//! From `ip link set wg0 down` in the daemon's network namespace to the ModeChanged signal on
//! the bus, and to the ContractsSuspended signal that says all 10,000 strategic contracts are
//! suspended (it is sent only after the change is committed). 100 rounds; prints p50, p99
//! and max. Needs root (network namespaces, the bus policy). Numbers: benches/README.md.

#[path = "../tests/common/bus.rs"]
mod bus;
#[path = "../tests/common/netns.rs"]
mod netns;
#[path = "../tests/common/stored.rs"]
mod stored;
use stored::active_contract;

use bus::*;
use futures_util::StreamExt;
use learning_contracts::core::{Change, ContractKind, Name, Scope, Timestamp};
use std::process::Command;
use std::time::{Duration, Instant};

const CONTRACTS: usize = 10_000;
const ROUNDS: usize = 100;

fn seed_store(state_dir: &std::path::Path) {
    std::fs::create_dir_all(state_dir).unwrap();
    let now = Timestamp::now();
    let (mut ledger, _) =
        learning_contracts::ledger::Ledger::open(&state_dir.join("contracts.db"), now).unwrap();
    let mut change = Change::at(now);
    change.contracts = (0..CONTRACTS)
        .map(|n| {
            let scope = Scope {
                domains: vec![Name::parse("work").unwrap()],
                contexts: vec![Name::parse("*").unwrap()],
                tools: vec![],
            };
            let id = format!("strategic-{n:05}");
            let owner = 1000 + (n % 100) as u32;
            active_contract(
                id,
                owner,
                ContractKind::Strategic,
                scope,
                String::new(),
                now,
            )
        })
        .collect();
    ledger.commit(change).unwrap();
}

fn ip(ns: &str, args: &[&str]) {
    let status = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "ip {args:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} rounds)",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        samples.len()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped the detect latency benchmark: needs root");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ns = netns::NetNs::new();
    ns.add_ethernet();
    ns.add_tun("wg0");
    ns.ip(&["link", "set", "wg0", "up"]);
    ns.ip(&["route", "add", "default", "dev", "wg0"]);
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    seed_store(&root.path().join("state"));
    let config =
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"detect\"\nsettle_time_ms = 0\n";
    let _daemon = DaemonProcess::start_with(
        &bus,
        config,
        root.path(),
        &[],
        &["ip", "netns", "exec", ns.name.as_str()],
    );
    runtime.block_on(async {
        let client = connect_as(&bus, 0, &[0]).await;
        // ContractsSuspended is addressed to listening connections only; this one only listens.
        assert!(subscribe(&client).await, "root listens as an admin");
        let boundary = Boundary1Proxy::new(&client).await.unwrap();
        let mut switches = boundary.receive_mode_switched().await.unwrap();
        let mut suspended = boundary.receive_contracts_suspended().await.unwrap();
        let wait_mode = |mode: &'static str| {
            let boundary = boundary.clone();
            async move {
                for _ in 0..500 {
                    if boundary
                        .inner()
                        .get_property::<String>("Mode")
                        .await
                        .unwrap()
                        == mode
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("mode never became {mode}");
            }
        };
        wait_mode("TRUSTED").await;
        let mut to_signal = Vec::new();
        let mut to_suspended = Vec::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            ip(&ns.name, &["link", "set", "wg0", "down"]);
            loop {
                let signal = switches.next().await.unwrap();
                if signal.args().unwrap().new() == &"RESTRICTED" {
                    to_signal.push(started.elapsed());
                    break;
                }
            }
            loop {
                let signal = suspended.next().await.unwrap();
                if signal.args().unwrap().ids().len() == CONTRACTS {
                    to_suspended.push(started.elapsed());
                    break;
                }
            }
            ip(&ns.name, &["link", "set", "wg0", "up"]);
            ip(&ns.name, &["route", "add", "default", "dev", "wg0"]);
            loop {
                let signal = switches.next().await.unwrap();
                if signal.args().unwrap().new() == &"TRUSTED" {
                    break;
                }
            }
        }
        report("ip link set wg0 down → ModeChanged", to_signal);
        report(
            "ip link set wg0 down → ContractsSuspended (10,000 contracts, committed)",
            to_suspended,
        );
    });
}
