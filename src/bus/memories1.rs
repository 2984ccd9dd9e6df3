//! `org.learningcontracts.Memories1`: memory records and the deep purge.

use super::Daemon;
use super::args;
use super::authorize::Action;
use super::dicts::{self, Dict};
use super::error::BusError;
use crate::core::Now;
use std::sync::Arc;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

/// Memory records.
#[derive(Debug, Clone)]
pub struct Memories1 {
    pub(crate) daemon: Arc<Daemon>,
}

/// The one answer for a memory the caller cannot see, whether or not it exists.
fn missing(memory_id: &str) -> BusError {
    BusError::not_found(format!("no memory '{memory_id}' that you can see"))
}

impl Memories1 {
    /// `owner`'s memory `memory_id` as a record dictionary, if it exists.
    fn owned(&self, owner: u32, memory_id: &str) -> Option<Dict> {
        let registry = self.daemon.registry.read();
        registry.memory(owner, memory_id).map(dicts::memory)
    }

    /// Whether `who` may read the records of `owner`: the owner, an agent acting for it, or
    /// an admin. With no owner (nothing has that id), the authorizer is asked all the same,
    /// so that its answer is the same as for another owner's record.
    async fn may_read_owner(
        &self,
        who: &super::caller::Identity,
        owner: Option<u32>,
        header: &Header<'_>,
    ) -> Result<bool, BusError> {
        if owner.is_some_and(|owner| self.daemon.acts_for(who, owner)) {
            return Ok(true);
        }
        self.daemon.authorize(who, Action::ManageAll, header).await
    }
}

/// The records the daemon keeps of memories (never their content): id s, contract_id s,
/// owner u, domain s, context s, classification y, abstraction s, derived_from as, created x,
/// status s (active, frozen, tombstoned, quarantined, invalidated, purged).
#[interface(name = "org.learningcontracts.Memories1")]
impl Memories1 {
    /// One of the caller's own memory records, by id (memory ids belong to their owner).
    /// An id the caller has no memory under, or whose memory was purged, is NotFound.
    async fn get(
        &self,
        memory_id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<Dict, BusError> {
        let memory_id = args::parse_id("memory_id", memory_id)?;
        let who = self.daemon.identify(connection, &header).await?;
        self.owned(who.uid, &memory_id)
            .ok_or_else(|| missing(&memory_id))
    }

    /// One memory record of `owner`, by id: for the owner, an agent acting for it, or an
    /// admin (org.learningcontracts.manage-all). Any other caller gets NotFound whether or not
    /// the memory exists, and so does an id the owner has no memory under.
    async fn get_for_owner(
        &self,
        owner: u32,
        memory_id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<Dict, BusError> {
        let memory_id = args::parse_id("memory_id", memory_id)?;
        let who = self.daemon.identify(connection, &header).await?;
        // Authorized before the registry is read: the answer cannot depend on existence.
        if !self.may_read_owner(&who, Some(owner), &header).await? {
            return Err(missing(&memory_id));
        }
        self.owned(owner, &memory_id)
            .ok_or_else(|| missing(&memory_id))
    }

    /// The memory records of a contract the caller may see.
    async fn list(
        &self,
        contract_id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<Vec<Dict>, BusError> {
        let contract_id = args::parse_id("contract_id", contract_id)?;
        let who = self.daemon.identify(connection, &header).await?;
        let owner = self
            .daemon
            .registry
            .read()
            .contract(&contract_id)
            .map(|c| c.owner);
        // Asked the same way for a contract that does not exist (see Get).
        let allowed = self.may_read_owner(&who, owner, &header).await?;
        if !allowed || owner.is_none() {
            return Err(BusError::not_found(format!(
                "no contract '{contract_id}' that you can see"
            )));
        }
        let registry = self.daemon.registry.read();
        let mut records: Vec<_> = registry.memories_of(&contract_id).collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records.into_iter().map(dicts::memory).collect())
    }

    /// First step of the deep purge of a Revoked or Expired contract's memory records: the
    /// owner with interactive confirmation (org.learningcontracts.confirm-own), or an admin,
    /// gets a one-time token bound to the caller and the contract, valid two minutes. The token
    /// is never logged.
    async fn request_purge(
        &self,
        contract_id: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<String, BusError> {
        let contract_id = args::parse_id("contract_id", contract_id)?;
        let who = self.daemon.identify(connection, &header).await?;
        let actor = self
            .daemon
            .actor_for(&who, &contract_id, Some(Action::ConfirmOwn), &header)
            .await?;
        self.daemon
            .writer_for(&who, &header)
            .mutate(move |ledger| {
                ledger
                    .request_purge(&actor, &contract_id, Now::read())
                    .map(|token| (token, Vec::new()))
            })
            .await
    }

    /// Second step: with the token, deletes every memory record of the contract for good:
    /// nothing of their ids, domains, contexts or links stays in the store's files (their
    /// audit details were sealed under keys deleted with them). Returns how many were purged.
    /// The token is used up by any attempt.
    async fn confirm_purge(
        &self,
        contract_id: &str,
        token: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<u32, BusError> {
        let contract_id = args::parse_id("contract_id", contract_id)?;
        if token.len() > 128 {
            return Err(BusError::invalid_args("token", "is not a purge token"));
        }
        let token = token.to_string();
        let who = self.daemon.identify(connection, &header).await?;
        let owner = self
            .daemon
            .registry
            .read()
            .contract(&contract_id)
            .map(|c| c.owner);
        // A stranger must not learn that the contract exists: admin rights come from the
        // authorizer as for any other call. The owner's token stands for the confirmation
        // given when it was issued, to this uid.
        let mut actor = self
            .daemon
            .actor_for(&who, &contract_id, None, &header)
            .await?;
        actor.confirmed = owner == Some(who.uid);
        self.daemon
            .writer_for(&who, &header)
            .mutate(move |ledger| ledger.confirm_purge(&actor, &contract_id, &token, Now::read()))
            .await
    }

    /// Memories of a contract changed status; memory stores act on it. Addressed (unicast)
    /// only to the listening connections of the contract's owner, of agents the owner
    /// delegated to, and of admins (connections that called the daemon or Daemon1.Subscribe).
    #[zbus(signal)]
    pub async fn memories_changed(
        emitter: &SignalEmitter<'_>,
        contract_id: &str,
        status: &str,
        memory_ids: Vec<String>,
    ) -> zbus::Result<()>;
}
