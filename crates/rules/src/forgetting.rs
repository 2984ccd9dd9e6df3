//! Memory registration and forgetting (SEMANTICS.md section 9): the record of a new memory,
//! freezing, the revocation cascade, the hand-over on amendment, and the deep purge with its
//! one-time token.

use super::change::{Caller, Change};
use super::check::{CheckKind, CheckRequest, Code, Decision};
use super::contract::{Abstraction, Contract, ContractId, ContractState, MemoryId, Uid};
use super::error::CoreError;
use super::lifecycle::{Actor, push_memories_event};
use super::memory::{MemoryRecord, MemoryStatus, PURGED_SOURCE, PurgedMemory, ShredKey};
use super::registry::Registry;
use super::scope::Name;
use super::time::{Monotonic, Now, Timestamp};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// How long a purge token stays valid.
pub const PURGE_TOKEN_MILLIS: i64 = 2 * 60 * 1000;

/// The most memories one memory may name as its sources.
pub const MAX_DERIVED_FROM: usize = 256;

/// The planned registration of a memory: the decision, and the change to commit (the record
/// when allowed, the denial's audit record otherwise).
#[derive(Debug)]
pub struct Registration {
    /// The creation (and abstraction) decision.
    pub decision: Decision,
    /// The memory id used.
    pub memory_id: MemoryId,
    /// What to commit.
    pub change: Change,
}

impl Registry {
    /// Plans RegisterMemory: the creation check, the abstraction check above RAW, the sources'
    /// availability, and the record, decided together so that they commit in one transaction.
    /// The memory id is the owner's own: only the owner's memories can make it exist already.
    /// `shred` is a fresh random key for the memory (see [`ShredKey`]): its details go into
    /// the audit record sealed under it, and each derivation link sealed under the source's
    /// key as well, so purging either memory makes the link unreadable.
    pub fn plan_register_memory(
        &self,
        caller: &Caller,
        request: &CheckRequest,
        memory_id: MemoryId,
        derived_from: &[MemoryId],
        shred: ShredKey,
        now: Timestamp,
    ) -> Result<Registration, CoreError> {
        if derived_from.len() > MAX_DERIVED_FROM {
            return Err(CoreError::InvalidArgument {
                key: "derived_from".into(),
                message: format!(
                    "names {} memories; at most {MAX_DERIVED_FROM}",
                    derived_from.len()
                ),
            });
        }
        if self.memory(request.owner, &memory_id).is_some() {
            return Err(CoreError::AlreadyExists {
                what: "memory",
                id: memory_id,
            });
        }
        let mut decision = self.check(CheckKind::MemoryCreation, request, now);
        if decision.allowed && request.abstraction > Abstraction::Raw {
            decision = self.check(CheckKind::Abstraction, request, now);
        }
        if decision.allowed
            && let Some(refusal) = self.refuse_sources(request, &decision, derived_from, now)
        {
            decision = refusal;
        }
        let mut change = Change::at(now);
        if !decision.allowed {
            change.audit.push(denial_audit(
                caller,
                CheckKind::MemoryCreation,
                request,
                &decision,
            ));
            return Ok(Registration {
                decision,
                memory_id,
                change,
            });
        }
        let contract_id = decision.contract_id.clone().unwrap_or_default();
        let record = MemoryRecord {
            id: memory_id.clone(),
            contract_id: contract_id.clone(),
            owner: request.owner,
            domain: request.domain.clone(),
            context: request.context.clone(),
            classification: request.classification,
            abstraction: request.abstraction,
            derived_from: derived_from.to_vec(),
            status: MemoryStatus::Active,
            created: now,
            shred,
        };
        // Each link sealed under its source's key, inside the whole sealed under this one's.
        let links: Vec<String> = derived_from
            .iter()
            .filter_map(|id| self.memory(request.owner, id))
            .map(|source| source.shred.seal(&source.id))
            .collect();
        let sealed = record.shred.seal(
            &json!({
                "memory_id": memory_id,
                "domain": record.domain,
                "context": record.context,
                "derived_from": links,
            })
            .to_string(),
        );
        change.audit(
            caller,
            "memory.register",
            Some(&contract_id),
            json!({
                "memory": sealed,
                "classification": record.classification.wire(),
                "abstraction": record.abstraction.as_str(),
                "sources": record.derived_from.len(),
            }),
        );
        change.memories.push(record);
        Ok(Registration {
            decision,
            memory_id,
            change,
        })
    }

    /// Why a memory allowed so far (`decision`, which names its contract) may not be derived
    /// from `sources`, if it may not (SEMANTICS.md section 9): a derived memory is never
    /// looser than its sources. Each source must be the owner's and active; its class must be
    /// at most the new memory's; it must be recallable now under its own contract (the
    /// ordinary recall check of a named memory: active, not suspended, allowed by the mode,
    /// not prohibited); and the new memory's contract must be able to recall what the source
    /// holds (its domain, context and class) now. Presence is not asked: deriving shows no
    /// one anything. A source of another owner is answered as one that does not exist.
    fn refuse_sources(
        &self,
        request: &CheckRequest,
        decision: &Decision,
        sources: &[MemoryId],
        now: Timestamp,
    ) -> Option<Decision> {
        let refuse = |code, reason: String| {
            Some(Decision {
                allowed: false,
                code,
                reason,
                contract_id: decision.contract_id.clone(),
            })
        };
        for id in sources {
            let Some(source) = self
                .memory(request.owner, id)
                .filter(|m| m.owner == request.owner && m.status == MemoryStatus::Active)
            else {
                return refuse(
                    Code::MemoryUnavailable,
                    format!("Source memory {id} is not available to derive from."),
                );
            };
            if source.classification > request.classification {
                return refuse(
                    Code::SourceClass,
                    format!(
                        "Source memory {id} is class {}; a memory derived from it must be at least that, not {}.",
                        source.classification.wire(),
                        request.classification.wire()
                    ),
                );
            }
            let what_it_holds = CheckRequest {
                owner: request.owner,
                domain: source.domain.clone(),
                context: source.context.clone(),
                tool: None,
                classification: source.classification,
                contract_id: None,
                abstraction: source.abstraction,
                memory_id: None,
                owner_present: true,
            };
            let under_its_own = CheckRequest {
                contract_id: Some(source.contract_id.clone()),
                memory_id: Some(source.id.clone()),
                ..what_it_holds.clone()
            };
            let under_the_new = CheckRequest {
                contract_id: decision.contract_id.clone(),
                ..what_it_holds
            };
            for (source_request, whose) in [
                (under_its_own, "its own contract"),
                (under_the_new, "this memory's contract"),
            ] {
                let recall = self.check(CheckKind::Recall, &source_request, now);
                if !recall.allowed {
                    return refuse(
                        recall.code,
                        format!(
                            "Source memory {id} cannot be recalled now under {whose}: {}",
                            recall.reason
                        ),
                    );
                }
            }
        }
        None
    }

    /// Writes `status` into copies of `memories`, adds them to `change`, returns their ids.
    pub(crate) fn set_status<'a>(
        &self,
        memories: impl Iterator<Item = &'a MemoryRecord>,
        status: MemoryStatus,
        change: &mut Change,
    ) -> Vec<MemoryId> {
        let mut ids = Vec::new();
        for memory in memories {
            let mut next = memory.clone();
            next.status = status;
            ids.push(next.id.clone());
            change.memories.push(next);
        }
        ids
    }

    /// The hand-over on amendment: the old version's memories move to the new one; those the
    /// new scope, cap or maximum abstraction no longer covers are frozen.
    pub(crate) fn move_memories(&self, old: &Contract, new: &Contract, change: &mut Change) {
        let cap = new.classification_cap();
        let max = new.max_abstraction();
        let mut frozen = Vec::new();
        for memory in self.memories_of(&old.id) {
            let mut moved = memory.clone();
            moved.contract_id = new.id.clone();
            let covered =
                new.spec
                    .scope
                    .covers(memory.domain.as_str(), memory.context.as_str(), None)
                    && cap.is_some_and(|cap| memory.classification <= cap)
                    && max.is_some_and(|max| memory.abstraction <= max);
            if !covered && moved.status == MemoryStatus::Active {
                moved.status = MemoryStatus::Frozen;
                frozen.push(moved.id.clone());
            }
            change.memories.push(moved);
        }
        push_memories_event(change, &new.id, MemoryStatus::Frozen, frozen);
    }

    /// The revocation cascade: the contract's memories are tombstoned, its heuristics and
    /// strategies invalidated, and every memory derived from them, directly or through other
    /// derived memories, in any contract, quarantined.
    pub(crate) fn revoke_memories(&self, contract: &Contract, change: &mut Change) {
        let own: Vec<&MemoryRecord> = self
            .memories_of(&contract.id)
            .filter(|m| matches!(m.status, MemoryStatus::Active | MemoryStatus::Frozen))
            .collect();
        let (generalized, plain): (Vec<&MemoryRecord>, Vec<&MemoryRecord>) = own
            .iter()
            .partition(|m| m.abstraction >= Abstraction::Heuristic);
        let tombstoned = self.set_status(plain.into_iter(), MemoryStatus::Tombstoned, change);
        let invalidated =
            self.set_status(generalized.into_iter(), MemoryStatus::Invalidated, change);
        push_memories_event(change, &contract.id, MemoryStatus::Tombstoned, tombstoned);
        push_memories_event(change, &contract.id, MemoryStatus::Invalidated, invalidated);

        let mut seen: BTreeSet<(Uid, &str)> = self
            .memories_of(&contract.id)
            .map(|m| (m.owner, m.id.as_str()))
            .collect();
        let mut queue: VecDeque<(Uid, &str)> = seen.iter().copied().collect();
        let mut quarantined: BTreeMap<ContractId, Vec<MemoryId>> = BTreeMap::new();
        while let Some((owner, source)) = queue.pop_front() {
            for derived in self.derived_from(owner, source) {
                if !seen.insert((owner, derived.id.as_str())) {
                    continue;
                }
                queue.push_back((owner, derived.id.as_str()));
                if matches!(derived.status, MemoryStatus::Active | MemoryStatus::Frozen) {
                    let mut next = derived.clone();
                    next.status = MemoryStatus::Quarantined;
                    quarantined
                        .entry(next.contract_id.clone())
                        .or_default()
                        .push(next.id.clone());
                    change.memories.push(next);
                }
            }
        }
        for (contract_id, ids) in quarantined {
            push_memories_event(change, &contract_id, MemoryStatus::Quarantined, ids);
        }
    }

    /// Checks that a deep purge may be asked for: the owner with human confirmation, or an
    /// admin, and the contract Revoked or Expired (never Active).
    pub fn purge_allowed(&self, actor: &Actor, contract_id: &str) -> Result<&Contract, CoreError> {
        let contract = self.visible_contract(actor, contract_id)?;
        let owner_confirmed = contract.owner == actor.uid && actor.confirmed;
        if !(owner_confirmed || actor.admin) {
            return Err(CoreError::AccessDenied(
                "a deep purge needs the owner's interactive confirmation, or an admin".into(),
            ));
        }
        if !matches!(
            contract.state,
            ContractState::Revoked | ContractState::Expired
        ) {
            return Err(CoreError::state(format!(
                "contract {contract_id} is {}; only a revoked or expired contract's memories can be purged",
                contract.state
            )));
        }
        Ok(contract)
    }

    /// Plans the audit record of a purge token being issued (never the token itself).
    pub fn plan_purge_request(
        &self,
        actor: &Actor,
        contract_id: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        self.purge_allowed(actor, contract_id)?;
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            "memory.purge_requested",
            Some(contract_id),
            json!({"valid_seconds": PURGE_TOKEN_MILLIS / 1000}),
        );
        Ok(change)
    }

    /// Plans the deep purge itself, once the token was redeemed: every memory record of the
    /// contract is deleted, nothing of it kept, and the links other memories hold to them
    /// become [`PURGED_SOURCE`]. Their sealed audit details become unreadable with the records'
    /// keys (see [`ShredKey`]); the audit keeps who purged how many, of which contract, when.
    pub fn plan_purge(
        &self,
        actor: &Actor,
        contract_id: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let contract = self.purge_allowed(actor, contract_id)?;
        let mut change = Change::at(now);
        let mut ids = Vec::new();
        let gone: BTreeSet<(Uid, &str)> = self
            .memories_of(&contract.id)
            .map(|m| (m.owner, m.id.as_str()))
            .collect();
        // Memories of other contracts derived from the purged ones keep an opaque link.
        let mut relinked: BTreeMap<(Uid, &str), MemoryRecord> = BTreeMap::new();
        for &(owner, id) in &gone {
            for derived in self.derived_from(owner, id) {
                if gone.contains(&(owner, derived.id.as_str())) {
                    continue;
                }
                let next = relinked
                    .entry((owner, derived.id.as_str()))
                    .or_insert_with(|| derived.clone());
                for link in next.derived_from.iter_mut().filter(|link| *link == id) {
                    *link = PURGED_SOURCE.to_string();
                }
            }
        }
        change.memories.extend(relinked.into_values());
        for (owner, id) in gone {
            ids.push(id.to_string());
            change.purged.push(PurgedMemory {
                owner,
                id: id.to_string(),
            });
        }
        change.audit(
            &actor.caller,
            "memory.purge",
            Some(contract_id),
            json!({"count": ids.len()}),
        );
        push_memories_event(&mut change, contract_id, MemoryStatus::Purged, ids);
        Ok(change)
    }
}

/// The audit record of a denied check (every denial is audited with its code).
pub fn denial_audit(
    caller: &Caller,
    kind: CheckKind,
    request: &CheckRequest,
    decision: &Decision,
) -> super::change::AuditEvent {
    super::change::AuditEvent {
        caller: caller.clone(),
        action: "check.denied",
        contract_id: decision.contract_id.clone(),
        details: json!({
            "check": kind.as_str(),
            "code": decision.code.as_str(),
            "owner": request.owner,
            "domain": request.domain,
            "context": request.context,
            "tool": request.tool.as_ref().map(Name::as_str),
            "classification": request.classification.wire(),
        }),
    }
}

/// Pending deep-purge tokens. Held in memory only (a restart voids them), keyed by a hash of
/// the token so the token itself is not kept; never logged.
#[derive(Debug, Default)]
pub struct PurgeTokens {
    pending: HashMap<[u8; 32], PendingPurge>,
}

#[derive(Debug, Clone)]
struct PendingPurge {
    caller: Uid,
    contract_id: ContractId,
    /// On the monotonic clock, so a wall-clock step can neither stretch nor cut the two minutes.
    expires: Monotonic,
}

impl PurgeTokens {
    /// Issues a token for `caller` and `contract_id` from 32 random bytes, valid for two
    /// minutes of the monotonic clock from `now`. Expired tokens are dropped on the way.
    pub fn issue(&mut self, caller: Uid, contract_id: &str, now: Now, secret: [u8; 32]) -> String {
        let now = now.mono;
        self.pending.retain(|_, pending| pending.expires > now);
        let token = hex::encode(secret);
        self.pending.insert(
            Self::key(&token),
            PendingPurge {
                caller,
                contract_id: contract_id.to_string(),
                expires: now.plus_millis(PURGE_TOKEN_MILLIS),
            },
        );
        token
    }

    /// Redeems a token. Any presentation of a known token uses it up, even a failed one, so a
    /// token seen by the wrong party cannot be tried again.
    pub fn redeem(
        &mut self,
        token: &str,
        caller: Uid,
        contract_id: &str,
        now: Now,
    ) -> Result<(), CoreError> {
        let now = now.mono;
        let pending = self
            .pending
            .remove(&Self::key(token))
            .ok_or(CoreError::TokenInvalid)?;
        if pending.caller != caller || pending.contract_id != contract_id || now >= pending.expires
        {
            return Err(CoreError::TokenInvalid);
        }
        Ok(())
    }

    /// How many tokens are pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no token is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }
}
