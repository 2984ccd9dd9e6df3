//! Many agents at once while the mode flips and an admin enters and releases LOCKDOWN: every
//! decision is proven against the mode it was made in (tests/common/load.rs). A smaller load
//! than `cargo bench --bench load`, which runs the full one and reports its speed.

use crate::common::bus::require_root;
use crate::common::load::{LoadPlan, run_load};

#[test]
fn no_check_is_allowed_in_a_mode_that_forbids_it_under_load() {
    if !require_root("no_check_is_allowed_in_a_mode_that_forbids_it_under_load") {
        return;
    }
    let report = run_load(LoadPlan {
        agents: 32,
        checks_per_agent: 300,
        registrations_per_agent: 15,
        flips: 30,
        lockdowns: 3,
    });
    println!("{}", report.summary());
    assert_eq!(report.checks, 32 * 300);
    assert_eq!(report.registrations, 32 * 15);
    assert!(report.mode_changes >= 30, "{}", report.summary());
    // Answers were allowed in more than one mode, so the proof covered several.
    assert!(report.allowed_by_mode.len() >= 2, "{}", report.summary());
}
