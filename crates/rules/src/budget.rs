//! What one owner may hold of what all share (SEMANTICS section 12): per-owner budgets for
//! contracts in Draft or Review and for active memory records, and which changes the store
//! guard holds back when the store runs short of room. Both judge a planned [`Change`] before
//! it is committed, so every path that adds a draft or a memory meets the same rule.

use super::change::Change;
use super::contract::{Contract, ContractState, Uid};
use super::error::CoreError;
use super::memory::{MemoryRecord, MemoryStatus};
use super::registry::Registry;
use std::collections::HashMap;

/// Per-owner budgets. Admins are not limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerBudgets {
    /// The most contracts one owner may have in Draft or Review.
    pub max_open_drafts: usize,
    /// The most active memory records one owner may have.
    pub max_active_memories: usize,
    /// The most changes that draw on shared room (see [`draws_on_shared_room`]) one caller uid
    /// may make per minute: bounds what cycles that keep the counts level (a session opened
    /// and ended, a draft edited over and over) add to the audit log.
    pub max_writes_per_minute: u32,
}

impl Default for OwnerBudgets {
    fn default() -> Self {
        Self {
            max_open_drafts: 1000,
            max_active_memories: 100_000,
            max_writes_per_minute: 1200,
        }
    }
}

/// How long one window of [`WriteRate`] lasts.
const RATE_WINDOW_MS: i64 = 60_000;
/// Past this many uids, windows that are over are dropped.
const RATE_UIDS_KEPT: usize = 4096;

/// Changes per caller uid in the current one-minute window (a fixed window from the uid's
/// first change in it). Pure: the clock is passed in.
#[derive(Debug, Default)]
pub struct WriteRate {
    windows: HashMap<Uid, (super::time::Timestamp, u32)>,
}

impl WriteRate {
    /// Counts one change of `uid` at `now` when fewer than `per_minute` were made in its
    /// window; answers whether it may be made. A clock stepped back starts a new window.
    pub fn admit(&mut self, uid: Uid, now: super::time::Timestamp, per_minute: u32) -> bool {
        if self.windows.len() > RATE_UIDS_KEPT {
            self.windows
                .retain(|_, (start, _)| now >= *start && now < start.plus_millis(RATE_WINDOW_MS));
        }
        let (start, count) = self.windows.entry(uid).or_insert((now, 0));
        if now < *start || now >= start.plus_millis(RATE_WINDOW_MS) {
            *start = now;
            *count = 0;
        }
        if *count >= per_minute {
            return false;
        }
        *count += 1;
        true
    }
}

/// Actions an owner takes that add to the store and that the store guard holds back when room
/// runs short. Everything else (mode changes, lockdowns, pauses of everyone, revocations,
/// activations, expiry, session ends, purges, the aggregated audit) commits from the reserve.
const GUARDED_ACTIONS: &[&str] = &[
    "contract.create",
    "contract.update",
    "contract.submit",
    "contract.amend",
    "memory.register",
    "session.open",
    "session.bind",
    "learning.pause",
    "learning.resume",
];

/// How many contracts in Draft or Review and active memories each owner has, kept current as
/// the registry changes.
#[derive(Debug, Default)]
pub struct OwnerCounts {
    open_drafts: HashMap<Uid, usize>,
    active_memories: HashMap<Uid, usize>,
}

fn is_open_draft(state: ContractState) -> bool {
    matches!(state, ContractState::Draft | ContractState::Review)
}

fn step(counts: &mut HashMap<Uid, usize>, owner: Uid, up: bool) {
    let count = counts.entry(owner).or_default();
    *count = if up {
        count.saturating_add(1)
    } else {
        count.saturating_sub(1)
    };
    if *count == 0 {
        counts.remove(&owner);
    }
}

impl OwnerCounts {
    /// A contract replaced `old` (none when new).
    pub(crate) fn contract_put(&mut self, old: Option<&Contract>, new: &Contract) {
        if let Some(old) = old
            && is_open_draft(old.state)
        {
            step(&mut self.open_drafts, old.owner, false);
        }
        if is_open_draft(new.state) {
            step(&mut self.open_drafts, new.owner, true);
        }
    }

    /// A memory record was added (or re-added with a new status).
    pub(crate) fn memory_added(&mut self, memory: &MemoryRecord) {
        if memory.status == MemoryStatus::Active {
            step(&mut self.active_memories, memory.owner, true);
        }
    }

    /// A memory record was removed (or is about to be replaced).
    pub(crate) fn memory_removed(&mut self, memory: &MemoryRecord) {
        if memory.status == MemoryStatus::Active {
            step(&mut self.active_memories, memory.owner, false);
        }
    }

    /// The owner's contracts in Draft or Review.
    pub fn open_drafts(&self, owner: Uid) -> usize {
        self.open_drafts.get(&owner).copied().unwrap_or(0)
    }

    /// The owner's active memory records.
    pub fn active_memories(&self, owner: Uid) -> usize {
        self.active_memories.get(&owner).copied().unwrap_or(0)
    }
}

/// Whether an admin made the change: uid 0 (always an admin), or a system prohibition (only
/// an admin can create one). Admins of the admin group or of polkit are not told apart here:
/// asking the authorizer for every draft would cost a round trip and could prompt, so they are
/// budgeted like any owner for their own drafts and memories.
fn made_by_admin(change: &Change) -> bool {
    change.audit.iter().any(|record| {
        record.caller.uid == Some(0)
            || (record.action == "contract.create" && record.details["system"] == true)
    })
}

/// Whether `change` draws on the room all users share: an owner's action that adds to the
/// store, made by someone other than an admin. The store guard holds such changes back when
/// room runs short, and the write rate counts them.
pub fn draws_on_shared_room(change: &Change) -> bool {
    !made_by_admin(change)
        && change
            .audit
            .iter()
            .any(|record| GUARDED_ACTIONS.contains(&record.action))
}

impl Registry {
    /// Refuses a planned change with LimitReached when it would take an owner past a budget.
    /// Changes that only keep or lower the counts always pass, so revoking frees room at once.
    pub fn check_budgets(&self, change: &Change, budgets: &OwnerBudgets) -> Result<(), CoreError> {
        if made_by_admin(change) {
            return Ok(());
        }
        let mut new_drafts: HashMap<Uid, usize> = HashMap::new();
        // Only new drafts are looked up: a mode change touching every Active contract costs
        // nothing here.
        for contract in &change.contracts {
            if is_open_draft(contract.state)
                && !self
                    .contract(&contract.id)
                    .is_some_and(|old| is_open_draft(old.state))
            {
                *new_drafts.entry(contract.owner).or_default() += 1;
            }
        }
        for (owner, added) in new_drafts {
            let held = self.owner_counts().open_drafts(owner);
            if held.saturating_add(added) > budgets.max_open_drafts {
                return Err(CoreError::LimitReached(format!(
                    "owner {owner} already has {held} contracts in draft or review, the most \
                     allowed (limits.max_open_drafts_per_owner); submit for approval, withdraw \
                     or revoke some first"
                )));
            }
        }
        let mut new_memories: HashMap<Uid, usize> = HashMap::new();
        for memory in &change.memories {
            if memory.status == MemoryStatus::Active
                && !self
                    .memory(memory.owner, &memory.id)
                    .is_some_and(|old| old.status == MemoryStatus::Active)
            {
                *new_memories.entry(memory.owner).or_default() += 1;
            }
        }
        for (owner, added) in new_memories {
            let held = self.owner_counts().active_memories(owner);
            if held.saturating_add(added) > budgets.max_active_memories {
                return Err(CoreError::LimitReached(format!(
                    "owner {owner} already has {held} active memories, the most allowed \
                     (limits.max_memories_per_owner); revoke a contract or purge its memories \
                     first"
                )));
            }
        }
        Ok(())
    }
}
