//! The contract lifecycle (SEMANTICS.md section 5) as planning functions: each checks who may
//! do what in which state, and returns the [`Change`] to commit. Nothing changes until the
//! store has committed it and the registry applied it.

use super::change::{Caller, Change, Event};
use super::contract::{
    Contract, ContractId, ContractKind, ContractSpec, ContractState, RetentionKind, SpecPatch, Uid,
};
use super::error::CoreError;
use super::memory::MemoryStatus;
use super::registry::Registry;
use super::time::Timestamp;
use serde_json::json;

/// Who is acting, with what the authorizer established about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// The caller as the bus reported it.
    pub caller: Caller,
    /// The caller's uid (the owner of anything it creates).
    pub uid: Uid,
    /// The authorizer granted admin rights for this action.
    pub admin: bool,
    /// The caller passed an interactive human confirmation for this action (polkit
    /// `auth_self`; in unix mode, being the owner's own uid).
    pub confirmed: bool,
}

impl Actor {
    /// An ordinary local user, with no admin rights and no confirmation.
    pub fn user(uid: Uid) -> Self {
        Self {
            caller: Caller::uid(uid),
            uid,
            admin: false,
            confirmed: false,
        }
    }

    /// The same user, having passed an interactive confirmation.
    pub fn confirmed(mut self) -> Self {
        self.confirmed = true;
        self
    }

    /// An admin.
    pub fn admin(uid: Uid) -> Self {
        Self {
            admin: true,
            ..Self::user(uid)
        }
    }

    /// The daemon itself (tripwires, expiry): admin rights, no uid of its own.
    pub fn daemon() -> Self {
        Self {
            caller: Caller::daemon(),
            uid: 0,
            admin: true,
            confirmed: false,
        }
    }
}

/// Builds the ContractChanged event for a new version of a contract.
pub(crate) fn contract_event(registry: &Registry, contract: &Contract, reason: &str) -> Event {
    Event::ContractChanged {
        id: contract.id.clone(),
        state: contract.state,
        suspension: registry.suspension(contract).names(),
        reason: reason.to_string(),
    }
}

impl Registry {
    /// A contract the actor may see, or NotFound (never revealing that it exists).
    pub fn visible_contract(&self, actor: &Actor, id: &str) -> Result<&Contract, CoreError> {
        self.contract(id)
            .filter(|c| self.is_visible(c, actor.uid, actor.admin))
            .ok_or_else(|| CoreError::not_found("contract", id))
    }

    /// A contract the actor owns; an admin who is not the owner is told why, others NotFound.
    fn owned_contract(
        &self,
        actor: &Actor,
        id: &str,
        action: &str,
    ) -> Result<&Contract, CoreError> {
        let contract = self.visible_contract(actor, id)?;
        if contract.owner != actor.uid {
            return Err(CoreError::AccessDenied(format!(
                "only the owner of contract {id} can {action} it"
            )));
        }
        Ok(contract)
    }

    /// Plans a new Draft owned by the actor, with id `new_id`.
    pub fn plan_create_draft(
        &self,
        actor: &Actor,
        kind: ContractKind,
        patch: &SpecPatch,
        new_id: ContractId,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        if patch.system == Some(true) && !actor.admin {
            return Err(CoreError::AccessDenied(
                "only an admin can create a system prohibition".into(),
            ));
        }
        if self.contract(&new_id).is_some() {
            return Err(CoreError::AlreadyExists {
                what: "contract",
                id: new_id,
            });
        }
        let spec = ContractSpec::default().patched(patch);
        reject_problems(spec.problems(kind, false, now))?;
        let contract = Contract {
            id: new_id,
            owner: actor.uid,
            kind,
            state: ContractState::Draft,
            spec,
            created: now,
            updated: now,
            activated: None,
            ended: None,
            supersedes: None,
            superseded_by: None,
            session: None,
        };
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            "contract.create",
            Some(&contract.id),
            json!({"kind": kind.as_str(), "owner": actor.uid, "system": contract.spec.system}),
        );
        change
            .events
            .push(contract_event(self, &contract, "created"));
        change.contracts.push(contract);
        Ok(change)
    }

    /// Plans an edit of a Draft by its owner.
    pub fn plan_update_draft(
        &self,
        actor: &Actor,
        id: &str,
        patch: &SpecPatch,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let current = self.owned_contract(actor, id, "edit")?;
        expect_state(current, &[ContractState::Draft], "edit")?;
        if patch
            .system
            .is_some_and(|system| system != current.spec.system)
            && !actor.admin
        {
            return Err(CoreError::AccessDenied(
                "only an admin can change whether a prohibition applies to every owner".into(),
            ));
        }
        let spec = current.spec.patched(patch);
        reject_problems(spec.problems(current.kind, false, now))?;
        let mut updated = current.clone();
        updated.spec = spec;
        updated.updated = now;
        let mut change = Change::at(now);
        change.audit(&actor.caller, "contract.update", Some(id), json!({}));
        change.events.push(contract_event(self, &updated, "edited"));
        change.contracts.push(updated);
        Ok(change)
    }

    /// Plans Draft → Review by the owner; full validation runs here.
    pub fn plan_submit(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let current = self.owned_contract(actor, id, "submit")?;
        expect_state(current, &[ContractState::Draft], "submit")?;
        reject_problems(current.spec.problems(current.kind, true, now))?;
        self.plan_transition(
            actor,
            current,
            ContractState::Review,
            ("contract.submit", "submitted for review", json!({})),
            now,
        )
    }

    /// Plans Review → Draft ("request changes") by the owner or an admin.
    pub fn plan_return_to_draft(
        &self,
        actor: &Actor,
        id: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let current = self.visible_contract(actor, id)?;
        require_owner_or_admin(actor, current, "return to draft")?;
        expect_state(current, &[ContractState::Review], "return to draft")?;
        self.plan_transition(
            actor,
            current,
            ContractState::Draft,
            ("contract.return", note, json!({"note": note})),
            now,
        )
    }

    /// A plain state change; `audit` is the action, the reason announced and the details.
    fn plan_transition(
        &self,
        actor: &Actor,
        current: &Contract,
        state: ContractState,
        audit: (&'static str, &str, serde_json::Value),
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let (action, reason, details) = audit;
        let mut next = current.clone();
        next.state = state;
        next.updated = now;
        let mut change = Change::at(now);
        change.audit(&actor.caller, action, Some(&current.id), details);
        change.events.push(contract_event(self, &next, reason));
        change.contracts.push(next);
        Ok(change)
    }

    /// Plans Review → Active, by the owner with human confirmation or by an admin. An
    /// amendment hands over in the same change: the new version Active, the old one Amended,
    /// the old one's memories moved (and frozen where the new terms no longer cover them).
    pub fn plan_activate(
        &self,
        actor: &Actor,
        id: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let current = self.visible_contract(actor, id)?;
        let owner_confirmed = current.owner == actor.uid && actor.confirmed;
        if !(owner_confirmed || actor.admin) {
            return Err(CoreError::AccessDenied(
                "activation needs the owner's interactive confirmation, or an admin".into(),
            ));
        }
        expect_state(current, &[ContractState::Review], "activate")?;
        reject_problems(current.spec.problems(current.kind, true, now))?;
        let mut next = current.clone();
        next.state = ContractState::Active;
        next.activated = Some(now);
        next.updated = now;
        let mut change = Change::at(now);
        if let Some(old_id) = &current.supersedes {
            let old = self
                .contract(old_id)
                .filter(|old| old.state == ContractState::Active && !old.is_past_end(now))
                .ok_or_else(|| {
                    CoreError::state(format!(
                        "contract {id} amends {old_id}, which is no longer active; revoke this draft and create a new contract"
                    ))
                })?;
            let mut retired = old.clone();
            retired.state = ContractState::Amended;
            retired.superseded_by = Some(next.id.clone());
            retired.ended = Some(now);
            retired.updated = now;
            // A session contract's amendment keeps its session; an amendment to another
            // retention is bound to none, or it would expire when the old session ends.
            next.session = if next.spec.retention == Some(RetentionKind::Session) {
                old.session.clone()
            } else {
                None
            };
            self.move_memories(old, &next, &mut change);
            change.audit(
                &actor.caller,
                "contract.amended",
                Some(old_id),
                json!({"superseded_by": next.id}),
            );
            change
                .events
                .push(contract_event(self, &retired, "amended"));
            change.contracts.push(retired);
        }
        change.audit(
            &actor.caller,
            "contract.activate",
            Some(id),
            json!({"confirmed": owner_confirmed, "admin": actor.admin, "supersedes": current.supersedes}),
        );
        change.events.push(contract_event(self, &next, "activated"));
        change.contracts.push(next);
        Ok(change)
    }

    /// Plans an amendment: a new Draft of the same kind and owner that supersedes an Active
    /// contract. The old one stays Active until the new one is activated.
    pub fn plan_amend(
        &self,
        actor: &Actor,
        id: &str,
        patch: &SpecPatch,
        new_id: ContractId,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let current = self.owned_contract(actor, id, "amend")?;
        if current.kind == ContractKind::Prohibited {
            return Err(CoreError::NotRevocable { id: id.to_string() });
        }
        expect_state(current, &[ContractState::Active], "amend")?;
        if patch.system == Some(true) {
            return Err(CoreError::AccessDenied(
                "an amendment cannot turn a contract into a system prohibition".into(),
            ));
        }
        let spec = current.spec.patched(patch);
        reject_problems(spec.problems(current.kind, false, now))?;
        let draft = Contract {
            id: new_id,
            owner: current.owner,
            kind: current.kind,
            state: ContractState::Draft,
            spec,
            created: now,
            updated: now,
            activated: None,
            ended: None,
            supersedes: Some(current.id.clone()),
            superseded_by: None,
            session: None,
        };
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            "contract.amend",
            Some(&draft.id),
            json!({"supersedes": current.id}),
        );
        change
            .events
            .push(contract_event(self, &draft, "amendment drafted"));
        change.contracts.push(draft);
        Ok(change)
    }

    /// Plans a revocation by the owner or an admin: Draft or Review (withdrawn before use), or
    /// Active (not for prohibitions), with the forgetting cascade.
    pub fn plan_revoke(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let current = self.visible_contract(actor, id)?;
        require_owner_or_admin(actor, current, "revoke")?;
        if current.state == ContractState::Active && current.kind == ContractKind::Prohibited {
            return Err(CoreError::NotRevocable { id: id.to_string() });
        }
        expect_state(
            current,
            &[
                ContractState::Draft,
                ContractState::Review,
                ContractState::Active,
            ],
            "revoke",
        )?;
        let mut next = current.clone();
        next.state = ContractState::Revoked;
        next.ended = Some(now);
        next.updated = now;
        let mut change = Change::at(now);
        if current.state == ContractState::Active {
            self.revoke_memories(current, &mut change);
        }
        change.audit(
            &actor.caller,
            "contract.revoke",
            Some(id),
            json!({"reason": reason, "from": current.state.as_str()}),
        );
        change.events.push(contract_event(self, &next, reason));
        change.contracts.push(next);
        Ok(change)
    }

    /// Plans the expiry of every Active timebound contract whose end is at or before `now`,
    /// freezing their memories. `None` when nothing is due.
    pub fn plan_expire_due(&self, now: Timestamp) -> Option<Change> {
        let due: Vec<&Contract> = self.due_for_expiry(now).collect();
        if due.is_empty() {
            return None;
        }
        let mut change = Change::at(now);
        for contract in due {
            self.expire_into(contract, "retention end reached", now, &mut change);
        }
        Some(change)
    }

    /// Adds the expiry of an Active contract, and the freezing of its memories, to `change`.
    pub(crate) fn expire_into(
        &self,
        contract: &Contract,
        reason: &str,
        now: Timestamp,
        change: &mut Change,
    ) {
        let mut next = contract.clone();
        next.state = ContractState::Expired;
        next.ended = Some(now);
        next.updated = now;
        let frozen = self.set_status(
            self.memories_of(&contract.id)
                .filter(|m| m.status == MemoryStatus::Active),
            MemoryStatus::Frozen,
            change,
        );
        change.audit(
            &Caller::daemon(),
            "contract.expire",
            Some(&contract.id),
            json!({"reason": reason, "frozen_memories": frozen.len()}),
        );
        push_memories_event(change, &contract.id, MemoryStatus::Frozen, frozen);
        change.events.push(contract_event(self, &next, reason));
        change.contracts.push(next);
    }

    /// Plans what a restart requires before anything else: sessions do not survive the daemon,
    /// so Active contracts bound to a session expire; timebound contracts past their end expire.
    pub fn plan_recovery(&self, now: Timestamp) -> Option<Change> {
        let mut change = self.plan_expire_due(now).unwrap_or_else(|| Change::at(now));
        let expired: std::collections::HashSet<ContractId> =
            change.contracts.iter().map(|c| c.id.clone()).collect();
        let mut orphaned: Vec<&Contract> = self
            .active_contracts()
            .filter(|c| {
                c.spec.retention == Some(RetentionKind::Session)
                    && c.session.is_some()
                    && !expired.contains(&c.id)
            })
            .collect();
        orphaned.sort_by(|a, b| a.id.cmp(&b.id));
        for contract in orphaned {
            self.expire_into(
                contract,
                "session ended: the daemon restarted",
                now,
                &mut change,
            );
        }
        change.needs_commit().then_some(change)
    }
}

pub(crate) fn push_memories_event(
    change: &mut Change,
    contract_id: &str,
    status: MemoryStatus,
    mut ids: Vec<String>,
) {
    if ids.is_empty() {
        return;
    }
    ids.sort();
    change.events.push(Event::MemoriesChanged {
        contract_id: contract_id.to_string(),
        status,
        memory_ids: ids,
    });
}

fn expect_state(
    contract: &Contract,
    allowed: &[ContractState],
    action: &str,
) -> Result<(), CoreError> {
    if allowed.contains(&contract.state) {
        return Ok(());
    }
    let wanted: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Err(CoreError::state(format!(
        "contract {} is {}; only a contract that is {} can {action}",
        contract.id,
        contract.state,
        wanted.join(" or ")
    )))
}

fn require_owner_or_admin(
    actor: &Actor,
    contract: &Contract,
    action: &str,
) -> Result<(), CoreError> {
    if actor.admin || contract.owner == actor.uid {
        Ok(())
    } else {
        Err(CoreError::AccessDenied(format!(
            "only the owner of contract {} or an admin can {action} it",
            contract.id
        )))
    }
}

fn reject_problems(problems: Vec<super::contract::SpecProblem>) -> Result<(), CoreError> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CoreError::InvalidSpec { problems })
    }
}
