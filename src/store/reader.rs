//! A read-only connection to the store for the audit log's slow reads (`Audit1.Read`,
//! `Audit1.Verify`). In WAL mode a reader sees the last committed state and never blocks the
//! writer, so walking a long chain holds up no mutation.

use super::seal::{SealInputs, SealedVerification, VerificationKey, verify_sealed};
use super::{AuditHead, StoreError, audit_row, corrupt_or, sealing};
use crate::core::Timestamp;
use crate::core::chain::{AuditRecord, AuditVerification, ChainAnchor};
use crate::core::memory::{PURGED_SOURCE, SEALED_PREFIX, ShredKey, sealed_parts};
use rusqlite::{Connection, OpenFlags, params};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A read-only connection to the store, for audit reads. Not shared between threads: callers
/// own it (behind a lock) while they read.
pub struct AuditReader {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for AuditReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditReader")
            .field("path", &self.path)
            .finish()
    }
}

impl AuditReader {
    /// Opens the existing store at `path` read-only. The writer must have opened it first
    /// (it creates the file and switches it to WAL mode).
    pub fn open(path: &Path) -> Result<AuditReader, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| corrupt_or(path, err))?;
        // A checkpoint by the writer can briefly lock the WAL index.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(AuditReader {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Up to `limit` audit records after sequence number `after_seq`, oldest first.
    pub fn read_audit(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        audit_page(&self.conn, after_seq, limit)
    }

    /// Up to `limit` audit records after `after_seq`, oldest first, each with its sealed
    /// memory details opened while the memory's key exists (see [`opened_details`]), all read
    /// in one snapshot. The keys are found in one pass over the memories, and only when the
    /// page holds something sealed: the memories table keeps no index by key reference, which
    /// would cost every RegisterMemory a page write (benches/README.md).
    pub fn read_audit_opened(
        &mut self,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<(AuditRecord, Option<String>)>, StoreError> {
        let tx = self.conn.transaction()?;
        let records = audit_page(&tx, after_seq, limit)?;
        let keys = if records
            .iter()
            .any(|record| record.details.contains(SEALED_PREFIX))
        {
            let mut keys = HashMap::new();
            let mut statement = tx.prepare_cached("SELECT shred_ref, shred_key FROM memories")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let key: Vec<u8> = row.get(1)?;
                if let Ok(key) = <[u8; 32]>::try_from(key) {
                    keys.insert(row.get::<_, String>(0)?, key);
                }
            }
            keys
        } else {
            HashMap::new()
        };
        drop(tx);
        Ok(records
            .into_iter()
            .map(|record| {
                let opened = opened_details(&keys, &record.details);
                (record, opened)
            })
            .collect())
    }

    /// Recomputes the whole chain and reports the first broken record. The head and the
    /// records are read in one transaction: one snapshot, whatever commits meanwhile.
    pub fn verify_audit(&mut self) -> Result<AuditVerification, StoreError> {
        let tx = self.conn.transaction()?;
        let verification = verify_in(&tx)?;
        tx.finish()?;
        Ok(verification)
    }

    /// Verifies the chain and its seals in one snapshot: with `key`, every sealed epoch's MAC
    /// is checked with the admin's verification key and `now` (the verifier's clock) finds
    /// seals that stopped without a clean stop; without it, the seals' structure only.
    pub fn verify_sealed(
        &mut self,
        key: Option<&VerificationKey>,
        now: Timestamp,
    ) -> Result<SealedVerification, StoreError> {
        let tx = self.conn.transaction()?;
        let anchor = read_anchor(&tx)?;
        let verification = verify_sealed_in(&tx, anchor, key, now)?;
        tx.finish()?;
        Ok(verification)
    }
}

/// Walks the chain and checks the seals' structure on `conn` (no key), in the shape of the
/// plain chain verification.
pub(super) fn verify_in(conn: &Connection) -> Result<AuditVerification, StoreError> {
    let sealed = verify_sealed_in(conn, read_anchor(conn)?, None, Timestamp::now())?;
    let mut message = sealed.message;
    for note in &sealed.notes {
        message.push_str("; ");
        message.push_str(note);
    }
    Ok(AuditVerification {
        ok: sealed.ok,
        records: sealed.records,
        first_bad: sealed.first_bad,
        message,
    })
}

/// Reads the recorded head, the seals and the sealing state, and walks the chain from
/// `anchor` on `conn` (store/seal.rs, [`verify_sealed`]).
pub(super) fn verify_sealed_in(
    conn: &Connection,
    anchor: ChainAnchor,
    key: Option<&VerificationKey>,
    now: Timestamp,
) -> Result<SealedVerification, StoreError> {
    let head = read_head(conn)?;
    let seals = sealing::stored_seals(conn)?;
    let state_era = sealing::state_era(conn)?;
    let mut statement = conn.prepare(
        "SELECT seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash, hash
         FROM audit WHERE seq > ?1 ORDER BY seq",
    )?;
    let rows = statement.query_map(params![anchor.seq as i64], audit_row)?;
    let mut failure = None;
    // A row whose values do not decode (a flipped bit made a text invalid) fails the
    // verification; an I/O error fails the read.
    let records = rows.map_while(|row| match row {
        Ok(record) => Some(Ok(record)),
        Err(
            err @ (rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..)),
        ) => Some(Err(err.to_string())),
        Err(err) => {
            failure = Some(err);
            None
        }
    });
    let verification = verify_sealed(
        records,
        SealInputs {
            anchor,
            head: (head.seq, head.hash),
            seals,
            state_era,
            key,
            now,
        },
    );
    match failure {
        Some(err) => Err(err.into()),
        None => Ok(verification),
    }
}

/// Where the records in the store continue the chain: after the last archived record. A
/// store of a version before archives (read, not migrated) has archived nothing.
pub(super) fn read_anchor(conn: &Connection) -> Result<ChainAnchor, StoreError> {
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'audit_anchor'",
        [],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(ChainAnchor::genesis());
    }
    let (seq, hash): (i64, String) = conn.query_row(
        "SELECT seq, hash FROM audit_anchor WHERE singleton = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(ChainAnchor {
        seq: seq as u64,
        hash,
    })
}

/// The audit head the store recorded.
pub(super) fn read_head(conn: &Connection) -> Result<AuditHead, StoreError> {
    let (seq, hash): (i64, String) = conn.query_row(
        "SELECT seq, hash FROM audit_head WHERE singleton = 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(AuditHead {
        seq: seq as u64,
        hash,
    })
}

/// A record's details with its sealed memory details opened with `keys` (key reference →
/// key): `None` for details with nothing sealed. A purged memory's details read "(purged)",
/// and each derivation link to a purged source reads as one.
fn opened_details(keys: &HashMap<String, [u8; 32]>, details: &str) -> Option<String> {
    let mut value = serde_json::from_str::<serde_json::Value>(details).ok()?;
    let sealed = value.get("memory").and_then(|v| v.as_str())?;
    let opened = match open_sealed(keys, sealed) {
        Some(plain) => {
            let mut inner: serde_json::Value =
                serde_json::from_str(&plain).unwrap_or(serde_json::Value::Null);
            if let Some(links) = inner.get_mut("derived_from").and_then(|v| v.as_array_mut()) {
                for link in links.iter_mut() {
                    let id = link.as_str().and_then(|sealed| open_sealed(keys, sealed));
                    *link = serde_json::Value::from(id.unwrap_or_else(|| PURGED_SOURCE.into()));
                }
            }
            inner
        }
        None => serde_json::Value::from("(purged)"),
    };
    value["memory"] = opened;
    Some(value.to_string())
}

/// Opens text sealed under a memory's key, if the memory (and so its key) still exists.
fn open_sealed(keys: &HashMap<String, [u8; 32]>, sealed: &str) -> Option<String> {
    let (reference, _) = sealed_parts(sealed)?;
    let key = keys.get(reference)?;
    ShredKey {
        reference: reference.to_string(),
        key: *key,
    }
    .open(sealed)
}

/// Up to `limit` audit records after sequence number `after_seq`, oldest first, on `conn`.
pub(super) fn audit_page(
    conn: &Connection,
    after_seq: u64,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash, hash
         FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = statement.query_map(params![after_seq as i64, limit], audit_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
