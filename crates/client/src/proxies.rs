// Generated from dbus/org.learningcontracts.*.xml by tests/core/interface.rs: do not edit.
// Change the XML, then run `UPDATE_CLIENT_PROXIES=1 cargo test --test core interface::`.

//! Typed proxies for the daemon's seven interfaces, one trait per interface (zbus makes
//! `<Name>Proxy` of each), generated from the interface files so they cannot drift.

use std::collections::HashMap;
use zbus::{OwnedVariant, Variant};

#[zbus::proxy(
    interface = "org.learningcontracts.Audit1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
pub trait Audit1 {
    /// Up to limit records after sequence number after_seq, oldest first (admin;
    /// org.learningcontracts.manage-all). A record: seq t, id s, ts x (seconds), ts_ms x (the
    /// milliseconds the hash covers), caller_uid u and
    /// caller_pid u (absent for the daemon itself), caller_bus s, action s, contract_id s,
    /// details s (JSON, as chained), prev_hash s, hash s; and opened s (JSON) where the
    /// details hold a memory's sealed id, domain, context and sources: the details with those
    /// opened while the memory exists, "(purged)" once a deep purge destroyed its key.
    #[zbus(name = "Read")]
    fn read(&self, after_seq: u64, limit: u32) -> zbus::Result<Vec<HashMap<String, OwnedVariant>>>;

    /// Recomputes the whole chain and checks the structure of its seals (admin;
    /// org.learningcontracts.manage-all): (ok, records read, first broken sequence number or
    /// 0, message). The seals' MACs need the admin's verification key, which the daemon does
    /// not have: contractctl audit verify, given the key, checks them. One verification runs at a time;
    /// a second call waits for the one before it.
    #[zbus(name = "Verify")]
    fn verify(&self) -> zbus::Result<(bool, u64, u64, String)>;

    /// Removes the records up to through_seq from the store once they are safe in an archive
    /// (admin; org.learningcontracts.manage-all): through_hash must be that record's hash, as
    /// the archive holds it. In one transaction the records go, the chain's anchor becomes
    /// that record (so the records left still verify) and an audit.archived record names
    /// the caller and the range. Returns how many records were removed. A sequence number not
    /// in the store, or another hash, is InvalidState and removes nothing. `contractctl audit
    /// archive` writes and checks the archive file first.
    #[zbus(name = "Archive")]
    fn archive(&self, through_seq: u64, through_hash: &str) -> zbus::Result<u64>;

    /// Sets up forward-secure sealing of the audit log (admin; org.learningcontracts.manage-all;
    /// options: force b). The daemon makes a new random seed, records the new sealing era in
    /// the chain (audit.sealing_enabled), seals that record with the seed, keeps only the next
    /// epoch's key, and returns the verification key once, as text: the seed in hex, a slash,
    /// then the start and the epoch length in seconds, in hex. The daemon keeps no copy: write
    /// it down and keep it off this host. Epochs last [audit] seal_interval_seconds. When
    /// sealing is set up already, answers org.learningcontracts.Error.AlreadyExists unless
    /// force is true, which closes the current era with a stop seal and begins the next.
    #[zbus(name = "SetupSealing")]
    fn setup_sealing(&self, options: &HashMap<&str, Variant<'_>>) -> zbus::Result<String>;

    /// The last record's hash.
    #[zbus(property, name = "HeadHash")]
    fn head_hash(&self) -> zbus::Result<String>;

    /// The last record's sequence number.
    #[zbus(property, name = "HeadSeq")]
    fn head_seq(&self) -> zbus::Result<u64>;
}

#[zbus::proxy(
    interface = "org.learningcontracts.Boundary1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
pub trait Boundary1 {
    /// Why the mode is what it is: the source's facts and the rule that matched, the override
    /// and the latch.
    #[zbus(name = "Explain")]
    fn explain(&self) -> zbus::Result<String>;

    /// Enters a latched LOCKDOWN (admin; org.learningcontracts.enter-lockdown): every check
    /// and gate denies and every contract is suspended until an admin releases it. Survives
    /// restarts.
    #[zbus(name = "EnterLockdown")]
    fn enter_lockdown(&self, reason: &str) -> zbus::Result<()>;

    /// Releases a latched lockdown (admin, never cached; org.learningcontracts.release-lockdown),
    /// with a reason. The mode the source reads now (with any override) is committed before
    /// the reply; it stays LOCKDOWN while the source itself says lockdown (the Boundary
    /// Daemon's mode or latch: Facts reported_mode and lockdown_latched), so read Mode after
    /// the reply for the mode the release left.
    #[zbus(name = "ReleaseLockdown")]
    fn release_lockdown(&self, reason: &str) -> zbus::Result<()>;

    /// Claims less isolation than detected (admin; org.learningcontracts.set-override): the
    /// effective mode becomes the lower of the reading and this mode (OPEN to COLDROOM).
    #[zbus(name = "SetOverride")]
    fn set_override(&self, mode: &str, reason: &str) -> zbus::Result<()>;

    /// Removes the override (admin; org.learningcontracts.set-override).
    #[zbus(name = "ClearOverride")]
    fn clear_override(&self) -> zbus::Result<()>;

    /// Stops all learning of the caller's own contracts now; recall still works. No prompt.
    #[zbus(name = "PauseLearning")]
    fn pause_learning(&self, reason: &str) -> zbus::Result<()>;

    /// Ends the caller's own pause.
    #[zbus(name = "ResumeLearning")]
    fn resume_learning(&self) -> zbus::Result<()>;

    /// Stops all learning of every owner (admin; org.learningcontracts.pause-all).
    #[zbus(name = "PauseAll")]
    fn pause_all(&self, reason: &str) -> zbus::Result<()>;

    /// Ends the pause of all learning (admin; org.learningcontracts.pause-all).
    #[zbus(name = "ResumeAll")]
    fn resume_all(&self) -> zbus::Result<()>;

    /// The effective mode changed from old to new, and why. Broadcast: the mode is the
    /// host's state, which every local user may see.
    #[zbus(signal, name = "ModeSwitched")]
    fn mode_switched(&self, old: String, new: String, reason: String) -> zbus::Result<()>;

    /// Contracts gained a suspension reason (mode, lockdown or pause). Addressed (unicast)
    /// to each listening connection with only the contracts it may see: an owner's and its
    /// delegated agents' connections get that owner's contracts, admins' get all; a connection
    /// that may see none gets nothing.
    #[zbus(signal, name = "ContractsSuspended")]
    fn contracts_suspended(&self, ids: Vec<String>, reason: String) -> zbus::Result<()>;

    /// Contracts lost a suspension reason. Addressed like ContractsSuspended.
    #[zbus(signal, name = "ContractsResumed")]
    fn contracts_resumed(&self, ids: Vec<String>) -> zbus::Result<()>;

    /// What the source sees (links, routes, mounts, or the Boundary Daemon's answer).
    #[zbus(property, name = "Facts")]
    fn facts(&self) -> zbus::Result<HashMap<String, OwnedVariant>>;

    /// Whether a lockdown is latched.
    #[zbus(property, name = "Lockdown")]
    fn lockdown(&self) -> zbus::Result<bool>;

    /// Why the lockdown was latched (empty when none).
    #[zbus(property, name = "LockdownReason")]
    fn lockdown_reason(&self) -> zbus::Result<String>;

    /// The effective mode: OPEN … LOCKDOWN, or UNKNOWN.
    #[zbus(property, name = "Mode")]
    fn mode(&self) -> zbus::Result<String>;

    /// The admin's override mode (empty when none).
    #[zbus(property, name = "ModeOverride")]
    fn mode_override(&self) -> zbus::Result<String>;

    /// Whether all learning is paused.
    #[zbus(property, name = "PausedAll")]
    fn paused_all(&self) -> zbus::Result<bool>;

    /// Where readings come from: detect, boundary-daemon or static.
    #[zbus(property, name = "Source")]
    fn source(&self) -> zbus::Result<String>;

    /// Whether the source gives good readings.
    #[zbus(property, name = "SourceHealthy")]
    fn source_healthy(&self) -> zbus::Result<bool>;
}

#[zbus::proxy(
    interface = "org.learningcontracts.Contracts1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
pub trait Contracts1 {
    /// Creates a Draft owned by the caller. kind: observation, episodic, procedural, strategic
    /// or prohibited. A system prohibition (system = true) needs an admin. Returns the new id.
    /// An owner past limits.max_open_drafts_per_owner contracts in Draft or Review, or any owner
    /// while the store is short of room, gets org.learningcontracts.Error.LimitReached (as do
    /// Amend, DraftFromTemplate and DraftFromText).
    #[zbus(name = "CreateDraft")]
    fn create_draft(&self, kind: &str, spec: &HashMap<&str, Variant<'_>>) -> zbus::Result<String>;

    /// Changes a Draft (its owner only); keys not given keep their value.
    #[zbus(name = "UpdateDraft")]
    fn update_draft(&self, id: &str, spec: &HashMap<&str, Variant<'_>>) -> zbus::Result<()>;

    /// Submits a Draft for review (its owner only). Full validation runs here; problems come
    /// back as org.learningcontracts.Error.InvalidSpec, one sentence per key.
    #[zbus(name = "Submit")]
    fn submit(&self, id: &str) -> zbus::Result<()>;

    /// Sends a contract in Review back to Draft ("request changes"), by its owner or an admin.
    #[zbus(name = "ReturnToDraft")]
    fn return_to_draft(&self, id: &str, note: &str) -> zbus::Result<()>;

    /// Activates a contract in Review: its owner with interactive confirmation (polkit action
    /// org.learningcontracts.confirm-own), or an admin. Activating an amendment replaces the
    /// contract it amends in the same transaction.
    #[zbus(name = "Activate")]
    fn activate(&self, id: &str) -> zbus::Result<()>;

    /// Drafts an amendment of an Active contract (its owner only): a new Draft with the same
    /// kind and the changes applied, which supersedes the contract once activated. Returns the
    /// new id.
    #[zbus(name = "Amend")]
    fn amend(&self, id: &str, changes: &HashMap<&str, Variant<'_>>) -> zbus::Result<String>;

    /// Revokes a contract (its owner or an admin): a Draft or Review is withdrawn; an Active
    /// contract's memories are tombstoned, its heuristics invalidated and memories derived from
    /// them quarantined. Prohibitions cannot be revoked (org.learningcontracts.Error.NotRevocable).
    #[zbus(name = "Revoke")]
    fn revoke(&self, id: &str, reason: &str) -> zbus::Result<()>;

    /// One contract: the caller's own or its delegating owner's, a system prohibition, or any
    /// for an admin.
    #[zbus(name = "Get")]
    fn get(&self, id: &str) -> zbus::Result<HashMap<String, OwnedVariant>>;

    /// Contracts matching a filter (keys: state s, kind s, owner u). Without owner: the
    /// caller's own and the system prohibitions (everything for root); with owner: that owner's
    /// only, for the owner, an agent acting for it, or an admin.
    #[zbus(name = "List")]
    fn list(
        &self,
        filter: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<Vec<HashMap<String, OwnedVariant>>>;

    /// The plain-language summary of a contract that a person approves: what the assistant
    /// may learn, how far it may generalize, for how long, and whether anything leaves the
    /// machine.
    #[zbus(name = "Summarize")]
    fn summarize(&self, id: &str) -> zbus::Result<String>;

    /// The ready-made contracts: name s, title s, description s, kind s, and params aa{sv}
    /// (name s, description s, required b, default s).
    #[zbus(name = "Templates")]
    fn templates(&self) -> zbus::Result<Vec<HashMap<String, OwnedVariant>>>;

    /// Creates a Draft owned by the caller from a template and its parameters (string values),
    /// returning the new id. Unknown templates and parameters, missing required ones and bad
    /// values are refused with InvalidArgs naming them.
    #[zbus(name = "DraftFromTemplate")]
    fn draft_from_template(
        &self,
        name: &str,
        params: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<String>;

    /// Reads a sentence such as "Learn coding tips from project alpha for 3 weeks" into a
    /// Draft. Returns the new id (empty when the kind of learning was not clear, so no draft
    /// was made), the draft's plain-language summary, and a question for everything the
    /// sentence did not settle; nothing is guessed.
    #[zbus(name = "DraftFromText")]
    fn draft_from_text(&self, text: &str) -> zbus::Result<(String, String, Vec<String>)>;

    /// Emitted when a contract changes state or is bound: its id, new state, suspension
    /// reasons and why. Addressed (unicast), never broadcast: sent only to the listening
    /// connections of the contract's owner, of agents the owner delegated to, and of admins
    /// (connections that called the daemon or Daemon1.Subscribe).
    #[zbus(signal, name = "ContractChanged")]
    fn contract_changed(
        &self,
        id: String,
        state: String,
        suspension: Vec<String>,
        reason: String,
    ) -> zbus::Result<()>;

    /// How many contracts are Active.
    #[zbus(property, name = "ActiveCount")]
    fn active_count(&self) -> zbus::Result<u32>;

    /// How many Active contracts have at least one suspension reason.
    #[zbus(property, name = "SuspendedCount")]
    fn suspended_count(&self) -> zbus::Result<u32>;
}

#[zbus::proxy(
    interface = "org.learningcontracts.Daemon1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
pub trait Daemon1 {
    /// Re-reads the configuration (admin; polkit action org.learningcontracts.reload). A
    /// configuration that does not parse is refused with
    /// org.learningcontracts.Error.InvalidConfig and the old one stays in force.
    #[zbus(name = "Reload")]
    fn reload(&self) -> zbus::Result<()>;

    /// Lists the caller's connection to hear the signals that name its uid's contracts,
    /// memories and sessions (and those of owners who delegated to it), until it leaves the
    /// bus. These signals are sent to listening connections only (unicast); a connection that
    /// calls any other method is listed too, so Subscribe is for one that only listens. Returns
    /// whether the connection hears every owner's signals as an admin: root, or a caller the
    /// authorizer grants org.learningcontracts.manage-all when it subscribes (asked once,
    /// without interaction). Past the bounds on listening connections (64 per uid, 64 admins,
    /// 4096 in all) answers org.learningcontracts.Error.LimitReached.
    #[zbus(name = "Subscribe")]
    fn subscribe(&self) -> zbus::Result<bool>;

    /// The interfaces and capabilities this build offers.
    #[zbus(property, name = "Features")]
    fn features(&self) -> zbus::Result<Vec<String>>;

    /// The daemon's version.
    #[zbus(property, name = "Version")]
    fn version(&self) -> zbus::Result<String>;
}

#[zbus::proxy(
    interface = "org.learningcontracts.Enforcement1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
pub trait Enforcement1 {
    /// May a memory be created? Keys: domain, context, classification, tool, contract_id, owner.
    #[zbus(name = "CheckMemoryCreation")]
    fn check_memory_creation(
        &self,
        request: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(bool, String, String, String)>;

    /// May a memory be generalized to the level in abstraction? Keys as for creation, plus
    /// abstraction (required).
    #[zbus(name = "CheckAbstraction")]
    fn check_abstraction(
        &self,
        request: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(bool, String, String, String)>;

    /// May a memory be recalled? Keys as for creation, plus memory_id: a named memory is
    /// checked with its own domain, context and class too, and must be active.
    #[zbus(name = "CheckRecall")]
    fn check_recall(
        &self,
        request: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(bool, String, String, String)>;

    /// May knowledge leave the machine? Keys as for recall.
    #[zbus(name = "CheckExport")]
    fn check_export(
        &self,
        request: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(bool, String, String, String)>;

    /// Many checks of one kind in one call. check names the kind: memory_creation,
    /// abstraction, recall or export (as CheckMemoryCreation, CheckAbstraction, CheckRecall,
    /// CheckExport). requests holds at most 1000 requests, each with the keys of that check;
    /// the answers are in the same order, each exactly what the single call would answer
    /// (allowed, code, reason, contract id), all judged against one state of the mode and the
    /// contracts. Denials are audited as for single calls. An unknown check, more than 1000
    /// requests, or any bad request (named by its index, as requests[3]) fails the whole call
    /// with InvalidArgs, and nothing is judged or audited.
    #[zbus(name = "CheckBatch")]
    fn check_batch(
        &self,
        check: &str,
        requests: &[HashMap<&str, Variant<'_>>],
    ) -> zbus::Result<Vec<(bool, String, String, String)>>;

    /// Runs the creation check (and above raw the abstraction check) and records the memory in
    /// the same transaction. Keys as for creation, plus abstraction, memory_id (the agent's own
    /// id; a new one is made when absent) and derived_from as. A memory is never looser than its
    /// sources: each must be the owner's and active, recallable now under its own contract and
    /// under this memory's contract, and of a class no higher than this memory's (else the code
    /// source_class). Returns (allowed, code, reason, contract id, memory id); a denied
    /// registration records nothing but the denial.
    #[zbus(name = "RegisterMemory")]
    fn register_memory(
        &self,
        request: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(bool, String, String, String, String)>;

    /// The recall gate: may a memory of this class (0–5) be recalled in the current mode?
    /// Needs no contract. Returns (allowed, code, reason).
    #[zbus(name = "RecallGate")]
    fn recall_gate(&self, memory_class: u8) -> zbus::Result<(bool, String, String)>;

    /// The tool gate: may a tool that needs network, filesystem or usb (keys, b) run in the
    /// current mode? Tools on the configured deny list never may. Returns (allowed, code,
    /// reason).
    #[zbus(name = "ToolGate")]
    fn tool_gate(
        &self,
        tool: &str,
        needs: &HashMap<&str, Variant<'_>>,
    ) -> zbus::Result<(bool, String, String)>;

    /// Moves, with PropertiesChanged, whenever any decision could change: the mode, a
    /// lockdown, a pause, an override, a contract's state or suspension, a memory's status, a
    /// session opened or ended, a reloaded configuration, the store failing or recovering.
    /// Reading it, and asking checks, never moves it. An agent that caches allowed answers
    /// keeps each with the Generation it read before asking, and drops the cache when
    /// Generation changes, and when the daemon restarts. It only grows while the daemon runs
    /// and starts at the start time in microseconds, so it normally grows across restarts too.
    /// A retention end is judged by the clock: an answer under a timebound contract holds
    /// until its end at most.
    #[zbus(property, name = "Generation")]
    fn generation(&self) -> zbus::Result<u64>;
}

#[zbus::proxy(
    interface = "org.learningcontracts.Memories1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
pub trait Memories1 {
    /// One of the caller's own memory records, by id (memory ids belong to their owner).
    /// An id the caller has no memory under, or whose memory was purged, is NotFound.
    #[zbus(name = "Get")]
    fn get(&self, memory_id: &str) -> zbus::Result<HashMap<String, OwnedVariant>>;

    /// One memory record of `owner`, by id: for the owner, an agent acting for it, or an
    /// admin (org.learningcontracts.manage-all). Any other caller gets NotFound whether or not
    /// the memory exists, and so does an id the owner has no memory under.
    #[zbus(name = "GetForOwner")]
    fn get_for_owner(
        &self,
        owner: u32,
        memory_id: &str,
    ) -> zbus::Result<HashMap<String, OwnedVariant>>;

    /// The memory records of a contract the caller may see.
    #[zbus(name = "List")]
    fn list(&self, contract_id: &str) -> zbus::Result<Vec<HashMap<String, OwnedVariant>>>;

    /// First step of the deep purge of a Revoked or Expired contract's memory records: the
    /// owner with interactive confirmation (org.learningcontracts.confirm-own), or an admin,
    /// gets a one-time token bound to the caller and the contract, valid two minutes. The token
    /// is never logged.
    #[zbus(name = "RequestPurge")]
    fn request_purge(&self, contract_id: &str) -> zbus::Result<String>;

    /// Second step: with the token, deletes every memory record of the contract for good:
    /// nothing of their ids, domains, contexts or links stays in the store's files (their
    /// audit details were sealed under keys deleted with them). Returns how many were purged.
    /// The token is used up by any attempt.
    #[zbus(name = "ConfirmPurge")]
    fn confirm_purge(&self, contract_id: &str, token: &str) -> zbus::Result<u32>;

    /// Memories of a contract changed status; memory stores act on it. Addressed (unicast)
    /// only to the listening connections of the contract's owner, of agents the owner
    /// delegated to, and of admins (connections that called the daemon or Daemon1.Subscribe).
    #[zbus(signal, name = "MemoriesChanged")]
    fn memories_changed(
        &self,
        contract_id: String,
        status: String,
        memory_ids: Vec<String>,
    ) -> zbus::Result<()>;
}

#[zbus::proxy(
    interface = "org.learningcontracts.Sessions1",
    default_service = "org.learningcontracts.Daemon1",
    default_path = "/org/learningcontracts/Daemon1"
)]
pub trait Sessions1 {
    /// Opens a session for the caller's owner (options: owner u, for an agent delegated by
    /// several owners). Returns the session id. Past sessions.max_per_owner or
    /// sessions.max_per_connection, or while the store is short of room, answers
    /// org.learningcontracts.Error.LimitReached.
    #[zbus(name = "Open")]
    fn open(&self, options: &HashMap<&str, Variant<'_>>) -> zbus::Result<String>;

    /// Ends a session (its opener, its owner or an admin).
    #[zbus(name = "End")]
    fn end(&self, session_id: &str) -> zbus::Result<()>;

    /// Binds an Active session-retention contract of the session's owner to the session: it
    /// is effective while the session lasts and expires when it ends.
    #[zbus(name = "Bind")]
    fn bind(&self, session_id: &str, contract_id: &str) -> zbus::Result<()>;

    /// A session ended; these contracts expired with it. Addressed (unicast) only to the
    /// listening connections of the session's owner, of agents the owner delegated to, and of
    /// admins (connections that called the daemon or Daemon1.Subscribe).
    #[zbus(signal, name = "SessionEnded")]
    fn session_ended(
        &self,
        session_id: String,
        expired_contract_ids: Vec<String>,
    ) -> zbus::Result<()>;
}
