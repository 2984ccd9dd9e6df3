//! `contractctl audit verify --journal`, the real binary against a real daemon on a private
//! bus, with the journal's side given by a stand-in `journalctl` on PATH that prints the
//! entries a test chose (the real journald is exercised end to end in
//! tests/machines/e2e_systemd.rs): the store's records are read over `Audit1.Read` and
//! compared, and each outcome has its message and exit status. And the daemon without a
//! journal: it says so once and logs its checkpoints, which verify against its store.

use crate::common;

use crate::common::bus::*;
use crate::common::cli::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A `journalctl` that records its arguments and prints `entries` (or fails with `failure`).
fn stand_in_journalctl(dir: &Path, entries: &str, failure: Option<&str>) {
    std::fs::write(dir.join("entries.json"), entries).unwrap();
    let body = match failure {
        Some(message) => format!("echo '{message}' >&2\nexit 1\n"),
        None => format!("cat '{}'\n", dir.join("entries.json").display()),
    };
    let script = dir.join("journalctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" > '{}'\n{body}",
            dir.join("args").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn entry(seq: u64, hash: &str) -> String {
    format!(
        "{{\"__CURSOR\":\"s={seq}\",\"MESSAGE_ID\":\"03c0ff71d07840208240a741a4e03ddd\",\"LC_AUDIT_SEQ\":\"{seq}\",\"LC_AUDIT_HASH\":\"{hash}\",\"LC_AUDIT_REASON\":\"records\"}}\n"
    )
}

/// Runs `contractctl [--json] audit verify --journal` as root with the stand-in first on PATH.
fn verify_journal(bus: &TestBus, stand_in: &Path, json: bool) -> Run {
    let path = format!(
        "{}:{}",
        stand_in.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new(common::contractctl_bin());
    command.args(["--bus-address", &bus.address]);
    if json {
        command.arg("--json");
    }
    let output = command
        .args(["audit", "verify", "--journal"])
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn the_journals_checkpoints_against_the_store_over_the_bus() {
    if !require_root("the_journals_checkpoints_against_the_store_over_the_bus") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = users().owner;
    for domain in ["one", "two", "three"] {
        ok(
            contractctl(
                &bus,
                owner,
                &[
                    "new",
                    "episodic",
                    "--domain",
                    domain,
                    "--context",
                    "*",
                    "--retention",
                    "permanent",
                ],
            ),
            "new",
        );
    }
    let records = json(
        contractctl(&bus, 0, &["--json", "audit", "show", "--limit", "100"]),
        "audit show",
    );
    let records = records.as_array().unwrap();
    let hash_of = |seq: u64| {
        records
            .iter()
            .find(|r| r["seq"] == seq)
            .and_then(|r| r["hash"].as_str())
            .unwrap()
            .to_string()
    };
    let head = records.last().unwrap()["seq"].as_u64().unwrap();
    assert!(head >= 3, "{records:?}");
    let stand_in = tempfile::tempdir().unwrap();

    // Every checkpoint matches.
    stand_in_journalctl(
        stand_in.path(),
        &(entry(2, &hash_of(2)) + &entry(head, &hash_of(head))),
        None,
    );
    let run = verify_journal(&bus, stand_in.path(), false);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "OK: 2 checkpoints from the journal match the store, latest at record {head}"
        )),
        "{}",
        run.stdout
    );
    let args = std::fs::read_to_string(stand_in.path().join("args")).unwrap();
    assert!(
        args.contains("MESSAGE_ID=03c0ff71d07840208240a741a4e03ddd")
            && args.contains("_SYSTEMD_UNIT=learning-contractsd.service"),
        "{args}"
    );

    // The store's record 2 is not what the journal saw.
    let other = "f".repeat(64);
    stand_in_journalctl(
        stand_in.path(),
        &(entry(1, &hash_of(1)) + &entry(2, &other)),
        None,
    );
    let run = verify_journal(&bus, stand_in.path(), false);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("OK:"), "the chain itself verifies");
    assert!(
        run.stdout.contains(
            "BROKEN: the store's record 2 differs from the journal's checkpoint: the store was rewritten (after record 1"
        ),
        "{}",
        run.stdout
    );
    let report: serde_json::Value =
        serde_json::from_str(&verify_journal(&bus, stand_in.path(), true).stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["journal"]["findings"][0]["verdict"], "rewritten");
    assert_eq!(report["journal"]["findings"][0]["store_hash"], hash_of(2));

    // The journal saw a record the store no longer has.
    stand_in_journalctl(stand_in.path(), &entry(head + 5, &other), None);
    let run = verify_journal(&bus, stand_in.path(), false);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!(
            "the journal saw record {} but the store ends at {head}: records were removed",
            head + 5
        )),
        "{}",
        run.stdout
    );

    // No checkpoint vouches for a store with records.
    stand_in_journalctl(stand_in.path(), "", None);
    let run = verify_journal(&bus, stand_in.path(), false);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("the journal holds no checkpoint of the audit log"),
        "{}",
        run.stdout
    );

    // journalctl fails: nothing is known, and the status says so.
    stand_in_journalctl(
        stand_in.path(),
        "",
        Some("No journal files were opened due to insufficient permissions."),
    );
    let run = verify_journal(&bus, stand_in.path(), false);
    assert_eq!(run.code, 7, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("cannot read the journal")
            && run.stderr.contains("insufficient permissions"),
        "{}",
        run.stderr
    );
}

/// The checkpoints a daemon without a journal logged: (seq, hash, reason), in order.
fn logged_checkpoints(log: &str) -> Vec<(u64, String, String)> {
    let after = |line: &str, key: &str| -> Option<String> {
        let rest = &line[line.find(key)? + key.len()..];
        Some(
            rest.trim_start_matches('"')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect(),
        )
    };
    log.lines()
        .filter(|line| line.contains("audit checkpoint:"))
        .map(|line| {
            (
                after(line, "LC_AUDIT_SEQ=").unwrap().parse().unwrap(),
                after(line, "LC_AUDIT_HASH=").unwrap(),
                after(line, "LC_AUDIT_REASON=").unwrap(),
            )
        })
        .collect()
}

#[test]
fn without_a_journal_the_daemon_says_so_once_and_logs_checkpoints_that_verify() {
    if !require_root("without_a_journal_the_daemon_says_so_once_and_logs_checkpoints_that_verify") {
        return;
    }
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    // Never the journal, whatever the test runner was started by.
    let mut daemon = DaemonProcess::start_with(
        &bus,
        &static_config("AIRGAP", "[audit]\ncheckpoint_every_records = 3\n"),
        root.path(),
        &[],
        &["env", "-u", "JOURNAL_STREAM"],
    );
    let owner = users().owner;
    for domain in ["one", "two", "three"] {
        ok(
            contractctl(
                &bus,
                owner,
                &[
                    "new",
                    "episodic",
                    "--domain",
                    domain,
                    "--context",
                    "*",
                    "--retention",
                    "permanent",
                ],
            ),
            "new",
        );
    }
    let log = daemon.log();
    assert_eq!(
        log.matches("no journal: audit checkpoints go to this log output only")
            .count(),
        1,
        "{log}"
    );
    let logged = logged_checkpoints(&log);
    assert!(
        logged.iter().any(|(_, _, reason)| reason == "records"),
        "{log}"
    );
    // What the daemon logged is what the store holds.
    let stand_in = tempfile::tempdir().unwrap();
    let entries: String = logged
        .iter()
        .map(|(seq, hash, _)| entry(*seq, hash))
        .collect();
    stand_in_journalctl(stand_in.path(), &entries, None);
    let run = verify_journal(&bus, stand_in.path(), false);
    assert_eq!(run.code, 0, "{}{}\n{log}", run.stdout, run.stderr);
    // A clean stop writes the head it ends with.
    let records = json(
        contractctl(&bus, 0, &["--json", "audit", "show", "--limit", "1000"]),
        "audit show",
    );
    let head = records.as_array().unwrap().last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    let before = logged_checkpoints(&daemon.log());
    assert!(daemon.stop().success());
    let log = daemon.log();
    let after = logged_checkpoints(&log);
    if before.last().is_some_and(|(seq, _, _)| *seq == head) {
        // The head was checkpointed already: the stop adds nothing.
        assert_eq!(after, before, "{log}");
    } else {
        let last = after.last().unwrap();
        assert_eq!((last.0, last.2.as_str()), (head, "stop"), "{log}");
    }
}
