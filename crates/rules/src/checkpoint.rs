//! Checkpoints of the audit chain outside the store: the chain's head (sequence number and
//! hash) written to the journal now and then, so that rewriting the store also means forging
//! the journal. Two pure parts live here: when the daemon writes one ([`Checkpointer`], the
//! clock passed in), and what comparing the journal's checkpoints with the store finds
//! ([`compare`]). Writing to the journal and reading it back are the service's and
//! contractctl's.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The MESSAGE_ID of an audit checkpoint in the journal, made once with `systemd-id128 new`
/// and never to change: `journalctl MESSAGE_ID=03c0ff71d07840208240a741a4e03ddd` finds them.
/// Each carries `LC_AUDIT_SEQ` (the head's sequence number, decimal), `LC_AUDIT_HASH` (its
/// hash, 64 hex digits) and `LC_AUDIT_REASON` (start, records, time or stop).
pub const MESSAGE_AUDIT_CHECKPOINT: &str = "03c0ff71d07840208240a741a4e03ddd";

/// How often checkpoints are written besides at start and at a clean stop. 0 turns a rule
/// off; with both off only the start and stop checkpoints are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    /// A checkpoint once the head is this many records past the last one.
    pub every_records: u64,
    /// A checkpoint once this many milliseconds passed since the last one (monotonic clock),
    /// when the head moved.
    pub every_millis: i64,
}

impl Cadence {
    /// No periodic checkpoints: only at start and at stop.
    pub const OFF: Cadence = Cadence {
        every_records: 0,
        every_millis: 0,
    };
}

/// Why a checkpoint was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// The daemon started with records in its store.
    Start,
    /// `every_records` records were written since the last one.
    Records,
    /// `every_millis` passed since the last one and the head moved.
    Time,
    /// The daemon stopped cleanly and the head moved since the last one.
    Stop,
}

impl Reason {
    /// The name written as `LC_AUDIT_REASON`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Records => "records",
            Self::Time => "time",
            Self::Stop => "stop",
        }
    }
}

/// A checkpoint to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The head's sequence number.
    pub seq: u64,
    /// The head's hash.
    pub hash: String,
    /// Why now.
    pub reason: Reason,
}

/// Decides when the head goes to the journal: every `every_records` records or every
/// `every_millis` milliseconds, whichever comes first, and only when the head moved since the
/// last checkpoint; plus one at start and one at a clean stop.
#[derive(Clone, Debug)]
pub struct Checkpointer {
    cadence: Cadence,
    /// The last head written (sequence 0 and no hash before the first).
    last_seq: u64,
    last_hash: Option<String>,
    /// When the last checkpoint was written, or when counting started.
    since: crate::Monotonic,
}

impl Checkpointer {
    /// A checkpointer that has written nothing yet; time counts from `now`.
    pub fn new(cadence: Cadence, now: crate::Monotonic) -> Self {
        Self {
            cadence,
            last_seq: 0,
            last_hash: None,
            since: now,
        }
    }

    /// The cadence in force.
    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    /// Changes the cadence (a reload); what was written stays the reference.
    pub fn set_cadence(&mut self, cadence: Cadence) {
        self.cadence = cadence;
    }

    fn moved(&self, seq: u64, hash: &str) -> bool {
        seq > 0 && (seq != self.last_seq || self.last_hash.as_deref() != Some(hash))
    }

    fn write(&mut self, seq: u64, hash: &str, reason: Reason, now: crate::Monotonic) -> Checkpoint {
        self.last_seq = seq;
        self.last_hash = Some(hash.to_string());
        self.since = now;
        Checkpoint {
            seq,
            hash: hash.to_string(),
            reason,
        }
    }

    /// At start: the head, when the store holds records.
    pub fn start(&mut self, seq: u64, hash: &str, now: crate::Monotonic) -> Option<Checkpoint> {
        self.moved(seq, hash)
            .then(|| self.write(seq, hash, Reason::Start, now))
    }

    /// After commits and on the timer: a checkpoint when a rule is due and the head moved.
    pub fn observe(&mut self, seq: u64, hash: &str, now: crate::Monotonic) -> Option<Checkpoint> {
        if !self.moved(seq, hash) {
            return None;
        }
        let Cadence {
            every_records,
            every_millis,
        } = self.cadence;
        // A head below the last one (a store replaced under the daemon) counts as moved far.
        let records = seq.abs_diff(self.last_seq);
        if every_records > 0 && records >= every_records {
            return Some(self.write(seq, hash, Reason::Records, now));
        }
        if every_millis > 0 && self.since.millis_until(now) >= every_millis {
            return Some(self.write(seq, hash, Reason::Time, now));
        }
        None
    }

    /// At a clean stop: the head, when it moved since the last checkpoint.
    pub fn stop(&mut self, seq: u64, hash: &str, now: crate::Monotonic) -> Option<Checkpoint> {
        self.moved(seq, hash)
            .then(|| self.write(seq, hash, Reason::Stop, now))
    }

    /// How long the timer may sleep before it should look again, in milliseconds: until the
    /// time rule is due, or a whole interval when it is due already (a head that has not moved
    /// is then written by the next commit's look). None when the time rule is off.
    pub fn next_look_in(&self, now: crate::Monotonic) -> Option<i64> {
        let every = self.cadence.every_millis;
        if every <= 0 {
            return None;
        }
        let left = every.saturating_sub(self.since.millis_until(now));
        Some(if left > 0 { left } else { every })
    }
}

/// A checkpoint as read back from the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JournalCheckpoint {
    /// `LC_AUDIT_SEQ`.
    pub seq: u64,
    /// `LC_AUDIT_HASH`.
    pub hash: String,
}

/// What the store holds, as far as the comparison needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreView {
    /// The first record's sequence number; None when the store holds no records. Later than
    /// 1 once older records were archived out of the store.
    pub first_seq: Option<u64>,
    /// The head's sequence number (0 when empty).
    pub head_seq: u64,
    /// The hashes of the store's records at the checkpoints' sequence numbers (a sequence
    /// number in the store's range that is missing here is missing from the store).
    pub hashes: BTreeMap<u64, String>,
}

/// What one checkpoint from the journal says about the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Finding {
    /// The store's record at `seq` has the journal's hash.
    Matches {
        /// The sequence number.
        seq: u64,
    },
    /// The store's record at `seq` has another hash: the store was rewritten after record
    /// `after` (the latest checkpoint below that still matches, 0 for none) and at or before
    /// `seq`.
    Rewritten {
        /// The sequence number.
        seq: u64,
        /// The hash the journal saw.
        journal_hash: String,
        /// The hash the store has now.
        store_hash: String,
        /// The latest matching checkpoint below `seq`, 0 when there is none.
        after: u64,
    },
    /// The journal saw record `seq` but the store ends at `store_head`.
    Removed {
        /// The sequence number.
        seq: u64,
        /// The store's last record (0 when empty).
        store_head: u64,
    },
    /// `seq` lies in the store's range but the store has no such record.
    Missing {
        /// The sequence number.
        seq: u64,
    },
    /// `seq` is before the store's first record: archived out of the store, not an error.
    Archived {
        /// The sequence number.
        seq: u64,
        /// The store's first record.
        store_first: u64,
    },
}

impl Finding {
    /// The checkpoint's sequence number.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Matches { seq }
            | Self::Rewritten { seq, .. }
            | Self::Removed { seq, .. }
            | Self::Missing { seq }
            | Self::Archived { seq, .. } => *seq,
        }
    }

    /// Whether it says the store is not what the journal saw.
    pub fn is_problem(&self) -> bool {
        matches!(
            self,
            Self::Rewritten { .. } | Self::Removed { .. } | Self::Missing { .. }
        )
    }

    /// One sentence for people.
    pub fn message(&self) -> String {
        match self {
            Self::Matches { seq } => format!("record {seq} matches the journal's checkpoint"),
            Self::Rewritten { seq, after, .. } => {
                let since = if *after > 0 {
                    format!("after record {after}, whose checkpoint matches, and ")
                } else {
                    String::new()
                };
                format!(
                    "the store's record {seq} differs from the journal's checkpoint: the store was rewritten ({since}at or before record {seq})"
                )
            }
            Self::Removed { seq, store_head } => format!(
                "the journal saw record {seq} but the store ends at {store_head}: records were removed"
            ),
            Self::Missing { seq } => format!(
                "the journal saw record {seq} but the store has no such record: records were removed"
            ),
            Self::Archived { seq, store_first } => format!(
                "the checkpoint of record {seq} is before the store's first record, {store_first} (archived)"
            ),
        }
    }
}

/// The outcome of comparing the journal's checkpoints with the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Whether the journal vouches for the store: at least one checkpoint matches (or the store
    /// is empty and the journal has none) and none says otherwise.
    pub ok: bool,
    /// Distinct checkpoints read from the journal.
    pub checkpoints: usize,
    /// How many of them match the store.
    pub matched: usize,
    /// The latest matching checkpoint's sequence number.
    pub latest_match: Option<u64>,
    /// The store's first and last records.
    pub store_first: Option<u64>,
    /// The store's head (0 when empty).
    pub store_head: u64,
    /// Every checkpoint that does not simply match, in sequence order.
    pub findings: Vec<Finding>,
    /// A summary for people.
    pub message: String,
}

/// Compares each distinct checkpoint with the store's record at its sequence number. A store
/// with records and no checkpoint at all is not vouched for (the daemon writes one at every
/// start, so the journal lost them, or they cannot be read): not ok. Records after the latest
/// checkpoint are the unvouched tail, which is expected and not an error.
pub fn compare(checkpoints: &[JournalCheckpoint], store: &StoreView) -> Comparison {
    let distinct: BTreeSet<(u64, &str)> = checkpoints
        .iter()
        .map(|c| (c.seq, c.hash.as_str()))
        .collect();
    let mut findings = Vec::new();
    let mut matched = 0;
    let mut latest_match: Option<u64> = None;
    for &(seq, hash) in &distinct {
        let finding = match store.first_seq {
            Some(first) if seq < first => Finding::Archived {
                seq,
                store_first: first,
            },
            _ if seq > store.head_seq => Finding::Removed {
                seq,
                store_head: store.head_seq,
            },
            _ => match store.hashes.get(&seq) {
                None => Finding::Missing { seq },
                Some(stored) if stored == hash => Finding::Matches { seq },
                Some(stored) => Finding::Rewritten {
                    seq,
                    journal_hash: hash.to_string(),
                    store_hash: stored.clone(),
                    after: 0,
                },
            },
        };
        if let Finding::Matches { seq } = finding {
            matched += 1;
            latest_match = latest_match.max(Some(seq));
        } else {
            findings.push(finding);
        }
    }
    // The latest matching checkpoint below each rewritten one bounds where the rewrite began.
    let matches: Vec<u64> = distinct
        .iter()
        .filter(|(seq, hash)| store.hashes.get(seq).is_some_and(|h| h == hash))
        .map(|(seq, _)| *seq)
        .collect();
    for finding in &mut findings {
        if let Finding::Rewritten { seq, after, .. } = finding {
            *after = matches
                .iter()
                .copied()
                .filter(|m| m < seq)
                .max()
                .unwrap_or(0);
        }
    }
    let problems: Vec<&Finding> = findings.iter().filter(|f| f.is_problem()).collect();
    let archived = findings.len() - problems.len();
    let (ok, message) = if let Some(first) = problems.first() {
        let more = problems.len() - 1;
        (
            false,
            if more > 0 {
                format!(
                    "{} (and {more} more checkpoint{} that the store does not match)",
                    first.message(),
                    if more == 1 { "" } else { "s" }
                )
            } else {
                first.message()
            },
        )
    } else if distinct.is_empty() {
        if store.head_seq == 0 {
            (
                true,
                "the store has no records and the journal no checkpoints".to_string(),
            )
        } else {
            (
                false,
                format!(
                    "the journal holds no checkpoint of the audit log, so nothing outside the store vouches for its {} records (the journal was rotated or vacuumed, or cannot be read by you)",
                    store.head_seq
                ),
            )
        }
    } else if let Some(latest) = latest_match {
        let mut message = format!(
            "{matched} checkpoint{} from the journal match{} the store, latest at record {latest}",
            if matched == 1 { "" } else { "s" },
            if matched == 1 { "es" } else { "" },
        );
        if archived > 0 {
            message.push_str(&format!(
                "; {archived} before the store's first record (archived)"
            ));
        }
        if store.head_seq > latest {
            message.push_str(&format!(
                "; records {} to {} are newer than the latest checkpoint",
                latest + 1,
                store.head_seq
            ));
        }
        (true, message)
    } else {
        // Every checkpoint is of archived records: the store's own records are unvouched.
        (
            store.head_seq == 0,
            format!(
                "all {archived} checkpoints are before the store's first record (archived); none vouches for the records in the store"
            ),
        )
    };
    Comparison {
        ok,
        checkpoints: distinct.len(),
        matched,
        latest_match,
        store_first: store.first_seq,
        store_head: store.head_seq,
        findings,
        message,
    }
}
