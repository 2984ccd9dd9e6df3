//! `org.learningcontracts.Boundary1`: the boundary mode, lockdown, the override and pauses.

use super::Daemon;
use super::args;
use super::authorize::Action;
use super::contracts1::bounded;
use super::error::BusError;
use crate::core::{Actor, PauseScope, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use zbus::OwnedVariant;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

/// The host's boundary.
#[derive(Debug, Clone)]
pub struct Boundary1 {
    pub(crate) daemon: Arc<Daemon>,
}

/// A JSON value as a D-Bus variant: objects become a{sv}, arrays av, numbers x or d.
pub fn json_variant(value: &serde_json::Value) -> OwnedVariant {
    use serde_json::Value;
    let variant: zbus::Variant<'static> = match value {
        Value::Null => "".into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        Value::String(s) => s.clone().into(),
        Value::Array(items) => items.iter().map(json_variant).collect::<Vec<_>>().into(),
        Value::Object(map) => json_dict(map).into(),
    };
    OwnedVariant::try_from(variant).unwrap_or_else(|_| OwnedVariant::from(false))
}

fn json_dict(map: &serde_json::Map<String, serde_json::Value>) -> HashMap<String, OwnedVariant> {
    map.iter()
        .map(|(k, v)| (k.clone(), json_variant(v)))
        .collect()
}

impl Boundary1 {
    async fn pause(
        &self,
        scope_all: bool,
        reason: Option<String>,
        header: &Header<'_>,
        connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let who = self.daemon.identify(connection, header).await?;
        let (actor, scope) = if scope_all {
            (
                self.daemon.require(&who, Action::PauseAll, header).await?,
                PauseScope::All,
            )
        } else {
            (
                Actor {
                    caller: who.caller(),
                    uid: who.uid,
                    admin: false,
                    confirmed: false,
                },
                PauseScope::Owner(who.uid),
            )
        };
        self.daemon
            .writer_for(&who, header)
            .mutate(move |ledger| {
                let now = Timestamp::now();
                ledger
                    .run(|r| match &reason {
                        Some(reason) => r.plan_pause(&actor, scope, reason, now),
                        None => r.plan_resume(&actor, scope, now),
                    })
                    .map(|e| ((), e))
            })
            .await
    }

    async fn host_change(
        &self,
        action: Action,
        header: &Header<'_>,
        connection: &zbus::Connection,
        plan: impl FnOnce(
            &crate::core::Registry,
            &Actor,
            Timestamp,
        ) -> Result<crate::core::Change, crate::core::CoreError>
        + Send
        + 'static,
    ) -> Result<(), BusError> {
        let who = self.daemon.identify(connection, header).await?;
        let actor = self.daemon.require(&who, action, header).await?;
        self.daemon
            .writer_for(&who, header)
            .run(move |r| plan(r, &actor, Timestamp::now()))
            .await?;
        // The effective mode follows: the latch or the override changed.
        let _ = self.daemon.mode_control.send(());
        Ok(())
    }
}

/// The boundary mode the daemon enforces and where it comes from, the lockdown latch, the admin
/// override and the learning pauses. Mode is OPEN, RESTRICTED, TRUSTED, AIRGAP, COLDROOM,
/// LOCKDOWN, or UNKNOWN when there is no good reading (enforced like LOCKDOWN).
#[interface(name = "org.learningcontracts.Boundary1")]
impl Boundary1 {
    /// Why the mode is what it is: the source's facts and the rule that matched, the override
    /// and the latch.
    async fn explain(&self) -> String {
        let source = self.daemon.source.read().clone();
        let registry = self.daemon.registry.read();
        let host = registry.host();
        let mut lines = vec![
            format!("Mode: {}", registry.mode()),
            format!(
                "Source: {} ({})",
                source.source,
                if source.healthy {
                    "healthy"
                } else {
                    "unhealthy"
                }
            ),
            format!("Reading: {}", source.explanation),
        ];
        if let Some(latch) = &host.lockdown {
            lines.push(format!("Lockdown latched: {}", latch.reason));
        }
        if let Some(lowered) = &host.mode_override {
            lines.push(format!("Override: {} ({})", lowered.mode, lowered.reason));
        }
        if let Some(pause) = &host.paused_all {
            lines.push(format!("All learning paused: {}", pause.reason));
        }
        lines.push(format!(
            "Allowed checks since start: {}",
            self.daemon
                .allowed_checks
                .load(std::sync::atomic::Ordering::Relaxed)
        ));
        lines.push(format!("Facts: {}", source.facts));
        lines.join("\n")
    }

    /// Enters a latched LOCKDOWN (admin; org.learningcontracts.enter-lockdown): every check
    /// and gate denies and every contract is suspended until an admin releases it. Survives
    /// restarts.
    async fn enter_lockdown(
        &self,
        reason: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let reason = bounded("reason", reason, &self.daemon)?;
        let logged = reason.clone();
        self.host_change(
            Action::EnterLockdown,
            &header,
            connection,
            move |r, a, now| r.plan_enter_lockdown(a, &reason, now),
        )
        .await?;
        // The high-priority journal entry is written by the announcer, for every source.
        let boundary_daemon = self.daemon.config().config.mode.boundary_daemon.clone();
        if boundary_daemon.push_lockdown {
            tokio::spawn(async move {
                match crate::source::boundary_daemon::push_lockdown(&boundary_daemon, &logged).await
                {
                    Ok(()) => tracing::warn!("the lockdown was pushed to the Boundary Daemon"),
                    Err(err) => {
                        tracing::error!(error = %err, "the lockdown could not be pushed to the Boundary Daemon")
                    }
                }
            });
        }
        Ok(())
    }

    /// Releases a latched lockdown (admin, never cached; org.learningcontracts.release-lockdown),
    /// with a reason. The mode the source reads now (with any override) is committed before
    /// the reply; it stays LOCKDOWN while the source itself says lockdown (the Boundary
    /// Daemon's mode or latch: Facts reported_mode and lockdown_latched), so read Mode after
    /// the reply for the mode the release left.
    async fn release_lockdown(
        &self,
        reason: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let reason = bounded("reason", reason, &self.daemon)?;
        self.host_change(
            Action::ReleaseLockdown,
            &header,
            connection,
            move |r, a, now| r.plan_release_lockdown(a, &reason, now),
        )
        .await?;
        Ok(())
    }

    /// Claims less isolation than detected (admin; org.learningcontracts.set-override): the
    /// effective mode becomes the lower of the reading and this mode (OPEN to COLDROOM).
    async fn set_override(
        &self,
        mode: &str,
        reason: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let mode = args::parse_mode("mode", mode)?;
        let reason = bounded("reason", reason, &self.daemon)?;
        self.host_change(
            Action::SetOverride,
            &header,
            connection,
            move |r, a, now| r.plan_set_override(a, mode, &reason, now),
        )
        .await
    }

    /// Removes the override (admin; org.learningcontracts.set-override).
    async fn clear_override(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        self.host_change(Action::SetOverride, &header, connection, |r, a, now| {
            r.plan_clear_override(a, now)
        })
        .await
    }

    /// Stops all learning of the caller's own contracts now; recall still works. No prompt.
    async fn pause_learning(
        &self,
        reason: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let reason = bounded("reason", reason, &self.daemon)?;
        self.pause(false, Some(reason), &header, connection).await
    }

    /// Ends the caller's own pause.
    async fn resume_learning(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        self.pause(false, None, &header, connection).await
    }

    /// Stops all learning of every owner (admin; org.learningcontracts.pause-all).
    async fn pause_all(
        &self,
        reason: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let reason = bounded("reason", reason, &self.daemon)?;
        self.pause(true, Some(reason), &header, connection).await
    }

    /// Ends the pause of all learning (admin; org.learningcontracts.pause-all).
    async fn resume_all(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        self.pause(true, None, &header, connection).await
    }

    /// The effective mode changed from old to new, and why. Broadcast: the mode is the
    /// host's state, which every local user may see.
    #[zbus(signal)]
    pub async fn mode_switched(
        emitter: &SignalEmitter<'_>,
        old: &str,
        new: &str,
        reason: &str,
    ) -> zbus::Result<()>;

    /// Contracts gained a suspension reason (mode, lockdown or pause). Addressed (unicast)
    /// to each listening connection with only the contracts it may see: an owner's and its
    /// delegated agents' connections get that owner's contracts, admins' get all; a connection
    /// that may see none gets nothing.
    #[zbus(signal)]
    pub async fn contracts_suspended(
        emitter: &SignalEmitter<'_>,
        ids: Vec<String>,
        reason: &str,
    ) -> zbus::Result<()>;

    /// Contracts lost a suspension reason. Addressed like ContractsSuspended.
    #[zbus(signal)]
    pub async fn contracts_resumed(
        emitter: &SignalEmitter<'_>,
        ids: Vec<String>,
    ) -> zbus::Result<()>;

    /// The effective mode: OPEN … LOCKDOWN, or UNKNOWN.
    #[zbus(property)]
    fn mode(&self) -> String {
        self.daemon.registry.read().mode().name().to_string()
    }

    /// Where readings come from: detect, boundary-daemon or static.
    #[zbus(property)]
    fn source(&self) -> String {
        self.daemon.source.read().source.to_string()
    }

    /// Whether the source gives good readings.
    #[zbus(property)]
    fn source_healthy(&self) -> bool {
        self.daemon.source.read().healthy
    }

    /// Whether a lockdown is latched.
    #[zbus(property)]
    fn lockdown(&self) -> bool {
        self.daemon.registry.read().host().lockdown.is_some()
    }

    /// Why the lockdown was latched (empty when none).
    #[zbus(property)]
    fn lockdown_reason(&self) -> String {
        self.daemon
            .registry
            .read()
            .host()
            .lockdown
            .as_ref()
            .map(|l| l.reason.clone())
            .unwrap_or_default()
    }

    /// The admin's override mode (empty when none).
    #[zbus(property)]
    fn mode_override(&self) -> String {
        self.daemon
            .registry
            .read()
            .host()
            .mode_override
            .as_ref()
            .map(|o| o.mode.name().to_string())
            .unwrap_or_default()
    }

    /// What the source sees (links, routes, mounts, or the Boundary Daemon's answer).
    #[zbus(property)]
    fn facts(&self) -> HashMap<String, OwnedVariant> {
        match &self.daemon.source.read().facts {
            serde_json::Value::Object(map) => json_dict(map),
            _ => HashMap::new(),
        }
    }

    /// Whether all learning is paused.
    #[zbus(property)]
    fn paused_all(&self) -> bool {
        self.daemon.registry.read().host().paused_all.is_some()
    }
}
