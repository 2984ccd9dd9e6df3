//! `org.learningcontracts.Daemon1`: version, features, reload.

use super::Daemon;
use super::authorize::Action;
use super::error::BusError;
use std::sync::Arc;
use zbus::interface;
use zbus::message::Header;

/// The daemon as a whole.
#[derive(Debug, Clone)]
pub struct Daemon1 {
    pub(crate) daemon: Arc<Daemon>,
}

/// What this build supports, for agents that adapt to it.
pub const FEATURES: &[&str] = &[
    "contracts",
    "enforcement",
    "boundary",
    "memories",
    "sessions",
    "audit",
    // Private signals are sent only to listening connections: Daemon1.Subscribe.
    "subscribe",
    // Memory ids belong to their owner: Memories1.GetForOwner.
    "owner-memory-ids",
    // Audit1.Archive and the anchor it leaves.
    "audit-archive",
    // Audit1.SetupSealing and the sealed chain `contractctl audit verify --key` proves.
    "audit-sealing",
    // The chain head written to the journal (`contractctl audit verify --journal`).
    "audit-checkpoints",
    // Enforcement1.CheckBatch: many checks of one kind in one call.
    "check-batch",
    // Enforcement1.Generation: moves whenever a decision could change.
    "generation",
];

/// The daemon: its version, what it supports, and reloading its configuration.
#[interface(name = "org.learningcontracts.Daemon1")]
impl Daemon1 {
    /// Re-reads the configuration (admin; polkit action org.learningcontracts.reload). A
    /// configuration that does not parse is refused with
    /// org.learningcontracts.Error.InvalidConfig and the old one stays in force.
    async fn reload(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let who = self.daemon.identify(connection, &header).await?;
        self.daemon.require(&who, Action::Reload, &header).await?;
        let (reply, outcome) = tokio::sync::oneshot::channel();
        self.daemon
            .reload_requests
            .send(reply)
            .map_err(|_| BusError::unavailable("the daemon is shutting down"))?;
        outcome
            .await
            .map_err(|_| BusError::unavailable("the daemon is shutting down"))?
            .map_err(BusError::invalid_config)
    }

    /// Lists the caller's connection to hear the signals that name its uid's contracts,
    /// memories and sessions (and those of owners who delegated to it), until it leaves the
    /// bus. These signals are sent to listening connections only (unicast); a connection that
    /// calls any other method is listed too, so Subscribe is for one that only listens. Returns
    /// whether the connection hears every owner's signals as an admin: root, or a caller the
    /// authorizer grants org.learningcontracts.manage-all when it subscribes (asked once,
    /// without interaction). Past the bounds on listening connections (64 per uid, 64 admins,
    /// 4096 in all) answers org.learningcontracts.Error.LimitReached.
    async fn subscribe(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<bool, BusError> {
        let who = self.daemon.identify(connection, &header).await?;
        // Asked without interaction: a listener is never prompted; a challenge is a no.
        let admin = who.uid == 0
            || self
                .daemon
                .authorizer
                .check(&who, Action::ManageAll, false)
                .await?
                == super::authorize::Verdict::Granted;
        let listeners = &self.daemon.listeners;
        if listeners.note(&who.bus_name, who.uid, admin) {
            return Ok(admin);
        }
        // A bound is reached: connections that left the bus while their call was under way
        // may still be listed; the bus is asked about them, and those gone are forgotten.
        let mut listed = listeners.of_uid(who.uid);
        if admin {
            listed.extend(listeners.admins());
        }
        for name in listed {
            if name != who.bus_name
                && matches!(
                    self.daemon.identities.still_connected(&name).await,
                    Ok(false)
                )
            {
                listeners.forget(&name);
                self.daemon.identities.forget(&name);
            }
        }
        if listeners.note(&who.bus_name, who.uid, admin) {
            return Ok(admin);
        }
        Err(self.daemon.refused(
            &who,
            &header,
            BusError::limit_reached(
                "too many connections listen already (64 per uid, 64 admins, 4096 in all)",
            ),
        ))
    }

    /// The daemon's version.
    #[zbus(property(emits_changed_signal = "const"))]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// The interfaces and capabilities this build offers.
    #[zbus(property(emits_changed_signal = "const"))]
    fn features(&self) -> Vec<String> {
        FEATURES.iter().map(|f| f.to_string()).collect()
    }
}
