//! The rules of the hash-chained audit log (SEMANTICS.md section 13): each record's SHA-256
//! covers every field and the previous record's hash, so an edit, a deletion or a reordering
//! breaks the chain at a sequence number the verifier reports. Pure, so the store, the daemon
//! and contractctl (which verifies archives offline) share one verifier.

use crate::core::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// A ULID.
    pub id: String,
    /// When, UTC.
    pub ts: Timestamp,
    /// The caller's uid; none for the daemon itself.
    pub caller_uid: Option<u32>,
    /// The caller's pid.
    pub caller_pid: Option<u32>,
    /// The caller's unique bus name.
    pub caller_bus: Option<String>,
    /// The stable action name.
    pub action: String,
    /// The contract concerned.
    pub contract_id: Option<String>,
    /// Details as JSON text.
    pub details: String,
    /// The previous record's hash.
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

impl AuditRecord {
    /// The SHA-256 over every field but `hash`, each length-prefixed so no two records can
    /// encode alike.
    pub fn compute_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        let optional = |value: Option<String>| match value {
            Some(text) => format!("1{text}"),
            None => "0".to_string(),
        };
        field(&self.seq.to_be_bytes());
        field(self.id.as_bytes());
        field(&self.ts.as_millis().to_be_bytes());
        field(optional(self.caller_uid.map(|v| v.to_string())).as_bytes());
        field(optional(self.caller_pid.map(|v| v.to_string())).as_bytes());
        field(optional(self.caller_bus.clone()).as_bytes());
        field(self.action.as_bytes());
        field(optional(self.contract_id.clone()).as_bytes());
        field(self.details.as_bytes());
        field(self.prev_hash.as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// The verifier's finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// Whether the whole chain is intact.
    pub ok: bool,
    /// How many records were read.
    pub records: u64,
    /// The first broken sequence number (0 when intact).
    pub first_bad: u64,
    /// What is wrong, or a summary when intact.
    pub message: String,
}

/// Where a chain starts: after the last archived record, or at the genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainAnchor {
    /// The last archived record's sequence number (0 when nothing was archived).
    pub seq: u64,
    /// Its hash ([`GENESIS_HASH`] when nothing was archived).
    pub hash: String,
}

impl Default for ChainAnchor {
    fn default() -> Self {
        Self {
            seq: 0,
            hash: GENESIS_HASH.to_string(),
        }
    }
}

/// Walks records in sequence order from `anchor` and reports the first break. `head` is the
/// last sequence number and hash the store recorded, which reveals a truncated tail.
pub fn verify_chain(
    records: impl Iterator<Item = AuditRecord>,
    anchor: &ChainAnchor,
    head: (u64, &str),
) -> AuditVerification {
    let mut expected_seq = anchor.seq + 1;
    let mut prev_hash = anchor.hash.clone();
    let mut count = 0u64;
    let broken = |seq: u64, count: u64, message: String| AuditVerification {
        ok: false,
        records: count,
        first_bad: seq,
        message,
    };
    for record in records {
        count += 1;
        if record.seq != expected_seq {
            return broken(
                expected_seq,
                count,
                format!(
                    "record {expected_seq} is missing (found {} next)",
                    record.seq
                ),
            );
        }
        if record.prev_hash != prev_hash {
            return broken(
                record.seq,
                count,
                format!(
                    "record {} does not link to the record before it",
                    record.seq
                ),
            );
        }
        if record.compute_hash() != record.hash {
            return broken(
                record.seq,
                count,
                format!(
                    "record {} does not match its hash: it was altered",
                    record.seq
                ),
            );
        }
        prev_hash = record.hash;
        expected_seq += 1;
    }
    let last = expected_seq - 1;
    if head.0 != last || head.1 != prev_hash {
        let first_bad = if head.0 > last {
            last + 1
        } else {
            head.0.max(1)
        };
        return broken(
            first_bad,
            count,
            format!(
                "the log ends at record {last} but its recorded head is record {}: records were removed or the head was altered",
                head.0
            ),
        );
    }
    let message = if anchor.seq == 0 {
        format!("{count} records verified")
    } else {
        format!(
            "{count} records verified, from record {} on (records 1 to {} were archived)",
            anchor.seq + 1,
            anchor.seq
        )
    };
    AuditVerification {
        ok: true,
        records: count,
        first_bad: 0,
        message,
    }
}
