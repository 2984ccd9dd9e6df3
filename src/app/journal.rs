//! The journal entries that committed changes are announced with, and their stable
//! MESSAGE_IDs, so admins find them with `journalctl MESSAGE_ID=…`.

use crate::core::{BoundaryMode, EffectiveMode, Event};

/// The daemon started and is ready.
pub const MESSAGE_STARTED: &str = "6f3c1a0e2b7d4f55a1c9e8d7b6a50001";
/// The effective boundary mode changed.
pub const MESSAGE_MODE_CHANGED: &str = "6f3c1a0e2b7d4f55a1c9e8d7b6a50002";
/// A contract changed lifecycle state.
pub const MESSAGE_CONTRACT_CHANGED: &str = "6f3c1a0e2b7d4f55a1c9e8d7b6a50003";
/// A lockdown was entered or released.
pub const MESSAGE_LOCKDOWN: &str = "6f3c1a0e2b7d4f55a1c9e8d7b6a50004";
/// The configuration was reloaded, or a reload was refused.
pub const MESSAGE_RELOAD: &str = "6f3c1a0e2b7d4f55a1c9e8d7b6a50005";
/// The store could be written again after a failure (a full disk that got room again).
pub const MESSAGE_STORE_RECOVERED: &str = "6f3c1a0e2b7d4f55a1c9e8d7b6a50006";

/// Writes the high-priority journal entry for LOCKDOWN (SEMANTICS.md section 11), whatever its
/// source: an admin or a tripwire latching it, the Boundary Daemon's mode or latch, or the
/// static configuration, and a notice when a latch is released. `mode_now` is the effective
/// mode after the change was applied.
pub fn lockdown(events: &[Event], mode_now: EffectiveMode) {
    let lockdown = EffectiveMode::Known(BoundaryMode::Lockdown);
    let latched = events.iter().find_map(|e| match e {
        Event::LockdownLatched { reason, by } => Some((reason, *by)),
        _ => None,
    });
    if let Some((reason, by)) = latched {
        let by = by.map_or_else(|| "the detector".to_string(), |uid| format!("uid {uid}"));
        tracing::error!(
            MESSAGE_ID = MESSAGE_LOCKDOWN,
            reason = reason.as_str(),
            "LOCKDOWN entered and latched: {reason} (by {by}); every check is denied until an admin releases it"
        );
        return;
    }
    for event in events {
        match event {
            Event::ModeChanged { new, reason, .. } if *new == lockdown => tracing::error!(
                MESSAGE_ID = MESSAGE_LOCKDOWN,
                reason = reason.as_str(),
                "LOCKDOWN entered: {reason}; every check is denied while it holds"
            ),
            Event::LockdownReleased { reason } if mode_now == lockdown => tracing::warn!(
                MESSAGE_ID = MESSAGE_LOCKDOWN,
                reason = reason.as_str(),
                "lockdown released: {reason}; the mode stays LOCKDOWN because the source still reads lockdown"
            ),
            Event::LockdownReleased { reason } => tracing::warn!(
                MESSAGE_ID = MESSAGE_LOCKDOWN,
                reason = reason.as_str(),
                "lockdown released: {reason}; the mode is now {mode_now}"
            ),
            _ => {}
        }
    }
}
