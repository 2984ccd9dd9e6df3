//! What the suites that boot Debian share (the end-to-end container,
//! tests/machines/e2e_systemd.rs, and the VM, tests/machines/vm_devices.rs): the tool check, an
//! mmdebstrap rootfs cached under `target/`, and the Debian package built from this test run's
//! own binaries.

#![allow(dead_code)]

use super::stage::{make, stage_binaries};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The Debian release the rootfs holds (the host's own).
pub const SUITE: &str = "bookworm";

/// The host's apt sources, which mmdebstrap reads on stdin.
const SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// Whether every `(tool, where it comes from)` is on PATH. Under CI=true a missing one fails
/// the test; elsewhere the test says in one line what it skipped.
pub fn tools_present(test: &str, tools: &[(&str, &str)]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(tool, _)| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|(_, from)| *from)
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs {missing:?}, and CI=true: tests may not be skipped in CI");
    }
    eprintln!("skipped {test}: needs {missing:?}");
    false
}

/// Runs a command, panicking with its output when it fails; returns its stdout.
pub fn run(what: &str, command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("{what}: {err}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The first 16 hex digits of the SHA-256 of `text`: cache keys.
pub fn short_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text)[..8])
}

/// A minbase rootfs with `packages` under `dir`, built once per package list, apt sources and
/// `extra_key`, and reused afterwards. `finish` runs on the fresh rootfs before it is taken
/// into use (what it does must be named by `extra_key`). Built under a temporary name and
/// renamed, so an interrupted build is never taken for a finished one.
pub fn rootfs(dir: &Path, packages: &str, extra_key: &str, finish: impl FnOnce(&Path)) -> PathBuf {
    let sources = std::fs::read_to_string(SOURCES)
        .unwrap_or_else(|err| panic!("the host's apt sources ({SOURCES}): {err}"));
    let key = short_hash(&format!("{SUITE}\n{packages}\n{sources}{extra_key}"));
    let root = dir.join(format!("rootfs-{key}"));
    if root.join("usr/lib/systemd/systemd").exists() {
        return root;
    }
    let building = dir.join(format!("rootfs-{key}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let started = Instant::now();
    run(
        "mmdebstrap",
        Command::new("mmdebstrap")
            .args(["--quiet", "--variant=minbase"])
            .arg(format!("--include={packages}"))
            .arg(SUITE)
            .arg(&building)
            .arg("-")
            .stdin(std::fs::File::open(SOURCES).unwrap()),
    );
    finish(&building);
    if std::fs::rename(&building, &root).is_err() {
        // Another run finished first; its rootfs is as good.
        let _ = std::fs::remove_dir_all(&building);
    }
    println!(
        "built the rootfs {} in {:.0} s",
        root.display(),
        started.elapsed().as_secs_f64()
    );
    root
}

/// The Debian package, built by the Makefile's `package` target (generated man pages and
/// completions, then `cargo deb --no-build`) from this test run's own binaries, staged under
/// `dir/package`.
pub fn debian_package(dir: &Path) -> PathBuf {
    let stage = dir.join("package");
    stage_binaries(&stage);
    let debian = stage.join("debian");
    let _ = std::fs::remove_dir_all(&debian);
    make(&stage, &["package"]);
    let deb = std::fs::read_dir(&debian)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "deb"))
        .expect("make package made no .deb");
    println!("built {}", deb.display());
    deb
}
