//! Logging: to the journal when started by systemd (JOURNAL_STREAM set), to stderr otherwise.
//! Lifecycle and lockdown events carry stable MESSAGE_IDs (`app::journal`) so admins can find
//! them with `journalctl MESSAGE_ID=…`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

pub use crate::app::journal::{
    MESSAGE_CONTRACT_CHANGED, MESSAGE_LOCKDOWN, MESSAGE_MODE_CHANGED, MESSAGE_RELOAD,
    MESSAGE_STARTED, MESSAGE_STORE_RECOVERED,
};

/// Whether log entries go to the journal (set once by [`init`]).
static TO_JOURNAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`init`] sent logging to the journal; when not, the audit checkpoints are kept
/// nowhere outside the store but the log output.
pub fn to_journal() -> bool {
    TO_JOURNAL.load(std::sync::atomic::Ordering::Relaxed)
}

/// Sets up logging at `default_level` (overridden by RUST_LOG).
pub fn init(default_level: &str) {
    // Crates that log through `log` reach tracing through one bridge. The netlink crates warn
    // about every attribute a newer kernel sends that they do not know yet, on every re-read:
    // nothing an admin can act on, so the bridge leaves them out.
    let _ = tracing_log::LogTracer::builder()
        .ignore_crate("netlink_packet_route")
        .ignore_crate("netlink_packet_core")
        .ignore_crate("netlink_proto")
        .init();
    // The audit checkpoints are let through whatever the level: they are not chatter but the
    // journal's copy of the audit chain's head.
    let always = format!("{}=info", crate::app::checkpoint::CHECKPOINT_TARGET);
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let filter = match always.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        let installed = tracing::subscriber::set_global_default(
            // No field prefix: MESSAGE_ID must be the journal's own field for
            // `journalctl MESSAGE_ID=…` to find it (the layer's default would write F_MESSAGE_ID).
            registry.with(
                journald
                    .with_syslog_identifier("learning-contractsd".into())
                    .with_field_prefix(None),
            ),
        );
        TO_JOURNAL.store(installed.is_ok(), std::sync::atomic::Ordering::Relaxed);
        installed
    } else {
        tracing::subscriber::set_global_default(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_ansi(use_colour()),
            ),
        )
    };
    if let Err(err) = installed {
        eprintln!("learning-contractsd: logging could not be set up: {err}");
    }
}

/// Colours only on a terminal, and never with NO_COLOR set.
fn use_colour() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
