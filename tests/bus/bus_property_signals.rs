//! PropertiesChanged names only properties whose value changed: a mode change read from the
//! Boundary Daemon, a lockdown and its release, on a real private dbus-daemon, counted in the
//! signals a client receives.

use crate::common::bus::*;
use crate::common::fake_boundary_daemon::FakeBoundaryDaemon;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use zbus::OwnedVariant;

/// What one PropertiesChanged said: the interface's short name and each changed property.
type Changes = Vec<(String, String)>;

async fn mode(client: &zbus::Connection) -> String {
    String::try_from(boundary_property(client, "Mode").await).unwrap()
}

/// Receives PropertiesChanged from the daemon's object until one says `property` of
/// Boundary1 is now `value` (not counted), and returns every property named before it.
async fn changes_until(
    stream: &mut zbus::MessageStream,
    property: &str,
    value: OwnedVariant,
) -> Changes {
    let mut seen = Changes::new();
    within(&format!("PropertiesChanged with {property}"), async {
        while let Some(message) = stream.next().await {
            let message = message.unwrap();
            let (interface, changed, invalidated): (
                String,
                HashMap<String, OwnedVariant>,
                Vec<String>,
            ) = message.body().deserialize().unwrap();
            assert!(invalidated.is_empty(), "{invalidated:?}");
            let short = interface
                .strip_prefix("org.learningcontracts.")
                .unwrap_or(&interface)
                .to_string();
            if short == "Boundary1" && changed.get(property) == Some(&value) {
                return;
            }
            for name in changed.into_keys() {
                seen.push((short.clone(), name));
            }
        }
        panic!("the signal stream ended");
    })
    .await;
    seen
}

/// How often each property was named, per interface.
fn counted(changes: &Changes, interface: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, name) in changes.iter().filter(|(i, _)| i == interface) {
        *counts.entry(name.clone()).or_default() += 1;
    }
    counts
}

fn once(names: &[&str]) -> BTreeMap<String, usize> {
    names.iter().map(|name| (name.to_string(), 1)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn properties_changed_names_only_what_changed() {
    if !require_root("properties_changed_names_only_what_changed") {
        return;
    }
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("airgap");
    let config = format!(
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"boundary-daemon\"\nsettle_time_ms = 0\n[mode.boundary_daemon]\nsocket = \"{}\"\npoll_interval_ms = 20\ntimeout_ms = 500\nmax_backoff_ms = 100\n",
        fake.socket().display()
    );
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &config);
    let admin = connect_as(&bus, 0, &[0]).await;
    let listener = connect_as(&bus, 0, &[0]).await;
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(BUS_NAME)
        .path(PATH)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .build()
        .unwrap();
    let mut stream =
        zbus::MessageStream::for_match_rule(rule, &listener, std::num::NonZeroUsize::new(256))
            .await
            .unwrap();
    eventually("AIRGAP from the Boundary Daemon", || async {
        (mode(&admin).await == "AIRGAP").then_some(())
    })
    .await;
    let boundary = Boundary1Proxy::new(&admin).await.unwrap();
    // Everything up to here (the first reading, the first commit) is left behind: a pause is
    // a change of its own, and once its signal is heard the ones before it were delivered.
    boundary.pause_all("sync").await.unwrap();
    changes_until(&mut stream, "PausedAll", OwnedVariant::from(true)).await;

    // The Boundary Daemon moves to TRUSTED: the mode and the facts change, nothing else of
    // the Boundary1 properties, and with no contracts neither count.
    fake.set_mode("trusted");
    eventually("TRUSTED", || async {
        (mode(&admin).await == "TRUSTED").then_some(())
    })
    .await;
    boundary.resume_all().await.unwrap();
    let mode_change = changes_until(&mut stream, "PausedAll", OwnedVariant::from(false)).await;
    assert_eq!(
        counted(&mode_change, "Boundary1"),
        once(&["Facts", "Mode"]),
        "{mode_change:?}"
    );
    assert_eq!(
        counted(&mode_change, "Contracts1"),
        once(&[]),
        "{mode_change:?}"
    );

    // A lockdown: the mode and the latch and its reason; not the override, not the pause.
    boundary.enter_lockdown("drill").await.unwrap();
    boundary.pause_all("sync").await.unwrap();
    let lockdown = changes_until(&mut stream, "PausedAll", OwnedVariant::from(true)).await;
    assert_eq!(
        counted(&lockdown, "Boundary1"),
        once(&["Lockdown", "LockdownReason", "Mode"]),
        "{lockdown:?}"
    );
    assert_eq!(counted(&lockdown, "Contracts1"), once(&[]), "{lockdown:?}");
    // The audit head moves with every commit (the sentinels' own come after their pause).
    assert!(
        counted(&lockdown, "Audit1")
            .keys()
            .all(|name| name == "HeadSeq" || name == "HeadHash"),
        "{lockdown:?}"
    );

    boundary.release_lockdown("drill over").await.unwrap();
    boundary.resume_all().await.unwrap();
    let release = changes_until(&mut stream, "PausedAll", OwnedVariant::from(false)).await;
    assert_eq!(
        counted(&release, "Boundary1"),
        once(&["Lockdown", "LockdownReason", "Mode"]),
        "{release:?}"
    );
    assert_eq!(mode(&admin).await, "TRUSTED");
}
