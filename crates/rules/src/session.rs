//! Sessions (SEMANTICS.md section 10). A session belongs to the bus connection that opened it
//! and lives in memory only: it ends with that connection, after an idle time, or when the
//! agent ends it, and session-scoped contracts bound to it then expire.

use super::change::Caller;
use super::contract::{SessionId, Uid};
use super::time::{Monotonic, Now, Timestamp};

/// An open session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The owner whose contracts it serves.
    pub owner: Uid,
    /// Who opened it (its bus connection ends it).
    pub opener: Caller,
    /// When it was opened, by the wall clock (for people and the audit).
    pub opened: Timestamp,
    /// When the opener last used it, by the monotonic clock: the idle time is a duration the
    /// daemon measures, and a wall-clock step must not end or stretch it.
    pub last_seen: Monotonic,
}

impl Session {
    /// When the session ends for idleness (monotonic), given the idle time in milliseconds.
    pub fn idle_deadline(&self, idle_millis: i64) -> Monotonic {
        self.last_seen.plus_millis(idle_millis)
    }
}

use super::change::{Change, Event, SessionUpdate};
use super::contract::{ContractState, RetentionKind};
use super::error::CoreError;
use super::lifecycle::{Actor, contract_event};
use super::registry::Registry;
use serde_json::json;

/// How many sessions may be open at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// For one owner, whoever opened them.
    pub per_owner: usize,
    /// Opened over one bus connection, whichever owners they serve: a runaway agent reaches
    /// its own limit before it uses up its owner's.
    pub per_connection: usize,
}

impl Registry {
    /// Plans a new session for `owner`, opened by `opener`.
    pub fn plan_open_session(
        &self,
        opener: &Caller,
        owner: Uid,
        id: SessionId,
        limits: SessionLimits,
        now: Now,
    ) -> Result<Change, CoreError> {
        if opener.bus_name.is_some() {
            let open = self
                .sessions()
                .filter(|s| s.opener.bus_name == opener.bus_name)
                .count();
            if open >= limits.per_connection {
                return Err(CoreError::LimitReached(format!(
                    "this connection already has {open} open sessions, the most one connection \
                     may hold (sessions.max_per_connection); end one first"
                )));
            }
        }
        let open = self.sessions().filter(|s| s.owner == owner).count();
        if open >= limits.per_owner {
            return Err(CoreError::LimitReached(format!(
                "owner {owner} already has {open} open sessions, the most allowed \
                 (sessions.max_per_owner); end one first"
            )));
        }
        let mut change = Change::at(now.wall);
        change.audit(
            opener,
            "session.open",
            None,
            json!({"session_id": id, "owner": owner}),
        );
        change.sessions.push(SessionUpdate::Opened(Session {
            id,
            owner,
            opener: opener.clone(),
            opened: now.wall,
            last_seen: now.mono,
        }));
        Ok(change)
    }

    /// Plans the end of a session: its bound contracts expire and their memories freeze.
    /// `actor` is `None` when the daemon ends it (connection gone, idle time).
    pub fn plan_end_session(
        &self,
        actor: Option<&Actor>,
        id: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let session = self
            .session(id)
            .filter(|s| {
                actor.is_none_or(|a| a.admin || a.uid == s.owner || Some(a.uid) == s.opener.uid)
            })
            .ok_or_else(|| CoreError::not_found("session", id))?;
        let mut change = Change::at(now);
        let mut bound: Vec<_> = self
            .active_contracts()
            // Only session retention binds: a record of another retention that names a
            // session (written by an older version's amendment) does not end with it.
            .filter(|c| {
                c.spec.retention == Some(RetentionKind::Session) && c.session.as_deref() == Some(id)
            })
            .collect();
        bound.sort_by(|a, b| a.id.cmp(&b.id));
        let expired: Vec<_> = bound.iter().map(|c| c.id.clone()).collect();
        for contract in bound {
            self.expire_into(
                contract,
                &format!("session ended: {reason}"),
                now,
                &mut change,
            );
        }
        let caller = actor.map_or_else(Caller::daemon, |a| a.caller.clone());
        change.audit(
            &caller,
            "session.end",
            None,
            json!({"session_id": session.id, "reason": reason}),
        );
        change
            .sessions
            .push(SessionUpdate::Ended(session.id.clone()));
        change.events.push(Event::SessionEnded {
            session_id: session.id.clone(),
            owner: session.owner,
            expired_contract_ids: expired,
        });
        Ok(change)
    }

    /// Plans binding an Active session-retention contract to an open session of its owner.
    pub fn plan_bind(
        &self,
        actor: &Actor,
        session_id: &str,
        contract_id: &str,
        now: Timestamp,
    ) -> Result<Change, CoreError> {
        let session = self
            .session(session_id)
            .filter(|s| actor.admin || actor.uid == s.owner || Some(actor.uid) == s.opener.uid)
            .ok_or_else(|| CoreError::not_found("session", session_id))?;
        let contract = self
            .contract(contract_id)
            .filter(|c| c.owner == session.owner)
            .ok_or_else(|| CoreError::not_found("contract", contract_id))?;
        if contract.state != ContractState::Active
            || contract.spec.retention != Some(RetentionKind::Session)
        {
            return Err(CoreError::state(format!(
                "contract {contract_id} is not an active session contract; only those can be bound"
            )));
        }
        if let Some(other) = &contract.session {
            return Err(CoreError::state(format!(
                "contract {contract_id} is already bound to session {other}"
            )));
        }
        let mut next = contract.clone();
        next.session = Some(session.id.clone());
        next.updated = now;
        let mut change = Change::at(now);
        change.audit(
            &actor.caller,
            "session.bind",
            Some(contract_id),
            json!({"session_id": session_id}),
        );
        change
            .events
            .push(contract_event(self, &next, "bound to a session"));
        change.contracts.push(next);
        Ok(change)
    }

    /// Sessions whose idle time has run out at `now` (judged on the monotonic clock).
    pub fn idle_sessions(&self, idle_millis: i64, now: Now) -> Vec<SessionId> {
        let now = now.mono;
        let mut ids: Vec<SessionId> = self
            .sessions()
            .filter(|s| s.idle_deadline(idle_millis) <= now)
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        ids
    }
}
