//! Running the real `contractctl` binary as any user against a test bus.

#![allow(dead_code)]

use super::bus::TestBus;
use std::process::Command;

/// What a run of contractctl printed, and its exit status.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the real contractctl as `uid` against the test bus, without colours.
pub fn contractctl(bus: &TestBus, uid: u32, args: &[&str]) -> Run {
    let mut command = Command::new("setpriv");
    command
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .arg(crate::common::contractctl_bin())
        .arg("--bus-address")
        .arg(&bus.address)
        .args(args)
        .env("NO_COLOR", "1");
    let output = command.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The output of a run that must succeed.
#[track_caller]
pub fn ok(run: Run, what: &str) -> String {
    assert_eq!(run.code, 0, "{what} failed: {}{}", run.stdout, run.stderr);
    run.stdout
}

/// The JSON a run that must succeed printed.
#[track_caller]
pub fn json(run: Run, what: &str) -> serde_json::Value {
    let out = ok(run, what);
    serde_json::from_str(&out).unwrap_or_else(|err| panic!("{what} printed no JSON ({err}): {out}"))
}
