//! The core's errors. The bus layer maps each to one named D-Bus error, in one place.

use super::contract::SpecProblem;
use thiserror::Error;

/// The D-Bus error name of [`CoreError::LimitReached`] (a per-owner budget or the store guard
/// refused the call), kept here because refusals are audited under it below the bus too.
pub const LIMIT_REACHED: &str = "org.learningcontracts.Error.LimitReached";

/// Why the core refused a mutation or a lookup. Messages say what was wrong and what to do,
/// and never reveal another owner's contracts.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum CoreError {
    /// No such object, or not visible to the caller (the two are not told apart).
    #[error("no {what} '{id}' that you can see")]
    NotFound {
        /// "contract", "memory" or "session".
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The object is in a state that does not allow the action.
    #[error("{message}")]
    InvalidState {
        /// What the state is and what would be allowed.
        message: String,
    },
    /// The spec has problems a person must fix.
    #[error("the contract cannot be accepted: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidSpec {
        /// Every problem found.
        problems: Vec<SpecProblem>,
    },
    /// A request value is malformed.
    #[error("{key}: {message}")]
    InvalidArgument {
        /// The key at fault.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Prohibitions cannot be revoked or amended; they only expire.
    #[error("prohibition '{id}' cannot be revoked or amended; it only expires")]
    NotRevocable {
        /// The prohibition.
        id: String,
    },
    /// The purge token is unknown, expired, already used, or bound to another caller or contract.
    #[error("the purge token is not valid for this caller and contract; request a new one")]
    TokenInvalid,
    /// The caller may not do this.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// An object with this id already exists.
    #[error("{what} '{id}' already exists")]
    AlreadyExists {
        /// "memory".
        what: &'static str,
        /// The id.
        id: String,
    },
    /// A configured limit was reached.
    #[error("{0}")]
    LimitReached(String),
}

impl CoreError {
    /// A refusal because of the contract's or the host's state ([`CoreError::InvalidState`]).
    pub fn state(message: impl Into<String>) -> Self {
        Self::InvalidState {
            message: message.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }
}
