//! The binaries under test, staged where the Makefile and cargo-deb look for release builds
//! (`CARGO_TARGET_DIR/release/`), so packaging is tested on this run's own binaries without a
//! nested cargo build (which would wait on the target directory's lock).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory the tests were built in.
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_learning-contractsd"))
        .parent()
        .and_then(Path::parent)
        .expect("the daemon binary lives in TARGET/PROFILE/")
        .to_path_buf()
}

/// Copies both binaries into `stage/release/`; `stage` then serves as CARGO_TARGET_DIR.
pub fn stage_binaries(stage: &Path) {
    let release = stage.join("release");
    std::fs::create_dir_all(&release).unwrap();
    for binary in [
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_learning-contractsd")),
        crate::common::contractctl_bin(),
    ] {
        let name = binary.file_name().unwrap();
        std::fs::copy(&binary, release.join(name)).unwrap();
    }
}

/// Runs `make -C REPO ARGS… CARGO_TARGET_DIR=stage`, panicking with its output on failure.
pub fn make(stage: &Path, args: &[&str]) {
    let output = Command::new("make")
        .arg("-C")
        .arg(repo())
        .arg("--no-print-directory")
        .args(args)
        .arg(format!("CARGO_TARGET_DIR={}", stage.display()))
        .output()
        .expect("make must be installed");
    assert!(
        output.status.success(),
        "make {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
