//! `make install DESTDIR=… PREFIX=…`, the install for distributions without the Debian
//! package: every file lands where the prefix says (or where dbus-daemon and polkitd read
//! them, whatever the prefix), the unit runs the binary where it was put, and an admin's
//! configuration is never overwritten.

use crate::common::stage::{make, stage_binaries, target_dir};

#[test]
fn make_install_lays_out_every_file_under_the_prefix() {
    let work = tempfile::tempdir_in(target_dir()).unwrap();
    let stage = work.path().join("stage");
    stage_binaries(&stage);
    let root = work.path().join("root");
    let destdir = format!("DESTDIR={}", root.display());
    make(&stage, &["assets"]);
    make(&stage, &["install", &destdir, "PREFIX=/opt/lc"]);

    for file in [
        "opt/lc/sbin/learning-contractsd",
        "opt/lc/bin/contractctl",
        "opt/lc/lib/systemd/system/learning-contractsd.service",
        "opt/lc/lib/sysusers.d/learning-contractsd.conf",
        "opt/lc/share/dbus-1/system-services/org.learningcontracts.Daemon1.service",
        "opt/lc/share/dbus-1/interfaces/org.learningcontracts.Enforcement1.xml",
        "opt/lc/share/man/man8/learning-contractsd.8.gz",
        "opt/lc/share/man/man1/contractctl.1.gz",
        "opt/lc/share/bash-completion/completions/contractctl",
        "opt/lc/share/zsh/vendor-completions/_contractctl",
        "opt/lc/share/fish/vendor_completions.d/contractctl.fish",
        "opt/lc/share/doc/learning-contractsd/README.md",
        // Read from fixed places by dbus-daemon and polkitd.
        "usr/share/dbus-1/system.d/org.learningcontracts.Daemon1.conf",
        "usr/share/polkit-1/actions/org.learningcontracts.policy",
        "usr/share/polkit-1/rules.d/learning-contractsd.rules",
        "etc/learning-contracts/daemon.toml",
    ] {
        let path = root.join(file);
        assert!(
            path.metadata().is_ok_and(|m| m.len() > 0),
            "make install did not install {file}"
        );
    }
    let unit =
        std::fs::read_to_string(root.join("opt/lc/lib/systemd/system/learning-contractsd.service"))
            .unwrap();
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=/opt/lc/sbin/learning-contractsd"),
        "the installed unit does not run the installed binary:\n{unit}"
    );

    // A second install keeps the admin's configuration.
    let config = root.join("etc/learning-contracts/daemon.toml");
    std::fs::write(&config, "# the admin's own\n").unwrap();
    make(&stage, &["install", &destdir, "PREFIX=/opt/lc"]);
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "# the admin's own\n"
    );

    make(&stage, &["uninstall", &destdir, "PREFIX=/opt/lc"]);
    assert!(!root.join("opt/lc/sbin/learning-contractsd").exists());
    assert!(
        !root
            .join("usr/share/polkit-1/rules.d/learning-contractsd.rules")
            .exists()
    );
    assert!(config.exists(), "uninstall must leave the configuration");
}
