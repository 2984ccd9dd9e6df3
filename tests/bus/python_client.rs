//! The Python package (`python/`, importable as `learning_contracts`) against the real daemon:
//! installed with `pip install ./python` into a venv under the target directory, its unittest
//! suite (`python/tests/`) runs as root with a private bus's address in the environment and
//! the daemon on that bus (OPEN, unix authorization: root is the admin, the base-passwd user
//! `games` the owner). The suite checks the package's method table against `dbus/*.xml`, and
//! runs the agent scenario with the blocking and the asyncio client.

use crate::common::bus::*;
use crate::common::python::*;
use std::process::Command;

#[test]
fn the_python_package_passes_its_tests_against_the_daemon() {
    let test = "the_python_package_passes_its_tests_against_the_daemon";
    if !require_root(test) {
        return;
    }
    let Some(python) = require_python_venv(test) else {
        return;
    };
    let bus = TestBus::start();
    let daemon = DaemonProcess::start(&bus, &unix_config("OPEN", "", ""));

    // The tests run outside the source tree, so they import the installed package.
    let imported = Command::new(&python)
        .args([
            "-c",
            "import learning_contracts; print(learning_contracts.__file__)",
        ])
        .current_dir(bus.dir.path())
        .output()
        .unwrap();
    let location = String::from_utf8_lossy(&imported.stdout);
    assert!(
        imported.status.success()
            && location.starts_with(python.parent().unwrap().parent().unwrap().to_str().unwrap()),
        "learning_contracts is not imported from the venv: {location}{}",
        String::from_utf8_lossy(&imported.stderr)
    );

    let output = Command::new(&python)
        .args([
            "-m",
            "unittest",
            "discover",
            "--verbose",
            "--start-directory",
        ])
        .arg(package_dir().join("tests"))
        .current_dir(bus.dir.path())
        .env("LEARNING_CONTRACTS_TEST_BUS", &bus.address)
        .env(
            "LEARNING_CONTRACTS_TEST_OWNER_UID",
            users().owner.to_string(),
        )
        .env("LEARNING_CONTRACTS_REPO", env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{shown}");
    assert!(
        output.status.success(),
        "the Python tests failed ({}):\n{shown}\n--- the daemon's log:\n{}",
        output.status,
        daemon.log()
    );
    // unittest prints "Ran N tests" and "OK" (with "skipped=" if any were: none may be).
    assert!(
        shown.contains("\nOK") && !shown.contains("skipped="),
        "the Python suite did not pass whole:\n{shown}"
    );
}
