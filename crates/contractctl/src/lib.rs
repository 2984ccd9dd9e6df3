//! contractctl's parts: the bus client, following the daemon's signals, the audit checkpoints
//! in the journal, the live view, and the rendering of answers for people and scripts.
//!
//! Built on `learning-contracts-client` and `learning-contracts-rules` only: no database or
//! netlink in this tool's build.

pub mod archive;
pub mod archive_file;
pub mod client;
pub mod explain;
pub mod follow;
pub mod journal;
pub mod output;
pub mod seal;
pub mod watch;

use std::path::PathBuf;

/// Where an installed daemon binary is looked for, after beside this tool's own binary.
pub const DAEMON_PLACES: [&str; 3] = [
    "/usr/sbin/learning-contractsd",
    "/usr/local/sbin/learning-contractsd",
    "/usr/libexec/learning-contractsd",
];

/// The daemon's binary, for what only it can do (read a store file): `$LEARNING_CONTRACTSD`
/// if set, else the one beside this tool (a build tree, or a prefix installed together),
/// else an installed one.
pub fn daemon_binary() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("LEARNING_CONTRACTSD").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(given));
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("learning-contractsd")));
    beside
        .into_iter()
        .chain(DAEMON_PLACES.iter().map(PathBuf::from))
        .find(|path| path.is_file())
}
