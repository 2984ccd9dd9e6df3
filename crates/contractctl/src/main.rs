//! contractctl: read, approve and revoke what your assistant may learn, and manage the host's
//! learning boundary, through learning-contractsd.

use clap::{Args, Parser, Subcommand};
use contractctl::client::{Bus, CliError, Client, EXIT_CHECK_DENIED, EXIT_OK, EXIT_REFUSED};
use contractctl::output::{self, Dict, dict_json, table, text, texts};
use contractctl::{follow, watch};
use learning_contracts_rules::Timestamp;
use learning_contracts_rules::seal::{SealedVerification, VerificationKey};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zbus::{OwnedVariant, Variant};

/// Read, approve and revoke learning contracts: what local AI agents may learn from you, how
/// far they may generalize it, how long they may keep it, and whether it may leave this
/// machine. Also shows and manages the host's boundary mode, lockdown and pauses.
///
/// contractctl talks to learning-contractsd on the system bus (or, with --user, to a daemon
/// started with --user on your session bus). Who may do what is decided by the daemon: your
/// own contracts are yours to draft, submit and revoke; activating one asks for your
/// confirmation (polkit may ask for your password); other users' contracts, lockdown, overrides
/// and pausing everyone need an admin.
///
/// Output is a table or text for people, or JSON with --json on every read command. Colours
/// only on a terminal, never with NO_COLOR set.
///
/// Exit status: 0 done (for check: allowed); 1 the daemon refused (wrong state, not
/// revocable, you declined), or audit verify found the log broken or not what the journal saw;
/// 2 bad arguments; 3 access denied; 4 no such contract that you can see; 5 invalid input (bad
/// key, value or date, or a contract that cannot be accepted); 6 the daemon cannot be reached;
/// 7 the journal cannot be read (audit verify --journal); 10 check answered "denied".
#[derive(Debug, Parser)]
#[command(name = "contractctl", version, verbatim_doc_comment)]
struct Cli {
    /// Talk to a daemon started with --user on your session bus.
    #[arg(long, global = true, conflicts_with = "bus_address")]
    user: bool,
    /// Talk to the daemon on the bus at this D-Bus address.
    #[arg(long, global = true, value_name = "ADDRESS")]
    bus_address: Option<String>,
    /// Print JSON instead of tables and text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The boundary mode, its source, lockdown, pauses, and how many contracts are active.
    Status,
    /// Contracts you can see: yours and the system prohibitions (root: all).
    List {
        /// Only this state: draft, review, active, expired, revoked or amended.
        #[arg(long)]
        state: Option<String>,
        /// Only this kind: observation, episodic, procedural, strategic or prohibited.
        #[arg(long)]
        kind: Option<String>,
        /// Only this owner's (uid; another owner's needs an admin).
        #[arg(long)]
        owner: Option<u32>,
    },
    /// One contract: its plain-language summary and every field.
    Show {
        /// The contract id.
        id: String,
    },
    /// The ready-made contracts for `new --template`, with their parameters.
    Templates,
    /// Create a draft: by kind with the flags below, from a template, or from a sentence.
    New(NewArgs),
    /// Change a draft of yours; flags not given keep their value.
    Edit {
        /// The draft's id.
        id: String,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// Submit a draft for review; the daemon checks it in full and says what to fix.
    Submit {
        /// The draft's id.
        id: String,
    },
    /// Approve a contract in review. Shows its summary and asks you to confirm (no default);
    /// without a terminal, --yes is required.
    Activate {
        /// The contract's id.
        id: String,
        /// Approve without asking (only when there is no terminal to ask on).
        #[arg(long)]
        yes: bool,
    },
    /// Revoke a contract: its memories are forgotten (tombstoned, derived ones quarantined).
    Revoke {
        /// The contract's id.
        id: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "revoked with contractctl")]
        reason: String,
    },
    /// Draft an amendment of an active contract of yours: the flags given change it; the
    /// amendment replaces the contract once you activate it.
    Amend {
        /// The active contract's id.
        id: String,
        #[command(flatten)]
        spec: SpecArgs,
    },
    /// The memories recorded under a contract, or the deep purge of a revoked or expired
    /// contract's memory records (asks you to confirm; --yes without a terminal).
    Memories {
        #[command(subcommand)]
        action: MemoriesAction,
    },
    /// Withdraw a draft or a contract in review before it is ever used.
    Withdraw {
        /// The draft's id.
        id: String,
    },
    /// Show the boundary mode; --explain shows the facts and the rule behind it.
    ///
    /// With --explain: why, as a person reads it. First the daemon's summary (mode, source and
    /// its health, the reading, any latch, override or pause), then the source's facts: for the
    /// detector the rule that matched and which facts held, the links (name, kind, state, VPN
    /// or not and why), the routes out (family, destination, table, links, gateway, why) and
    /// the mounts (mount point, writable, encrypted, removable, why); for the Boundary Daemon
    /// its answer or why it cannot be read; for the static source the configured mode. With
    /// --json: {"mode", "explain" (the daemon's text), "facts" (the full facts)}.
    Mode {
        /// Show why the mode is what it is.
        #[arg(long)]
        explain: bool,
    },
    /// Stop all learning now (yours; --all for everyone, admin). Recall still works.
    Pause {
        /// Everyone's learning (admin).
        #[arg(long)]
        all: bool,
        /// Why.
        #[arg(long, default_value = "paused with contractctl")]
        reason: String,
    },
    /// Resume learning (yours; --all for everyone, admin).
    Resume {
        /// Everyone's learning (admin).
        #[arg(long)]
        all: bool,
    },
    /// Put the host into LOCKDOWN now (admin): everything is denied until released.
    Lockdown {
        /// Why (required).
        #[arg(long)]
        reason: String,
    },
    /// Release a latched LOCKDOWN (admin), with a reason.
    ///
    /// Says the mode the release left, or, when the mode stays LOCKDOWN, what holds it: the
    /// Boundary Daemon's mode or its latch (release it there), the static mode, or a lockdown
    /// latched again. With --json: {"released", "mode", "held_by" (null when nothing does)}.
    ReleaseLockdown {
        /// Why it is safe again (required).
        #[arg(long)]
        reason: String,
    },
    /// Claim less isolation than detected (admin), or --clear the override.
    Override {
        /// OPEN, RESTRICTED, TRUSTED, AIRGAP or COLDROOM.
        #[arg(required_unless_present = "clear")]
        mode: Option<String>,
        /// Why.
        #[arg(long, default_value = "set with contractctl")]
        reason: String,
        /// Remove the override.
        #[arg(long, conflicts_with = "mode")]
        clear: bool,
    },
    /// Ask the daemon what an agent would be told (for debugging an agent). Exit status 10
    /// when denied.
    Check(CheckArgs),
    /// The audit log: verify the chain, or show records (admin).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// A live view of the mode, the source's health, lockdown, pauses and every contract you
    /// can see, redrawn when the daemon signals a change. q, Esc or Ctrl-C quits. With --json,
    /// one JSON snapshot a line instead, for scripts and pipes.
    Watch,
    /// Print shell completions for bash, zsh, fish, elvish or powershell.
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

#[derive(Debug, Subcommand)]
enum MemoriesAction {
    /// The memory records of a contract (never their content).
    List {
        /// The contract's id.
        contract_id: String,
    },
    /// Delete every memory record of a revoked or expired contract for good: nothing of their
    /// ids, domains, contexts or links stays in the store, and the audit keeps only who purged
    /// how many, when. Two steps: a one-time token (after your confirmation), then the purge.
    Purge {
        /// The contract's id.
        contract_id: String,
        /// Purge without asking (only when there is no terminal to ask on).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AuditAction {
    /// Recompute the hash chain and check its seals; report the first broken record (admin).
    ///
    /// Without options the daemon verifies its own store: every record's hash and link, and
    /// the structure of the seals (each names a record with that record's hash, they follow
    /// each other epoch by epoch, each sealing era begins with the record that enabled it).
    ///
    /// With --key (or --store) the store file is read here, read-only, with no daemon needed,
    /// and with the verification key that `audit setup-keys` showed every sealed epoch is
    /// proven untouched: its seal must have been made with that epoch's key, which no one who
    /// takes the host later can compute. It reports records from before sealing and the
    /// unsealed tail (records newer than the last seal, not yet protected) as notes, and fails
    /// when a record was changed and resealed with a later key, when epochs were skipped
    /// (seals removed where no clean stop allows a gap), when the log was truncated and
    /// continued, when the seals were stripped, or when seals stopped without a clean stop
    /// more than an epoch ago by this machine's clock (a crash, or removed records; verify a
    /// copy soon after taking it). A store that was never sealed verifies as "unsealed"
    /// without --key and fails with it.
    ///
    /// With --journal the store is also compared with the checkpoints of the chain's head
    /// that the daemon writes to the journal (MESSAGE_ID=03c0ff71d07840208240a741a4e03ddd): a
    /// store rewritten and re-chained end to end still verifies on its own, but its records
    /// no longer have the hashes the journal saw.
    ///
    /// With --file, an archive written by `audit archive` is verified on its own instead,
    /// offline.
    ///
    /// Exit status 0 when everything verified, 1 when something did not (the message names
    /// it), 5 for a key that does not parse or a store or archive that cannot be read, 7 when
    /// journalctl cannot be run or fails. --json prints the whole finding.
    #[command(verbatim_doc_comment)]
    Verify {
        /// The verification key `audit setup-keys` showed; "-" reads it from standard input
        /// (so it does not appear in the process list).
        #[arg(long, value_name = "KEY", conflicts_with_all = ["file", "journal"])]
        key: Option<String>,
        /// Verify this store file instead of the running daemon's (default with --key:
        /// /var/lib/learning-contracts/contracts.db, or the --user daemon's).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["file", "journal"])]
        store: Option<std::path::PathBuf>,
        /// An archive file (from `audit archive`) to verify on its own, without the daemon.
        #[arg(long, value_name = "FILE", conflicts_with = "journal")]
        file: Option<std::path::PathBuf>,
        /// Also compare the store with the daemon's checkpoints in the journal, read with
        /// journalctl (root or the systemd-journal group can read them all). Checkpoints of
        /// records archived out of the store are reported as such, not as errors; records
        /// newer than the latest checkpoint are not vouched for by the journal yet.
        #[arg(long)]
        journal: bool,
        /// The daemon's systemd unit: only its entries are read (with --user, its user unit
        /// in your user journal).
        #[arg(long, value_name = "UNIT", requires = "journal", default_value = contractctl::journal::DEFAULT_UNIT)]
        unit: String,
    },
    /// Move older records out of the store into FILE (admin). The records are read, written
    /// to FILE (a new file, mode 0600, flushed to disk) and verified there before the daemon
    /// removes them; the daemon removes them only if FILE's last record has the hash the
    /// store has, and keeps that record's hash as the anchor the rest of the chain continues
    /// from. `audit verify --file FILE` verifies the archive later, anywhere.
    Archive {
        /// Archive the records before this: a sequence number (records below it) or a date
        /// as YYYY-MM-DD (records written before midnight UTC that day).
        #[arg(long, value_name = "SEQ|DATE")]
        before: String,
        /// The archive file to create; an existing file is never overwritten.
        file: std::path::PathBuf,
    },
    /// Set up forward-secure sealing of the audit log and show its verification key once
    /// (admin).
    ///
    /// The daemon makes a random seed, records in the audit chain that sealing begins, and
    /// from then on seals the log at the end of every epoch ([audit] seal_interval_seconds,
    /// 15 minutes by default) with a key that evolves one way each epoch; the key of a past
    /// epoch is erased. The seed, inside the verification key printed here as text and as a
    /// QR code, is never kept on the host: write it down, keep it elsewhere, and verify with
    /// `contractctl audit verify --key -`. A second setup is refused unless --force, which
    /// closes the current sealing era and begins a new one (recorded in the chain; from then
    /// on verify with the new key: the old one still checks the old era's seals, but fails
    /// the verification because it cannot prove the new era's).
    ///
    /// With --offline --output FILE no daemon is needed: a new seed is made here, the
    /// sealing key for systemd credentials is written to FILE (mode 0600) and the
    /// verification key is shown. Encrypt FILE with systemd-creds and name it in the unit's
    /// LoadCredentialEncrypted=audit-sealing-key; the daemon takes it at its next start if
    /// its store is not sealed yet, and logs that the credential may then be removed.
    #[command(verbatim_doc_comment)]
    SetupKeys {
        /// Replace an existing sealing setup with a new era and a new key.
        #[arg(long, conflicts_with = "offline")]
        force: bool,
        /// Make the key here and write the sealing key to --output, without the daemon.
        #[arg(long, requires = "output")]
        offline: bool,
        /// With --offline: the file to write the sealing key to (never overwritten).
        #[arg(long, value_name = "FILE", requires = "offline")]
        output: Option<std::path::PathBuf>,
        /// With --offline: the epoch length in seconds (10 to 604800; the daemon's own setup
        /// uses [audit] seal_interval_seconds).
        #[arg(long, value_name = "SECONDS", default_value_t = learning_contracts_rules::time::SEAL_INTERVAL_DEFAULT_SECS, requires = "offline")]
        interval: u64,
    },
    /// Show records after a sequence number (admin); --follow keeps printing new ones as they
    /// are written, until Ctrl-C.
    Show {
        /// Show records after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// At most this many (without --follow).
        #[arg(long, default_value_t = 50, conflicts_with = "follow")]
        limit: u32,
        /// Keep printing records as they are written (one JSON object a line with --json),
        /// woken by the daemon's signals; stop with Ctrl-C.
        #[arg(long, short = 'f')]
        follow: bool,
    },
}

#[derive(Debug, Args)]
struct NewArgs {
    /// The kind: observation, episodic, procedural, strategic or prohibited.
    #[arg(required_unless_present_any = ["template", "from_text"])]
    kind: Option<String>,
    /// Start from a template (list them with: contractctl templates).
    #[arg(long, conflicts_with_all = ["kind", "from_text"])]
    template: Option<String>,
    /// A template parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", requires = "template")]
    params: Vec<String>,
    /// Read the draft from a sentence, for example "Learn coding tips from project alpha for 3 weeks".
    #[arg(long, value_name = "TEXT", conflicts_with = "kind")]
    from_text: Option<String>,
    #[command(flatten)]
    spec: SpecArgs,
}

#[derive(Debug, Args, Default)]
struct SpecArgs {
    /// A domain the contract is about (repeatable; at least one).
    #[arg(long = "domain", value_name = "NAME")]
    domains: Vec<String>,
    /// A context it applies in (repeatable), or * for any context.
    #[arg(long = "context", value_name = "NAME")]
    contexts: Vec<String>,
    /// A tool through which learning may happen (repeatable), or * for any tool.
    #[arg(long = "tool", value_name = "NAME")]
    tools: Vec<String>,
    /// permanent, timebound (with --until) or session.
    #[arg(long)]
    retention: Option<String>,
    /// For timebound: the day it ends (YYYY-MM-DD, at 00:00 UTC).
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// The highest memory class it covers, 0 (public) to 5 (crown jewel).
    #[arg(long, value_name = "CLASS")]
    cap: Option<u8>,
    /// The least isolated boundary mode it may work in.
    #[arg(long, value_name = "MODE")]
    required_mode: Option<String>,
    /// How far it may generalize: raw, pattern, heuristic or strategy.
    #[arg(long, value_name = "LEVEL")]
    max_abstraction: Option<String>,
    /// Knowledge may leave this machine (off unless given).
    #[arg(long)]
    transferable: bool,
    /// Recall only while you are present.
    #[arg(long)]
    recall_requires_owner: bool,
    /// Your own words about it.
    #[arg(long)]
    description: Option<String>,
    /// A system prohibition that applies to every user (admin).
    #[arg(long)]
    system: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// memory-creation, abstraction, recall or export; or the gates recall-gate, tool-gate.
    check: String,
    /// The domain.
    #[arg(long)]
    domain: Option<String>,
    /// The context.
    #[arg(long)]
    context: Option<String>,
    /// The memory class, 0 to 5.
    #[arg(long = "class", default_value_t = 0)]
    class: u8,
    /// The tool (and for tool-gate, the tool's name).
    #[arg(long)]
    tool: Option<String>,
    /// A contract to name.
    #[arg(long = "contract")]
    contract_id: Option<String>,
    /// A memory to name (recall, export).
    #[arg(long = "memory")]
    memory_id: Option<String>,
    /// The abstraction level (abstraction check).
    #[arg(long)]
    abstraction: Option<String>,
    /// For tool-gate: the tool needs the network.
    #[arg(long)]
    network: bool,
    /// For tool-gate: the tool needs the filesystem.
    #[arg(long)]
    filesystem: bool,
    /// For tool-gate: the tool needs USB.
    #[arg(long)]
    usb: bool,
}

fn value<'a>(v: impl Into<Variant<'a>>) -> OwnedVariant {
    OwnedVariant::try_from(v.into()).expect("plain values always convert")
}

impl SpecArgs {
    fn dict(&self) -> Result<HashMap<String, OwnedVariant>, CliError> {
        let mut dict = HashMap::new();
        for (key, list) in [
            ("domains", &self.domains),
            ("contexts", &self.contexts),
            ("tools", &self.tools),
        ] {
            if !list.is_empty() {
                dict.insert(key.to_string(), value(list.clone()));
            }
        }
        if let Some(retention) = &self.retention {
            dict.insert("retention".into(), value(retention.as_str()));
        }
        if let Some(until) = &self.until {
            let at = learning_contracts_rules::plain::parse_iso_date(until).ok_or_else(|| {
                CliError::Input(format!(
                    "--until '{until}' is not a date; write it as YYYY-MM-DD"
                ))
            })?;
            dict.insert("retention_until".into(), value(at.as_secs()));
            dict.entry("retention".into())
                .or_insert_with(|| value("timebound"));
        }
        if let Some(cap) = self.cap {
            dict.insert("classification_cap".into(), value(cap));
        }
        if let Some(mode) = &self.required_mode {
            dict.insert("required_mode".into(), value(mode.as_str()));
        }
        if let Some(level) = &self.max_abstraction {
            dict.insert("max_abstraction".into(), value(level.as_str()));
        }
        if self.transferable {
            dict.insert("transferable".into(), value(true));
        }
        if self.recall_requires_owner {
            dict.insert("recall_requires_owner".into(), value(true));
        }
        if let Some(description) = &self.description {
            dict.insert("description".into(), value(description.as_str()));
        }
        if self.system {
            dict.insert("system".into(), value(true));
        }
        Ok(dict)
    }
}

/// Context for a question: on stdout for people, on stderr when stdout carries JSON.
fn say(json: bool, text: &str) {
    if json {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}

/// Writes generated text to stdout; a reader that stops early (a pager, `head`) is fine.
fn write_stdout(bytes: &[u8]) {
    let _ = std::io::stdout().lock().write_all(bytes);
}

fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Asks a yes/no question on the terminal; "no" unless the person types yes.
fn confirm(question: &str, yes: bool) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return if yes {
            Ok(())
        } else {
            Err(CliError::Declined(
                "there is no terminal to confirm on; pass --yes to approve without asking".into(),
            ))
        };
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim().to_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::Declined(
            "not approved; nothing was changed".into(),
        ))
    }
}

/// `audit verify --file`: an archive verified on its own, without the daemon.
fn verify_archive_file(file: &std::path::Path, json: bool) -> Result<u8, CliError> {
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
        contractctl::client::EXIT_REFUSED
    })
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    match &cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "contractctl", &mut script);
            write_stdout(&script);
            return Ok(EXIT_OK);
        }
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|err| CliError::Input(err.to_string()))?;
            write_stdout(&page);
            return Ok(EXIT_OK);
        }
        Command::Audit {
            action: AuditAction::Verify {
                file: Some(file), ..
            },
        } => return verify_archive_file(file, cli.json),
        // Offline: the store file, or a key file, without the daemon.
        Command::Audit {
            action: AuditAction::Verify { key, store, .. },
        } if key.is_some() || store.is_some() => {
            let key = key.as_deref().map(read_key).transpose()?;
            let path = store.clone().unwrap_or_else(|| default_store(cli.user));
            return verify_offline(&path, key.as_ref(), cli.json);
        }
        Command::Audit {
            action:
                AuditAction::SetupKeys {
                    offline: true,
                    output: Some(output),
                    interval,
                    ..
                },
        } => return setup_offline(output, *interval, cli.json),
        _ => {}
    }
    let bus = match (&cli.bus_address, cli.user) {
        (Some(address), _) => Bus::Address(address.clone()),
        (None, true) => Bus::Session,
        (None, false) => Bus::System,
    };
    let client = Client::connect(&bus).await?;
    let json = cli.json;
    match cli.command {
        Command::Status => {
            let mode: String = client.property("Boundary1", "Mode").await?;
            let source: String = client.property("Boundary1", "Source").await?;
            let healthy: bool = client.property("Boundary1", "SourceHealthy").await?;
            let lockdown: bool = client.property("Boundary1", "Lockdown").await?;
            let reason: String = client.property("Boundary1", "LockdownReason").await?;
            let lowered: String = client.property("Boundary1", "ModeOverride").await?;
            let paused_all: bool = client.property("Boundary1", "PausedAll").await?;
            let active: u32 = client.property("Contracts1", "ActiveCount").await?;
            let suspended: u32 = client.property("Contracts1", "SuspendedCount").await?;
            if json {
                print_json(&serde_json::json!({
                    "mode": mode, "source": source, "source_healthy": healthy, "lockdown": lockdown,
                    "lockdown_reason": reason, "override": lowered, "paused_all": paused_all,
                    "active": active, "suspended": suspended,
                }));
            } else {
                println!(
                    "Mode:       {} (source {source}, {})",
                    output::bold(&mode),
                    if healthy { "healthy" } else { "NOT healthy" }
                );
                if lockdown {
                    println!("Lockdown:   LATCHED: {reason}");
                }
                if !lowered.is_empty() {
                    println!("Override:   {lowered}");
                }
                if paused_all {
                    println!("Learning:   paused for everyone");
                }
                println!("Contracts:  {active} active, {suspended} suspended");
            }
        }
        Command::List { state, kind, owner } => {
            let mut filter = HashMap::new();
            if let Some(state) = state {
                filter.insert("state".to_string(), value(state));
            }
            if let Some(kind) = kind {
                filter.insert("kind".to_string(), value(kind));
            }
            if let Some(owner) = owner {
                filter.insert("owner".to_string(), value(owner));
            }
            let contracts: Vec<Dict> = client.call("Contracts1", "List", &(filter,)).await?;
            if json {
                print_json(&serde_json::Value::Array(
                    contracts.iter().map(dict_json).collect(),
                ));
            } else if contracts.is_empty() {
                println!("No contracts. Create one with: contractctl new --help");
            } else {
                let rows: Vec<Vec<String>> = contracts
                    .iter()
                    .map(|c| {
                        let suspension = texts(c, "suspension").join(",");
                        vec![
                            text(c, "id"),
                            text(c, "kind"),
                            text(c, "state"),
                            if suspension.is_empty() {
                                "-".into()
                            } else {
                                suspension
                            },
                            texts(c, "domains").join(","),
                            texts(c, "contexts").join(","),
                        ]
                    })
                    .collect();
                println!(
                    "{}",
                    table(
                        &["ID", "KIND", "STATE", "SUSPENDED", "DOMAINS", "CONTEXTS"],
                        &rows
                    )
                );
            }
        }
        Command::Show { id } => {
            let contract: Dict = client.call("Contracts1", "Get", &(id.as_str(),)).await?;
            let summary: String = client
                .call("Contracts1", "Summarize", &(id.as_str(),))
                .await?;
            if json {
                let mut value = dict_json(&contract);
                value["summary"] = serde_json::Value::from(summary);
                print_json(&value);
            } else {
                println!("{}\n", summary);
                let mut keys: Vec<&String> = contract.keys().collect();
                keys.sort();
                for key in keys {
                    println!("  {key:<22} {}", output::to_json(&contract[key]));
                }
            }
        }
        Command::Templates => {
            let templates: Vec<Dict> = client.call("Contracts1", "Templates", &()).await?;
            if json {
                print_json(&serde_json::Value::Array(
                    templates.iter().map(dict_json).collect(),
                ));
            } else {
                for template in &templates {
                    println!(
                        "{} ({}): {}\n  {}",
                        output::bold(&text(template, "name")),
                        text(template, "kind"),
                        text(template, "title"),
                        text(template, "description")
                    );
                    let params: Vec<Dict> = template
                        .get("params")
                        .and_then(|v| Vec::<Dict>::try_from(v.try_clone().ok()?).ok())
                        .unwrap_or_default();
                    for param in &params {
                        let required = param
                            .get("required")
                            .and_then(|v| bool::try_from(v.try_clone().ok()?).ok())
                            .unwrap_or(false);
                        let default = text(param, "default");
                        let note = if required {
                            " (required)".to_string()
                        } else if default.is_empty() {
                            String::new()
                        } else {
                            format!(" (default {default})")
                        };
                        println!(
                            "  --param {:<16} {}{note}",
                            format!("{}=…", text(param, "name")),
                            text(param, "description")
                        );
                    }
                    println!();
                }
                println!("Use one with: contractctl new --template NAME --param NAME=VALUE …");
            }
        }
        Command::New(args) => {
            let (id, summary, questions) = if let Some(name) = args.template {
                let mut params = HashMap::new();
                for pair in &args.params {
                    let (k, v) = pair.split_once('=').ok_or_else(|| {
                        CliError::Input(format!("--param '{pair}' is not NAME=VALUE"))
                    })?;
                    params.insert(k.to_string(), value(v));
                }
                let id: String = client
                    .call("Contracts1", "DraftFromTemplate", &(name.as_str(), params))
                    .await?;
                let summary: String = client
                    .call("Contracts1", "Summarize", &(id.as_str(),))
                    .await?;
                (id, summary, Vec::new())
            } else if let Some(sentence) = args.from_text {
                client
                    .call::<_, (String, String, Vec<String>)>(
                        "Contracts1",
                        "DraftFromText",
                        &(sentence.as_str(),),
                    )
                    .await?
            } else {
                let kind = args.kind.unwrap_or_default();
                let id: String = client
                    .call(
                        "Contracts1",
                        "CreateDraft",
                        &(kind.as_str(), args.spec.dict()?),
                    )
                    .await?;
                let summary: String = client
                    .call("Contracts1", "Summarize", &(id.as_str(),))
                    .await?;
                (id, summary, Vec::new())
            };
            if json {
                print_json(
                    &serde_json::json!({"id": id, "summary": summary, "questions": questions}),
                );
            } else {
                if id.is_empty() {
                    println!("No draft was made.");
                } else {
                    println!("Draft {id} created.\n\n{summary}");
                }
                for question in &questions {
                    println!("? {question}");
                }
                if !id.is_empty() {
                    println!("\nNext: contractctl submit {id}");
                }
            }
        }
        Command::Edit { id, spec } => {
            client
                .call::<_, ()>("Contracts1", "UpdateDraft", &(id.as_str(), spec.dict()?))
                .await?;
            println!("Draft {id} changed.");
        }
        Command::Submit { id } => {
            client
                .call::<_, ()>("Contracts1", "Submit", &(id.as_str(),))
                .await?;
            println!("Contract {id} is in review. Approve it with: contractctl activate {id}");
        }
        Command::Activate { id, yes } => {
            let summary: String = client
                .call("Contracts1", "Summarize", &(id.as_str(),))
                .await?;
            say(json, &format!("{summary}\n"));
            confirm("Approve this contract?", yes)?;
            client
                .call::<_, ()>("Contracts1", "Activate", &(id.as_str(),))
                .await?;
            println!("Contract {id} is active.");
        }
        Command::Revoke { id, reason } => {
            client
                .call::<_, ()>("Contracts1", "Revoke", &(id.as_str(), reason.as_str()))
                .await?;
            println!("Contract {id} is revoked.");
        }
        Command::Amend { id, spec } => {
            let new: String = client
                .call("Contracts1", "Amend", &(id.as_str(), spec.dict()?))
                .await?;
            let summary: String = client
                .call("Contracts1", "Summarize", &(new.as_str(),))
                .await?;
            if json {
                print_json(&serde_json::json!({"id": new, "amends": id, "summary": summary}));
            } else {
                println!(
                    "Amendment {new} drafted; {id} stays in force until it is activated.\n\n{summary}\n\nNext: contractctl submit {new} && contractctl activate {new}"
                );
            }
        }
        Command::Memories { action } => match action {
            MemoriesAction::List { contract_id } => {
                let memories: Vec<Dict> = client
                    .call("Memories1", "List", &(contract_id.as_str(),))
                    .await?;
                if json {
                    print_json(&serde_json::Value::Array(
                        memories.iter().map(dict_json).collect(),
                    ));
                } else if memories.is_empty() {
                    println!("No memory records under contract {contract_id}.");
                } else {
                    let rows: Vec<Vec<String>> = memories
                        .iter()
                        .map(|m| {
                            vec![
                                text(m, "id"),
                                text(m, "status"),
                                text(m, "domain"),
                                text(m, "context"),
                                output::to_json(&m["classification"]).to_string(),
                                text(m, "abstraction"),
                            ]
                        })
                        .collect();
                    println!(
                        "{}",
                        table(
                            &["ID", "STATUS", "DOMAIN", "CONTEXT", "CLASS", "ABSTRACTION"],
                            &rows
                        )
                    );
                }
            }
            MemoriesAction::Purge { contract_id, yes } => {
                let memories: Vec<Dict> = client
                    .call("Memories1", "List", &(contract_id.as_str(),))
                    .await?;
                let summary: String = client
                    .call("Contracts1", "Summarize", &(contract_id.as_str(),))
                    .await?;
                say(json, &format!("{summary}\n"));
                say(
                    json,
                    &format!(
                        "This deletes the records of {} memories of contract {contract_id} for good; nothing of them is kept. It cannot be undone.",
                        memories.len()
                    ),
                );
                confirm("Purge them?", yes)?;
                let token: String = client
                    .call("Memories1", "RequestPurge", &(contract_id.as_str(),))
                    .await?;
                let count: u32 = client
                    .call(
                        "Memories1",
                        "ConfirmPurge",
                        &(contract_id.as_str(), token.as_str()),
                    )
                    .await?;
                if json {
                    print_json(&serde_json::json!({"contract_id": contract_id, "purged": count}));
                } else {
                    println!("Purged {count} memory records of contract {contract_id}.");
                }
            }
        },
        Command::Withdraw { id } => {
            let contract: Dict = client.call("Contracts1", "Get", &(id.as_str(),)).await?;
            if !matches!(text(&contract, "state").as_str(), "draft" | "review") {
                return Err(CliError::Declined(format!(
                    "contract {id} is {}; only a draft or a contract in review can be withdrawn (use revoke)",
                    text(&contract, "state")
                )));
            }
            client
                .call::<_, ()>(
                    "Contracts1",
                    "Revoke",
                    &(id.as_str(), "withdrawn before use"),
                )
                .await?;
            println!("Contract {id} is withdrawn.");
        }
        Command::Mode { explain } => {
            let mode: String = client.property("Boundary1", "Mode").await?;
            let why: Option<String> = if explain {
                Some(client.call("Boundary1", "Explain", &()).await?)
            } else {
                None
            };
            match (why, json) {
                (None, true) => print_json(&serde_json::json!({"mode": mode, "explain": null})),
                (None, false) => println!("{mode}"),
                (Some(why), true) => {
                    let facts = contractctl::explain::parse(&why).facts;
                    print_json(&serde_json::json!({"mode": mode, "explain": why, "facts": facts}));
                }
                (Some(why), false) => {
                    let explained = contractctl::explain::parse(&why);
                    println!("{}", contractctl::explain::render(&explained));
                }
            }
        }
        Command::Pause { all, reason } => {
            let method = if all { "PauseAll" } else { "PauseLearning" };
            client
                .call::<_, ()>("Boundary1", method, &(reason.as_str(),))
                .await?;
            println!(
                "Learning is paused{}.",
                if all { " for everyone" } else { "" }
            );
        }
        Command::Resume { all } => {
            let method = if all { "ResumeAll" } else { "ResumeLearning" };
            client.call::<_, ()>("Boundary1", method, &()).await?;
            println!(
                "Learning is resumed{}.",
                if all { " for everyone" } else { "" }
            );
        }
        Command::Lockdown { reason } => {
            client
                .call::<_, ()>("Boundary1", "EnterLockdown", &(reason.as_str(),))
                .await?;
            if json {
                let mode: String = client.property("Boundary1", "Mode").await?;
                print_json(&serde_json::json!({"latched": true, "mode": mode}));
            } else {
                println!("LOCKDOWN is latched: everything is denied until an admin releases it.");
            }
        }
        Command::ReleaseLockdown { reason } => {
            client
                .call::<_, ()>("Boundary1", "ReleaseLockdown", &(reason.as_str(),))
                .await?;
            // The release commits the mode it means before it replies, so this is the mode now,
            // and the source's facts say what, if anything, still holds LOCKDOWN.
            let mode: String = client.property("Boundary1", "Mode").await?;
            let held_by = if mode == "LOCKDOWN" {
                let relatched: bool = client.property("Boundary1", "Lockdown").await?;
                Some(if relatched {
                    let why: String = client.property("Boundary1", "LockdownReason").await?;
                    format!("a new lockdown is latched ({why})")
                } else {
                    let source: String = client.property("Boundary1", "Source").await?;
                    let facts: Dict = client.property("Boundary1", "Facts").await?;
                    contractctl::explain::lockdown_holder(&source, &dict_json(&facts))
                })
            } else {
                None
            };
            if json {
                print_json(
                    &serde_json::json!({"released": true, "mode": mode, "held_by": held_by}),
                );
            } else if let Some(held_by) = held_by {
                println!("Lockdown released; the mode stays LOCKDOWN: {held_by}.");
            } else if mode == "UNKNOWN" {
                println!(
                    "Lockdown released; the mode is now UNKNOWN (the source gives no good reading), enforced like LOCKDOWN."
                );
            } else {
                println!("Lockdown released; the mode is now {mode}.");
            }
        }
        Command::Override {
            mode,
            reason,
            clear,
        } => {
            if clear {
                client
                    .call::<_, ()>("Boundary1", "ClearOverride", &())
                    .await?;
                println!("Override cleared.");
            } else {
                let mode = mode.unwrap_or_default();
                client
                    .call::<_, ()>(
                        "Boundary1",
                        "SetOverride",
                        &(mode.as_str(), reason.as_str()),
                    )
                    .await?;
                println!("Override set: the mode is at most {mode}.");
            }
        }
        Command::Check(args) => return check(&client, args, json).await,
        Command::Watch => watch::run(&client, json).await?,
        Command::Completions { .. } | Command::Man => unreachable!("answered before connecting"),
        Command::Audit { action } => match action {
            AuditAction::Verify { file: Some(_), .. } => unreachable!("answered before connecting"),
            AuditAction::Archive { before, file } => {
                use contractctl::archive::{self, Archived, Before};
                let before = Before::parse(&before)?;
                match archive::run(&client, before, &file).await? {
                    Archived::Nothing if json => {
                        print_json(&serde_json::json!({"archived": 0, "removed": 0}))
                    }
                    Archived::Nothing => println!("No audit records to archive before that."),
                    Archived::Done { header, removed } if json => print_json(&serde_json::json!({
                        "archived": header.count,
                        "removed": removed,
                        "first_seq": header.first_seq,
                        "last_seq": header.last_seq,
                        "last_hash": header.last_hash,
                        "file": file.display().to_string(),
                    })),
                    Archived::Done { header, removed } => println!(
                        "Archived records {} to {} ({} records) to {}; the store removed {removed} \
                         and continues the chain from record {}.",
                        header.first_seq,
                        header.last_seq,
                        header.count,
                        file.display(),
                        header.last_seq + 1
                    ),
                }
            }
            AuditAction::SetupKeys { force, .. } => {
                let mut options: HashMap<String, OwnedVariant> = HashMap::new();
                if force {
                    options.insert("force".into(), value(true));
                }
                let key: String = client.call("Audit1", "SetupSealing", &(options,)).await?;
                let interval = key
                    .parse::<VerificationKey>()
                    .ok()
                    .map(|key| key.clock.interval_secs);
                contractctl::seal::show_key(&key, interval, json);
            }
            AuditAction::Verify {
                file: None,
                journal,
                unit,
                ..
            } => {
                let (ok, records, first_bad, message): (bool, u64, u64, String) =
                    client.call("Audit1", "Verify", &()).await?;
                let mut answer = serde_json::json!({"ok": ok, "records": records, "first_bad": first_bad, "message": message});
                if !json {
                    println!("{} {message}", if ok { "OK:" } else { "BROKEN:" });
                }
                let journal_ok = if journal {
                    let query = contractctl::journal::JournalQuery {
                        unit,
                        user: matches!(bus, Bus::Session),
                    };
                    let (found, report) = verify_journal(&client, query, json).await?;
                    answer["ok"] = serde_json::Value::from(ok && found);
                    answer["journal"] = report;
                    found
                } else {
                    true
                };
                if json {
                    print_json(&answer);
                }
                if !ok || !journal_ok {
                    return Ok(contractctl::client::EXIT_REFUSED);
                }
            }
            AuditAction::Show {
                after,
                follow: true,
                ..
            } => {
                if !json {
                    println!("{}", audit_header());
                }
                follow::audit(&client, after, |out, record| {
                    if json {
                        writeln!(out, "{}", dict_json(record))
                    } else {
                        writeln!(out, "{}", audit_line(record))
                    }
                })
                .await?;
            }
            AuditAction::Show { after, limit, .. } => {
                let records: Vec<Dict> = client.call("Audit1", "Read", &(after, limit)).await?;
                if json {
                    print_json(&serde_json::Value::Array(
                        records.iter().map(dict_json).collect(),
                    ));
                } else if records.is_empty() {
                    println!("No audit records after {after}.");
                } else {
                    println!("{}", audit_header());
                    for record in &records {
                        println!("{}", audit_line(record));
                    }
                }
            }
        },
    }
    Ok(EXIT_OK)
}

/// The most findings listed in text; --json lists them all.
const FINDINGS_SHOWN: usize = 20;

/// Compares the journal's checkpoints with the store, prints the outcome (unless `json`), and
/// returns whether the journal vouches for the store, with the JSON report.
async fn verify_journal(
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
fn verify_offline(path: &Path, key: Option<&VerificationKey>, json: bool) -> Result<u8, CliError> {
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

/// `setup-keys --offline --output FILE`: a new era's sealing key for systemd credentials,
/// written to `output` (mode 0600, never over an existing file), and its verification key
/// shown.
fn setup_offline(output: &Path, interval_secs: u64, json: bool) -> Result<u8, CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = VerificationKey::generate(Timestamp::now(), interval_secs)
        .map_err(|err| CliError::Input(err.to_string()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(output)
        .map_err(|err| {
            CliError::Input(format!(
                "cannot create {} (an existing file is never overwritten): {err}",
                output.display()
            ))
        })?;
    file.write_all(key.credential().to_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|err| CliError::Input(format!("cannot write {}: {err}", output.display())))?;
    contractctl::seal::show_key(&key.to_string(), Some(interval_secs), json);
    let say = |text: String| {
        if json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    };
    say(format!(
        "\nThe sealing key is in {file}. Encrypt it for the service and remove the plain file:\n\n\
         \x20   systemd-creds encrypt --name={name} {file} /etc/credstore.encrypted/{name}\n\
         \x20   shred -u {file}\n\n\
         then add LoadCredentialEncrypted={name} to the service (systemctl edit learning-contractsd)\n\
         and restart it. At its next start, if its store is not sealed yet, the daemon takes the key,\n\
         moves it on to the current epoch and logs that the credential may be removed: remove it then\n\
         (and the line), because it still holds an early key from which every later seal could be forged.",
        file = output.display(),
        name = learning_contracts_rules::install::SEALING_CREDENTIAL,
    ));
    Ok(EXIT_OK)
}

fn audit_header() -> String {
    output::bold(&format!(
        "{:>6}  {:<20}  {:<24}  {:<26}  CALLER",
        "SEQ", "TIME", "ACTION", "CONTRACT"
    ))
}

/// One audit record on one line, in fixed columns, so a followed log lines up.
fn audit_line(record: &Dict) -> String {
    let number = |key: &str| record.get(key).map(|v| output::to_json(v).to_string());
    let time = record
        .get("ts")
        .and_then(|v| i64::try_from(v.try_clone().ok()?).ok())
        .map(|secs| {
            learning_contracts_rules::plain::format_iso_utc(
                learning_contracts_rules::time::Timestamp::from_secs(secs),
            )
        })
        .unwrap_or_default();
    let contract = text(record, "contract_id");
    format!(
        "{:>6}  {time:<20}  {:<24}  {:<26}  {}",
        number("seq").unwrap_or_default(),
        text(record, "action"),
        if contract.is_empty() {
            "-".to_string()
        } else {
            contract
        },
        number("caller_uid")
            .map(|uid| format!("uid {uid}"))
            .unwrap_or_else(|| "daemon".into()),
    )
}

async fn check(client: &Client, args: CheckArgs, json: bool) -> Result<u8, CliError> {
    let (allowed, code, reason, contract) = match args.check.as_str() {
        "recall-gate" => {
            let (allowed, code, reason): (bool, String, String) = client
                .call("Enforcement1", "RecallGate", &(args.class,))
                .await?;
            (allowed, code, reason, String::new())
        }
        "tool-gate" => {
            let tool = args
                .tool
                .clone()
                .ok_or_else(|| CliError::Input("tool-gate needs --tool".into()))?;
            let needs: HashMap<String, OwnedVariant> = [
                ("network", args.network),
                ("filesystem", args.filesystem),
                ("usb", args.usb),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), value(v)))
            .collect();
            let (allowed, code, reason): (bool, String, String) = client
                .call("Enforcement1", "ToolGate", &(tool.as_str(), needs))
                .await?;
            (allowed, code, reason, String::new())
        }
        name => {
            let method = match name {
                "memory-creation" => "CheckMemoryCreation",
                "abstraction" => "CheckAbstraction",
                "recall" => "CheckRecall",
                "export" => "CheckExport",
                other => {
                    return Err(CliError::Input(format!(
                        "'{other}' is not a check; use memory-creation, abstraction, recall, export, recall-gate or tool-gate"
                    )));
                }
            };
            let mut request = HashMap::new();
            let required = |v: &Option<String>, flag: &str| {
                v.clone()
                    .ok_or_else(|| CliError::Input(format!("{name} needs --{flag}")))
            };
            request.insert(
                "domain".to_string(),
                value(required(&args.domain, "domain")?),
            );
            request.insert(
                "context".to_string(),
                value(required(&args.context, "context")?),
            );
            request.insert("classification".to_string(), value(args.class));
            for (key, given) in [
                ("tool", &args.tool),
                ("contract_id", &args.contract_id),
                ("memory_id", &args.memory_id),
                ("abstraction", &args.abstraction),
            ] {
                if let Some(given) = given {
                    request.insert(key.to_string(), value(given.as_str()));
                }
            }
            client
                .call::<_, (bool, String, String, String)>("Enforcement1", method, &(request,))
                .await?
        }
    };
    if json {
        print_json(
            &serde_json::json!({"allowed": allowed, "code": code, "reason": reason, "contract_id": contract}),
        );
    } else {
        println!(
            "{} ({code}): {reason}",
            if allowed { "ALLOWED" } else { "DENIED" }
        );
    }
    Ok(if allowed { EXIT_OK } else { EXIT_CHECK_DENIED })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("contractctl: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("contractctl: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("{hint}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}
