//! `org.learningcontracts.Enforcement1`: the four checks, memory registration and the two
//! mode-only gates. Checks read the in-memory registry only: they never wait on the store.

use super::Daemon;
use super::args::{self, BATCH_MAX, Batch, Request, RequestFields, RequestKind};
use super::caller::Identity;
use super::error::BusError;
use crate::core::forgetting::denial_audit;
use crate::core::{CheckKind, CheckRequest, Decision, MemoryClass, Name, Timestamp, Uid};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use zbus::interface;
use zbus::message::Header;

/// The checks agents call.
#[derive(Debug, Clone)]
pub struct Enforcement1 {
    pub(crate) daemon: Arc<Daemon>,
}

/// A decision on the wire: allowed, code, reason, contract id (out arguments bsss of a single
/// check; an element (bsss) of a batch's answers). The bus methods spell the tuple out, so
/// their introspection lists the four out arguments the reply really carries.
type DecisionTuple = (bool, String, String, String);

fn tuple(decision: Decision) -> DecisionTuple {
    (
        decision.allowed,
        decision.code.as_str().to_string(),
        decision.reason,
        decision.contract_id.unwrap_or_default(),
    )
}

impl Enforcement1 {
    fn request(owner: Uid, fields: RequestFields) -> CheckRequest {
        CheckRequest {
            owner,
            domain: fields.domain,
            context: fields.context,
            tool: fields.tool,
            classification: fields.classification,
            contract_id: fields.contract_id,
            abstraction: fields.abstraction,
            memory_id: fields.memory_id,
            owner_present: true,
        }
    }

    /// Judges a check from the in-memory registry. Owner presence is the last step of recall,
    /// so logind is asked only when it would decide (over the lookup connection, with a
    /// timeout, in the caller's own lane: bus/fair.rs), and the check is judged again with the
    /// answer.
    async fn check(
        &self,
        kind: CheckKind,
        dict: Request,
        header: &Header<'_>,
        connection: &zbus::Connection,
    ) -> Result<DecisionTuple, BusError> {
        let fields = args::request(
            &dict,
            RequestKind::Check(kind),
            &self.daemon.config().config.limits,
        )?;
        let who = self.daemon.identify(connection, header).await?;
        let owner = self.daemon.resolve_owner(&who, fields.owner)?;
        let mut request = Self::request(owner, fields);
        let now = Timestamp::now();
        let (mut decision, ask) = {
            let registry = self.daemon.registry.read();
            let decision = registry.check(kind, &request, now);
            let ask = registry.asks_presence(kind, &decision);
            (decision, ask)
        };
        if ask {
            request.owner_present = owner_present(&self.daemon, owner, &who).await;
            decision = self.daemon.registry.read().check(kind, &request, now);
        }
        Ok(settle(&self.daemon, kind, &who, &request, decision))
    }

    /// Judges a batch of one kind of check: every request is parsed first (a bad one fails
    /// the whole call, naming its index, and nothing is judged or audited), its owner
    /// resolved as for a single call, then all are judged against one read of the registry.
    /// When a recall is allowed under a contract that requires its owner, logind is asked
    /// once per such owner (as a single call asks) and the whole batch is judged again, in one
    /// read, with the answers; an owner not asked then counts as absent (fail closed: that
    /// happens only when the registry changed in between). Parsing and auditing yield to
    /// other callers every [`BATCH_CHUNK`] requests; the judging itself holds the registry's
    /// read lock once, for the whole batch.
    async fn check_batch_of(
        &self,
        check: &str,
        batch: &Batch,
        header: &Header<'_>,
        connection: &zbus::Connection,
    ) -> Result<Vec<DecisionTuple>, BusError> {
        let kind = CheckKind::from_name(check).ok_or_else(|| {
            BusError::invalid_args(
                "check",
                format!(
                    "unknown check '{}'; the checks are memory_creation, abstraction, recall, export",
                    args::short(check)
                ),
            )
        })?;
        if batch.len() > BATCH_MAX {
            return Err(BusError::invalid_args(
                "requests",
                format!("has {} requests; at most {BATCH_MAX} per call", batch.len()),
            ));
        }
        let config = self.daemon.config();
        let mut fields = Vec::with_capacity(batch.len());
        for (index, dict) in batch.requests().iter().enumerate() {
            if index > 0 && index % BATCH_CHUNK == 0 {
                tokio::task::yield_now().await;
            }
            let parsed = args::request(dict, RequestKind::Check(kind), &config.config.limits)
                .map_err(|err| err.at(&format!("requests[{index}]")))?;
            fields.push(parsed);
        }
        let who = self.daemon.identify(connection, header).await?;
        let mut requests = Vec::with_capacity(fields.len());
        for (index, fields) in fields.into_iter().enumerate() {
            let owner = self
                .daemon
                .resolve_owner(&who, fields.owner)
                .map_err(|err| err.at(&format!("requests[{index}]")))?;
            requests.push(Self::request(owner, fields));
        }
        let now = Timestamp::now();
        let (mut decisions, ask) = self.judge_all(kind, &requests, now);
        if !ask.is_empty() {
            let mut present = HashMap::new();
            for owner in ask {
                present.insert(owner, owner_present(&self.daemon, owner, &who).await);
            }
            for request in &mut requests {
                request.owner_present = present.get(&request.owner).copied().unwrap_or(false);
            }
            decisions = self.judge_all(kind, &requests, now).0;
        }
        Ok(settle_all(&self.daemon, kind, &who, &requests, decisions).await)
    }

    /// Every request judged against one read of the registry, and the owners whose presence
    /// would decide an allowed recall.
    fn judge_all(
        &self,
        kind: CheckKind,
        requests: &[CheckRequest],
        now: Timestamp,
    ) -> (Vec<Decision>, BTreeSet<Uid>) {
        let registry = self.daemon.registry.read();
        let decisions = registry.check_each(kind, requests, now);
        let ask = decisions
            .iter()
            .zip(requests)
            .filter(|(decision, _)| registry.asks_presence(kind, decision))
            .map(|(_, request)| request.owner)
            .collect();
        (decisions, ask)
    }
}

/// How many requests of a batch are parsed, or audited, between yields to other callers.
const BATCH_CHUNK: usize = 100;

/// [`settle`] for each request of a batch: the allowed ones counted, each denied one held for
/// the audit log exactly as a single call's denial, the tally locked once per chunk.
async fn settle_all(
    daemon: &Daemon,
    kind: CheckKind,
    who: &Identity,
    requests: &[CheckRequest],
    decisions: Vec<Decision>,
) -> Vec<DecisionTuple> {
    let caller = who.caller();
    let mut answers = Vec::with_capacity(decisions.len());
    let mut denied = Vec::new();
    let mut allowed = 0;
    for (index, (request, decision)) in requests.iter().zip(decisions).enumerate() {
        if index > 0 && index % BATCH_CHUNK == 0 && !denied.is_empty() {
            daemon.audit_denials(std::mem::take(&mut denied));
            tokio::task::yield_now().await;
        }
        if decision.allowed {
            allowed += 1;
        } else {
            denied.push(denial_audit(&caller, kind, request, &decision));
        }
        answers.push(tuple(decision));
    }
    daemon.audit_denials(denied);
    daemon.allowed_checks.fetch_add(allowed, Ordering::Relaxed);
    answers
}

/// Counts an allowed check or holds a denied one for the audit log; the answer on the wire.
fn settle(
    daemon: &Daemon,
    kind: CheckKind,
    who: &Identity,
    request: &CheckRequest,
    decision: Decision,
) -> DecisionTuple {
    if decision.allowed {
        daemon.allowed_checks.fetch_add(1, Ordering::Relaxed);
    } else {
        daemon.audit_denial(denial_audit(&who.caller(), kind, request, &decision));
    }
    tuple(decision)
}

/// How long logind has to say whether an owner is present; past it the owner counts as absent.
const LOGIND_TIMEOUT: Duration = Duration::from_millis(500);

/// Whether the owner is present, asked over the lookup connection (never the serving one, see
/// [`super::caller::Identities`]) within [`LOGIND_TIMEOUT`]. No lookup connection, an error or
/// no answer in time means absent: fail closed.
async fn owner_present(daemon: &Daemon, owner: Uid, requester: &Identity) -> bool {
    let Some(connection) = daemon.identities.lookup_connection() else {
        return false;
    };
    match tokio::time::timeout(LOGIND_TIMEOUT, ask_logind(connection, owner, requester)).await {
        Ok(present) => present,
        Err(_) => {
            tracing::warn!(
                owner_uid = owner,
                "logind did not say in time whether the owner is present; counting the owner absent"
            );
            false
        }
    }
}

/// Whether the owner is present: an active login session of the owner from logind; without
/// logind on the bus, the requester must be the owner.
async fn ask_logind(connection: &zbus::Connection, owner: Uid, requester: &Identity) -> bool {
    let user = connection
        .call_method(
            Some("org.freedesktop.login1"),
            "/org/freedesktop/login1",
            Some("org.freedesktop.login1.Manager"),
            "GetUser",
            &(owner,),
        )
        .await;
    let path: zbus::OwnedObjectPath = match user {
        Ok(reply) => match reply.body().deserialize() {
            Ok(path) => path,
            Err(_) => return false,
        },
        Err(zbus::Error::MethodError(name, _, _))
            if name.as_str() == "org.freedesktop.DBus.Error.ServiceUnknown"
                || name.as_str() == "org.freedesktop.DBus.Error.NameHasNoOwner" =>
        {
            return requester.uid == owner;
        }
        Err(_) => return false,
    };
    let state = connection
        .call_method(
            Some("org.freedesktop.login1"),
            &path,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &("org.freedesktop.login1.User", "State"),
        )
        .await;
    match state.map(|reply| reply.body().deserialize::<zbus::OwnedVariant>()) {
        Ok(Ok(value)) => String::try_from(value).is_ok_and(|state| state == "active"),
        _ => false,
    }
}

/// The four checks of learning contracts, memory registration, and the recall and tool gates.
/// A request is a dictionary: domain s and context s (required), classification y (0–5,
/// required), tool s, contract_id s, owner u (an agent delegated by several owners names one),
/// and per check abstraction s (raw, pattern, heuristic, strategy) or memory_id s. A decision is
/// (allowed, code, reason, contract id); codes are stable strings such as allowed, lockdown,
/// boundary_unknown, paused, prohibited, no_contract, not_active, expired, suspended,
/// boundary_mode, type_forbids, abstraction_cap, classification_cap, boundary_class,
/// out_of_scope, memory_unavailable, source_class, owner_absent, not_transferable,
/// store_unavailable.
// Served through bus/fair.rs like every interface: each call runs in its caller's lane, so a
// registration's commit or a recall that asks logind holds up no one but that caller.
#[interface(name = "org.learningcontracts.Enforcement1")]
impl Enforcement1 {
    /// May a memory be created? Keys: domain, context, classification, tool, contract_id, owner.
    #[zbus(out_args("allowed", "code", "reason", "contract_id"))]
    async fn check_memory_creation(
        &self,
        request: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(bool, String, String, String), BusError> {
        self.check(CheckKind::MemoryCreation, request, &header, connection)
            .await
    }

    /// May a memory be generalized to the level in abstraction? Keys as for creation, plus
    /// abstraction (required).
    #[zbus(out_args("allowed", "code", "reason", "contract_id"))]
    async fn check_abstraction(
        &self,
        request: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(bool, String, String, String), BusError> {
        self.check(CheckKind::Abstraction, request, &header, connection)
            .await
    }

    /// May a memory be recalled? Keys as for creation, plus memory_id: a named memory is
    /// checked with its own domain, context and class too, and must be active.
    #[zbus(out_args("allowed", "code", "reason", "contract_id"))]
    async fn check_recall(
        &self,
        request: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(bool, String, String, String), BusError> {
        self.check(CheckKind::Recall, request, &header, connection)
            .await
    }

    /// May knowledge leave the machine? Keys as for recall.
    #[zbus(out_args("allowed", "code", "reason", "contract_id"))]
    async fn check_export(
        &self,
        request: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(bool, String, String, String), BusError> {
        self.check(CheckKind::Export, request, &header, connection)
            .await
    }

    /// Many checks of one kind in one call. check names the kind: memory_creation,
    /// abstraction, recall or export (as CheckMemoryCreation, CheckAbstraction, CheckRecall,
    /// CheckExport). requests holds at most 1000 requests, each with the keys of that check;
    /// the answers are in the same order, each exactly what the single call would answer
    /// (allowed, code, reason, contract id), all judged against one state of the mode and the
    /// contracts. Denials are audited as for single calls. An unknown check, more than 1000
    /// requests, or any bad request (named by its index, as requests[3]) fails the whole call
    /// with InvalidArgs, and nothing is judged or audited.
    #[zbus(out_args("answers"))]
    async fn check_batch(
        &self,
        check: &str,
        requests: Batch,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<Vec<DecisionTuple>, BusError> {
        self.check_batch_of(check, &requests, &header, connection)
            .await
    }

    /// Runs the creation check (and above raw the abstraction check) and records the memory in
    /// the same transaction. Keys as for creation, plus abstraction, memory_id (the agent's own
    /// id; a new one is made when absent) and derived_from as. A memory is never looser than its
    /// sources: each must be the owner's and active, recallable now under its own contract and
    /// under this memory's contract, and of a class no higher than this memory's (else the code
    /// source_class). Returns (allowed, code, reason, contract id, memory id); a denied
    /// registration records nothing but the denial.
    #[zbus(out_args("allowed", "code", "reason", "contract_id", "memory_id"))]
    async fn register_memory(
        &self,
        request: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(bool, String, String, String, String), BusError> {
        let fields = args::request(
            &request,
            RequestKind::Register,
            &self.daemon.config().config.limits,
        )?;
        let who = self.daemon.identify(connection, &header).await?;
        let owner = self.daemon.resolve_owner(&who, fields.owner)?;
        let derived = fields.derived_from.clone();
        let memory_id = fields.memory_id.clone();
        let mut request = Self::request(owner, fields);
        request.memory_id = None;
        let caller = who.caller();
        let (decision, memory_id) = self
            .daemon
            .writer_for(&who, &header)
            .mutate(move |ledger| {
                ledger
                    .register_memory(&caller, &request, memory_id, &derived, Timestamp::now())
                    .map(|(decision, id, events)| ((decision, id), events))
            })
            .await?;
        if decision.allowed {
            self.daemon.allowed_checks.fetch_add(1, Ordering::Relaxed);
        }
        let (allowed, code, reason, contract) = tuple(decision);
        Ok((allowed, code, reason, contract, memory_id))
    }

    /// The recall gate: may a memory of this class (0–5) be recalled in the current mode?
    /// Needs no contract. Returns (allowed, code, reason).
    #[zbus(out_args("allowed", "code", "reason"))]
    async fn recall_gate(&self, memory_class: u8) -> Result<(bool, String, String), BusError> {
        let class = MemoryClass::from_wire(memory_class)
            .ok_or_else(|| BusError::invalid_args("memory_class", "must be 0 to 5"))?;
        let gate = self.daemon.registry.read().recall_gate(class);
        Ok((gate.allowed, gate.code.as_str().to_string(), gate.reason))
    }

    /// The tool gate: may a tool that needs network, filesystem or usb (keys, b) run in the
    /// current mode? Tools on the configured deny list never may. Returns (allowed, code,
    /// reason).
    #[zbus(out_args("allowed", "code", "reason"))]
    async fn tool_gate(
        &self,
        tool: &str,
        needs: Request,
    ) -> Result<(bool, String, String), BusError> {
        let config = self.daemon.config();
        let tool = Name::parse(tool).map_err(|err| BusError::invalid_args("tool", err))?;
        let needs = args::tool_needs(&needs, &config.config.limits)?;
        let vpn = self.daemon.source.read().route_out_is_vpn;
        let gate = self.daemon.registry.read().tool_gate(
            tool.as_str(),
            needs,
            vpn,
            &config.config.gates.denied_tools,
        );
        Ok((gate.allowed, gate.code.as_str().to_string(), gate.reason))
    }

    /// Moves, with PropertiesChanged, whenever any decision could change: the mode, a
    /// lockdown, a pause, an override, a contract's state or suspension, a memory's status, a
    /// session opened or ended, a reloaded configuration, the store failing or recovering.
    /// Reading it, and asking checks, never moves it. An agent that caches allowed answers
    /// keeps each with the Generation it read before asking, and drops the cache when
    /// Generation changes, and when the daemon restarts. It only grows while the daemon runs
    /// and starts at the start time in microseconds, so it normally grows across restarts too.
    /// A retention end is judged by the clock: an answer under a timebound contract holds
    /// until its end at most.
    #[zbus(property)]
    fn generation(&self) -> u64 {
        self.daemon.registry.read().generation()
    }
}
