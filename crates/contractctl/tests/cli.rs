//! contractctl on its own, without a daemon: its help, its manual page, and a named error
//! with its exit status when nothing answers. (The tool against a real daemon is tested in
//! the workspace's tests/, which find this binary beside the daemon's.)

use std::process::Command;

fn contractctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_contractctl"))
}

#[test]
fn help_names_every_command() {
    let output = contractctl().arg("--help").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for command in [
        "status", "list", "show", "new", "submit", "activate", "revoke", "check", "mode", "audit",
    ] {
        assert!(
            text.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "--help does not list {command}:\n{text}"
        );
    }
}

#[test]
fn no_daemon_on_the_bus_is_a_named_error_with_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    // A bus address where nothing listens.
    let address = format!("unix:path={}", dir.path().join("no-bus").display());
    let output = contractctl()
        .args(["--bus-address", &address, "mode"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("cannot reach learning-contractsd"), "{said}");
}

#[test]
fn verifying_a_store_without_the_daemon_binary_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("contracts.db");
    std::fs::write(&store, b"").unwrap();
    // A daemon binary that does not exist.
    let output = contractctl()
        .env("LEARNING_CONTRACTSD", dir.path().join("nowhere"))
        .args(["audit", "verify", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("cannot run"), "{said}");
}
