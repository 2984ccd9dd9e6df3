//! `contractctl audit verify --journal`: reads the daemon's checkpoints of the audit chain back
//! from the journal with `journalctl -o json` (spawning journalctl keeps the journal's file
//! format, its rotation, sealing and remote directories journalctl's business), reads the
//! store's records at the same sequence numbers over `Audit1.Read`, and compares the two with
//! `core::checkpoint::compare`.
//!
//! Only entries whose trusted `_SYSTEMD_UNIT` (or `_SYSTEMD_USER_UNIT`) field, which journald
//! sets from the sender's cgroup and no sender can choose, names the daemon's unit are read: a
//! local user can log any MESSAGE_ID, but not from inside the daemon's unit.

use super::client::{CliError, Client, interactive};
use super::output::Dict;
use learning_contracts_rules::checkpoint::{
    JournalCheckpoint, MESSAGE_AUDIT_CHECKPOINT, StoreView,
};
use std::collections::BTreeMap;
use std::process::Command;

/// The unit the Debian package ships the daemon as.
pub const DEFAULT_UNIT: &str = "learning-contractsd.service";

/// Where to look for checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalQuery {
    /// The daemon's unit.
    pub unit: String,
    /// A user-mode daemon: its user unit in the caller's user journal.
    pub user: bool,
}

/// The arguments journalctl is run with.
pub fn journalctl_args(query: &JournalQuery) -> Vec<String> {
    let mut args = vec![
        "--output=json".to_string(),
        "--no-pager".to_string(),
        "--all".to_string(),
    ];
    if query.user {
        args.push("--user".into());
    }
    args.push(format!("MESSAGE_ID={MESSAGE_AUDIT_CHECKPOINT}"));
    args.push(format!(
        "{}={}",
        if query.user {
            "_SYSTEMD_USER_UNIT"
        } else {
            "_SYSTEMD_UNIT"
        },
        query.unit
    ));
    args
}

/// The checkpoints in journalctl's JSON output (one object a line), and a description of each
/// entry that carries the checkpoint MESSAGE_ID but no readable sequence number and hash.
pub fn parse_entries(output: &str) -> (Vec<JournalCheckpoint>, Vec<String>) {
    let mut checkpoints = Vec::new();
    let mut unreadable = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            unreadable.push(format!("a journal line that is not JSON: {line}"));
            continue;
        };
        // journalctl writes a field it cannot show as text as an array (binary, or repeated).
        let text = |key: &str| entry.get(key).and_then(|v| v.as_str());
        let seq = text("LC_AUDIT_SEQ").and_then(|s| s.parse::<u64>().ok());
        let hash = text("LC_AUDIT_HASH")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        match (seq, hash) {
            (Some(seq), Some(hash)) if seq > 0 => checkpoints.push(JournalCheckpoint {
                seq,
                hash: hash.to_string(),
            }),
            _ => unreadable.push(format!(
                "a checkpoint entry without a readable LC_AUDIT_SEQ and LC_AUDIT_HASH (cursor {})",
                text("__CURSOR").unwrap_or("unknown")
            )),
        }
    }
    (checkpoints, unreadable)
}

/// What journalctl gave: the checkpoints, the entries that could not be read, and what it said
/// on stderr (it warns there when the caller may not read the system journal).
#[derive(Debug, Default)]
pub struct JournalRead {
    /// The checkpoints, in journal order.
    pub checkpoints: Vec<JournalCheckpoint>,
    /// Checkpoint entries that do not parse.
    pub unreadable: Vec<String>,
    /// journalctl's warnings.
    pub warnings: String,
}

/// Runs journalctl for the checkpoints. Blocking. Fails when journalctl cannot be run or
/// exits with an error: nothing is then known about the journal.
pub fn read_checkpoints(query: &JournalQuery) -> Result<JournalRead, CliError> {
    let output = Command::new("journalctl")
        .args(journalctl_args(query))
        .output()
        .map_err(|err| CliError::Journal(format!("cannot run journalctl: {err}")))?;
    let warnings = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if !output.status.success() {
        return Err(CliError::Journal(format!(
            "journalctl failed ({}): {warnings}",
            output.status
        )));
    }
    let (checkpoints, unreadable) = parse_entries(&String::from_utf8_lossy(&output.stdout));
    Ok(JournalRead {
        checkpoints,
        unreadable,
        warnings,
    })
}

fn seq_of(record: &Dict) -> Option<u64> {
    record
        .get("seq")
        .and_then(|v| u64::try_from(v.try_clone().ok()?).ok())
}

/// Reads what the comparison needs of the store over the bus: its head, its first record (later
/// than 1 once older records were archived), and the record at each checkpoint's sequence
/// number within them. The head is read after the journal, so a checkpoint the daemon writes
/// meanwhile is never taken for one beyond the store.
pub async fn store_view(
    client: &Client,
    checkpoints: &[JournalCheckpoint],
) -> Result<StoreView, CliError> {
    let head_seq = client.audit.head_seq().await?;
    let first: Vec<Dict> = interactive(&client.audit, "Read", &(0u64, 1u32)).await?;
    let first_seq = first.first().and_then(seq_of);
    let mut hashes = BTreeMap::new();
    if let Some(first_seq) = first_seq {
        let wanted: std::collections::BTreeSet<u64> = checkpoints
            .iter()
            .map(|c| c.seq)
            .filter(|seq| (first_seq..=head_seq).contains(seq))
            .collect();
        for seq in wanted {
            // Read returns the records after its first argument: the one at `seq` when it exists.
            let records: Vec<Dict> = interactive(&client.audit, "Read", &(seq - 1, 1u32)).await?;
            if let Some(record) = records.first()
                && seq_of(record) == Some(seq)
            {
                hashes.insert(seq, super::output::text(record, "hash"));
            }
        }
    }
    Ok(StoreView {
        first_seq,
        head_seq,
        hashes,
    })
}
