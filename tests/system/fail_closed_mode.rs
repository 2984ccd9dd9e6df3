//! The effective mode on a bad day, on a real bus with the real daemon: a mode change that
//! cannot be committed is retried until it commits and checks deny meanwhile (review F1); a
//! tripwire judges the first reading after a restart against the mode committed before it (F7);
//! and LOCKDOWN from any source writes the high-priority journal entry (F16).

use crate::common::bus::*;
use crate::common::fake_boundary_daemon::{FAKE_TOKEN, FakeBoundaryDaemon};
use crate::common::mount_fixtures::{
    SmallStateDisk, fill, in_private_mount_namespace, loop_tools_available,
};
use crate::common::netns::NetNs;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use zbus::OwnedVariant;

/// The lockdown entry's MESSAGE_ID (src/app/journal.rs).
const MESSAGE_LOCKDOWN: &str = "6f3c1a0e2b7d4f55a1c9e8d7b6a50004";

fn boundary_daemon_config(fake: &FakeBoundaryDaemon) -> String {
    format!(
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"boundary-daemon\"\nsettle_time_ms = 0\n[mode.boundary_daemon]\nsocket = \"{}\"\npoll_interval_ms = 50\ntimeout_ms = 200\nmax_backoff_ms = 200\ntoken = \"{FAKE_TOKEN}\"\npush_lockdown = false\n[limits]\nstore_min_free_bytes = 0\n",
        fake.socket().display()
    )
}

async fn mode_now(client: &zbus::Connection) -> String {
    String::try_from(boundary_property(client, "Mode").await).unwrap()
}

async fn wait_for_mode(client: &zbus::Connection, mode: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = mode_now(client).await;
        if now == mode {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the mode is {now}, expected {mode} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn active_contract(owner: &zbus::Connection, kind: &str) -> String {
    let mut spec: HashMap<String, OwnedVariant> = HashMap::new();
    spec.insert("domains".into(), variant(vec!["coding"]));
    spec.insert("contexts".into(), variant(vec!["work"]));
    spec.insert("retention".into(), variant("permanent"));
    let id: String = call_daemon(owner, "Contracts1", "CreateDraft", &(kind, spec))
        .await
        .unwrap();
    let () = call_daemon(owner, "Contracts1", "Submit", &(id.as_str(),))
        .await
        .unwrap();
    let () = call_daemon(owner, "Contracts1", "Activate", &(id.as_str(),))
        .await
        .unwrap();
    id
}

/// A class-3 creation check and the class-3 recall gate: both allowed in AIRGAP, both denied
/// in LOCKDOWN.
async fn class3_allowed(owner: &zbus::Connection) -> (bool, bool) {
    let mut request: HashMap<String, OwnedVariant> = HashMap::new();
    request.insert("domain".into(), variant("coding"));
    request.insert("context".into(), variant("work"));
    request.insert("classification".into(), variant(3u8));
    let check: (bool, String, String, String) =
        call_daemon(owner, "Enforcement1", "CheckMemoryCreation", &(request,))
            .await
            .unwrap();
    let gate: (bool, String, String) = call_daemon(owner, "Enforcement1", "RecallGate", &(3u8,))
        .await
        .unwrap();
    (check.0, gate.0)
}

#[test]
fn a_lockdown_that_cannot_be_committed_denies_at_once_and_commits_when_the_store_recovers() {
    let name =
        "a_lockdown_that_cannot_be_committed_denies_at_once_and_commits_when_the_store_recovers";
    if !require_root(name) || !loop_tools_available(name) {
        return;
    }
    in_private_mount_namespace(name, || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(uncommitted_lockdown());
    });
}

async fn uncommitted_lockdown() {
    let disk = SmallStateDisk::mount();
    let (root, state) = (&disk.root, &disk.state);

    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("airgap");
    let bus = TestBus::start();
    let daemon = DaemonProcess::start_in(&bus, &boundary_daemon_config(&fake), root.path(), &[]);
    let owner = connect_as(&bus, users().owner, &[]).await;
    wait_for_mode(&owner, "AIRGAP", Duration::from_secs(5)).await;
    let _contract = active_contract(&owner, "episodic").await;
    assert_eq!(class3_allowed(&owner).await, (true, true));

    // The disk fills; the Boundary Daemon then says lockdown. The change cannot be committed.
    let filler_path = state.join("filler");
    let filler = fill(&filler_path);
    fake.set_mode("lockdown");
    // Give the daemon several polls (50 ms each) to read it and fail its commit.
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let (check, gate) = class3_allowed(&owner).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        // A poll may still be in flight right after the switch; after 300 ms none may allow.
        if Instant::now() + Duration::from_millis(1200) < until {
            continue;
        }
        assert!(
            !check && !gate,
            "class 3 was allowed while the newest reading is LOCKDOWN (check {check}, gate {gate})\n{}",
            daemon.log()
        );
    }

    // Space returns, with the Boundary Daemon still in lockdown: the change must commit by
    // itself, and nothing may be allowed on the way.
    drop(filler);
    std::fs::remove_file(&filler_path).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (check, gate) = class3_allowed(&owner).await;
        assert!(
            !check && !gate,
            "class 3 was allowed after space returned while the Boundary Daemon says lockdown (check {check}, gate {gate})\n{}",
            daemon.log()
        );
        if mode_now(&owner).await == "LOCKDOWN" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the LOCKDOWN reading was never committed after space returned; the mode is {}\n{}",
            mode_now(&owner).await,
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And it holds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mode_now(&owner).await, "LOCKDOWN");
    assert_eq!(class3_allowed(&owner).await, (false, false));
}

fn detect_config() -> String {
    "[authorization]\nmode = \"unix\"\n\n[mode]\nsource = \"detect\"\nsettle_time_ms = 0\n\n[mode.detect.tripwires]\nlink_up_while_isolated = true\n".to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_brought_up_while_the_daemon_was_down_latches_lockdown_at_start() {
    if !require_root("a_link_brought_up_while_the_daemon_was_down_latches_lockdown_at_start") {
        return;
    }
    let ns = NetNs::new();
    ns.ip(&[
        "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
    ]);
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let prefix = ["ip", "netns", "exec", ns.name.as_str()];
    for stop in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        let mut daemon =
            DaemonProcess::start_with(&bus, &detect_config(), root.path(), &[], &prefix);
        let admin = connect_as(&bus, 0, &[0]).await;
        if stop == nix::sys::signal::Signal::SIGKILL {
            // The second round starts latched from the first: release it, with the link down.
            wait_for_mode(&admin, "LOCKDOWN", Duration::from_secs(5)).await;
            ns.ip(&["link", "set", "eth1", "down"]);
            ns.ip(&["link", "set", "eth0", "down"]);
            let () = call_daemon(&admin, "Boundary1", "ReleaseLockdown", &("cable removed",))
                .await
                .unwrap();
        }
        wait_for_mode(&admin, "AIRGAP", Duration::from_secs(5)).await;
        daemon.signal(stop);
        daemon.wait_exit();
        drop(daemon);

        // While the daemon is down, a link comes up.
        ns.ip(&["link", "set", "eth1", "up"]);
        ns.ip(&["link", "set", "eth0", "up"]);

        let daemon = DaemonProcess::start_with(&bus, &detect_config(), root.path(), &[], &prefix);
        let owner = connect_as(&bus, users().owner, &[]).await;
        wait_for_mode(&owner, "LOCKDOWN", Duration::from_secs(5)).await;
        let latched = bool::try_from(boundary_property(&owner, "Lockdown").await).unwrap();
        assert!(
            latched,
            "after {stop}: a link up at start in a host last AIRGAP must latch\n{}",
            daemon.log()
        );
        let reason = String::try_from(boundary_property(&owner, "LockdownReason").await).unwrap();
        assert!(reason.contains("AIRGAP"), "{reason}");
    }
}

/// Lines of the daemon's log that are the high-priority lockdown entry.
fn lockdown_entries(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("ERROR") && line.contains(MESSAGE_LOCKDOWN))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockdown_from_the_boundary_daemon_or_the_static_config_writes_the_high_priority_entry() {
    if !require_root(
        "lockdown_from_the_boundary_daemon_or_the_static_config_writes_the_high_priority_entry",
    ) {
        return;
    }
    let bus = TestBus::start();

    // The Boundary Daemon's mode, then its latch.
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("airgap");
    let daemon = DaemonProcess::start(&bus, &boundary_daemon_config(&fake));
    let client = connect_as(&bus, 0, &[0]).await;
    wait_for_mode(&client, "AIRGAP", Duration::from_secs(5)).await;
    assert_eq!(lockdown_entries(&daemon.log()), 0, "{}", daemon.log());
    fake.set_mode("lockdown");
    wait_for_mode(&client, "LOCKDOWN", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        lockdown_entries(&daemon.log()),
        1,
        "a Boundary Daemon lockdown wrote no high-priority entry:\n{}",
        daemon.log()
    );
    fake.set_mode("airgap");
    wait_for_mode(&client, "AIRGAP", Duration::from_secs(5)).await;
    fake.set_latch(Some("tripwire: usb"));
    wait_for_mode(&client, "LOCKDOWN", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        lockdown_entries(&daemon.log()),
        2,
        "the Boundary Daemon's latch wrote no high-priority entry:\n{}",
        daemon.log()
    );
    drop(daemon);

    // A static LOCKDOWN.
    let mut daemon = DaemonProcess::start(&bus, &static_config("LOCKDOWN", ""));
    let client = connect_as(&bus, 0, &[0]).await;
    wait_for_mode(&client, "LOCKDOWN", Duration::from_secs(5)).await;
    daemon.stop();
    assert_eq!(
        lockdown_entries(&daemon.log()),
        1,
        "a static LOCKDOWN wrote no high-priority entry:\n{}",
        daemon.log()
    );
}
