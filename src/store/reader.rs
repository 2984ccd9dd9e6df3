//! A read-only connection to the store for the audit log's slow reads (`Audit1.Read`,
//! `Audit1.Verify`). In WAL mode a reader sees the last committed state and never blocks the
//! writer, so walking a long chain holds up no mutation.

use super::{AuditHead, StoreError, audit_row, corrupt_or};
use crate::core::chain::{AuditRecord, AuditVerification, ChainAnchor, verify_chain};
use crate::core::memory::{PURGED_SOURCE, ShredKey, sealed_parts};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
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
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash, hash
             FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = statement.query_map(params![after_seq as i64, limit], audit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A record's details with its sealed memory details opened, while the memory's key
    /// exists: `None` for details with nothing sealed. A purged memory's details read
    /// "(purged)", and each derivation link to a purged source reads as one.
    pub fn opened_details(&self, details: &str) -> Result<Option<String>, StoreError> {
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(details) else {
            return Ok(None);
        };
        let Some(sealed) = value.get("memory").and_then(|v| v.as_str()) else {
            return Ok(None);
        };
        let opened = match self.open_sealed(sealed)? {
            Some(plain) => {
                let mut inner: serde_json::Value =
                    serde_json::from_str(&plain).unwrap_or(serde_json::Value::Null);
                if let Some(links) = inner.get_mut("derived_from").and_then(|v| v.as_array_mut()) {
                    for link in links.iter_mut() {
                        let id = match link.as_str() {
                            Some(sealed) => self.open_sealed(sealed)?,
                            None => None,
                        };
                        *link = serde_json::Value::from(id.unwrap_or_else(|| PURGED_SOURCE.into()));
                    }
                }
                inner
            }
            None => serde_json::Value::from("(purged)"),
        };
        value["memory"] = opened;
        Ok(Some(value.to_string()))
    }

    /// Opens text sealed under a memory's key, if the memory (and so its key) still exists.
    fn open_sealed(&self, sealed: &str) -> Result<Option<String>, StoreError> {
        let Some((reference, _)) = sealed_parts(sealed) else {
            return Ok(None);
        };
        let key: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT shred_key FROM memories WHERE shred_ref = ?1")?
            .query_row(params![reference], |row| row.get(0))
            .optional()?;
        Ok(key.and_then(|key| key.try_into().ok()).and_then(|key| {
            ShredKey {
                reference: reference.to_string(),
                key,
            }
            .open(sealed)
        }))
    }

    /// Recomputes the whole chain and reports the first broken record. The head and the
    /// records are read in one transaction: one snapshot, whatever commits meanwhile.
    pub fn verify_audit(&mut self) -> Result<AuditVerification, StoreError> {
        let tx = self.conn.transaction()?;
        let verification = verify_in(&tx)?;
        tx.finish()?;
        Ok(verification)
    }
}

/// Reads the recorded head and walks the chain on `conn`.
pub(super) fn verify_in(conn: &Connection) -> Result<AuditVerification, StoreError> {
    let head = read_head(conn)?;
    let anchor = read_anchor(conn)?;
    let mut statement = conn.prepare(
        "SELECT seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash, hash
         FROM audit ORDER BY seq",
    )?;
    let rows = statement.query_map([], audit_row)?;
    let mut failure = None;
    let records = rows.map_while(|row| match row {
        Ok(record) => Some(record),
        Err(err) => {
            failure = Some(err);
            None
        }
    });
    let verification = verify_chain(records, &anchor, (head.seq, &head.hash));
    match failure {
        Some(err) => Err(err.into()),
        None => Ok(verification),
    }
}

/// Where the records in the store continue the chain: after the last archived record.
pub(super) fn read_anchor(conn: &Connection) -> Result<ChainAnchor, StoreError> {
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
