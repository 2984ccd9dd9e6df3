//! LOCKDOWN on the host: configured agent units are frozen through systemd's D-Bus API when
//! LOCKDOWN begins and thawed when it ends; a unit that cannot be frozen is logged clearly.
//! systemd is not PID 1 on these machines (the end-to-end suite uses a real one), so a
//! recording stand-in serves org.freedesktop.systemd1.Manager on the test bus.

use crate::common::bus::*;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
struct RecordingManager {
    calls: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl RecordingManager {
    fn freeze_unit(&self, name: &str) -> zbus::fdo::Result<()> {
        if name == "missing.service" {
            return Err(zbus::fdo::Error::Failed(
                "Unit missing.service not loaded.".into(),
            ));
        }
        self.calls.lock().push(format!("freeze {name}"));
        Ok(())
    }

    fn thaw_unit(&self, name: &str) -> zbus::fdo::Result<()> {
        self.calls.lock().push(format!("thaw {name}"));
        Ok(())
    }
}

/// Serves a systemd stand-in's manager on the test bus, as root.
async fn serve_systemd(
    bus: &TestBus,
    manager: impl zbus::object_server::Interface,
) -> zbus::Connection {
    let systemd = connect_as(bus, 0, &[0]).await;
    systemd
        .object_server()
        .at("/org/freedesktop/systemd1", manager)
        .await
        .unwrap();
    systemd
        .request_name("org.freedesktop.systemd1")
        .await
        .unwrap();
    systemd
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockdown_freezes_the_agent_units_and_release_thaws_them() {
    if !require_root("lockdown_freezes_the_agent_units_and_release_thaws_them") {
        return;
    }
    let bus = TestBus::start();
    let manager = RecordingManager::default();
    let calls = Arc::clone(&manager.calls);
    let _systemd = serve_systemd(&bus, manager).await;
    let config = static_config(
        "AIRGAP",
        "[lockdown]\nfreeze_units = [\"agent.service\", \"missing.service\", \"helper.service\"]\n",
    );
    let daemon = DaemonProcess::start(&bus, &config);
    let admin = Boundary1Proxy::new(&connect_as(&bus, 0, &[0]).await)
        .await
        .unwrap();

    admin.enter_lockdown("drill").await.unwrap();
    eventually("both units frozen", || calls.lock().len() == 2).await;
    assert_eq!(
        *calls.lock(),
        vec!["freeze agent.service", "freeze helper.service"]
    );
    eventually("the failure logged", || {
        daemon
            .log()
            .contains("could not freeze agent unit missing.service")
    })
    .await;

    assert!(
        daemon.log().contains("LOCKDOWN entered and latched: drill"),
        "{}",
        daemon.log()
    );
    admin.release_lockdown("drill over").await.unwrap();
    assert!(
        daemon.log().contains("lockdown released: drill over"),
        "{}",
        daemon.log()
    );
    eventually("units thawed", || calls.lock().len() == 5).await;
    let calls = calls.lock().clone();
    assert_eq!(
        &calls[2..],
        [
            "thaw agent.service",
            "thaw missing.service",
            "thaw helper.service"
        ]
    );
}

/// A systemd stand-in whose ThawUnit is slow, so that a thaw still in flight meets the next
/// freeze.
#[derive(Clone, Default)]
struct SlowThawManager {
    calls: Arc<Mutex<Vec<String>>>,
}

#[zbus::interface(name = "org.freedesktop.systemd1.Manager")]
impl SlowThawManager {
    async fn freeze_unit(&self, name: &str) -> zbus::fdo::Result<()> {
        self.calls.lock().push(format!("freeze {name}"));
        Ok(())
    }

    async fn thaw_unit(&self, name: &str) -> zbus::fdo::Result<()> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        self.calls.lock().push(format!("thaw {name}"));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_converge_on_the_newest_mode_when_lockdowns_follow_each_other_quickly() {
    if !require_root("units_converge_on_the_newest_mode_when_lockdowns_follow_each_other_quickly") {
        return;
    }
    let bus = TestBus::start();
    let manager = SlowThawManager::default();
    let calls = Arc::clone(&manager.calls);
    let _systemd = serve_systemd(&bus, manager).await;
    let config = static_config("AIRGAP", "[lockdown]\nfreeze_units = [\"agent.service\"]\n");
    let _daemon = DaemonProcess::start(&bus, &config);
    let admin = Boundary1Proxy::new(&connect_as(&bus, 0, &[0]).await)
        .await
        .unwrap();
    admin.enter_lockdown("first").await.unwrap();
    eventually("the unit frozen", || calls.lock().len() == 1).await;
    // Release (a slow thaw starts) and lock down again at once.
    admin.release_lockdown("false alarm").await.unwrap();
    admin.enter_lockdown("second").await.unwrap();
    assert!(admin.lockdown().await.unwrap());
    // Whatever happens in between, the last word systemd hears is a freeze.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = calls.lock().clone();
    assert_eq!(
        calls.last().map(String::as_str),
        Some("freeze agent.service"),
        "the unit was left thawed under LOCKDOWN: {calls:?}"
    );
}
