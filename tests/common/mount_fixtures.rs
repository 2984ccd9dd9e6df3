//! Fixtures for the mount detection tests: a fake sysfs tree laid out like the kernel's, a
//! private mount namespace on a dedicated thread, and loop-device ext4 images that are always
//! detached again.

#![allow(dead_code)]

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fake sysfs in a temporary directory: `devices/…` holds the device directories,
/// `class/block/NAME` and `dev/block/MAJ:MIN` are symlinks to them, as in the real tree.
pub struct FakeSysfs {
    dir: tempfile::TempDir,
}

/// Where a fake USB stick's disk hangs: below the root hub `usb1`.
pub const USB_PARENT: &str = "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0";
/// Where a fake SATA disk hangs.
pub const SATA_PARENT: &str = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0";
/// The SD card slot of a PCI SDHCI reader: the card `mmc0:aaaa` on host `mmc0`.
pub const SD_CARD: &str = "pci0000:00/0000:00:1c.0/0000:02:00.0/mmc_host/mmc0/mmc0:aaaa";
/// A Thunderbolt dock's PCIe tunnel: bridges below the root port `0000:00:07.0`, then an NVMe
/// controller, which the kernel marks `removable` (below an external-facing port).
pub const THUNDERBOLT_NVME: &str =
    "pci0000:00/0000:00:07.0/0000:2c:00.0/0000:2d:01.0/0000:2e:00.0/nvme/nvme1";
/// A disk on AHCI port 3 (`ata3`, SCSI host `host2`).
pub const AHCI_PORT3_PARENT: &str = "pci0000:00/0000:00:17.0/ata3/host2/target2:0:0/2:0:0:0";

impl FakeSysfs {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the fake sysfs");
        for sub in ["class/block", "dev/block", "devices/virtual/block"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("fake sysfs layout");
        }
        Self { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A whole disk `devices/PARENT/block/NAME` with `dev` and `removable`.
    pub fn disk(&self, parent: &str, name: &str, number: (u32, u32), removable: bool) -> PathBuf {
        let device = self
            .root()
            .join("devices")
            .join(parent)
            .join("block")
            .join(name);
        self.device(&device, name, number);
        write(
            &device.join("removable"),
            if removable { "1\n" } else { "0\n" },
        );
        device
    }

    /// A partition of `disk`: a subdirectory with `dev` and `partition` (no `removable`, as in
    /// the kernel's tree).
    pub fn partition(&self, disk: &Path, name: &str, number: (u32, u32)) -> PathBuf {
        let device = disk.join(name);
        self.device(&device, name, number);
        write(&device.join("partition"), "1\n");
        device
    }

    /// A device-mapper device `devices/virtual/block/NAME` with `dm/name`, `dm/uuid` and
    /// `slaves/*` links to the devices it is stacked on.
    pub fn dm(
        &self,
        name: &str,
        number: (u32, u32),
        mapper_name: &str,
        uuid: &str,
        lower: &[&Path],
    ) -> PathBuf {
        let device = self.root().join("devices/virtual/block").join(name);
        self.device(&device, name, number);
        write(&device.join("removable"), "0\n");
        write(&device.join("dm/name"), &format!("{mapper_name}\n"));
        write(&device.join("dm/uuid"), &format!("{uuid}\n"));
        self.stack_on(&device, lower);
        device
    }

    /// Adds `slaves/*` links from `device` to each of `lower`.
    pub fn stack_on(&self, device: &Path, lower: &[&Path]) {
        std::fs::create_dir_all(device.join("slaves")).expect("slaves directory");
        for lower in lower {
            let name = lower.file_name().expect("a device directory has a name");
            symlink(lower, device.join("slaves").join(name)).expect("slaves link");
        }
    }

    /// `class/block/NAME` as a plain directory (no symlink, no `dev/block` entry), with the
    /// given attributes (`dm/uuid` style paths allowed): the minimal fakes tests may build.
    pub fn bare(&self, name: &str, attributes: &[(&str, &str)]) -> PathBuf {
        let device = self.root().join("class/block").join(name);
        std::fs::create_dir_all(&device).expect("bare device directory");
        for (attribute, value) in attributes {
            write(&device.join(attribute), &format!("{value}\n"));
        }
        device
    }

    /// Writes `devices/RELATIVE` (an attribute of some device in the tree, made if missing).
    pub fn device_attribute(&self, relative: &str, value: &str) {
        write(
            &self.root().join("devices").join(relative),
            &format!("{value}\n"),
        );
    }

    /// Makes `devices/DEVICE/subsystem` a link to `bus/BUS`, as the kernel links a device to
    /// the bus it is on.
    pub fn on_bus(&self, device: &str, bus: &str) {
        let bus_dir = self.root().join("bus").join(bus);
        std::fs::create_dir_all(&bus_dir).expect("bus directory");
        let device = self.root().join("devices").join(device);
        std::fs::create_dir_all(&device).expect("device directory");
        symlink(&bus_dir, device.join("subsystem")).expect("subsystem link");
    }

    /// A `class/block/NAME` and `dev/block/MAJ:MIN` link to `target` (anywhere, even outside).
    pub fn link(&self, name: &str, number: (u32, u32), target: &Path) {
        symlink(target, self.root().join("class/block").join(name)).expect("class/block link");
        let (major, minor) = number;
        symlink(
            target,
            self.root().join(format!("dev/block/{major}:{minor}")),
        )
        .expect("dev/block link");
    }

    fn device(&self, device: &Path, name: &str, number: (u32, u32)) {
        std::fs::create_dir_all(device).expect("device directory");
        let (major, minor) = number;
        write(&device.join("dev"), &format!("{major}:{minor}\n"));
        self.link(name, number, device);
    }
}

impl Default for FakeSysfs {
    fn default() -> Self {
        Self::new()
    }
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("attribute directory");
    }
    std::fs::write(path, text).expect("attribute");
}

/// Tests that need something this machine may lack: under CI they fail, elsewhere they print
/// one line saying what was skipped and why.
pub fn skip_or_fail(test: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} cannot run ({why}), and CI=true: tests may not be skipped in CI");
    }
    eprintln!("skipped {test}: {why}");
}

/// Runs `body` on a dedicated thread that has its own mount namespace with every mount
/// private, so nothing it mounts reaches the host and the host's mount events do not reach
/// it. `/proc/thread-self/mountinfo` on that thread (and in children it spawns) is the private
/// table. Returns `None` when the test was skipped (not root, or no namespaces).
pub fn in_private_mount_namespace<R: Send + 'static>(
    test: &str,
    body: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    if !nix::unistd::geteuid().is_root() {
        skip_or_fail(test, "needs root to create a mount namespace");
        return None;
    }
    let thread = std::thread::spawn(move || -> Result<R, String> {
        use nix::mount::{MsFlags, mount};
        use nix::sched::{CloneFlags, unshare};
        // Per thread: unshare(CLONE_NEWNS) also unshares this thread's fs struct only.
        unshare(CloneFlags::CLONE_NEWNS).map_err(|err| format!("unshare(CLONE_NEWNS): {err}"))?;
        // Before anything is mounted: stop propagation both ways (mount --make-rprivate /).
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|err| format!("making / private in the new namespace: {err}"))?;
        Ok(body())
    });
    match thread.join() {
        Ok(Ok(result)) => Some(result),
        Ok(Err(why)) => {
            skip_or_fail(test, &format!("no private mount namespace: {why}"));
            None
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Whether the loop-device tools are there (util-linux's losetup, e2fsprogs' mkfs.ext4).
pub fn loop_tools_available(test: &str) -> bool {
    for tool in ["losetup", "mkfs.ext4"] {
        // Only whether it can be started matters; `-V` just keeps it from doing anything.
        if Command::new(tool).arg("-V").output().is_err() {
            skip_or_fail(test, &format!("{tool} is not installed"));
            return false;
        }
    }
    if !Path::new("/dev/loop-control").exists() {
        skip_or_fail(test, "the kernel has no loop devices (/dev/loop-control)");
        return false;
    }
    true
}

/// An 8 MiB ext4 image attached to a free loop device; detached when dropped, even when the
/// test fails (if still mounted, the kernel detaches it on the last unmount).
pub struct LoopImage {
    pub device: PathBuf,
    pub number: (u32, u32),
    _dir: tempfile::TempDir,
}

impl LoopImage {
    pub fn create() -> Self {
        let dir = tempfile::tempdir().expect("a directory for the image");
        let image = dir.path().join("disk.img");
        run("truncate", &["-s", "8M", path_str(&image)]);
        run("mkfs.ext4", &["-q", path_str(&image)]);
        let output = Command::new("losetup")
            .args(["-f", "--show", path_str(&image)])
            .output()
            .expect("run losetup");
        assert!(
            output.status.success(),
            "losetup -f --show: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let device = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        // The guard exists before anything else can fail, so the device is always detached.
        let mut attached = Self {
            number: (0, 0),
            device,
            _dir: dir,
        };
        let rdev = std::fs::metadata(&attached.device)
            .expect("stat the loop device")
            .rdev();
        attached.number = (libc::major(rdev), libc::minor(rdev));
        attached
    }

    /// `loopN`.
    pub fn name(&self) -> String {
        self.device
            .file_name()
            .expect("a device path has a name")
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for LoopImage {
    fn drop(&mut self) {
        let detached = Command::new("losetup")
            .arg("-d")
            .arg(&self.device)
            .status()
            .is_ok_and(|status| status.success());
        if !detached {
            eprintln!("warning: could not detach {}", self.device.display());
        }
    }
}

/// A mount made in the private namespace, lazily detached when dropped.
pub struct Mounted(pub PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        // Already unmounted by the test is fine; anything left goes with the namespace.
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Runs a command, failing the test with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The daemon's state directory on an 8 MiB ext4 of its own: `root` holds the config and the
/// log, `root/state` is the mounted filesystem. Unmounted, then detached, when dropped.
pub struct SmallStateDisk {
    _mounted: Mounted,
    _image: LoopImage,
    /// The daemon's root folder (config, log).
    pub root: tempfile::TempDir,
    /// The mount point, the daemon's state directory.
    pub state: PathBuf,
}

impl SmallStateDisk {
    /// Makes, formats and mounts it; needs root in a private mount namespace.
    pub fn mount() -> Self {
        let image = LoopImage::create();
        let root = tempfile::tempdir().unwrap();
        let state = root.path().join("state");
        std::fs::create_dir(&state).unwrap();
        run(
            "mount",
            &["-t", "ext4", path_str(&image.device), path_str(&state)],
        );
        Self {
            _mounted: Mounted(state.clone()),
            _image: image,
            root,
            state,
        }
    }
}

/// Fills the filesystem holding `path` with a file there until not even a small write fits.
pub fn fill(path: &Path) -> std::fs::File {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap();
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512] {
        let buffer = vec![0xA5u8; chunk];
        while file.write_all(&buffer).is_ok() {}
    }
    let _ = file.sync_all();
    file
}
