//! The daemon's configuration: built-in defaults (documented in `config/daemon.toml`), then the
//! main file, then `<main>.d/*.toml` in name order. Every file is checked on its own first, so
//! an unknown key or a bad value is reported with the file it is in; a config that does not
//! parse is refused as a whole.

use crate::core::{BoundaryMode, Uid};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where the system daemon reads its config.
pub const SYSTEM_CONFIG: &str = "/etc/learning-contracts/daemon.toml";

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Who may do what.
    pub authorization: AuthorizationConfig,
    /// Agents acting for owners.
    pub delegation: Vec<Delegation>,
    /// Where the boundary mode comes from.
    pub mode: ModeConfig,
    /// The mode-only gates.
    pub gates: GatesConfig,
    /// Agent sessions.
    pub sessions: SessionsConfig,
    /// Bounds on what callers may send.
    pub limits: LimitsConfig,
    /// What LOCKDOWN does on the host.
    pub lockdown: LockdownConfig,
    /// The audit log's checkpoints in the journal and its sealing.
    pub audit: AuditConfig,
}

/// `[audit]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// A checkpoint of the audit chain's head goes to the journal once this many records were
    /// written since the last one; 0 turns the count off.
    pub checkpoint_every_records: u64,
    /// A checkpoint goes to the journal once this many minutes passed since the last one, when
    /// records were written since; 0 turns the timer off. At most [`CHECKPOINT_MINUTES_MAX`].
    pub checkpoint_every_minutes: u64,
    /// The length of a sealing epoch, in seconds (10 s to one week). It applies to the next
    /// setup (`contractctl audit setup-keys`): an era keeps the interval it began with, which
    /// is part of its verification key.
    pub seal_interval_seconds: u64,
}

/// The longest `[audit] checkpoint_every_minutes`: a day. A longer gap leaves most of a
/// day's records vouched for by nothing outside the store.
pub const CHECKPOINT_MINUTES_MAX: u64 = 1440;

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            checkpoint_every_records: 1000,
            checkpoint_every_minutes: 5,
            seal_interval_seconds: crate::core::time::SEAL_INTERVAL_DEFAULT_SECS,
        }
    }
}

impl AuditConfig {
    /// The checkpoint cadence as the checkpointer counts it.
    pub fn cadence(&self) -> crate::core::checkpoint::Cadence {
        crate::core::checkpoint::Cadence {
            every_records: self.checkpoint_every_records,
            every_millis: i64::try_from(self.checkpoint_every_minutes)
                .unwrap_or(i64::MAX)
                .saturating_mul(60_000),
        }
    }
}

/// `[lockdown]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockdownConfig {
    /// systemd units of agents, frozen (FreezeUnit) while LOCKDOWN holds and thawed after.
    pub freeze_units: Vec<String>,
}

/// `[authorization]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// `polkit` or `unix`.
    pub mode: AuthorizationMode,
    /// In unix mode, members of this group are admins (uid 0 always is). Empty: root only.
    pub admin_group: String,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self {
            mode: AuthorizationMode::Polkit,
            admin_group: String::new(),
        }
    }
}

/// How callers are authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizationMode {
    /// Ask polkitd; fall back to unix with a warning when it is not on the bus.
    Polkit,
    /// uid 0 and the admin group are admins; confirmation means being the owner's own uid.
    Unix,
}

/// `[[delegation]]`: an agent uid that may act for owners.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    /// The agent's user, by name or uid.
    pub agent: UserRef,
    /// The owners it acts for, by name or uid.
    pub owners: Vec<UserRef>,
}

/// A user by name or by uid.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UserRef {
    /// A uid.
    Uid(u32),
    /// A user name, looked up when the config is loaded.
    Name(String),
}

/// `[mode]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModeConfig {
    /// The source of readings: `detect`, `boundary-daemon` or `static`.
    pub source: SourceKind,
    /// For `static`: the fixed mode. Unset means no reading: UNKNOWN, everything denied.
    pub static_mode: Option<String>,
    /// How long a more permissive reading must hold before it applies, in milliseconds.
    pub settle_time_ms: u64,
    /// For `detect`: how facts are read and judged.
    pub detect: crate::source::detect::DetectConfig,
    /// For `boundary-daemon`: how the Boundary Daemon is reached.
    pub boundary_daemon: crate::source::boundary_daemon::BoundaryDaemonConfig,
}

impl Default for ModeConfig {
    fn default() -> Self {
        Self {
            source: SourceKind::Detect,
            static_mode: None,
            settle_time_ms: 2000,
            detect: Default::default(),
            boundary_daemon: Default::default(),
        }
    }
}

impl ModeConfig {
    /// The configured static mode, parsed.
    pub fn static_mode(&self) -> Option<BoundaryMode> {
        self.static_mode.as_deref().and_then(BoundaryMode::parse)
    }

    /// The settle time in milliseconds as the settler counts them. Saturates: a value past
    /// `i64::MAX` must read as "practically never", not wrap to a negative (no settle time).
    pub fn settle_millis(&self) -> i64 {
        i64::try_from(self.settle_time_ms).unwrap_or(i64::MAX)
    }
}

/// Where mode readings come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The host's links, routes and mounts.
    Detect,
    /// The Boundary Daemon's status, over its socket.
    BoundaryDaemon,
    /// A fixed mode from this file.
    Static,
}

impl SourceKind {
    /// The name shown in the `Source` property.
    pub fn name(self) -> &'static str {
        match self {
            Self::Detect => "detect",
            Self::BoundaryDaemon => "boundary-daemon",
            Self::Static => "static",
        }
    }
}

/// `[gates]`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatesConfig {
    /// Tools the tool gate denies in every mode.
    pub denied_tools: Vec<String>,
}

/// `[sessions]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// A session with no call from its opener for this long ends.
    pub idle_timeout_secs: u64,
    /// The most sessions one owner may have open.
    pub max_per_owner: usize,
    /// The most sessions one bus connection may have open (for any owners).
    pub max_per_connection: usize,
}

impl SessionsConfig {
    /// The idle timeout in milliseconds. Saturates: a huge value means sessions never idle
    /// out, rather than an overflow (a panic in debug builds, a wrapped timeout in release).
    pub fn idle_timeout_millis(&self) -> i64 {
        i64::try_from(self.idle_timeout_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000)
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 3600,
            max_per_owner: 32,
            max_per_connection: 8,
        }
    }
}

/// The most entries the bus's request reader keeps of a request dictionary or of a list in it,
/// whatever the config says; past it entries are counted, not kept. `[limits] max_entries` may
/// only be lower.
pub const ENTRIES_CEILING: usize = 4096;
/// The longest string the request reader keeps, in bytes; a longer one is measured, not
/// copied. `[limits] max_string_bytes` may only be lower.
pub const STRING_BYTES_CEILING: usize = 65_536;

/// `[limits]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The most entries in one request or spec dictionary, and in one list in it.
    pub max_entries: usize,
    /// The most bytes in one string argument.
    pub max_string_bytes: usize,
    /// The most records one `Audit1.Read` returns.
    pub max_audit_read: u32,
    /// Denied checks and refused calls are audited as one record per caller uid, call and
    /// code per this many seconds, with a count.
    pub denial_audit_interval_secs: u64,
    /// The most contracts one owner may have in Draft or Review (admins are not limited).
    pub max_open_drafts_per_owner: usize,
    /// The most active memory records one owner may have (admins are not limited).
    pub max_memories_per_owner: usize,
    /// The most changes that add to the store one caller uid may make per minute (admins are
    /// not limited).
    pub max_owner_writes_per_minute: u32,
    /// Owners' writes are refused once the store file and its WAL pass this size; 0: no mark.
    pub store_max_bytes: u64,
    /// Owners' writes are refused once the store's filesystem has less free space than this;
    /// 0: no mark.
    pub store_min_free_bytes: u64,
    /// The most method calls of one bus connection the daemon runs at once; the rest wait in
    /// that connection's own queue, so no connection waits behind another's backlog.
    pub calls_running_per_connection: usize,
    /// The most method calls of one bus connection that wait behind its running ones; past it
    /// a call is refused with LimitReached.
    pub calls_waiting_per_connection: usize,
    /// The most bytes of message the waiting calls of one bus connection may hold; past it a
    /// call is refused with LimitReached.
    pub calls_waiting_bytes_per_connection: usize,
    /// The most bytes of message the waiting calls of one uid, over all its connections, may
    /// hold; past it a call of that uid that would wait is refused with LimitReached.
    pub calls_waiting_bytes_per_uid: usize,
    /// The most bytes of message the waiting calls of all connections together may hold;
    /// past it a call that would wait is refused with LimitReached.
    pub calls_waiting_bytes_total: usize,
    /// The most method calls of one uid (over all its connections) started per second, after
    /// a burst of one second's worth; faster calls wait their turn in their own lane. 0: no
    /// pace. Root is never paced.
    pub calls_per_second_per_uid: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_entries: 64,
            max_string_bytes: 4096,
            max_audit_read: 1000,
            denial_audit_interval_secs: 60,
            max_open_drafts_per_owner: 1000,
            max_memories_per_owner: 100_000,
            max_owner_writes_per_minute: 1200,
            store_max_bytes: 0,
            store_min_free_bytes: 64 << 20,
            calls_running_per_connection: 4,
            calls_waiting_per_connection: 256,
            calls_waiting_bytes_per_connection: 4 << 20,
            calls_waiting_bytes_per_uid: 16 << 20,
            calls_waiting_bytes_total: 64 << 20,
            calls_per_second_per_uid: 5000,
        }
    }
}

impl LimitsConfig {
    /// The aggregation interval of denials in milliseconds (saturating).
    pub fn denial_audit_interval_millis(&self) -> i64 {
        i64::try_from(self.denial_audit_interval_secs)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000)
    }
}

/// Why a config was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file does not parse or holds an unknown key or a bad value.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key and what is wrong, as the parser said.
        message: String,
    },
    /// A value is well-formed but wrong (an unknown user, a mode that does not exist).
    #[error("{key}: {message}")]
    Value {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The config as loaded, with user names resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// The settings.
    pub config: Config,
    /// agent uid → the owners it acts for.
    pub delegations: std::collections::BTreeMap<Uid, Vec<Uid>>,
    /// The admin group's gid, when one is configured.
    pub admin_gid: Option<u32>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

/// The files that make up the config rooted at `main`: the main file if it exists, then
/// `<main>.d/*.toml` in name order.
pub fn config_files(main: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = Vec::new();
    if main.exists() {
        files.push(main.to_path_buf());
    }
    let mut dropin_dir = main.as_os_str().to_owned();
    dropin_dir.push(".d");
    let dropin_dir = PathBuf::from(dropin_dir);
    match std::fs::read_dir(&dropin_dir) {
        Ok(entries) => {
            let mut dropins: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
                .collect();
            dropins.sort();
            files.extend(dropins);
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ConfigError::Read {
                path: dropin_dir,
                source,
            });
        }
    }
    Ok(files)
}

/// Loads and checks the config rooted at `main`. Blocking (reads files, looks up users).
pub fn load(main: &Path) -> Result<Loaded, ConfigError> {
    let files = config_files(main)?;
    let mut merged = toml::Table::new();
    for path in &files {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let layer = parse_layer(&text).map_err(|message| ConfigError::Invalid {
            path: path.clone(),
            message,
        })?;
        merge(&mut merged, layer);
    }
    let config: Config =
        toml::Value::Table(merged)
            .try_into()
            .map_err(|err: toml::de::Error| ConfigError::Invalid {
                path: files.last().cloned().unwrap_or_else(|| main.to_path_buf()),
                message: err.message().to_string(),
            })?;
    resolve(config, files)
}

/// Parses one file and checks it against the schema on its own.
pub fn parse_layer(text: &str) -> Result<toml::Table, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|err: toml::de::Error| err.to_string())?;
    toml::Value::Table(table.clone())
        .try_into::<Config>()
        .map_err(|err| err.message().to_string())?;
    Ok(table)
}

/// Later layers win key by key; tables merge, everything else (arrays included) is replaced.
fn merge(into: &mut toml::Table, layer: toml::Table) {
    for (key, value) in layer {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(table)) => {
                merge(existing, table)
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Parses one config text as the only layer over the defaults and checks it as [`load`] does,
/// except that user and group names are not looked up (that needs the host's user database).
/// Reads no file: for tools that check a config text, and for fuzzing the whole path from text
/// to a checked [`Config`]. Parse errors are reported for the path `(text)`.
pub fn parse_checked(text: &str) -> Result<Config, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: PathBuf::from("(text)"),
        message,
    };
    let layer = parse_layer(text).map_err(invalid)?;
    let config: Config = toml::Value::Table(layer)
        .try_into()
        .map_err(|err: toml::de::Error| invalid(err.message().to_string()))?;
    check(config)
}

fn resolve(config: Config, files: Vec<PathBuf>) -> Result<Loaded, ConfigError> {
    let config = check(config)?;
    let mut delegations = std::collections::BTreeMap::new();
    for (index, delegation) in config.delegation.iter().enumerate() {
        let key = format!("delegation[{index}]");
        let agent = resolve_user(&delegation.agent, &format!("{key}.agent"))?;
        let owners: &mut Vec<Uid> = delegations.entry(agent).or_default();
        for owner in &delegation.owners {
            let uid = resolve_user(owner, &format!("{key}.owners"))?;
            if uid != agent && !owners.contains(&uid) {
                owners.push(uid);
            }
        }
    }
    let admin_gid = match config.authorization.admin_group.as_str() {
        "" => None,
        name => Some(
            nix::unistd::Group::from_name(name)
                .ok()
                .flatten()
                .ok_or_else(|| ConfigError::Value {
                    key: "authorization.admin_group".into(),
                    message: format!("no group named '{name}' on this host"),
                })?
                .gid
                .as_raw(),
        ),
    };
    Ok(Loaded {
        config,
        delegations,
        admin_gid,
        files,
    })
}

/// The budgets and the aggregation interval must be at least 1: a zero budget would refuse
/// every owner, a zero interval would audit every denial one by one.
fn check_owner_limits(limits: &LimitsConfig) -> Result<(), ConfigError> {
    for (key, value) in [
        (
            "limits.denial_audit_interval_secs",
            limits.denial_audit_interval_secs,
        ),
        (
            "limits.max_open_drafts_per_owner",
            limits.max_open_drafts_per_owner as u64,
        ),
        (
            "limits.max_memories_per_owner",
            limits.max_memories_per_owner as u64,
        ),
        (
            "limits.max_owner_writes_per_minute",
            u64::from(limits.max_owner_writes_per_minute),
        ),
        (
            "limits.calls_running_per_connection",
            limits.calls_running_per_connection as u64,
        ),
    ] {
        if value == 0 {
            return Err(ConfigError::Value {
                key: key.into(),
                message: "must be at least 1".into(),
            });
        }
    }
    Ok(())
}

/// The checks that need nothing but the config itself; tool names come back normalized.
fn check(config: Config) -> Result<Config, ConfigError> {
    if let Some(mode) = &config.mode.static_mode
        && BoundaryMode::parse(mode).is_none()
    {
        return Err(ConfigError::Value {
            key: "mode.static_mode".into(),
            message: format!(
                "'{mode}' is not a mode; use OPEN, RESTRICTED, TRUSTED, AIRGAP, COLDROOM or LOCKDOWN"
            ),
        });
    }
    crate::source::detect::rules::compile_rules(&config.mode.detect.rules).map_err(|message| {
        ConfigError::Value {
            key: "mode.detect.rules".into(),
            message,
        }
    })?;
    if let Err((key, message)) = config.mode.detect.validate() {
        return Err(ConfigError::Value {
            key: format!("mode.detect.{key}"),
            message,
        });
    }
    if let Err(problem) = config.mode.boundary_daemon.validate() {
        return Err(ConfigError::Value {
            key: format!("mode.boundary_daemon.{}", problem.key),
            message: problem.message,
        });
    }
    if config.audit.checkpoint_every_minutes > CHECKPOINT_MINUTES_MAX {
        return Err(ConfigError::Value {
            key: "audit.checkpoint_every_minutes".into(),
            message: format!(
                "{} is more than a day ({CHECKPOINT_MINUTES_MAX}); use at most {CHECKPOINT_MINUTES_MAX}, or 0 to turn the timed checkpoints off",
                config.audit.checkpoint_every_minutes
            ),
        });
    }
    if !crate::core::time::SEAL_INTERVAL_RANGE.contains(&config.audit.seal_interval_seconds) {
        return Err(ConfigError::Value {
            key: "audit.seal_interval_seconds".into(),
            message: format!(
                "must be between {} and {} seconds (one week)",
                crate::core::time::SEAL_INTERVAL_RANGE.start(),
                crate::core::time::SEAL_INTERVAL_RANGE.end()
            ),
        });
    }
    if config.sessions.max_per_owner == 0
        || config.sessions.max_per_connection == 0
        || config.limits.max_entries == 0
        || config.limits.max_audit_read == 0
    {
        return Err(ConfigError::Value {
            key: "sessions.max_per_owner, sessions.max_per_connection, limits".into(),
            message: "limits must be at least 1".into(),
        });
    }
    check_owner_limits(&config.limits)?;
    // The bus reader keeps no more than its ceilings of a request (bus::args); a higher limit
    // could never be reached.
    for (key, value, ceiling) in [
        (
            "limits.max_entries",
            config.limits.max_entries,
            ENTRIES_CEILING,
        ),
        (
            "limits.max_string_bytes",
            config.limits.max_string_bytes,
            STRING_BYTES_CEILING,
        ),
    ] {
        if value > ceiling {
            return Err(ConfigError::Value {
                key: key.into(),
                message: format!("{value} is more than the most the daemon reads, {ceiling}"),
            });
        }
    }
    let mut config = config;
    for (index, tool) in config.gates.denied_tools.iter_mut().enumerate() {
        // Tool names in requests are normalized; the deny list must be too, or case would
        // slip past it.
        *tool = crate::core::Name::parse(tool)
            .map_err(|err| ConfigError::Value {
                key: format!("gates.denied_tools[{index}]"),
                message: format!("'{tool}' {err}"),
            })?
            .as_str()
            .to_string();
    }
    for (index, delegation) in config.delegation.iter().enumerate() {
        if delegation.owners.is_empty() {
            return Err(ConfigError::Value {
                key: format!("delegation[{index}].owners"),
                message: "name at least one owner".into(),
            });
        }
    }
    Ok(config)
}

fn resolve_user(user: &UserRef, key: &str) -> Result<Uid, ConfigError> {
    match user {
        UserRef::Uid(uid) => Ok(*uid),
        UserRef::Name(name) => nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|user| user.uid.as_raw())
            .ok_or_else(|| ConfigError::Value {
                key: key.to_string(),
                message: format!("no user named '{name}' on this host"),
            }),
    }
}
