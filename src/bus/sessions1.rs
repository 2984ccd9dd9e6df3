//! `org.learningcontracts.Sessions1`: agent sessions bound to their bus connection.

use super::Daemon;
use super::args::{self, Request};
use super::error::BusError;
use crate::core::{Actor, Monotonic, Now, SessionLimits, Timestamp};
use std::sync::Arc;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

/// Sessions.
#[derive(Debug, Clone)]
pub struct Sessions1 {
    pub(crate) daemon: Arc<Daemon>,
}

impl Sessions1 {
    /// The session's opener or owner act as themselves; anyone else is an admin only if the
    /// authorizer grants ManageAll (and otherwise finds no such session).
    async fn session_actor(
        &self,
        who: &super::caller::Identity,
        session_id: &str,
        header: &Header<'_>,
    ) -> Result<Actor, BusError> {
        let involved = self
            .daemon
            .registry
            .read()
            .session(session_id)
            .is_some_and(|s| s.owner == who.uid || s.opener.uid == Some(who.uid));
        let admin = !involved
            && self
                .daemon
                .authorize(who, super::authorize::Action::ManageAll, header)
                .await?;
        Ok(Actor {
            caller: who.caller(),
            uid: who.uid,
            admin,
            confirmed: false,
        })
    }
}

impl Sessions1 {
    /// Ends a just-opened session at once if its opener has already left the bus.
    ///
    /// `watch_connections` ends the sessions of a connection when the bus announces that it
    /// left, but the announcement may be handled before this session was committed, and then
    /// nothing would ever end it. So, after the commit (the session is in the registry), the
    /// bus is asked whether the opener is still there. The bus handles each connection's
    /// messages in order: if it answers that the opener is still there, its departure comes
    /// later, and its announcement is then handled with this session already in the registry.
    /// If it answers that the opener is gone, the session ends here (or was just ended by the
    /// announcement, which makes this a harmless NotFound). If the bus cannot be asked, the
    /// session ends too, failing closed, and Open answers the error.
    async fn end_if_opener_left(&self, opener: &str, session_id: &str) -> Result<(), BusError> {
        let asked = self.daemon.identities.still_connected(opener).await;
        if matches!(asked, Ok(true)) {
            return Ok(());
        }
        self.daemon.activity.lock().remove(opener);
        if asked.is_ok() {
            // The departure may have been handled before this call identified the opener.
            self.daemon.identities.forget(opener);
        }
        let id = session_id.to_string();
        let reason = if asked.is_ok() {
            "the agent's connection left the bus"
        } else {
            "the bus could not say whether the agent's connection is still there"
        };
        let ended = self
            .daemon
            .writer
            .run(move |r| r.plan_end_session(None, &id, reason, Timestamp::now()))
            .await;
        // A session no longer in the registry has ended, by this call or by the announcement.
        if let Err(err) = ended
            && self.daemon.registry.read().session(session_id).is_some()
        {
            tracing::warn!(session_id, error = %err, "a session whose agent left could not be ended; the idle time will end it");
            return Err(err.into());
        }
        asked.map(|_| ())
    }
}

/// Sessions of agents. A session belongs to the connection that opened it and ends when the
/// agent ends it, when that connection leaves the bus, or after the configured idle time; its
/// session-scoped contracts then expire and their memories freeze.
#[interface(name = "org.learningcontracts.Sessions1")]
impl Sessions1 {
    /// Opens a session for the caller's owner (options: owner u, for an agent delegated by
    /// several owners). Returns the session id. Past sessions.max_per_owner or
    /// sessions.max_per_connection, or while the store is short of room, answers
    /// org.learningcontracts.Error.LimitReached.
    async fn open(
        &self,
        options: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<String, BusError> {
        let config = self.daemon.config();
        let named = args::session_options(&options, &config.config.limits)?;
        let who = self.daemon.identify(connection, &header).await?;
        let owner = self.daemon.resolve_owner(&who, named)?;
        let id = ulid::Ulid::new().to_string();
        let session = id.clone();
        let opener = who.caller();
        let limits = SessionLimits {
            per_owner: config.config.sessions.max_per_owner,
            per_connection: config.config.sessions.max_per_connection,
        };
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_open_session(&opener, owner, session, limits, Now::read()))
            .await?;
        // Only after the commit: a refused Open leaves nothing behind for a connection that
        // may already be gone.
        self.daemon
            .activity
            .lock()
            .insert(who.bus_name.clone(), Monotonic::now());
        self.end_if_opener_left(&who.bus_name, &id).await?;
        Ok(id)
    }

    /// Ends a session (its opener, its owner or an admin).
    async fn end(
        &self,
        session_id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let session_id = args::parse_id("session_id", session_id)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self.session_actor(&who, &session_id, &header).await?;
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| {
                r.plan_end_session(
                    Some(&actor),
                    &session_id,
                    "ended by the agent",
                    Timestamp::now(),
                )
            })
            .await
    }

    /// Binds an Active session-retention contract of the session's owner to the session: it
    /// is effective while the session lasts and expires when it ends.
    async fn bind(
        &self,
        session_id: &str,
        contract_id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(), BusError> {
        let session_id = args::parse_id("session_id", session_id)?;
        let contract_id = args::parse_id("contract_id", contract_id)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self.session_actor(&who, &session_id, &header).await?;
        self.daemon
            .writer_for(&who, &header)
            .run(move |r| r.plan_bind(&actor, &session_id, &contract_id, Timestamp::now()))
            .await
    }

    /// A session ended; these contracts expired with it. Addressed (unicast) only to the
    /// listening connections of the session's owner, of agents the owner delegated to, and of
    /// admins (connections that called the daemon or Daemon1.Subscribe).
    #[zbus(signal)]
    pub async fn session_ended(
        emitter: &SignalEmitter<'_>,
        session_id: &str,
        expired_contract_ids: Vec<String>,
    ) -> zbus::Result<()>;
}
