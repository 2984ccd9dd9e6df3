//! contractctl's parts: the bus client, following the daemon's signals, the live view, and the
//! rendering of answers for people and scripts.

pub mod client;
pub mod follow;
pub mod output;
pub mod seal;
pub mod watch;
