//! The Python package (`python/`, importable as `learning_contracts`) installed the way its
//! README says, `pip install ./python`, into a venv under the target directory, for the tests
//! that run Python against the daemon (tests/bus/python_client.rs, the Python agent example).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The repository's `python/` folder.
pub fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

fn show(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn python3_has_venv() -> bool {
    Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The venv's python with the package freshly installed from this work tree (once per test
/// binary; a file lock keeps two test runs from installing at once), or None, having said so,
/// when there is no `python3` with `venv` here. Under CI=true that fails the test instead.
pub fn require_python_venv(test: &str) -> Option<PathBuf> {
    if !python3_has_venv() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{test} needs python3 with venv and ensurepip (apt-get install python3-venv), and CI=true"
            );
        }
        eprintln!("skipped {test}: needs python3 with venv (apt-get install python3-venv)");
        return None;
    }
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    Some(VENV.get_or_init(install).clone())
}

fn install() -> PathBuf {
    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(base).unwrap();
    let lock = std::fs::File::create(base.join("python-venv.lock")).unwrap();
    let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, err)| err)
        .expect("lock the venv");
    let venv = base.join("python-venv");
    let python = venv.join("bin/python");
    // A venv whose interpreter is gone (python3 upgraded or removed) is made again.
    let usable = Command::new(&python)
        .args(["-c", "import pip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .output()
            .expect("run python3 -m venv");
        assert!(
            made.status.success(),
            "python3 -m venv failed:\n{}",
            show(&made)
        );
    }
    // Installed anew on every run, so the tests see this work tree's package.
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
        ])
        .arg(package_dir())
        .output()
        .expect("run pip");
    assert!(
        installed.status.success(),
        "pip install ./python failed:\n{}",
        show(&installed)
    );
    python
}
