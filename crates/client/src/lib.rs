//! A typed D-Bus client for learning-contractsd, for agents and tools.
//!
//! - [`proxies`]: one zbus proxy per interface, generated from the interface files
//!   (`dbus/org.learningcontracts.*.xml`), so they match the daemon member by member.
//! - [`Client`]: one connection with every interface's proxy, and typed calls for what agents
//!   do most: drafting contracts, the four checks (one at a time or batched), registering and
//!   recalling memories, sessions, and following the signals.
//! - [`Error`]: one variant per named error the daemon answers with.
//! - [`Decision`], [`Request`], [`ContractSpec`]: the answers and the requests, typed.
//!
//! ```no_run
//! # async fn run() -> Result<(), learning_contracts_client::Error> {
//! use learning_contracts_client::{CheckKind, Client, Request};
//! let client = Client::system().await?;
//! let decision = client
//!     .check(CheckKind::MemoryCreation, &Request::new("coding", "editor").classification(1))
//!     .await?;
//! if decision.allowed {
//!     let kept = client.register_memory(&Request::new("coding", "editor").classification(1)).await?;
//!     println!("kept {} under {}", kept.memory_id, kept.decision.contract_id);
//! }
//! # Ok(()) }
//! ```

pub mod proxies;

use std::collections::HashMap;
use zbus::proxy::CacheProperties;
use zbus::{DBusError, OwnedVariant, Variant};

pub use proxies::{
    Audit1Proxy, Boundary1Proxy, Contracts1Proxy, Daemon1Proxy, Enforcement1Proxy, Memories1Proxy,
    Sessions1Proxy,
};
/// The zbus this crate is built on, for callers that need its types (signal streams, values).
pub use zbus;

/// The daemon's well-known bus name.
pub const BUS_NAME: &str = "org.learningcontracts.Daemon1";
/// The one object path all interfaces are served at.
pub const OBJECT_PATH: &str = "/org/learningcontracts/Daemon1";
/// The most requests one `Enforcement1.CheckBatch` call takes.
pub const MAX_BATCH: usize = 1000;

/// What went wrong: one variant per named error the daemon answers with (`dbus/errors.txt`),
/// then the bus's own failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `org.freedesktop.DBus.Error.AccessDenied`: the caller may not do this.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// `org.freedesktop.DBus.Error.InteractiveAuthorizationRequired`: polkit would ask the
    /// person, and the call did not allow interaction.
    #[error("interactive authorization required: {0}")]
    InteractiveAuthorizationRequired(String),
    /// `org.freedesktop.DBus.Error.InvalidArgs`: a malformed argument; the message names the
    /// key at fault.
    #[error("invalid arguments: {0}")]
    InvalidArgs(String),
    /// `org.learningcontracts.Error.AlreadyExists`: what the call would create exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// `org.learningcontracts.Error.InvalidConfig`: Reload found a configuration that does not
    /// parse; the old one stays in force.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// `org.learningcontracts.Error.InvalidSpec`: a contract spec that cannot be accepted.
    #[error("invalid contract: {0}")]
    InvalidSpec(String),
    /// `org.learningcontracts.Error.InvalidState`: not in this state.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// `org.learningcontracts.Error.LimitReached`: a share of the caller's is used up.
    #[error("limit reached: {0}")]
    LimitReached(String),
    /// `org.learningcontracts.Error.NotFound`: nothing the caller can see has this id.
    #[error("not found: {0}")]
    NotFound(String),
    /// `org.learningcontracts.Error.NotRevocable`: a prohibition, which is not revoked.
    #[error("not revocable: {0}")]
    NotRevocable(String),
    /// `org.learningcontracts.Error.StoreFailed`: the change was not committed.
    #[error("store failed: {0}")]
    StoreFailed(String),
    /// `org.learningcontracts.Error.TokenInvalid`: a purge token that is wrong, used or expired.
    #[error("token invalid: {0}")]
    TokenInvalid(String),
    /// `org.learningcontracts.Error.Unavailable`: the daemon is stopping or lost a part.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// An error name this client does not know (a newer daemon, or another service).
    #[error("{name}: {message}")]
    Other {
        /// The D-Bus error name.
        name: String,
        /// Its message.
        message: String,
    },
    /// The bus itself failed: no daemon, no bus, a connection lost, a reply of the wrong type.
    #[error("bus: {0}")]
    Bus(zbus::Error),
}

/// Makes an [`Error`] variant from its message.
type MakeError = fn(String) -> Error;

/// Each named error's D-Bus name with its variant's constructor.
const NAMED: [(&str, MakeError); 13] = [
    (
        "org.freedesktop.DBus.Error.AccessDenied",
        Error::AccessDenied,
    ),
    (
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
        Error::InteractiveAuthorizationRequired,
    ),
    ("org.freedesktop.DBus.Error.InvalidArgs", Error::InvalidArgs),
    (
        "org.learningcontracts.Error.AlreadyExists",
        Error::AlreadyExists,
    ),
    (
        "org.learningcontracts.Error.InvalidConfig",
        Error::InvalidConfig,
    ),
    (
        "org.learningcontracts.Error.InvalidSpec",
        Error::InvalidSpec,
    ),
    (
        "org.learningcontracts.Error.InvalidState",
        Error::InvalidState,
    ),
    (
        "org.learningcontracts.Error.LimitReached",
        Error::LimitReached,
    ),
    ("org.learningcontracts.Error.NotFound", Error::NotFound),
    (
        "org.learningcontracts.Error.NotRevocable",
        Error::NotRevocable,
    ),
    (
        "org.learningcontracts.Error.StoreFailed",
        Error::StoreFailed,
    ),
    (
        "org.learningcontracts.Error.TokenInvalid",
        Error::TokenInvalid,
    ),
    (
        "org.learningcontracts.Error.Unavailable",
        Error::Unavailable,
    ),
];

impl Error {
    /// The error for a D-Bus error `name` with its `message`.
    pub fn from_name(name: &str, message: &str) -> Self {
        match NAMED.iter().find(|(known, _)| *known == name) {
            Some((_, make)) => make(message.to_string()),
            None => Self::Other {
                name: name.to_string(),
                message: message.to_string(),
            },
        }
    }

    /// The D-Bus error name, when the daemon (or the bus) answered with one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Other { name, .. } => Some(name),
            Self::Bus(zbus::Error::MethodError(name, _, _)) => Some(name.as_str()),
            Self::Bus(_) => None,
            named => NAMED
                .iter()
                .find(|(_, make)| {
                    std::mem::discriminant(&make(String::new())) == std::mem::discriminant(named)
                })
                .map(|(name, _)| *name),
        }
    }

    /// The message that came with a named error (the daemon's sentence for people); none for
    /// the bus's own failures.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::AccessDenied(message)
            | Self::InteractiveAuthorizationRequired(message)
            | Self::InvalidArgs(message)
            | Self::AlreadyExists(message)
            | Self::InvalidConfig(message)
            | Self::InvalidSpec(message)
            | Self::InvalidState(message)
            | Self::LimitReached(message)
            | Self::NotFound(message)
            | Self::NotRevocable(message)
            | Self::StoreFailed(message)
            | Self::TokenInvalid(message)
            | Self::Unavailable(message)
            | Self::Other { message, .. } => Some(message),
            Self::Bus(zbus::Error::MethodError(_, message, _)) => message.as_deref(),
            Self::Bus(_) => None,
        }
    }
}

impl From<zbus::Error> for Error {
    fn from(err: zbus::Error) -> Self {
        match &err {
            zbus::Error::MethodError(name, message, _) => {
                Self::from_name(name.as_str(), message.as_deref().unwrap_or_default())
            }
            zbus::Error::FDO(fdo) => {
                let name = fdo.name();
                let message = fdo.description().unwrap_or_default();
                Self::from_name(name.as_str(), message)
            }
            _ => Self::Bus(err),
        }
    }
}

/// A result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A check's answer: allowed or not, the code (`allowed`, or why not, for example
/// `mode_too_open` or `no_contract`; docs/RULES.md lists them), the reason for people, and the
/// contract that decided (empty when none did).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the agent may go ahead.
    pub allowed: bool,
    /// `allowed`, or the named reason it is not.
    pub code: String,
    /// The reason in words.
    pub reason: String,
    /// The contract that decided, or empty.
    pub contract_id: String,
}

impl From<(bool, String, String, String)> for Decision {
    fn from((allowed, code, reason, contract_id): (bool, String, String, String)) -> Self {
        Self {
            allowed,
            code,
            reason,
            contract_id,
        }
    }
}

/// A memory registration's answer: the decision, and the new memory's id when allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The decision, as `CheckMemoryCreation` would give it.
    pub decision: Decision,
    /// The memory's id (empty when refused).
    pub memory_id: String,
}

/// A gate's answer (`RecallGate`, `ToolGate`): no contract decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    /// Whether it is open.
    pub allowed: bool,
    /// `allowed`, or why not.
    pub code: String,
    /// The reason in words.
    pub reason: String,
}

/// The four checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// May this be learned at all (`CheckMemoryCreation`)?
    MemoryCreation,
    /// May it be generalized this far (`CheckAbstraction`)?
    Abstraction,
    /// May this memory be recalled now (`CheckRecall`)?
    Recall,
    /// May it leave the machine (`CheckExport`)?
    Export,
}

impl CheckKind {
    /// The name `Enforcement1.CheckBatch` takes.
    pub fn batch_name(self) -> &'static str {
        match self {
            Self::MemoryCreation => "memory_creation",
            Self::Abstraction => "abstraction",
            Self::Recall => "recall",
            Self::Export => "export",
        }
    }
}

/// A check or registration request (the `a{sv}` the checks take), built field by field.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    fields: Vec<(&'static str, RequestValue)>,
}

#[derive(Clone, Debug, PartialEq)]
enum RequestValue {
    Text(String),
    Byte(u8),
    Uint(u32),
    Texts(Vec<String>),
}

impl Request {
    /// A request about `domain` in `context`, classification 0 until set.
    pub fn new(domain: &str, context: &str) -> Self {
        Self::default()
            .text("domain", domain)
            .text("context", context)
            .classification(0)
    }

    fn text(self, key: &'static str, value: &str) -> Self {
        self.set(key, RequestValue::Text(value.to_string()))
    }

    fn set(mut self, key: &'static str, value: RequestValue) -> Self {
        self.fields.retain(|(k, _)| *k != key);
        self.fields.push((key, value));
        self
    }

    /// The memory's class, 0 (public) to 5 (the most sensitive).
    pub fn classification(self, class: u8) -> Self {
        self.set("classification", RequestValue::Byte(class))
    }

    /// The tool the agent uses.
    pub fn tool(self, tool: &str) -> Self {
        self.text("tool", tool)
    }

    /// Ask about this contract only.
    pub fn contract(self, contract_id: &str) -> Self {
        self.text("contract_id", contract_id)
    }

    /// How far it is generalized: raw, pattern, heuristic or strategy.
    pub fn abstraction(self, abstraction: &str) -> Self {
        self.text("abstraction", abstraction)
    }

    /// The memory a recall or export is about, or the id a registration gives the new one.
    pub fn memory(self, memory_id: &str) -> Self {
        self.text("memory_id", memory_id)
    }

    /// The memories a registered memory is derived from.
    pub fn derived_from(self, sources: &[&str]) -> Self {
        let sources = sources.iter().map(|s| s.to_string()).collect();
        self.set("derived_from", RequestValue::Texts(sources))
    }

    /// Ask for another owner (admins and delegated agents).
    pub fn owner(self, uid: u32) -> Self {
        self.set("owner", RequestValue::Uint(uid))
    }

    /// The dictionary the bus carries.
    pub fn to_dict(&self) -> HashMap<&str, Variant<'_>> {
        self.fields
            .iter()
            .map(|(key, value)| {
                let value = match value {
                    RequestValue::Text(text) => Variant::from(text.as_str()),
                    RequestValue::Byte(byte) => Variant::from(*byte),
                    RequestValue::Uint(uid) => Variant::from(*uid),
                    RequestValue::Texts(texts) => Variant::from(texts.clone()),
                };
                (*key, value)
            })
            .collect()
    }
}

/// A contract's terms for `Contracts1.CreateDraft` (docs/RULES.md, "Contracts"), built field
/// by field; unset fields take the daemon's defaults.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContractSpec {
    texts: Vec<(&'static str, String)>,
    lists: Vec<(&'static str, Vec<String>)>,
    flags: Vec<(&'static str, bool)>,
    class_cap: Option<u8>,
    until: Option<i64>,
}

impl ContractSpec {
    /// An empty spec.
    pub fn new() -> Self {
        Self::default()
    }

    fn list(mut self, key: &'static str, values: &[&str]) -> Self {
        self.lists.retain(|(k, _)| *k != key);
        self.lists
            .push((key, values.iter().map(|v| v.to_string()).collect()));
        self
    }

    fn text(mut self, key: &'static str, value: &str) -> Self {
        self.texts.retain(|(k, _)| *k != key);
        self.texts.push((key, value.to_string()));
        self
    }

    fn flag(mut self, key: &'static str, value: bool) -> Self {
        self.flags.retain(|(k, _)| *k != key);
        self.flags.push((key, value));
        self
    }

    /// The domains it covers (`*` for all).
    pub fn domains(self, domains: &[&str]) -> Self {
        self.list("domains", domains)
    }
    /// The contexts it covers (`*` for all).
    pub fn contexts(self, contexts: &[&str]) -> Self {
        self.list("contexts", contexts)
    }
    /// The tools it covers.
    pub fn tools(self, tools: &[&str]) -> Self {
        self.list("tools", tools)
    }
    /// How long memories are kept: session, timebound or permanent.
    pub fn retention(self, retention: &str) -> Self {
        self.text("retention", retention)
    }
    /// For timebound retention: until when, in seconds since the epoch.
    pub fn retention_until(mut self, unix_seconds: i64) -> Self {
        self.until = Some(unix_seconds);
        self
    }
    /// The highest class it covers (0–5).
    pub fn classification_cap(mut self, class: u8) -> Self {
        self.class_cap = Some(class);
        self
    }
    /// The loosest mode it may be used in.
    pub fn required_mode(self, mode: &str) -> Self {
        self.text("required_mode", mode)
    }
    /// How far memories may be generalized.
    pub fn max_abstraction(self, abstraction: &str) -> Self {
        self.text("max_abstraction", abstraction)
    }
    /// Whether memories may leave the machine.
    pub fn transferable(self, transferable: bool) -> Self {
        self.flag("transferable", transferable)
    }
    /// Whether recall needs the owner present.
    pub fn recall_requires_owner(self, required: bool) -> Self {
        self.flag("recall_requires_owner", required)
    }
    /// A description for people.
    pub fn description(self, description: &str) -> Self {
        self.text("description", description)
    }

    /// The dictionary the bus carries.
    pub fn to_dict(&self) -> HashMap<&str, Variant<'_>> {
        let mut dict: HashMap<&str, Variant<'_>> = HashMap::new();
        for (key, value) in &self.texts {
            dict.insert(key, Variant::from(value.as_str()));
        }
        for (key, values) in &self.lists {
            dict.insert(key, Variant::from(values.clone()));
        }
        for (key, value) in &self.flags {
            dict.insert(key, Variant::from(*value));
        }
        if let Some(class) = self.class_cap {
            dict.insert("classification_cap", Variant::from(class));
        }
        if let Some(until) = self.until {
            dict.insert("retention_until", Variant::from(until));
        }
        dict
    }
}

/// A dictionary the daemon returned (a contract, a memory, an audit record).
pub type Dict = HashMap<String, OwnedVariant>;

/// One connection to the daemon, with each interface's proxy.
#[derive(Clone, Debug)]
pub struct Client {
    connection: zbus::Connection,
    /// `org.learningcontracts.Daemon1`.
    pub daemon: Daemon1Proxy<'static>,
    /// `org.learningcontracts.Contracts1`.
    pub contracts: Contracts1Proxy<'static>,
    /// `org.learningcontracts.Enforcement1`.
    pub enforcement: Enforcement1Proxy<'static>,
    /// `org.learningcontracts.Boundary1`.
    pub boundary: Boundary1Proxy<'static>,
    /// `org.learningcontracts.Memories1`.
    pub memories: Memories1Proxy<'static>,
    /// `org.learningcontracts.Sessions1`.
    pub sessions: Sessions1Proxy<'static>,
    /// `org.learningcontracts.Audit1`.
    pub audit: Audit1Proxy<'static>,
}

impl Client {
    /// The system daemon, on the system bus.
    pub async fn system() -> Result<Self> {
        Self::with_connection(zbus::Connection::system().await?).await
    }

    /// A user-mode daemon (`learning-contractsd --user`), on the session bus.
    pub async fn session() -> Result<Self> {
        Self::with_connection(zbus::Connection::session().await?).await
    }

    /// The daemon on the bus at `address` (for example `unix:path=/run/…`).
    pub async fn address(address: &str) -> Result<Self> {
        let connection = zbus::connection::Builder::address(address).build().await?;
        Self::with_connection(connection).await
    }

    /// The daemon on a connection the caller made.
    pub async fn with_connection(connection: zbus::Connection) -> Result<Self> {
        Self::build(connection, CacheProperties::default()).await
    }

    /// The daemon on a connection the caller made, with proxies that ask the daemon for a
    /// property each time it is read instead of keeping a cache. A cache costs a subscription
    /// and a first read of every property, and follows `PropertiesChanged` on its own schedule:
    /// this suits a tool that reads a few properties once, or reads them again as soon as a
    /// signal arrives and must see the daemon's value then (contractctl).
    pub async fn with_connection_uncached(connection: zbus::Connection) -> Result<Self> {
        Self::build(connection, CacheProperties::No).await
    }

    async fn build(connection: zbus::Connection, cache: CacheProperties) -> Result<Self> {
        Ok(Self {
            daemon: Daemon1Proxy::builder(&connection)
                .cache_properties(cache)
                .build()
                .await?,
            contracts: Contracts1Proxy::builder(&connection)
                .cache_properties(cache)
                .build()
                .await?,
            enforcement: Enforcement1Proxy::builder(&connection)
                .cache_properties(cache)
                .build()
                .await?,
            boundary: Boundary1Proxy::builder(&connection)
                .cache_properties(cache)
                .build()
                .await?,
            memories: Memories1Proxy::builder(&connection)
                .cache_properties(cache)
                .build()
                .await?,
            sessions: Sessions1Proxy::builder(&connection)
                .cache_properties(cache)
                .build()
                .await?,
            audit: Audit1Proxy::builder(&connection)
                .cache_properties(cache)
                .build()
                .await?,
            connection,
        })
    }

    /// The connection.
    pub fn connection(&self) -> &zbus::Connection {
        &self.connection
    }

    /// Asks for this connection's forgetting and contract signals (`Daemon1.Subscribe`):
    /// they are addressed only to connections that called the daemon or subscribed.
    pub async fn subscribe(&self) -> Result<()> {
        self.daemon.subscribe().await?;
        Ok(())
    }

    /// One check.
    pub async fn check(&self, kind: CheckKind, request: &Request) -> Result<Decision> {
        let dict = request.to_dict();
        let answer = match kind {
            CheckKind::MemoryCreation => self.enforcement.check_memory_creation(&dict).await?,
            CheckKind::Abstraction => self.enforcement.check_abstraction(&dict).await?,
            CheckKind::Recall => self.enforcement.check_recall(&dict).await?,
            CheckKind::Export => self.enforcement.check_export(&dict).await?,
        };
        Ok(answer.into())
    }

    /// Up to [`MAX_BATCH`] checks of one kind in one call, answered from one snapshot: each
    /// answer is what [`Client::check`] would say, in the order asked.
    pub async fn check_batch(
        &self,
        kind: CheckKind,
        requests: &[Request],
    ) -> Result<Vec<Decision>> {
        let dicts: Vec<HashMap<&str, Variant<'_>>> =
            requests.iter().map(Request::to_dict).collect();
        let answers = self
            .enforcement
            .check_batch(kind.batch_name(), &dicts)
            .await?;
        Ok(answers.into_iter().map(Decision::from).collect())
    }

    /// Registers a memory: allowed only where `CheckMemoryCreation` would allow it.
    pub async fn register_memory(&self, request: &Request) -> Result<Registered> {
        let (allowed, code, reason, contract_id, memory_id) =
            self.enforcement.register_memory(&request.to_dict()).await?;
        Ok(Registered {
            decision: Decision {
                allowed,
                code,
                reason,
                contract_id,
            },
            memory_id,
        })
    }

    /// Whether a memory of `class` may be recalled in the current mode.
    pub async fn recall_gate(&self, class: u8) -> Result<Gate> {
        let (allowed, code, reason) = self.enforcement.recall_gate(class).await?;
        Ok(Gate {
            allowed,
            code,
            reason,
        })
    }

    /// Drafts a contract of `kind` (observation, episodic, procedural, strategic or
    /// prohibited); returns its id.
    pub async fn create_draft(&self, kind: &str, spec: &ContractSpec) -> Result<String> {
        Ok(self.contracts.create_draft(kind, &spec.to_dict()).await?)
    }

    /// Submits a draft for review.
    pub async fn submit(&self, contract_id: &str) -> Result<()> {
        Ok(self.contracts.submit(contract_id).await?)
    }

    /// Activates a contract in review (the owner's confirmation; polkit may ask).
    pub async fn activate(&self, contract_id: &str) -> Result<()> {
        Ok(self.contracts.activate(contract_id).await?)
    }

    /// Revokes a contract: its memories are forgotten.
    pub async fn revoke(&self, contract_id: &str, reason: &str) -> Result<()> {
        Ok(self.contracts.revoke(contract_id, reason).await?)
    }

    /// A contract, as a dictionary.
    pub async fn contract(&self, contract_id: &str) -> Result<Dict> {
        Ok(self.contracts.get(contract_id).await?)
    }

    /// The memories recorded under a contract.
    pub async fn memories(&self, contract_id: &str) -> Result<Vec<Dict>> {
        Ok(self.memories.list(contract_id).await?)
    }

    /// Opens a session; end it with [`Client::end_session`].
    pub async fn open_session(&self, options: &HashMap<&str, Variant<'_>>) -> Result<String> {
        Ok(self.sessions.open(options).await?)
    }

    /// Ends a session: its session-scoped contracts expire.
    pub async fn end_session(&self, session_id: &str) -> Result<()> {
        Ok(self.sessions.end(session_id).await?)
    }

    /// A number that moves whenever any decision could change (`Enforcement1.Generation`):
    /// an agent caching allowed answers keeps each with the generation read before asking,
    /// and drops them when it moves (follow it with `client.enforcement.receive_generation_changed()`).
    /// A client made by [`Client::with_connection`] reads it from its property cache, which
    /// follows `PropertiesChanged`; one made uncached asks the daemon each time.
    pub async fn generation(&self) -> Result<u64> {
        Ok(self.enforcement.generation().await?)
    }

    /// The host's boundary mode now.
    pub async fn mode(&self) -> Result<String> {
        Ok(self.boundary.mode().await?)
    }
}
