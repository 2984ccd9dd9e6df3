//! The files that ship with the daemon: the unit passes `systemd-analyze verify` silently and
//! stays well sandboxed; the polkit actions are exactly the ones the daemon asks for; bus
//! activation hands over to the unit.

use learning_contracts::bus::authorize::Action;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A root with the host's system units, the unit under test and its binary where the unit
/// expects it, so `systemd-analyze --root` checks the real file.
fn unit_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("usr/sbin")).unwrap();
    std::fs::create_dir_all(r.join("etc/systemd/system")).unwrap();
    std::fs::create_dir_all(r.join("bin")).unwrap();
    std::fs::create_dir_all(r.join("lib/systemd")).unwrap();
    std::fs::copy(
        env!("CARGO_BIN_EXE_learning-contractsd"),
        r.join("usr/sbin/learning-contractsd"),
    )
    .unwrap();
    std::fs::copy("/bin/kill", r.join("bin/kill")).unwrap();
    std::fs::copy(
        repo("systemd/learning-contractsd.service"),
        r.join("etc/systemd/system/learning-contractsd.service"),
    )
    .unwrap();
    let copied = Command::new("cp")
        .args(["-a", "/lib/systemd/system"])
        .arg(r.join("lib/systemd/"))
        .status()
        .unwrap();
    assert!(copied.success());
    root
}

fn systemd_analyze_available(test: &str) -> bool {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs systemd-analyze (package systemd), and CI=true");
    }
    eprintln!("skipped {test}: systemd-analyze is not installed");
    false
}

#[test]
fn the_unit_verifies_without_a_word() {
    if !systemd_analyze_available("the_unit_verifies_without_a_word") {
        return;
    }
    let root = unit_root();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.path().display()))
        .arg("/etc/systemd/system/learning-contractsd.service")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "systemd-analyze verify said:\n{said}"
    );
}

#[test]
fn the_unit_exposure_score_stays_under_two() {
    if !systemd_analyze_available("the_unit_exposure_score_stays_under_two") {
        return;
    }
    let root = unit_root();
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--root={}", root.path().display()))
        .arg("learning-contractsd.service")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let score: f64 = text
        .lines()
        .find_map(|line| {
            line.split("Overall exposure level for learning-contractsd.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in:\n{text}"));
    assert!(score < 2.0, "exposure {score} is not under 2.0:\n{text}");
}

#[test]
fn the_unit_is_hardened_as_promised() {
    let unit = std::fs::read_to_string(repo("systemd/learning-contractsd.service")).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ProtectSystem=strict",
        "StateDirectory=learning-contracts",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_UNIX AF_NETLINK",
        "SystemCallFilter=@system-service",
        "ExecReload=",
        "RestartPreventExitStatus=65 69 78",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(line)),
            "the unit lacks {line}"
        );
    }
    assert!(
        !unit.contains("PrivateNetwork=yes"),
        "PrivateNetwork would hide the host's links"
    );
    // The sealing credential's line, commented out (an admin enables it after making the
    // key), names the credential the daemon reads.
    let credential = format!(
        "#LoadCredentialEncrypted={}",
        learning_contracts::service::SEALING_CREDENTIAL
    );
    assert!(
        unit.lines().any(|l| l == credential),
        "the unit lacks {credential}"
    );
}

#[test]
fn the_polkit_actions_are_exactly_the_ones_the_daemon_asks_for() {
    let policy = std::fs::read_to_string(repo("dbus/org.learningcontracts.policy")).unwrap();
    let declared: Vec<&str> = policy
        .match_indices("<action id=\"")
        .map(|(i, _)| {
            let rest = &policy[i + 12..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    let used: Vec<&str> = Action::ALL.iter().map(|a| a.id()).collect();
    let mut declared_sorted = declared.clone();
    declared_sorted.sort();
    let mut used_sorted = used.clone();
    used_sorted.sort();
    assert_eq!(declared_sorted, used_sorted);
    // The two confirmations SEMANTICS.md section 12 says are never cached.
    let defaults_of = |id: &str| {
        let start = policy.find(&format!("<action id=\"{id}\">")).unwrap();
        let end = start + policy[start..].find("</action>").unwrap();
        policy[start..end].to_string()
    };
    assert!(
        defaults_of("org.learningcontracts.confirm-own")
            .contains("<allow_active>auth_self</allow_active>")
    );
    assert!(
        defaults_of("org.learningcontracts.release-lockdown")
            .contains("<allow_active>auth_admin</allow_active>")
    );
    assert!(
        defaults_of("org.learningcontracts.manage-all")
            .contains("<allow_active>auth_admin_keep</allow_active>")
    );
    if Command::new("xmllint").arg("--version").output().is_ok() {
        let lint = Command::new("xmllint")
            .args(["--noout"])
            .arg(repo("dbus/org.learningcontracts.policy"))
            .status()
            .unwrap();
        assert!(lint.success(), "the polkit policy is not well-formed XML");
    }
}

#[test]
fn bus_activation_hands_over_to_the_unit() {
    let activation =
        std::fs::read_to_string(repo("dbus/org.learningcontracts.Daemon1.service")).unwrap();
    assert!(activation.contains("Name=org.learningcontracts.Daemon1"));
    assert!(activation.contains("SystemdService=learning-contractsd.service"));
    assert!(
        activation.contains("Exec=/bin/false"),
        "activation must go through systemd, never a direct exec"
    );
    let unit = std::fs::read_to_string(repo("systemd/learning-contractsd.service")).unwrap();
    assert!(unit.contains("BusName=org.learningcontracts.Daemon1"));
    let sysusers = std::fs::read_to_string(repo("systemd/learning-contractsd.sysusers")).unwrap();
    assert!(
        sysusers
            .lines()
            .any(|l| l.starts_with("u learning-contracts "))
    );
    assert!(unit.contains("User=learning-contracts"));
}
