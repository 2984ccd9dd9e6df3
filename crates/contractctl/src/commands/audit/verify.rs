//! `contractctl audit verify`: the daemon's own verification of its store (and with
//! `--journal` a comparison with the checkpoints in the journal), or without the daemon a
//! store file read here with the verification key, or an archive file on its own.

use crate::commands::print_json;
use contractctl::client::{Bus, CliError, Client, EXIT_OK, EXIT_REFUSED, interactive};
use learning_contracts_rules::seal::{SealedVerification, VerificationKey};
use std::path::{Path, PathBuf};

/// The daemon verifies its store; with `journal`, the store is compared with the journal's
/// checkpoints of `unit` too.
pub async fn run(
    client: &Client,
    bus: &Bus,
    journal_wanted: bool,
    unit: String,
    json: bool,
) -> Result<u8, CliError> {
    let (ok, records, first_bad, message): (bool, u64, u64, String) =
        interactive(&client.audit, "Verify", &()).await?;
    let mut answer = serde_json::json!({"ok": ok, "records": records, "first_bad": first_bad, "message": message});
    if !json {
        println!("{} {message}", if ok { "OK:" } else { "BROKEN:" });
    }
    let journal_ok = if journal_wanted {
        let query = contractctl::journal::JournalQuery {
            unit,
            user: matches!(bus, Bus::Session),
        };
        let (found, report) = compare_journal(client, query, json).await?;
        answer["ok"] = serde_json::Value::from(ok && found);
        answer["journal"] = report;
        found
    } else {
        true
    };
    if json {
        print_json(&answer);
    }
    Ok(if ok && journal_ok {
        EXIT_OK
    } else {
        EXIT_REFUSED
    })
}

/// `--key` or `--store`: the store file (the running daemon's by default) read here, with
/// the verification key if given.
pub fn store_file(
    key: Option<&str>,
    store: Option<&Path>,
    user: bool,
    json: bool,
) -> Result<u8, CliError> {
    let key = key.map(read_key).transpose()?;
    let path = store.map_or_else(|| default_store(user), Path::to_path_buf);
    verify_store(&path, key.as_ref(), json)
}

/// The most findings listed in text; --json lists them all.
const FINDINGS_SHOWN: usize = 20;

/// Compares the journal's checkpoints with the store, prints the outcome (unless `json`), and
/// returns whether the journal vouches for the store, with the JSON report.
async fn compare_journal(
    client: &Client,
    query: contractctl::journal::JournalQuery,
    json: bool,
) -> Result<(bool, serde_json::Value), CliError> {
    use contractctl::journal;
    // The journal first, then the store: a checkpoint written meanwhile is then within the
    // store's head.
    let read = tokio::task::spawn_blocking(move || journal::read_checkpoints(&query))
        .await
        .map_err(|err| CliError::Journal(err.to_string()))??;
    if !read.warnings.is_empty() {
        eprintln!("journalctl: {}", read.warnings);
    }
    let view = journal::store_view(client, &read.checkpoints).await?;
    let comparison = learning_contracts_rules::checkpoint::compare(&read.checkpoints, &view);
    let ok = comparison.ok && read.unreadable.is_empty();
    if !json {
        println!(
            "{} {}",
            if comparison.ok { "OK:" } else { "BROKEN:" },
            comparison.message
        );
        let listed: Vec<String> = comparison
            .findings
            .iter()
            .map(|finding| finding.message())
            .chain(read.unreadable.iter().cloned())
            .collect();
        // A single problem is the summary already.
        if listed.len() > 1 || !read.unreadable.is_empty() {
            for line in listed.iter().take(FINDINGS_SHOWN) {
                println!("  {line}");
            }
            if listed.len() > FINDINGS_SHOWN {
                println!(
                    "  … and {} more (--json lists them all)",
                    listed.len() - FINDINGS_SHOWN
                );
            }
        }
        if comparison.ok && !read.unreadable.is_empty() {
            println!("BROKEN: the journal holds checkpoint entries that cannot be read");
        }
    }
    let mut report = serde_json::to_value(&comparison).unwrap_or_default();
    report["ok"] = serde_json::Value::from(ok);
    report["unreadable"] = serde_json::Value::from(read.unreadable);
    Ok((ok, report))
}

/// The store of the system daemon, or of a `--user` daemon.
fn default_store(user: bool) -> PathBuf {
    let file = learning_contracts_rules::install::STORE_FILE;
    if !user {
        return PathBuf::from("/var/lib/learning-contracts").join(file);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/state")
        });
    state.join("learning-contracts").join(file)
}

/// Reads a verification key given as text, or from standard input when it is "-" (so it
/// need not appear in the process list).
fn read_key(given: &str) -> Result<VerificationKey, CliError> {
    let text = if given == "-" {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|err| CliError::Input(format!("cannot read the key from stdin: {err}")))?;
        line
    } else {
        given.to_string()
    };
    text.parse()
        .map_err(|err: learning_contracts_rules::seal::SealError| CliError::Input(err.to_string()))
}

/// Verifies the store at `path`, read-only, with `key` if given; prints the finding and
/// returns the exit status (0 verified, 1 broken).
///
/// Only the daemon reads its store's format, so this tool has no database in its build: it
/// runs `learning-contractsd --verify-audit`, which prints the verification as JSON, and
/// hands it the key on standard input (never in the process list).
fn verify_store(path: &Path, key: Option<&VerificationKey>, json: bool) -> Result<u8, CliError> {
    use std::io::Write;
    if !path.exists() {
        return Err(CliError::Input(format!(
            "there is no store at {}; name it with --store FILE",
            path.display()
        )));
    }
    let daemon = contractctl::daemon_binary().ok_or_else(|| {
        CliError::Input(format!(
            "verifying a store file needs learning-contractsd, which reads its own store; it was not found beside contractctl, in {}, or in $LEARNING_CONTRACTSD",
            contractctl::DAEMON_PLACES.join(", ")
        ))
    })?;
    let mut command = std::process::Command::new(&daemon);
    command.arg("--verify-audit").arg(path);
    if key.is_some() {
        command.args(["--verification-key", "-"]);
    }
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| CliError::Input(format!("cannot run {}: {err}", daemon.display())))?;
    if let (Some(key), Some(mut stdin)) = (key, child.stdin.take()) {
        // A write error shows as the daemon's own complaint below.
        let _ = writeln!(stdin, "{key}");
    }
    let output = child
        .wait_with_output()
        .map_err(|err| CliError::Input(format!("cannot run {}: {err}", daemon.display())))?;
    let verification: SealedVerification = match serde_json::from_slice(&output.stdout) {
        Ok(verification) => verification,
        Err(_) => {
            let said = String::from_utf8_lossy(&output.stderr);
            let said = said.trim().trim_start_matches("learning-contractsd: ");
            return Err(CliError::Input(if said.is_empty() {
                format!(
                    "cannot read the store at {}: {} gave no verification ({})",
                    path.display(),
                    daemon.display(),
                    output.status
                )
            } else {
                said.to_string()
            }));
        }
    };
    print_verification(&verification, json);
    Ok(if verification.ok {
        EXIT_OK
    } else {
        EXIT_REFUSED
    })
}

/// Prints a store's verification: the verdict, its notes, and what to do when it failed.
fn print_verification(verification: &SealedVerification, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(verification).unwrap_or_default()
        );
        return;
    }
    let verdict = if verification.ok { "OK:" } else { "BROKEN:" };
    println!("{verdict} {}", verification.message);
    for note in &verification.notes {
        println!("  note: {note}");
    }
    if !verification.ok {
        println!(
            "  The audit log or its seals were changed after they were written, or seals are missing. Keep a copy of the store as it is, and compare it with a backup; records before the point named above are intact."
        );
    }
}

/// `audit verify --file`: an archive verified on its own, without the daemon.
pub fn archive_file(file: &std::path::Path, json: bool) -> Result<u8, CliError> {
    let (header, verification) = contractctl::archive_file::verify_archive(file)
        .map_err(|err| CliError::Input(err.to_string()))?;
    if json {
        print_json(&serde_json::json!({
            "ok": verification.ok,
            "records": verification.records,
            "first_bad": verification.first_bad,
            "message": verification.message,
            "first_seq": header.first_seq,
            "last_seq": header.last_seq,
            "last_hash": header.last_hash,
        }));
    } else {
        let verdict = if verification.ok { "OK:" } else { "BROKEN:" };
        println!("{verdict} {}", verification.message);
        if verification.ok {
            println!(
                "The store continues this chain from record {} (its anchor: {}).",
                header.last_seq + 1,
                header.last_hash
            );
        }
    }
    Ok(if verification.ok {
        EXIT_OK
    } else {
        EXIT_REFUSED
    })
}
