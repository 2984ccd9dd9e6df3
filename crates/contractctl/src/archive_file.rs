//! Audit archives: older records moved out of the store into a file that verifies on its own.
//!
//! The file is JSON lines: a header, then one record a line, exactly as chained (the hash of
//! each covers its fields and the previous hash). The header names the chain's point before
//! the first record (`prev_hash` of record `first_seq`) and its last record, so the file proves
//! itself without the store, and the store's anchor (the archive's last record) proves the
//! store continues it.

use learning_contracts_rules::Timestamp;
use learning_contracts_rules::chain::{AuditRecord, AuditVerification, ChainAnchor, verify_chain};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;

/// The format name written in every archive's header.
pub const ARCHIVE_FORMAT: &str = "learning-contracts-audit-archive/1";

/// The first line of an archive file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveHeader {
    /// [`ARCHIVE_FORMAT`].
    pub format: String,
    /// The first record's sequence number.
    pub first_seq: u64,
    /// The hash the first record links to.
    pub prev_hash: String,
    /// The last record's sequence number.
    pub last_seq: u64,
    /// The last record's hash: the store's anchor once the records are removed.
    pub last_hash: String,
    /// How many records follow.
    pub count: u64,
    /// When the archive was written, milliseconds since the epoch.
    pub created_ms: i64,
}

/// One record as an archive line (the chained fields, the time in milliseconds). Unknown
/// fields are refused, so a changed field name is not read as an absent optional field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchivedRecord {
    seq: u64,
    id: String,
    ts_ms: i64,
    caller_uid: Option<u32>,
    caller_pid: Option<u32>,
    caller_bus: Option<String>,
    action: String,
    contract_id: Option<String>,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<&AuditRecord> for ArchivedRecord {
    fn from(record: &AuditRecord) -> Self {
        Self {
            seq: record.seq,
            id: record.id.clone(),
            ts_ms: record.ts.as_millis(),
            caller_uid: record.caller_uid,
            caller_pid: record.caller_pid,
            caller_bus: record.caller_bus.clone(),
            action: record.action.clone(),
            contract_id: record.contract_id.clone(),
            details: record.details.clone(),
            prev_hash: record.prev_hash.clone(),
            hash: record.hash.clone(),
        }
    }
}

impl From<ArchivedRecord> for AuditRecord {
    fn from(record: ArchivedRecord) -> Self {
        Self {
            seq: record.seq,
            id: record.id,
            ts: Timestamp::from_millis(record.ts_ms),
            caller_uid: record.caller_uid,
            caller_pid: record.caller_pid,
            caller_bus: record.caller_bus,
            action: record.action,
            contract_id: record.contract_id,
            details: record.details,
            prev_hash: record.prev_hash,
            hash: record.hash,
        }
    }
}

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Nothing to archive.
    #[error("there are no records to archive")]
    Empty,
    /// The file is not an archive of this format.
    #[error("{path} line {line}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Writes `records` (consecutive, oldest first) to a new file at `path` (mode 0600; an
/// existing file is never overwritten), flushed to disk with its directory entry before
/// this returns, so the store may then drop them.
pub fn write_archive(
    path: &Path,
    records: &[AuditRecord],
    now: Timestamp,
) -> Result<ArchiveHeader, ArchiveError> {
    use std::os::unix::fs::OpenOptionsExt;
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Err(ArchiveError::Empty);
    };
    let io = |source| ArchiveError::Io {
        path: path.display().to_string(),
        source,
    };
    let header = ArchiveHeader {
        format: ARCHIVE_FORMAT.into(),
        first_seq: first.seq,
        prev_hash: first.prev_hash.clone(),
        last_seq: last.seq,
        last_hash: last.hash.clone(),
        count: records.len() as u64,
        created_ms: now.as_millis(),
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    out.write_all(json_line(&header).as_bytes()).map_err(io)?;
    for record in records {
        out.write_all(json_line(&ArchivedRecord::from(record)).as_bytes())
            .map_err(io)?;
    }
    let file = out.into_inner().map_err(|err| io(err.into_error()))?;
    file.sync_all().map_err(io)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io)?;
    Ok(header)
}

/// One JSON object and a newline.
fn json_line<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string(value).expect("archive lines serialize");
    text.push('\n');
    text
}

/// Verifies an archive on its own: the header's format, every record's hash and link from the
/// header's `prev_hash` on, no record missing or added, and the last one the header's.
pub fn verify_archive(path: &Path) -> Result<(ArchiveHeader, AuditVerification), ArchiveError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| ArchiveError::Io {
        path: name.clone(),
        source,
    })?;
    let malformed = |line: usize, message: String| ArchiveError::Malformed {
        path: name.clone(),
        line,
        message,
    };
    let mut lines = std::io::BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or_else(|| malformed(1, "the file is empty".into()))?
        .map_err(|source| ArchiveError::Io {
            path: name.clone(),
            source,
        })?;
    let header: ArchiveHeader = serde_json::from_str(&first)
        .map_err(|err| malformed(1, format!("not an archive header: {err}")))?;
    if header.format != ARCHIVE_FORMAT {
        return Err(malformed(
            1,
            format!("format '{}', not '{ARCHIVE_FORMAT}'", header.format),
        ));
    }
    let mut records = Vec::new();
    for (index, line) in lines.enumerate() {
        let line = line.map_err(|source| ArchiveError::Io {
            path: name.clone(),
            source,
        })?;
        let record: ArchivedRecord = serde_json::from_str(&line)
            .map_err(|err| malformed(index + 2, format!("not an audit record: {err}")))?;
        records.push(AuditRecord::from(record));
    }
    let anchor = ChainAnchor {
        seq: header.first_seq.saturating_sub(1),
        hash: header.prev_hash.clone(),
    };
    let count = records.len() as u64;
    let mut verification = verify_chain(
        records.into_iter(),
        &anchor,
        (header.last_seq, &header.last_hash),
    );
    if verification.ok && count != header.count {
        verification = AuditVerification {
            ok: false,
            records: count,
            first_bad: header.first_seq,
            message: format!(
                "the header counts {} records but the file holds {count}",
                header.count
            ),
        };
    } else if verification.ok {
        verification.message = format!(
            "{count} archived records verified (records {} to {})",
            header.first_seq, header.last_seq
        );
    }
    Ok((header, verification))
}
