//! The system test crate: boundary detection in network and mount namespaces, loop devices, the
//! systemd units, fail-closed modes, supervision, the stress and load suites and `make install`.
//! Needs root (under CI=true a test that cannot run fails). `cargo test --test system MODULE::`
//! runs one file.

#[path = "../common/mod.rs"]
mod common;

mod adversarial_load;
mod detect_coldroom;
mod detect_mounts;
mod detect_network;
mod fail_closed_mode;
mod lockdown_units;
mod make_install;
mod service_supervision;
mod stress_crash;
mod stress_disk_full;
mod stress_load;
mod unit_files;
