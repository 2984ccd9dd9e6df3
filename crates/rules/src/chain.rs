//! The rules of the hash-chained audit log (SEMANTICS.md section 13): each record's SHA-256
//! covers every field and the previous record's hash, so an edit, a deletion or a reordering
//! breaks the chain at a sequence number the verifier reports. Pure, so the store, the daemon
//! and contractctl (which verifies archives offline) share one verifier.

use crate::Timestamp;
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
        hex::encode(self.digest())
    }

    /// Whether `hash` is the record's hash: [`AuditRecord::compute_hash`] without its
    /// allocations (the verifier calls this once per record).
    pub fn hash_matches(&self) -> bool {
        let mut text = [0u8; 64];
        hex::encode_to_slice(self.digest(), &mut text).is_ok() && text[..] == *self.hash.as_bytes()
    }

    /// The digest itself. Each field is its length (8 bytes, big-endian) and its bytes; an
    /// optional field is "0" when absent and "1" followed by its text when present, numbers
    /// in decimal. Written piece by piece: no field is copied.
    fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let mut field = |parts: &[&[u8]]| {
            let len: usize = parts.iter().map(|part| part.len()).sum();
            hasher.update((len as u64).to_be_bytes());
            for part in parts {
                hasher.update(part);
            }
        };
        let mut digits = [0u8; 20];
        let mut number = [0u8; 20];
        field(&[&self.seq.to_be_bytes()]);
        field(&[self.id.as_bytes()]);
        field(&[&self.ts.as_millis().to_be_bytes()]);
        match self.caller_uid {
            Some(uid) => field(&[b"1", decimal(u64::from(uid), &mut digits)]),
            None => field(&[b"0"]),
        }
        match self.caller_pid {
            Some(pid) => field(&[b"1", decimal(u64::from(pid), &mut number)]),
            None => field(&[b"0"]),
        }
        match &self.caller_bus {
            Some(bus) => field(&[b"1", bus.as_bytes()]),
            None => field(&[b"0"]),
        }
        field(&[self.action.as_bytes()]);
        match &self.contract_id {
            Some(id) => field(&[b"1", id.as_bytes()]),
            None => field(&[b"0"]),
        }
        field(&[self.details.as_bytes()]);
        field(&[self.prev_hash.as_bytes()]);
        hasher.finalize().into()
    }
}

/// `value` in decimal, written into the end of `buffer`.
fn decimal(mut value: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return &buffer[at..];
        }
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

impl ChainAnchor {
    /// The start of a log: nothing archived.
    pub fn genesis() -> Self {
        Self::default()
    }
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
        if !record.hash_matches() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash as the first build wrote it, field by field through formatted strings: the
    /// allocation-free digest must give exactly the same, or every stored chain would break.
    fn reference_hash(record: &AuditRecord) -> String {
        let mut hasher = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        };
        let optional = |value: Option<String>| match value {
            Some(text) => format!("1{text}"),
            None => "0".to_string(),
        };
        field(&record.seq.to_be_bytes());
        field(record.id.as_bytes());
        field(&record.ts.as_millis().to_be_bytes());
        field(optional(record.caller_uid.map(|v| v.to_string())).as_bytes());
        field(optional(record.caller_pid.map(|v| v.to_string())).as_bytes());
        field(optional(record.caller_bus.clone()).as_bytes());
        field(record.action.as_bytes());
        field(optional(record.contract_id.clone()).as_bytes());
        field(record.details.as_bytes());
        field(record.prev_hash.as_bytes());
        hex::encode(hasher.finalize())
    }

    #[test]
    fn the_digest_is_the_formatted_one_for_every_shape_of_record() {
        for (uid, pid, bus, contract) in [
            (None, None, None, None),
            (Some(0), Some(1), Some(":1.5"), Some("c-1")),
            (Some(u32::MAX), Some(4_000_000), None, Some("")),
            (Some(1000), None, Some(""), None),
        ] {
            let mut record = AuditRecord {
                seq: 42,
                id: "01J0000000000000000000000".into(),
                ts: Timestamp::from_millis(-5),
                caller_uid: uid,
                caller_pid: pid,
                caller_bus: bus.map(str::to_string),
                action: "check.denied".into(),
                contract_id: contract.map(str::to_string),
                details: "{\"n\":1}".into(),
                prev_hash: GENESIS_HASH.into(),
                hash: String::new(),
            };
            record.hash = record.compute_hash();
            assert_eq!(record.hash, reference_hash(&record));
            assert!(record.hash_matches());
            record.hash.replace_range(0..1, "f");
            assert!(!record.hash_matches() || record.hash == reference_hash(&record));
        }
        let mut digits = [0u8; 20];
        assert_eq!(decimal(0, &mut digits), b"0");
        assert_eq!(
            decimal(u64::MAX, &mut digits),
            u64::MAX.to_string().as_bytes()
        );
    }
}
