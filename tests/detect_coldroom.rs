//! COLDROOM from real mounts and a fake sysfs, and its tripwire: the daemon runs with no
//! network link and with sysfs lookups pointed at a fake tree that says the storage under its
//! persistent mounts is dm-crypt (LUKS2), so it reads COLDROOM; then a loop device the fake
//! tree calls removable is mounted inside the daemon's own mount namespace, and LOCKDOWN
//! latches. Nothing is mounted on the host.

mod common;

use common::bus::*;
use common::mount_fixtures::{FakeSysfs, LoopImage, loop_tools_available};
use common::netns::NetNs;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

async fn mode(client: &zbus::Connection) -> String {
    let reply = client
        .call_method(
            Some(BUS_NAME),
            PATH,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.learningcontracts.Boundary1", "Mode"),
        )
        .await
        .unwrap();
    String::try_from(reply.body().deserialize::<zbus::OwnedVariant>().unwrap()).unwrap()
}

async fn wait_for_mode(client: &zbus::Connection, wanted: &str, daemon: &DaemonProcess) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = mode(client).await;
        if now == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the mode stayed {now}, expected {wanted}:\n{}",
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every block device number behind a mount on this host.
fn mounted_block_devices() -> BTreeSet<(u32, u32)> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    learning_contracts::source::detect::mounts::parse_mountinfo(&table)
        .into_iter()
        .filter(|m| m.major != 0)
        .map(|m| (m.major, m.minor))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_storage_reads_coldroom_and_removable_media_latches_lockdown() {
    if !require_root("encrypted_storage_reads_coldroom_and_removable_media_latches_lockdown")
        || !loop_tools_available(
            "encrypted_storage_reads_coldroom_and_removable_media_latches_lockdown",
        )
    {
        return;
    }
    let sysfs = FakeSysfs::new();
    for (index, number) in mounted_block_devices().into_iter().enumerate() {
        sysfs.dm(
            &format!("dm-{index}"),
            number,
            &format!("vault{index}"),
            &format!("CRYPT-LUKS2-0000-vault{index}"),
            &[],
        );
    }
    let stick = LoopImage::create();
    sysfs.disk(
        common::mount_fixtures::USB_PARENT,
        &stick.name(),
        stick.number,
        true,
    );

    let ns = NetNs::new();
    let bus = TestBus::start();
    let config = format!(
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"detect\"\nsettle_time_ms = 0\n[mode.detect.mounts]\nsysfs_root = \"{}\"\n",
        sysfs.root().display()
    );
    let daemon = DaemonProcess::start_in_netns(&bus, &config, &ns.name);
    let client = connect_as(&bus, 0, &[0]).await;
    wait_for_mode(&client, "COLDROOM", &daemon).await;

    // Mount the "USB stick" inside the daemon's mount namespace only.
    let target = tempfile::tempdir().unwrap();
    let pid = daemon.child.id().to_string();
    let mounted = Command::new("nsenter")
        .args(["-t", &pid, "-m", "mount", "-o", "ro"])
        .arg(&stick.device)
        .arg(target.path())
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "mounting the stick in the daemon's namespace failed"
    );
    wait_for_mode(&client, "LOCKDOWN", &daemon).await;
    let boundary = Boundary1Proxy::new(&client).await.unwrap();
    let reason = boundary.lockdown_reason().await.unwrap();
    assert!(
        reason.contains("removable media") && reason.contains("COLDROOM"),
        "{reason}"
    );
    assert!(
        reason.contains(target.path().to_str().unwrap()),
        "the reason names the mount point: {reason}"
    );
    let _ = Command::new("nsenter")
        .args(["-t", &pid, "-m", "umount"])
        .arg(target.path())
        .status();
    drop(daemon);
}
