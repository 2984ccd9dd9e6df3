//! The command line: every command, argument and flag, and the help, man page and completions
//! made from them.

use crate::commands::value;
use clap::{Args, Parser, Subcommand};
use contractctl::client::CliError;
use learning_contracts_client::zbus::OwnedVariant;
use std::collections::HashMap;

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
pub struct Cli {
    /// Talk to a daemon started with --user on your session bus.
    #[arg(long, global = true, conflicts_with = "bus_address")]
    pub user: bool,
    /// Talk to the daemon on the bus at this D-Bus address.
    #[arg(long, global = true, value_name = "ADDRESS")]
    pub bus_address: Option<String>,
    /// Print JSON instead of tables and text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
pub enum MemoriesAction {
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
pub enum AuditAction {
    /// Recompute the hash chain and check its seals; report the first broken record (admin).
    ///
    /// Without options the daemon verifies its own store: every record's hash and link, and
    /// the structure of the seals (each names a record with that record's hash, they follow
    /// each other epoch by epoch, each sealing era begins with the record that enabled it).
    ///
    /// With --key (or --store) the store file is read, read-only, with no daemon running (by
    /// the daemon's binary, learning-contractsd --verify-audit, found beside contractctl, in
    /// /usr/sbin, or in $LEARNING_CONTRACTSD: only it reads its store), and with the
    /// verification key that `audit setup-keys` showed every sealed epoch is proven
    /// untouched: its seal must have been made with that epoch's key, which no one who takes
    /// the host later can compute. It reports records from before sealing and the
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
pub struct NewArgs {
    /// The kind: observation, episodic, procedural, strategic or prohibited.
    #[arg(required_unless_present_any = ["template", "from_text"])]
    pub kind: Option<String>,
    /// Start from a template (list them with: contractctl templates).
    #[arg(long, conflicts_with_all = ["kind", "from_text"])]
    pub template: Option<String>,
    /// A template parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE", requires = "template")]
    pub params: Vec<String>,
    /// Read the draft from a sentence, for example "Learn coding tips from project alpha for 3 weeks".
    #[arg(long, value_name = "TEXT", conflicts_with = "kind")]
    pub from_text: Option<String>,
    #[command(flatten)]
    pub spec: SpecArgs,
}

#[derive(Debug, Args, Default)]
pub struct SpecArgs {
    /// A domain the contract is about (repeatable; at least one).
    #[arg(long = "domain", value_name = "NAME")]
    pub domains: Vec<String>,
    /// A context it applies in (repeatable), or * for any context.
    #[arg(long = "context", value_name = "NAME")]
    pub contexts: Vec<String>,
    /// A tool through which learning may happen (repeatable), or * for any tool.
    #[arg(long = "tool", value_name = "NAME")]
    pub tools: Vec<String>,
    /// permanent, timebound (with --until) or session.
    #[arg(long)]
    pub retention: Option<String>,
    /// For timebound: the day it ends (YYYY-MM-DD, at 00:00 UTC).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
    /// The highest memory class it covers, 0 (public) to 5 (crown jewel).
    #[arg(long, value_name = "CLASS")]
    pub cap: Option<u8>,
    /// The least isolated boundary mode it may work in.
    #[arg(long, value_name = "MODE")]
    pub required_mode: Option<String>,
    /// How far it may generalize: raw, pattern, heuristic or strategy.
    #[arg(long, value_name = "LEVEL")]
    pub max_abstraction: Option<String>,
    /// Knowledge may leave this machine (off unless given).
    #[arg(long)]
    pub transferable: bool,
    /// Recall only while you are present.
    #[arg(long)]
    pub recall_requires_owner: bool,
    /// Your own words about it.
    #[arg(long)]
    pub description: Option<String>,
    /// A system prohibition that applies to every user (admin).
    #[arg(long)]
    pub system: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// memory-creation, abstraction, recall or export; or the gates recall-gate, tool-gate.
    pub check: String,
    /// The domain.
    #[arg(long)]
    pub domain: Option<String>,
    /// The context.
    #[arg(long)]
    pub context: Option<String>,
    /// The memory class, 0 to 5.
    #[arg(long = "class", default_value_t = 0)]
    pub class: u8,
    /// The tool (and for tool-gate, the tool's name).
    #[arg(long)]
    pub tool: Option<String>,
    /// A contract to name.
    #[arg(long = "contract")]
    pub contract_id: Option<String>,
    /// A memory to name (recall, export).
    #[arg(long = "memory")]
    pub memory_id: Option<String>,
    /// The abstraction level (abstraction check).
    #[arg(long)]
    pub abstraction: Option<String>,
    /// For tool-gate: the tool needs the network.
    #[arg(long)]
    pub network: bool,
    /// For tool-gate: the tool needs the filesystem.
    #[arg(long)]
    pub filesystem: bool,
    /// For tool-gate: the tool needs USB.
    #[arg(long)]
    pub usb: bool,
}

impl SpecArgs {
    /// The spec as the dictionary `CreateDraft`, `UpdateDraft` and `Amend` take: only the flags
    /// given, and `--until` as the timebound retention it implies.
    pub fn dict(&self) -> Result<HashMap<String, OwnedVariant>, CliError> {
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
