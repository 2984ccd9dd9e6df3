//! The bus test crate: the daemon's binary on a private dbus-daemon (tests/common/bus.rs), its
//! interfaces, policy, credentials, sd_notify, the audit log through the bus, contractctl and
//! the examples. Runs as root, to connect clients as several users (under CI=true a test that
//! cannot run fails). `cargo test --test bus MODULE::` runs one file.

#[path = "../common/mod.rs"]
mod common;

mod audit_sealing;
mod bus_authorization;
mod bus_basics;
mod bus_batch;
mod bus_clocks;
mod bus_fair_dispatch;
mod bus_forgetting;
mod bus_hostile;
mod bus_input;
mod bus_introspection;
mod bus_limits;
mod bus_methods;
mod bus_plain;
mod bus_polkit;
mod bus_privacy;
mod bus_property_signals;
mod bus_sessions;
mod bus_slow_calls;
mod client;
mod contractctl;
mod contractctl_journal;
mod contractctl_plain;
mod daemon_boundary_daemon;
mod daemon_notify;
mod examples;
mod python_client;
