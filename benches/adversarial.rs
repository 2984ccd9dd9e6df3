//! Issue 12's hostile local user at full size (tests/common/adversary.rs): a stranger keeps 128
//! calls in flight on each of four connections (Audit1.Verify, denied checks, drafts, session
//! open/end) for 60 s while an owner checks and registers memories and an admin enters LOCKDOWN
//! halfway. Prints how long LOCKDOWN took to show, the owner's check p99 loaded over unloaded,
//! the stranger's share of the store's growth per minute, and the watchdog's largest gap.
//! Needs root. Numbers: benches/README.md.
//!
//! `cargo bench --bench adversarial` (ADVERSARY_SECS overrides the length, ADVERSARY_IN_FLIGHT
//! the stranger's calls in flight per connection, 0 being the control run; ADVERSARY_AT_BUS=1
//! aims the same flood at the bus daemon itself).

#[path = "../tests/common/mod.rs"]
mod common;

use common::adversary::{AdversaryPlan, run_adversary};
use std::time::Duration;

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this once as a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "benches/adversarial.rs needs root (a private system bus and other uids); skipped"
        );
        return;
    }
    let secs = std::env::var("ADVERSARY_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 6 } else { 60 });
    // ADVERSARY_IN_FLIGHT=0 is the control: the same owner and admin with an idle stranger.
    let in_flight = std::env::var("ADVERSARY_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    let plan = AdversaryPlan {
        in_flight,
        at_the_bus_itself: std::env::var("ADVERSARY_AT_BUS").is_ok_and(|v| v == "1"),
        load: Duration::from_secs(secs),
        unloaded_checks: if smoke { 100 } else { 1000 },
        registrations: if smoke { 20 } else { 500 },
        watchdog: Duration::from_secs(2),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(run_adversary(plan));
    println!("{}", report.summary());
    println!(
        "targets: LOCKDOWN shown {:?} (≤ 100 ms), checks denying {:?}; owner p99 ratio {:.2} (≤ 5); stranger {:.0} KiB/min (≤ 1024); watchdog gap {:?} (< 2 s)",
        report.lockdown_mode,
        report.lockdown_checks,
        report.p99_ratio(),
        report.stranger_growth_per_minute() / 1024.0,
        report.watchdog_max_gap
    );
}
