//! The contract model (SEMANTICS.md sections 2, 5 and 6): kinds, abstraction levels,
//! retention, the spec a person writes, its validation, and the contract record.

use super::mode::{BoundaryMode, MemoryClass};
use super::scope::{Name, Scope};
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A Unix user id: owners and callers are identified by uid.
pub type Uid = u32;
/// A contract id (a ULID in text form).
pub type ContractId = String;
/// A memory id (the agent's own, or a ULID the daemon made).
pub type MemoryId = String;
/// A session id (a ULID).
pub type SessionId = String;

/// Longest description in bytes.
pub const DESCRIPTION_MAX_BYTES: usize = 2048;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The lower-case wire name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the wire name exactly (lower case).
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// The five contract types.
    ContractKind {
        /// May observe; stores nothing, generalizes nothing.
        Observation = "observation",
        /// May store episodes, without generalizing.
        Episodic = "episodic",
        /// May derive heuristics within scope.
        Procedural = "procedural",
        /// May infer strategies; needs TRUSTED or more isolation.
        Strategic = "strategic",
        /// Forbids all learning in its scope; overrides every other contract.
        Prohibited = "prohibited",
    }
}

wire_enum! {
    /// How far a memory generalizes: RAW < PATTERN < HEURISTIC < STRATEGY.
    Abstraction {
        /// The episode as it happened.
        Raw = "raw",
        /// A recurring pattern.
        Pattern = "pattern",
        /// A reusable rule of thumb.
        Heuristic = "heuristic",
        /// A longer-term strategy.
        Strategy = "strategy",
    }
}

wire_enum! {
    /// How long a contract lasts.
    RetentionKind {
        /// Until revoked.
        Permanent = "permanent",
        /// Until `retention_until`.
        Timebound = "timebound",
        /// Until the session it is bound to ends.
        Session = "session",
    }
}

wire_enum! {
    /// Lifecycle states. Expired, Revoked and Amended are terminal.
    ContractState {
        /// Being written by its owner.
        Draft = "draft",
        /// Submitted, waiting for approval.
        Review = "review",
        /// In force.
        Active = "active",
        /// Retention ended or its session ended.
        Expired = "expired",
        /// Withdrawn or revoked.
        Revoked = "revoked",
        /// Replaced by its activated amendment.
        Amended = "amended",
    }
}

impl ContractKind {
    /// Whether contracts of this kind may store memories at all.
    pub const fn may_store(self) -> bool {
        matches!(self, Self::Episodic | Self::Procedural | Self::Strategic)
    }

    /// The highest abstraction the kind allows; none for observation and prohibited.
    pub const fn max_abstraction(self) -> Option<Abstraction> {
        match self {
            Self::Episodic => Some(Abstraction::Raw),
            Self::Procedural => Some(Abstraction::Heuristic),
            Self::Strategic => Some(Abstraction::Strategy),
            Self::Observation | Self::Prohibited => None,
        }
    }

    /// The highest (and default) classification cap; none for prohibited.
    pub const fn max_classification(self) -> Option<MemoryClass> {
        match self {
            Self::Observation => Some(MemoryClass::Public),
            Self::Episodic | Self::Procedural => Some(MemoryClass::Secret),
            Self::Strategic => Some(MemoryClass::TopSecret),
            Self::Prohibited => None,
        }
    }

    /// The least isolated mode the kind works in; none for prohibited (never suspended).
    pub const fn default_required_mode(self) -> Option<BoundaryMode> {
        match self {
            Self::Observation | Self::Episodic | Self::Procedural => Some(BoundaryMode::Open),
            Self::Strategic => Some(BoundaryMode::Trusted),
            Self::Prohibited => None,
        }
    }
}

impl ContractState {
    /// Whether no transition leaves this state.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Expired | Self::Revoked | Self::Amended)
    }
}

/// What the owner states: the spec keys of the bus interface. Drafts may be incomplete;
/// [`ContractSpec::problems`] says what must change before it can be submitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredSpec", into = "StoredSpec")]
pub struct ContractSpec {
    /// Domains, contexts and tools (stored flat, next to the other keys).
    pub scope: Scope,
    /// How long the contract lasts; must be stated before review.
    pub retention: Option<RetentionKind>,
    /// End of a timebound contract.
    pub retention_until: Option<Timestamp>,
    /// Lowers the kind's classification cap.
    pub classification_cap: Option<MemoryClass>,
    /// Raises the kind's required mode.
    pub required_mode: Option<BoundaryMode>,
    /// Lowers the kind's maximum abstraction.
    pub max_abstraction: Option<Abstraction>,
    /// Knowledge may leave the machine (false unless the owner says so).
    pub transferable: bool,
    /// Recall only while the owner is present.
    pub recall_requires_owner: bool,
    /// The owner's own words about the contract.
    pub description: String,
    /// A system prohibition that applies to every owner (admin only).
    pub system: bool,
}

/// A spec as the store keeps it: the scope's lists flat among the other keys. A plain
/// struct rather than `#[serde(flatten)]`, which buffers every record into an intermediate
/// form first and made loading 100,000 contracts several times slower.
///
/// Absent options, false flags and an empty tool list are left out: a typical record is half
/// the size, which is half the reading and decoding at startup. Older records that spell them
/// out read the same.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSpec {
    domains: Vec<Name>,
    contexts: Vec<Name>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention: Option<RetentionKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classification_cap: Option<MemoryClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    required_mode: Option<BoundaryMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_abstraction: Option<Abstraction>,
    #[serde(default, skip_serializing_if = "is_false")]
    transferable: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    recall_requires_owner: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default, skip_serializing_if = "is_false")]
    system: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

impl From<StoredSpec> for ContractSpec {
    fn from(stored: StoredSpec) -> Self {
        Self {
            scope: Scope {
                domains: stored.domains,
                contexts: stored.contexts,
                tools: stored.tools,
            },
            retention: stored.retention,
            retention_until: stored.retention_until,
            classification_cap: stored.classification_cap,
            required_mode: stored.required_mode,
            max_abstraction: stored.max_abstraction,
            transferable: stored.transferable,
            recall_requires_owner: stored.recall_requires_owner,
            description: stored.description,
            system: stored.system,
        }
    }
}

impl From<ContractSpec> for StoredSpec {
    fn from(spec: ContractSpec) -> Self {
        Self {
            domains: spec.scope.domains,
            contexts: spec.scope.contexts,
            tools: spec.scope.tools,
            retention: spec.retention,
            retention_until: spec.retention_until,
            classification_cap: spec.classification_cap,
            required_mode: spec.required_mode,
            max_abstraction: spec.max_abstraction,
            transferable: spec.transferable,
            recall_requires_owner: spec.recall_requires_owner,
            description: spec.description,
            system: spec.system,
        }
    }
}

/// A partial spec: the keys a caller sent, each replacing the stored value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecPatch {
    /// New domains.
    pub domains: Option<Vec<Name>>,
    /// New contexts.
    pub contexts: Option<Vec<Name>>,
    /// New tools.
    pub tools: Option<Vec<Name>>,
    /// New retention kind; a kind other than timebound drops a stored `retention_until`.
    pub retention: Option<RetentionKind>,
    /// New end for a timebound contract.
    pub retention_until: Option<Timestamp>,
    /// New classification cap.
    pub classification_cap: Option<MemoryClass>,
    /// New required mode.
    pub required_mode: Option<BoundaryMode>,
    /// New maximum abstraction.
    pub max_abstraction: Option<Abstraction>,
    /// New transferability.
    pub transferable: Option<bool>,
    /// New owner-presence requirement.
    pub recall_requires_owner: Option<bool>,
    /// New description.
    pub description: Option<String>,
    /// New system flag.
    pub system: Option<bool>,
}

/// One thing wrong with a spec: the key and a sentence a person understands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecProblem {
    /// The spec key at fault.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl ContractSpec {
    /// Applies `patch` over this spec.
    pub fn patched(&self, patch: &SpecPatch) -> ContractSpec {
        let mut spec = self.clone();
        if let Some(domains) = &patch.domains {
            spec.scope.domains = domains.clone();
        }
        if let Some(contexts) = &patch.contexts {
            spec.scope.contexts = contexts.clone();
        }
        if let Some(tools) = &patch.tools {
            spec.scope.tools = tools.clone();
        }
        if let Some(retention) = patch.retention {
            spec.retention = Some(retention);
            if retention != RetentionKind::Timebound {
                spec.retention_until = None;
            }
        }
        if let Some(until) = patch.retention_until {
            spec.retention_until = Some(until);
        }
        if let Some(cap) = patch.classification_cap {
            spec.classification_cap = Some(cap);
        }
        if let Some(mode) = patch.required_mode {
            spec.required_mode = Some(mode);
        }
        if let Some(level) = patch.max_abstraction {
            spec.max_abstraction = Some(level);
        }
        if let Some(transferable) = patch.transferable {
            spec.transferable = transferable;
        }
        if let Some(required) = patch.recall_requires_owner {
            spec.recall_requires_owner = required;
        }
        if let Some(description) = &patch.description {
            spec.description = description.clone();
        }
        if let Some(system) = patch.system {
            spec.system = system;
        }
        spec
    }

    /// Everything wrong with this spec for a contract of `kind`. With `submitting`, also what
    /// is missing for review, judged at `now` (a timebound end must lie in the future).
    pub fn problems(
        &self,
        kind: ContractKind,
        submitting: bool,
        now: Timestamp,
    ) -> Vec<SpecProblem> {
        let mut problems: Vec<(&'static str, String)> = self.scope.problems(submitting);
        let prohibited = kind == ContractKind::Prohibited;

        if let Some(cap) = self.classification_cap {
            match kind.max_classification() {
                None => problems.push((
                    "classification_cap",
                    "prohibitions forbid every class, so they take no classification cap".into(),
                )),
                Some(max) if cap > max => problems.push((
                    "classification_cap",
                    format!("{cap} is above what a {kind} contract allows ({max}); choose {max} or lower"),
                )),
                Some(_) => {}
            }
        }
        if let Some(mode) = self.required_mode {
            match kind.default_required_mode() {
                None => problems.push((
                    "required_mode",
                    "prohibitions apply in every mode, so they take no required mode".into(),
                )),
                Some(_) if mode == BoundaryMode::Lockdown => problems.push((
                    "required_mode",
                    "nothing may run in LOCKDOWN; choose OPEN to COLDROOM".into(),
                )),
                Some(least) if mode < least => problems.push((
                    "required_mode",
                    format!("{mode} is looser than a {kind} contract allows; choose {least} or a more isolated mode"),
                )),
                Some(_) => {}
            }
        }
        if let Some(level) = self.max_abstraction {
            match kind.max_abstraction() {
                None => problems.push((
                    "max_abstraction",
                    format!("{kind} contracts allow no generalization, so they take no maximum abstraction"),
                )),
                Some(max) if level > max => problems.push((
                    "max_abstraction",
                    format!("{level} is above what a {kind} contract allows ({max})"),
                )),
                Some(_) => {}
            }
        }
        if self.transferable && !kind.may_store() {
            problems.push((
                "transferable",
                format!("{kind} contracts keep nothing that could leave the machine; leave transferable off"),
            ));
        }
        if self.recall_requires_owner && !kind.may_store() {
            problems.push((
                "recall_requires_owner",
                format!("{kind} contracts keep nothing to recall; leave recall_requires_owner off"),
            ));
        }
        if self.system && !prohibited {
            problems.push((
                "system",
                "only prohibitions can be system contracts that apply to every owner".into(),
            ));
        }
        if prohibited && !self.scope.tools.is_empty() {
            problems.push((
                "tools",
                "prohibitions cover domains and contexts; they take no tools".into(),
            ));
        }
        if prohibited && self.retention == Some(RetentionKind::Session) {
            problems.push((
                "retention",
                "prohibitions are permanent or timebound, never bound to a session".into(),
            ));
        }
        if self.retention_until.is_some() && self.retention != Some(RetentionKind::Timebound) {
            problems.push((
                "retention_until",
                "an end time only applies to timebound retention; set retention to timebound or drop the end".into(),
            ));
        }
        if self.description.len() > DESCRIPTION_MAX_BYTES {
            problems.push((
                "description",
                format!(
                    "is {} bytes long; keep it under {DESCRIPTION_MAX_BYTES}",
                    self.description.len()
                ),
            ));
        }
        if self
            .description
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            problems.push((
                "description",
                "contains control characters; use plain text".into(),
            ));
        }
        if submitting {
            match (self.retention, self.retention_until) {
                (None, _) => problems.push((
                    "retention",
                    "say how long it lasts: permanent, timebound (with an end) or session".into(),
                )),
                (Some(RetentionKind::Timebound), None) => problems.push((
                    "retention_until",
                    "a timebound contract needs an end time".into(),
                )),
                (Some(RetentionKind::Timebound), Some(until)) if until <= now => problems.push((
                    "retention_until",
                    "the end time lies in the past; choose a time in the future".into(),
                )),
                _ => {}
            }
        }
        problems
            .into_iter()
            .map(|(key, message)| SpecProblem {
                key: key.to_string(),
                message,
            })
            .collect()
    }
}

/// Why an Active contract is suspended. Suspension is not a state: it is derived from the
/// effective mode and the pauses (see `Registry::suspension`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Suspension {
    /// The mode is below the contract's required mode.
    pub mode: bool,
    /// LOCKDOWN or UNKNOWN.
    pub lockdown: bool,
    /// Learning is paused for the owner or globally.
    pub pause: bool,
}

impl Suspension {
    /// No reason at all.
    pub const NONE: Suspension = Suspension {
        mode: false,
        lockdown: false,
        pause: false,
    };

    /// True when any reason holds.
    pub const fn any(self) -> bool {
        self.mode || self.lockdown || self.pause
    }

    /// The reasons' wire names, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.mode, "mode"),
            (self.lockdown, "lockdown"),
            (self.pause, "pause"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect()
    }
}

/// A contract as the daemon holds it. The store keeps it as JSON without the absent
/// optional keys (older records that spell them out as `null` read the same).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// Its id.
    pub id: ContractId,
    /// The uid that created it.
    pub owner: Uid,
    /// Its type.
    pub kind: ContractKind,
    /// Its lifecycle state.
    pub state: ContractState,
    /// What the owner stated.
    pub spec: ContractSpec,
    /// When it was created.
    pub created: Timestamp,
    /// When it last changed.
    pub updated: Timestamp,
    /// When it became Active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<Timestamp>,
    /// When it reached a terminal state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Timestamp>,
    /// The Active contract this draft amends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<ContractId>,
    /// The amendment that replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<ContractId>,
    /// The session a session-retention contract is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionId>,
}

impl Contract {
    /// The classification cap in force (the kind's unless lowered).
    pub fn classification_cap(&self) -> Option<MemoryClass> {
        self.spec
            .classification_cap
            .or(self.kind.max_classification())
    }

    /// The required mode in force (the kind's unless raised); none for prohibitions.
    pub fn required_mode(&self) -> Option<BoundaryMode> {
        self.kind
            .default_required_mode()
            .map(|least| self.spec.required_mode.unwrap_or(least).max(least))
    }

    /// The maximum abstraction in force (the kind's unless lowered).
    pub fn max_abstraction(&self) -> Option<Abstraction> {
        self.kind
            .max_abstraction()
            .map(|max| self.spec.max_abstraction.unwrap_or(max).min(max))
    }

    /// The instant a timebound contract ends.
    pub fn retention_end(&self) -> Option<Timestamp> {
        match self.spec.retention {
            Some(RetentionKind::Timebound) => self.spec.retention_until,
            _ => None,
        }
    }

    /// Whether a timebound contract's end has been reached at `now` (it ends at that instant).
    pub fn is_past_end(&self, now: Timestamp) -> bool {
        self.retention_end().is_some_and(|end| now >= end)
    }

    /// Whether this is a system prohibition that applies to every owner.
    pub fn is_system(&self) -> bool {
        self.spec.system && self.kind == ContractKind::Prohibited
    }
}
