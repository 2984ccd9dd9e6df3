//! learning-contractsd: the daemon that makes learning contracts real on a host.
//!
//! - [`core`]: the rules as pure logic, with the clock passed in: the `learning-contracts-rules`
//!   crate (crates/rules), re-exported here under its old name.
//! - [`store`]: the durable SQLite store and its hash-chained audit log.
//! - [`ledger`]: the one writer that plans, commits, then applies every change.

pub mod app;
pub mod bus;
pub mod config;
pub use learning_contracts_rules as core;
pub mod ledger;
pub mod service;
pub mod source;
pub mod store;
