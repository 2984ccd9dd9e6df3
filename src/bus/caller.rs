//! Who is calling: the uid, pid and groups the bus reports for the sender's connection,
//! never what the caller says about itself. Credentials are cached per unique name (unique
//! names are never reused on a bus) and dropped when the connection leaves the bus.

use crate::core::{Caller, Uid};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use zbus::message::Header;

use super::error::BusError;

/// A caller's credentials as the bus daemon reported them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The sender's unique bus name.
    pub bus_name: String,
    /// Its uid.
    pub uid: Uid,
    /// Its pid, when the bus knows it.
    pub pid: Option<u32>,
    /// Its groups, when the bus knows them.
    pub groups: Option<Vec<u32>>,
}

impl Identity {
    /// The audit form of the caller.
    pub fn caller(&self) -> Caller {
        Caller {
            uid: Some(self.uid),
            pid: self.pid,
            bus_name: Some(self.bus_name.clone()),
        }
    }
}

/// Credentials cache.
#[derive(Debug, Default)]
pub struct Identities {
    known: Mutex<HashMap<String, Arc<Identity>>>,
    /// A connection of its own for asking the bus. If the answer came over the serving
    /// connection, a client that queued more calls than zbus buffers would stop that
    /// connection's reader before the answer, and the call would wait forever.
    lookups: std::sync::OnceLock<zbus::Connection>,
}

/// The most connections remembered; past it the cache starts over (lookups are cheap).
const MAX_CACHED: usize = 4096;

impl Identities {
    /// Asks the bus for credentials over `connection` from now on.
    pub fn set_lookup_connection(&self, connection: zbus::Connection) {
        let _ = self.lookups.set(connection);
    }

    /// The connection of its own for asking other services (logind), when it is set; never
    /// the serving connection.
    pub fn lookup_connection(&self) -> Option<&zbus::Connection> {
        self.lookups.get()
    }

    /// The identity of the sender of the call with header `header`.
    pub async fn of(
        &self,
        connection: &zbus::Connection,
        header: &Header<'_>,
    ) -> Result<Arc<Identity>, BusError> {
        let sender = header
            .sender()
            .ok_or_else(|| BusError::access_denied("the call carries no sender"))?;
        if let Some(known) = self.known.lock().get(sender.as_str()) {
            return Ok(Arc::clone(known));
        }
        let sender = sender.to_string();
        let proxy = zbus::fdo::DBusProxy::new(self.lookups.get().unwrap_or(connection)).await?;
        let credentials = proxy
            .get_connection_credentials(zbus::names::BusName::try_from(sender.as_str())?)
            .await?;
        let uid = credentials
            .unix_user_id()
            .ok_or_else(|| BusError::access_denied("the bus does not know the caller's uid"))?;
        let identity = Arc::new(Identity {
            bus_name: sender.clone(),
            uid,
            pid: credentials.process_id(),
            groups: credentials.unix_group_ids().cloned(),
        });
        let mut known = self.known.lock();
        if known.len() >= MAX_CACHED {
            known.clear();
        }
        known.insert(sender, Arc::clone(&identity));
        Ok(identity)
    }

    /// The identity of the connection `bus_name`, if it is known without asking the bus.
    pub fn cached(&self, bus_name: &str) -> Option<Arc<Identity>> {
        self.known.lock().get(bus_name).cloned()
    }

    /// Whether the connection with unique name `bus_name` is still on the bus, asked over the
    /// lookup connection only (never the serving one, whose reader a flood can stop).
    pub async fn still_connected(&self, bus_name: &str) -> Result<bool, BusError> {
        let lookups = self.lookups.get().ok_or_else(|| {
            BusError::unavailable("the daemon has no connection to ask the bus about callers")
        })?;
        let proxy = zbus::fdo::DBusProxy::new(lookups).await?;
        Ok(proxy
            .name_has_owner(zbus::names::BusName::try_from(bus_name)?)
            .await?)
    }

    /// Forgets a connection that left the bus.
    pub fn forget(&self, bus_name: &str) {
        self.known.lock().remove(bus_name);
    }
}
