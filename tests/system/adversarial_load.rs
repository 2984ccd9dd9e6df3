//! A hostile local user, CI-sized: a stranger keeps 128 calls in flight on each of four
//! connections (Audit1.Verify, denied checks, drafts, session open/end) for 16 s while an owner
//! checks and registers memories and an admin enters LOCKDOWN (tests/common/adversary.rs).
//! What must hold: the admin's LOCKDOWN takes effect while the stranger's calls are still
//! outstanding, and no owner check is allowed after it; the owner is never denied by the
//! boundary while the mode allows the contract, and every registration it makes is
//! acknowledged; the stranger adds at most 1 MiB to the store in the run (under a minute; its
//! writes are limited per minute); the watchdog is never withheld for a whole interval; the
//! daemon stops cleanly afterwards. Latency numbers come from the full-size run in
//! benches/adversarial.rs.

use crate::common::adversary::{AdversaryPlan, run_adversary};
use crate::common::bus::require_root;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_with_512_calls_in_flight_cannot_delay_lockdown_or_grow_the_store() {
    if !require_root("a_stranger_with_512_calls_in_flight_cannot_delay_lockdown_or_grow_the_store")
    {
        return;
    }
    let watchdog = Duration::from_secs(2);
    let report = run_adversary(AdversaryPlan {
        in_flight: 128,
        at_the_bus_itself: false,
        load: Duration::from_secs(16),
        unloaded_checks: 200,
        registrations: 100,
        watchdog,
    })
    .await;
    println!("{}", report.summary());
    assert!(
        matches!(report.clean_stop, Some((true, _))),
        "the daemon did not stop cleanly after the load: {:?}\n{}",
        report.clean_stop,
        report.log
    );
    assert!(
        report.stranger_busy_at_lockdown,
        "the stranger's calls were not outstanding when LOCKDOWN showed: the test proved nothing"
    );
    assert!(
        report.stranger_replies.values().all(|n| *n > 0),
        "a stranger connection got no answer at all: {:?}",
        report.stranger_replies
    );
    assert_eq!(report.allowed_after_lockdown, 0, "{}", report.summary());
    assert!(
        report.wrong_denials.is_empty(),
        "{:?}",
        report.wrong_denials
    );
    assert!(
        report.registered > 0 && report.registered == report.registrations.len(),
        "the owner's registrations were not all acknowledged\n{}",
        report.summary()
    );
    // The run is shorter than a minute, and the stranger's writes are limited per minute: what
    // it added in the run is at most what it could add in its first minute.
    let stranger_bytes = report.store_growth - report.owner_growth;
    assert!(
        stranger_bytes <= 1024 * 1024,
        "the stranger grew the store by {stranger_bytes} bytes in {:?}\n{}",
        report.elapsed,
        report.summary()
    );
    assert!(
        report.watchdog_max_gap < watchdog,
        "the watchdog went unpinged for {:?} (interval {watchdog:?})\n{}",
        report.watchdog_max_gap,
        report.summary()
    );
}
