//! LOCKDOWN on the host: the configured agent units are frozen through systemd's D-Bus API
//! while LOCKDOWN holds and thawed when it ends; an admin lockdown can also be pushed to the
//! Boundary Daemon.

use crate::core::{BoundaryMode, EffectiveMode};

/// Freezes (`freeze`) or thaws the units, one by one; a unit that cannot be changed is logged
/// clearly and the others still are.
pub async fn set_frozen(connection: &zbus::Connection, units: &[String], freeze: bool) {
    let method = if freeze { "FreezeUnit" } else { "ThawUnit" };
    for unit in units {
        let outcome = connection
            .call_method(
                Some("org.freedesktop.systemd1"),
                "/org/freedesktop/systemd1",
                Some("org.freedesktop.systemd1.Manager"),
                method,
                &(unit.as_str(),),
            )
            .await;
        match outcome {
            Ok(_) => tracing::warn!(
                unit = unit.as_str(),
                "{} agent unit {unit} for LOCKDOWN",
                if freeze { "froze" } else { "thawed" }
            ),
            Err(err) => tracing::error!(
                unit = unit.as_str(),
                error = %err,
                "could not {} agent unit {unit}: {err}; LOCKDOWN still denies every check",
                if freeze { "freeze" } else { "thaw" }
            ),
        }
    }
}

/// What a mode change means for the units: Some(true) to freeze, Some(false) to thaw.
pub fn freeze_for(old: EffectiveMode, new: EffectiveMode) -> Option<bool> {
    let lockdown = EffectiveMode::Known(BoundaryMode::Lockdown);
    match (old == lockdown, new == lockdown) {
        (false, true) => Some(true),
        (true, false) => Some(false),
        _ => None,
    }
}
