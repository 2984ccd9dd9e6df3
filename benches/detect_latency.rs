//! How fast the detector turns a change on the host into a committed mode, with 10,000 Active
//! strategic contracts in the store. 100 rounds each; prints p50, p99 and max. Needs root
//! (network and mount namespaces, loop devices, the bus policy). Numbers: benches/README.md.
//!
//! 1. A link going down: wg0, the only way out, is taken down through netlink by the bench
//!    itself (a socket opened in the daemon's network namespace), then by `ip` as before for
//!    comparison. Measured to the ModeSwitched signal (TRUSTED → RESTRICTED) and to the
//!    ContractsSuspended signal naming all 10,000 contracts (sent after the commit).
//! 2. Removable media mounted in COLDROOM: a loop device that a fake sysfs tree (the detector's
//!    `sysfs_root`) says is a removable disk on a USB bus, mounted by the bench from a thread
//!    that joined the daemon's mount namespace. Measured to the ModeSwitched signal into
//!    LOCKDOWN, which the announcer sends after the tripwire's latch is committed.

#[path = "../tests/common/bus.rs"]
mod bus;
#[path = "../tests/common/mount_fixtures.rs"]
mod mount_fixtures;
#[path = "../tests/common/netns.rs"]
mod netns;
#[path = "../tests/common/stored.rs"]
mod stored;
use stored::active_contract;

use bus::*;
use futures_util::{StreamExt, TryStreamExt};
use learning_contracts::core::{Change, ContractKind, Name, Scope, Timestamp};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Active strategic contracts in the store; `DETECT_LATENCY_CONTRACTS` sets another number
/// (0 shows what the commit of their suspensions costs).
fn contracts() -> usize {
    std::env::var("DETECT_LATENCY_CONTRACTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}
const ROUNDS: usize = 100;

fn seed_store(state_dir: &std::path::Path) {
    std::fs::create_dir_all(state_dir).unwrap();
    let now = Timestamp::now();
    let (mut ledger, _) =
        learning_contracts::ledger::Ledger::open(&state_dir.join("contracts.db"), now).unwrap();
    let mut change = Change::at(now);
    change.contracts = (0..contracts())
        .map(|n| {
            let scope = Scope {
                domains: vec![Name::parse("work").unwrap()],
                contexts: vec![Name::parse("*").unwrap()],
                tools: vec![],
            };
            let id = format!("strategic-{n:05}");
            let owner = 1000 + (n % 100) as u32;
            active_contract(
                id,
                owner,
                ContractKind::Strategic,
                scope,
                String::new(),
                now,
            )
        })
        .collect();
    ledger.commit(change).unwrap();
}

fn ip(ns: &str, args: &[&str]) {
    let status = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "ip {args:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} rounds)",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        samples.len()
    );
}

/// An rtnetlink handle whose socket lives in the network namespace `ns`: the socket is opened
/// on a thread that joined the namespace (setns changes only the calling thread's).
fn netlink_in(ns: &str, runtime: &tokio::runtime::Handle) -> rtnetlink::Handle {
    let path = PathBuf::from("/run/netns").join(ns);
    let runtime = runtime.clone();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let _entered = runtime.enter();
        let (connection, handle, _) = rtnetlink::new_connection().unwrap();
        runtime.spawn(connection);
        handle
    })
    .join()
    .unwrap()
}

async fn link_index(handle: &rtnetlink::Handle, name: &str) -> u32 {
    let link = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .unwrap()
        .unwrap();
    link.header.index
}

async fn set_link(handle: &rtnetlink::Handle, index: u32, up: bool) {
    let builder = rtnetlink::LinkUnspec::new_with_index(index);
    let message = if up { builder.up() } else { builder.down() }.build();
    handle.link().set(message).execute().await.unwrap();
}

async fn add_default_route(handle: &rtnetlink::Handle, index: u32) {
    let route = rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new()
        .output_interface(index)
        .build();
    handle.route().add(route).execute().await.unwrap();
}

/// What the mount thread is asked to do in the daemon's mount namespace.
enum MountJob {
    Mount,
    Unmount,
}

/// A thread in the mount namespace of `pid` that mounts `device` read-only at `target` and
/// unmounts it on request, answering when done. A thread of a multi-threaded process may join
/// another mount namespace only once it stops sharing its filesystem attributes.
fn mount_thread(
    pid: u32,
    device: PathBuf,
    target: PathBuf,
) -> (
    std::sync::mpsc::Sender<MountJob>,
    std::sync::mpsc::Receiver<()>,
) {
    let (jobs, job_rx) = std::sync::mpsc::channel::<MountJob>();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).unwrap();
        let namespace = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).unwrap();
        nix::sched::setns(&namespace, nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
        for job in job_rx {
            match job {
                MountJob::Mount => nix::mount::mount(
                    Some(device.as_path()),
                    target.as_path(),
                    Some("ext4"),
                    nix::mount::MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .unwrap(),
                MountJob::Unmount => nix::mount::umount(target.as_path()).unwrap(),
            }
            if done_tx.send(()).is_err() {
                return;
            }
        }
    });
    (jobs, done)
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

async fn wait_mode(boundary: &Boundary1Proxy<'_>, mode: &str) {
    for _ in 0..500 {
        if boundary
            .inner()
            .get_property::<String>("Mode")
            .await
            .unwrap()
            == mode
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("mode never became {mode}");
}

fn link_down_bench(runtime: &tokio::runtime::Runtime) {
    let ns = netns::NetNs::new();
    ns.add_ethernet();
    ns.add_tun("wg0");
    ns.ip(&["link", "set", "wg0", "up"]);
    ns.ip(&["route", "add", "default", "dev", "wg0"]);
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    seed_store(&root.path().join("state"));
    let config =
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"detect\"\nsettle_time_ms = 0\n";
    let _daemon = DaemonProcess::start_with(
        &bus,
        config,
        root.path(),
        &[],
        &["ip", "netns", "exec", ns.name.as_str()],
    );
    runtime.block_on(async {
        let netlink = netlink_in(&ns.name, runtime.handle());
        let wg0 = link_index(&netlink, "wg0").await;
        let client = connect_as(&bus, 0, &[0]).await;
        // ContractsSuspended is addressed to listening connections only; this one only listens.
        assert!(subscribe(&client).await, "root listens as an admin");
        let boundary = Boundary1Proxy::new(&client).await.unwrap();
        let mut switches = boundary.receive_mode_switched().await.unwrap();
        let mut suspended = boundary.receive_contracts_suspended().await.unwrap();
        wait_mode(&boundary, "TRUSTED").await;
        for by_netlink in [true, false] {
            let mut to_signal = Vec::new();
            let mut to_suspended = Vec::new();
            for _ in 0..ROUNDS {
                let started = Instant::now();
                if by_netlink {
                    set_link(&netlink, wg0, false).await;
                } else {
                    ip(&ns.name, &["link", "set", "wg0", "down"]);
                }
                loop {
                    let signal = switches.next().await.unwrap();
                    if signal.args().unwrap().new() == "RESTRICTED" {
                        to_signal.push(started.elapsed());
                        break;
                    }
                }
                while contracts() > 0 {
                    let signal = suspended.next().await.unwrap();
                    if signal.args().unwrap().ids().len() == contracts() {
                        to_suspended.push(started.elapsed());
                        break;
                    }
                }
                set_link(&netlink, wg0, true).await;
                add_default_route(&netlink, wg0).await;
                loop {
                    let signal = switches.next().await.unwrap();
                    if signal.args().unwrap().new() == "TRUSTED" {
                        break;
                    }
                }
            }
            let how = if by_netlink {
                "wg0 down through netlink"
            } else {
                "ip link set wg0 down (a process)"
            };
            report(&format!("{how} → ModeSwitched"), to_signal);
            if !to_suspended.is_empty() {
                report(
                    &format!(
                        "{how} → ContractsSuspended ({} contracts, committed)",
                        contracts()
                    ),
                    to_suspended,
                );
            }
        }
    });
}

fn removable_mount_bench(runtime: &tokio::runtime::Runtime) {
    // Every real mount's device is a dm-crypt mapping in the fake sysfs, so the host reads
    // COLDROOM; the loop device is a removable disk on a USB bus there.
    let sysfs = mount_fixtures::FakeSysfs::new();
    for (index, number) in mounted_block_devices().into_iter().enumerate() {
        sysfs.dm(
            &format!("dm-{index}"),
            number,
            &format!("vault{index}"),
            &format!("CRYPT-LUKS2-0000-vault{index}"),
            &[],
        );
    }
    let stick = mount_fixtures::LoopImage::create();
    sysfs.disk(
        mount_fixtures::USB_PARENT,
        &stick.name(),
        stick.number,
        true,
    );
    // No link up and no route: nothing but the mounts decides.
    let ns = netns::NetNs::new();
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    seed_store(&root.path().join("state"));
    let config = format!(
        "[authorization]\nmode = \"unix\"\n[mode]\nsource = \"detect\"\nsettle_time_ms = 0\n[mode.detect.mounts]\nsysfs_root = \"{}\"\n",
        sysfs.root().display()
    );
    let daemon = DaemonProcess::start_with(
        &bus,
        &config,
        root.path(),
        &[],
        &["ip", "netns", "exec", ns.name.as_str()],
    );
    let target = tempfile::tempdir().unwrap();
    let (jobs, done) = mount_thread(
        daemon.child.id(),
        stick.device.clone(),
        target.path().to_path_buf(),
    );
    runtime.block_on(async {
        let client = connect_as(&bus, 0, &[0]).await;
        let boundary = Boundary1Proxy::new(&client).await.unwrap();
        let mut switches = boundary.receive_mode_switched().await.unwrap();
        wait_mode(&boundary, "COLDROOM").await;
        let mut to_lockdown = Vec::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            jobs.send(MountJob::Mount).unwrap();
            loop {
                let signal = switches.next().await.unwrap();
                if signal.args().unwrap().new() == "LOCKDOWN" {
                    to_lockdown.push(started.elapsed());
                    break;
                }
            }
            done.recv().unwrap();
            jobs.send(MountJob::Unmount).unwrap();
            done.recv().unwrap();
            // The release commits the newest reading: wait until it no longer sees the stick.
            for _ in 0..500 {
                let explained = boundary.explain().await.unwrap();
                if explained.contains("\"removable_mounted\":false") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            boundary.release_lockdown("next round").await.unwrap();
            wait_mode(&boundary, "COLDROOM").await;
        }
        report(
            "removable media mounted in COLDROOM → ModeSwitched to LOCKDOWN (latched, committed)",
            to_lockdown,
        );
    });
    drop(jobs);
    drop(daemon);
    let _ = Path::new(target.path());
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped the detect latency benchmark: needs root");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    link_down_bench(&runtime);
    removable_mount_bench(&runtime);
}
