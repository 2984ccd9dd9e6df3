//! The one place readings become the effective mode: the source's reading, then the admin
//! override (which can only lower it), then the lockdown latch, then the settle time (the
//! first reading after startup applies at once). Every change is committed with its
//! suspensions in one transaction and then announced.

use crate::bus::boundary1::Boundary1;
use crate::bus::{Daemon, OBJECT_PATH, SourceStatus};
use crate::core::mode::combine_mode;
use crate::core::{EffectiveMode, ModeSettler, Timestamp};
use crate::source::Reading;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch};

/// Runs until `control` closes. `first` is told once the first reading has been applied.
pub async fn supervise(
    daemon: Arc<Daemon>,
    connection: zbus::Connection,
    source_name: &'static str,
    mut readings: watch::Receiver<Option<Reading>>,
    mut control: mpsc::UnboundedReceiver<()>,
    first: oneshot::Sender<()>,
) {
    let started = Instant::now();
    let monotonic = || Timestamp::from_millis(started.elapsed().as_millis() as i64);
    let mut settler = ModeSettler::new(daemon.config().config.mode.settle_millis());
    let mut first = Some(first);
    let mut source_open = true;
    loop {
        settler.set_settle_millis(daemon.config().config.mode.settle_millis());
        let reading = readings.borrow_and_update().clone();
        publish_source(&daemon, &connection, source_name, reading.as_ref()).await;
        if let Some(judgement) = reading.as_ref().and_then(|r| r.judgement.as_ref()) {
            trip(&daemon, judgement).await;
        }
        let (lowered, latch) = {
            let registry = daemon.registry.read();
            let host = registry.host();
            (host.mode_override.clone(), host.lockdown.clone())
        };
        let read = reading.as_ref().map_or(EffectiveMode::Unknown, |r| r.mode);
        let candidate = combine_mode(read, lowered.as_ref().map(|o| o.mode), latch.is_some());
        let applied = if first.is_some() && reading.is_some() {
            settler.force(candidate)
        } else {
            settler.observe(candidate, monotonic())
        };
        if let Some(new) = applied {
            let reason = match (&latch, &lowered) {
                (Some(latch), _) => format!("lockdown latched: {}", latch.reason),
                (None, Some(o)) if candidate == EffectiveMode::Known(o.mode) => {
                    format!("admin override to {}: {}", o.mode, o.reason)
                }
                _ => reading.as_ref().map_or_else(
                    || "no reading from the source".to_string(),
                    |r| r.explanation.clone(),
                ),
            };
            // The first reading makes the daemon ready as soon as it is committed and applied:
            // checks answer from then on. Its signals (on a large store, every contract resumed
            // at once) go out right after, without holding READY back.
            let ready = if reading.is_some() {
                first.take()
            } else {
                None
            };
            let outcome = daemon
                .writer
                .mutate(move |ledger| {
                    let change = ledger
                        .registry()
                        .plan_mode_change(new, &reason, Timestamp::now());
                    let committed = match change {
                        Some(change) => ledger
                            .commit(change)
                            .map(|events| ((), events))
                            .map_err(Into::into),
                        None => Ok(((), Vec::new())),
                    };
                    if committed.is_ok()
                        && let Some(ready) = ready
                    {
                        let _ = ready.send(());
                    }
                    committed
                })
                .await;
            if let Err(err) = outcome {
                // The registry keeps the old mode; make the settler try again on the next wake.
                tracing::error!(error = %err, mode = new.name(), "the mode change could not be committed; checks fail closed");
                settler = ModeSettler::new(daemon.config().config.mode.settle_millis());
                settler.force(daemon.registry.read().mode());
            }
        }
        if reading.is_some()
            && let Some(first) = first.take()
        {
            let _ = first.send(());
        }
        let deadline = settler.deadline().map(|at| {
            let wait = (at.as_millis() - monotonic().as_millis()).max(0) as u64;
            tokio::time::Instant::now() + std::time::Duration::from_millis(wait)
        });
        tokio::select! {
            changed = readings.changed(), if source_open => {
                if changed.is_err() {
                    tracing::error!("the mode source stopped; the mode is UNKNOWN");
                    source_open = false;
                }
            }
            message = control.recv() => {
                if message.is_none() {
                    return;
                }
            }
            _ = sleep_until(deadline) => {}
        }
        if !source_open {
            readings = watch::channel(None).1;
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Updates the source properties and announces the ones that changed.
async fn publish_source(
    daemon: &Daemon,
    connection: &zbus::Connection,
    name: &'static str,
    reading: Option<&Reading>,
) {
    let status = match reading {
        Some(r) => SourceStatus {
            source: name,
            healthy: r.healthy,
            facts: r.facts.clone(),
            explanation: r.explanation.clone(),
            route_out_is_vpn: r.route_out_is_vpn,
        },
        None => SourceStatus {
            source: name,
            ..SourceStatus::default()
        },
    };
    let previous = std::mem::replace(&mut *daemon.source.write(), status.clone());
    if previous == status {
        return;
    }
    let Ok(iface) = connection
        .object_server()
        .interface::<_, Boundary1>(OBJECT_PATH)
        .await
    else {
        return;
    };
    let emitter = iface.signal_emitter();
    let guard = iface.get().await;
    let mut result = Ok(());
    if previous.healthy != status.healthy {
        result = result.and(guard.source_healthy_changed(emitter).await);
    }
    if previous.source != status.source {
        result = result.and(guard.source_changed(emitter).await);
    }
    if previous.facts != status.facts {
        result = result.and(guard.facts_changed(emitter).await);
    }
    if let Err(err) = result {
        tracing::warn!(error = %err, "source properties could not be announced, ignoring");
    }
    super::update_status(daemon);
}

/// Latches LOCKDOWN when an armed tripwire sees what it watches for in the mode in force
/// before this reading (a link coming up in AIRGAP, removable media in COLDROOM).
async fn trip(daemon: &Daemon, judgement: &crate::source::detect::rules::Judgement) {
    let armed = daemon.config().config.mode.detect.tripwires.clone();
    let (current, latched) = {
        let registry = daemon.registry.read();
        (registry.mode(), registry.host().lockdown.is_some())
    };
    if latched {
        return;
    }
    let Some(reason) = crate::source::detect::rules::tripwire(current, judgement, &armed) else {
        return;
    };
    let why = reason.clone();
    let outcome = daemon
        .writer
        .run(move |registry| {
            registry.plan_enter_lockdown(&crate::core::Actor::daemon(), &why, Timestamp::now())
        })
        .await;
    match outcome {
        Ok(()) => tracing::error!(
            MESSAGE_ID = crate::service::logging::MESSAGE_LOCKDOWN,
            reason = reason.as_str(),
            "LOCKDOWN latched by a {reason}; only an admin can release it"
        ),
        Err(err) => {
            tracing::error!(error = %err, reason = reason.as_str(), "a tripwire fired but the lockdown could not be committed; checks fail closed")
        }
    }
}
