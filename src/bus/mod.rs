//! The bus layer: one object, `/org/learningcontracts/Daemon1`, carrying seven interfaces, one
//! file each. Handlers follow one order: parse → validate (InvalidArgs) → authorize → act →
//! persist → emit signals → reply.

pub mod args;
pub mod audit1;
pub mod authorize;
pub mod boundary1;
pub mod caller;
pub mod contracts1;
pub mod daemon1;
pub mod dicts;
pub mod enforcement1;
pub mod error;
pub mod fair;
pub mod listeners;
pub mod memories1;
pub mod sessions1;

use crate::app::writer::{Announcement, Writer};
use crate::config;
use crate::core::access::Subject;
use crate::core::{Actor, AuditEvent, Caller, Event, Monotonic, Timestamp, Uid};
use crate::ledger::{SharedDenials, SharedRegistry};
use authorize::{Action, Authorizer, Verdict};
use caller::{Identities, Identity};
use error::BusError;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc};
use zbus::message::{Flags, Header};
use zbus::object_server::SignalEmitter;

/// The well-known bus name.
pub const BUS_NAME: &str = "org.learningcontracts.Daemon1";
/// The one object path.
pub const OBJECT_PATH: &str = "/org/learningcontracts/Daemon1";

/// What the mode source last reported, for the Boundary1 properties.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceStatus {
    /// `static`, `detect` or `boundary-daemon`.
    pub source: &'static str,
    /// Whether the source gives good readings.
    pub healthy: bool,
    /// What the source sees.
    pub facts: serde_json::Value,
    /// Why the mode is what it is.
    pub explanation: String,
    /// Whether every route out leaves through a VPN (for the tool gate in TRUSTED).
    pub route_out_is_vpn: bool,
}

impl Default for SourceStatus {
    fn default() -> Self {
        Self {
            source: "static",
            healthy: false,
            facts: serde_json::json!({}),
            explanation: "no reading yet".into(),
            route_out_is_vpn: false,
        }
    }
}

/// Everything the interfaces share.
#[derive(Debug)]
pub struct Daemon {
    /// The state checks read.
    pub registry: SharedRegistry,
    /// The one writer.
    pub writer: Writer,
    /// Who may do what.
    pub authorizer: Arc<dyn Authorizer>,
    /// The config in force.
    pub config: RwLock<Arc<config::Loaded>>,
    /// Callers' credentials.
    pub identities: Identities,
    /// The connections that hear an owner's signals (bus/listeners.rs).
    pub listeners: listeners::Listeners,
    /// What the mode source last reported.
    pub source: RwLock<SourceStatus>,
    /// Asks the mode supervisor to recompute the effective mode (override, latch changed).
    pub mode_control: mpsc::UnboundedSender<()>,
    /// Asks the service to reload the config; answered with the outcome.
    pub reload_requests: mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Result<(), String>>>,
    /// Woken after every commit, so timers can look again.
    pub changed: Notify,
    /// Woken when sealing is set up, so the seal timer looks at the new era's first epoch.
    pub sealing_changed: Notify,
    /// Counts announced commits: the status line and the unit reconciler follow it.
    pub committed: tokio::sync::watch::Sender<u64>,
    /// Allowed checks, counted not logged.
    pub allowed_checks: AtomicU64,
    /// Denied checks and refused calls waiting for their aggregated audit record.
    denials: SharedDenials,
    /// Last call time per bus name of session openers, on the monotonic clock (for the idle
    /// time, which a wall-clock step must not end or stretch).
    pub activity: Mutex<HashMap<String, Monotonic>>,
    /// The audit log's read connections (Audit1.Read and Verify never use the writer).
    pub audit_reads: audit1::AuditReads,
    /// Method calls in their callers' lanes, so no connection waits behind another's backlog.
    pub calls: Arc<fair::FairDispatcher>,
    /// The registry's generation as last announced (Enforcement1.Generation).
    generation_announced: AtomicU64,
}

impl Daemon {
    /// Builds the shared context.
    pub fn new(
        registry: SharedRegistry,
        writer: Writer,
        authorizer: Arc<dyn Authorizer>,
        config: config::Loaded,
        mode_control: mpsc::UnboundedSender<()>,
        reload_requests: mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Result<(), String>>>,
    ) -> Self {
        let calls = fair::FairDispatcher::new(call_bounds(&config.config.limits));
        Self {
            registry,
            writer,
            authorizer,
            config: RwLock::new(Arc::new(config)),
            identities: Identities::default(),
            listeners: listeners::Listeners::default(),
            source: RwLock::new(SourceStatus::default()),
            mode_control,
            reload_requests,
            changed: Notify::new(),
            sealing_changed: Notify::new(),
            committed: tokio::sync::watch::Sender::new(0),
            allowed_checks: AtomicU64::new(0),
            denials: SharedDenials::default(),
            activity: Mutex::new(HashMap::new()),
            audit_reads: audit1::AuditReads::default(),
            calls,
            generation_announced: AtomicU64::new(0),
        }
    }

    /// The writer for one call, with this caller's jobs in its own lane (no caller waits
    /// behind another caller's backlog; root shares the daemon's lane, served first). A
    /// refusal the core decides (AccessDenied, LimitReached) is audited, aggregated, like one
    /// the bus decides.
    pub fn writer_for<'a>(&'a self, who: &'a Identity, header: &Header<'_>) -> CallerWriter<'a> {
        CallerWriter {
            daemon: self,
            who,
            call: call_name(header),
            lane: self.writer.lane(crate::app::writer::Lane::of(who.uid)),
        }
    }

    /// The config in force.
    pub fn config(&self) -> Arc<config::Loaded> {
        Arc::clone(&self.config.read())
    }

    /// The caller of a method call, and marks the connection active for session idle times.
    /// The connection is listed to hear its uid's signals from now on (root's as an admin);
    /// past the listeners' bounds it is not, and hears nothing private.
    pub async fn identify(
        &self,
        connection: &zbus::Connection,
        header: &Header<'_>,
    ) -> Result<Arc<Identity>, BusError> {
        let identity = self.identities.of(connection, header).await?;
        self.listeners
            .note(&identity.bus_name, identity.uid, identity.uid == 0);
        let mut activity = self.activity.lock();
        if let Some(seen) = activity.get_mut(&identity.bus_name) {
            *seen = Monotonic::now();
        }
        Ok(identity)
    }

    /// Asks the authorizer; a caller who could authenticate but did not allow interaction gets
    /// InteractiveAuthorizationRequired.
    pub async fn authorize(
        &self,
        who: &Identity,
        action: Action,
        header: &Header<'_>,
    ) -> Result<bool, BusError> {
        let interactive = header
            .primary()
            .flags()
            .contains(Flags::ALLOW_INTERACTIVE_AUTH);
        match self.authorizer.check(who, action, interactive).await? {
            Verdict::Granted => Ok(true),
            Verdict::Denied => Ok(false),
            Verdict::ChallengeRequired => Err(self.refused(
                who,
                header,
                BusError::interactive_required(format!(
                    "{} needs authentication; call again allowing interactive authorization",
                    action.id()
                )),
            )),
        }
    }

    /// Requires `action`, or answers AccessDenied.
    pub async fn require(
        &self,
        who: &Identity,
        action: Action,
        header: &Header<'_>,
    ) -> Result<Actor, BusError> {
        if self.authorize(who, action, header).await? {
            Ok(Actor {
                caller: who.caller(),
                uid: who.uid,
                admin: true,
                confirmed: false,
            })
        } else {
            Err(self.refused(
                who,
                header,
                BusError::access_denied(format!("not authorized for {}", action.id())),
            ))
        }
    }

    /// The actor for an action on the contract `id`: its owner as they are (with `own` asked
    /// of the authorizer when given: a human confirmation; an owner who is also an admin may
    /// act as the admin instead), anyone else as an admin if the authorizer grants ManageAll.
    /// An agent delegated by the owner is told it may not change the owner's contracts; any
    /// other stranger acts as themselves, and the core then answers NotFound without revealing
    /// the contract.
    pub async fn actor_for(
        &self,
        who: &Identity,
        id: &str,
        own: Option<Action>,
        header: &Header<'_>,
    ) -> Result<Actor, BusError> {
        self.actor_for_unaudited(who, id, own, header)
            .await
            .map_err(|err| self.refused(who, header, err))
    }

    async fn actor_for_unaudited(
        &self,
        who: &Identity,
        id: &str,
        own: Option<Action>,
        header: &Header<'_>,
    ) -> Result<Actor, BusError> {
        use crate::core::access::{Grants, Refusal, Requirement, decide};
        let target = self.contract_target(id);
        let config = self.config();
        let subject = Subject::new(who.uid, &config.delegations);
        let requirement = if own.is_some() {
            Requirement::OwnerConfirmed
        } else {
            Requirement::Owner
        };
        let interactive = header
            .primary()
            .flags()
            .contains(Flags::ALLOW_INTERACTIVE_AUTH);
        // The authorizer is asked only what the decision needs: the owner's confirmation, and
        // ManageAll for anyone else (asked whether the contract exists or not) or for an owner
        // who did not confirm.
        let is_owner = target.is_some_and(|(owner, _)| owner == who.uid);
        let confirm_own = match own {
            Some(action) if is_owner => self.authorizer.check(who, action, interactive).await?,
            _ => Verdict::Denied,
        };
        let admin = if is_owner && (own.is_none() || confirm_own == Verdict::Granted) {
            Verdict::Denied
        } else {
            self.authorizer
                .check(who, Action::ManageAll, interactive && !is_owner)
                .await?
        };
        let mut actor = Actor {
            caller: who.caller(),
            uid: who.uid,
            admin: false,
            confirmed: false,
        };
        match decide(requirement, &subject, target, Grants { admin, confirm_own }) {
            Ok(allowed) => {
                actor.admin = allowed.as_admin;
                actor.confirmed = allowed.confirmed;
                Ok(actor)
            }
            // The core then answers NotFound, exactly as for a contract that does not exist.
            Err(Refusal::Hidden) => Ok(actor),
            Err(Refusal::Denied(message)) => Err(BusError::access_denied(message)),
            Err(Refusal::ChallengeRequired(message)) => {
                Err(BusError::interactive_required(message))
            }
            Err(Refusal::Owner(_)) => Err(BusError::access_denied("not authorized")),
        }
    }

    /// The owner of contract `id` and whether it is a system prohibition, as access decisions
    /// take it; none when there is no such contract.
    fn contract_target(&self, id: &str) -> Option<(Uid, bool)> {
        self.registry
            .read()
            .contract(id)
            .map(|c| (c.owner, c.is_system()))
    }

    /// Whether `who` may read contract `id`: its owner, an agent acting for the owner, anyone
    /// for a system prohibition (core::access::may_read), or an admin (asked of the authorizer
    /// only when needed).
    pub async fn may_read_contract(
        &self,
        who: &Identity,
        id: &str,
        header: &Header<'_>,
    ) -> Result<bool, BusError> {
        let target = self.contract_target(id);
        let config = self.config();
        let subject = Subject::new(who.uid, &config.delegations);
        match target {
            Some((owner, system)) if crate::core::access::may_read(&subject, owner, system) => {
                Ok(true)
            }
            _ => self.authorize(who, Action::ManageAll, header).await,
        }
    }

    /// The owner whose contracts decide a request from `who`: the caller itself, or an owner
    /// that delegated to it in the config (named in the request when there are several).
    pub fn resolve_owner(&self, who: &Identity, named: Option<Uid>) -> Result<Uid, BusError> {
        use crate::core::access::OwnerRefusal;
        let config = self.config();
        let subject = Subject::new(who.uid, &config.delegations);
        match crate::core::access::resolve_owner(&subject, named) {
            Ok(owner) => Ok(owner),
            Err(OwnerRefusal::NotDelegated { uid, owner }) => {
                let err = BusError::access_denied(format!(
                    "uid {uid} is not delegated to act for owner {owner}"
                ));
                // No header here: the refusal is keyed by what was refused, naming an owner.
                self.denials.lock().note_refusal(
                    &who.caller(),
                    "delegation.owner",
                    err.error_name(),
                    err.message(),
                    Timestamp::now(),
                );
                Err(err)
            }
            Err(OwnerRefusal::Ambiguous) => Err(BusError::invalid_args(
                "owner",
                "this agent acts for several owners; name the owner in the request",
            )),
        }
    }

    /// Whether `who` may read records of `owner` without being an admin: the owner, or an
    /// agent the owner delegated to.
    pub fn acts_for(&self, who: &Identity, owner: Uid) -> bool {
        let config = self.config();
        Subject::new(who.uid, &config.delegations).relation_to(owner)
            != crate::core::access::Relation::Stranger
    }

    /// Counts a denied check for its aggregated audit record (one per caller uid, check and
    /// code per interval); written by [`Daemon::flush_denials`].
    pub fn audit_denial(&self, event: AuditEvent) {
        self.denials.lock().note_check(&event, Timestamp::now());
    }

    /// [`Daemon::audit_denial`] for several denied checks, the tally locked once.
    pub fn audit_denials(&self, events: Vec<AuditEvent>) {
        if events.is_empty() {
            return;
        }
        let now = Timestamp::now();
        let mut tally = self.denials.lock();
        for event in &events {
            tally.note_check(event, now);
        }
    }

    /// Emits PropertiesChanged for `Enforcement1.Generation` when the registry's generation
    /// moved since it was last announced. Every path that can move it ends here: the
    /// announcer after each writer job (commits, and the store probe that follows a failed
    /// one), and the mode supervisor after each reading, tripwire or reload.
    pub async fn announce_generation(&self, connection: &zbus::Connection) -> zbus::Result<()> {
        let now = self.registry.read().generation();
        if self.generation_announced.swap(now, Ordering::Relaxed) == now {
            return Ok(());
        }
        let iface = connection
            .object_server()
            .interface::<_, fair::Fair<enforcement1::Enforcement1>>(OBJECT_PATH)
            .await?;
        let emitter = iface.signal_emitter();
        let guard = iface.get().await;
        guard.inner().generation_changed(emitter).await
    }

    /// Counts a refused call (AccessDenied, InteractiveAuthorizationRequired, LimitReached)
    /// for its aggregated audit record, and passes the error on. Other errors pass unchanged.
    pub fn refused(&self, who: &Identity, header: &Header<'_>, err: BusError) -> BusError {
        self.refused_call(who, &call_name(header), err)
    }

    /// As [`Daemon::refused`], for a call refused before its caller was identified: the
    /// credentials are those the cache holds for `sender`, or none (counted under no uid).
    pub fn refused_sender(&self, sender: &str, header: &Header<'_>, err: BusError) -> BusError {
        let caller = self
            .identities
            .cached(sender)
            .map(|who| who.caller())
            .unwrap_or(Caller {
                uid: None,
                pid: None,
                bus_name: Some(sender.to_owned()),
            });
        self.refused_by(&caller, &call_name(header), err)
    }

    /// As [`Daemon::refused`], for the call named `call` ("Contracts1.Submit").
    fn refused_call(&self, who: &Identity, call: &str, err: BusError) -> BusError {
        self.refused_by(&who.caller(), call, err)
    }

    /// Counts `err` against `caller` when it is an audited refusal not yet counted.
    fn refused_by(&self, caller: &Caller, call: &str, err: BusError) -> BusError {
        if error::is_audited_refusal(err.error_name()) && !err.is_counted() {
            self.denials.lock().note_refusal(
                caller,
                call,
                err.error_name(),
                err.message(),
                Timestamp::now(),
            );
            return err.counted();
        }
        err
    }

    /// Hands the writer the budgets and store guard of the config in force, and the tally it
    /// counts denied registrations and refused changes in (at start and after a reload).
    pub fn apply_limits(&self) {
        let config = self.config();
        self.calls.set_bounds(call_bounds(&config.config.limits));
        let limits = owner_limits(&config.config.limits);
        let denials = std::sync::Arc::clone(&self.denials);
        self.writer.record(move |ledger| {
            ledger.set_limits(limits);
            ledger.set_denials(denials);
        });
    }

    /// Writes the aggregated records whose interval is over (all of them when `everything`,
    /// at shutdown) to the audit log. They bypass the store guard: the audit always commits.
    pub fn flush_denials(&self, everything: bool) {
        let interval = self.config().config.limits.denial_audit_interval_millis();
        let events = {
            let mut tally = self.denials.lock();
            if everything {
                tally.take_all()
            } else {
                tally.take_due(Timestamp::now(), interval)
            }
        };
        if events.is_empty() {
            return;
        }
        self.writer.record(move |ledger| {
            if let Err(err) = ledger.record_audit(&events, Timestamp::now()) {
                tracing::error!(error = %err, count = events.len(), "denied checks could not be audited");
            }
        });
    }
}

/// "Interface.Member" of a call, the interface without the daemon's prefix.
fn call_name(header: &Header<'_>) -> String {
    let interface = header.interface().map(|name| name.as_str()).unwrap_or("");
    let interface = interface
        .strip_prefix("org.learningcontracts.")
        .unwrap_or(interface);
    let member = header.member().map(|name| name.as_str()).unwrap_or("");
    format!("{interface}.{member}")
}

/// The writer as one call uses it: the caller's lane, and its refusals audited.
#[derive(Debug)]
pub struct CallerWriter<'a> {
    daemon: &'a Daemon,
    who: &'a Identity,
    call: String,
    lane: crate::app::writer::LaneWriter<'a>,
}

impl CallerWriter<'_> {
    fn audited(&self, err: crate::app::writer::WriterError) -> BusError {
        self.daemon.refused_call(self.who, &self.call, err.into())
    }

    /// Runs `job` on the writer; see [`crate::app::writer::LaneWriter::mutate`].
    pub async fn mutate<R, F>(&self, job: F) -> Result<R, BusError>
    where
        R: Send + 'static,
        F: FnOnce(
                &mut crate::ledger::Ledger,
            ) -> Result<(R, Vec<Event>), crate::ledger::LedgerError>
            + Send
            + 'static,
    {
        self.lane.mutate(job).await.map_err(|err| self.audited(err))
    }

    /// Plans, commits and announces a change; see [`crate::app::writer::LaneWriter::run`].
    pub async fn run<F>(&self, plan: F) -> Result<(), BusError>
    where
        F: FnOnce(&crate::core::Registry) -> Result<crate::core::Change, crate::core::CoreError>
            + Send
            + 'static,
    {
        self.lane.run(plan).await.map_err(|err| self.audited(err))
    }
}

/// The lanes' bounds in `limits`.
fn call_bounds(limits: &config::LimitsConfig) -> fair::Bounds {
    fair::Bounds {
        running: limits.calls_running_per_connection,
        waiting: limits.calls_waiting_per_connection,
        waiting_bytes: limits.calls_waiting_bytes_per_connection,
        waiting_bytes_per_uid: limits.calls_waiting_bytes_per_uid,
        waiting_bytes_total: limits.calls_waiting_bytes_total,
        per_second: limits.calls_per_second_per_uid,
    }
}

/// The budgets and store guard the writer applies, from `[limits]`.
pub fn owner_limits(limits: &config::LimitsConfig) -> crate::ledger::Limits {
    crate::ledger::Limits {
        budgets: crate::core::OwnerBudgets {
            max_open_drafts: limits.max_open_drafts_per_owner,
            max_active_memories: limits.max_memories_per_owner,
            max_writes_per_minute: limits.max_owner_writes_per_minute,
        },
        guard: crate::store::room::StoreGuard {
            max_store_bytes: limits.store_max_bytes,
            min_free_bytes: limits.store_min_free_bytes,
        },
    }
}

/// The announcer: turns committed events into signals and property changes, in commit order,
/// writes their journal entries (the high-priority LOCKDOWN entry whatever the lockdown's
/// source), then counts the commit in `committed`, which the status line and the unit
/// reconciler follow.
pub async fn announce(
    connection: zbus::Connection,
    daemon: Arc<Daemon>,
    mut queue: mpsc::UnboundedReceiver<Announcement>,
) {
    let emitter = match SignalEmitter::new(&connection, OBJECT_PATH) {
        Ok(emitter) => emitter.into_owned(),
        Err(err) => {
            tracing::error!(error = %err, "cannot emit signals");
            return;
        }
    };
    let mut announced = Announced::default();
    while let Some(announcement) = queue.recv().await {
        crate::app::journal::lockdown(&announcement.events, daemon.registry.read().mode());
        for event in &announcement.events {
            if let Err(err) = emit(&emitter, &daemon, event).await {
                tracing::warn!(error = %err, "a signal could not be sent, ignoring");
            }
        }
        if let Err(err) =
            properties_after(&connection, &daemon, &mut announced, &announcement.events).await
        {
            tracing::warn!(error = %err, "a property change could not be announced, ignoring");
        }
        if let Err(err) = daemon.announce_generation(&connection).await {
            tracing::warn!(error = %err, "the generation could not be announced, ignoring");
        }
        if !announcement.events.is_empty() {
            daemon.committed.send_modify(|count| *count += 1);
        }
        daemon.changed.notify_waiters();
        if let Some(done) = announcement.done {
            let _ = done.send(());
        }
    }
}

/// Sends one event's signal. The mode change is the host's state and goes to everyone; a
/// signal that names an owner's contracts, memories or session goes only to the connections
/// that may hear that owner (bus/listeners.rs), each addressed (unicast), so no other local
/// user receives it whatever match rules they add.
async fn emit(emitter: &SignalEmitter<'_>, daemon: &Daemon, event: &Event) -> zbus::Result<()> {
    use boundary1::Boundary1;
    use contracts1::Contracts1;
    use memories1::Memories1;
    use sessions1::Sessions1;
    let config = daemon.config();
    let delegations = &config.delegations;
    match event {
        Event::ContractChanged {
            id,
            state,
            suspension,
            reason,
        } => {
            tracing::info!(
                MESSAGE_ID = crate::app::journal::MESSAGE_CONTRACT_CHANGED,
                contract_id = id.as_str(),
                state = state.as_str(),
                reason = reason.as_str(),
                "contract {id} is now {state}: {reason}"
            );
            let suspension: Vec<String> = suspension.iter().map(|s| s.to_string()).collect();
            for to in owner_listeners(daemon, contract_owner(daemon, id), delegations) {
                let to = addressed(emitter, &to)?;
                Contracts1::contract_changed(&to, id, state.as_str(), suspension.clone(), reason)
                    .await?;
            }
            Ok(())
        }
        Event::ModeChanged { old, new, reason } => {
            tracing::info!(
                target: "lifecycle",
                MESSAGE_ID = crate::app::journal::MESSAGE_MODE_CHANGED,
                old = old.name(),
                new = new.name(),
                reason = reason.as_str(),
                "boundary mode changed from {} to {}: {}", old.name(), new.name(), reason
            );
            Boundary1::mode_switched(emitter, old.name(), new.name(), reason).await
        }
        Event::ContractsSuspended { ids, reason } => {
            for (to, ids) in split_by_listener(daemon, ids, delegations) {
                let to = addressed(emitter, &to)?;
                Boundary1::contracts_suspended(&to, ids, reason).await?;
            }
            Ok(())
        }
        Event::ContractsResumed { ids } => {
            for (to, ids) in split_by_listener(daemon, ids, delegations) {
                let to = addressed(emitter, &to)?;
                Boundary1::contracts_resumed(&to, ids).await?;
            }
            Ok(())
        }
        Event::MemoriesChanged {
            contract_id,
            status,
            memory_ids,
        } => {
            let owner = contract_owner(daemon, contract_id);
            for to in owner_listeners(daemon, owner, delegations) {
                let to = addressed(emitter, &to)?;
                Memories1::memories_changed(&to, contract_id, status.as_str(), memory_ids.clone())
                    .await?;
            }
            Ok(())
        }
        Event::SessionEnded {
            session_id,
            owner,
            expired_contract_ids,
        } => {
            for to in owner_listeners(daemon, Some(*owner), delegations) {
                let to = addressed(emitter, &to)?;
                Sessions1::session_ended(&to, session_id, expired_contract_ids.clone()).await?;
            }
            Ok(())
        }
        Event::LockdownLatched { .. } | Event::LockdownReleased { .. } | Event::HostChanged => {
            Ok(())
        }
    }
}

/// `emitter`, addressed to the connection `to`.
fn addressed<'a>(emitter: &SignalEmitter<'a>, to: &str) -> zbus::Result<SignalEmitter<'a>> {
    let to = zbus::names::BusName::try_from(to.to_owned())?;
    Ok(emitter.clone().set_destination(to))
}

/// The owner of contract `id` (contracts are never removed from the registry).
fn contract_owner(daemon: &Daemon, id: &str) -> Option<Uid> {
    daemon.registry.read().contract(id).map(|c| c.owner)
}

/// The connections that may hear about `owner`'s records; only admins' when the owner is not
/// known (failing closed).
fn owner_listeners(
    daemon: &Daemon,
    owner: Option<Uid>,
    delegations: &std::collections::BTreeMap<Uid, Vec<Uid>>,
) -> Vec<String> {
    match owner {
        Some(owner) => daemon.listeners.for_owner(owner, delegations),
        None => {
            let mut admins = daemon.listeners.admins();
            admins.sort();
            admins
        }
    }
}

/// For an event naming many owners' contracts (a mode change suspends every strategic
/// contract): each listening connection with the ids it may hear, sorted, and only connections
/// that may hear at least one; one message per connection at most. The ids are grouped by
/// owner once, so the work is the ids plus what is sent.
fn split_by_listener(
    daemon: &Daemon,
    ids: &[String],
    delegations: &std::collections::BTreeMap<Uid, Vec<Uid>>,
) -> Vec<(String, Vec<String>)> {
    let mut by_owner: HashMap<Uid, Vec<String>> = HashMap::new();
    {
        let registry = daemon.registry.read();
        for id in ids {
            // A contract not in the registry is heard by admins only.
            if let Some(contract) = registry.contract(id) {
                by_owner.entry(contract.owner).or_default().push(id.clone());
            }
        }
    }
    daemon
        .listeners
        .views(delegations)
        .into_iter()
        .filter_map(|(to, view)| {
            let heard: Vec<String> = match view {
                listeners::View::All => ids.to_vec(),
                listeners::View::Owners(uids) => {
                    let mut heard: Vec<String> = uids
                        .iter()
                        .filter_map(|uid| by_owner.get(uid))
                        .flatten()
                        .cloned()
                        .collect();
                    heard.sort();
                    heard.dedup();
                    heard
                }
            };
            (!heard.is_empty()).then_some((to, heard))
        })
        .collect()
}

/// The values of the properties the announcer announces, as last announced, so
/// PropertiesChanged names only the ones whose value changed. Unknown before the first
/// announcement of each group: that one names every property its events touch, as a change
/// committed before the announcer first looked must not go unannounced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Announced {
    /// Contracts1's ActiveCount and SuspendedCount.
    counts: Option<(u32, u32)>,
    boundary: Option<BoundaryValues>,
    /// Audit1's HeadSeq and HeadHash.
    head: Option<(u64, String)>,
}

/// Boundary1's properties that commits change (the source's own are announced by the mode
/// supervisor as they change).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct BoundaryValues {
    mode: String,
    lockdown: bool,
    lockdown_reason: String,
    mode_override: String,
    paused_all: bool,
}

impl Announced {
    fn counts(daemon: &Daemon) -> (u32, u32) {
        let registry = daemon.registry.read();
        (
            registry.active_count() as u32,
            registry.suspended_count() as u32,
        )
    }

    fn boundary(daemon: &Daemon) -> BoundaryValues {
        let registry = daemon.registry.read();
        let host = registry.host();
        BoundaryValues {
            mode: registry.mode().name().to_string(),
            lockdown: host.lockdown.is_some(),
            lockdown_reason: host
                .lockdown
                .as_ref()
                .map(|l| l.reason.clone())
                .unwrap_or_default(),
            mode_override: host
                .mode_override
                .as_ref()
                .map(|o| o.mode.name().to_string())
                .unwrap_or_default(),
            paused_all: host.paused_all.is_some(),
        }
    }
}

/// Emits PropertiesChanged for the properties a batch of events touched whose value differs
/// from the one last announced. Only events that can change a property lead to reading it
/// (counting suspended contracts walks every active one).
async fn properties_after(
    connection: &zbus::Connection,
    daemon: &Daemon,
    announced: &mut Announced,
    events: &[Event],
) -> zbus::Result<()> {
    let server = connection.object_server();
    let contracts = events.iter().any(|e| {
        matches!(
            e,
            Event::ContractChanged { .. }
                | Event::ContractsSuspended { .. }
                | Event::ContractsResumed { .. }
                | Event::ModeChanged { .. }
                | Event::HostChanged
        )
    });
    if contracts {
        let now = Announced::counts(daemon);
        let before = announced.counts.replace(now);
        if before != Some(now) {
            let iface = server
                .interface::<_, fair::Fair<contracts1::Contracts1>>(OBJECT_PATH)
                .await?;
            let emitter = iface.signal_emitter();
            let guard = iface.get().await;
            let guard = guard.inner();
            if before.is_none_or(|(active, _)| active != now.0) {
                guard.active_count_changed(emitter).await?;
            }
            if before.is_none_or(|(_, suspended)| suspended != now.1) {
                guard.suspended_count_changed(emitter).await?;
            }
        }
    }
    if events
        .iter()
        .any(|e| matches!(e, Event::ModeChanged { .. } | Event::HostChanged))
    {
        let now = Announced::boundary(daemon);
        let before = announced.boundary.replace(now.clone());
        if before.as_ref() != Some(&now) {
            let iface = server
                .interface::<_, fair::Fair<boundary1::Boundary1>>(OBJECT_PATH)
                .await?;
            let emitter = iface.signal_emitter();
            let guard = iface.get().await;
            let guard = guard.inner();
            let differs = |value: fn(&BoundaryValues) -> String| {
                before
                    .as_ref()
                    .is_none_or(|before| value(before) != value(&now))
            };
            if differs(|v| v.mode.clone()) {
                guard.mode_changed(emitter).await?;
            }
            if differs(|v| v.lockdown.to_string()) {
                guard.lockdown_changed(emitter).await?;
            }
            if differs(|v| v.lockdown_reason.clone()) {
                guard.lockdown_reason_changed(emitter).await?;
            }
            if differs(|v| v.mode_override.clone()) {
                guard.mode_override_changed(emitter).await?;
            }
            if differs(|v| v.paused_all.to_string()) {
                guard.paused_all_changed(emitter).await?;
            }
        }
    }
    let head = daemon.writer.head();
    let now = (head.seq, head.hash);
    let before = announced.head.replace(now.clone());
    if before.as_ref() != Some(&now) {
        let iface = server
            .interface::<_, fair::Fair<audit1::Audit1>>(OBJECT_PATH)
            .await?;
        let emitter = iface.signal_emitter();
        let guard = iface.get().await;
        let guard = guard.inner();
        if before.as_ref().is_none_or(|(seq, _)| *seq != now.0) {
            guard.head_seq_changed(emitter).await?;
        }
        if before.as_ref().is_none_or(|(_, hash)| *hash != now.1) {
            guard.head_hash_changed(emitter).await?;
        }
    }
    Ok(())
}
