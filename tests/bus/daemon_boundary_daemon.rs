//! The daemon with `source = "boundary-daemon"`, against the project's fake Boundary Daemon:
//! its modes become ours, its lockdown latch is LOCKDOWN even with an open mode, any failure
//! reads UNKNOWN with SourceHealthy false and clears by itself, and an admin lockdown is pushed
//! to it when configured.

use crate::common::bus::*;
use crate::common::cli::{contractctl, json, ok};
use crate::common::fake_boundary_daemon::{Behaviour, FAKE_TOKEN, FakeBoundaryDaemon};
use std::time::{Duration, Instant};

async fn property<T: TryFrom<zbus::OwnedVariant>>(client: &zbus::Connection, name: &str) -> T
where
    T::Error: std::fmt::Debug,
{
    let reply = client
        .call_method(
            Some(BUS_NAME),
            PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.learningcontracts.Boundary1", name),
        )
        .await
        .unwrap();
    T::try_from(reply.body().deserialize::<zbus::OwnedVariant>().unwrap()).unwrap()
}

async fn wait_for(client: &zbus::Connection, mode: &str, healthy: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now: String = property(client, "Mode").await;
        let health: bool = property(client, "SourceHealthy").await;
        if now == mode && health == healthy {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "mode {now} (healthy {health}), expected {mode} (healthy {healthy})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_boundary_daemon_decides_the_mode_and_its_failures_mean_unknown() {
    if !require_root("the_boundary_daemon_decides_the_mode_and_its_failures_mean_unknown") {
        return;
    }
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("airgap");
    let config = format!(
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"boundary-daemon\"\nsettle_time_ms = 0\n[mode.boundary_daemon]\nsocket = \"{}\"\npoll_interval_ms = 50\ntimeout_ms = 200\nmax_backoff_ms = 200\ntoken = \"{FAKE_TOKEN}\"\npush_lockdown = true\n",
        fake.socket().display()
    );
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &config);
    let client = connect_as(&bus, 0, &[0]).await;
    wait_for(&client, "AIRGAP", true).await;
    let source: String = property(&client, "Source").await;
    assert_eq!(source, "boundary-daemon");

    fake.set_mode("trusted");
    wait_for(&client, "TRUSTED", true).await;
    fake.set_mode("open");
    wait_for(&client, "OPEN", true).await;

    // The latch means LOCKDOWN even while its mode says open.
    fake.set_latch(Some("tripwire: usb"));
    wait_for(&client, "LOCKDOWN", true).await;
    fake.set_latch(None);
    wait_for(&client, "OPEN", true).await;

    // Any failure reads UNKNOWN, unhealthy, and clears by itself.
    fake.set_behaviour(Behaviour::Garbage);
    wait_for(&client, "UNKNOWN", false).await;
    fake.set_behaviour(Behaviour::Answer);
    wait_for(&client, "OPEN", true).await;
    fake.set_behaviour(Behaviour::Slow(Duration::from_millis(600)));
    wait_for(&client, "UNKNOWN", false).await;
    fake.set_behaviour(Behaviour::Answer);
    wait_for(&client, "OPEN", true).await;

    // An admin lockdown here is pushed to the Boundary Daemon too.
    Boundary1Proxy::new(&client)
        .await
        .unwrap()
        .enter_lockdown("incident drill")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pushed = fake.requests().iter().any(|request| {
            let text = String::from_utf8_lossy(request);
            text.contains("\"set_mode\"")
                && text.contains("lockdown")
                && text.contains("incident drill")
        });
        if pushed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lockdown was not pushed to the Boundary Daemon"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mode: String = property(&client, "Mode").await;
    assert_eq!(mode, "LOCKDOWN");
}

/// Waits (up to 15 s: a bound for a loaded machine, not a measure) until the source's facts
/// say the Boundary Daemon reports `mode`.
async fn wait_for_reported(client: &zbus::Connection, mode: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let facts: std::collections::HashMap<String, zbus::OwnedVariant> =
            property(client, "Facts").await;
        let reported = facts
            .get("reported_mode")
            .and_then(|value| String::try_from(value.try_clone().unwrap()).ok());
        if reported.as_deref() == Some(mode) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Boundary Daemon reports {reported:?}, expected {mode}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the reading's facts say whether the Boundary Daemon's latch is set.
async fn wait_for_reported_latch(client: &zbus::Connection, latched: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let facts: std::collections::HashMap<String, zbus::OwnedVariant> =
            property(client, "Facts").await;
        let reported = facts
            .get("lockdown_latched")
            .and_then(|value| bool::try_from(value.try_clone().unwrap()).ok());
        if reported == Some(latched) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the Boundary Daemon's latch reads {reported:?}, expected {latched}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs contractctl as root off the runtime's threads (the fake answers on them meanwhile).
async fn contractctl_root(bus: &std::sync::Arc<TestBus>, args: &[&str]) -> String {
    let bus = std::sync::Arc::clone(bus);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ok(contractctl(&bus, 0, &args), &args.join(" "))
    })
    .await
    .unwrap()
}

/// Waits until the Boundary Daemon has received `count` lockdown pushes (`set_mode`
/// requests) in all. The daemon pushes after the lockdown command has returned, so a test that
/// moves the Boundary Daemon's mode must first see the push arrive, or a late push undoes the
/// move.
async fn wait_for_pushes(fake: &FakeBoundaryDaemon, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let pushes = fake
            .requests()
            .iter()
            .filter(|request| String::from_utf8_lossy(request).contains("\"set_mode\""))
            .count();
        if pushes >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{pushes} of {count} lockdowns reached the Boundary Daemon"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_our_lockdown_says_when_the_boundary_daemon_still_holds_it() {
    if !require_root("releasing_our_lockdown_says_when_the_boundary_daemon_still_holds_it") {
        return;
    }
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("trusted");
    let config = format!(
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"boundary-daemon\"\nsettle_time_ms = 0\n[mode.boundary_daemon]\nsocket = \"{}\"\npoll_interval_ms = 50\ntimeout_ms = 200\nmax_backoff_ms = 200\ntoken = \"{FAKE_TOKEN}\"\npush_lockdown = true\n",
        fake.socket().display()
    );
    let bus = std::sync::Arc::new(TestBus::start());
    let _daemon = DaemonProcess::start(&bus, &config);
    let client = connect_as(&bus, 0, &[0]).await;
    wait_for(&client, "TRUSTED", true).await;

    // Our lockdown is pushed: the Boundary Daemon moves to lockdown too.
    contractctl_root(&bus, &["lockdown", "--reason", "incident drill"]).await;
    wait_for_pushes(&fake, 1).await;
    assert_eq!(fake.mode(), "lockdown");
    wait_for_reported(&client, "LOCKDOWN").await;

    // Releasing ours leaves LOCKDOWN, and says who holds it and where to release it.
    let released = contractctl_root(&bus, &["release-lockdown", "--reason", "drill over"]).await;
    assert!(
        released.contains("the mode stays LOCKDOWN")
            && released.contains("the Boundary Daemon reports LOCKDOWN")
            && released.contains("release it there"),
        "{released}"
    );
    let status: bool = property(&client, "Lockdown").await;
    assert!(!status, "our own latch is released");
    let as_json = json(
        tokio::task::spawn_blocking({
            let bus = std::sync::Arc::clone(&bus);
            move || contractctl(&bus, 0, &["--json", "lockdown", "--reason", "again"])
        })
        .await
        .unwrap(),
        "lockdown --json",
    );
    assert_eq!(as_json["mode"], "LOCKDOWN", "{as_json}");
    wait_for_pushes(&fake, 2).await;

    // Its latch with a mode moved back: the latch and its reason are named.
    fake.set_mode("open");
    fake.set_latch(Some("tripwire: usb inserted"));
    wait_for_reported(&client, "OPEN").await;
    wait_for_reported_latch(&client, true).await;
    let released = contractctl_root(
        &bus,
        &["--json", "release-lockdown", "--reason", "drill over"],
    )
    .await;
    let released: serde_json::Value = serde_json::from_str(&released).unwrap();
    assert_eq!(released["released"], true, "{released}");
    assert_eq!(released["mode"], "LOCKDOWN", "{released}");
    let held = released["held_by"].as_str().unwrap_or_default();
    assert!(
        held.contains("lockdown latch is set (tripwire: usb inserted)"),
        "{released}"
    );

    // Once the Boundary Daemon lets go, the mode follows it again (ours was released above),
    // and a release of a new lockdown of ours says the mode it left.
    fake.set_latch(None);
    wait_for_reported_latch(&client, false).await;
    wait_for(&client, "OPEN", true).await;
    contractctl_root(&bus, &["lockdown", "--reason", "third"]).await;
    // Wait for the push and for the daemon to read it back: the OPEN reported before the push
    // would satisfy the wait for OPEN below at once, and the release could then meet a reading
    // of LOCKDOWN taken after the mode was set back to open.
    wait_for_pushes(&fake, 3).await;
    wait_for_reported(&client, "LOCKDOWN").await;
    fake.set_mode("open");
    wait_for_reported(&client, "OPEN").await;
    let released = contractctl_root(&bus, &["release-lockdown", "--reason", "done"]).await;
    assert!(released.contains("the mode is now OPEN"), "{released}");
}
