//! Mount state for the detector: the mount table parsed from `/proc/self/mountinfo`, the facts
//! COLDROOM depends on (removable media mounted, persistent writable storage encrypted) judged
//! from sysfs, and a watcher that wakes on the kernel's mount-change notification.
//!
//! Decisions (SEMANTICS.md asks for fail-closed choices to be written down):
//! - A mount is *persistent* unless its filesystem type is listed in
//!   [`MountPolicy::volatile_fstypes`]. Network, FUSE, ZFS, overlay, 9p and virtiofs mounts have
//!   no block device of their own yet may keep data, so they count as persistent, and as they are
//!   never shown to be encrypted they keep the host out of COLDROOM until an admin says otherwise.
//! - A mount is *encrypted* only when sysfs shows its block device is a dm-crypt mapping made by
//!   cryptsetup for an encrypting format, or a stack (LVM, RAID, partitions) whose every lower
//!   device is. dm-verity and dm-integrity mappings share cryptsetup's `CRYPT-` uuid prefix but
//!   do not encrypt, so they do not count. Anything sysfs cannot show is not encrypted.
//! - A mount is *writable* unless its filesystem's super block is read-only (the `ro` after the
//!   ` - ` separator in mountinfo). The per-mount `ro` is not the storage's state: systemd's
//!   `ProtectSystem=strict` remounts every host mount read-only inside the service's own mount
//!   namespace, and a read-only bind leaves the filesystem writable through its other mounts
//!   and to root. Only a read-only super block keeps what the host writes off the disk.
//! - A mount is *removable* when its device, the disk it is a partition of, or any device it is
//!   stacked on has sysfs `removable` = 1, or hangs where [`MountPolicy::removable_buses`] says
//!   removable media hang: below a USB root hub (USB disks often report `removable` = 0), on an
//!   MMC/SD host (the MMC block driver never sets `removable`), behind a device the kernel marks
//!   `removable` or on the `thunderbolt` bus (Thunderbolt/USB4 PCIe tunnels), or on an AHCI port
//!   whose `ahci_port_cmd` has the External SATA Port bit. A LUKS volume on a USB stick is
//!   therefore removable. A device sysfs does not know is not removable; it is not encrypted
//!   either, so a writable one still blocks COLDROOM. What sysfs cannot show (eMMC versus an MMC
//!   card, an eSATA bracket cabled to an internal port, a controller that is not AHCI) is
//!   documented in [`RemovableBus`].
//! - A mount whose device number is known is resolved by that number, which the kernel reports
//!   and nobody can choose. The `source` text is only used when the number finds nothing (btrfs
//!   and other filesystems on anonymous device numbers), never for FUSE mounts, whose source any
//!   user may set, and never when it names a device with a different number.
//! - Mounts under [`MountPolicy::ignore_mount_points`] are left out of the facts entirely.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use thiserror::Error;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

/// The mount table the daemon watches unless configured otherwise.
pub const DEFAULT_MOUNTINFO_PATH: &str = "/proc/self/mountinfo";

/// One line of mountinfo, the parts the facts need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Where it is mounted, unescaped.
    pub mount_point: String,
    /// The filesystem type, such as `ext4` or `fuse.sshfs`.
    pub fstype: String,
    /// The mount source, unescaped (`/dev/sdb1`, `tmpfs`, possibly empty).
    pub source: String,
    /// Whether this mount is read-only (the per-mount `ro` option). A sandbox (systemd's
    /// `ProtectSystem=`) or a read-only bind sets it on filesystems that stay writable.
    pub read_only: bool,
    /// Whether the filesystem itself is read-only: the super block's `ro`, the first of the
    /// options after the ` - ` separator. Only this keeps the host's writes off the storage.
    pub super_read_only: bool,
    /// The major number of the device the kernel reports (0 for anonymous devices).
    pub major: u32,
    /// The minor number of the device the kernel reports.
    pub minor: u32,
}

/// Parses mountinfo text (see proc(5)). Lines that do not have the documented shape are
/// skipped: the parser never panics on any input.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    parse_mountinfo_counting(text).0
}

/// Like [`parse_mountinfo`], also counting the non-empty lines that were skipped.
fn parse_mountinfo_counting(text: &str) -> (Vec<Mount>, usize) {
    let mut mounts = Vec::new();
    let mut skipped = 0;
    // Split on '\n' only: the kernel does not escape '\r', so it may end a mount point.
    for line in text.split('\n').filter(|line| !line.is_empty()) {
        match parse_mountinfo_line(line) {
            Some(mount) => mounts.push(mount),
            None => skipped += 1,
        }
    }
    (mounts, skipped)
}

/// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    // Single spaces separate the fields; an empty source shows up as an empty field.
    let mut fields = line.split(' ');
    let _mount_id = parse_decimal(fields.next()?)?;
    let _parent_id = parse_decimal(fields.next()?)?;
    let (major, minor) = parse_device_number(fields.next()?)?;
    let root = fields.next()?;
    let mount_point = fields.next()?;
    let mount_options = fields.next()?;
    if root.is_empty() || mount_point.is_empty() || mount_options.is_empty() {
        return None;
    }
    // Optional fields (shared:N, master:N, propagate_from:N, unbindable) end at a lone "-".
    loop {
        match fields.next()? {
            "-" => break,
            "" => return None,
            _ => {}
        }
    }
    let fstype = fields.next()?;
    let source = fields.next()?;
    let super_options = fields.next()?;
    if fstype.is_empty() {
        return None;
    }
    Some(Mount {
        mount_point: unescape_octal(mount_point),
        fstype: unescape_octal(fstype),
        source: unescape_octal(source),
        read_only: mount_options.split(',').any(|option| option == "ro"),
        // The kernel prints the super block's state first; anything else reads writable.
        super_read_only: super_options.split(',').next() == Some("ro"),
        major,
        minor,
    })
}

fn parse_decimal(field: &str) -> Option<u32> {
    if field.is_empty() || !field.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

fn parse_device_number(field: &str) -> Option<(u32, u32)> {
    let (major, minor) = field.split_once(':')?;
    Some((parse_decimal(major)?, parse_decimal(minor)?))
}

/// Undoes the kernel's `\ooo` escapes (space, tab, newline and backslash in mountinfo). A
/// backslash not followed by three octal digits of a byte value stays as it is; bytes that are
/// not UTF-8 become U+FFFD.
fn unescape_octal(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\\'
            && let Some(byte) = bytes.get(index + 1..index + 4).and_then(octal_byte)
        {
            out.push(byte);
            index += 4;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn octal_byte(digits: &[u8]) -> Option<u8> {
    let mut value: u32 = 0;
    for &digit in digits {
        if !(b'0'..=b'7').contains(&digit) {
            return None;
        }
        value = value * 8 + u32::from(digit - b'0');
    }
    u8::try_from(value).ok()
}

/// How mounts are judged: `[mode.detect.mounts]` in the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MountPolicy {
    /// Filesystem types whose content lives only in memory (or that hold nothing at all), so
    /// they are never persistent storage. Deliberately absent: `overlay` (its upper layer may be
    /// on disk), `pstore` and `efivarfs` (firmware storage that survives reboots), FUSE types.
    pub volatile_fstypes: Vec<String>,
    /// Mount point prefixes, compared path component by path component, whose mounts are left
    /// out of the facts. `/run` is not in the default on purpose: desktops mount removable media
    /// under `/run/media`.
    pub ignore_mount_points: Vec<String>,
    /// Where sysfs is; tests point it at a fake tree. Nothing outside it is ever read.
    pub sysfs_root: PathBuf,
    /// Where storage hangs that counts as removable media even though the kernel's block
    /// `removable` flag (which always counts) says 0. See [`RemovableBus`].
    pub removable_buses: Vec<RemovableBus>,
}

/// Where a block device hangs that makes it removable media: the values of
/// `[mode.detect.mounts] removable_buses`. Every kind is read from sysfs alone, walking the
/// device's path (`/sys/devices/...`) from the top down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovableBus {
    /// `usb`: below a USB root hub (a `usbN` component of the device path).
    Usb,
    /// `mmc`: any card on an MMC/SD host (an `mmc_host` component, or an `mmcblk` device):
    /// SD cards, MMC cards and soldered eMMC alike, since sysfs cannot tell an MMC card in a
    /// slot from eMMC (both have `type` MMC).
    Mmc,
    /// `sd`: cards on an MMC/SD host except those whose `type` is `MMC`, for hosts whose system
    /// disk is eMMC. A card whose type sysfs does not show counts.
    Sd,
    /// `thunderbolt`: behind a device the kernel marks removable (its device `removable`
    /// attribute reads `removable`; the PCI core sets it below external-facing ports, which is
    /// how Thunderbolt and USB4 PCIe tunnels appear), or below a device on the `thunderbolt`
    /// bus. Firmware that does not declare its Thunderbolt ports external hides the tunnel.
    Thunderbolt,
    /// `esata`: on an AHCI port whose `scsi_host/hostN/ahci_port_cmd` has bit 21 set (ESP,
    /// External SATA Port). Firmware sets ESP only for ports it knows to be external; an eSATA
    /// bracket cabled to an internal port, or a controller that is not AHCI, cannot be told
    /// from a fixed disk.
    Esata,
    /// `sata_hotplug`: on an AHCI port with bit 18 set (HPCP, Hot Plug Capable Port):
    /// hot-swap bays, and on some boards every port, so it is not in the default.
    SataHotplug,
}

impl Default for MountPolicy {
    fn default() -> Self {
        let volatile = [
            "tmpfs",
            "ramfs",
            "rootfs",
            "proc",
            "sysfs",
            "devtmpfs",
            "devpts",
            "cgroup",
            "cgroup2",
            "mqueue",
            "debugfs",
            "tracefs",
            "securityfs",
            "selinuxfs",
            "bpf",
            "configfs",
            "fusectl",
            "hugetlbfs",
            "autofs",
            "binfmt_misc",
            "nsfs",
            "rpc_pipefs",
            "nfsd",
        ];
        Self {
            volatile_fstypes: volatile.iter().map(|fstype| fstype.to_string()).collect(),
            ignore_mount_points: vec!["/proc".into(), "/sys".into()],
            sysfs_root: PathBuf::from("/sys"),
            removable_buses: vec![
                RemovableBus::Usb,
                RemovableBus::Mmc,
                RemovableBus::Thunderbolt,
                RemovableBus::Esata,
            ],
        }
    }
}

impl MountPolicy {
    fn is_volatile(&self, fstype: &str) -> bool {
        self.volatile_fstypes
            .iter()
            .any(|volatile| volatile == fstype)
    }

    fn is_ignored(&self, mount_point: &str) -> bool {
        self.ignore_mount_points
            .iter()
            .any(|prefix| is_under(mount_point, prefix))
    }
}

/// Whether `path` is `prefix` or below it, by whole components (`/run` does not cover `/running`).
fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return path.starts_with('/');
    }
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// What the detector knows about one mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MountFact {
    /// Where it is mounted.
    pub mount_point: String,
    /// The filesystem type.
    pub fstype: String,
    /// The mount source as the kernel reports it.
    pub source: String,
    /// The block device sysfs knows it by (`sdb1`, `dm-0`), when sysfs knows it.
    pub block_device: Option<String>,
    /// Its filesystem's super block is not read-only, so the host can write to it (a per-mount
    /// `ro`, as a sandbox shows it, does not count).
    pub writable: bool,
    /// Its filesystem type is not a volatile one, so what is written may outlive a reboot.
    pub persistent: bool,
    /// Its storage is removable or on a USB bus, or stacked on such a device.
    pub removable: bool,
    /// Its storage is a dm-crypt mapping, or stacked only on such mappings.
    pub encrypted: bool,
    /// Short phrases saying why it is judged writable, persistent, removable and encrypted or
    /// not, one each, in that order.
    pub reasons: Vec<String>,
}

/// The mount facts the COLDROOM rule reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MountFacts {
    /// Every mount not ignored by the policy, in mount table order.
    pub mounts: Vec<MountFact>,
    /// Whether any removable media is mounted (read-only counts too).
    pub removable_mounted: bool,
    /// Mount points of removable media.
    pub removable_mount_points: Vec<String>,
    /// Mount points of persistent, writable mounts that are not shown to be encrypted.
    pub unencrypted_persistent_writable: Vec<String>,
    /// Whether the table has a root mount. A table without one (empty, or truncated) cannot
    /// vouch for anything, so it never counts as all-encrypted.
    pub has_root_mount: bool,
    /// Whether every persistent writable mount is encrypted (and the table has a root mount).
    pub all_persistent_writable_encrypted: bool,
}

/// Judges `mounts` by `policy`, reading sysfs under `policy.sysfs_root`. sysfs lives in memory,
/// so this does no disk I/O, but it does make a few small reads per mount.
pub fn mount_facts(mounts: &[Mount], policy: &MountPolicy) -> MountFacts {
    let mut sysfs = Sysfs::new(&policy.sysfs_root, &policy.removable_buses);
    let has_root_mount = mounts.iter().any(|mount| mount.mount_point == "/");
    let facts: Vec<MountFact> = mounts
        .iter()
        .filter(|mount| !policy.is_ignored(&mount.mount_point))
        .map(|mount| judge_mount(mount, policy, &mut sysfs))
        .collect();
    let removable_mount_points: Vec<String> = facts
        .iter()
        .filter(|fact| fact.removable)
        .map(|fact| fact.mount_point.clone())
        .collect();
    let unencrypted_persistent_writable: Vec<String> = facts
        .iter()
        .filter(|fact| fact.persistent && fact.writable && !fact.encrypted)
        .map(|fact| fact.mount_point.clone())
        .collect();
    MountFacts {
        removable_mounted: !removable_mount_points.is_empty(),
        all_persistent_writable_encrypted: has_root_mount
            && unencrypted_persistent_writable.is_empty(),
        mounts: facts,
        removable_mount_points,
        unencrypted_persistent_writable,
        has_root_mount,
    }
}

fn judge_mount(mount: &Mount, policy: &MountPolicy, sysfs: &mut Sysfs) -> MountFact {
    let device = sysfs.device_of(mount);
    let block_device = device.as_deref().map(device_name);
    let persistent = !policy.is_volatile(&mount.fstype);
    let removable = device
        .as_deref()
        .and_then(|device| sysfs.removable_reason(device));
    let encrypted = device
        .as_deref()
        .and_then(|device| sysfs.encrypted_reason(device));
    let fstype = &mount.fstype;
    let reasons = vec![
        match (mount.super_read_only, mount.read_only) {
            (true, _) => "read-only: super block ro".to_string(),
            (false, true) => "writable: super block rw (the per-mount ro comes from a sandbox \
                              or a read-only bind)"
                .to_string(),
            (false, false) => "writable: super block rw".to_string(),
        },
        if persistent {
            format!("persistent: {fstype} is not a volatile filesystem type")
        } else {
            format!("volatile: {fstype} is in volatile_fstypes")
        },
        match (&block_device, &removable) {
            (_, Some(why)) => format!("removable: {why}"),
            (Some(name), None) => format!("fixed: sysfs shows no removable flag or bus for {name}"),
            (None, None) => "fixed: sysfs shows no block device".to_string(),
        },
        match (&block_device, &encrypted) {
            (_, Some(why)) => format!("encrypted: {why}"),
            (Some(name), None) => format!("not encrypted: no dm-crypt mapping under {name}"),
            (None, None) => "not encrypted: sysfs shows no block device".to_string(),
        },
    ];
    MountFact {
        mount_point: mount.mount_point.clone(),
        fstype: mount.fstype.clone(),
        source: mount.source.clone(),
        block_device,
        writable: !mount.super_read_only,
        persistent,
        removable: removable.is_some(),
        encrypted: encrypted.is_some(),
        reasons,
    }
}

fn device_name(device: &Path) -> String {
    device
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// AHCI PxCMD bits (`ahci_port_cmd`): External SATA Port, Hot Plug Capable Port.
const AHCI_PORT_CMD_ESP: u32 = 1 << 21;
const AHCI_PORT_CMD_HPCP: u32 = 1 << 18;
/// More reasons than this from the devices under one stack are cut short.
const MAX_LOWER_REASONS: usize = 3;

/// cryptsetup names its mappings `CRYPT-<TYPE>-…`; these types encrypt. VERITY, INTEGRITY and
/// SUBDEV (the integrity device under an authenticated LUKS2 volume) do not, and a type not
/// listed here is not trusted to.
const ENCRYPTING_CRYPT_TYPES: &[&str] = &[
    "PLAIN", "LUKS1", "LUKS2", "LOOPAES", "TCRYPT", "BITLK", "FVAULT2",
];

/// Stacks deeper than this are not real; treat them as garbage (not encrypted, removable).
const MAX_STACK_DEPTH: usize = 16;
/// More lower devices than this under one device are not read; such a device is not vouched for.
const MAX_SLAVES: usize = 256;
/// Block devices scanned when looking a device up by name.
const MAX_BLOCK_DEVICES: usize = 16_384;
/// sysfs attributes are at most a page.
const MAX_ATTRIBUTE_BYTES: u64 = 4096;

/// Read-only lookups in one sysfs tree. Every path is canonicalized and must stay inside the
/// root, so a symlink in a (fake or hostile) tree never leads the daemon elsewhere.
struct Sysfs {
    root: Option<PathBuf>,
    buses: Vec<RemovableBus>,
    removable_memo: HashMap<PathBuf, Visit>,
    encrypted_memo: HashMap<PathBuf, Visit>,
}

/// A device being judged, or judged: `Some(why)` when the property holds.
#[derive(Clone)]
enum Visit {
    InProgress,
    Done(Option<String>),
}

impl Sysfs {
    fn new(root: &Path, buses: &[RemovableBus]) -> Self {
        Self {
            // A missing root means every lookup finds nothing: unknown storage.
            root: root.canonicalize().ok(),
            buses: buses.to_vec(),
            removable_memo: HashMap::new(),
            encrypted_memo: HashMap::new(),
        }
    }

    fn counts(&self, bus: RemovableBus) -> bool {
        self.buses.contains(&bus)
    }

    fn inside(&self, path: &Path) -> Option<PathBuf> {
        let root = self.root.as_deref()?;
        let canonical = path.canonicalize().ok()?;
        canonical.starts_with(root).then_some(canonical)
    }

    fn attribute(&self, device: &Path, name: &str) -> Option<String> {
        let path = self.inside(&device.join(name))?;
        let mut text = String::new();
        File::open(path)
            .ok()?
            .take(MAX_ATTRIBUTE_BYTES)
            .read_to_string(&mut text)
            .ok()?;
        Some(text.trim_end_matches('\n').to_owned())
    }

    fn has_entry(&self, device: &Path, name: &str) -> bool {
        self.inside(&device.join(name)).is_some()
    }

    fn class_block(&self) -> Option<PathBuf> {
        self.inside(&self.root.as_deref()?.join("class/block"))
    }

    /// `<root>/dev/block/MAJ:MIN`, as the kernel numbers the device.
    fn by_device_number(&self, major: u32, minor: u32) -> Option<PathBuf> {
        let root = self.root.as_deref()?;
        self.inside(&root.join("dev/block").join(format!("{major}:{minor}")))
    }

    /// `<root>/class/block/NAME`.
    fn by_name(&self, name: &str) -> Option<PathBuf> {
        if !is_plain_file_name(name) {
            return None;
        }
        self.inside(&self.class_block()?.join(name))
    }

    /// The device-mapper device whose `dm/name` is `mapper_name` (`/dev/mapper/NAME`).
    fn by_mapper_name(&self, mapper_name: &str) -> Option<PathBuf> {
        if !is_plain_file_name(mapper_name) {
            return None;
        }
        std::fs::read_dir(self.class_block()?)
            .ok()?
            .take(MAX_BLOCK_DEVICES)
            .filter_map(Result::ok)
            .filter_map(|entry| self.inside(&entry.path()))
            .find(|device| self.attribute(device, "dm/name").as_deref() == Some(mapper_name))
    }

    /// The sysfs directory of the block device under `mount`, if sysfs shows one.
    fn device_of(&self, mount: &Mount) -> Option<PathBuf> {
        if mount.major != 0
            && let Some(device) = self.by_device_number(mount.major, mount.minor)
        {
            return Some(device);
        }
        // Whoever mounts a FUSE filesystem chooses its source text: never take it as evidence.
        if mount.fstype == "fuse" || mount.fstype.starts_with("fuse.") {
            return None;
        }
        let name = mount.source.strip_prefix("/dev/")?;
        let device = match name.strip_prefix("mapper/") {
            Some(mapper_name) => self.by_mapper_name(mapper_name),
            None => self.by_name(name),
        }?;
        if mount.major != 0
            && let Some(number) = self.attribute(&device, "dev")
            && number != format!("{}:{}", mount.major, mount.minor)
        {
            // The source names some other device than the one the kernel reports.
            return None;
        }
        Some(device)
    }

    fn is_partition(&self, device: &Path) -> bool {
        self.has_entry(device, "partition")
    }

    /// The whole disk a partition belongs to: its parent directory in real sysfs, otherwise
    /// the block device whose directory holds a directory of the partition's name.
    fn disk_of_partition(&self, partition: &Path) -> Option<PathBuf> {
        let name = partition.file_name()?.to_str()?;
        let class_block = self.class_block();
        if let Some(parent) = partition.parent()
            && Some(parent) != class_block.as_deref()
            && (self.has_entry(parent, "dev") || self.has_entry(parent, "removable"))
        {
            return self.inside(parent);
        }
        std::fs::read_dir(class_block?)
            .ok()?
            .take(MAX_BLOCK_DEVICES)
            .filter_map(Result::ok)
            .filter_map(|entry| self.inside(&entry.path()))
            .find(|disk| disk.as_path() != partition && self.has_entry(disk, name))
    }

    /// The devices `device` is stacked on (`slaves/*`); `None` for an entry that leads
    /// nowhere inside sysfs. Too many entries give one `None` more, so "all" never holds.
    fn lower_devices(&self, device: &Path) -> Vec<Option<PathBuf>> {
        let Some(slaves) = self.inside(&device.join("slaves")) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(slaves) else {
            return Vec::new();
        };
        let mut lower: Vec<Option<PathBuf>> = entries
            .take(MAX_SLAVES + 1)
            .map(|entry| entry.ok().and_then(|entry| self.inside(&entry.path())))
            .collect();
        if lower.len() > MAX_SLAVES {
            lower.truncate(MAX_SLAVES);
            lower.push(None);
        }
        lower
    }

    /// Why `device` itself is removable media, if it is: the kernel's block flag, or where it
    /// hangs by [`MountPolicy::removable_buses`].
    fn removable_here(&self, device: &Path) -> Option<String> {
        if self.attribute(device, "removable").as_deref() == Some("1") {
            return Some(format!("sysfs flags {} removable", device_name(device)));
        }
        self.removable_attachment(device)
    }

    /// Walks the device path from the top: the first ancestor that makes it removable media.
    fn removable_attachment(&self, device: &Path) -> Option<String> {
        let root = self.root.as_deref()?;
        let relative = device.strip_prefix(root).ok()?;
        let components: Vec<&str> = relative
            .components()
            .filter_map(|component| component.as_os_str().to_str())
            .collect();
        let mut ancestor = root.to_path_buf();
        for (index, &component) in components.iter().enumerate() {
            ancestor.push(component);
            // USB root hubs are `usbN` in the device path; every USB disk sits below one.
            if self.counts(RemovableBus::Usb) && numbered(component, "usb") {
                return Some(format!("on a USB bus ({component})"));
            }
            if component == "mmc_host"
                && let Some(why) = self.mmc_card(&ancestor, &components[index + 1..])
            {
                return Some(why);
            }
            if self.counts(RemovableBus::Thunderbolt) && index > 0 {
                if self.attribute(&ancestor, "removable").as_deref() == Some("removable") {
                    return Some(format!(
                        "behind an external port (the kernel marks {component} removable: \
                         Thunderbolt, USB4 or external PCIe)"
                    ));
                }
                if self.subsystem(&ancestor).as_deref() == Some("thunderbolt") {
                    return Some(format!("on a Thunderbolt bus ({component})"));
                }
            }
            if numbered(component, "host")
                && let Some(why) = self.sata_port(&ancestor, component)
            {
                return Some(why);
            }
        }
        // A bare tree without the device path: the MMC block driver's names are `mmcblkN…`.
        let name = device_name(device);
        if !components.contains(&"mmc_host")
            && name.starts_with("mmcblk")
            && (self.counts(RemovableBus::Mmc) || self.counts(RemovableBus::Sd))
        {
            return Some(format!("on an MMC bus ({name}, card of unknown type)"));
        }
        None
    }

    /// `host` is `.../mmc_host`; `below` the components after it (`mmcN`, the card, ...).
    fn mmc_card(&self, host: &Path, below: &[&str]) -> Option<String> {
        let card = below.get(1).copied();
        let card_type =
            card.and_then(|card| self.attribute(&host.join(below[0]).join(card), "type"));
        let what = match card_type.as_deref() {
            Some("SD") => "SD card".to_string(),
            Some("MMC") => "MMC card or eMMC".to_string(),
            Some(other) => format!("card type {other}"),
            None => "card of unknown type".to_string(),
        };
        let counted = self.counts(RemovableBus::Mmc)
            || (self.counts(RemovableBus::Sd) && card_type.as_deref() != Some("MMC"));
        counted.then(|| match card {
            Some(card) => format!("on an MMC bus ({what}, {card})"),
            None => format!("on an MMC bus ({what})"),
        })
    }

    /// `host` is a SCSI host `hostN`; AHCI ports show their PxCMD register below it.
    fn sata_port(&self, host: &Path, name: &str) -> Option<String> {
        if !self.counts(RemovableBus::Esata) && !self.counts(RemovableBus::SataHotplug) {
            return None;
        }
        let text = self.attribute(&host.join("scsi_host").join(name), "ahci_port_cmd")?;
        let command = u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()?;
        if self.counts(RemovableBus::Esata) && command & AHCI_PORT_CMD_ESP != 0 {
            return Some(format!("on an external SATA port ({name}: AHCI ESP)"));
        }
        if self.counts(RemovableBus::SataHotplug) && command & AHCI_PORT_CMD_HPCP != 0 {
            return Some(format!("on a hot-pluggable SATA port ({name}: AHCI HPCP)"));
        }
        None
    }

    /// The bus a device is on: the name its `subsystem` link leads to.
    fn subsystem(&self, device: &Path) -> Option<String> {
        let bus = self.inside(&device.join("subsystem"))?;
        bus.file_name()
            .map(|name| name.to_string_lossy().into_owned())
    }

    /// Why `device` is removable media, or `None` when it is not.
    fn removable_reason(&mut self, device: &Path) -> Option<String> {
        self.removable_at(device, 0)
    }

    fn removable_at(&mut self, device: &Path, depth: usize) -> Option<String> {
        match self.removable_memo.get(device) {
            Some(Visit::Done(removable)) => return removable.clone(),
            // A cycle: sysfs is garbage, so assume the worst.
            Some(Visit::InProgress) => {
                return Some("sysfs shows a cycle of stacked devices (fail closed)".into());
            }
            None => {}
        }
        if depth > MAX_STACK_DEPTH {
            return Some("sysfs shows devices stacked too deep (fail closed)".into());
        }
        self.removable_memo
            .insert(device.to_path_buf(), Visit::InProgress);
        let mut removable = self.removable_here(device);
        if removable.is_none()
            && self.is_partition(device)
            && let Some(disk) = self.disk_of_partition(device)
        {
            removable = self.removable_here(&disk);
        }
        if removable.is_none() {
            for lower in self.lower_devices(device).into_iter().flatten() {
                if let Some(why) = self.removable_at(&lower, depth + 1) {
                    removable = Some(format!("stacked on {}, {why}", device_name(&lower)));
                    break;
                }
            }
        }
        self.removable_memo
            .insert(device.to_path_buf(), Visit::Done(removable.clone()));
        removable
    }

    /// `dm-crypt (LUKS2) NAME` for a mapping cryptsetup made with an encrypting type.
    fn crypt_mapping(&self, device: &Path) -> Option<String> {
        let uuid = self.attribute(device, "dm/uuid")?;
        let kind = uuid.strip_prefix("CRYPT-")?.split('-').next()?;
        if !ENCRYPTING_CRYPT_TYPES.contains(&kind) {
            return None;
        }
        let name = self
            .attribute(device, "dm/name")
            .unwrap_or_else(|| device_name(device));
        Some(format!("dm-crypt ({kind}) {name}"))
    }

    /// Why `device` is encrypted, or `None` when sysfs does not show it is.
    fn encrypted_reason(&mut self, device: &Path) -> Option<String> {
        self.encrypted_at(device, 0)
    }

    fn encrypted_at(&mut self, device: &Path, depth: usize) -> Option<String> {
        match self.encrypted_memo.get(device) {
            Some(Visit::Done(encrypted)) => return encrypted.clone(),
            Some(Visit::InProgress) => return None,
            None => {}
        }
        if depth > MAX_STACK_DEPTH {
            return None;
        }
        self.encrypted_memo
            .insert(device.to_path_buf(), Visit::InProgress);
        let mut encrypted = self.crypt_mapping(device);
        if encrypted.is_none()
            && self.is_partition(device)
            && let Some(disk) = self.disk_of_partition(device)
        {
            encrypted = self.encrypted_at(&disk, depth + 1);
        }
        if encrypted.is_none() {
            encrypted = self.all_lower_encrypted(device, depth);
        }
        self.encrypted_memo
            .insert(device.to_path_buf(), Visit::Done(encrypted.clone()));
        encrypted
    }

    /// The reasons of the devices under `device` when every one of them is encrypted.
    fn all_lower_encrypted(&mut self, device: &Path, depth: usize) -> Option<String> {
        let lower = self.lower_devices(device);
        if lower.is_empty() {
            return None;
        }
        let mut reasons: Vec<String> = Vec::new();
        for lower in lower {
            let why = self.encrypted_at(&lower?, depth + 1)?;
            if !reasons.contains(&why) {
                reasons.push(why);
            }
        }
        let more = reasons.len().saturating_sub(MAX_LOWER_REASONS);
        reasons.truncate(MAX_LOWER_REASONS);
        let mut why = reasons.join(" and ");
        if more > 0 {
            why.push_str(&format!(" and {more} more"));
        }
        Some(why)
    }
}

/// Whether `name` is `prefix` followed by a decimal number (`usb1`, `host0`).
fn numbered(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// A single path component: no separators, not `.` or `..`, not empty.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Why the mount table cannot be watched.
#[derive(Debug, Error)]
pub enum MountWatchError {
    /// The mountinfo file could not be opened.
    #[error("cannot open the mount table {path}: {source}; check that /proc is mounted")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The mountinfo file could not be read or waited on.
    #[error("cannot read the mount table {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the kernel said.
        source: std::io::Error,
    },
    /// The watcher was created outside a tokio runtime with I/O enabled.
    #[error("the mount watcher needs a tokio runtime with I/O enabled; create it inside one")]
    NoRuntime,
}

/// Keeps a mountinfo file open and wakes when the kernel marks it changed (POLLPRI|POLLERR on
/// every mount, unmount, move or remount in that mount namespace): no polling loop.
#[derive(Debug)]
pub struct MountWatcher {
    path: PathBuf,
    file: AsyncFd<File>,
    current: Vec<Mount>,
}

impl MountWatcher {
    /// Opens `path` (usually [`DEFAULT_MOUNTINFO_PATH`]) and reads the table once. The mount
    /// namespace watched is the one of the thread that opens it. Must be called inside a
    /// tokio runtime with I/O enabled.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, MountWatchError> {
        let path = path.into();
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MountWatchError::NoRuntime);
        }
        let file = File::open(&path).map_err(|source| MountWatchError::Open {
            path: path.clone(),
            source,
        })?;
        // Only priority and error readiness matter: mountinfo always polls readable.
        // SAFETY: the `File` owns its descriptor, which stays open and the same until the
        // `AsyncFd` (its only owner) drops it; nothing here swaps the file out.
        let file =
            unsafe { AsyncFd::register_with_interest(file, Interest::PRIORITY | Interest::ERROR) }
                .map_err(|err| MountWatchError::Open {
                    path: path.clone(),
                    source: err.into(),
                })?;
        let mut watcher = Self {
            path,
            file,
            current: Vec::new(),
        };
        watcher.current = watcher.read_table()?;
        Ok(watcher)
    }

    /// The table as last read.
    pub fn current(&self) -> &[Mount] {
        &self.current
    }

    /// Waits until the mount table differs from [`Self::current`] and returns the new one.
    /// Changes invisible in [`Mount`] (propagation flags, other options) wake it but are not
    /// reported.
    pub async fn next_change(&mut self) -> Result<Vec<Mount>, MountWatchError> {
        loop {
            let mut ready = self
                .file
                .ready(Interest::PRIORITY | Interest::ERROR)
                .await
                .map_err(|source| MountWatchError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            // Cleared before reading, so a change racing with the read wakes us again.
            ready.clear_ready();
            drop(ready);
            let table = self.read_table()?;
            if table != self.current {
                self.current = table.clone();
                return Ok(table);
            }
        }
    }

    /// Sends the current table on `tables`, then every changed table, until every receiver
    /// is gone (Ok) or the file cannot be read (Err).
    pub async fn run(mut self, tables: watch::Sender<Vec<Mount>>) -> Result<(), MountWatchError> {
        tables.send_replace(self.current.clone());
        loop {
            tokio::select! {
                () = tables.closed() => return Ok(()),
                table = self.next_change() => {
                    tables.send_replace(table?);
                }
            }
        }
    }

    /// Reads the whole file from offset 0. procfs builds the text in memory, so this does not
    /// block on disk even though it is a plain read on the runtime thread.
    fn read_table(&self) -> Result<Vec<Mount>, MountWatchError> {
        let mut file = self.file.get_ref();
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|source| MountWatchError::Read {
                path: self.path.clone(),
                source,
            })?;
        let (mounts, skipped) = parse_mountinfo_counting(&String::from_utf8_lossy(&bytes));
        if skipped > 0 {
            tracing::warn!(
                path = %self.path.display(),
                skipped_lines = skipped,
                "mount table lines not in the mountinfo format, ignoring"
            );
        }
        Ok(mounts)
    }
}
