//! The `boundary-daemon` source: polls the public Boundary Daemon's `status` command over its
//! Unix socket and reads the host's mode from it (BOUNDARY-DAEMON-PROTOCOL.md).
//!
//! Every failure (no socket, refused, dropped, slow, garbled, refused by the server, no or an
//! unknown mode) is a reading of UNKNOWN from an unhealthy source, which the supervisor enforces
//! like LOCKDOWN (SEMANTICS.md section 1). The Boundary Daemon's lockdown latch makes the reading
//! LOCKDOWN whatever mode it reports (SEMANTICS.md section 11).
//!
//! The Boundary Daemon drops clients whose uid is neither 0 nor its own, so this service must
//! run as root or as the Boundary Daemon's user.

use super::{ModeSource, Reading};
use crate::core::{BoundaryMode, EffectiveMode};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;

/// The largest reply accepted. A `status` reply is about 5 KiB; anything near this bound is not a
/// Boundary Daemon talking, and reading it all would let a bad peer make us allocate freely.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// The one request this source sends. `status` needs no token, is not rate-limited and is not
/// logged by the Boundary Daemon, so polling it is cheap for both sides.
pub const STATUS_REQUEST: &[u8] = br#"{"command":"status","params":{}}"#;

/// The server reads a request once, up to 64 KiB; a lockdown reason is cut well below that so
/// the `set_mode` request always fits in that one read.
const MAX_PUSHED_REASON_BYTES: usize = 1024;

/// Server-supplied text (error messages, unknown mode names) is cut to this length before it
/// reaches logs and bus properties.
const MAX_QUOTED_TEXT_CHARS: usize = 200;

/// The shortest poll interval honoured, so a zero in the config cannot become a busy loop.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// `[mode.boundary_daemon]`: where the Boundary Daemon listens and how to poll it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoundaryDaemonConfig {
    /// The Boundary Daemon's socket. Default `/var/run/boundary-daemon/boundary.sock`: the
    /// `socket_path` of the Boundary Daemon's own production config and the path its published
    /// clients try first after `$BOUNDARY_DAEMON_SOCKET` (`/var/run` is `/run` on systemd hosts).
    /// The environment variable is not read: a system service's environment is not the
    /// operator's, and the path must be stated in the config, not guessed at run time.
    pub socket: PathBuf,
    /// How often `status` is asked, in milliseconds (the Boundary Daemon has no push).
    pub poll_interval_ms: u64,
    /// How long one request may take, connect to last byte, before the mode is UNKNOWN.
    pub timeout_ms: u64,
    /// The longest wait between attempts while the Boundary Daemon cannot be read. Default
    /// 2 s, near the poll interval; its socket reappearing is noticed at once regardless.
    pub max_backoff_ms: u64,
    /// An `operator`-capability token (`bd_…`), used only to push our admin lockdown. Empty:
    /// none. Never logged.
    pub token: String,
    /// Whether an admin lockdown here is also pushed to the Boundary Daemon (needs `token`).
    pub push_lockdown: bool,
}

impl Default for BoundaryDaemonConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("/var/run/boundary-daemon/boundary.sock"),
            poll_interval_ms: 1000,
            timeout_ms: 2000,
            max_backoff_ms: 2000,
            token: String::new(),
            push_lockdown: false,
        }
    }
}

// By hand, so the token never reaches a log line through `{:?}`.
impl fmt::Debug for BoundaryDaemonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundaryDaemonConfig")
            .field("socket", &self.socket)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_backoff_ms", &self.max_backoff_ms)
            .field(
                "token",
                &if self.token.is_empty() {
                    "(none)"
                } else {
                    "(set)"
                },
            )
            .field("push_lockdown", &self.push_lockdown)
            .finish()
    }
}

/// A setting of [`BoundaryDaemonConfig`] that is well-formed but unusable.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{key}: {message}")]
pub struct BoundaryDaemonConfigProblem {
    /// The key, relative to `[mode.boundary_daemon]`.
    pub key: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl BoundaryDaemonConfig {
    /// The wait between polls while the Boundary Daemon answers.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms).max(MIN_POLL_INTERVAL)
    }

    /// The limit on one request, connect to last byte.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// The longest wait between attempts; never shorter than the poll interval.
    pub fn max_backoff(&self) -> Duration {
        Duration::from_millis(self.max_backoff_ms).max(self.poll_interval())
    }

    /// Checks the settings the type system cannot: for the config loader to report.
    pub fn validate(&self) -> Result<(), BoundaryDaemonConfigProblem> {
        let problem = |key, message: &str| {
            Err(BoundaryDaemonConfigProblem {
                key,
                message: message.to_string(),
            })
        };
        if !self.socket.is_absolute() {
            return problem("socket", "must be an absolute path");
        }
        if self.poll_interval_ms < MIN_POLL_INTERVAL.as_millis() as u64 {
            return problem("poll_interval_ms", "must be at least 10");
        }
        if self.timeout_ms == 0 {
            return problem("timeout_ms", "must be at least 1");
        }
        if self.max_backoff_ms < self.poll_interval_ms {
            return problem("max_backoff_ms", "must be at least poll_interval_ms");
        }
        if self.push_lockdown && self.token.is_empty() {
            return problem(
                "push_lockdown",
                "needs token, an operator-capability token of the Boundary Daemon",
            );
        }
        Ok(())
    }
}

/// Why the Boundary Daemon could not be read; every cause makes the mode UNKNOWN.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum Cause {
    /// The socket file does not exist: the Boundary Daemon is not running, or the path is wrong.
    #[error(
        "no socket at the configured path: is the Boundary Daemon running, and is mode.boundary_daemon.socket right?"
    )]
    SocketMissing,
    /// The socket file is mode 0600 and owned by another user.
    #[error(
        "permission denied on the socket: check the service user (it must be root or the Boundary Daemon's user)"
    )]
    PermissionDenied,
    /// The socket file exists but nothing listens on it.
    #[error("connection refused: the Boundary Daemon is not listening")]
    ConnectionRefused,
    /// The server closed without a reply, as it does for peers whose uid is neither 0 nor its own.
    #[error(
        "connection closed by peer: check the service user (the Boundary Daemon drops clients whose uid is neither 0 nor its own)"
    )]
    ClosedByPeer,
    /// The server closed with our request unread (Linux then reports ECONNRESET), which is also
    /// how a dropped peer looks when the drop happens before the server reads.
    #[error(
        "connection reset by peer: check the service user (the Boundary Daemon drops clients whose uid is neither 0 nor its own)"
    )]
    ConnectionReset,
    /// The server's listen queue is full (a non-blocking connect to a Unix socket then fails
    /// with EAGAIN instead of waiting).
    #[error("the Boundary Daemon is not accepting connections (its listen queue is full)")]
    Busy,
    /// No complete reply within the timeout.
    #[error("no reply within {millis} ms")]
    Timeout {
        /// The configured timeout.
        millis: u64,
    },
    /// Any other socket error.
    #[error("socket error: {0}")]
    Io(String),
    /// The request could not be written in one write (the server reads once).
    #[error("the request could not be sent in one write")]
    ShortWrite,
    /// More than [`MAX_REPLY_BYTES`] came back.
    #[error("reply too large (over {MAX_REPLY_BYTES} bytes)")]
    ReplyTooLarge,
    /// The reply is not a JSON object.
    #[error("the reply is not a JSON object")]
    NotJson,
    /// `success` is not `true`; the server's `error` (or `message`) text.
    #[error("{}: {}", refusal_kind(*auth_error), refusal_text(message.as_deref(), *auth_error))]
    NotSuccess {
        /// The server's text, cut to a readable length.
        message: Option<String>,
        /// Whether the server flagged it as an authentication error.
        auth_error: bool,
    },
    /// No `status.boundary_state.mode` (a top-level `status.mode` is not read: it does not
    /// exist in the real protocol, and clients that read it are always wrong).
    #[error("the reply has no status.boundary_state.mode")]
    MissingMode,
    /// A mode that is not one of the six lower-case names.
    #[error("unknown mode {0}")]
    UnknownMode(String),
}

fn refusal_kind(auth_error: bool) -> &'static str {
    if auth_error {
        "authentication failed"
    } else {
        "the Boundary Daemon refused"
    }
}

/// The server's refusal text as shown after [`refusal_kind`]. The real server's auth errors
/// begin with its own "Authentication failed", which would otherwise be said twice.
fn refusal_text(message: Option<&str>, auth_error: bool) -> &str {
    const SAID: &str = "authentication failed";
    let mut text = message.unwrap_or_default().trim();
    if auth_error
        && text
            .get(..SAID.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(SAID))
    {
        text = text[SAID.len()..]
            .trim_start_matches([':', '-', ' '])
            .trim();
    }
    if text.is_empty() {
        "no reason given"
    } else {
        text
    }
}

impl Cause {
    /// A stable short name for `Facts` and structured log fields.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::SocketMissing => "socket-missing",
            Self::PermissionDenied => "permission-denied",
            Self::ConnectionRefused => "connection-refused",
            Self::ClosedByPeer => "closed-by-peer",
            Self::ConnectionReset => "connection-reset",
            Self::Busy => "busy",
            Self::Timeout { .. } => "timeout",
            Self::Io(_) => "socket-error",
            Self::ShortWrite => "short-write",
            Self::ReplyTooLarge => "reply-too-large",
            Self::NotJson => "not-json",
            Self::NotSuccess { .. } => "not-success",
            Self::MissingMode => "missing-mode",
            Self::UnknownMode(_) => "unknown-mode",
        }
    }

    fn from_connect(error: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::NotFound => Self::SocketMissing,
            ErrorKind::PermissionDenied => Self::PermissionDenied,
            ErrorKind::ConnectionRefused => Self::ConnectionRefused,
            ErrorKind::WouldBlock => Self::Busy,
            _ => Self::from_exchange(error),
        }
    }

    fn from_exchange(error: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match error.kind() {
            ErrorKind::ConnectionReset => Self::ConnectionReset,
            ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof | ErrorKind::ConnectionAborted => {
                Self::ClosedByPeer
            }
            _ => Self::Io(error.to_string()),
        }
    }
}

/// The Boundary Daemon's lockdown latch (`status.lockdown`), set by its tripwires and cleared
/// only by restarting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockdownLatch {
    /// `lockdown.reason`, when given.
    pub reason: Option<String>,
    /// `lockdown.timestamp`, when given.
    pub since: Option<String>,
}

/// What a good `status` reply says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundaryStatus {
    /// `status.boundary_state.mode`, the mode the Boundary Daemon reports.
    pub reported_mode: BoundaryMode,
    /// The lockdown latch, when `status.lockdown` is not null.
    pub latch: Option<LockdownLatch>,
    /// `boundary_state.last_transition`, when given.
    pub last_transition: Option<String>,
    /// `boundary_state.operator` (`human` or `system`), when given.
    pub operator: Option<String>,
    /// `boundary_state.network` (`online` or `offline`), when given.
    pub network: Option<String>,
}

impl BoundaryStatus {
    /// LOCKDOWN when the reported mode is lockdown or the latch is set; the reported mode
    /// otherwise.
    pub fn effective_mode(&self) -> BoundaryMode {
        if self.latch.is_some() {
            BoundaryMode::Lockdown
        } else {
            self.reported_mode
        }
    }
}

/// The six lower-case names the Boundary Daemon uses. Matched exactly: anything else is not
/// this protocol, and guessing would be failing open.
fn mode_from_wire_name(name: &str) -> Option<BoundaryMode> {
    Some(match name {
        "open" => BoundaryMode::Open,
        "restricted" => BoundaryMode::Restricted,
        "trusted" => BoundaryMode::Trusted,
        "airgap" => BoundaryMode::Airgap,
        "coldroom" => BoundaryMode::Coldroom,
        "lockdown" => BoundaryMode::Lockdown,
        _ => return None,
    })
}

/// Server text made safe for one log line: control characters (newlines included) become
/// spaces, and it is cut to a readable length.
fn quoted(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(MAX_QUOTED_TEXT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX_QUOTED_TEXT_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

fn text_field(object: &Value, key: &str) -> Option<String> {
    object.get(key).and_then(Value::as_str).map(quoted)
}

/// Parses a `status` reply: the mode at `status.boundary_state.mode`, the latch at
/// `status.lockdown`, and `success` that must be `true`.
pub fn parse_status(reply: &[u8]) -> Result<BoundaryStatus, Cause> {
    if reply.len() > MAX_REPLY_BYTES {
        return Err(Cause::ReplyTooLarge);
    }
    let value: Value = serde_json::from_slice(reply).map_err(|_| Cause::NotJson)?;
    if !value.is_object() {
        return Err(Cause::NotJson);
    }
    if value.get("success") != Some(&Value::Bool(true)) {
        return Err(refusal_cause(&value));
    }
    let status = value.get("status").unwrap_or(&Value::Null);
    let state = status.get("boundary_state").unwrap_or(&Value::Null);
    let reported_mode = match state.get("mode") {
        None | Some(Value::Null) => return Err(Cause::MissingMode),
        Some(Value::String(name)) => mode_from_wire_name(name)
            .ok_or_else(|| Cause::UnknownMode(format!("{:?}", quoted(name))))?,
        Some(other) => return Err(Cause::UnknownMode(quoted(&other.to_string()))),
    };
    // An absent `lockdown` is read like null: servers that predate the latch cannot set it.
    let latch = match status.get("lockdown") {
        None | Some(Value::Null) => None,
        Some(latch) => Some(LockdownLatch {
            reason: text_field(latch, "reason"),
            since: text_field(latch, "timestamp"),
        }),
    };
    Ok(BoundaryStatus {
        reported_mode,
        latch,
        last_transition: text_field(state, "last_transition"),
        operator: text_field(state, "operator"),
        network: text_field(state, "network"),
    })
}

/// The cause for a reply whose `success` is not `true`: its `error` text, else its `message`.
fn refusal_cause(reply: &Value) -> Cause {
    Cause::NotSuccess {
        message: text_field(reply, "error").or_else(|| text_field(reply, "message")),
        auth_error: reply.get("auth_error") == Some(&Value::Bool(true)),
    }
}

/// One request on its own connection, as the server wants it: connect, the whole request in
/// one write, then read until EOF (the reply has no trailing newline; the server closes).
async fn exchange(socket: &Path, request: &[u8], timeout: Duration) -> Result<Vec<u8>, Cause> {
    let attempt = async {
        let mut stream = UnixStream::connect(socket)
            .await
            .map_err(|err| Cause::from_connect(&err))?;
        // One `write`, not `write_all`: the server reads once, so a request sent in two
        // pieces would be cut, and it is better to fail here than to have it rejected there.
        let written = stream
            .write(request)
            .await
            .map_err(|err| Cause::from_exchange(&err))?;
        if written != request.len() {
            return Err(Cause::ShortWrite);
        }
        let mut reply = Vec::with_capacity(8 * 1024);
        (&mut stream)
            .take(MAX_REPLY_BYTES as u64 + 1)
            .read_to_end(&mut reply)
            .await
            .map_err(|err| Cause::from_exchange(&err))?;
        if reply.len() > MAX_REPLY_BYTES {
            return Err(Cause::ReplyTooLarge);
        }
        if reply.is_empty() {
            return Err(Cause::ClosedByPeer);
        }
        Ok(reply)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or(Err(Cause::Timeout {
            millis: timeout.as_millis() as u64,
        }))
}

/// Asks the Boundary Daemon for its status once.
pub async fn query_status(config: &BoundaryDaemonConfig) -> Result<BoundaryStatus, Cause> {
    let reply = exchange(&config.socket, STATUS_REQUEST, config.timeout()).await?;
    parse_status(&reply)
}

/// Why pushing our lockdown to the Boundary Daemon did not happen or did not take.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PushError {
    /// `push_lockdown` is off in the config.
    #[error("pushing lockdown to the Boundary Daemon is off (mode.boundary_daemon.push_lockdown)")]
    Disabled,
    /// No token is configured.
    #[error("no token for the Boundary Daemon is configured (mode.boundary_daemon.token)")]
    NoToken,
    /// The request did not get a reply.
    #[error("the Boundary Daemon could not be reached: {0}")]
    Unreachable(Cause),
    /// The reply is not a JSON object.
    #[error("the Boundary Daemon's reply is not a JSON object")]
    BadReply,
    /// The Boundary Daemon refused; its text (under `message` for refusals, `error` otherwise).
    #[error("the Boundary Daemon refused{}: {message}", if *auth_error { " the token" } else { "" })]
    Refused {
        /// The server's text.
        message: String,
        /// Whether the token was not accepted.
        auth_error: bool,
    },
}

/// The `set_mode` request that raises the Boundary Daemon to lockdown. Raising is always
/// accepted with `operator: system`; only a human could lower it again.
pub fn lockdown_request(token: &str, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(MAX_PUSHED_REASON_BYTES);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let request = serde_json::json!({
        "command": "set_mode",
        "params": {"mode": "lockdown", "operator": "system", "reason": &reason[..cut]},
        "token": token,
    });
    serde_json::to_vec(&request).expect("a JSON value always serializes")
}

/// Pushes our admin lockdown to the Boundary Daemon with the configured operator token. The
/// service calls it once per lockdown, never per check: tokens are limited to about 100
/// requests a minute.
pub async fn push_lockdown(config: &BoundaryDaemonConfig, reason: &str) -> Result<(), PushError> {
    if !config.push_lockdown {
        return Err(PushError::Disabled);
    }
    if config.token.is_empty() {
        return Err(PushError::NoToken);
    }
    let request = lockdown_request(&config.token, reason);
    let reply = exchange(&config.socket, &request, config.timeout())
        .await
        .map_err(PushError::Unreachable)?;
    let value: Value = serde_json::from_slice(&reply).map_err(|_| PushError::BadReply)?;
    if !value.is_object() {
        return Err(PushError::BadReply);
    }
    if value.get("success") == Some(&Value::Bool(true)) {
        return Ok(());
    }
    Err(PushError::Refused {
        message: text_field(&value, "message")
            .or_else(|| text_field(&value, "error"))
            .unwrap_or_else(|| "no reason given".into()),
        auth_error: value.get("auth_error") == Some(&Value::Bool(true)),
    })
}

/// The wait before the next poll after `consecutive_failures` failed ones: the poll interval
/// while the Boundary Daemon answers, then doubling from it up to the configured cap. Backing
/// off costs no safety: the mode stays UNKNOWN until a good reply.
pub fn next_poll_delay(config: &BoundaryDaemonConfig, consecutive_failures: u32) -> Duration {
    let interval = config.poll_interval();
    if consecutive_failures == 0 {
        return interval;
    }
    let doublings = (consecutive_failures - 1).min(31);
    interval
        .checked_mul(1 << doublings)
        .unwrap_or(Duration::MAX)
        .min(config.max_backoff())
}

/// An inotify descriptor, for tokio's reactor.
struct WatchFd(Inotify);

impl std::os::fd::AsRawFd for WatchFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.0.as_fd().as_raw_fd()
    }
}

/// Notices the Boundary Daemon's socket appearing, so a restarted Boundary Daemon is read at
/// once instead of at the next attempt of a grown backoff. inotify watches the socket's
/// directory (or, while that does not exist, the nearest ancestor that does, for the next
/// directory on the way) for the name being created, moved in, or having its mode set, which a
/// server that binds and then chmods its socket does. Without a watch (no inotify, or no
/// directory at all) the source still polls, with the backoff capped.
struct SocketWatch {
    socket: PathBuf,
    /// The directory watched and the name in it that matters, with the watch.
    watching: Option<(PathBuf, std::ffi::OsString, AsyncFd<WatchFd>)>,
    /// Whether a failure to watch was logged already (once, not once per poll).
    told: bool,
}

impl SocketWatch {
    fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            watching: None,
            told: false,
        }
    }

    /// The nearest existing directory on the socket's path and the name under it that leads
    /// to the socket.
    fn target(&self) -> Option<(PathBuf, std::ffi::OsString)> {
        let mut name = self.socket.file_name()?.to_os_string();
        let mut dir = self.socket.parent()?;
        loop {
            if dir.is_dir() {
                return Some((dir.to_path_buf(), name));
            }
            name = dir.file_name()?.to_os_string();
            dir = dir.parent()?;
        }
    }

    /// Sets the watch up, or moves it to where the path now leads. Called before every
    /// attempt, so a socket that appears after the attempt is always seen by the watch.
    fn ensure(&mut self) {
        let Some((dir, name)) = self.target() else {
            self.watching = None;
            return;
        };
        if self
            .watching
            .as_ref()
            .is_some_and(|(watched, watched_name, _)| *watched == dir && *watched_name == name)
        {
            return;
        }
        self.watching = None;
        let watch = || -> std::io::Result<AsyncFd<WatchFd>> {
            let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
            inotify.add_watch(
                &dir,
                AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_ATTRIB
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF
                    | AddWatchFlags::IN_ONLYDIR,
            )?;
            // SAFETY: the `Inotify` owns its descriptor, which stays open and the same until
            // the `AsyncFd` (its only owner) drops it.
            unsafe { AsyncFd::register(WatchFd(inotify)) }.map_err(std::io::Error::from)
        };
        match watch() {
            Ok(fd) => self.watching = Some((dir, name, fd)),
            Err(err) if !self.told => {
                self.told = true;
                tracing::info!(
                    directory = %dir.display(),
                    error = %err,
                    "cannot watch for the Boundary Daemon's socket; a restart is noticed at the next poll"
                );
            }
            Err(_) => {}
        }
    }

    /// Discards what the watch saw so far: the attempt about to be made sees it anyway.
    fn drain(&mut self) {
        let Some((_, _, fd)) = &self.watching else {
            return;
        };
        loop {
            match fd.get_ref().0.read_events() {
                Ok(events) if !events.is_empty() => {}
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => {
                    self.watching = None;
                    return;
                }
            }
        }
    }

    /// Waits until the socket (or a directory on its way) appears, or the watched directory
    /// goes; never returns without a watch.
    async fn appeared(&mut self) {
        loop {
            let Some((_, name, fd)) = &self.watching else {
                return std::future::pending().await;
            };
            let Ok(mut ready) = fd.readable().await else {
                self.watching = None;
                continue;
            };
            let events = match ready
                .try_io(|fd| fd.get_ref().0.read_events().map_err(std::io::Error::from))
            {
                Ok(Ok(events)) => events,
                Err(_would_block) => continue,
                Ok(Err(_)) => {
                    drop(ready);
                    self.watching = None;
                    continue;
                }
            };
            let gone = AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF
                | AddWatchFlags::IN_IGNORED
                | AddWatchFlags::IN_UNMOUNT;
            let named = events
                .iter()
                .any(|event| event.name.as_deref() == Some(name.as_os_str()));
            let lost = events.iter().any(|event| event.mask.intersects(gone));
            drop(ready);
            if lost {
                // The next attempt looks again and watches the nearest directory left.
                self.watching = None;
            }
            if named || lost {
                return;
            }
        }
    }
}

/// A change in why the Boundary Daemon cannot be read: what deserves a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CauseChange {
    /// Reading fails, for the first time or for a new cause.
    Failing(Cause),
    /// Reading works again after failing for this cause.
    Recovered(Cause),
}

/// Remembers the current cause so a failure is logged once per change of cause, not once per
/// poll (a Boundary Daemon that stays down would otherwise fill the journal every second).
#[derive(Clone, Debug, Default)]
pub struct CauseTracker {
    current: Option<Cause>,
}

impl CauseTracker {
    /// Records one poll's outcome (`None`: it worked) and returns the change, if any.
    pub fn observe(&mut self, outcome: Option<&Cause>) -> Option<CauseChange> {
        if self.current.as_ref() == outcome {
            return None;
        }
        match (self.current.take(), outcome) {
            (_, Some(cause)) => {
                self.current = Some(cause.clone());
                Some(CauseChange::Failing(cause.clone()))
            }
            (Some(previous), None) => Some(CauseChange::Recovered(previous)),
            (None, None) => None,
        }
    }
}

/// Reads the mode from a Boundary Daemon.
#[derive(Debug, Clone)]
pub struct BoundaryDaemonSource {
    config: BoundaryDaemonConfig,
}

impl BoundaryDaemonSource {
    /// A source polling the Boundary Daemon described by `config`.
    pub fn new(config: BoundaryDaemonConfig) -> Self {
        Self { config }
    }

    /// The reading for one poll's outcome.
    pub fn reading(&self, outcome: &Result<BoundaryStatus, Cause>) -> Reading {
        let socket = self.config.socket.display().to_string();
        match outcome {
            Ok(status) => {
                let mode = status.effective_mode();
                let latch_reason = status.latch.as_ref().and_then(|l| l.reason.clone());
                let explanation = match (&status.latch, status.reported_mode) {
                    (None, reported) => format!("the Boundary Daemon reports {reported}"),
                    (Some(_), BoundaryMode::Lockdown) => format!(
                        "the Boundary Daemon reports LOCKDOWN and its lockdown latch is set ({})",
                        latch_reason.as_deref().unwrap_or("no reason given")
                    ),
                    (Some(_), reported) => format!(
                        "the Boundary Daemon reports {reported} but its lockdown latch is set ({}), so the mode is LOCKDOWN",
                        latch_reason.as_deref().unwrap_or("no reason given")
                    ),
                };
                Reading {
                    mode: EffectiveMode::Known(mode),
                    healthy: true,
                    facts: serde_json::json!({
                        "socket": socket,
                        "reported_mode": status.reported_mode.name(),
                        "lockdown_latched": status.latch.is_some(),
                        "lockdown_reason": latch_reason,
                        "lockdown_since": status.latch.as_ref().and_then(|l| l.since.clone()),
                        "last_transition": status.last_transition,
                        "operator": status.operator,
                        "network": status.network,
                    }),
                    explanation,
                    route_out_is_vpn: mode == BoundaryMode::Trusted,
                    judgement: None,
                }
            }
            Err(cause) => Reading {
                mode: EffectiveMode::Unknown,
                healthy: false,
                facts: serde_json::json!({
                    "socket": socket,
                    "cause": cause.name(),
                    "cause_detail": cause.to_string(),
                }),
                explanation: format!(
                    "the Boundary Daemon cannot be read ({cause}), so the mode is UNKNOWN"
                ),
                route_out_is_vpn: false,
                judgement: None,
            },
        }
    }

    fn log_change(&self, change: CauseChange) {
        let socket = self.config.socket.display();
        match change {
            CauseChange::Failing(cause) => tracing::warn!(
                socket = %socket,
                cause = cause.name(),
                "cannot read the Boundary Daemon: {cause}; the mode is UNKNOWN until it answers"
            ),
            CauseChange::Recovered(previous) => tracing::info!(
                socket = %socket,
                previous_cause = previous.name(),
                "the Boundary Daemon answers again"
            ),
        }
    }
}

#[async_trait::async_trait]
impl ModeSource for BoundaryDaemonSource {
    fn name(&self) -> &'static str {
        "boundary-daemon"
    }

    async fn run(self: Box<Self>, readings: watch::Sender<Option<Reading>>) {
        tracing::info!(
            socket = %self.config.socket.display(),
            poll_interval_ms = self.config.poll_interval().as_millis() as u64,
            "reading the boundary mode from the Boundary Daemon"
        );
        let mut causes = CauseTracker::default();
        let mut consecutive_failures: u32 = 0;
        let mut socket_watch = SocketWatch::new(&self.config.socket);
        loop {
            socket_watch.ensure();
            socket_watch.drain();
            let outcome = tokio::select! {
                outcome = query_status(&self.config) => outcome,
                () = readings.closed() => return,
            };
            if let Some(change) = causes.observe(outcome.as_ref().err()) {
                self.log_change(change);
            }
            consecutive_failures = match outcome {
                Ok(_) => 0,
                Err(_) => consecutive_failures.saturating_add(1),
            };
            let reading = self.reading(&outcome);
            // Only changes wake the supervisor; a steady mode polled every second is silent.
            readings.send_if_modified(|current| {
                if current.as_ref() == Some(&reading) {
                    false
                } else {
                    *current = Some(reading);
                    true
                }
            });
            let delay = next_poll_delay(&self.config, consecutive_failures);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                // While failing, the socket appearing means the Boundary Daemon is (re)starting:
                // ask now, and if it does not listen yet, again after one interval.
                () = socket_watch.appeared(), if consecutive_failures > 0 => {
                    consecutive_failures = 0;
                }
                () = readings.closed() => return,
            }
        }
    }
}
