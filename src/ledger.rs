//! The one writer. Every mutation is planned by the core against the in-memory registry,
//! committed by the store in one transaction, and only then applied to the registry that
//! checks read. Checks hold the read lock only; the write lock is held just long enough to
//! apply a committed change, never across disk I/O.

use crate::core::{
    Actor, AuditEvent, Caller, Change, CheckRequest, CoreError, Decision, DenialTally, Event,
    MemoryId, Now, OwnerBudgets, PurgeTokens, Registry, Timestamp,
};
use crate::store::room::StoreGuard;
use crate::store::{ContractSink, Store, StoreError};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// Why a mutation did not happen. Nothing of it was committed or applied.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// The core refused it.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The store could not commit it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A budget or the store guard refused it; the refusal is already counted for the
    /// aggregated audit.
    #[error(transparent)]
    Refused(CoreError),
}

/// The store hands the registry its contracts batch by batch while it decodes the next.
impl ContractSink for Registry {
    fn expect(&mut self, count: usize) {
        self.reserve_contracts(count);
    }

    fn take(&mut self, batch: Vec<crate::core::Contract>) {
        self.add_stored_contracts(batch);
    }
}

/// The registry shared with readers.
pub type SharedRegistry = Arc<RwLock<Registry>>;

/// Denials and refusals waiting for their aggregated audit record, shared by the bus (checks,
/// refused calls) and the writer (denied registrations, budget and guard refusals).
pub type SharedDenials = Arc<Mutex<DenialTally>>;

/// What owners may take of what all share: budgets and the store guard's marks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Per-owner budgets.
    pub budgets: OwnerBudgets,
    /// When the store is short of room.
    pub guard: StoreGuard,
}

/// The store and the registry, kept in step.
#[derive(Debug)]
pub struct Ledger {
    store: Store,
    registry: SharedRegistry,
    purge_tokens: PurgeTokens,
    path: PathBuf,
    limits: Limits,
    denials: SharedDenials,
    write_rate: crate::core::budget::WriteRate,
}

impl Ledger {
    /// Opens the store at `path`, loads the registry, and commits the restart recovery
    /// (contracts bound to sessions, which died with the previous process, and contracts past
    /// their retention end, expire). The mode starts UNKNOWN.
    pub fn open(path: &Path, now: Timestamp) -> Result<(Ledger, Vec<Event>), StoreError> {
        // The contracts are indexed batch by batch while the store decodes the next ones.
        let mut registry = Registry::default();
        let (store, loaded) = Store::open_with(path, &mut registry)?;
        registry.finish_loading(loaded.memories, loaded.host);
        let mut ledger = Ledger {
            store,
            registry: Arc::new(RwLock::new(registry)),
            purge_tokens: PurgeTokens::default(),
            path: path.to_path_buf(),
            limits: Limits::default(),
            denials: SharedDenials::default(),
            write_rate: Default::default(),
        };
        let recovery = ledger.registry.read().plan_recovery(now);
        let events = match recovery {
            Some(change) => ledger.commit(change)?,
            None => Vec::new(),
        };
        Ok((ledger, events))
    }

    /// The registry, for readers that outlive this borrow (the bus's check handlers).
    pub fn shared_registry(&self) -> SharedRegistry {
        Arc::clone(&self.registry)
    }

    /// A read view of the registry.
    pub fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read()
    }

    /// The store (audit reads and verification).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// How long a commit waits for a lock held by another process before failing.
    pub fn set_busy_timeout(&mut self, timeout: std::time::Duration) -> Result<(), StoreError> {
        self.store.set_busy_timeout(timeout)
    }

    /// Sets the budgets and the store guard (at start and on reload).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The tally that denied registrations and refused changes are counted in.
    pub fn denials(&self) -> SharedDenials {
        Arc::clone(&self.denials)
    }

    /// Counts denied registrations and refused changes in `denials` from now on.
    pub fn set_denials(&mut self, denials: SharedDenials) {
        self.denials = denials;
    }

    /// Plans with `plan` against the current registry, commits, applies, and returns the
    /// planner's value with the announcements to make.
    pub fn execute<T>(
        &mut self,
        plan: impl FnOnce(&Registry) -> Result<(Change, T), CoreError>,
    ) -> Result<(T, Vec<Event>), LedgerError> {
        let (change, value) = plan(&self.registry.read())?;
        self.admit(&change).map_err(LedgerError::Refused)?;
        Ok((value, self.commit(change)?))
    }

    /// The one gate in front of every planned change: the owner's budgets, then the store
    /// guard, which holds back owners' additions once the store is short of room so that
    /// mode changes, lockdowns and admin actions still commit from the reserve. A refusal is
    /// counted for the aggregated audit.
    fn admit(&mut self, change: &Change) -> Result<(), CoreError> {
        let now = change.at.unwrap_or_else(Timestamp::now);
        let shared = crate::core::budget::draws_on_shared_room(change);
        let refusal = self
            .registry
            .read()
            .check_budgets(change, &self.limits.budgets)
            .err()
            .or_else(|| {
                shared
                    .then(|| self.limits.guard.shortage(&self.path))
                    .flatten()
                    .map(CoreError::LimitReached)
            })
            .or_else(|| {
                let uid = change.audit.first().and_then(|record| record.caller.uid)?;
                let per_minute = self.limits.budgets.max_writes_per_minute;
                (shared && !self.write_rate.admit(uid, now, per_minute)).then(|| {
                    CoreError::LimitReached(format!(
                        "uid {uid} made {per_minute} changes in the last minute, the most \
                         allowed (limits.max_owner_writes_per_minute); try again in a minute"
                    ))
                })
            });
        let Some(refusal) = refusal else {
            return Ok(());
        };
        if let Some(first) = change.audit.first() {
            self.denials.lock().note_refusal(
                &first.caller,
                first.action,
                crate::core::error::LIMIT_REACHED,
                &refusal.to_string(),
                now,
            );
        }
        Err(refusal)
    }

    /// Plans a change that returns nothing else; see [`Ledger::execute`].
    pub fn run(
        &mut self,
        plan: impl FnOnce(&Registry) -> Result<Change, CoreError>,
    ) -> Result<Vec<Event>, LedgerError> {
        self.execute(|registry| plan(registry).map(|change| (change, ())))
            .map(|((), events)| events)
    }

    /// Commits a planned change and applies it. A store failure leaves the registry as it was
    /// and makes checks fail closed until a commit succeeds again.
    pub fn commit(&mut self, change: Change) -> Result<Vec<Event>, StoreError> {
        if change.needs_commit()
            && let Err(err) = self.store.commit(&change)
        {
            self.registry.write().set_store_fault(Some(err.to_string()));
            return Err(err);
        }
        let mut registry = self.registry.write();
        registry.set_store_fault(None);
        Ok(registry.apply(change))
    }

    /// After a store failure: tries a harmless write, and when it commits, lifts the fault so
    /// checks answer again. Returns whether the store is writable now (true when there was no
    /// fault).
    pub fn probe_store(&mut self) -> bool {
        if self.registry.read().store_fault().is_none() {
            return true;
        }
        match self.store.probe_write() {
            Ok(()) => {
                self.registry.write().set_store_fault(None);
                true
            }
            Err(err) => {
                self.registry.write().set_store_fault(Some(err.to_string()));
                false
            }
        }
    }

    /// Begins a sealing era (store/sealing.rs). The new record is not announced: the audit
    /// log's followers read it at their next wake-up.
    pub fn enable_sealing(
        &mut self,
        setup: crate::store::sealing::SealingSetup,
        now: Timestamp,
    ) -> Result<crate::store::sealing::SealingState, StoreError> {
        self.store.enable_sealing(setup, now)
    }

    /// Seals the current epoch if it has ended by `now`.
    pub fn seal_due(
        &mut self,
        now: Timestamp,
    ) -> Result<crate::store::sealing::SealTick, StoreError> {
        self.store.seal_due(now)
    }

    /// Seals the current epoch for a clean stop.
    pub fn seal_stop(
        &mut self,
        now: Timestamp,
    ) -> Result<crate::store::sealing::SealTick, StoreError> {
        self.store.seal_stop(now)
    }

    /// Catches sealing up at start (after a clean stop or a crash).
    pub fn seal_at_start(
        &mut self,
        now: Timestamp,
    ) -> Result<crate::store::sealing::SealTick, StoreError> {
        self.store.seal_at_start(now)
    }

    /// Appends audit records decided outside the writer (denied checks).
    pub fn record_audit(
        &mut self,
        events: &[AuditEvent],
        now: Timestamp,
    ) -> Result<(), LedgerError> {
        self.commit(Change {
            at: Some(now),
            audit: events.to_vec(),
            ..Change::default()
        })
        .map(|_| ())
        .map_err(LedgerError::from)
    }

    /// Moves the audit records up to `through_seq` out of the store once the caller archived
    /// them (see [`Store::archive_audit`]), recording an `audit.archived` record by `caller`.
    /// Returns how many records were removed.
    pub fn archive_audit(
        &mut self,
        caller: &Caller,
        through_seq: u64,
        through_hash: &str,
        now: Timestamp,
    ) -> Result<(u64, Vec<Event>), LedgerError> {
        use crate::store::ArchiveRefusal;
        let event = AuditEvent {
            caller: caller.clone(),
            action: "audit.archived",
            contract_id: None,
            details: serde_json::json!({
                "through_seq": through_seq,
                "through_hash": through_hash,
            }),
        };
        match self
            .store
            .archive_audit(through_seq, through_hash, &event, now)
        {
            Ok(removed) => Ok((removed, Vec::new())),
            Err(ArchiveRefusal::Store(err)) => Err(err.into()),
            Err(refusal) => Err(CoreError::state(refusal.to_string()).into()),
        }
    }

    /// RegisterMemory: the creation (and abstraction) check and the record in one
    /// transaction. A denial is audited and returned as the decision, not as an error.
    pub fn register_memory(
        &mut self,
        caller: &Caller,
        request: &CheckRequest,
        memory_id: Option<MemoryId>,
        derived_from: &[MemoryId],
        now: Timestamp,
    ) -> Result<(Decision, MemoryId, Vec<Event>), LedgerError> {
        let memory_id = memory_id.unwrap_or_else(|| ulid::Ulid::new().to_string());
        let mut random = [0u8; 48];
        getrandom::fill(&mut random).map_err(|err| {
            LedgerError::Core(CoreError::InvalidState {
                message: format!("no randomness for the memory's audit key: {err}"),
            })
        })?;
        let registration = self.registry.read().plan_register_memory(
            caller,
            request,
            memory_id,
            derived_from,
            crate::core::memory::ShredKey::from_random(random),
            now,
        )?;
        if !registration.decision.allowed {
            // A denial is counted for its aggregated record, not written one by one.
            let now_denials = &mut self.denials.lock();
            for event in &registration.change.audit {
                now_denials.note_check(event, now);
            }
            return Ok((registration.decision, registration.memory_id, Vec::new()));
        }
        self.admit(&registration.change)
            .map_err(LedgerError::Refused)?;
        let events = self.commit(registration.change)?;
        Ok((registration.decision, registration.memory_id, events))
    }

    /// The first step of the deep purge: a one-time token bound to the caller and the
    /// contract, valid two minutes on the monotonic clock (`now.mono`); the audit record
    /// carries the wall clock. The token is returned to the caller and never logged.
    pub fn request_purge(
        &mut self,
        actor: &Actor,
        contract_id: &str,
        now: Now,
    ) -> Result<String, LedgerError> {
        let change = self
            .registry
            .read()
            .plan_purge_request(actor, contract_id, now.wall)?;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|err| {
            LedgerError::Core(CoreError::InvalidState {
                message: format!("no randomness for a purge token: {err}"),
            })
        })?;
        self.commit(change)?;
        Ok(self.purge_tokens.issue(actor.uid, contract_id, now, secret))
    }

    /// The second step: redeems the token and deletes the contract's memory records, keeping
    /// nothing of them. Returns how many were purged.
    pub fn confirm_purge(
        &mut self,
        actor: &Actor,
        contract_id: &str,
        token: &str,
        now: Now,
    ) -> Result<(u32, Vec<Event>), LedgerError> {
        // Check visibility and state first so that a stranger learns nothing from the token.
        self.registry.read().purge_allowed(actor, contract_id)?;
        self.purge_tokens
            .redeem(token, actor.uid, contract_id, now)?;
        let change = self
            .registry
            .read()
            .plan_purge(actor, contract_id, now.wall)?;
        let count = change.purged.len() as u32;
        Ok((count, self.commit(change)?))
    }
}
