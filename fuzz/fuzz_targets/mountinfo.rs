//! The mount table as the kernel writes `/proc/self/mountinfo`, and the facts the COLDROOM
//! rule reads from it. `parse_mountinfo` must never panic, must keep only well-formed lines,
//! and must read back exactly what the kernel's escaping wrote; `mount_facts` must never panic
//! and must never call storage encrypted without a root mount. Facts are judged against a small
//! fake sysfs (a SATA disk, a USB stick, a dm-crypt volume, a dm-verity one and a cycle) so the
//! device lookups run too.

#![no_main]

use learning_contracts::source::detect::mounts::{
    Mount, MountPolicy, mount_facts, parse_mountinfo,
};
use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A device directory with `dev`, linked from `class/block/NAME` and `dev/block/MAJ:MIN`.
fn device(root: &Path, dir: &str, name: &str, number: &str) -> PathBuf {
    let device = root.join(dir);
    write(&device.join("dev"), &format!("{number}\n"));
    symlink(&device, root.join("class/block").join(name)).unwrap();
    symlink(&device, root.join("dev/block").join(number)).unwrap();
    device
}

fn fake_sysfs() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("lc-fuzz-sysfs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for sub in ["class/block", "dev/block"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let sata = "devices/pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda";
        let sda = device(&root, sata, "sda", "8:0");
        write(&sda.join("removable"), "0\n");
        for (name, number) in [("sda1", "8:1"), ("sda2", "8:2")] {
            let part = device(&root, &format!("{sata}/{name}"), name, number);
            write(&part.join("partition"), "1\n");
        }
        let usb =
            "devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block/sdb";
        let sdb = device(&root, usb, "sdb", "8:16");
        write(&sdb.join("removable"), "0\n");
        let sdb1 = device(&root, &format!("{usb}/sdb1"), "sdb1", "8:17");
        write(&sdb1.join("partition"), "1\n");
        let dm = |name: &str, number: &str, mapper: &str, uuid: &str, lower: &[&str]| {
            let device = device(
                &root,
                &format!("devices/virtual/block/{name}"),
                name,
                number,
            );
            write(&device.join("dm/name"), &format!("{mapper}\n"));
            write(&device.join("dm/uuid"), &format!("{uuid}\n"));
            std::fs::create_dir_all(device.join("slaves")).unwrap();
            for lower in lower {
                symlink(
                    root.join("class/block").join(lower),
                    device.join("slaves").join(lower),
                )
                .unwrap();
            }
        };
        dm(
            "dm-0",
            "253:0",
            "cryptroot",
            "CRYPT-LUKS2-0123-cryptroot",
            &["sda2"],
        );
        dm(
            "dm-1",
            "253:1",
            "verity",
            "CRYPT-VERITY-4567-verity",
            &["sda1"],
        );
        dm(
            "dm-2",
            "253:2",
            "usbcrypt",
            "CRYPT-LUKS1-89ab-usbcrypt",
            &["sdb1"],
        );
        // A cycle, as a hostile tree could hold.
        dm("dm-3", "253:3", "loopa", "LVM-a", &["dm-4"]);
        dm("dm-4", "253:4", "loopb", "LVM-b", &["dm-3"]);
        root
    })
}

/// The kernel's escaping of a mountinfo field (space, tab, newline and backslash).
fn escape(field: &str) -> String {
    let mut out = String::new();
    for c in field.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The watcher reads the file as bytes and decodes them this way.
    let text = String::from_utf8_lossy(data);
    let mounts = parse_mountinfo(&text);
    let lines = text.split('\n').filter(|line| !line.is_empty()).count();
    assert!(mounts.len() <= lines);
    for mount in &mounts {
        assert!(
            !mount.mount_point.is_empty() && !mount.fstype.is_empty(),
            "{mount:?}"
        );
        // What the kernel would write for this mount reads back the same.
        let line = format!(
            "1 2 {}:{} / {} {} - {} {} {}",
            mount.major,
            mount.minor,
            escape(&mount.mount_point),
            if mount.read_only { "ro" } else { "rw" },
            escape(&mount.fstype),
            escape(&mount.source),
            if mount.super_read_only { "ro" } else { "rw" },
        );
        assert_eq!(parse_mountinfo(&line), vec![mount.clone()], "{line:?}");
    }

    let policy = MountPolicy {
        sysfs_root: fake_sysfs().to_path_buf(),
        ..MountPolicy::default()
    };
    let facts = mount_facts(&mounts, &policy);
    let has_root = mounts.iter().any(|m: &Mount| m.mount_point == "/");
    assert_eq!(facts.has_root_mount, has_root);
    assert!(facts.mounts.len() <= mounts.len());
    assert_eq!(
        facts.removable_mounted,
        !facts.removable_mount_points.is_empty()
    );
    // Fail closed: no root mount, or any persistent writable mount not shown encrypted, and
    // the storage is not called encrypted.
    assert_eq!(
        facts.all_persistent_writable_encrypted,
        has_root && facts.unencrypted_persistent_writable.is_empty()
    );
    for fact in &facts.mounts {
        assert!(!fact.mount_point.starts_with("/proc/") && fact.mount_point != "/proc");
        // One reason each for writable, persistent, removable and encrypted.
        assert_eq!(fact.reasons.len(), 4, "{fact:?}");
        if fact.block_device.is_none() {
            assert!(!fact.encrypted && !fact.removable, "{fact:?}");
        }
        if (fact.fstype == "fuse" || fact.fstype.starts_with("fuse."))
            && fact.block_device.is_some()
        {
            // A FUSE source is the mounter's choice: only the kernel's number counts. (Several
            // mounts may share a mount point, so look for one that explains the fact.)
            assert!(
                mounts.iter().any(|m| m.mount_point == fact.mount_point
                    && m.fstype == fact.fstype
                    && m.source == fact.source
                    && m.major != 0),
                "{fact:?}"
            );
        }
    }
});
