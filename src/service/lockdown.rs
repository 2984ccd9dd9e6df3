//! LOCKDOWN on the host: the configured agent units are frozen through systemd's D-Bus API
//! while LOCKDOWN holds and thawed when it ends; an admin lockdown can also be pushed to the
//! Boundary Daemon.

use std::time::Duration;
use tokio::sync::watch;

/// How long one call to systemd may take before the reconciler tries again.
const UNIT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the reconciler waits before retrying units that could not be changed, at first
/// and at most.
const UNIT_RETRY: Duration = Duration::from_secs(2);
const UNIT_RETRY_MAX: Duration = Duration::from_secs(60);

/// Keeps the configured agent units frozen exactly while LOCKDOWN holds: one task that, after
/// every announced commit (`committed`), brings the units to what `locked` says of the
/// committed mode now, in order, retrying the units systemd did not change, with a growing
/// pause, until it has. Units are taken as thawed when the daemon starts. Calls go over
/// `connection`, a connection other than the one the daemon serves on, each with a timeout.
pub async fn reconcile_units(
    connection: zbus::Connection,
    units: impl Fn() -> Vec<String>,
    locked: impl Fn() -> bool,
    mut committed: watch::Receiver<u64>,
) {
    // Per unit: frozen or thawed as far as known, `None` after a call that failed. Units not
    // in the map were never touched: thawed.
    let mut frozen: std::collections::HashMap<String, Option<bool>> =
        std::collections::HashMap::new();
    let mut retry = UNIT_RETRY;
    loop {
        committed.borrow_and_update();
        let mut pending = false;
        {
            let freeze = locked();
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
                changed = committed.changed() => if changed.is_err() { return },
            }
            continue;
        }
        retry = UNIT_RETRY;
        if committed.changed().await.is_err() {
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
