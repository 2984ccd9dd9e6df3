pub mod adversary;
pub mod bus;
pub mod cli;
pub mod core_fixtures;
pub mod debian;
pub mod fake_boundary_daemon;
pub mod in_process;
pub mod load;
pub mod mount_fixtures;
pub mod netns;
pub mod python;
pub mod raw;
pub mod stage;
pub mod stored;

/// contractctl's binary. It is its own package (crates/contractctl), so cargo names only the
/// daemon's binary to these tests; the tool is built beside it by `cargo test --workspace`
/// (its own integration tests need it). A missing binary fails the test with how to build it.
#[allow(dead_code)]
pub fn contractctl_bin() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_BIN_EXE_learning-contractsd"))
        .with_file_name("contractctl");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p contractctl` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// Proptest's settings for every property test here: `cases` cases, and failures kept beside
/// the test's file (`tests/GROUP/FILE.proptest-regressions`, committed). Proptest's default
/// would put them under `tests/proptest-regressions/` now that each group has a `main.rs`,
/// and would not find the seeds committed beside the tests.
#[allow(dead_code)]
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..proptest::test_runner::Config::default()
    }
}
