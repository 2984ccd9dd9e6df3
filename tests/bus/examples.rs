//! The agent examples of README.md (`examples/agent.rs` with zbus, `examples/agent.py` with
//! the `learning_contracts` package, installed from `python/` into a venv) run as an owner against the real daemon on a private bus: a memory in a domain
//! the owner's contract covers is kept, one outside it is refused with the daemon's code.

use crate::common::bus::*;
use crate::common::python::require_python_venv;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Rust example, built by `cargo test` next to the binaries (TARGET/PROFILE/examples/).
fn rust_agent() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_learning-contractsd"))
        .parent()
        .unwrap()
        .join("examples/agent")
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `agent ARGS…` as `uid` against `bus`, the way an agent finds the system bus.
fn run_as(bus: &TestBus, uid: u32, agent: &[&str], args: &[&str]) -> Outcome {
    let output = Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg("--clear-groups")
        .args(agent)
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A daemon in OPEN with one active episodic contract of the owner's over "coding".
async fn daemon_with_a_contract() -> (TestBus, DaemonProcess, String) {
    let bus = TestBus::start();
    let daemon = DaemonProcess::start(&bus, &unix_config("OPEN", "", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let id = activate_new(&contracts, "episodic", episodic_spec(&["coding"])).await;
    (bus, daemon, id)
}

/// Both examples behave the same: kept inside the contract, refused outside it.
async fn assert_agent_obeys(agent: &[&str]) {
    let (bus, _daemon, contract) = daemon_with_a_contract().await;
    let owner = users().owner;

    let kept = run_as(
        &bus,
        owner,
        agent,
        &["coding", "project-x", "prefers small commits"],
    );
    assert_eq!(kept.code, 0, "{}{}", kept.stdout, kept.stderr);
    assert!(
        kept.stdout.starts_with("kept memory ")
            && kept.stdout.contains(&format!("under contract {contract}")),
        "{}",
        kept.stdout
    );
    // The memory is really in the store, under the owner's contract.
    let memory_id = kept.stdout.split_whitespace().nth(2).unwrap().to_string();
    let connection = connect_as(&bus, owner, &[]).await;
    let memories = Memories1Proxy::new(&connection).await.unwrap();
    let memory = memories.get(&memory_id).await.unwrap();
    assert_eq!(field::<String>(&memory, "contract_id"), contract);

    let refused = run_as(&bus, owner, agent, &["cooking", "home", "a recipe"]);
    assert_eq!(refused.code, 10, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stdout.starts_with("not kept (no_contract): "),
        "{}",
        refused.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_agent_example_keeps_only_what_a_contract_allows() {
    if !require_root("the_rust_agent_example_keeps_only_what_a_contract_allows") {
        return;
    }
    let agent = rust_agent();
    assert!(
        agent.exists(),
        "{} is missing: cargo test builds the examples",
        agent.display()
    );
    assert_agent_obeys(&[agent.to_str().unwrap()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_agent_example_keeps_only_what_a_contract_allows() {
    let test = "the_python_agent_example_keeps_only_what_a_contract_allows";
    if !require_root(test) {
        return;
    }
    let Some(python) = require_python_venv(test) else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/agent.py");
    assert_agent_obeys(&[python.to_str().unwrap(), script.to_str().unwrap()]).await;
}
