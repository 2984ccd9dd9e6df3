//! Real devices in a VM: what the host kernel here lacks (dm-crypt, LVM, USB, SD cards,
//! wireguard, wifi) checked on the real thing. A qemu VM (TCG emulation; KVM does not work here)
//! boots the Debian kernel with a busybox initrd and a Debian rootfs over 9p under a tmpfs
//! overlay, installs the Debian package built from this test run's binaries, and runs
//! `tests/vm/driver.sh` under systemd, which checks each device against the daemon's mode and
//! prints one `vm: ok - CHECK` or `vm: FAIL - CHECK: WHY` line per check. The host hot-plugs the
//! USB stick through QMP when the guest asks on the console (`vm: host plug-usb`). One boot runs
//! every check; the guest powers itself off, and the host kills qemu after [`DEADLINE`].
//!
//! The kernel (`apt-get download`), the initrd and the rootfs (mmdebstrap) are cached under
//! `target/vm/`, each keyed by a hash of its inputs. Needs root, qemu-system-x86,
//! busybox-static, mmdebstrap, cargo-deb, make, e2fsprogs and, for the first build, the Debian
//! mirror. Under CI=true it fails when it cannot run. See tests/vm/README.md.

use crate::common;

use crate::common::debian::{debian_package, rootfs, run, short_hash, tools_present};
use crate::common::stage::{repo, target_dir};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// What the guest's rootfs holds besides minbase: systemd and the bus for the unit, and the
/// tools the checks use on the devices.
const PACKAGES: &str = "systemd,systemd-sysv,dbus,procps,iproute2,kmod,udev,e2fsprogs,\
                        cryptsetup-bin,lvm2,wireguard-tools,iw";

/// The modules the initrd loads, in this order (each needs the ones before it), to mount the
/// rootfs over virtio 9p under an overlay. The rest load from the rootfs through udev or
/// modprobe.
const INITRD_MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "9pnet",
    "9pnet_virtio",
    "netfs",
    "fscache",
    "9p",
    "overlay",
];

/// Every check the driver runs, in order: the test fails unless each reported "ok".
const CHECKS: &[&str] = &[
    "the daemon runs under the packaged unit",
    "loopback only and a volatile root read COLDROOM",
    "a LUKS2 volume mounted writable reads encrypted: COLDROOM",
    "LVM on LUKS mounted writable reads encrypted: COLDROOM",
    "a USB stick hot-plugged and mounted in COLDROOM latches LOCKDOWN",
    "removing the USB stick and an admin release return to COLDROOM",
    "an SD card mounted in COLDROOM latches LOCKDOWN",
    "an unencrypted ext4 data disk mounted while the daemon runs reads AIRGAP",
    "an unencrypted ext4 data disk mounted before the daemon starts reads AIRGAP",
    "a wifi interface appearing in AIRGAP latches LOCKDOWN",
    "a wireguard link carrying the only default route reads TRUSTED",
    "the default route through a plain link reads OPEN",
];

/// What the suite needs on the host, and where each comes from.
const TOOLS: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("busybox", "busybox-static"),
    ("mmdebstrap", "mmdebstrap"),
    ("cargo-deb", "cargo install cargo-deb --locked"),
    ("make", "make"),
    ("mkfs.ext4", "e2fsprogs"),
    ("apt-get", "apt"),
];

/// A hung guest must not hang CI: a run takes about a minute and a half.
const DEADLINE: Duration = Duration::from_secs(480);

/// Each disk image's size. The SD card's must be a power of two (qemu refuses others); LUKS2's
/// header takes 16 MiB of the LUKS disks.
const DISK_MIB: u64 = 64;

/// The Debian kernel linux-image-amd64 depends on now: its package name and version.
fn kernel_package() -> (String, String) {
    let depends = run(
        "apt-cache depends linux-image-amd64",
        Command::new("apt-cache").args(["depends", "linux-image-amd64"]),
    );
    let name = depends
        .lines()
        .find_map(|line| line.trim().strip_prefix("Depends: linux-image-"))
        .map(|abi| format!("linux-image-{abi}"))
        .unwrap_or_else(|| {
            panic!("no kernel in `apt-cache depends linux-image-amd64`:\n{depends}")
        });
    let show = run(
        "apt-cache show",
        Command::new("apt-cache").args(["show", "--no-all-versions", &name]),
    );
    let version = show
        .lines()
        .find_map(|line| line.strip_prefix("Version: "))
        .unwrap_or_else(|| panic!("no version of {name}:\n{show}"))
        .to_string();
    (name, version)
}

/// The kernel package unpacked under `vm_dir` (`vmlinuz`, `lib/modules/RELEASE/`), once per
/// package version. Returns the directory and the kernel release.
fn kernel(vm_dir: &Path) -> (PathBuf, String) {
    let (name, version) = kernel_package();
    let release = name.trim_start_matches("linux-image-").to_string();
    let dir = vm_dir.join(format!("kernel-{release}-{version}"));
    if dir.join("vmlinuz").exists() {
        return (dir, release);
    }
    let started = Instant::now();
    let building = vm_dir.join(format!("kernel.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).unwrap();
    run(
        "apt-get download",
        Command::new("apt-get")
            .current_dir(&building)
            // The folder is root's; apt's sandbox user could not write the download there.
            .args(["-q", "-o", "APT::Sandbox::User=root", "download"])
            .arg(format!("{name}={version}")),
    );
    let deb = std::fs::read_dir(&building)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "deb"))
        .expect("apt-get download left no .deb");
    let unpacked = building.join("unpacked");
    run(
        "dpkg-deb -x",
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked),
    );
    std::fs::rename(
        unpacked.join(format!("boot/vmlinuz-{release}")),
        building.join("vmlinuz"),
    )
    .expect("the kernel package holds boot/vmlinuz-RELEASE");
    std::fs::create_dir_all(building.join("lib")).unwrap();
    std::fs::rename(unpacked.join("lib/modules"), building.join("lib/modules"))
        .expect("the kernel package holds lib/modules");
    std::fs::remove_dir_all(&unpacked).unwrap();
    std::fs::remove_file(&deb).unwrap();
    if std::fs::rename(&building, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    println!(
        "unpacked {name} {version} in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    (dir, release)
}

/// The busybox initrd (tests/vm/init and the modules of [`INITRD_MODULES`]), once per init
/// script, busybox, kernel and module list.
fn initrd(vm_dir: &Path, kernel: &Path, release: &str) -> PathBuf {
    let init = std::fs::read_to_string(repo().join("tests/vm/init")).unwrap();
    let busybox = run(
        "dpkg-query busybox-static",
        Command::new("dpkg-query").args(["-W", "busybox-static"]),
    );
    let key = short_hash(&format!(
        "{init}\n{busybox}\n{}\n{}",
        name_of(kernel),
        INITRD_MODULES.join(" ")
    ));
    let image = vm_dir.join(format!("initrd-{key}.img"));
    if image.exists() {
        return image;
    }
    let tree = tempfile::tempdir_in(vm_dir).unwrap();
    let modules = tree.path().join("lib/modules");
    std::fs::create_dir_all(&modules).unwrap();
    std::fs::create_dir_all(tree.path().join("bin")).unwrap();
    std::fs::copy("/bin/busybox", tree.path().join("bin/busybox")).unwrap();
    std::fs::copy(repo().join("tests/vm/init"), tree.path().join("init")).unwrap();
    let module_tree = kernel.join("lib/modules").join(release).join("kernel");
    for module in INITRD_MODULES {
        let found = run(
            "find",
            Command::new("find")
                .arg(&module_tree)
                .args(["-name", &format!("{module}.ko")]),
        );
        let path = found
            .lines()
            .next()
            .unwrap_or_else(|| panic!("the kernel has no module {module}.ko"));
        std::fs::copy(path, modules.join(format!("{module}.ko"))).unwrap();
    }
    std::fs::write(modules.join("order"), INITRD_MODULES.join("\n")).unwrap();
    // The host has no cpio; busybox's writes the newc format the kernel reads.
    let building = vm_dir.join(format!("initrd-{key}.building-{}", std::process::id()));
    run(
        "busybox cpio",
        Command::new("sh")
            .current_dir(tree.path())
            .arg("-c")
            .arg(r#"find . | busybox cpio -o -H newc | gzip -1 > "$1""#)
            .arg("sh")
            .arg(&building),
    );
    std::fs::rename(&building, &image).unwrap();
    image
}

/// The guest's rootfs: [`PACKAGES`] and the kernel's modules, with their dependency index.
fn guest_rootfs(vm_dir: &Path, kernel: &Path, release: &str) -> PathBuf {
    rootfs(vm_dir, PACKAGES, &name_of(kernel), |root| {
        let modules = root.join("usr/lib/modules");
        std::fs::create_dir_all(&modules).unwrap();
        // Hard links: the modules take 400 MB, and neither copy is ever written.
        run(
            "cp modules",
            Command::new("cp")
                .arg("-al")
                .arg(kernel.join("lib/modules").join(release))
                .arg(&modules),
        );
        // busybox's depmod is not enough for kmod's modprobe.
        run(
            "depmod",
            Command::new("chroot")
                .arg(root)
                .args(["depmod", "-a", release]),
        );
    })
}

/// The package `deb` rebuilt at `to` with the same contents and no compression: unpacking the
/// xz-compressed one takes a good part of the guest's time under emulation.
fn uncompressed(deb: &Path, scratch: &Path, to: &Path) {
    let tree = scratch.join("package-tree");
    run(
        "dpkg-deb -R",
        Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree),
    );
    run(
        "dpkg-deb -b",
        Command::new("dpkg-deb")
            .args(["-Znone", "--root-owner-group", "-b"])
            .arg(&tree)
            .arg(to),
    );
    std::fs::remove_dir_all(&tree).unwrap();
}

/// A cache entry's file name (what names its inputs), for the keys of the entries built on it.
fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Removes the cache entries of earlier inputs (a kernel update, a changed package list or
/// init script), which would otherwise pile up at 400 MB to 1 GB each.
fn prune(vm_dir: &Path, keep: &[&Path]) {
    let keep: Vec<String> = keep.iter().map(|path| name_of(path)).collect();
    for entry in std::fs::read_dir(vm_dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let cached = ["kernel-", "initrd-", "rootfs-"]
            .iter()
            .any(|kind| name.starts_with(kind));
        // Folders still being built (".building-PID") may be another run's.
        if cached && !name.contains(".building") && !keep.contains(&name) {
            println!("removing the stale cache entry {name}");
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
}

/// A sparse disk image of [`DISK_MIB`], with an ext4 labelled `label` when given.
fn disk(dir: &Path, name: &str, label: Option<&str>) -> PathBuf {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(DISK_MIB << 20).unwrap();
    if let Some(label) = label {
        run(
            "mkfs.ext4",
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", label])
                .arg(&path),
        );
    }
    path
}

/// A QMP connection to the running qemu.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    /// Connects (qemu makes the socket soon after it starts) and leaves capabilities
    /// negotiation.
    fn connect(socket: &Path) -> Result<Qmp, String> {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(err) if started.elapsed() > Duration::from_secs(10) => {
                    return Err(format!("cannot connect to {}: {err}", socket.display()));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        qmp.message()?; // The greeting.
        qmp.execute("qmp_capabilities", serde_json::json!({}))?;
        Ok(qmp)
    }

    fn message(&mut self) -> Result<serde_json::Value, String> {
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .map_err(|err| format!("QMP read: {err}"))?;
        serde_json::from_str(&line).map_err(|err| format!("QMP sent {line:?}: {err}"))
    }

    /// Runs one command and returns its answer; events that come first are skipped.
    fn execute(
        &mut self,
        command: &str,
        arguments: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let request = serde_json::json!({"execute": command, "arguments": arguments});
        writeln!(self.writer, "{request}").map_err(|err| format!("QMP write: {err}"))?;
        loop {
            let answer = self.message()?;
            if let Some(value) = answer.get("return") {
                return Ok(value.clone());
            }
            if let Some(error) = answer.get("error") {
                return Err(format!("QMP {command}: {error}"));
            }
        }
    }

    /// Waits for the event `name` (after a device_del, DEVICE_DELETED).
    fn event(&mut self, name: &str) -> Result<(), String> {
        loop {
            if self.message()?.get("event").and_then(|e| e.as_str()) == Some(name) {
                return Ok(());
            }
        }
    }

    fn plug_usb(&mut self, image: &Path) -> Result<(), String> {
        self.execute(
            "blockdev-add",
            serde_json::json!({
                "node-name": "stick",
                "driver": "raw",
                "file": {"driver": "file", "filename": image},
            }),
        )?;
        self.execute(
            "device_add",
            serde_json::json!({
                "driver": "usb-storage",
                "id": "stick0",
                "drive": "stick",
                "bus": "xhci.0",
                "removable": true,
                "serial": "VMSTICK",
            }),
        )
        .map(drop)
    }

    fn unplug_usb(&mut self) -> Result<(), String> {
        self.execute("device_del", serde_json::json!({"id": "stick0"}))?;
        self.event("DEVICE_DELETED")?;
        self.execute("blockdev-del", serde_json::json!({"node-name": "stick"}))
            .map(drop)
    }
}

/// Boots the VM and returns qemu's exit status (None when it was killed at the deadline) and
/// the console's lines.
fn boot(
    kernel: &Path,
    initrd: &Path,
    rootfs: &Path,
    run_dir: &Path,
    share: &Path,
) -> (Option<i32>, Vec<String>) {
    let qmp_socket = run_dir.join("qmp.sock");
    let usb = disk(run_dir, "usb.img", Some("VMSTICK"));
    let drive = |id: &str, file: &Path| {
        [
            "-drive".to_string(),
            format!("if=none,id={id},format=raw,file={}", file.display()),
        ]
    };
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2"])
        .args([
            "-nographic",
            "-nodefaults",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .args(["-nic", "none"])
        .arg("-kernel")
        .arg(kernel.join("vmlinuz"))
        .arg("-initrd")
        .arg(initrd)
        // No login prompt on the console the test reads; e2scrub_reap has nothing to do in a
        // fresh guest and takes 17 s of the boot under emulation.
        .args([
            "-append",
            "console=ttyS0 panic=-1 quiet systemd.show_status=no systemd.wants=vm.service \
             systemd.mask=serial-getty@ttyS0.service systemd.mask=e2scrub_reap.service",
        ])
        // The rootfs read-only: the guest writes to a tmpfs overlay, never to the cache.
        .arg("-fsdev")
        .arg(format!(
            "local,id=root,path={},security_model=passthrough,multidevs=remap,readonly=on",
            rootfs.display()
        ))
        .args(["-device", "virtio-9p-pci,fsdev=root,mount_tag=root"])
        .arg("-fsdev")
        .arg(format!(
            "local,id=vm,path={},security_model=none,readonly=on",
            share.display()
        ))
        .args(["-device", "virtio-9p-pci,fsdev=vm,mount_tag=vm"]);
    for (id, label) in [
        ("vmluks", None),
        ("vmlvm", None),
        ("vmdata", Some("VMDATA")),
    ] {
        let image = disk(run_dir, &format!("{id}.img"), label);
        qemu.args(drive(id, &image)).args([
            "-device".to_string(),
            format!("virtio-blk-pci,drive={id},serial={id}"),
        ]);
    }
    let sd = disk(run_dir, "sd.img", Some("VMSD"));
    qemu.args(["-device", "sdhci-pci"])
        .args(drive("sd0", &sd))
        .args(["-device", "sd-card,drive=sd0"])
        // The USB stick comes later, through QMP.
        .args(["-device", "qemu-xhci,id=xhci"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp_socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = qemu.spawn().expect("qemu-system-x86_64");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let readers: Vec<_> = [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|stream| {
        let lines_tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = lines_tx.send(line.trim_end_matches('\r').to_string());
            }
        })
    })
    .collect();
    drop(lines_tx);

    let started = Instant::now();
    let mut output = Vec::new();
    let mut qmp: Option<Qmp> = None;
    let host_says = |what: String, output: &mut Vec<String>| {
        println!("{what}");
        output.push(what);
    };
    let status = loop {
        match lines_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let request = line
                    .split_once("vm: host ")
                    .map(|(_, r)| r.trim().to_string());
                output.push(line);
                if let Some(request) = request {
                    let done = (|| {
                        if qmp.is_none() {
                            qmp = Some(Qmp::connect(&qmp_socket)?);
                        }
                        let qmp = qmp.as_mut().unwrap();
                        match request.as_str() {
                            "plug-usb" => qmp.plug_usb(&usb),
                            "unplug-usb" => qmp.unplug_usb(),
                            other => Err(format!("unknown request {other:?}")),
                        }
                    })();
                    host_says(
                        format!(
                            "host: {request} at {:.1} s: {}",
                            started.elapsed().as_secs_f64(),
                            done.map_or_else(|err| format!("FAILED: {err}"), |()| "done".into())
                        ),
                        &mut output,
                    );
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // Both streams closed: qemu is ending.
            Err(RecvTimeoutError::Disconnected) => {
                break child.wait().unwrap().code();
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            host_says(
                format!("host: killed qemu after {} s", DEADLINE.as_secs()),
                &mut output,
            );
            break None;
        }
    };
    for reader in readers {
        let _ = reader.join();
    }
    output.extend(lines_rx.try_iter());
    println!("the VM ran for {:.1} s", started.elapsed().as_secs_f64());
    (status, output)
}

#[test]
fn devices_in_a_vm() {
    if !common::bus::require_root("devices_in_a_vm") || !tools_present("devices_in_a_vm", TOOLS) {
        return;
    }
    let started = Instant::now();
    let vm_dir = target_dir().join("vm");
    std::fs::create_dir_all(&vm_dir).unwrap();
    let (kernel, release) = kernel(&vm_dir);
    let initrd = initrd(&vm_dir, &kernel, &release);
    let rootfs = guest_rootfs(&vm_dir, &kernel, &release);
    prune(&vm_dir, &[&kernel, &initrd, &rootfs]);
    let deb = debian_package(&vm_dir);
    println!(
        "the kernel, initrd, rootfs and package are ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The run's disks and QMP socket, and what the guest sees at /vm: the driver, its unit
    // and configuration, and the package.
    let run_dir = tempfile::tempdir_in(&vm_dir).unwrap();
    let share = run_dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    for name in ["driver.sh", "vm.service", "50-vm.toml"] {
        std::fs::copy(repo().join("tests/vm").join(name), share.join(name)).unwrap();
    }
    uncompressed(&deb, run_dir.path(), &share.join("learning-contractsd.deb"));

    let (status, output) = boot(&kernel, &initrd, &rootfs, run_dir.path(), &share);
    let console = output.join("\n");
    println!("{console}");
    println!("the VM suite took {:.1} s", started.elapsed().as_secs_f64());
    let outcome = |check: &str| {
        output.iter().find_map(|line| {
            let (_, said) = line.split_once("vm: ")?;
            if said == format!("ok - {check}") {
                Some(Ok(()))
            } else {
                said.strip_prefix(&format!("FAIL - {check}: "))
                    .map(|why| Err(why.to_string()))
            }
        })
    };
    let failures: Vec<String> = CHECKS
        .iter()
        .filter_map(|check| match outcome(check) {
            Some(Ok(())) => None,
            Some(Err(why)) => Some(format!("FAIL - {check}: {why}")),
            None => Some(format!("never reported - {check}")),
        })
        .collect();
    // One line per check, written to the terminal past the test harness's capture (which takes
    // print! and eprint! only), so CI's log shows every check whether the suite passes or not.
    let mut summary = String::new();
    for check in CHECKS {
        summary.push_str(&match outcome(check) {
            Some(Ok(())) => format!("vm: ok - {check}\n"),
            Some(Err(why)) => format!("vm: FAIL - {check}: {why}\n"),
            None => format!("vm: FAIL - {check}: never reported\n"),
        });
    }
    summary.push_str(&format!(
        "vm: the suite took {:.1} s\n",
        started.elapsed().as_secs_f64()
    ));
    let _ = std::io::Write::write_all(&mut std::io::stderr(), summary.as_bytes());
    assert!(
        failures.is_empty(),
        "{} of {} VM checks did not pass:\n{}\n\nThe console:\n{console}",
        failures.len(),
        CHECKS.len(),
        failures.join("\n")
    );
    assert_eq!(
        status,
        Some(0),
        "every check passed but qemu exited with {status:?}:\n{console}"
    );
}
