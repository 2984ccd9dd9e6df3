//! Mount detection: the mountinfo parser (escapes, optional fields, malformed lines, any input),
//! the COLDROOM facts judged over fake sysfs trees (USB and fixed disks, LUKS, LVM on LUKS,
//! plain LVM, verity, tmpfs, read-only mounts, missing and hostile entries), and the watcher on
//! real mounts in a private mount namespace (tmpfs, bind, loop ext4), with its latency.

use crate::common::mount_fixtures::{
    AHCI_PORT3_PARENT, FakeSysfs, LoopImage, Mounted, SATA_PARENT, SD_CARD, THUNDERBOLT_NVME,
    USB_PARENT, in_private_mount_namespace, loop_tools_available, path_str, run,
};
use learning_contracts::source::detect::mounts::{
    DEFAULT_MOUNTINFO_PATH, Mount, MountFact, MountFacts, MountPolicy, MountWatchError,
    MountWatcher, RemovableBus, mount_facts, parse_mountinfo,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------------
// Parser

/// Lines as this kind of machine shows them (Debian 12 VM, systemd-less), plus a desktop's.
const REAL_LOOKING: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334460k,nr_inodes=3083615,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict
28 27 0:25 / /mnt/sandboxing/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
29 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro
64 29 8:17 / /media/alice/STICK rw,nosuid,nodev,relatime shared:214 master:3 - vfat /dev/sdb1 rw,fmask=0022
90 29 0:45 /@home /home rw,relatime shared:50 - btrfs /dev/mapper/luks-home rw,space_cache=v2,subvol=/@home
";

/// A mount; `read_only` makes both the mount and its filesystem read-only, as `mount -o ro`
/// of a filesystem mounted nowhere else does.
fn mount(
    mount_point: &str,
    fstype: &str,
    source: &str,
    read_only: bool,
    number: (u32, u32),
) -> Mount {
    Mount {
        mount_point: mount_point.into(),
        fstype: fstype.into(),
        source: source.into(),
        read_only,
        super_read_only: read_only,
        major: number.0,
        minor: number.1,
    }
}

/// `mount` as a sandbox shows it: read-only per mount over a writable super block.
fn sandboxed(mut mount: Mount) -> Mount {
    mount.read_only = true;
    mount.super_read_only = false;
    mount
}

#[test]
fn real_looking_lines_parse_into_every_field() {
    let mounts = parse_mountinfo(REAL_LOOKING);
    assert_eq!(mounts.len(), 9);
    assert_eq!(mounts[0], mount("/proc", "proc", "proc", false, (0, 21)));
    assert_eq!(mounts[3], mount("/", "ext4", "/dev/vda", false, (254, 0)));
    assert_eq!(
        mounts[4],
        mount(
            "/mnt/sandboxing/python",
            "tmpfs",
            "model_tools_unavailable",
            true,
            (0, 25)
        )
    );
    // Optional fields (shared:N master:N) before the separator are skipped over.
    assert_eq!(
        mounts[6],
        mount("/", "ext4", "/dev/mapper/vg-root", false, (253, 1))
    );
    assert_eq!(
        mounts[7],
        mount("/media/alice/STICK", "vfat", "/dev/sdb1", false, (8, 17))
    );
    // The mount's root within its filesystem (/@home) is not the mount point.
    assert_eq!(mounts[8].mount_point, "/home");
    assert_eq!(mounts[8].source, "/dev/mapper/luks-home");
}

#[test]
fn read_only_comes_from_the_mount_options_and_the_super_block_from_its_own() {
    let mounts = parse_mountinfo(
        "1 0 8:1 / / rw,relatime - ext4 /dev/sda1 rw,errors=remount-ro\n\
         2 1 8:2 / /a ro,relatime - ext4 /dev/sda2 rw\n\
         3 1 8:3 / /b rw,nosuid,ro - ext4 /dev/sda3 rw\n\
         4 1 8:4 / /c rw,errors=ro - ext4 /dev/sda4 ro\n\
         5 1 8:5 / /d ro,relatime - ext4 /dev/sda5 ro,errors=continue\n\
         6 1 8:6 / /e ro - ext4 /dev/sda6 rw,ro\n",
    );
    let read_only: Vec<bool> = mounts.iter().map(|m| m.read_only).collect();
    assert_eq!(read_only, [false, true, true, false, true, true]);
    // The kernel prints the super block's rw or ro first; only that one is its state.
    let super_read_only: Vec<bool> = mounts.iter().map(|m| m.super_read_only).collect();
    assert_eq!(super_read_only, [false, false, false, true, true, false]);
}

#[test]
fn octal_escapes_are_undone() {
    let mounts = parse_mountinfo(
        "40 27 0:50 / /mnt/with\\040space\\011tab\\012newline\\134backslash rw - tmpfs my\\040source rw\n",
    );
    assert_eq!(mounts.len(), 1);
    assert_eq!(
        mounts[0].mount_point,
        "/mnt/with space\ttab\nnewline\\backslash"
    );
    assert_eq!(mounts[0].source, "my source");
}

#[test]
fn backslashes_that_are_not_escapes_stay() {
    let mounts = parse_mountinfo(
        "40 27 0:50 / /a\\8 rw - tmpfs s rw\n\
         41 27 0:51 / /b\\400 rw - tmpfs s rw\n\
         42 27 0:52 / /c\\04 rw - tmpfs s rw\n\
         43 27 0:53 / /d\\ rw - tmpfs s rw\n\
         44 27 0:54 / /e\\\\040 rw - tmpfs s rw\n",
    );
    let points: Vec<&str> = mounts.iter().map(|m| m.mount_point.as_str()).collect();
    assert_eq!(points, ["/a\\8", "/b\\400", "/c\\04", "/d\\", "/e\\ "]);
}

#[test]
fn bytes_that_are_not_utf8_become_replacement_characters() {
    let mounts = parse_mountinfo("40 27 0:50 / /x\\377y rw - tmpfs tmpfs rw\n");
    assert_eq!(mounts[0].mount_point, "/x\u{fffd}y");
}

#[test]
fn an_empty_source_is_an_empty_field() {
    // The kernel prints an empty device name as nothing between two spaces.
    let mounts = parse_mountinfo("40 27 0:50 / /x rw,relatime - tmpfs  rw,size=4k\n");
    assert_eq!(mounts, [mount("/x", "tmpfs", "", false, (0, 50))]);
}

#[test]
fn a_carriage_return_belongs_to_the_line() {
    // The kernel does not escape '\r'; it ends the super options here, not the line.
    let mounts = parse_mountinfo("40 27 0:50 / /x rw - tmpfs tmpfs rw\r\n");
    assert_eq!(mounts, [mount("/x", "tmpfs", "tmpfs", false, (0, 50))]);
}

#[test]
fn malformed_lines_are_skipped_and_the_rest_kept() {
    let text = "\
garbage
40 27 0:50 / /no-separator rw tmpfs tmpfs rw
x 27 0:50 / /bad-id rw - tmpfs tmpfs rw
40 y 0:50 / /bad-parent rw - tmpfs tmpfs rw
40 27 0-50 / /bad-number rw - tmpfs tmpfs rw
40 27 0: / /no-minor rw - tmpfs tmpfs rw
40 27 99999999999:1 / /huge-major rw - tmpfs tmpfs rw
40 27 +1:1 / /signed rw - tmpfs tmpfs rw
40 27 0:50 / /short rw -
40 27 0:50 / /no-super rw - tmpfs tmpfs
40 27 0:50 / /empty-type rw -  tmpfs rw
40 27 0:50  /empty-root rw - tmpfs tmpfs rw
40 27 0:50 / /double-space-in-optional rw shared:1  - tmpfs tmpfs rw
40 27 0:50 /

40 27 0:50 / /good rw shared:7 master:1 propagate_from:1 unbindable - tmpfs tmpfs rw
40 27 0:50 / /extra-fields-tolerated rw - tmpfs tmpfs rw future field
";
    let points: Vec<String> = parse_mountinfo(text)
        .into_iter()
        .map(|m| m.mount_point)
        .collect();
    assert_eq!(points, ["/good", "/extra-fields-tolerated"]);
    assert!(parse_mountinfo("").is_empty());
    assert!(parse_mountinfo("\n\n\n").is_empty());
}

/// The kernel's escaping for mountinfo fields.
fn kernel_escape(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        match ch {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", ch as u32)),
            _ => out.push(ch),
        }
    }
    out
}

proptest! {
    #![proptest_config(crate::common::proptest_config(256))]

    #[test]
    fn any_text_parses_without_panicking(text in any::<String>()) {
        let _ = parse_mountinfo(&text);
    }

    #[test]
    fn any_bytes_like_lines_parse_without_panicking(
        lines in proptest::collection::vec("[0-9a-z:/ \\\\\\-,]{0,60}", 0..20)
    ) {
        let _ = parse_mountinfo(&lines.join("\n"));
    }

    #[test]
    fn escaped_names_round_trip(
        point in "/[^\u{0}]{0,40}",
        source in "[^\u{0}]{0,20}",
        major in 0u32..4096,
        minor in 0u32..1_000_000,
        read_only in any::<bool>(),
        super_read_only in any::<bool>(),
    ) {
        let options = if read_only { "ro,relatime" } else { "rw,relatime" };
        let super_options = if super_read_only { "ro,errors=remount-ro" } else { "rw" };
        let line = format!(
            "7 1 {major}:{minor} / {} {options} shared:3 - ext4 {} {super_options}\n",
            kernel_escape(&point),
            kernel_escape(&source)
        );
        let parsed = parse_mountinfo(&line);
        let mut expected = mount(&point, "ext4", &source, read_only, (major, minor));
        expected.super_read_only = super_read_only;
        prop_assert_eq!(parsed, vec![expected]);
    }
}

// ---------------------------------------------------------------------------------------------
// Facts over fake sysfs trees

fn policy_for(sysfs: &FakeSysfs) -> MountPolicy {
    MountPolicy {
        sysfs_root: sysfs.root().to_path_buf(),
        ..MountPolicy::default()
    }
}

fn fact<'a>(facts: &'a MountFacts, mount_point: &str) -> &'a MountFact {
    facts
        .mounts
        .iter()
        .find(|fact| fact.mount_point == mount_point)
        .unwrap_or_else(|| panic!("no fact for {mount_point} in {facts:#?}"))
}

/// A root on a LUKS mapping, so the other mount in a test decides the outcome.
fn encrypted_root(sysfs: &FakeSysfs) -> Mount {
    let disk = sysfs.disk(SATA_PARENT, "sda", (8, 0), false);
    let partition = sysfs.partition(&disk, "sda2", (8, 2));
    sysfs.dm(
        "dm-0",
        (253, 0),
        "luks-root",
        "CRYPT-LUKS2-1234abcd-luks-root",
        &[&partition],
    );
    mount("/", "ext4", "/dev/mapper/luks-root", false, (253, 0))
}

#[test]
fn a_usb_stick_partition_is_removable_persistent_and_unencrypted() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let stick = sysfs.disk(USB_PARENT, "sdb", (8, 16), true);
    sysfs.partition(&stick, "sdb1", (8, 17));
    let facts = mount_facts(
        &[
            root,
            mount("/media/stick", "vfat", "/dev/sdb1", false, (8, 17)),
        ],
        &policy_for(&sysfs),
    );
    let stick = fact(&facts, "/media/stick");
    assert_eq!(stick.block_device.as_deref(), Some("sdb1"));
    assert!(stick.removable && stick.persistent && stick.writable && !stick.encrypted);
    assert!(facts.removable_mounted);
    assert_eq!(facts.removable_mount_points, ["/media/stick"]);
    assert_eq!(facts.unencrypted_persistent_writable, ["/media/stick"]);
    assert!(!facts.all_persistent_writable_encrypted);
}

#[test]
fn a_usb_disk_that_says_it_is_not_removable_still_is() {
    let sysfs = FakeSysfs::new();
    let ssd = sysfs.disk(USB_PARENT, "sdc", (8, 32), false);
    sysfs.partition(&ssd, "sdc1", (8, 33));
    let facts = mount_facts(
        &[mount("/mnt/backup", "ext4", "/dev/sdc1", true, (8, 33))],
        &policy_for(&sysfs),
    );
    assert!(fact(&facts, "/mnt/backup").removable);
    assert!(facts.removable_mounted);
}

#[test]
fn a_fixed_disk_is_neither_removable_nor_encrypted() {
    let sysfs = FakeSysfs::new();
    let disk = sysfs.disk(SATA_PARENT, "sda", (8, 0), false);
    sysfs.partition(&disk, "sda1", (8, 1));
    let facts = mount_facts(
        &[mount("/", "ext4", "/dev/sda1", false, (8, 1))],
        &policy_for(&sysfs),
    );
    let root = fact(&facts, "/");
    assert_eq!(root.block_device.as_deref(), Some("sda1"));
    assert!(!root.removable && !root.encrypted && root.persistent && root.writable);
    assert!(!facts.removable_mounted);
    assert_eq!(facts.unencrypted_persistent_writable, ["/"]);
    assert!(!facts.all_persistent_writable_encrypted);
}

#[test]
fn a_luks_mapping_is_encrypted_by_number_and_by_mapper_name() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    // btrfs reports an anonymous device number, so only the source names the mapping.
    let home = mount("/home", "btrfs", "/dev/mapper/luks-root", false, (0, 45));
    let facts = mount_facts(&[root, home], &policy_for(&sysfs));
    for point in ["/", "/home"] {
        let fact = fact(&facts, point);
        assert!(fact.encrypted, "{fact:?}");
        assert_eq!(fact.block_device.as_deref(), Some("dm-0"));
    }
    assert!(facts.unencrypted_persistent_writable.is_empty());
    assert!(facts.all_persistent_writable_encrypted);
    assert!(!facts.removable_mounted);
}

#[test]
fn a_mapping_is_found_by_dm_name_and_dev_dm_n_in_a_bare_tree() {
    let sysfs = FakeSysfs::new();
    sysfs.bare(
        "dm-4",
        &[
            ("dm/name", "cryptdata"),
            ("dm/uuid", "CRYPT-PLAIN-cryptdata"),
        ],
    );
    let facts = mount_facts(
        &[
            mount("/", "ext4", "/dev/mapper/cryptdata", false, (0, 0)),
            mount("/srv", "ext4", "/dev/dm-4", false, (0, 0)),
        ],
        &policy_for(&sysfs),
    );
    assert!(fact(&facts, "/").encrypted);
    assert!(fact(&facts, "/srv").encrypted);
    assert!(facts.all_persistent_writable_encrypted);
}

#[test]
fn lvm_on_luks_is_encrypted() {
    let sysfs = FakeSysfs::new();
    let disk = sysfs.disk(SATA_PARENT, "nvme0n1", (259, 0), false);
    let partition = sysfs.partition(&disk, "nvme0n1p3", (259, 3));
    let crypt = sysfs.dm(
        "dm-0",
        (253, 0),
        "luks-pv",
        "CRYPT-LUKS2-aaaa-luks-pv",
        &[&partition],
    );
    sysfs.dm("dm-1", (253, 1), "vg-root", "LVM-Ab12Cd34", &[&crypt]);
    sysfs.dm("dm-2", (253, 2), "vg-home", "LVM-Ef56Gh78", &[&crypt]);
    let facts = mount_facts(
        &[
            mount("/", "ext4", "/dev/mapper/vg-root", false, (253, 1)),
            mount("/home", "xfs", "/dev/mapper/vg-home", false, (253, 2)),
        ],
        &policy_for(&sysfs),
    );
    assert!(fact(&facts, "/").encrypted);
    assert!(fact(&facts, "/home").encrypted);
    assert!(facts.all_persistent_writable_encrypted);
}

#[test]
fn an_lv_spanning_an_encrypted_and_a_plain_pv_is_not_encrypted() {
    let sysfs = FakeSysfs::new();
    let disk = sysfs.disk(SATA_PARENT, "sda", (8, 0), false);
    let encrypted_part = sysfs.partition(&disk, "sda2", (8, 2));
    let plain_part = sysfs.partition(&disk, "sda3", (8, 3));
    let crypt = sysfs.dm(
        "dm-0",
        (253, 0),
        "luks-pv",
        "CRYPT-LUKS1-bbbb-luks-pv",
        &[&encrypted_part],
    );
    sysfs.dm(
        "dm-1",
        (253, 1),
        "vg-data",
        "LVM-Xy",
        &[&crypt, &plain_part],
    );
    let facts = mount_facts(
        &[mount("/", "ext4", "/dev/mapper/vg-data", false, (253, 1))],
        &policy_for(&sysfs),
    );
    assert!(!fact(&facts, "/").encrypted);
    assert_eq!(facts.unencrypted_persistent_writable, ["/"]);
}

#[test]
fn plain_lvm_is_not_encrypted() {
    let sysfs = FakeSysfs::new();
    let disk = sysfs.disk(SATA_PARENT, "sda", (8, 0), false);
    let partition = sysfs.partition(&disk, "sda3", (8, 3));
    sysfs.dm("dm-2", (253, 2), "vg-root", "LVM-plainplain", &[&partition]);
    let facts = mount_facts(
        &[mount("/", "ext4", "/dev/mapper/vg-root", false, (253, 2))],
        &policy_for(&sysfs),
    );
    assert!(!fact(&facts, "/").encrypted);
    assert!(!facts.all_persistent_writable_encrypted);
}

#[test]
fn verity_integrity_and_unknown_crypt_types_are_not_encryption() {
    let sysfs = FakeSysfs::new();
    let disk = sysfs.disk(SATA_PARENT, "sda", (8, 0), false);
    let partition = sysfs.partition(&disk, "sda1", (8, 1));
    let uuids = [
        "CRYPT-VERITY-cccc-usr",
        "CRYPT-INTEGRITY-dddd-data",
        "CRYPT-SUBDEV-eeee-data_dif",
        "CRYPT-NEWFANGLED-ffff-x",
        "CRYPT-",
        "crypt-luks2-lowercase",
    ];
    let mut mounts = Vec::new();
    for (index, uuid) in uuids.iter().enumerate() {
        let minor = u32::try_from(index).expect("few") + 10;
        sysfs.dm(
            &format!("dm-{minor}"),
            (253, minor),
            &format!("m{minor}"),
            uuid,
            &[&partition],
        );
        mounts.push(mount(
            &format!("/m{minor}"),
            "ext4",
            "",
            false,
            (253, minor),
        ));
    }
    mounts.push(mount("/", "tmpfs", "tmpfs", false, (0, 1)));
    let facts = mount_facts(&mounts, &policy_for(&sysfs));
    for fact in facts.mounts.iter().filter(|fact| fact.fstype == "ext4") {
        assert!(!fact.encrypted, "{fact:?}");
    }
    assert_eq!(facts.unencrypted_persistent_writable.len(), uuids.len());
}

#[test]
fn a_luks_volume_on_a_usb_stick_is_encrypted_and_removable() {
    let sysfs = FakeSysfs::new();
    let stick = sysfs.disk(USB_PARENT, "sdb", (8, 16), true);
    let partition = sysfs.partition(&stick, "sdb1", (8, 17));
    sysfs.dm(
        "dm-3",
        (253, 3),
        "luks-stick",
        "CRYPT-LUKS2-9999-luks-stick",
        &[&partition],
    );
    let facts = mount_facts(
        &[mount(
            "/media/secret",
            "ext4",
            "/dev/mapper/luks-stick",
            false,
            (253, 3),
        )],
        &policy_for(&sysfs),
    );
    let secret = fact(&facts, "/media/secret");
    assert!(secret.encrypted && secret.removable);
    assert!(facts.removable_mounted);
}

#[test]
fn a_partition_in_a_bare_tree_finds_its_disk_by_directory() {
    // No symlinks, no dev/block: class/block/sdd is the disk holding sdd1.
    let sysfs = FakeSysfs::new();
    sysfs.bare("sdd", &[("removable", "1"), ("sdd1/partition", "1")]);
    sysfs.bare("sdd1", &[("partition", "1")]);
    let facts = mount_facts(
        &[mount("/media/card", "exfat", "/dev/sdd1", false, (8, 49))],
        &policy_for(&sysfs),
    );
    let card = fact(&facts, "/media/card");
    assert_eq!(card.block_device.as_deref(), Some("sdd1"));
    assert!(card.removable);
}

#[test]
fn volatile_filesystems_are_not_persistent() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let facts = mount_facts(
        &[
            root,
            mount("/tmp", "tmpfs", "tmpfs", false, (0, 30)),
            mount("/dev/shm", "tmpfs", "tmpfs", false, (0, 31)),
            mount("/run/netns/blue", "nsfs", "nsfs", false, (0, 4)),
            mount("/dev/pts", "devpts", "devpts", false, (0, 26)),
        ],
        &policy_for(&sysfs),
    );
    let tmp = fact(&facts, "/tmp");
    assert!(!tmp.persistent && tmp.writable && !tmp.encrypted);
    assert!(facts.unencrypted_persistent_writable.is_empty());
    assert!(facts.all_persistent_writable_encrypted);
}

#[test]
fn storage_without_a_block_device_counts_as_persistent_and_unencrypted() {
    // Fail closed: these keep data somewhere, and nothing shows that place is encrypted.
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let facts = mount_facts(
        &[
            root,
            mount(
                "/var/lib/docker/overlay2/x/merged",
                "overlay",
                "overlay",
                false,
                (0, 60),
            ),
            mount("/srv/nfs", "nfs4", "server:/export", false, (0, 61)),
            mount("/tank", "zfs", "tank/data", false, (0, 62)),
            mount("/host", "virtiofs", "hostshare", false, (0, 63)),
        ],
        &policy_for(&sysfs),
    );
    assert_eq!(
        facts.unencrypted_persistent_writable,
        [
            "/var/lib/docker/overlay2/x/merged",
            "/srv/nfs",
            "/tank",
            "/host"
        ]
    );
    assert!(!facts.all_persistent_writable_encrypted);
}

#[test]
fn read_only_mounts_are_not_writable_but_removable_ones_still_count() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let disk = sysfs.disk(SATA_PARENT, "sde", (8, 64), false);
    sysfs.partition(&disk, "sde1", (8, 65));
    let stick = sysfs.disk(USB_PARENT, "sdf", (8, 80), true);
    sysfs.partition(&stick, "sdf1", (8, 81));
    let facts = mount_facts(
        &[
            root,
            mount("/usr", "ext4", "/dev/sde1", true, (8, 65)),
            mount("/media/iso", "iso9660", "/dev/sdf1", true, (8, 81)),
        ],
        &policy_for(&sysfs),
    );
    assert!(!fact(&facts, "/usr").writable);
    assert!(facts.unencrypted_persistent_writable.is_empty());
    assert!(facts.all_persistent_writable_encrypted);
    assert_eq!(facts.removable_mount_points, ["/media/iso"]);
}

#[test]
fn missing_sysfs_entries_mean_not_removable_and_not_encrypted() {
    let sysfs = FakeSysfs::new();
    let mounts = [
        mount("/", "ext4", "/dev/sda1", false, (8, 1)),
        mount("/data", "ext4", "/dev/mapper/luks-gone", false, (253, 9)),
        mount("/media/x", "vfat", "/dev/sdz1", true, (8, 209)),
    ];
    for policy in [
        policy_for(&sysfs),
        MountPolicy {
            sysfs_root: PathBuf::from("/nonexistent/sysfs"),
            ..MountPolicy::default()
        },
    ] {
        let facts = mount_facts(&mounts, &policy);
        for fact in &facts.mounts {
            assert_eq!(fact.block_device, None, "{fact:?}");
            assert!(!fact.removable && !fact.encrypted, "{fact:?}");
        }
        assert!(!facts.removable_mounted);
        assert_eq!(facts.unencrypted_persistent_writable, ["/", "/data"]);
        assert!(!facts.all_persistent_writable_encrypted);
    }
}

#[test]
fn a_fuse_source_is_never_taken_as_a_device_name() {
    // Any user can name a FUSE mount /dev/mapper/luks-root.
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let facts = mount_facts(
        &[
            root,
            mount(
                "/home/u/fake",
                "fuse.sshfs",
                "/dev/mapper/luks-root",
                false,
                (0, 70),
            ),
            mount(
                "/home/u/raw",
                "fuse",
                "/dev/mapper/luks-root",
                false,
                (0, 71),
            ),
        ],
        &policy_for(&sysfs),
    );
    for point in ["/home/u/fake", "/home/u/raw"] {
        let fact = fact(&facts, point);
        assert!(fact.block_device.is_none() && !fact.encrypted && fact.persistent);
    }
    assert!(!facts.all_persistent_writable_encrypted);
}

#[test]
fn a_source_naming_another_device_than_the_kernel_number_is_not_believed() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    // 8:99 is not in sysfs; the source names dm-0, whose number is 253:0.
    let facts = mount_facts(
        &[
            root,
            mount("/data", "ext4", "/dev/mapper/luks-root", false, (8, 99)),
        ],
        &policy_for(&sysfs),
    );
    let data = fact(&facts, "/data");
    assert!(data.block_device.is_none() && !data.encrypted);
}

#[test]
fn the_kernel_number_wins_over_the_source_text() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let disk = sysfs.disk(SATA_PARENT, "sdg", (8, 96), false);
    sysfs.partition(&disk, "sdg1", (8, 97));
    // Source says the LUKS mapping; the kernel says a plain partition.
    let facts = mount_facts(
        &[
            root,
            mount("/data", "ext4", "/dev/mapper/luks-root", false, (8, 97)),
        ],
        &policy_for(&sysfs),
    );
    let data = fact(&facts, "/data");
    assert_eq!(data.block_device.as_deref(), Some("sdg1"));
    assert!(!data.encrypted);
}

#[test]
fn links_leading_out_of_the_sysfs_root_are_not_followed() {
    let sysfs = FakeSysfs::new();
    let outside = tempfile::tempdir().expect("a directory outside the fake sysfs");
    let evil = outside.path().join("dm-7");
    for (attribute, value) in [
        ("dm/name", "luks-evil"),
        ("dm/uuid", "CRYPT-LUKS2-0000-luks-evil"),
        ("removable", "0"),
    ] {
        std::fs::create_dir_all(evil.join(attribute).parent().expect("parent")).expect("dir");
        std::fs::write(evil.join(attribute), value).expect("attribute");
    }
    sysfs.link("dm-7", (253, 7), &evil);
    // A device inside whose attribute and lower device are links out.
    let inside = sysfs.bare("dm-8", &[("dm/name", "luks-half")]);
    std::os::unix::fs::symlink(evil.join("dm/uuid"), inside.join("dm/uuid")).expect("link");
    let stacked = sysfs.bare("dm-9", &[("dm/name", "vg-out"), ("dm/uuid", "LVM-out")]);
    std::fs::create_dir_all(stacked.join("slaves")).expect("slaves");
    std::os::unix::fs::symlink(&evil, stacked.join("slaves/dm-7")).expect("link");
    let facts = mount_facts(
        &[
            mount("/", "ext4", "/dev/mapper/luks-evil", false, (253, 7)),
            mount("/half", "btrfs", "/dev/mapper/luks-half", false, (0, 80)),
            mount("/vg", "btrfs", "/dev/mapper/vg-out", false, (0, 81)),
        ],
        &policy_for(&sysfs),
    );
    for fact in &facts.mounts {
        assert!(!fact.encrypted, "{fact:?}");
    }
    assert!(fact(&facts, "/").block_device.is_none());
    assert_eq!(fact(&facts, "/half").block_device.as_deref(), Some("dm-8"));
}

#[test]
fn a_cycle_of_lower_devices_ends_and_fails_closed() {
    let sysfs = FakeSysfs::new();
    let first = sysfs.bare("dm-5", &[("dm/name", "loop-a"), ("dm/uuid", "LVM-a")]);
    let second = sysfs.bare("dm-6", &[("dm/name", "loop-b"), ("dm/uuid", "LVM-b")]);
    sysfs.stack_on(&first, &[&second]);
    sysfs.stack_on(&second, &[&first]);
    let facts = mount_facts(
        &[mount("/", "btrfs", "/dev/mapper/loop-a", false, (0, 90))],
        &policy_for(&sysfs),
    );
    let root = fact(&facts, "/");
    assert!(!root.encrypted && root.removable);
}

#[test]
fn a_diamond_of_lower_devices_is_judged_once_each() {
    // dm-12 on dm-10 and dm-11, both on dm-0 (LUKS): every path leads to encryption.
    let sysfs = FakeSysfs::new();
    encrypted_root(&sysfs);
    let crypt = sysfs.root().join("devices/virtual/block/dm-0");
    let left = sysfs.dm("dm-10", (253, 10), "left", "LVM-l", &[&crypt]);
    let right = sysfs.dm("dm-11", (253, 11), "right", "LVM-r", &[&crypt]);
    sysfs.dm("dm-12", (253, 12), "top", "LVM-t", &[&left, &right]);
    let facts = mount_facts(
        &[mount("/", "ext4", "/dev/mapper/top", false, (253, 12))],
        &policy_for(&sysfs),
    );
    assert!(fact(&facts, "/").encrypted);
}

#[test]
fn ignored_mount_points_are_left_out_by_whole_components() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let mounts = [
        root,
        mount("/proc", "proc", "proc", false, (0, 21)),
        mount(
            "/proc/sys/fs/binfmt_misc",
            "binfmt_misc",
            "binfmt_misc",
            false,
            (0, 40),
        ),
        mount(
            "/sys/firmware/efi/efivars",
            "efivarfs",
            "efivarfs",
            false,
            (0, 41),
        ),
        mount("/system", "ext4", "/dev/sdq1", false, (8, 1)),
    ];
    let facts = mount_facts(&mounts, &policy_for(&sysfs));
    let points: Vec<&str> = facts
        .mounts
        .iter()
        .map(|f| f.mount_point.as_str())
        .collect();
    assert_eq!(points, ["/", "/system"]);
    assert_eq!(facts.unencrypted_persistent_writable, ["/system"]);

    let policy = MountPolicy {
        ignore_mount_points: vec!["/system/".into()],
        ..policy_for(&sysfs)
    };
    let facts = mount_facts(&mounts, &policy);
    assert!(
        facts
            .unencrypted_persistent_writable
            .contains(&"/sys/firmware/efi/efivars".into())
    );
    assert!(
        !facts
            .unencrypted_persistent_writable
            .contains(&"/system".into())
    );
}

#[test]
fn a_table_without_a_root_mount_vouches_for_nothing() {
    let sysfs = FakeSysfs::new();
    let facts = mount_facts(&[], &policy_for(&sysfs));
    assert!(!facts.has_root_mount);
    assert!(!facts.all_persistent_writable_encrypted);
    assert!(!facts.removable_mounted);

    let facts = mount_facts(
        &[mount("/tmp", "tmpfs", "tmpfs", false, (0, 30))],
        &policy_for(&sysfs),
    );
    assert!(!facts.all_persistent_writable_encrypted);

    // Everything volatile and a root: nothing persists, so everything that does is encrypted.
    let facts = mount_facts(
        &[
            mount("/", "tmpfs", "rootfs", false, (0, 2)),
            mount("/run/live/medium", "iso9660", "/dev/sr0", true, (11, 0)),
        ],
        &policy_for(&sysfs),
    );
    assert!(facts.has_root_mount && facts.all_persistent_writable_encrypted);
}

#[test]
fn the_policy_reads_from_config_with_defaults_and_refuses_unknown_keys() {
    let defaults = MountPolicy::default();
    assert!(defaults.volatile_fstypes.iter().any(|t| t == "tmpfs"));
    for not_volatile in ["overlay", "pstore", "efivarfs", "ext4", "fuse"] {
        assert!(!defaults.volatile_fstypes.iter().any(|t| t == not_volatile));
    }
    assert_eq!(defaults.ignore_mount_points, ["/proc", "/sys"]);
    assert_eq!(defaults.sysfs_root, Path::new("/sys"));
    assert_eq!(
        defaults.removable_buses,
        [
            RemovableBus::Usb,
            RemovableBus::Mmc,
            RemovableBus::Thunderbolt,
            RemovableBus::Esata
        ]
    );
    let parsed: MountPolicy =
        toml::from_str("removable_buses = [\"usb\", \"sd\", \"sata_hotplug\"]").expect("buses");
    assert_eq!(
        parsed.removable_buses,
        [
            RemovableBus::Usb,
            RemovableBus::Sd,
            RemovableBus::SataHotplug
        ]
    );
    // A misspelt bus is an error, not a bus silently left out.
    assert!(toml::from_str::<MountPolicy>("removable_buses = [\"USB\"]").is_err());
    assert!(toml::from_str::<MountPolicy>("removable_buses = [\"firewire\"]").is_err());

    let parsed: MountPolicy =
        toml::from_str("ignore_mount_points = [\"/var/lib/docker\"]").expect("a valid policy");
    assert_eq!(parsed.ignore_mount_points, ["/var/lib/docker"]);
    assert_eq!(parsed.volatile_fstypes, defaults.volatile_fstypes);
    assert_eq!(parsed, parsed.clone());

    let empty: MountPolicy = toml::from_str("").expect("an empty policy");
    assert_eq!(empty, defaults);
    assert!(toml::from_str::<MountPolicy>("volatile_types = []").is_err());
}

#[test]
fn facts_serialize_for_explain() {
    let sysfs = FakeSysfs::new();
    let facts = mount_facts(&[encrypted_root(&sysfs)], &policy_for(&sysfs));
    let json = serde_json::to_value(&facts).expect("facts serialize");
    assert_eq!(json["all_persistent_writable_encrypted"], true);
    assert_eq!(json["mounts"][0]["block_device"], "dm-0");
    // Another part renders these by this name.
    assert_eq!(
        json["mounts"][0]["reasons"],
        serde_json::json!([
            "writable: super block rw",
            "persistent: ext4 is not a volatile filesystem type",
            "fixed: sysfs shows no removable flag or bus for dm-0",
            "encrypted: dm-crypt (LUKS2) luks-root",
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Removable media the kernel does not flag (issue 14, F5)

/// An SD card in a built-in PCI reader: `mmcblk0` with `removable` = 0 (the MMC block driver
/// never sets it) and its partition `mmcblk0p1`; `card_type` is the card's sysfs `type`.
fn sd_card(sysfs: &FakeSysfs, card_type: &str) -> Mount {
    sysfs.device_attribute(&format!("{SD_CARD}/type"), card_type);
    let disk = sysfs.disk(SD_CARD, "mmcblk0", (179, 0), false);
    sysfs.partition(&disk, "mmcblk0p1", (179, 1));
    mount("/media/card", "exfat", "/dev/mmcblk0p1", false, (179, 1))
}

#[test]
fn an_sd_card_in_a_built_in_reader_is_removable() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let card = sd_card(&sysfs, "SD");
    let facts = mount_facts(&[root, card], &policy_for(&sysfs));
    let card = fact(&facts, "/media/card");
    assert_eq!(card.block_device.as_deref(), Some("mmcblk0p1"));
    assert!(card.removable, "{card:?}");
    assert_eq!(facts.removable_mount_points, ["/media/card"]);
    assert!(facts.removable_mounted);
}

#[test]
fn a_read_only_sd_card_is_removable_media_too() {
    // Read-only media still count: a card mounted ro in COLDROOM must latch LOCKDOWN.
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let mut card = sd_card(&sysfs, "SD");
    card.read_only = true;
    let facts = mount_facts(&[root, card], &policy_for(&sysfs));
    assert!(fact(&facts, "/media/card").removable);
    assert!(facts.removable_mounted);
}

#[test]
fn an_mmc_card_of_unknown_kind_counts_as_removable_by_default() {
    // Soldered eMMC and an MMC card in a slot both read type MMC: by default both count.
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let card = sd_card(&sysfs, "MMC");
    let facts = mount_facts(&[root, card], &policy_for(&sysfs));
    assert!(fact(&facts, "/media/card").removable);
}

#[test]
fn a_disk_behind_a_thunderbolt_tunnel_is_removable() {
    // The kernel marks PCI devices below an external-facing port `removable`.
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    for bridge in [
        "pci0000:00/0000:00:07.0/0000:2c:00.0",
        "pci0000:00/0000:00:07.0/0000:2c:00.0/0000:2d:01.0",
        "pci0000:00/0000:00:07.0/0000:2c:00.0/0000:2d:01.0/0000:2e:00.0",
    ] {
        sysfs.device_attribute(&format!("{bridge}/removable"), "removable");
    }
    sysfs.device_attribute("pci0000:00/0000:00:07.0/removable", "fixed");
    let disk = sysfs.disk(THUNDERBOLT_NVME, "nvme1n1", (259, 4), false);
    sysfs.partition(&disk, "nvme1n1p1", (259, 5));
    let facts = mount_facts(
        &[
            root,
            mount("/mnt/dock", "ext4", "/dev/nvme1n1p1", false, (259, 5)),
        ],
        &policy_for(&sysfs),
    );
    let dock = fact(&facts, "/mnt/dock");
    assert!(dock.removable, "{dock:?}");
    assert_eq!(facts.removable_mount_points, ["/mnt/dock"]);
}

#[test]
fn a_disk_below_a_thunderbolt_bus_device_is_removable() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let router = "pci0000:00/0000:00:0d.2/domain0/0-0/0-1";
    sysfs.on_bus("pci0000:00/0000:00:0d.2/domain0/0-0", "thunderbolt");
    sysfs.on_bus(router, "thunderbolt");
    let disk = sysfs.disk(
        &format!("{router}/0-1.0/host9/target9:0:0/9:0:0:0"),
        "sdk",
        (8, 160),
        false,
    );
    sysfs.partition(&disk, "sdk1", (8, 161));
    let facts = mount_facts(
        &[root, mount("/mnt/tb", "ext4", "/dev/sdk1", false, (8, 161))],
        &policy_for(&sysfs),
    );
    assert!(fact(&facts, "/mnt/tb").removable);
}

#[test]
fn a_disk_on_an_external_sata_port_is_removable() {
    // AHCI's PxCMD register: bit 21 (ESP) says the port's connector is external.
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    sysfs.device_attribute(
        "pci0000:00/0000:00:17.0/ata3/host2/scsi_host/host2/ahci_port_cmd",
        "204017",
    );
    let disk = sysfs.disk(AHCI_PORT3_PARENT, "sdc", (8, 32), false);
    sysfs.partition(&disk, "sdc1", (8, 33));
    let facts = mount_facts(
        &[
            root,
            mount("/mnt/esata", "ext4", "/dev/sdc1", false, (8, 33)),
        ],
        &policy_for(&sysfs),
    );
    assert!(fact(&facts, "/mnt/esata").removable);
}

#[test]
fn a_disk_on_an_internal_ahci_port_is_fixed() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    sysfs.device_attribute(
        "pci0000:00/0000:00:17.0/ata3/host2/scsi_host/host2/ahci_port_cmd",
        "4017",
    );
    let disk = sysfs.disk(AHCI_PORT3_PARENT, "sdc", (8, 32), false);
    sysfs.partition(&disk, "sdc1", (8, 33));
    let facts = mount_facts(
        &[root, mount("/srv", "ext4", "/dev/sdc1", false, (8, 33))],
        &policy_for(&sysfs),
    );
    assert!(!fact(&facts, "/srv").removable);
    assert!(!facts.removable_mounted);
}

fn policy_with_buses(sysfs: &FakeSysfs, buses: &[RemovableBus]) -> MountPolicy {
    MountPolicy {
        removable_buses: buses.to_vec(),
        ..policy_for(sysfs)
    }
}

fn has_reason(fact: &MountFact, phrase: &str) -> bool {
    fact.reasons.iter().any(|reason| reason.contains(phrase))
}

#[test]
fn an_sd_card_says_why_it_is_removable() {
    let sysfs = FakeSysfs::new();
    let card = sd_card(&sysfs, "SD");
    let facts = mount_facts(&[card], &policy_for(&sysfs));
    let card = fact(&facts, "/media/card");
    assert!(
        has_reason(card, "removable: on an MMC bus (SD card, mmc0:aaaa)"),
        "{:?}",
        card.reasons
    );
    assert!(has_reason(
        card,
        "not encrypted: no dm-crypt mapping under mmcblk0p1"
    ));
}

#[test]
fn the_sd_kind_leaves_out_emmc_and_an_empty_list_only_the_kernel_flag_counts() {
    let sysfs = FakeSysfs::new();
    let emmc = sd_card(&sysfs, "MMC");
    let sd_only = [RemovableBus::Usb, RemovableBus::Sd];
    let facts = mount_facts(
        std::slice::from_ref(&emmc),
        &policy_with_buses(&sysfs, &sd_only),
    );
    let fixed = fact(&facts, "/media/card");
    assert!(!fixed.removable, "{fixed:?}");
    assert!(has_reason(
        fixed,
        "fixed: sysfs shows no removable flag or bus for mmcblk0p1"
    ));

    let facts = mount_facts(std::slice::from_ref(&emmc), &policy_for(&sysfs));
    assert!(has_reason(
        fact(&facts, "/media/card"),
        "removable: on an MMC bus (MMC card or eMMC, mmc0:aaaa)"
    ));

    // A card of a type sysfs does not show counts as an SD card.
    let unknown = FakeSysfs::new();
    let disk = unknown.disk(SD_CARD, "mmcblk0", (179, 0), false);
    unknown.partition(&disk, "mmcblk0p1", (179, 1));
    let card = mount("/media/card", "exfat", "/dev/mmcblk0p1", false, (179, 1));
    let facts = mount_facts(
        std::slice::from_ref(&card),
        &policy_with_buses(&unknown, &sd_only),
    );
    assert!(fact(&facts, "/media/card").removable);

    // With no buses listed, a USB stick that says removable still is; a USB disk that does
    // not, and the SD card, are not.
    let stick = sysfs.disk(USB_PARENT, "sdb", (8, 16), true);
    sysfs.partition(&stick, "sdb1", (8, 17));
    let ssd = sysfs.disk(
        "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host7/target7:0:0/7:0:0:0",
        "sdc",
        (8, 32),
        false,
    );
    sysfs.partition(&ssd, "sdc1", (8, 33));
    let facts = mount_facts(
        &[
            emmc,
            mount("/media/stick", "vfat", "/dev/sdb1", false, (8, 17)),
            mount("/media/ssd", "ext4", "/dev/sdc1", false, (8, 33)),
        ],
        &policy_with_buses(&sysfs, &[]),
    );
    assert_eq!(facts.removable_mount_points, ["/media/stick"]);
    assert!(has_reason(
        fact(&facts, "/media/stick"),
        "removable: sysfs flags sdb removable"
    ));
}

#[test]
fn an_mmcblk_device_in_a_bare_tree_is_on_an_mmc_bus() {
    let sysfs = FakeSysfs::new();
    sysfs.bare(
        "mmcblk1",
        &[("removable", "0"), ("mmcblk1p2/partition", "1")],
    );
    sysfs.bare("mmcblk1p2", &[("partition", "1")]);
    let facts = mount_facts(
        &[mount(
            "/media/sd",
            "vfat",
            "/dev/mmcblk1p2",
            false,
            (179, 10),
        )],
        &policy_for(&sysfs),
    );
    let card = fact(&facts, "/media/sd");
    assert!(card.removable, "{card:?}");
    assert!(
        has_reason(card, "on an MMC bus (mmcblk1"),
        "{:?}",
        card.reasons
    );
}

#[test]
fn thunderbolt_and_sata_kinds_name_their_reason_and_can_be_turned_off() {
    let sysfs = FakeSysfs::new();
    sysfs.device_attribute(
        "pci0000:00/0000:00:07.0/0000:2c:00.0/removable",
        "removable",
    );
    sysfs.disk(THUNDERBOLT_NVME, "nvme1n1", (259, 4), false);
    sysfs.device_attribute(
        "pci0000:00/0000:00:17.0/ata3/host2/scsi_host/host2/ahci_port_cmd",
        "44017",
    );
    sysfs.disk(AHCI_PORT3_PARENT, "sdc", (8, 32), false);
    let mounts = [
        mount("/mnt/dock", "ext4", "/dev/nvme1n1", false, (259, 4)),
        mount("/mnt/bay", "ext4", "/dev/sdc", false, (8, 32)),
    ];
    let facts = mount_facts(&mounts, &policy_for(&sysfs));
    let dock = fact(&facts, "/mnt/dock");
    assert!(
        has_reason(
            dock,
            "removable: behind an external port (the kernel marks 0000:2c:00.0"
        ),
        "{:?}",
        dock.reasons
    );
    // HPCP alone (a hot-swap bay) is not eSATA, and not in the default.
    assert!(!fact(&facts, "/mnt/bay").removable);

    let facts = mount_facts(
        &mounts,
        &policy_with_buses(&sysfs, &[RemovableBus::SataHotplug]),
    );
    assert!(!fact(&facts, "/mnt/dock").removable);
    let bay = fact(&facts, "/mnt/bay");
    assert!(
        has_reason(
            bay,
            "removable: on a hot-pluggable SATA port (host2: AHCI HPCP)"
        ),
        "{:?}",
        bay.reasons
    );
}

#[test]
fn a_mount_a_sandbox_shows_read_only_is_writable_and_says_why() {
    let sysfs = FakeSysfs::new();
    let root = encrypted_root(&sysfs);
    let disk = sysfs.disk(SATA_PARENT, "sdh", (8, 112), false);
    sysfs.partition(&disk, "sdh1", (8, 113));
    let data = mount("/srv/data", "ext4", "/dev/sdh1", false, (8, 113));
    let facts = mount_facts(&[sandboxed(root), sandboxed(data)], &policy_for(&sysfs));
    let data = fact(&facts, "/srv/data");
    assert!(data.writable);
    assert!(has_reason(
        data,
        "writable: super block rw (the per-mount ro comes from a sandbox or a read-only bind)"
    ));
    assert!(fact(&facts, "/").writable);
    assert_eq!(facts.unencrypted_persistent_writable, ["/srv/data"]);
    assert!(!facts.all_persistent_writable_encrypted);

    // A read-only super block is read-only storage, whatever the mount says.
    let mut media = mount("/srv/archive", "ext4", "/dev/sdh1", false, (8, 113));
    media.super_read_only = true;
    let facts = mount_facts(&[media], &policy_for(&sysfs));
    let archive = fact(&facts, "/srv/archive");
    assert!(!archive.writable);
    assert!(has_reason(archive, "read-only: super block ro"));
}

#[test]
fn encryption_reasons_name_the_mappings_under_a_stack() {
    let sysfs = FakeSysfs::new();
    let disk = sysfs.disk(SATA_PARENT, "sda", (8, 0), false);
    let first = sysfs.partition(&disk, "sda2", (8, 2));
    let second = sysfs.partition(&disk, "sda3", (8, 3));
    let a = sysfs.dm(
        "dm-0",
        (253, 0),
        "luks-a",
        "CRYPT-LUKS2-aaaa-luks-a",
        &[&first],
    );
    let b = sysfs.dm(
        "dm-1",
        (253, 1),
        "luks-b",
        "CRYPT-LUKS1-bbbb-luks-b",
        &[&second],
    );
    sysfs.dm("dm-2", (253, 2), "vg-root", "LVM-ab", &[&a, &b]);
    let facts = mount_facts(
        &[mount("/", "ext4", "/dev/mapper/vg-root", false, (253, 2))],
        &policy_for(&sysfs),
    );
    let root = fact(&facts, "/");
    assert!(root.encrypted);
    let encrypted = root
        .reasons
        .iter()
        .find(|reason| reason.starts_with("encrypted: "))
        .expect("an encryption reason");
    assert!(
        encrypted.contains("dm-crypt (LUKS2) luks-a")
            && encrypted.contains("dm-crypt (LUKS1) luks-b"),
        "{encrypted}"
    );
}

// ---------------------------------------------------------------------------------------------
// The watcher on real mounts, in a private mount namespace

/// The private namespace's table, as seen from the thread that made it.
const THREAD_MOUNTINFO: &str = "/proc/thread-self/mountinfo";
const WITHIN: Duration = Duration::from_secs(1);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn has_mount_at(table: &[Mount], point: &Path) -> bool {
    table.iter().any(|m| Path::new(&m.mount_point) == point)
}

/// Starts a watcher on this thread's table; returns the receiver with the first table seen.
async fn start_watcher() -> watch::Receiver<Vec<Mount>> {
    let watcher = MountWatcher::open(THREAD_MOUNTINFO).expect("open the private mount table");
    assert!(has_mount_at(watcher.current(), Path::new("/")));
    let (tables, mut received) = watch::channel(Vec::new());
    tokio::spawn(async move {
        if let Err(err) = watcher.run(tables).await {
            panic!("the watcher failed: {err}");
        }
    });
    received.changed().await.expect("the first table");
    received
}

/// Waits at most a second for a table satisfying `wanted`; returns it and how long it took.
async fn wait_for_table(
    tables: &mut watch::Receiver<Vec<Mount>>,
    since: Instant,
    what: &str,
    wanted: impl FnMut(&Vec<Mount>) -> bool,
) -> (Vec<Mount>, Duration) {
    let table = tokio::time::timeout(WITHIN, tables.wait_for(wanted))
        .await
        .unwrap_or_else(|_| panic!("no watcher update for {what} within {WITHIN:?}"))
        .expect("the watcher is running")
        .clone();
    (table, since.elapsed())
}

fn mount_tmpfs(source: &str, target: &Path) -> Mounted {
    nix::mount::mount(
        Some(source),
        target,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=1m"),
    )
    .expect("mount a tmpfs in the private namespace");
    Mounted(target.to_path_buf())
}

#[test]
fn the_watcher_sees_a_tmpfs_mount_and_unmount_within_a_second() {
    let test = "the_watcher_sees_a_tmpfs_mount_and_unmount_within_a_second";
    in_private_mount_namespace(test, || {
        runtime().block_on(async {
            let dir = tempfile::tempdir().expect("a mount point");
            let target = dir.path().to_path_buf();
            let mut tables = start_watcher().await;
            assert!(!has_mount_at(&tables.borrow(), &target));

            let started = Instant::now();
            let mounted = mount_tmpfs("lc-test", &target);
            let (table, mount_latency) =
                wait_for_table(&mut tables, started, "the mount", |t| has_mount_at(t, &target)).await;
            let entry = table
                .iter()
                .find(|m| Path::new(&m.mount_point) == target)
                .expect("the new mount");
            assert_eq!((entry.fstype.as_str(), entry.source.as_str()), ("tmpfs", "lc-test"));

            // Event-driven: nothing changes, so nothing is sent.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(!tables.has_changed().expect("the watcher is running"));

            let started = Instant::now();
            drop(mounted);
            let (_, unmount_latency) =
                wait_for_table(&mut tables, started, "the unmount", |t| !has_mount_at(t, &target)).await;
            eprintln!(
                "mount watcher latency: mount seen after {mount_latency:?}, unmount after {unmount_latency:?}"
            );
        });
    });
}

#[test]
fn the_watcher_keeps_up_with_a_burst_of_mounts_and_a_remount() {
    let test = "the_watcher_keeps_up_with_a_burst_of_mounts_and_a_remount";
    in_private_mount_namespace(test, || {
        runtime().block_on(async {
            let dir = tempfile::tempdir().expect("mount points");
            let mut tables = start_watcher().await;
            let targets: Vec<PathBuf> = (0..20)
                .map(|index| {
                    let target = dir.path().join(format!("m{index}"));
                    std::fs::create_dir(&target).expect("a mount point");
                    target
                })
                .collect();
            let started = Instant::now();
            let mounted: Vec<Mounted> = targets
                .iter()
                .map(|target| mount_tmpfs("burst", target))
                .collect();
            wait_for_table(&mut tables, started, "twenty mounts", |t| {
                targets.iter().all(|target| has_mount_at(t, target))
            })
            .await;

            // A remount changes only an option; the watcher reports it.
            let first = &targets[0];
            let started = Instant::now();
            run("mount", &["-o", "remount,bind,ro", path_str(first)]);
            wait_for_table(&mut tables, started, "the read-only remount", |t| {
                t.iter()
                    .any(|m| Path::new(&m.mount_point) == first && m.read_only)
            })
            .await;
            drop(mounted);
            wait_for_table(&mut tables, Instant::now(), "the unmounts", |t| {
                !targets.iter().any(|target| has_mount_at(t, target))
            })
            .await;
        });
    });
}

#[test]
fn a_tmpfs_named_like_a_luks_mapping_reads_encrypted_through_fake_sysfs() {
    let test = "a_tmpfs_named_like_a_luks_mapping_reads_encrypted_through_fake_sysfs";
    in_private_mount_namespace(test, || {
        runtime().block_on(async {
            let sysfs = FakeSysfs::new();
            sysfs.dm("dm-0", (253, 0), "luks-x", "CRYPT-LUKS2-1111-luks-x", &[]);
            let dir = tempfile::tempdir().expect("mount points");
            let secret = dir.path().join("secret");
            let plain = dir.path().join("plain");
            std::fs::create_dir(&secret).expect("mount point");
            std::fs::create_dir(&plain).expect("mount point");
            let mut tables = start_watcher().await;
            let started = Instant::now();
            let _secret_mount = mount_tmpfs("/dev/mapper/luks-x", &secret);
            let _plain_mount = mount_tmpfs("tmpfs", &plain);
            let (table, _) = wait_for_table(&mut tables, started, "the mounts", |t| {
                has_mount_at(t, &secret) && has_mount_at(t, &plain)
            })
            .await;
            let secret_point = path_str(&secret);
            let plain_point = path_str(&plain);

            // By default tmpfs is volatile: encrypted or not, it does not count.
            let facts = mount_facts(&table, &policy_for(&sysfs));
            let fact_secret = fact(&facts, secret_point);
            assert!(fact_secret.encrypted && !fact_secret.persistent);
            assert_eq!(fact_secret.block_device.as_deref(), Some("dm-0"));
            assert!(
                !facts
                    .unencrypted_persistent_writable
                    .iter()
                    .any(|p| p == secret_point)
            );

            // With tmpfs counted as persistent, the LUKS-named one passes and the other not.
            let mut strict = policy_for(&sysfs);
            strict.volatile_fstypes.retain(|t| t != "tmpfs");
            let facts = mount_facts(&table, &strict);
            assert!(fact(&facts, secret_point).persistent);
            assert!(
                !facts
                    .unencrypted_persistent_writable
                    .iter()
                    .any(|p| p == secret_point)
            );
            assert!(
                facts
                    .unencrypted_persistent_writable
                    .iter()
                    .any(|p| p == plain_point)
            );
        });
    });
}

/// Mounts a fresh ext4 loop image at a new directory, marked in a fake sysfs by `mark`, and
/// hands the watcher's table, the mount point and the fake sysfs to `check`.
fn with_loop_mount(
    test: &str,
    mark: fn(&FakeSysfs, &LoopImage),
    check: fn(&mut watch::Receiver<Vec<Mount>>, &Path, &FakeSysfs, &tokio::runtime::Runtime),
) {
    if !loop_tools_available(test) {
        return;
    }
    in_private_mount_namespace(test, move || {
        let rt = runtime();
        let sysfs = FakeSysfs::new();
        // Declared before the mount, so it is detached after the mount is gone.
        let image = LoopImage::create();
        mark(&sysfs, &image);
        let dir = tempfile::tempdir().expect("a mount point");
        let target = dir.path().to_path_buf();
        let mut tables = rt.block_on(start_watcher());
        run("mount", &[path_str(&image.device), path_str(&target)]);
        let _mounted = Mounted(target.clone());
        check(&mut tables, &target, &sysfs, &rt);
    });
}

fn facts_once_mounted(
    tables: &mut watch::Receiver<Vec<Mount>>,
    target: &Path,
    sysfs: &FakeSysfs,
    rt: &tokio::runtime::Runtime,
) -> MountFacts {
    let (table, latency) = rt.block_on(wait_for_table(
        tables,
        Instant::now(),
        "the loop mount",
        |t| has_mount_at(t, target),
    ));
    let entry = table
        .iter()
        .find(|m| Path::new(&m.mount_point) == target)
        .expect("the loop mount");
    assert_eq!(entry.fstype, "ext4");
    assert_eq!(entry.major, 7, "a loop device: {entry:?}");
    eprintln!("loop mount seen {latency:?} after mount(8) returned");
    mount_facts(&table, &policy_for(sysfs))
}

#[test]
fn a_loop_ext4_marked_removable_is_removable_media_until_unmounted() {
    with_loop_mount(
        "a_loop_ext4_marked_removable_is_removable_media_until_unmounted",
        |sysfs, image| {
            // A loop device on a USB stick's place in the tree, flagged removable.
            sysfs.disk(USB_PARENT, &image.name(), image.number, true);
        },
        |tables, target, sysfs, rt| {
            let point = path_str(target);
            let facts = facts_once_mounted(tables, target, sysfs, rt);
            let stick = fact(&facts, point);
            assert!(stick.removable && stick.persistent && stick.writable && !stick.encrypted);
            assert!(facts.removable_mount_points.iter().any(|p| p == point));
            assert!(
                facts
                    .unencrypted_persistent_writable
                    .iter()
                    .any(|p| p == point)
            );

            // A read-only bind of it elsewhere is removable media too, and still writable
            // storage: its super block is rw, the stick is written through the other mount.
            let bind_dir = tempfile::tempdir().expect("a bind mount point");
            let bind = path_str(bind_dir.path()).to_string();
            run("mount", &["--bind", "-o", "ro", point, &bind]);
            let bound = Mounted(bind_dir.path().to_path_buf());
            let (table, _) = rt.block_on(wait_for_table(tables, Instant::now(), "the bind", |t| {
                t.iter().any(|m| m.mount_point == bind && m.read_only)
            }));
            let facts = mount_facts(&table, &policy_for(sysfs));
            let view = fact(&facts, &bind);
            assert!(view.removable && view.writable, "{view:?}");
            assert!(facts.unencrypted_persistent_writable.contains(&bind));
            drop(bound);

            run("umount", &[point]);
            let (table, _) =
                rt.block_on(wait_for_table(tables, Instant::now(), "the unmount", |t| {
                    !t.iter()
                        .any(|m| m.mount_point == point || m.mount_point == bind)
                }));
            let facts = mount_facts(&table, &policy_for(sysfs));
            assert!(
                !facts.removable_mounted,
                "{:?}",
                facts.removable_mount_points
            );
        },
    );
}

#[test]
fn a_loop_ext4_marked_as_a_luks_mapping_is_encrypted_persistent_storage() {
    with_loop_mount(
        "a_loop_ext4_marked_as_a_luks_mapping_is_encrypted_persistent_storage",
        |sysfs, image| {
            let backing = sysfs.disk(SATA_PARENT, "sda", (8, 0), false);
            let partition = sysfs.partition(&backing, "sda2", (8, 2));
            sysfs.dm(
                &image.name(),
                image.number,
                "luks-loop",
                "CRYPT-LUKS2-2222-luks-loop",
                &[&partition],
            );
        },
        |tables, target, sysfs, rt| {
            let point = path_str(target);
            let facts = facts_once_mounted(tables, target, sysfs, rt);
            let volume = fact(&facts, point);
            assert!(volume.encrypted && volume.persistent && volume.writable && !volume.removable);
            assert!(
                !facts
                    .unencrypted_persistent_writable
                    .iter()
                    .any(|p| p == point)
            );
        },
    );
}

#[test]
fn the_watcher_reports_open_errors_and_needs_a_runtime() {
    assert!(matches!(
        MountWatcher::open(DEFAULT_MOUNTINFO_PATH),
        Err(MountWatchError::NoRuntime)
    ));
    runtime().block_on(async {
        let missing = MountWatcher::open("/nonexistent/mountinfo");
        assert!(
            matches!(missing, Err(MountWatchError::Open { .. })),
            "{missing:?}"
        );
        let watcher = MountWatcher::open(DEFAULT_MOUNTINFO_PATH).expect("this process's table");
        assert!(has_mount_at(watcher.current(), Path::new("/")));
    });
}

// ---------------------------------------------------------------------------------------------
// Writability as the host sees it (issue 14, F4)

/// The mount table a child mount namespace sees after remounting `point` read-only by a bind
/// remount, as systemd's `ProtectSystem=strict` does inside a service's namespace. The child
/// is a separate process (`unshare -m`), so the caller's view stays as it was.
fn table_seen_by_a_sandboxed_child(point: &str) -> Vec<Mount> {
    let script = format!("mount -o remount,bind,ro '{point}' && cat /proc/self/mountinfo");
    let output = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    assert!(
        output.status.success(),
        "the sandboxed child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_mountinfo(&String::from_utf8_lossy(&output.stdout))
}

/// A fake sysfs calling every block device mounted in this namespace a LUKS2 mapping except
/// `plain`, which is a fixed SATA disk: only `plain` can keep the host out of COLDROOM.
fn everything_encrypted_but(table: &[Mount], plain: (u32, u32)) -> FakeSysfs {
    let sysfs = FakeSysfs::new();
    let mut numbers: Vec<(u32, u32)> = table
        .iter()
        .filter(|m| m.major != 0)
        .map(|m| (m.major, m.minor))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    for (index, number) in numbers.into_iter().enumerate() {
        if number == plain {
            sysfs.disk(SATA_PARENT, "loopdata", number, false);
        } else {
            sysfs.dm(
                &format!("dm-{index}"),
                number,
                &format!("vault{index}"),
                &format!("CRYPT-LUKS2-0000-vault{index}"),
                &[],
            );
        }
    }
    sysfs
}

#[test]
fn a_writable_disk_bound_read_only_by_a_sandbox_is_still_writable() {
    let test = "a_writable_disk_bound_read_only_by_a_sandbox_is_still_writable";
    if !loop_tools_available(test) {
        return;
    }
    in_private_mount_namespace(test, || {
        let image = LoopImage::create();
        let dir = tempfile::tempdir().expect("a mount point");
        let point = path_str(dir.path()).to_string();
        run("mount", &[path_str(&image.device), &point]);
        let _mounted = Mounted(dir.path().to_path_buf());

        let host_view = parse_mountinfo(
            &std::fs::read_to_string(THREAD_MOUNTINFO).expect("this namespace's table"),
        );
        let sandboxed = table_seen_by_a_sandboxed_child(&point);
        let entry = sandboxed
            .iter()
            .find(|m| m.mount_point == point)
            .expect("the data mount in the child's table");
        assert!(
            entry.read_only,
            "the sandbox's bind remount is per-mount ro: {entry:?}"
        );

        // Everything else is "encrypted", so the data disk alone decides COLDROOM.
        let sysfs = everything_encrypted_but(&host_view, image.number);
        for (view, table) in [("the host's", &host_view), ("the sandbox's", &sandboxed)] {
            let facts = mount_facts(table, &policy_for(&sysfs));
            let data = fact(&facts, &point);
            assert!(
                data.writable && data.persistent && !data.encrypted,
                "{view} view: {data:?}"
            );
            assert!(
                facts.unencrypted_persistent_writable.contains(&point),
                "{view} view: the unencrypted data disk must count: {:?}",
                facts.unencrypted_persistent_writable
            );
            assert!(
                !facts.all_persistent_writable_encrypted,
                "{view} view: COLDROOM allowed with an unencrypted writable disk mounted"
            );
        }
    });
}
