//! The full load of issue 7: 32 agents, each making 10,000 checks and 500 memory
//! registrations, while the Boundary Daemon flips the mode at least 100 times and an admin
//! enters and releases LOCKDOWN 5 times. Every decision is proven against the mode it was made
//! in (tests/common/load.rs); then throughput and latency are printed. Needs root. Numbers:
//! benches/README.md.
//!
//! `cargo bench --bench load` (LOAD_CHECKS / LOAD_AGENTS override the size).

#[path = "../tests/common/mod.rs"]
mod common;

use common::load::{LoadPlan, run_load};

fn from_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this once as a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    if !nix::unistd::geteuid().is_root() {
        eprintln!("benches/load.rs needs root (a private system bus and other uids); skipped");
        return;
    }
    let plan = if smoke {
        LoadPlan {
            agents: 4,
            checks_per_agent: 50,
            registrations_per_agent: 5,
            flips: 5,
            lockdowns: 1,
        }
    } else {
        LoadPlan {
            agents: from_env("LOAD_AGENTS", 32),
            checks_per_agent: from_env("LOAD_CHECKS", 10_000),
            registrations_per_agent: 500,
            flips: 100,
            lockdowns: 5,
        }
    };
    let report = run_load(plan);
    println!("{}", report.summary());
}
