//! The one mapping from internal errors to D-Bus errors: `org.learningcontracts.Error.<Name>`
//! for domain errors, `org.freedesktop.DBus.Error.AccessDenied` and `.InvalidArgs` for the
//! rest. Nothing is flattened into `Error.Failed`. Messages never carry paths or secrets.

use crate::core::CoreError;
use crate::ledger::LedgerError;
use crate::store::StoreError;
use zbus::message::{Header, Message};
use zbus::names::ErrorName;

/// The prefix of the daemon's own error names.
pub const ERROR_PREFIX: &str = "org.learningcontracts.Error";

pub use crate::core::error::LIMIT_REACHED;
/// The caller may not do this.
pub const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
/// The caller could be authorized after authenticating, but did not allow interaction.
pub const INTERACTIVE_REQUIRED: &str =
    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired";

/// Whether a refusal with this error name is audited (aggregated): refusals of authority and
/// of budgets are what a hostile caller produces; other errors are mistakes.
pub fn is_audited_refusal(name: &str) -> bool {
    matches!(name, ACCESS_DENIED | INTERACTIVE_REQUIRED | LIMIT_REACHED)
}

/// An error a method call answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusError {
    name: &'static str,
    message: String,
    /// Already counted for the aggregated audit (by the ledger's budgets and store guard).
    counted: bool,
}

impl BusError {
    fn new(name: &'static str, message: impl Into<String>) -> Self {
        Self {
            name,
            message: message.into(),
            counted: false,
        }
    }

    /// `org.freedesktop.DBus.Error.InvalidArgs`, naming the key at fault.
    pub fn invalid_args(key: &str, message: impl std::fmt::Display) -> Self {
        Self::new(
            "org.freedesktop.DBus.Error.InvalidArgs",
            format!("{key}: {message}"),
        )
    }

    /// `org.freedesktop.DBus.Error.AccessDenied`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ACCESS_DENIED, message)
    }

    /// `org.freedesktop.DBus.Error.InteractiveAuthorizationRequired`: the caller could be
    /// authorized after authenticating, but did not allow interaction.
    pub fn interactive_required(message: impl Into<String>) -> Self {
        Self::new(INTERACTIVE_REQUIRED, message)
    }

    /// `org.learningcontracts.Error.LimitReached`: the caller has used up a share.
    pub fn limit_reached(message: impl Into<String>) -> Self {
        Self::new(LIMIT_REACHED, message)
    }

    /// `org.learningcontracts.Error.NotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("org.learningcontracts.Error.NotFound", message)
    }

    /// `org.learningcontracts.Error.AlreadyExists`: what the call would create exists.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new("org.learningcontracts.Error.AlreadyExists", message)
    }

    /// `org.learningcontracts.Error.StoreFailed`: the change was not committed.
    pub fn store_failed() -> Self {
        Self::new(
            "org.learningcontracts.Error.StoreFailed",
            "the change could not be committed to the store; nothing was changed. The daemon's journal says why",
        )
    }

    /// `org.learningcontracts.Error.Unavailable`: the daemon is shutting down or lost a part.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new("org.learningcontracts.Error.Unavailable", message)
    }

    /// `org.learningcontracts.Error.InvalidConfig`: a reload found a bad config; the old one
    /// stays in force.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        Self::new("org.learningcontracts.Error.InvalidConfig", message)
    }

    /// The same error, its message prefixed with where in the call the fault is
    /// (`requests[3]`).
    pub fn at(mut self, place: &str) -> Self {
        self.message = format!("{place}: {}", self.message);
        self
    }

    /// The error's D-Bus name.
    pub fn error_name(&self) -> &'static str {
        self.name
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the refusal is already counted for the aggregated audit.
    pub fn is_counted(&self) -> bool {
        self.counted
    }

    /// Marks the refusal counted, so that no later layer counts it again.
    pub fn counted(mut self) -> Self {
        self.counted = true;
        self
    }
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

impl std::error::Error for BusError {}

impl zbus::DBusError for BusError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        Message::error(call, self.name).build(&(self.message.as_str(),))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(self.name)
    }

    fn description(&self) -> Option<&str> {
        Some(&self.message)
    }
}

impl From<CoreError> for BusError {
    fn from(err: CoreError) -> Self {
        let message = err.to_string();
        match err {
            CoreError::NotFound { .. } => {
                Self::new("org.learningcontracts.Error.NotFound", message)
            }
            CoreError::InvalidState { .. } => {
                Self::new("org.learningcontracts.Error.InvalidState", message)
            }
            CoreError::InvalidSpec { .. } => {
                Self::new("org.learningcontracts.Error.InvalidSpec", message)
            }
            CoreError::InvalidArgument { key, message } => Self::invalid_args(&key, message),
            CoreError::NotRevocable { .. } => {
                Self::new("org.learningcontracts.Error.NotRevocable", message)
            }
            CoreError::TokenInvalid => {
                Self::new("org.learningcontracts.Error.TokenInvalid", message)
            }
            CoreError::AccessDenied(_) => Self::access_denied(message),
            CoreError::AlreadyExists { .. } => {
                Self::new("org.learningcontracts.Error.AlreadyExists", message)
            }
            CoreError::LimitReached(_) => Self::new(LIMIT_REACHED, message),
        }
    }
}

impl From<StoreError> for BusError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "store operation failed");
        Self::store_failed()
    }
}

impl From<crate::app::writer::WriterError> for BusError {
    fn from(err: crate::app::writer::WriterError) -> Self {
        match err {
            crate::app::writer::WriterError::Ledger(err) => err.into(),
            crate::app::writer::WriterError::ShuttingDown => {
                BusError::unavailable("the daemon is shutting down")
            }
        }
    }
}

impl From<LedgerError> for BusError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Core(err) => err.into(),
            LedgerError::Refused(err) => Self {
                counted: true,
                ..err.into()
            },
            LedgerError::Store(err) => err.into(),
        }
    }
}

impl From<zbus::Error> for BusError {
    fn from(err: zbus::Error) -> Self {
        tracing::warn!(error = %err, "bus operation failed");
        Self::unavailable("a bus operation the daemon needed failed; try again")
    }
}

impl From<zbus::fdo::Error> for BusError {
    fn from(err: zbus::fdo::Error) -> Self {
        zbus::Error::from(err).into()
    }
}
