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
