//! The four checks (SEMANTICS.md section 7): memory creation, abstraction, recall and export,
//! evaluated in the stated order, first failure wins.

use super::contract::{Abstraction, Contract, ContractId, ContractKind, MemoryId, Uid};
use super::memory::{MemoryRecord, MemoryStatus};
use super::mode::{BoundaryMode, EffectiveMode, MemoryClass};
use super::registry::Registry;
use super::scope::Name;
use super::time::Timestamp;
use std::fmt;

/// The stable machine-readable codes of decisions and gates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// The request is allowed.
    Allowed,
    /// The host is in LOCKDOWN.
    Lockdown,
    /// The boundary mode is unknown (enforced like LOCKDOWN).
    BoundaryUnknown,
    /// Learning is paused for this owner or globally.
    Paused,
    /// An active prohibition covers the domain and context.
    Prohibited,
    /// No contract governs the request (or the named one is not the owner's).
    NoContract,
    /// The contract is not Active (or a session contract is not bound to an open session).
    NotActive,
    /// The contract's retention end has been reached.
    Expired,
    /// The contract is suspended.
    Suspended,
    /// The current mode does not allow it.
    BoundaryMode,
    /// The contract's type forbids the operation.
    TypeForbids,
    /// The abstraction is above the contract's maximum.
    AbstractionCap,
    /// The classification is above the contract's cap.
    ClassificationCap,
    /// The classification is above the current mode's cap.
    BoundaryClass,
    /// The request is outside the contract's scope.
    OutOfScope,
    /// The named memory is not active (or not known to this owner).
    MemoryUnavailable,
    /// A derived memory's classification is below that of one of its sources.
    SourceClass,
    /// The contract requires the owner to be present, and the owner is not.
    OwnerAbsent,
    /// The contract does not allow anything to leave the machine.
    NotTransferable,
    /// The tool is on the host's deny list.
    ToolDenied,
    /// The store cannot be written, so nothing can be recorded: fail closed.
    StoreUnavailable,
}

impl Code {
    /// The stable wire string.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Lockdown => "lockdown",
            Self::BoundaryUnknown => "boundary_unknown",
            Self::Paused => "paused",
            Self::Prohibited => "prohibited",
            Self::NoContract => "no_contract",
            Self::NotActive => "not_active",
            Self::Expired => "expired",
            Self::Suspended => "suspended",
            Self::BoundaryMode => "boundary_mode",
            Self::TypeForbids => "type_forbids",
            Self::AbstractionCap => "abstraction_cap",
            Self::ClassificationCap => "classification_cap",
            Self::BoundaryClass => "boundary_class",
            Self::OutOfScope => "out_of_scope",
            Self::MemoryUnavailable => "memory_unavailable",
            Self::SourceClass => "source_class",
            Self::OwnerAbsent => "owner_absent",
            Self::NotTransferable => "not_transferable",
            Self::ToolDenied => "tool_denied",
            Self::StoreUnavailable => "store_unavailable",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the four checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// Before a memory is created.
    MemoryCreation,
    /// Before a memory is generalized.
    Abstraction,
    /// Before a memory is recalled.
    Recall,
    /// Before anything leaves the machine.
    Export,
}

impl CheckKind {
    /// The check's name in audit records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MemoryCreation => "memory_creation",
            Self::Abstraction => "abstraction",
            Self::Recall => "recall",
            Self::Export => "export",
        }
    }

    /// The check named `name` (the names of [`CheckKind::as_str`]); none for any other name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::MemoryCreation,
            Self::Abstraction,
            Self::Recall,
            Self::Export,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == name)
    }

    /// Recall is not learning, so a pause does not stop it.
    pub const fn is_learning(self) -> bool {
        !matches!(self, Self::Recall)
    }

    /// Whether a named memory is looked at (recall and export).
    const fn reads_memory(self) -> bool {
        matches!(self, Self::Recall | Self::Export)
    }
}

/// A validated request, with the owner already resolved from the caller's credentials and the
/// delegation config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    /// The owner whose contracts decide.
    pub owner: Uid,
    /// The domain.
    pub domain: Name,
    /// The context.
    pub context: Name,
    /// The tool, if tool-mediated.
    pub tool: Option<Name>,
    /// The memory's classification.
    pub classification: MemoryClass,
    /// The contract the agent names, if any.
    pub contract_id: Option<ContractId>,
    /// The abstraction level (abstraction check; memory registration).
    pub abstraction: Abstraction,
    /// The memory concerned (recall and export).
    pub memory_id: Option<MemoryId>,
    /// Whether the owner is present (an active login session; without logind, the requester
    /// is the owner). Only recall under `recall_requires_owner` reads it.
    pub owner_present: bool,
}

impl CheckRequest {
    /// A request for `owner` in `domain` and `context` at `classification`, with nothing else named.
    pub fn new(owner: Uid, domain: Name, context: Name, classification: MemoryClass) -> Self {
        Self {
            owner,
            domain,
            context,
            tool: None,
            classification,
            contract_id: None,
            abstraction: Abstraction::Raw,
            memory_id: None,
            owner_present: false,
        }
    }
}

/// A check's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the operation may go ahead.
    pub allowed: bool,
    /// The stable code.
    pub code: Code,
    /// One sentence a person can read.
    pub reason: String,
    /// The contract that decided, if any.
    pub contract_id: Option<ContractId>,
}

impl Decision {
    fn deny(code: Code, reason: impl Into<String>, contract: Option<&Contract>) -> Self {
        Self {
            allowed: false,
            code,
            reason: reason.into(),
            contract_id: contract.map(|c| c.id.clone()),
        }
    }

    /// An allowed answer names the contract and the mode it was decided in, so a person (or
    /// an audit of an agent's decisions) can see which boundary held at that moment.
    fn allow(contract: &Contract, kind: CheckKind, mode: BoundaryMode) -> Self {
        Self {
            allowed: true,
            code: Code::Allowed,
            reason: format!(
                "Allowed by {} contract {} ({}) in mode {mode}.",
                contract.kind,
                contract.id,
                kind.as_str()
            ),
            contract_id: Some(contract.id.clone()),
        }
    }
}

impl Registry {
    /// Runs one of the four checks at `now`, in the order of SEMANTICS.md section 7.
    /// The check is judged in the committed mode and, when a newer reading has not been
    /// committed yet, in that reading's mode too: it is allowed only if both allow it, so a
    /// change that cannot be committed (a full disk) or has not been yet never leaves checks
    /// looser than the newest reading (SEMANTICS.md section 14).
    pub fn check(&self, kind: CheckKind, request: &CheckRequest, now: Timestamp) -> Decision {
        let (committed, newest) = self.judging_modes();
        let decision = self.check_in(kind, request, now, committed);
        match newest {
            Some(newest) if decision.allowed => self.check_in(kind, request, now, newest),
            _ => decision,
        }
    }

    /// Runs the same check for each request, all against this one state of the registry:
    /// each answer is the one [`Registry::check`] gives for that request alone.
    pub fn check_each(
        &self,
        kind: CheckKind,
        requests: &[CheckRequest],
        now: Timestamp,
    ) -> Vec<Decision> {
        requests
            .iter()
            .map(|request| self.check(kind, request, now))
            .collect()
    }

    /// Whether `decision` allowed a recall under a contract that requires its owner to be
    /// present: only then does owner presence decide, so only then is it asked (the check is
    /// then judged again with the answer).
    pub fn asks_presence(&self, kind: CheckKind, decision: &Decision) -> bool {
        kind == CheckKind::Recall
            && decision.allowed
            && decision
                .contract_id
                .as_deref()
                .and_then(|id| self.contract(id))
                .is_some_and(|c| c.spec.recall_requires_owner)
    }

    fn check_in(
        &self,
        kind: CheckKind,
        request: &CheckRequest,
        now: Timestamp,
        mode: EffectiveMode,
    ) -> Decision {
        // 1. Nothing passes in LOCKDOWN or UNKNOWN.
        match mode {
            EffectiveMode::Unknown => {
                return Decision::deny(
                    Code::BoundaryUnknown,
                    "The boundary mode is unknown, so everything is denied until a good reading returns.",
                    None,
                );
            }
            EffectiveMode::Known(BoundaryMode::Lockdown) => {
                return Decision::deny(
                    Code::Lockdown,
                    "The host is in LOCKDOWN, so everything is denied.",
                    None,
                );
            }
            EffectiveMode::Known(_) => {}
        }
        // 1b. A store that cannot be written means doubt: deny (SEMANTICS.md section 14).
        if self.store_fault().is_some() {
            return Decision::deny(
                Code::StoreUnavailable,
                "The daemon cannot write its store, so it denies everything until the store works again.",
                None,
            );
        }
        // 2. A pause stops learning, not recall.
        if kind.is_learning() && self.is_paused(request.owner) {
            return Decision::deny(Code::Paused, "Learning is paused for this owner.", None);
        }
        // 3. Prohibitions win whichever contract was named, for the request's domain and
        // context and for those of a named memory.
        let memory = request
            .memory_id
            .as_deref()
            .filter(|_| kind.reads_memory())
            .and_then(|id| self.memory(request.owner, id));
        let places = std::iter::once((&request.domain, &request.context))
            .chain(memory.map(|m| (&m.domain, &m.context)));
        for (domain, context) in places {
            if let Some(prohibition) =
                self.covering_prohibition(request.owner, domain.as_str(), context.as_str(), now)
            {
                return Decision::deny(
                    Code::Prohibited,
                    format!("Learning about '{domain}' in '{context}' is prohibited."),
                    Some(prohibition),
                );
            }
        }
        // 4. Resolve the contract: the named one, the memory's own, or the most specific one.
        let named = request
            .contract_id
            .as_deref()
            .or(memory.map(|memory| memory.contract_id.as_str()));
        let contract = match named {
            Some(id) => self
                .contract(id)
                .filter(|c| c.owner == request.owner || c.is_system()),
            None => self.discover(kind, request, now),
        };
        let Some(contract) = contract else {
            return Decision::deny(
                Code::NoContract,
                "No contract of this owner covers the request.",
                None,
            );
        };
        self.judge(kind, request, memory, contract, mode, now)
    }

    /// Steps 5 to 10 for the resolved contract.
    fn judge(
        &self,
        kind: CheckKind,
        request: &CheckRequest,
        memory: Option<&MemoryRecord>,
        contract: &Contract,
        mode: EffectiveMode,
        now: Timestamp,
    ) -> Decision {
        let deny = |code, reason: String| Decision::deny(code, reason, Some(contract));
        // 5. State, retention end (by the clock, not only by the sweep), suspension.
        if contract.state != super::contract::ContractState::Active {
            return deny(
                Code::NotActive,
                format!(
                    "Contract {} is {}, not active.",
                    contract.id, contract.state
                ),
            );
        }
        if contract.is_past_end(now) {
            return deny(
                Code::Expired,
                format!("Contract {} has reached its retention end.", contract.id),
            );
        }
        if !self.is_bound_if_session(contract) {
            return deny(
                Code::NotActive,
                format!(
                    "Session contract {} is not bound to an open session.",
                    contract.id
                ),
            );
        }
        let suspension = self.suspension_for(contract, kind);
        if suspension.any() {
            return deny(
                Code::Suspended,
                format!(
                    "Contract {} is suspended ({}).",
                    contract.id,
                    suspension.names().join(", ")
                ),
            );
        }
        let Some(current) = mode.operating() else {
            unreachable!("locked modes are answered in step 1")
        };
        // 6. The mode must meet the contract's requirement.
        if let Some(required) = contract.required_mode()
            && current < required
        {
            return deny(
                Code::BoundaryMode,
                format!(
                    "Contract {} needs {required} or more isolation; the host is in {current}.",
                    contract.id
                ),
            );
        }
        // 7. What the type allows.
        if let Some(code_reason) = type_refusal(kind, contract, request.abstraction) {
            return deny(code_reason.0, code_reason.1);
        }
        // 8. Classification against the contract's and the mode's caps.
        let class = memory.map_or(request.classification, |m| {
            m.classification.max(request.classification)
        });
        if let Some(cap) = contract.classification_cap()
            && class > cap
        {
            return deny(
                Code::ClassificationCap,
                format!("Class {class} is above the contract's cap {cap}."),
            );
        }
        if let Some(cap) = current.class_cap()
            && class > cap
        {
            return deny(
                Code::BoundaryClass,
                format!("Class {class} is above the cap {cap} of the current mode {current}."),
            );
        }
        // 9. Scope: the request's, and the named memory's own domain and context.
        let scope = &contract.spec.scope;
        if !scope.covers(
            request.domain.as_str(),
            request.context.as_str(),
            request.tool.as_ref().map(Name::as_str),
        ) || memory.is_some_and(|m| !scope.covers(m.domain.as_str(), m.context.as_str(), None))
        {
            return deny(
                Code::OutOfScope,
                format!(
                    "'{}' in '{}'{} is outside the scope of contract {}.",
                    request.domain,
                    request.context,
                    request
                        .tool
                        .as_ref()
                        .map(|t| format!(" with tool '{t}'"))
                        .unwrap_or_default(),
                    contract.id
                ),
            );
        }
        // 10. Per check.
        if kind.reads_memory()
            && let Some(memory_id) = request.memory_id.as_deref()
        {
            let usable = memory
                .is_some_and(|m| m.contract_id == contract.id && m.status == MemoryStatus::Active);
            if !usable {
                return deny(
                    Code::MemoryUnavailable,
                    format!(
                        "Memory {memory_id} is not available under contract {}.",
                        contract.id
                    ),
                );
            }
        }
        match kind {
            CheckKind::Recall if contract.spec.recall_requires_owner && !request.owner_present => {
                return deny(
                    Code::OwnerAbsent,
                    format!(
                        "Contract {} allows recall only while its owner is present.",
                        contract.id
                    ),
                );
            }
            CheckKind::Export if !contract.spec.transferable => {
                return deny(
                    Code::NotTransferable,
                    format!(
                        "Contract {} does not allow anything to leave this machine.",
                        contract.id
                    ),
                );
            }
            CheckKind::Export if current >= BoundaryMode::Airgap => {
                return deny(
                    Code::BoundaryMode,
                    format!("Nothing may be exported in {current}."),
                );
            }
            _ => {}
        }
        Decision::allow(contract, kind, current)
    }

    /// Step 4 without a named contract: among the owner's Active contracts that cover the
    /// request, the effective one with an explicitly named context beats `*`, then the newest.
    /// When none is effective, the best non-effective one is returned so that the denial says
    /// why (suspended, expired …) rather than pretending there is no contract.
    fn discover(
        &self,
        kind: CheckKind,
        request: &CheckRequest,
        now: Timestamp,
    ) -> Option<&Contract> {
        let tool = request.tool.as_ref().map(Name::as_str);
        self.active_in_domain(request.owner, request.domain.as_str())
            .filter(|c| {
                c.spec
                    .scope
                    .covers(request.domain.as_str(), request.context.as_str(), tool)
            })
            .max_by(|a, b| {
                let rank = |c: &Contract| {
                    (
                        self.is_effective_for(c, kind, now),
                        c.spec.scope.names_context(request.context.as_str()),
                        c.activated,
                    )
                };
                rank(a).cmp(&rank(b)).then_with(|| a.id.cmp(&b.id))
            })
    }
}

/// Step 7: what the contract's type forbids for this check.
fn type_refusal(
    kind: CheckKind,
    contract: &Contract,
    level: Abstraction,
) -> Option<(Code, String)> {
    match contract.kind {
        ContractKind::Prohibited => {
            return Some((
                Code::TypeForbids,
                format!(
                    "Contract {} is a prohibition; it allows nothing.",
                    contract.id
                ),
            ));
        }
        ContractKind::Observation => {
            return Some((
                Code::TypeForbids,
                format!(
                    "Contract {} is observation only: nothing may be stored, generalized, recalled or exported under it.",
                    contract.id
                ),
            ));
        }
        _ => {}
    }
    if kind != CheckKind::Abstraction || level == Abstraction::Raw {
        return None;
    }
    if contract.kind == ContractKind::Episodic {
        return Some((
            Code::TypeForbids,
            format!(
                "Contract {} is episodic: it allows no generalization.",
                contract.id
            ),
        ));
    }
    match contract.max_abstraction() {
        Some(max) if level <= max => None,
        max => Some((
            Code::AbstractionCap,
            format!(
                "Abstraction {level} is above the maximum {} of contract {}.",
                max.map_or("none", Abstraction::as_str),
                contract.id
            ),
        )),
    }
}
