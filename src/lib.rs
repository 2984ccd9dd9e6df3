//! learning-contractsd: the daemon that makes learning contracts real on a host.
//!
//! - [`core`]: the rules of SEMANTICS.md as pure logic, with the clock passed in.
//! - [`store`]: the durable SQLite store and its hash-chained audit log.
//! - [`ledger`]: the one writer that plans, commits, then applies every change.

pub mod app;
pub mod bus;
pub mod cli;
pub mod config;
pub mod core;
pub mod ledger;
pub mod service;
pub mod source;
pub mod store;
