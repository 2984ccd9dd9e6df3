//! Who may read or act on what (SEMANTICS.md section 12), decided in one place: the owner, an
//! agent the owner delegated to, an admin, and system prohibitions. Every bus method declares
//! its requirement in [`METHOD_RULES`]; the bus gathers the caller's grants from the authorizer
//! (polkit or unix) and asks [`decide`]. Nothing here does I/O.

use super::contract::Uid;
use std::collections::BTreeMap;

/// The actions that need more than being a local caller. Their ids are the polkit action ids
/// in `dbus/org.learningcontracts.policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The owner confirms activating or amend-activating a contract, or asking for a deep purge.
    ConfirmOwn,
    /// Act on any owner's contracts (read all, activate, revoke, purge, system prohibitions).
    ManageAll,
    /// Pause or resume everyone's learning.
    PauseAll,
    /// Set or clear the mode override.
    SetOverride,
    /// Enter lockdown.
    EnterLockdown,
    /// Release a latched lockdown.
    ReleaseLockdown,
    /// Reload the config.
    Reload,
}

impl Action {
    /// The polkit action id.
    pub const fn id(self) -> &'static str {
        match self {
            Self::ConfirmOwn => "org.learningcontracts.confirm-own",
            Self::ManageAll => "org.learningcontracts.manage-all",
            Self::PauseAll => "org.learningcontracts.pause-all",
            Self::SetOverride => "org.learningcontracts.set-override",
            Self::EnterLockdown => "org.learningcontracts.enter-lockdown",
            Self::ReleaseLockdown => "org.learningcontracts.release-lockdown",
            Self::Reload => "org.learningcontracts.reload",
        }
    }

    /// Every action.
    pub const ALL: [Action; 7] = [
        Self::ConfirmOwn,
        Self::ManageAll,
        Self::PauseAll,
        Self::SetOverride,
        Self::EnterLockdown,
        Self::ReleaseLockdown,
        Self::Reload,
    ];
}

/// An authorizer's answer about one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authorized.
    Granted,
    /// Not authorized.
    Denied,
    /// Authorized only after authenticating, which the caller did not allow.
    ChallengeRequired,
}

/// What a bus method needs of its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Any local caller. The answer holds only what the caller may see: the host's state, or
    /// records of owners it reads for ([`may_read`]).
    AnyCaller,
    /// Acts for the caller's own owner or one that delegated to it ([`resolve_owner`]): checks,
    /// memory registration, opening sessions.
    ForOwner,
    /// Acts on the caller's own uid only, without a prompt: pausing and resuming one's own
    /// learning.
    Caller,
    /// Acts on a contract (or its memories, or a session): its owner in person (for a session,
    /// also the agent that opened it), or an admin (ManageAll). A delegated agent is refused;
    /// a stranger is told nothing exists.
    Owner,
    /// As [`Requirement::Owner`], and the owner must confirm as a human (ConfirmOwn, never
    /// cached): activating, amend-activating and asking for a deep purge.
    OwnerConfirmed,
    /// An admin action.
    Admin(Action),
}

/// One bus method's declared requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodRule {
    /// The interface's short name ("Contracts1").
    pub interface: &'static str,
    /// The member ("Activate").
    pub member: &'static str,
    /// What the caller needs.
    pub requirement: Requirement,
}

const fn rule(
    interface: &'static str,
    member: &'static str,
    requirement: Requirement,
) -> MethodRule {
    MethodRule {
        interface,
        member,
        requirement,
    }
}

use Requirement::{Admin, AnyCaller, Caller, ForOwner, Owner, OwnerConfirmed};

/// Every method of the seven interfaces and what it needs (SEMANTICS.md section 12).
pub const METHOD_RULES: &[MethodRule] = &[
    rule("Daemon1", "Reload", Admin(Action::Reload)),
    rule("Daemon1", "Subscribe", AnyCaller),
    rule("Contracts1", "CreateDraft", AnyCaller),
    rule("Contracts1", "UpdateDraft", Owner),
    rule("Contracts1", "Submit", Owner),
    rule("Contracts1", "ReturnToDraft", Owner),
    rule("Contracts1", "Activate", OwnerConfirmed),
    rule("Contracts1", "Amend", Owner),
    rule("Contracts1", "Revoke", Owner),
    rule("Contracts1", "Get", AnyCaller),
    rule("Contracts1", "List", AnyCaller),
    rule("Contracts1", "Summarize", AnyCaller),
    rule("Contracts1", "Templates", AnyCaller),
    rule("Contracts1", "DraftFromTemplate", AnyCaller),
    rule("Contracts1", "DraftFromText", AnyCaller),
    rule("Enforcement1", "CheckMemoryCreation", ForOwner),
    rule("Enforcement1", "CheckAbstraction", ForOwner),
    rule("Enforcement1", "CheckRecall", ForOwner),
    rule("Enforcement1", "CheckExport", ForOwner),
    rule("Enforcement1", "CheckBatch", ForOwner),
    rule("Enforcement1", "RegisterMemory", ForOwner),
    rule("Enforcement1", "RecallGate", AnyCaller),
    rule("Enforcement1", "ToolGate", AnyCaller),
    rule("Boundary1", "Explain", AnyCaller),
    rule("Boundary1", "EnterLockdown", Admin(Action::EnterLockdown)),
    rule(
        "Boundary1",
        "ReleaseLockdown",
        Admin(Action::ReleaseLockdown),
    ),
    rule("Boundary1", "SetOverride", Admin(Action::SetOverride)),
    rule("Boundary1", "ClearOverride", Admin(Action::SetOverride)),
    rule("Boundary1", "PauseLearning", Caller),
    rule("Boundary1", "ResumeLearning", Caller),
    rule("Boundary1", "PauseAll", Admin(Action::PauseAll)),
    rule("Boundary1", "ResumeAll", Admin(Action::PauseAll)),
    rule("Memories1", "Get", AnyCaller),
    rule("Memories1", "GetForOwner", AnyCaller),
    rule("Memories1", "List", AnyCaller),
    rule("Memories1", "RequestPurge", OwnerConfirmed),
    rule("Memories1", "ConfirmPurge", Owner),
    rule("Sessions1", "Open", ForOwner),
    rule("Sessions1", "End", Owner),
    rule("Sessions1", "Bind", Owner),
    rule("Audit1", "Read", Admin(Action::ManageAll)),
    rule("Audit1", "Verify", Admin(Action::ManageAll)),
    rule("Audit1", "Archive", Admin(Action::ManageAll)),
    rule("Audit1", "SetupSealing", Admin(Action::ManageAll)),
];

/// The declared requirement of a method, by interface short name and member.
pub fn requirement_of(interface: &str, member: &str) -> Option<Requirement> {
    METHOD_RULES
        .iter()
        .find(|r| r.interface == interface && r.member == member)
        .map(|r| r.requirement)
}

/// The caller as access decisions see it: its uid, and the owners that delegated to it in the
/// config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject<'a> {
    /// The caller's uid, from the bus.
    pub uid: Uid,
    /// Owners that delegated to this uid.
    pub delegated_by: &'a [Uid],
}

impl<'a> Subject<'a> {
    /// A subject from the config's delegations (agent uid → owners).
    pub fn new(uid: Uid, delegations: &'a BTreeMap<Uid, Vec<Uid>>) -> Self {
        Self {
            uid,
            delegated_by: delegations.get(&uid).map(Vec::as_slice).unwrap_or(&[]),
        }
    }

    /// How the caller stands to `owner`'s records.
    pub fn relation_to(&self, owner: Uid) -> Relation {
        if owner == self.uid {
            Relation::Owner
        } else if self.delegated_by.contains(&owner) {
            Relation::Delegated
        } else {
            Relation::Stranger
        }
    }
}

/// How a caller stands to a record's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// The caller is the owner.
    Owner,
    /// The owner delegated to the caller.
    Delegated,
    /// Anyone else.
    Stranger,
}

/// Why access was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// AccessDenied, with a message that reveals nothing of other owners.
    Denied(String),
    /// The caller could authenticate but did not allow interaction.
    ChallengeRequired(String),
    /// Answer as if the record did not exist (NotFound, or `no_contract`): the caller may not
    /// learn that it does.
    Hidden,
    /// A named owner the caller does not act for, or several owners and none named.
    Owner(OwnerRefusal),
}

/// Why a request cannot be made for the owner it names (or does not name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerRefusal {
    /// The caller is not delegated by the named owner.
    NotDelegated {
        /// The caller.
        uid: Uid,
        /// The owner named.
        owner: Uid,
    },
    /// The caller acts for several owners and named none.
    Ambiguous,
}

/// What the authorizer said about the caller, asked only as far as needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grants {
    /// The action the method needs (its admin action, or ManageAll for acting on another
    /// owner's records).
    pub admin: Verdict,
    /// ConfirmOwn, for methods that need the owner's human confirmation.
    pub confirm_own: Verdict,
}

/// How the caller may act, once allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// As an admin (for the audit and for rules that only admins pass).
    pub as_admin: bool,
    /// The owner confirmed as a human.
    pub confirmed: bool,
}

const PLAIN: Allowed = Allowed {
    as_admin: false,
    confirmed: false,
};
const AS_ADMIN: Allowed = Allowed {
    as_admin: true,
    confirmed: false,
};

/// Decides a method call. `target` is the owner of the record the call acts on (a contract,
/// its memories, a session) and whether it is a system prohibition; `None` when the call acts
/// on no record or the record does not exist. The order matters for privacy: a stranger learns
/// nothing from the answer whether the record exists or not.
pub fn decide(
    requirement: Requirement,
    subject: &Subject<'_>,
    target: Option<(Uid, bool)>,
    grants: Grants,
) -> Result<Allowed, Refusal> {
    let admin = grants.admin == Verdict::Granted;
    match requirement {
        Requirement::AnyCaller | Requirement::ForOwner | Requirement::Caller => Ok(PLAIN),
        Requirement::Admin(action) => match grants.admin {
            Verdict::Granted => Ok(AS_ADMIN),
            Verdict::ChallengeRequired => Err(Refusal::ChallengeRequired(format!(
                "{} needs authentication; call again allowing interactive authorization",
                action.id()
            ))),
            Verdict::Denied => Err(Refusal::Denied(format!(
                "not authorized for {}",
                action.id()
            ))),
        },
        Requirement::Owner | Requirement::OwnerConfirmed => {
            let relation = target.map(|(owner, _system)| subject.relation_to(owner));
            if relation == Some(Relation::Owner) {
                if requirement == Requirement::Owner {
                    return Ok(PLAIN);
                }
                return match grants.confirm_own {
                    Verdict::Granted => Ok(Allowed {
                        as_admin: false,
                        confirmed: true,
                    }),
                    // An owner who is also an admin may act as the admin instead.
                    _ if admin => Ok(AS_ADMIN),
                    Verdict::ChallengeRequired => Err(Refusal::ChallengeRequired(format!(
                        "{} needs your confirmation; call again allowing interactive authorization",
                        Action::ConfirmOwn.id()
                    ))),
                    Verdict::Denied => Err(Refusal::Denied(format!(
                        "this needs your interactive confirmation ({})",
                        Action::ConfirmOwn.id()
                    ))),
                };
            }
            // Anyone else acts as an admin or not at all. The admin question is asked whether
            // the record exists or not, so its answer reveals nothing.
            match (grants.admin, relation) {
                (Verdict::Granted, _) => Ok(AS_ADMIN),
                (Verdict::ChallengeRequired, _) => Err(Refusal::ChallengeRequired(format!(
                    "{} needs authentication; call again allowing interactive authorization",
                    Action::ManageAll.id()
                ))),
                (Verdict::Denied, Some(Relation::Delegated)) => Err(Refusal::Denied(
                    "an agent acting for an owner may read the owner's contracts but never change them"
                        .into(),
                )),
                (Verdict::Denied, _) => Err(Refusal::Hidden),
            }
        }
    }
}

/// Whether the caller may read records of `owner` (contracts, memories, sessions) without
/// being an admin: the owner, an agent the owner delegated to, and anyone for a system
/// prohibition. Otherwise only an admin (ManageAll) may, and a refusal is [`Refusal::Hidden`].
pub fn may_read(subject: &Subject<'_>, owner: Uid, system: bool) -> bool {
    system || subject.relation_to(owner) != Relation::Stranger
}

/// The owner whose contracts decide a request: the caller itself, or an owner that delegated
/// to it (named in the request when there are several).
pub fn resolve_owner(subject: &Subject<'_>, named: Option<Uid>) -> Result<Uid, OwnerRefusal> {
    match named {
        Some(owner) if subject.relation_to(owner) != Relation::Stranger => Ok(owner),
        Some(owner) => Err(OwnerRefusal::NotDelegated {
            uid: subject.uid,
            owner,
        }),
        None => match subject.delegated_by {
            [] => Ok(subject.uid),
            [only] => Ok(*only),
            _ => Err(OwnerRefusal::Ambiguous),
        },
    }
}
