//! `contractctl audit archive`: older audit records into a file that verifies on its own, then
//! out of the store. The file is written, flushed and verified before the daemon is asked to
//! drop anything, and the daemon drops records only when the file's last record has the hash
//! its own record has, so no step can lose a record.

use super::archive_file::{ArchiveHeader, verify_archive, write_archive};
use super::client::{CliError, Client, interactive};
use super::output::{Dict, text};
use learning_contracts_client::zbus::Variant;
use learning_contracts_rules::Timestamp;
use learning_contracts_rules::chain::AuditRecord;
use std::path::Path;

/// Which records to archive: those before a sequence number, or before a day (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// Records with a smaller sequence number.
    Seq(u64),
    /// Records written before this instant.
    Time(Timestamp),
}

impl Before {
    /// Parses `--before`: a sequence number, or a date as YYYY-MM-DD (midnight UTC).
    pub fn parse(text: &str) -> Result<Self, CliError> {
        if let Ok(seq) = text.parse::<u64>() {
            return Ok(Self::Seq(seq));
        }
        learning_contracts_rules::plain::parse_iso_date(text)
            .map(Self::Time)
            .ok_or_else(|| {
                CliError::Input(format!(
                    "--before '{text}' is neither a sequence number nor a date (YYYY-MM-DD)"
                ))
            })
    }

    fn includes(self, record: &AuditRecord) -> bool {
        match self {
            Self::Seq(seq) => record.seq < seq,
            Self::Time(time) => record.ts < time,
        }
    }
}

/// A record as `Audit1.Read` gives it, back in its chained form: the time in milliseconds,
/// and an empty bus name or contract id as none (neither is ever empty when present). A wrong
/// reading cannot slip through: the archive is verified before anything is removed.
fn record_from_read(dict: &Dict) -> Result<AuditRecord, CliError> {
    let number = |key: &str| -> Result<i64, CliError> {
        let value = dict
            .get(key)
            .ok_or_else(|| CliError::Input(format!("the daemon's record lacks '{key}'")))?;
        match &**value {
            Variant::U64(v) => Ok(*v as i64),
            Variant::I64(v) => Ok(*v),
            Variant::U32(v) => Ok(i64::from(*v)),
            other => Err(CliError::Input(format!(
                "the daemon's record has '{key}' of type {}",
                other.value_signature()
            ))),
        }
    };
    let optional_u32 = |key: &str| -> Result<Option<u32>, CliError> {
        if dict.contains_key(key) {
            Ok(Some(number(key)? as u32))
        } else {
            Ok(None)
        }
    };
    let optional_text = |key: &str| Some(text(dict, key)).filter(|t| !t.is_empty());
    Ok(AuditRecord {
        seq: number("seq")? as u64,
        id: text(dict, "id"),
        ts: Timestamp::from_millis(number("ts_ms")?),
        caller_uid: optional_u32("caller_uid")?,
        caller_pid: optional_u32("caller_pid")?,
        caller_bus: optional_text("caller_bus"),
        action: text(dict, "action"),
        contract_id: optional_text("contract_id"),
        details: text(dict, "details"),
        prev_hash: text(dict, "prev_hash"),
        hash: text(dict, "hash"),
    })
}

/// What an archive run did.
#[derive(Debug)]
pub enum Archived {
    /// No record in the store is before the cut.
    Nothing,
    /// The file holds the records the header names; the daemon removed `removed` of them.
    Done {
        /// The file's header.
        header: ArchiveHeader,
        /// How many records the store dropped.
        removed: u64,
    },
}

/// Reads the records before `before` from the daemon, writes and verifies `file`, then asks
/// the daemon to remove them.
pub async fn run(client: &Client, before: Before, file: &Path) -> Result<Archived, CliError> {
    const PAGE: u32 = 1_000;
    let mut records: Vec<AuditRecord> = Vec::new();
    let mut after = 0u64;
    'pages: loop {
        let page: Vec<Dict> = interactive(&client.audit, "Read", &(after, PAGE)).await?;
        if page.is_empty() {
            break;
        }
        for dict in &page {
            let record = record_from_read(dict)?;
            if !before.includes(&record) {
                break 'pages;
            }
            after = record.seq;
            records.push(record);
        }
    }
    if records.is_empty() {
        return Ok(Archived::Nothing);
    }
    let written = write_archive(file, &records, Timestamp::now())
        .map_err(|err| CliError::Input(format!("the archive could not be written: {err}")))?;
    drop(records);
    let (header, verification) = verify_archive(file)
        .map_err(|err| CliError::Input(format!("the archive could not be read back: {err}")))?;
    if !verification.ok || header != written {
        return Err(CliError::Input(format!(
            "the archive written to {} does not verify ({}); nothing was removed from the store",
            file.display(),
            verification.message
        )));
    }
    let removed: u64 = interactive(
        &client.audit,
        "Archive",
        &(header.last_seq, header.last_hash.as_str()),
    )
    .await?;
    Ok(Archived::Done { header, removed })
}
