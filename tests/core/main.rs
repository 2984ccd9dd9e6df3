//! The core test crate: the rules, the registry, the store on real SQLite, the configuration
//! and the module layers, in process, with no bus and no root. One crate (one link of the
//! daemon library) for all of them; `cargo test --test core MODULE::` runs one file.

#[path = "../common/mod.rs"]
mod common;

mod app_mode_machine;
mod audit_checkpoints;
mod boundary_daemon;
mod config;
mod core_access;
mod core_batch;
mod core_checks;
mod core_forgetting;
mod core_lifecycle;
mod core_limits;
mod core_mode_races;
mod core_modes;
mod core_plain;
mod core_properties;
mod core_sessions;
mod interface;
mod module_layers;
mod store;
mod store_load;
