//! LOCKDOWN on the host: the configured agent units are frozen through systemd's D-Bus API
//! while LOCKDOWN holds and thawed when it ends; an admin lockdown can also be pushed to the
//! Boundary Daemon.

use crate::core::{BoundaryMode, EffectiveMode, Event};
use std::time::Duration;
use tokio::sync::watch;

/// How long one call to systemd may take before the reconciler tries again.
const UNIT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the reconciler waits before retrying units that could not be changed, at first
/// and at most.
const UNIT_RETRY: Duration = Duration::from_secs(2);
const UNIT_RETRY_MAX: Duration = Duration::from_secs(60);

/// Writes the high-priority journal entry for LOCKDOWN (SEMANTICS.md section 11), whatever its
/// source: an admin or a tripwire latching it, the Boundary Daemon's mode or latch, or the
/// static configuration, and a notice when a latch is released. `mode_now` is the effective
/// mode after the change was applied.
pub fn journal(events: &[Event], mode_now: EffectiveMode) {
    let lockdown = EffectiveMode::Known(BoundaryMode::Lockdown);
    let latched = events.iter().find_map(|e| match e {
        Event::LockdownLatched { reason, by } => Some((reason, *by)),
        _ => None,
    });
    if let Some((reason, by)) = latched {
        let by = by.map_or_else(|| "the detector".to_string(), |uid| format!("uid {uid}"));
        tracing::error!(
            MESSAGE_ID = super::logging::MESSAGE_LOCKDOWN,
            reason = reason.as_str(),
            "LOCKDOWN entered and latched: {reason} (by {by}); every check is denied until an admin releases it"
        );
        return;
    }
    for event in events {
        match event {
            Event::ModeChanged { new, reason, .. } if *new == lockdown => tracing::error!(
                MESSAGE_ID = super::logging::MESSAGE_LOCKDOWN,
                reason = reason.as_str(),
                "LOCKDOWN entered: {reason}; every check is denied while it holds"
            ),
            Event::LockdownReleased { reason } if mode_now == lockdown => tracing::warn!(
                MESSAGE_ID = super::logging::MESSAGE_LOCKDOWN,
                reason = reason.as_str(),
                "lockdown released: {reason}; the mode stays LOCKDOWN because the source still reads lockdown"
            ),
            Event::LockdownReleased { reason } => tracing::warn!(
                MESSAGE_ID = super::logging::MESSAGE_LOCKDOWN,
                reason = reason.as_str(),
                "lockdown released: {reason}; the mode is now {mode_now}"
            ),
            _ => {}
        }
    }
}

/// Keeps the configured agent units frozen exactly while LOCKDOWN holds: one task, acting in
/// order on the newest wish (`Some(true)` frozen, `Some(false)` thawed, `None` before the first
/// committed mode), retrying the units systemd did not change, with a growing pause, until it
/// has. Units are taken as thawed when the daemon starts. Calls go over `connection`, a
/// connection other than the one the daemon serves on, each with a timeout.
pub async fn reconcile_units(
    connection: zbus::Connection,
    units: impl Fn() -> Vec<String>,
    mut wish: watch::Receiver<Option<bool>>,
) {
    // Per unit: frozen or thawed as far as known, `None` after a call that failed. Units not
    // in the map were never touched: thawed.
    let mut frozen: std::collections::HashMap<String, Option<bool>> =
        std::collections::HashMap::new();
    let mut retry = UNIT_RETRY;
    loop {
        let wanted = *wish.borrow_and_update();
        let mut pending = false;
        if let Some(freeze) = wanted {
            let behind: Vec<String> = units()
                .into_iter()
                .filter(|unit| frozen.get(unit).copied().unwrap_or(Some(false)) != Some(freeze))
                .collect();
            for (unit, changed) in set_frozen(&connection, &behind, freeze).await {
                // A unit whose call failed is tried again, whatever is wished next.
                frozen.insert(unit, changed.then_some(freeze));
                pending |= !changed;
            }
        }
        if pending {
            tokio::select! {
                _ = tokio::time::sleep(retry) => retry = (retry * 2).min(UNIT_RETRY_MAX),
                changed = wish.changed() => if changed.is_err() { return },
            }
            continue;
        }
        retry = UNIT_RETRY;
        if wish.changed().await.is_err() {
            return;
        }
    }
}

/// Freezes (`freeze`) or thaws the units, one by one; a unit that cannot be changed is logged
/// clearly and the others still are. Returns each unit with whether it was changed.
pub async fn set_frozen(
    connection: &zbus::Connection,
    units: &[String],
    freeze: bool,
) -> Vec<(String, bool)> {
    let method = if freeze { "FreezeUnit" } else { "ThawUnit" };
    let mut results = Vec::with_capacity(units.len());
    for unit in units {
        let body = (unit.as_str(),);
        let call = connection.call_method(
            Some("org.freedesktop.systemd1"),
            "/org/freedesktop/systemd1",
            Some("org.freedesktop.systemd1.Manager"),
            method,
            &body,
        );
        let outcome = match tokio::time::timeout(UNIT_CALL_TIMEOUT, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(zbus::Error::Failure(format!(
                "systemd did not answer within {} s",
                UNIT_CALL_TIMEOUT.as_secs()
            ))),
        };
        results.push((unit.clone(), outcome.is_ok()));
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
    results
}
