//! contractctl's parts: the bus client, following the daemon's signals, the audit checkpoints
//! in the journal, the live view, and the rendering of answers for people and scripts.

pub mod archive;
pub mod archive_file;
pub mod client;
pub mod explain;
pub mod follow;
pub mod journal;
pub mod output;
pub mod seal;
pub mod watch;
