//! Names the daemon and its tools share on an installed host.

/// The file the store lives in, inside the daemon's state directory
/// (`/var/lib/learning-contracts` for the system daemon, `$XDG_STATE_HOME/learning-contracts`
/// for a user-mode daemon).
pub const STORE_FILE: &str = "contracts.db";

/// The systemd credential a sealing key may come in (`LoadCredentialEncrypted=`).
pub const SEALING_CREDENTIAL: &str = "audit-sealing-key";
