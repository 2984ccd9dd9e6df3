//! The client side of the bus: one connection, calls that allow interactive authorization
//! (so polkit can ask the person), and errors turned into messages and exit codes.

use serde::de::DeserializeOwned;
use thiserror::Error;
use zbus::proxy::MethodFlags;

/// The daemon's bus name and object.
pub const BUS_NAME: &str = "org.learningcontracts.Daemon1";
/// The one object path.
pub const PATH: &str = "/org/learningcontracts/Daemon1";

/// Exit status: the command did what was asked.
pub const EXIT_OK: u8 = 0;
/// Exit status: the daemon refused for another reason (invalid state, not revocable …).
pub const EXIT_REFUSED: u8 = 1;
/// Exit status: bad command-line arguments (clap's own).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: not allowed (AccessDenied, or authentication needed and refused).
pub const EXIT_DENIED: u8 = 3;
/// Exit status: no such contract, memory or session that you can see.
pub const EXIT_NOT_FOUND: u8 = 4;
/// Exit status: the daemon rejected the input (InvalidArgs, InvalidSpec).
pub const EXIT_INVALID: u8 = 5;
/// Exit status: the daemon could not be reached.
pub const EXIT_UNREACHABLE: u8 = 6;
/// Exit status: the journal could not be read (`audit verify --journal`).
pub const EXIT_JOURNAL: u8 = 7;
/// Exit status: a `check` whose answer was "denied".
pub const EXIT_CHECK_DENIED: u8 = 10;

/// What went wrong, with the exit status it maps to.
#[derive(Debug, Error)]
pub enum CliError {
    /// The bus or the daemon cannot be reached.
    #[error(
        "cannot reach learning-contractsd: {0}\nIs it running? On the system bus: systemctl status learning-contractsd. For a user-mode daemon, pass --user."
    )]
    Unreachable(String),
    /// The daemon answered with an error.
    #[error("{message}")]
    Daemon {
        /// The D-Bus error name.
        name: String,
        /// The daemon's message.
        message: String,
    },
    /// The person said no, or nobody could be asked.
    #[error("{0}")]
    Declined(String),
    /// Input this tool refuses before asking the daemon.
    #[error("{0}")]
    Input(String),
    /// The journal could not be read, so nothing is known of the checkpoints in it.
    #[error("cannot read the journal: {0}")]
    Journal(String),
}

impl CliError {
    /// The exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable(_) => EXIT_UNREACHABLE,
            Self::Declined(_) => EXIT_REFUSED,
            Self::Input(_) => EXIT_INVALID,
            Self::Journal(_) => EXIT_JOURNAL,
            Self::Daemon { name, .. } => match name.as_str() {
                "org.freedesktop.DBus.Error.AccessDenied"
                | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => EXIT_DENIED,
                "org.learningcontracts.Error.NotFound" => EXIT_NOT_FOUND,
                "org.freedesktop.DBus.Error.InvalidArgs"
                | "org.learningcontracts.Error.InvalidSpec" => EXIT_INVALID,
                "org.freedesktop.DBus.Error.ServiceUnknown"
                | "org.freedesktop.DBus.Error.NameHasNoOwner" => EXIT_UNREACHABLE,
                _ => EXIT_REFUSED,
            },
        }
    }

    /// A hint of what to do next, for the common refusals.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Daemon { name, .. } => match name.as_str() {
                "org.freedesktop.DBus.Error.AccessDenied" => Some(
                    "This needs the contract's owner, or an admin (run with sudo, or ask one).",
                ),
                "org.learningcontracts.Error.NotFound" => {
                    Some("List what you can see with: contractctl list")
                }
                "org.learningcontracts.Error.InvalidSpec" => {
                    Some("Change the draft with: contractctl edit ID …, then submit it again.")
                }
                _ => None,
            },
            Self::Journal(_) => Some(
                "Reading the system journal needs root or the systemd-journal group (sudo contractctl audit verify --journal).",
            ),
            _ => None,
        }
    }
}

impl From<zbus::Error> for CliError {
    fn from(err: zbus::Error) -> Self {
        match err {
            zbus::Error::MethodError(name, message, _) => {
                let name = name.to_string();
                if name == "org.freedesktop.DBus.Error.ServiceUnknown"
                    || name == "org.freedesktop.DBus.Error.NameHasNoOwner"
                {
                    return Self::Unreachable("the daemon is not on this bus".into());
                }
                Self::Daemon {
                    message: message.unwrap_or_else(|| name.clone()),
                    name,
                }
            }
            zbus::Error::FDO(fdo) => {
                use zbus::DBusError;
                Self::Daemon {
                    name: fdo.name().to_string(),
                    message: fdo.description().unwrap_or_default().to_string(),
                }
            }
            other => Self::Unreachable(other.to_string()),
        }
    }
}

/// Which bus to talk to.
#[derive(Clone, Debug)]
pub enum Bus {
    /// The system bus.
    System,
    /// The session bus (a daemon started with --user).
    Session,
    /// An address.
    Address(String),
}

/// A connection to the daemon.
#[derive(Debug, Clone)]
pub struct Client {
    connection: zbus::Connection,
}

impl Client {
    /// Connects to the bus.
    pub async fn connect(bus: &Bus) -> Result<Self, CliError> {
        let connection = match bus {
            Bus::System => zbus::Connection::system().await,
            Bus::Session => zbus::Connection::session().await,
            Bus::Address(address) => {
                zbus::connection::Builder::address(address.as_str())
                    .build()
                    .await
            }
        }
        .map_err(|err| CliError::Unreachable(err.to_string()))?;
        Ok(Self { connection })
    }

    /// The bus connection, for subscribing to the daemon's signals.
    pub fn connection(&self) -> &zbus::Connection {
        &self.connection
    }

    /// Calls `method` of `interface` (the short name, such as "Contracts1") and returns the
    /// reply body. Calls allow interactive authorization, so polkit may ask the person.
    pub async fn call<B, R>(&self, interface: &str, method: &str, body: &B) -> Result<R, CliError>
    where
        B: serde::Serialize + zbus::wire::DynamicType,
        R: DeserializeOwned + zbus::wire::Type,
    {
        let proxy = zbus::Proxy::new(
            &self.connection,
            BUS_NAME,
            PATH,
            format!("org.learningcontracts.{interface}"),
        )
        .await
        .map_err(CliError::from)?;
        let reply: Option<R> = proxy
            .call_with_flags(method, MethodFlags::ALLOW_INTERACTIVE_AUTH, body)
            .await
            .map_err(CliError::from)?;
        reply.ok_or_else(|| CliError::Unreachable("no reply".into()))
    }

    /// Reads a property of an interface (short name).
    pub async fn property<R>(&self, interface: &str, name: &str) -> Result<R, CliError>
    where
        R: TryFrom<zbus::OwnedVariant> + DeserializeOwned + zbus::wire::Type,
        R::Error: Into<zbus::Error>,
    {
        let proxy = zbus::Proxy::new(
            &self.connection,
            BUS_NAME,
            PATH,
            format!("org.learningcontracts.{interface}"),
        )
        .await
        .map_err(CliError::from)?;
        proxy.get_property(name).await.map_err(CliError::from)
    }
}
