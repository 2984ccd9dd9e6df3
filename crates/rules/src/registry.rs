//! The in-memory state every check reads: contracts with their indices, memories, the host
//! state and sessions. It changes only through [`Registry::apply`], after the store has
//! committed the [`Change`]; checks never touch the disk.

use super::change::{Change, HostState, SessionUpdate};
use super::check::CheckKind;
use super::contract::{
    Contract, ContractId, ContractKind, ContractState, MemoryId, RetentionKind, SessionId,
    Suspension, Uid,
};
use super::memory::{MemoryRecord, PURGED_SOURCE};
use super::mode::EffectiveMode;
use super::scope::Name;
use super::session::Session;
use super::table::{ContractTable, Slot};
use super::time::{Monotonic, Timestamp};
use std::collections::{BTreeSet, HashMap};

/// Contracts indexed by owner, then by domain.
type OwnerDomainIndex = HashMap<Uid, HashMap<Name, Vec<Slot>>>;

/// The indices of the Active contracts, kept apart from the contracts themselves so that both
/// can be borrowed at once.
#[derive(Debug, Default)]
struct ActiveIndex {
    /// Active, non-prohibited contracts.
    by_owner: OwnerDomainIndex,
    /// Active prohibitions of each owner (system ones excluded).
    prohibitions_by_owner: OwnerDomainIndex,
    /// Active system prohibitions, by domain.
    system_prohibitions: HashMap<Name, Vec<Slot>>,
    /// Retention ends of Active timebound contracts.
    expiries: BTreeSet<(Timestamp, ContractId)>,
    count: usize,
}

impl ActiveIndex {
    fn add(&mut self, contract: &Contract, slot: Slot) {
        if contract.state != ContractState::Active {
            return;
        }
        self.count += 1;
        if let Some(end) = contract.retention_end() {
            self.expiries.insert((end, contract.id.clone()));
        }
        for domain in &contract.spec.scope.domains {
            let by_domain = if contract.is_system() {
                &mut self.system_prohibitions
            } else {
                let index = if contract.kind == ContractKind::Prohibited {
                    &mut self.prohibitions_by_owner
                } else {
                    &mut self.by_owner
                };
                index.entry(contract.owner).or_default()
            };
            // Looked up before inserting: the domain is cloned only the first time it is seen.
            match by_domain.get_mut(domain.as_str()) {
                Some(list) => list.push(slot),
                None => {
                    by_domain.insert(domain.clone(), vec![slot]);
                }
            }
        }
    }

    fn remove(&mut self, contract: &Contract, slot: Slot) {
        if contract.state != ContractState::Active {
            return;
        }
        self.count -= 1;
        if let Some(end) = contract.retention_end() {
            self.expiries.remove(&(end, contract.id.clone()));
        }
        for domain in &contract.spec.scope.domains {
            let list = if contract.is_system() {
                self.system_prohibitions.get_mut(domain.as_str())
            } else {
                let index = if contract.kind == ContractKind::Prohibited {
                    &mut self.prohibitions_by_owner
                } else {
                    &mut self.by_owner
                };
                index
                    .get_mut(&contract.owner)
                    .and_then(|by_domain| by_domain.get_mut(domain.as_str()))
            };
            if let Some(list) = list {
                list.retain(|&listed| listed != slot);
            }
        }
    }
}

/// The daemon's state in memory.
#[derive(Debug, Default)]
pub struct Registry {
    contracts: ContractTable,
    /// Where the Active contracts are found.
    active: ActiveIndex,
    /// Owner → memory id → record: memory ids belong to their owner.
    memories: HashMap<Uid, HashMap<MemoryId, MemoryRecord>>,
    /// Contract → its memories' owners and ids (a system contract's memories have several
    /// owners).
    memories_by_contract: HashMap<ContractId, BTreeSet<(Uid, MemoryId)>>,
    /// Owner → source memory → the owner's memories derived from it (sources are always the
    /// same owner's).
    derived: HashMap<Uid, HashMap<MemoryId, BTreeSet<MemoryId>>>,
    host: HostState,
    sessions: HashMap<SessionId, Session>,
    /// Why the store last failed to commit, while it keeps failing (checks then fail closed).
    store_fault: Option<String>,
    /// The newest reading of the mode source, committed or not (memory only). Checks are
    /// judged in it as well as in the committed mode, so they are never looser than it.
    reading: Option<EffectiveMode>,
    /// A tripwire that fired and whose latch is not committed yet: enforced as LOCKDOWN until
    /// it is.
    pending_latch: Option<String>,
    /// The identities of the links the newest reading saw (memory only; none from a source
    /// that does not see links): recorded with a move into AIRGAP or COLDROOM.
    reading_links: Option<BTreeSet<String>>,
    /// Per-owner counts the budgets judge.
    counts: super::budget::OwnerCounts,
    /// Moves whenever a decision could change (see [`Registry::generation`]).
    generation: u64,
}

impl Registry {
    /// A registry built from what the store loaded. The mode starts UNKNOWN whatever was
    /// stored: a fresh start has no reading yet.
    pub fn from_parts(
        contracts: Vec<Contract>,
        memories: Vec<MemoryRecord>,
        host: HostState,
    ) -> Self {
        let mut registry = Registry::default();
        registry.reserve_contracts(contracts.len());
        registry.add_stored_contracts(contracts);
        registry.finish_loading(memories, host);
        registry
    }

    /// Makes room for `count` more contracts, so that loading a store sizes the map once.
    pub fn reserve_contracts(&mut self, count: usize) {
        self.contracts.reserve(count);
    }

    /// Adds contracts read from the store, a batch at a time while the store decodes the next
    /// (see [`Registry::finish_loading`]).
    pub fn add_stored_contracts(&mut self, contracts: Vec<Contract>) {
        for contract in contracts {
            self.put_contract(contract);
        }
    }

    /// Completes a registry loaded with [`Registry::add_stored_contracts`]: the memories and
    /// the host state. The mode starts UNKNOWN whatever was
    /// stored: a fresh start has no reading yet.
    pub fn finish_loading(&mut self, memories: Vec<MemoryRecord>, mut host: HostState) {
        // Stores written before `last_operating` existed know it from the mode they kept.
        if host.last_operating.is_none() {
            host.last_operating = host.mode.operating();
        }
        host.mode = EffectiveMode::Unknown;
        self.host = host;
        for memory in memories {
            self.put_memory(memory);
        }
    }

    /// Applies a committed change. Returns its announcements.
    pub fn apply(&mut self, change: Change) -> Vec<super::change::Event> {
        // An audit-only change (aggregated denials, say) changes no decision.
        if !(change.contracts.is_empty()
            && change.memories.is_empty()
            && change.purged.is_empty()
            && change.host.is_none()
            && change.sessions.is_empty())
        {
            self.advance_generation();
        }
        for contract in change.contracts {
            self.put_contract(contract);
        }
        for memory in change.memories {
            self.put_memory(memory);
        }
        for gone in change.purged {
            if let Some(memory) = self.memory(gone.owner, &gone.id).cloned() {
                self.drop_memory(&memory);
            }
        }
        if let Some(host) = change.host {
            if host.lockdown.is_some() {
                self.pending_latch = None;
            }
            self.host = host;
        }
        for update in change.sessions {
            match update {
                SessionUpdate::Opened(session) => {
                    self.sessions.insert(session.id.clone(), session);
                }
                SessionUpdate::Ended(id) => {
                    self.sessions.remove(&id);
                }
            }
        }
        change.events
    }

    fn put_contract(&mut self, contract: Contract) {
        let (slot, old) = self.contracts.put(contract);
        self.counts
            .contract_put(old.as_ref(), self.contracts.at(slot));
        if let Some(old) = old {
            self.active.remove(&old, slot);
        }
        self.active.add(self.contracts.at(slot), slot);
    }

    fn put_memory(&mut self, memory: MemoryRecord) {
        if let Some(old) = self.memory(memory.owner, &memory.id).cloned() {
            self.drop_memory(&old);
        }
        self.memories_by_contract
            .entry(memory.contract_id.clone())
            .or_default()
            .insert((memory.owner, memory.id.clone()));
        let derived = self.derived.entry(memory.owner).or_default();
        for source in memory.derived_from.iter().filter(|s| *s != PURGED_SOURCE) {
            derived
                .entry(source.clone())
                .or_default()
                .insert(memory.id.clone());
        }
        self.counts.memory_added(&memory);
        self.memories
            .entry(memory.owner)
            .or_default()
            .insert(memory.id.clone(), memory);
    }

    fn drop_memory(&mut self, memory: &MemoryRecord) {
        self.counts.memory_removed(memory);
        if let Some(set) = self.memories_by_contract.get_mut(&memory.contract_id) {
            set.remove(&(memory.owner, memory.id.clone()));
            if set.is_empty() {
                self.memories_by_contract.remove(&memory.contract_id);
            }
        }
        if let Some(derived) = self.derived.get_mut(&memory.owner) {
            for source in &memory.derived_from {
                if let Some(set) = derived.get_mut(source) {
                    set.remove(&memory.id);
                    if set.is_empty() {
                        derived.remove(source);
                    }
                }
            }
        }
        if let Some(own) = self.memories.get_mut(&memory.owner) {
            own.remove(&memory.id);
            if own.is_empty() {
                self.memories.remove(&memory.owner);
            }
        }
    }

    /// Per-owner counts of drafts and active memories (for the budgets).
    pub fn owner_counts(&self) -> &super::budget::OwnerCounts {
        &self.counts
    }

    /// The effective mode.
    pub fn mode(&self) -> EffectiveMode {
        self.host.mode
    }

    /// Records the newest reading of the mode source. It takes effect for checks at once, in
    /// the restrictive direction only (see [`Registry::newest_mode`]); the committed mode
    /// follows through the writer.
    pub fn note_reading(&mut self, reading: EffectiveMode) {
        if self.reading != Some(reading) {
            self.advance_generation();
        }
        self.reading = Some(reading);
    }

    /// The newest reading, if any arrived yet.
    pub fn reading(&self) -> Option<EffectiveMode> {
        self.reading
    }

    /// Notes the links the newest reading saw (their identities), or none.
    pub fn note_links(&mut self, links: Option<BTreeSet<String>>) {
        self.reading_links = links;
    }

    /// The links the newest reading saw, if its source sees links.
    pub fn reading_links(&self) -> Option<&BTreeSet<String>> {
        self.reading_links.as_ref()
    }

    /// Records that a tripwire fired: LOCKDOWN for checks at once, until its latch commits.
    pub fn note_tripwire(&mut self, reason: String) {
        if self.host.lockdown.is_none() {
            if self.pending_latch.is_none() {
                self.advance_generation();
            }
            self.pending_latch = Some(reason);
        }
    }

    /// The tripwire whose latch still has to be committed.
    pub fn pending_latch(&self) -> Option<&str> {
        self.pending_latch.as_deref()
    }

    /// The mode the newest reading means, combined with the committed override and latch (and
    /// a tripwire not yet committed); `None` before the first reading.
    pub fn newest_mode(&self) -> Option<EffectiveMode> {
        let reading = self.reading?;
        Some(super::mode::combine_mode(
            reading,
            self.host.mode_override.as_ref().map(|o| o.mode),
            self.host.lockdown.is_some() || self.pending_latch.is_some(),
        ))
    }

    /// The modes a check is judged in: the committed one, and the newest reading's when it
    /// differs. A check is allowed only if it is allowed in both.
    pub fn judging_modes(&self) -> (EffectiveMode, Option<EffectiveMode>) {
        let committed = self.mode();
        (committed, self.newest_mode().filter(|m| *m != committed))
    }

    /// The mode tripwires judge a reading against: the last operating mode committed, kept
    /// across restarts and through UNKNOWN.
    pub fn tripwire_baseline(&self) -> EffectiveMode {
        match self.mode() {
            EffectiveMode::Known(mode) if mode != super::mode::BoundaryMode::Lockdown => {
                EffectiveMode::Known(mode)
            }
            _ => self
                .host
                .last_operating
                .map_or(EffectiveMode::Unknown, EffectiveMode::Known),
        }
    }

    /// The recall gate, judged in the committed mode and the newest reading's.
    pub fn recall_gate(&self, class: super::mode::MemoryClass) -> super::mode::GateDecision {
        let (committed, newest) = self.judging_modes();
        let decision = super::mode::recall_gate(committed, class);
        match newest {
            Some(newest) if decision.allowed => super::mode::recall_gate(newest, class),
            _ => decision,
        }
    }

    /// The tool gate, judged in the committed mode and the newest reading's.
    pub fn tool_gate(
        &self,
        tool: &str,
        needs: super::mode::ToolNeeds,
        route_out_is_vpn: bool,
        denied_tools: &[String],
    ) -> super::mode::GateDecision {
        let (committed, newest) = self.judging_modes();
        let gate = |mode| super::mode::tool_gate(mode, tool, needs, route_out_is_vpn, denied_tools);
        let decision = gate(committed);
        match newest {
            Some(newest) if decision.allowed => gate(newest),
            _ => decision,
        }
    }

    /// Why the store cannot be written, while that lasts.
    pub fn store_fault(&self) -> Option<&str> {
        self.store_fault.as_deref()
    }

    /// Records that the store failed (`Some`) or works again (`None`).
    pub fn set_store_fault(&mut self, fault: Option<String>) {
        if fault.is_some() != self.store_fault.is_some() {
            self.advance_generation();
        }
        self.store_fault = fault;
    }

    /// A number that moves whenever a decision of this registry could change: every applied
    /// change to contracts, memories, the host state or sessions, a new reading of the mode, a
    /// tripwire, the store failing or recovering, and whatever the caller reports with
    /// [`Registry::advance_generation`]. It never moves on a read, so an answer cached with the
    /// generation read before asking stays right while the generation stays the same (the
    /// clock aside: a retention end is judged by the clock before the sweep expires it).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Moves the generation for a change outside the registry that decisions read (a
    /// reloaded configuration).
    pub fn advance_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Starts the generation at `start` (the daemon's start time in microseconds), so a
    /// restarted daemon does not count again through the numbers the last run used.
    pub fn start_generation_at(&mut self, start: u64) {
        self.generation = start;
    }

    /// The host state (latch, override, pauses, mode).
    pub fn host(&self) -> &HostState {
        &self.host
    }

    /// A contract by id (no visibility rule applied).
    pub fn contract(&self, id: &str) -> Option<&Contract> {
        self.contracts.get(id)
    }

    /// Every contract (no visibility rule applied), in no particular order.
    pub fn contracts(&self) -> impl Iterator<Item = &Contract> {
        self.contracts.iter()
    }

    /// One owner's memory record by its id (memory ids belong to their owner).
    pub fn memory(&self, owner: Uid, id: &str) -> Option<&MemoryRecord> {
        self.memories.get(&owner)?.get(id)
    }

    /// Every memory record, in no particular order.
    pub fn memories(&self) -> impl Iterator<Item = &MemoryRecord> {
        self.memories.values().flat_map(HashMap::values)
    }

    /// The memory records of a contract, by owner and id.
    pub fn memories_of(&self, contract_id: &str) -> impl Iterator<Item = &MemoryRecord> {
        self.memories_by_contract
            .get(contract_id)
            .into_iter()
            .flatten()
            .filter_map(|(owner, id)| self.memory(*owner, id))
    }

    /// The memories derived directly from `owner`'s memory `source`.
    pub fn derived_from(&self, owner: Uid, source: &str) -> impl Iterator<Item = &MemoryRecord> {
        self.derived
            .get(&owner)
            .and_then(|derived| derived.get(source))
            .into_iter()
            .flatten()
            .filter_map(move |id| self.memory(owner, id))
    }

    /// An open session.
    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Every open session.
    pub fn sessions(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// Records that a session's opener used it at `now` (for the idle time). Sessions are not
    /// persisted, so this needs no commit.
    pub fn touch_session(&mut self, id: &str, now: Monotonic) {
        if let Some(session) = self.sessions.get_mut(id) {
            session.last_seen = session.last_seen.max(now);
        }
    }

    /// The number of Active contracts.
    pub fn active_count(&self) -> usize {
        self.active.count
    }

    /// The number of Active contracts with at least one suspension reason.
    pub fn suspended_count(&self) -> usize {
        self.active_contracts()
            .filter(|c| self.suspension(c).any())
            .count()
    }

    /// Every Active contract.
    pub fn active_contracts(&self) -> impl Iterator<Item = &Contract> {
        self.contracts
            .iter()
            .filter(|c| c.state == ContractState::Active)
    }

    /// The earliest retention end among Active timebound contracts (for the expiry timer).
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.active.expiries.first().map(|(end, _)| *end)
    }

    /// Active timebound contracts whose end is at or before `now`.
    pub(crate) fn due_for_expiry(&self, now: Timestamp) -> impl Iterator<Item = &Contract> {
        self.active
            .expiries
            .iter()
            .take_while(move |(end, _)| *end <= now)
            .filter_map(|(_, id)| self.contracts.get(id))
    }

    /// Whether learning is paused for `owner` (or for everyone).
    pub fn is_paused(&self, owner: Uid) -> bool {
        self.host.paused_all.is_some() || self.host.paused_owners.contains_key(&owner)
    }

    /// The suspension reasons of a contract, derived from the effective mode and the pauses.
    /// Only Active, non-prohibited contracts are ever suspended.
    pub fn suspension(&self, contract: &Contract) -> Suspension {
        if contract.state != ContractState::Active || contract.kind == ContractKind::Prohibited {
            return Suspension::NONE;
        }
        Suspension {
            pause: self.is_paused(contract.owner),
            ..self.mode_suspension(contract, self.mode())
        }
    }

    /// The `mode` and `lockdown` reasons a contract would have in `mode`.
    pub(crate) fn mode_suspension(&self, contract: &Contract, mode: EffectiveMode) -> Suspension {
        if contract.state != ContractState::Active || contract.kind == ContractKind::Prohibited {
            return Suspension::NONE;
        }
        match mode.operating() {
            None => Suspension {
                lockdown: true,
                ..Suspension::NONE
            },
            Some(current) => Suspension {
                mode: contract
                    .required_mode()
                    .is_some_and(|needed| current < needed),
                ..Suspension::NONE
            },
        }
    }

    /// The suspension reasons that stop a given check: a pause does not stop recall.
    pub(crate) fn suspension_for(&self, contract: &Contract, kind: CheckKind) -> Suspension {
        let mut suspension = self.suspension(contract);
        if !kind.is_learning() {
            suspension.pause = false;
        }
        suspension
    }

    /// A session contract counts only while bound to an open session.
    pub(crate) fn is_bound_if_session(&self, contract: &Contract) -> bool {
        contract.spec.retention != Some(RetentionKind::Session)
            || contract
                .session
                .as_deref()
                .is_some_and(|id| self.sessions.contains_key(id))
    }

    /// Whether a contract is effective at `now`: Active, before its retention end, bound if
    /// session-scoped, and not suspended.
    pub fn is_effective(&self, contract: &Contract, now: Timestamp) -> bool {
        self.is_effective_for(contract, CheckKind::MemoryCreation, now)
    }

    pub(crate) fn is_effective_for(
        &self,
        contract: &Contract,
        kind: CheckKind,
        now: Timestamp,
    ) -> bool {
        contract.state == ContractState::Active
            && !contract.is_past_end(now)
            && self.is_bound_if_session(contract)
            && !self.suspension_for(contract, kind).any()
    }

    /// The owner's Active, non-prohibited contracts that list `domain`.
    pub(crate) fn active_in_domain<'a>(
        &'a self,
        owner: Uid,
        domain: &str,
    ) -> impl Iterator<Item = &'a Contract> + 'a {
        self.active
            .by_owner
            .get(&owner)
            .and_then(|by_domain| by_domain.get(domain))
            .into_iter()
            .flatten()
            .map(|&slot| self.contracts.at(slot))
    }

    /// An Active prohibition (the owner's or a system one) covering the domain and context at
    /// `now`, the one with the smallest id when several do.
    pub(crate) fn covering_prohibition(
        &self,
        owner: Uid,
        domain: &str,
        context: &str,
        now: Timestamp,
    ) -> Option<&Contract> {
        let own = self
            .active
            .prohibitions_by_owner
            .get(&owner)
            .and_then(|by_domain| by_domain.get(domain));
        let system = self.active.system_prohibitions.get(domain);
        own.into_iter()
            .chain(system)
            .flatten()
            .map(|&slot| self.contracts.at(slot))
            .filter(|p| !p.is_past_end(now) && p.spec.scope.covers_context(context))
            .min_by(|a, b| a.id.cmp(&b.id))
    }

    /// Whether `uid` may see `contract`: its owner, an admin, or anyone for a system
    /// prohibition (it applies to them).
    pub fn is_visible(&self, contract: &Contract, uid: Uid, admin: bool) -> bool {
        admin || contract.owner == uid || contract.is_system()
    }
}
