//! End to end under a real systemd: a Debian container (an mmdebstrap rootfs cached under
//! target/) boots with systemd-nspawn, installs the Debian package built from this test run's
//! binaries with dpkg, and runs `tests/e2e/driver.sh` inside, which checks readiness, the
//! STATUS line, the journal, reload, the watchdog, the bus policy, bus activation, detection,
//! LOCKDOWN freezing an agent unit through polkit, restarts, the audit checkpoints in the
//! journal against a store rewritten offline, an unencrypted data disk (a loop device bound in)
//! that the unit's sandbox shows read-only keeping the host out of COLDROOM, and removal. The driver's unit exits
//! the container with its own status, so the container's exit code is the verdict; every check
//! prints one line, and the test asserts each of them.
//!
//! Needs root, systemd-nspawn (systemd-container), mmdebstrap, cargo-deb and the network to the
//! Debian mirror for the first build of the rootfs. Under CI=true it fails when it cannot run.

use crate::common;

use crate::common::debian::{debian_package, rootfs, tools_present};
use crate::common::stage::{repo, target_dir};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the rootfs holds besides minbase; the cache is keyed by it (and the apt sources).
/// procps is there because the package depends on it and dpkg -i fetches nothing; python3
/// rewrites the audit log offline as an attacker would (tests/e2e/rewrite_audit.py).
const PACKAGES: &str = "systemd,systemd-sysv,dbus,iproute2,polkitd,procps,python3";

/// Every check the driver runs, in order: the test fails unless each reported "ok".
const CHECKS: &[&str] = &[
    "the package installs, enables and starts the service",
    "test users, polkit rule, configuration and dummy agent",
    "systemctl start reaches active only after READY",
    "systemctl status shows the STATUS line",
    "polkitd answers the daemon's authorization checks",
    "journalctl shows the start, the mode and a lifecycle event by MESSAGE_ID",
    "systemctl reload re-reads the configuration",
    "busctl from root and an unprivileged user gets the bus policy's answers",
    "bus activation starts the service through systemd",
    "links and default routes in the container change the mode",
    "LOCKDOWN freezes the agent unit and its release thaws it",
    "the watchdog restarts a hung daemon",
    "a restart keeps every contract and the audit chain verifies",
    "the journal's audit checkpoints match the store and catch a rewritten store",
    "an unencrypted data disk the sandbox shows read-only keeps the host out of COLDROOM",
    "dpkg -r and dpkg -P remove the package cleanly",
];

/// What the suite needs on the host, and where each comes from.
const TOOLS: &[(&str, &str)] = &[
    ("systemd-nspawn", "systemd-container"),
    ("mmdebstrap", "mmdebstrap"),
    ("cargo-deb", "cargo install cargo-deb --locked"),
    ("make", "make"),
];

/// A safety net only (a hung container must not hang CI): the run takes seconds.
const DEADLINE: Duration = Duration::from_secs(900);

/// The throw-away cgroups systemd-nspawn runs in (PID 1 is not systemd here, so nobody else
/// gives it one), removed depth first with the propagation folder when dropped.
struct Scope {
    name: String,
    cgroups: Vec<PathBuf>,
}

impl Scope {
    fn new() -> Scope {
        let name = format!("lc-e2e-{}", std::process::id());
        let cgroups: Vec<PathBuf> = ["systemd", "unified"]
            .iter()
            .map(|hierarchy| Path::new("/sys/fs/cgroup").join(hierarchy).join(&name))
            .collect();
        for cgroup in &cgroups {
            std::fs::create_dir_all(cgroup)
                .unwrap_or_else(|err| panic!("cannot make the cgroup {}: {err}", cgroup.display()));
        }
        Scope { name, cgroups }
    }

    /// Kills whatever is left in the scope (cgroup v2's cgroup.kill).
    fn kill_all(&self) {
        let _ = std::fs::write(self.cgroups[1].join("cgroup.kill"), "1");
    }
}

fn remove_depth_first(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_depth_first(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Scope {
    fn drop(&mut self) {
        self.kill_all();
        for cgroup in &self.cgroups {
            for _ in 0..50 {
                remove_depth_first(cgroup);
                if !cgroup.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ =
            std::fs::remove_dir_all(Path::new("/run/systemd/nspawn/propagate").join(&self.name));
    }
}

/// Boots the container and returns its exit status and console output.
fn boot(rootfs: &Path, files: &Path, data_disk: &Path) -> (Option<i32>, Vec<String>) {
    let scope = Scope::new();
    // The shell moves itself into the scope's cgroups, then becomes systemd-nspawn.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"echo 0 > "$1/cgroup.procs" && echo 0 > "$2/cgroup.procs" && shift 2 && exec "$@""#)
        .arg("sh")
        .args(&scope.cgroups)
        .arg("systemd-nspawn")
        .args([
            "-q",
            "--volatile=overlay",
            "-b",
            "--register=no",
            "--keep-unit",
        ])
        .args(["--private-network", "--console=read-only"])
        .arg(format!("--machine={}", scope.name))
        .arg(format!("--directory={}", rootfs.display()))
        .arg("--bind=/dev/net/tun")
        .arg(format!("--bind={}", data_disk.display()))
        .arg(format!("--bind-ro={}:/e2e", files.display()))
        .arg(format!(
            "--bind-ro={}:/run/systemd/system/e2e.service",
            files.join("e2e.service").display()
        ))
        .args(["systemd.wants=e2e.service", "systemd.show_status=no"])
        // No login prompt on the console the test reads.
        .arg("systemd.mask=console-getty.service")
        // systemd freezes units only on the unified cgroup hierarchy (the host is hybrid).
        .env("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-nspawn");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let readers: Vec<_> = [
        Box::new(stdout) as Box<dyn std::io::Read + Send>,
        Box::new(stderr),
    ]
    .into_iter()
    .map(|stream| {
        let lines_tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line);
            }
        })
    })
    .collect();
    drop(lines_tx);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > DEADLINE {
            scope.kill_all();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for reader in readers {
        let _ = reader.join();
    }
    let output: Vec<String> = lines_rx.into_iter().collect();
    println!(
        "the container ran for {:.1} s",
        started.elapsed().as_secs_f64()
    );
    drop(scope);
    (status, output)
}

#[test]
fn the_package_under_a_real_systemd() {
    if !common::bus::require_root("the_package_under_a_real_systemd")
        || !tools_present("the_package_under_a_real_systemd", TOOLS)
    {
        return;
    }
    let e2e_dir = target_dir().join("e2e");
    std::fs::create_dir_all(&e2e_dir).unwrap();
    let rootfs = rootfs(&e2e_dir, PACKAGES, "", |_| {});
    let deb = debian_package(&e2e_dir);

    // What the container sees at /e2e: the driver, its units and files, and the package.
    let files = tempfile::tempdir_in(&e2e_dir).unwrap();
    for entry in std::fs::read_dir(repo().join("tests/e2e")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, files.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::copy(&deb, files.path().join("learning-contractsd.deb")).unwrap();
    // An unencrypted ext4 disk for the container to mount (a loop device bound in).
    let data_disk = common::mount_fixtures::LoopImage::create();
    std::fs::write(
        files.path().join("data-disk"),
        data_disk.device.display().to_string(),
    )
    .unwrap();

    let (status, output) = boot(&rootfs, files.path(), &data_disk.device);
    let console = output.join("\n");
    println!("{console}");
    let outcome = |check: &str| {
        output.iter().find_map(|line| {
            let (_, said) = line.split_once("e2e: ")?;
            if said == format!("ok - {check}") {
                Some(Ok(()))
            } else {
                said.strip_prefix(&format!("FAIL - {check}: "))
                    .map(|why| Err(why.to_string()))
            }
        })
    };
    for check in CHECKS {
        match outcome(check) {
            Some(Ok(())) => {}
            Some(Err(why)) => panic!("end-to-end check failed: {check}: {why}\n\n{console}"),
            None => panic!("end-to-end check never reported: {check}\n\n{console}"),
        }
    }
    assert_eq!(
        status,
        Some(0),
        "every check passed but the container exited with {status:?}:\n{console}"
    );
}
