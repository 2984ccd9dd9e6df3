//! COLDROOM from real mounts and a fake sysfs, and its tripwire: the daemon runs with no
//! network link and with sysfs lookups pointed at a fake tree that says the storage under its
//! persistent mounts is dm-crypt (LUKS2), so it reads COLDROOM; then a loop device the fake
//! tree calls removable is mounted inside the daemon's own mount namespace, and LOCKDOWN
//! latches. Nothing is mounted on the host.

use crate::common;

use crate::common::bus::*;
use crate::common::mount_fixtures::{FakeSysfs, LoopImage, loop_tools_available};
use crate::common::netns::NetNs;
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

/// The mount facts in the daemon's Explain answer (its `Facts: {json}` line).
async fn explained_mounts(client: &zbus::Connection) -> Vec<serde_json::Value> {
    let boundary = Boundary1Proxy::new(client).await.unwrap();
    let explain = boundary.explain().await.unwrap();
    let facts = explain
        .lines()
        .find_map(|line| line.strip_prefix("Facts: "))
        .unwrap_or_else(|| panic!("no Facts line in Explain:\n{explain}"));
    let facts: serde_json::Value = serde_json::from_str(facts).unwrap();
    facts["mounts"]["mounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no mount facts in {facts}"))
        .clone()
}

/// Issue 14, F4: systemd's `ProtectSystem=strict` remounts the host's mounts read-only (per
/// mount) in the service's namespace. The daemon runs in such a namespace, made the same way
/// (a bind remount `ro` of a writable ext4 mounted there); everything else the fake sysfs
/// calls LUKS2, so only the unencrypted data disk keeps the host out of COLDROOM, and it must.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unencrypted_disk_the_sandbox_shows_read_only_keeps_the_host_out_of_coldroom() {
    let test = "an_unencrypted_disk_the_sandbox_shows_read_only_keeps_the_host_out_of_coldroom";
    if !require_root(test) || !loop_tools_available(test) {
        return;
    }
    let data = LoopImage::create();
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
    sysfs.disk(
        common::mount_fixtures::SATA_PARENT,
        &data.name(),
        data.number,
        false,
    );
    let point = tempfile::tempdir().unwrap();
    let point_str = point.path().to_str().unwrap().to_string();
    // In the daemon's own mount namespace only: mount it writable, then bind-remount it
    // read-only as the sandbox does, then run the daemon there.
    let script = format!(
        "mount '{}' '{point_str}' && mount -o remount,bind,ro '{point_str}' && exec \"$@\"",
        data.device.display()
    );

    let ns = NetNs::new();
    let bus = TestBus::start();
    let config = format!(
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"detect\"\nsettle_time_ms = 0\n[mode.detect.mounts]\nsysfs_root = \"{}\"\n",
        sysfs.root().display()
    );
    let root = tempfile::tempdir().unwrap().keep();
    let daemon = DaemonProcess::start_with(
        &bus,
        &config,
        &root,
        &[],
        &[
            "ip",
            "netns",
            "exec",
            &ns.name,
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
            "sh",
        ],
    );
    let client = connect_as(&bus, 0, &[0]).await;
    wait_for_mode(&client, "AIRGAP", &daemon).await;
    let mounts = explained_mounts(&client).await;
    let fact = mounts
        .iter()
        .find(|fact| fact["mount_point"] == point_str.as_str())
        .unwrap_or_else(|| panic!("no fact for {point_str} in {mounts:?}"));
    assert_eq!(
        fact["writable"], true,
        "the super block is rw, so the host can write it: {fact}"
    );
    assert!(
        fact["reasons"]
            .as_array()
            .is_some_and(|reasons| reasons.iter().any(|reason| reason
                .as_str()
                .is_some_and(|reason| reason.contains("per-mount ro comes from a sandbox")))),
        "the reasons say why: {fact}"
    );
    assert_eq!(mode(&client).await, "AIRGAP");
    drop(daemon);
}
