//! The client side of the bus: the client crate's [`Client`] on the bus asked for, calls that
//! allow interactive authorization (so polkit can ask the person), and errors turned into
//! messages and exit codes.

pub use learning_contracts_client::Client;
use learning_contracts_client::zbus;
use thiserror::Error;
use zbus::proxy::MethodFlags;

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
                // The bus's "nobody owns the name" never gets here: it is `Unreachable`.
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

impl From<learning_contracts_client::Error> for CliError {
    fn from(err: learning_contracts_client::Error) -> Self {
        use learning_contracts_client::Error;
        match err {
            // No name: the bus itself failed (no bus, a connection lost, a reply of the wrong
            // type).
            Error::Bus(err) if err_name(&err).is_none() => Self::Unreachable(err.to_string()),
            // The bus answered for the daemon: nobody owns its name.
            named
                if matches!(
                    named.name(),
                    Some(
                        "org.freedesktop.DBus.Error.ServiceUnknown"
                            | "org.freedesktop.DBus.Error.NameHasNoOwner"
                    )
                ) =>
            {
                Self::Unreachable(named.message().unwrap_or_default().to_string())
            }
            named => {
                let name = named.name().unwrap_or_default().to_string();
                let message = named
                    .message()
                    .filter(|message| !message.is_empty())
                    .map_or_else(|| name.clone(), str::to_string);
                Self::Daemon { name, message }
            }
        }
    }
}

/// The error name of a bus failure, when it is an error reply.
fn err_name(err: &zbus::Error) -> Option<&str> {
    match err {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

impl From<zbus::Error> for CliError {
    fn from(err: zbus::Error) -> Self {
        learning_contracts_client::Error::from(err).into()
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

/// Connects to `bus`, with proxies that read every property from the daemon when asked (a
/// command reads it once; `watch` reads it again on each signal and must see it then).
pub async fn connect(bus: &Bus) -> Result<Client, CliError> {
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
    Ok(Client::with_connection_uncached(connection).await?)
}

/// Calls `method` of the interface behind `proxy` (one of [`Client`]'s proxies) allowing
/// interactive authorization, so polkit may ask the person (for a password, or to confirm)
/// before the daemon answers. The proxies' own methods do not allow it, and where polkit would
/// ask, the daemon then answers InteractiveAuthorizationRequired instead. So every call the
/// daemon authorizes (a change to a contract, its owner's confirmation, reading another
/// owner's contracts or memories, the admin's actions, the audit log) goes through here;
/// checks, gates, templates, drafts from text, Subscribe and properties, which it does not
/// authorize, use the proxies' own methods.
pub async fn interactive<'p, B, R>(
    proxy: &impl AsRef<zbus::Proxy<'p>>,
    method: &'static str,
    body: &B,
) -> Result<R, CliError>
where
    B: serde::Serialize + zbus::wire::DynamicType,
    R: for<'d> zbus::wire::DynamicDeserialize<'d>,
{
    let reply: Option<R> = proxy
        .as_ref()
        .call_with_flags(method, MethodFlags::ALLOW_INTERACTIVE_AUTH, body)
        .await?;
    reply.ok_or_else(|| CliError::Unreachable("no reply".into()))
}
