//! LOCKDOWN on the host: configured agent units are frozen through systemd's D-Bus API when
//! LOCKDOWN begins and thawed when it ends; a unit that cannot be frozen is logged clearly.
//! systemd is not PID 1 on these machines (the end-to-end suite uses a real one), so a
//! recording stand-in serves org.freedesktop.systemd1.Manager on the test bus.

mod common;

use common::bus::*;
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
    let systemd = connect_as(&bus, 0, &[0]).await;
    systemd
        .object_server()
        .at("/org/freedesktop/systemd1", manager)
        .await
        .unwrap();
    systemd
        .request_name("org.freedesktop.systemd1")
        .await
        .unwrap();
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
