//! Aggregated audit of denials and refusals (SEMANTICS sections 7 and 12): one record per
//! caller uid, call and code per interval, with a count and the first and last time, so a
//! caller who is denied thousands of times a second grows the audit log by a bounded amount.
//! Pure: the clock is passed in; the service decides when to take what is due.

use super::change::{AuditEvent, Caller};
use super::contract::Uid;
use super::time::Timestamp;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The audit action of aggregated denied checks.
pub const CHECK_DENIED: &str = "check.denied";
/// The audit action of aggregated refused calls (AccessDenied, LimitReached, …).
pub const CALL_REFUSED: &str = "call.refused";
/// The most distinct (uid, call, code) keys held at once; further new keys are counted in one
/// overflow record, so even many uids cannot make the tally itself grow without bound.
pub const MAX_KEYS: usize = 4096;

/// What one aggregate record stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DenialKey {
    /// The caller's uid (none for an unknown caller or the overflow record).
    pub uid: Option<Uid>,
    /// [`CHECK_DENIED`] or [`CALL_REFUSED`].
    pub action: &'static str,
    /// The check (`memory-creation`, …) or the call (`Boundary1.EnterLockdown`, …).
    pub call: String,
    /// The decision code or the D-Bus error name.
    pub code: String,
}

#[derive(Clone, Debug)]
struct Tally {
    caller: Caller,
    count: u64,
    first: Timestamp,
    last: Timestamp,
    sample: Value,
}

/// Denials and refusals counted since their key's record was last taken.
#[derive(Debug)]
pub struct DenialTally {
    open: HashMap<DenialKey, Tally>,
    max_keys: usize,
}

impl Default for DenialTally {
    fn default() -> Self {
        Self::new(MAX_KEYS)
    }
}

impl DenialTally {
    /// An empty tally holding at most `max_keys` keys (plus the overflow key).
    pub fn new(max_keys: usize) -> Self {
        Self {
            open: HashMap::new(),
            max_keys,
        }
    }

    /// Counts one denial or refusal. `sample` describes the first one of its interval.
    pub fn note(&mut self, key: DenialKey, caller: &Caller, sample: Value, now: Timestamp) {
        let key = if self.open.contains_key(&key) || self.open.len() < self.max_keys {
            key
        } else {
            DenialKey {
                uid: None,
                action: key.action,
                call: "*".into(),
                code: "overflow".into(),
            }
        };
        self.open
            .entry(key)
            .and_modify(|tally| {
                tally.count += 1;
                tally.last = tally.last.max(now);
            })
            .or_insert_with(|| Tally {
                caller: caller.clone(),
                count: 1,
                first: now,
                last: now,
                sample,
            });
    }

    /// Counts a denied check from its one-by-one audit record (see
    /// [`super::forgetting::denial_audit`]): keyed by uid, check and code.
    pub fn note_check(&mut self, event: &AuditEvent, now: Timestamp) {
        let text = |key: &str| event.details[key].as_str().unwrap_or("unknown").to_string();
        let key = DenialKey {
            uid: event.caller.uid,
            action: CHECK_DENIED,
            call: text("check"),
            code: text("code"),
        };
        let mut sample = event.details.clone();
        if let (Some(id), Some(map)) = (&event.contract_id, sample.as_object_mut()) {
            map.insert("contract_id".into(), json!(id));
        }
        self.note(key, &event.caller, sample, now);
    }

    /// Counts a refused call: `call` names the method, `error` is the D-Bus error name.
    pub fn note_refusal(
        &mut self,
        caller: &Caller,
        call: &str,
        error: &str,
        message: &str,
        now: Timestamp,
    ) {
        let key = DenialKey {
            uid: caller.uid,
            action: CALL_REFUSED,
            call: call.to_string(),
            code: error.to_string(),
        };
        self.note(key, caller, json!({ "message": message }), now);
    }

    /// How many keys are waiting for their record.
    pub fn pending(&self) -> usize {
        self.open.len()
    }

    /// The records of every key whose interval (`interval_ms` from its first count) is over at
    /// `now`; those keys start afresh.
    pub fn take_due(&mut self, now: Timestamp, interval_ms: i64) -> Vec<AuditEvent> {
        let due: Vec<DenialKey> = self
            .open
            .iter()
            .filter(|(_, tally)| now >= tally.first.plus_millis(interval_ms))
            .map(|(key, _)| key.clone())
            .collect();
        let mut taken: Vec<(DenialKey, Tally)> = due
            .into_iter()
            .filter_map(|key| self.open.remove_entry(&key))
            .collect();
        taken.sort_by_key(|(_, tally)| tally.first);
        taken.into_iter().map(record).collect()
    }

    /// Every record, due or not (at shutdown).
    pub fn take_all(&mut self) -> Vec<AuditEvent> {
        self.take_due(Timestamp::from_millis(i64::MAX), 0)
    }
}

fn record((key, tally): (DenialKey, Tally)) -> AuditEvent {
    AuditEvent {
        caller: tally.caller,
        action: key.action,
        contract_id: None,
        details: json!({
            "uid": key.uid,
            "call": key.call,
            "code": key.code,
            "count": tally.count,
            "first_ms": tally.first,
            "last_ms": tally.last,
            "first": tally.sample,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(uid: Uid) -> Caller {
        Caller::uid(uid)
    }

    fn refuse(tally: &mut DenialTally, uid: Uid, call: &str, at: i64) {
        tally.note_refusal(
            &caller(uid),
            call,
            "org.freedesktop.DBus.Error.AccessDenied",
            "no",
            Timestamp::from_millis(at),
        );
    }

    #[test]
    fn many_refusals_in_one_interval_make_one_record_with_the_count() {
        let mut tally = DenialTally::default();
        for at in 0..10_000 {
            refuse(&mut tally, 65534, "Boundary1.EnterLockdown", at % 1000);
        }
        assert!(tally.take_due(Timestamp::from_millis(999), 1000).is_empty());
        let records = tally.take_due(Timestamp::from_millis(1000), 1000);
        assert_eq!(records.len(), 1);
        let details = &records[0].details;
        assert_eq!(records[0].action, CALL_REFUSED);
        assert_eq!(details["uid"], 65534);
        assert_eq!(details["call"], "Boundary1.EnterLockdown");
        assert_eq!(details["code"], "org.freedesktop.DBus.Error.AccessDenied");
        assert_eq!(details["count"], 10_000);
        assert_eq!(details["first_ms"], 0);
        assert_eq!(details["last_ms"], 999);
        assert_eq!(tally.pending(), 0);
    }

    #[test]
    fn each_uid_call_and_code_is_its_own_record() {
        let mut tally = DenialTally::default();
        refuse(&mut tally, 1, "Boundary1.EnterLockdown", 0);
        refuse(&mut tally, 2, "Boundary1.EnterLockdown", 0);
        refuse(&mut tally, 1, "Daemon1.Reload", 0);
        tally.note_refusal(
            &caller(1),
            "Daemon1.Reload",
            "org.learningcontracts.Error.LimitReached",
            "full",
            Timestamp::from_millis(0),
        );
        assert_eq!(tally.take_all().len(), 4);
    }

    #[test]
    fn a_key_starts_a_new_interval_after_its_record_is_taken() {
        let mut tally = DenialTally::default();
        refuse(&mut tally, 1, "Daemon1.Reload", 0);
        assert_eq!(
            tally.take_due(Timestamp::from_millis(60_000), 60_000).len(),
            1
        );
        refuse(&mut tally, 1, "Daemon1.Reload", 60_001);
        assert!(
            tally
                .take_due(Timestamp::from_millis(100_000), 60_000)
                .is_empty()
        );
        let records = tally.take_due(Timestamp::from_millis(120_001), 60_000);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].details["count"], 1);
    }

    #[test]
    fn new_keys_past_the_cap_are_counted_in_one_overflow_record() {
        let mut tally = DenialTally::new(3);
        for uid in 0..100 {
            refuse(&mut tally, uid, "Daemon1.Reload", 0);
        }
        let records = tally.take_all();
        assert_eq!(records.len(), 4);
        let overflow = records
            .iter()
            .find(|r| r.details["code"] == "overflow")
            .expect("an overflow record");
        assert_eq!(overflow.details["count"], 97);
    }

    #[test]
    fn a_denied_check_is_keyed_by_its_check_and_code_and_keeps_the_first_request() {
        let mut tally = DenialTally::default();
        for (n, domain) in ["a", "b", "c"].iter().enumerate() {
            let event = AuditEvent {
                caller: caller(7),
                action: CHECK_DENIED,
                contract_id: None,
                details: json!({"check": "recall", "code": "no_contract", "domain": domain}),
            };
            tally.note_check(&event, Timestamp::from_millis(n as i64));
        }
        let records = tally.take_all();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].action, CHECK_DENIED);
        assert_eq!(records[0].details["call"], "recall");
        assert_eq!(records[0].details["code"], "no_contract");
        assert_eq!(records[0].details["count"], 3);
        assert_eq!(records[0].details["first"]["domain"], "a");
    }
}
