//! Host-wide operations (SEMANTICS.md sections 8 and 11): applying a new effective mode with
//! its suspensions and resumptions, the latched lockdown, the admin override and the pauses.
//!
//! Suspension reasons are derived from the committed host state, so a mode change commits as
//! one record (plus its audit entry naming every contract affected): a check can never see a
//! new mode with old suspensions or the reverse.

use super::change::{Change, Event, HostState, LockdownLatch, ModeOverride, Pause};
use super::contract::{Contract, ContractId, Uid};
use super::error::CoreError;
use super::lifecycle::Actor;
use super::mode::{BoundaryMode, EffectiveMode, combine_mode};
use super::registry::Registry;
use super::time::Timestamp;
use serde_json::json;

/// At most this many contract ids per list in a mode change's audit record; the counts are
/// always complete. Which contracts a mode suspends follows from the mode and each contract's
/// own audited terms, so the lists are a convenience, and unbounded they would add megabytes
/// per mode change on a host with 100,000 contracts.
pub const MAX_AUDITED_IDS: usize = 1000;

/// Whose learning a pause concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseScope {
    /// One owner's.
    Owner(Uid),
    /// Everyone's (admin).
    All,
}

impl Registry {
    /// Plans the move to a new effective mode: the mode, and the contracts it suspends and
    /// resumes, as one change. `None` when the mode does not change. `new` is combined here,
    /// against the committed state, with the override and the latch: a plan made from an older
    /// snapshot can never lift a lockdown committed since, nor claim more than an override
    /// allows.
    pub fn plan_mode_change(
        &self,
        new: EffectiveMode,
        reason: &str,
        now: Timestamp,
    ) -> Option<Change> {
        let host = self.host();
        let new = combine_mode(
            new,
            host.mode_override.as_ref().map(|o| o.mode),
            host.lockdown.is_some(),
        );
        let old = self.mode();
        if old == new {
            return None;
        }
        let reason = match &host.lockdown {
            Some(latch) => format!("lockdown latched: {}", latch.reason),
            None => reason.to_string(),
        };
        let mut change = Change::at(now);
        self.mode_transition_into(old, new, &reason, host.clone(), &mut change);
        Some(change)
    }

    /// Plans the move to the mode a settled reading means: `settled` combined with the
    /// committed override and latch, and never looser than the newest reading (which may have
    /// arrived after `settled` was decided). `explanation` is the reading's own reason.
    pub fn plan_settled_reading(
        &self,
        settled: EffectiveMode,
        explanation: &str,
        now: Timestamp,
    ) -> Option<Change> {
        let host = self.host();
        let lowered = host.mode_override.as_ref().map(|o| o.mode);
        let mut target = combine_mode(settled, lowered, host.lockdown.is_some());
        if let Some(newest) = self.newest_mode() {
            target = target.most_restrictive(newest);
        }
        let reason = match (&host.mode_override, target) {
            (Some(o), EffectiveMode::Known(mode)) if host.lockdown.is_none() && mode == o.mode => {
                format!("admin override to {}: {}", o.mode, o.reason)
            }
            _ => explanation.to_string(),
        };
        self.plan_mode_change(target, &reason, now)
    }

    /// The mode the host is in once `host` is committed: the newest reading combined with its
    /// override and latch. `None` before the first reading (the mode then stays as it is until
    /// one arrives).
    fn mode_for(&self, host: &HostState) -> Option<EffectiveMode> {
        self.reading().map(|reading| {
            combine_mode(
                reading,
                host.mode_override.as_ref().map(|o| o.mode),
                host.lockdown.is_some(),
            )
        })
    }

    /// Completes a change of the latch or the override: the effective mode it means is
    /// committed in the same transaction, so the caller's reply comes after it applies.
    fn host_change_into(&self, host: HostState, reason: &str, change: &mut Change) {
        match self.mode_for(&host) {
            Some(new) if new != self.mode() => {
                self.mode_transition_into(self.mode(), new, reason, host, change)
            }
            _ => change.host = Some(host),
        }
    }

    /// Adds a mode transition (host record, audit, announcements) to `change`.
    fn mode_transition_into(
        &self,
        old: EffectiveMode,
        new: EffectiveMode,
        reason: &str,
        mut host: HostState,
        change: &mut Change,
    ) {
        host.mode = new;
        if let Some(operating) = new.operating() {
            host.last_operating = Some(operating);
            // Entering (or staying in) isolation records the links present now, as the
            // newest reading shows them; its tripwires were judged before this commit.
            host.isolated_links = match operating {
                BoundaryMode::Airgap | BoundaryMode::Coldroom => self.reading_links().cloned(),
                _ => None,
            };
        }
        let mut to_lockdown = Vec::new();
        let mut to_mode = Vec::new();
        let mut resumed = Vec::new();
        for contract in self.active_contracts() {
            let before = self.mode_suspension(contract, old);
            let after = self.mode_suspension(contract, new);
            if before == after {
                continue;
            }
            if after.lockdown {
                to_lockdown.push(contract.id.clone());
            } else if after.mode {
                to_mode.push(contract.id.clone());
            } else {
                resumed.push(contract.id.clone());
            }
        }
        for list in [&mut to_lockdown, &mut to_mode, &mut resumed] {
            list.sort_unstable();
        }
        let listed = |ids: &[ContractId]| ids[..ids.len().min(MAX_AUDITED_IDS)].to_vec();
        change.audit(
            &super::change::Caller::daemon(),
            "mode.change",
            None,
            json!({
                "old": old.name(),
                "new": new.name(),
                "reason": reason,
                "suspended_lockdown": listed(&to_lockdown),
                "suspended_mode": listed(&to_mode),
                "resumed": listed(&resumed),
                "counts": {
                    "suspended_lockdown": to_lockdown.len(),
                    "suspended_mode": to_mode.len(),
                    "resumed": resumed.len(),
                },
            }),
        );
        change.host = Some(host);
        change.events.push(Event::ModeChanged {
            old,
            new,
            reason: reason.to_string(),
        });
        for (ids, why) in [(to_lockdown, "lockdown"), (to_mode, "mode")] {
            if !ids.is_empty() {
                change
                    .events
                    .push(Event::ContractsSuspended { ids, reason: why });
            }
        }
        if !resumed.is_empty() {
            change.events.push(Event::ContractsResumed { ids: resumed });
        }
    }

    /// Plans an admin's (or a tripwire's) lockdown: the latch is stored and the mode becomes
    /// LOCKDOWN in the same change.
    pub fn plan_enter_lockdown(
        &self,
        actor: &Actor,
        reason: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        require_admin(actor, "enter lockdown")?;
        let reason = require_reason(reason, "entering lockdown")?;
        let mut host = self.host().clone();
        host.lockdown = Some(LockdownLatch {
            reason: reason.to_string(),
            since: now,
            by: actor.caller.uid,
        });
        let new = EffectiveMode::Known(BoundaryMode::Lockdown);
        host.mode = new;
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            "lockdown.enter",
            None,
            json!({"reason": reason}),
        );
        if self.mode() != new {
            self.mode_transition_into(
                self.mode(),
                new,
                &format!("lockdown: {reason}"),
                host,
                &mut change,
            );
        } else {
            change.host = Some(host);
        }
        change.events.push(Event::LockdownLatched {
            reason: reason.to_string(),
            by: actor.caller.uid,
        });
        change.events.push(Event::HostChanged);
        Ok(change)
    }

    /// Plans the release of a latched lockdown by an admin, with a reason. The mode the newest
    /// reading means (with the override) is committed in the same change; before any reading
    /// the mode stays as it is.
    pub fn plan_release_lockdown(
        &self,
        actor: &Actor,
        reason: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        require_admin(actor, "release lockdown")?;
        let reason = require_reason(reason, "releasing lockdown")?;
        if self.host().lockdown.is_none() {
            return Err(CoreError::state("no lockdown is latched"));
        }
        let mut host = self.host().clone();
        host.lockdown = None;
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            "lockdown.release",
            None,
            json!({"reason": reason}),
        );
        self.host_change_into(host, &format!("lockdown released: {reason}"), &mut change);
        change.events.push(Event::LockdownReleased {
            reason: reason.to_string(),
        });
        change.events.push(Event::HostChanged);
        Ok(change)
    }

    /// Plans an admin's override, which can only lower the mode; LOCKDOWN has its own call.
    pub fn plan_set_override(
        &self,
        actor: &Actor,
        mode: BoundaryMode,
        reason: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        require_admin(actor, "set a mode override")?;
        if mode == BoundaryMode::Lockdown {
            return Err(CoreError::InvalidArgument {
                key: "mode".into(),
                message: "use EnterLockdown for LOCKDOWN; an override claims less isolation".into(),
            });
        }
        let reason = require_reason(reason, "an override")?;
        let mut host = self.host().clone();
        host.mode_override = Some(ModeOverride {
            mode,
            reason: reason.to_string(),
        });
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            "mode.override",
            None,
            json!({"mode": mode.name(), "reason": reason}),
        );
        self.host_change_into(
            host,
            &format!("admin override to {mode}: {reason}"),
            &mut change,
        );
        change.events.push(Event::HostChanged);
        Ok(change)
    }

    /// Plans the removal of the override.
    pub fn plan_clear_override(&self, actor: &Actor, now: Timestamp) -> Result<Change, CoreError> {
        require_admin(actor, "clear the mode override")?;
        let mut host = self.host().clone();
        if host.mode_override.take().is_none() {
            return Err(CoreError::state("no mode override is set"));
        }
        let mut change = Change::at(now);
        change.audit(&actor.caller, "mode.override_cleared", None, json!({}));
        self.host_change_into(host, "admin override cleared", &mut change);
        change.events.push(Event::HostChanged);
        Ok(change)
    }

    /// Plans a pause of learning: an owner's own (no prompt) or everyone's (admin).
    pub fn plan_pause(
        &self,
        actor: &Actor,
        scope: PauseScope,
        reason: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        self.plan_pause_state(actor, scope, Some(reason), now)
    }

    /// Plans the end of a pause.
    pub fn plan_resume(
        &self,
        actor: &Actor,
        scope: PauseScope,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        self.plan_pause_state(actor, scope, None, now)
    }

    fn plan_pause_state(
        &self,
        actor: &Actor,
        scope: PauseScope,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        match scope {
            PauseScope::All => require_admin(actor, "pause or resume everyone's learning")?,
            PauseScope::Owner(owner) if owner != actor.uid && !actor.admin => {
                return Err(CoreError::AccessDenied(
                    "only the owner or an admin can pause or resume an owner's learning".into(),
                ));
            }
            PauseScope::Owner(_) => {}
        }
        let mut host = self.host().clone();
        let pause = reason.map(|reason| Pause {
            reason: reason.to_string(),
            since: now,
        });
        let was_set = match scope {
            PauseScope::All => std::mem::replace(&mut host.paused_all, pause.clone()).is_some(),
            PauseScope::Owner(owner) => match &pause {
                Some(pause) => host.paused_owners.insert(owner, pause.clone()).is_some(),
                None => host.paused_owners.remove(&owner).is_some(),
            },
        };
        if pause.is_none() && !was_set {
            return Err(CoreError::state("learning is not paused"));
        }
        let affected = |c: &&Contract| match scope {
            PauseScope::All => true,
            PauseScope::Owner(owner) => c.owner == owner,
        };
        let before = |c: &Contract| self.suspension(c).pause;
        let after =
            |c: &Contract| host.paused_all.is_some() || host.paused_owners.contains_key(&c.owner);
        let mut changed: Vec<ContractId> = self
            .active_contracts()
            .filter(affected)
            .filter(|c| c.kind != super::contract::ContractKind::Prohibited)
            .filter(|c| before(c) != after(c))
            .map(|c| c.id.clone())
            .collect();
        changed.sort_unstable();
        let (action, owner) = match scope {
            PauseScope::All => (
                if pause.is_some() {
                    "learning.pause_all"
                } else {
                    "learning.resume_all"
                },
                None,
            ),
            PauseScope::Owner(owner) => (
                if pause.is_some() {
                    "learning.pause"
                } else {
                    "learning.resume"
                },
                Some(owner),
            ),
        };
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            action,
            None,
            json!({"owner": owner, "reason": reason, "contracts": changed}),
        );
        change.host = Some(host);
        if !changed.is_empty() {
            change.events.push(if pause.is_some() {
                Event::ContractsSuspended {
                    ids: changed,
                    reason: "pause",
                }
            } else {
                Event::ContractsResumed { ids: changed }
            });
        }
        change.events.push(Event::HostChanged);
        Ok(change)
    }
}

fn require_admin(actor: &Actor, action: &str) -> Result<(), CoreError> {
    if actor.admin {
        Ok(())
    } else {
        Err(CoreError::AccessDenied(format!(
            "only an admin can {action}"
        )))
    }
}

fn require_reason<'a>(reason: &'a str, what: &str) -> Result<&'a str, CoreError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(CoreError::InvalidArgument {
            key: "reason".into(),
            message: format!("{what} needs a reason"),
        });
    }
    Ok(reason)
}
