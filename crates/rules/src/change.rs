//! What a decided mutation consists of: the records to persist, the audit records to append
//! and the announcements to make once it is committed. The core plans a [`Change`] without
//! touching anything; the store commits it in one transaction; only then does the registry
//! apply it and the bus announce it.

use super::contract::{Contract, ContractId, SessionId, Uid};
use super::memory::{MemoryRecord, MemoryStatus, PurgedMemory};
use super::mode::{BoundaryMode, EffectiveMode};
use super::session::Session;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Who asked for something, as the bus reported it. `None` fields mean the daemon itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The caller's uid.
    pub uid: Option<Uid>,
    /// The caller's pid.
    pub pid: Option<u32>,
    /// The caller's unique bus name.
    pub bus_name: Option<String>,
}

impl Caller {
    /// The daemon acting on its own (expiry, mode changes, restart recovery).
    pub fn daemon() -> Self {
        Self::default()
    }

    /// A caller known only by uid (tests, tools).
    pub fn uid(uid: Uid) -> Self {
        Self {
            uid: Some(uid),
            ..Self::default()
        }
    }
}

/// One record for the audit log; the store adds the sequence number, id, hashes and time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// Who asked.
    pub caller: Caller,
    /// A stable dotted action name, for example `contract.activate` or `check.denied`.
    pub action: &'static str,
    /// The contract concerned, if any.
    pub contract_id: Option<ContractId>,
    /// Structured details.
    pub details: serde_json::Value,
}

/// A lockdown latched by an admin or a tripwire: stored, survives restarts, and only an admin
/// can release it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockdownLatch {
    /// Why it was entered.
    pub reason: String,
    /// When.
    pub since: Timestamp,
    /// The uid that entered it; none for a tripwire.
    pub by: Option<Uid>,
}

/// A pause of learning, for one owner or for everyone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Why.
    pub reason: String,
    /// Since when.
    pub since: Timestamp,
}

/// An admin's override of the detected mode (it can only lower it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeOverride {
    /// The mode claimed.
    pub mode: BoundaryMode,
    /// Why.
    pub reason: String,
}

/// The host-wide state that must survive restarts, stored as one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// The last effective mode committed (for the record; the daemon restarts in UNKNOWN).
    pub mode: EffectiveMode,
    /// A latched lockdown.
    pub lockdown: Option<LockdownLatch>,
    /// The admin's mode override.
    pub mode_override: Option<ModeOverride>,
    /// Learning paused for everyone.
    pub paused_all: Option<Pause>,
    /// Learning paused per owner.
    pub paused_owners: BTreeMap<Uid, Pause>,
    /// The last operating mode committed (not LOCKDOWN, not UNKNOWN): what tripwires judge a
    /// reading against, also the first reading after a restart or after the source was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_operating: Option<BoundaryMode>,
    /// The identities of the links present when the host last became AIRGAP or COLDROOM (as
    /// the detector names them): a link not among them appearing is a tripwire, across
    /// restarts too. None when not recorded (another source, or a store from before it was
    /// kept): then every link present counts as appeared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated_links: Option<BTreeSet<String>>,
}

impl Default for HostState {
    fn default() -> Self {
        Self {
            mode: EffectiveMode::Unknown,
            lockdown: None,
            mode_override: None,
            paused_all: None,
            paused_owners: BTreeMap::new(),
            last_operating: None,
            isolated_links: None,
        }
    }
}

/// An announcement to make once a change is committed: the bus turns these into signals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A contract changed state or suspension.
    ContractChanged {
        /// The contract.
        id: ContractId,
        /// Its new state.
        state: super::contract::ContractState,
        /// Its suspension reasons after the change.
        suspension: Vec<&'static str>,
        /// Why it changed.
        reason: String,
    },
    /// The effective mode changed.
    ModeChanged {
        /// Before.
        old: EffectiveMode,
        /// After.
        new: EffectiveMode,
        /// Why.
        reason: String,
    },
    /// Contracts gained a suspension reason (`mode`, `lockdown` or `pause`).
    ContractsSuspended {
        /// The contracts, sorted.
        ids: Vec<ContractId>,
        /// The suspension reason's wire name.
        reason: &'static str,
    },
    /// Contracts lost a suspension reason.
    ContractsResumed {
        /// The contracts, sorted.
        ids: Vec<ContractId>,
    },
    /// Memories of a contract changed status.
    MemoriesChanged {
        /// The contract they belong to.
        contract_id: ContractId,
        /// Their new status.
        status: MemoryStatus,
        /// The memories, sorted.
        memory_ids: Vec<String>,
    },
    /// A session ended.
    SessionEnded {
        /// The session.
        session_id: SessionId,
        /// The owner whose contracts it served (its signal goes to the owner's listeners).
        owner: Uid,
        /// Its contracts that expired.
        expired_contract_ids: Vec<ContractId>,
    },
    /// A lockdown was latched (by an admin, or by a tripwire when `by` is none).
    LockdownLatched {
        /// Why.
        reason: String,
        /// The admin's uid; none for a tripwire.
        by: Option<Uid>,
    },
    /// A latched lockdown was released by an admin.
    LockdownReleased {
        /// Why.
        reason: String,
    },
    /// Lockdown, pause or override state changed.
    HostChanged,
}

/// A change to session bookkeeping (sessions live in memory only: they die with their bus
/// connection, and so with the daemon).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionUpdate {
    /// A session was opened.
    Opened(Session),
    /// A session ended.
    Ended(SessionId),
}

/// Everything one decided mutation consists of.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// When it was decided.
    pub at: Option<Timestamp>,
    /// Contracts to write, as full new versions.
    pub contracts: Vec<Contract>,
    /// Memory records to write, as full new versions.
    pub memories: Vec<MemoryRecord>,
    /// Memory records to delete, keeping nothing of them (a deep purge).
    pub purged: Vec<PurgedMemory>,
    /// The new host state, when it changes.
    pub host: Option<HostState>,
    /// Session bookkeeping.
    pub sessions: Vec<SessionUpdate>,
    /// Audit records to append.
    pub audit: Vec<AuditEvent>,
    /// Announcements to make after the commit.
    pub events: Vec<Event>,
}

impl Change {
    /// An empty change decided at `at`.
    pub fn at(at: Timestamp) -> Self {
        Self {
            at: Some(at),
            ..Self::default()
        }
    }

    /// Adds an audit record.
    pub fn audit(
        &mut self,
        caller: &Caller,
        action: &'static str,
        contract_id: Option<&str>,
        details: serde_json::Value,
    ) {
        self.audit.push(AuditEvent {
            caller: caller.clone(),
            action,
            contract_id: contract_id.map(str::to_string),
            details,
        });
    }

    /// Whether the store has anything to write.
    pub fn needs_commit(&self) -> bool {
        !(self.contracts.is_empty()
            && self.memories.is_empty()
            && self.purged.is_empty()
            && self.host.is_none()
            && self.audit.is_empty())
    }
}
