//! Supervision on a bad day (issue 12, item 9): when a part the daemon relies on goes away
//! under it, the daemon does not linger half alive; it stops with a non-zero status, naming
//! what ended, so that systemd restarts it whole (`Restart=on-failure`).

use crate::common::bus::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_exits_with_status_1_when_the_bus_goes_away() {
    if !require_root("the_daemon_exits_with_status_1_when_the_bus_goes_away") {
        return;
    }
    let bus = TestBus::start();
    let mut daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    // The daemon answers before the bus goes.
    let owner = connect_as(&bus, users().owner, &[]).await;
    let (_, code, ..) = Enforcement1Proxy::new(&owner)
        .await
        .unwrap()
        .check_memory_creation(&check_request("coding", "work", 1))
        .await
        .unwrap();
    assert_eq!(code, "no_contract");

    nix::sys::signal::kill(bus.pid(), nix::sys::signal::Signal::SIGKILL).unwrap();
    let status = daemon.wait_exit();
    let log = daemon.log();
    assert_eq!(
        status.code(),
        Some(1),
        "the daemon must stop with status 1 when the bus goes away: {status:?}\n{log}"
    );
    assert!(
        log.contains("ended unexpectedly") || log.contains("panicked"),
        "the log names the task that ended:\n{log}"
    );
}
