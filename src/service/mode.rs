//! The one place readings become the effective mode. Every reading is enforced by checks at
//! once in the restrictive direction (the registry judges checks in the committed mode and the
//! newest reading's); tripwires judge it against the last operating mode committed; the
//! settle time delays only changes toward more permissive learning (the first reading after
//! startup applies at once). The mode to commit is combined with the override and the latch
//! inside the writer's job, against the committed state, so a plan from an older snapshot can
//! never undo a lockdown. A change that cannot be committed is tried again, with a short
//! backoff and whenever the store recovers, until it commits.

use crate::app::mode::{ModeKeeper, commit_mode, take_reading};
use crate::bus::boundary1::Boundary1;
use crate::bus::{Daemon, OBJECT_PATH, SourceStatus};
use crate::core::{EffectiveMode, Timestamp};
use crate::source::Reading;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// The first and the longest pause before a change that failed to commit is tried again.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Runs until `control` closes. `first` is told once the first reading has been judged.
/// `control` wakes it to look again: the latch or the override changed, the config was
/// reloaded, or the store can be written again.
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
    let mut keeper = ModeKeeper::new(daemon.config().config.mode.settle_millis());
    let mut first = Some(first);
    let mut source_open = true;
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut backoff = RETRY_FIRST;
    loop {
        let config = daemon.config();
        keeper.set_settle_millis(config.config.mode.settle_millis());
        let reading = readings.borrow_and_update().clone();
        publish_source(&daemon, &connection, source_name, reading.as_ref()).await;
        // Before the source's first reading there is nothing to note: the mode is UNKNOWN.
        if reading.is_some() || !source_open {
            take_reading(
                &mut daemon.registry.write(),
                reading.as_ref().map_or(EffectiveMode::Unknown, |r| r.mode),
                reading.as_ref().and_then(|r| r.judgement.as_ref()),
                &config.config.mode.detect.tripwires,
            );
        }
        let settled = keeper.decide(&daemon.registry.read(), monotonic());
        let pending_latch = daemon.registry.read().pending_latch().is_some();
        let mut failed = false;
        let mut committed_now = false;
        if settled.is_some() || pending_latch {
            let explanation = reading.as_ref().map_or_else(
                || "no reading from the source".to_string(),
                |r| r.explanation.clone(),
            );
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
                    let committed = commit_mode(ledger, settled, &explanation, Timestamp::now());
                    if committed.is_ok()
                        && let Some(ready) = ready
                    {
                        let _ = ready.send(());
                    }
                    committed.map(|events| ((), events))
                })
                .await;
            committed_now = outcome.is_ok();
            if let Err(err) = outcome {
                failed = true;
                // Logged once per failing streak: the retries would flood the journal.
                if retry_at.is_none() {
                    tracing::error!(error = %err, "the mode change could not be committed; checks are judged in the newest reading too, and it is tried again until it commits");
                }
            }
        }
        if reading.is_some()
            && let Some(first) = first.take()
        {
            let _ = first.send(());
        }
        if failed {
            retry_at = Some(tokio::time::Instant::now() + backoff);
            backoff = (backoff * 2).min(RETRY_MAX);
        } else {
            if retry_at.is_some() && committed_now {
                tracing::warn!(
                    mode = daemon.registry.read().mode().name(),
                    "the pending mode change is committed"
                );
            }
            // Nothing left to retry: the change committed, or the newest reading no longer
            // asks for one.
            retry_at = None;
            backoff = RETRY_FIRST;
        }
        // A reading, a tripwire, a failed commit or a reload may have moved the generation.
        if let Err(err) = daemon.announce_generation(&connection).await {
            tracing::warn!(error = %err, "the generation could not be announced, ignoring");
        }
        let settle_at = keeper.deadline().map(|at| {
            let wait = (at.as_millis() - monotonic().as_millis()).max(0) as u64;
            tokio::time::Instant::now() + Duration::from_millis(wait)
        });
        let deadline = match (settle_at, retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
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
    // The tool gate reads it; the supervisor announces the generation after this.
    if previous.route_out_is_vpn != status.route_out_is_vpn {
        daemon.registry.write().advance_generation();
    }
    let Ok(iface) = connection
        .object_server()
        .interface::<_, crate::bus::fair::Fair<Boundary1>>(OBJECT_PATH)
        .await
    else {
        return;
    };
    let emitter = iface.signal_emitter();
    let guard = iface.get().await;
    let guard = guard.inner();
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
