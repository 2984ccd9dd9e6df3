//! `contractctl watch`: a live view of the boundary mode, the source's health, lockdown, pauses
//! and every contract, redrawn when the daemon signals a change (never polled). Plain ANSI on
//! the alternate screen, so it works over ssh; q, Esc or Ctrl-C leave it and restore the
//! terminal. Without a terminal, `--json` prints one snapshot a line instead.

use super::client::{CliError, Client, interactive};
use super::follow::{StopSignals, signals};
use super::output::{Dict, dict_json, text, texts};
use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, queue, style, terminal};
use futures_util::StreamExt;
use learning_contracts_client::{BUS_NAME, OBJECT_PATH, zbus};
use learning_contracts_rules::plain::format_iso_utc;
use learning_contracts_rules::time::Timestamp;
use std::collections::VecDeque;
use std::io::Write;

/// How many recent events the view keeps.
const RECENT_EVENTS: usize = 5;

/// What the daemon says now.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Boundary1.Mode.
    pub mode: String,
    /// Boundary1.Source.
    pub source: String,
    /// Boundary1.SourceHealthy.
    pub source_healthy: bool,
    /// Boundary1.Lockdown.
    pub lockdown: bool,
    /// Boundary1.LockdownReason.
    pub lockdown_reason: String,
    /// Boundary1.ModeOverride (empty when none).
    pub override_mode: String,
    /// Boundary1.PausedAll.
    pub paused_all: bool,
    /// The contracts the caller can see, live ones first.
    pub contracts: Vec<Dict>,
}

impl Snapshot {
    /// Reads the properties and the contract list. First lists this connection to hear the
    /// signals of the caller's contracts (every owner's, for an admin): the daemon addresses
    /// them to listening connections only, and a restarted daemon has forgotten them.
    pub async fn read(client: &Client) -> Result<Self, CliError> {
        // A daemon that refuses (too many listeners) or predates Subscribe still answers the
        // reads below; the view then redraws on the broadcast changes only.
        let _ = client.daemon.subscribe().await;
        let mut contracts: Vec<Dict> =
            interactive(&client.contracts, "List", &(Dict::new(),)).await?;
        contracts.sort_by_key(|c| (state_rank(&text(c, "state")), text(c, "id")));
        Ok(Self {
            mode: client.boundary.mode().await?,
            source: client.boundary.source().await?,
            source_healthy: client.boundary.source_healthy().await?,
            lockdown: client.boundary.lockdown().await?,
            lockdown_reason: client.boundary.lockdown_reason().await?,
            override_mode: client.boundary.mode_override().await?,
            paused_all: client.boundary.paused_all().await?,
            contracts,
        })
    }

    /// The snapshot as one JSON object.
    pub fn json(&self, events: &VecDeque<String>) -> serde_json::Value {
        serde_json::json!({
            "mode": self.mode,
            "source": self.source,
            "source_healthy": self.source_healthy,
            "lockdown": self.lockdown,
            "lockdown_reason": self.lockdown_reason,
            "override": self.override_mode,
            "paused_all": self.paused_all,
            "contracts": self.contracts.iter().map(dict_json).collect::<Vec<_>>(),
            "events": events,
        })
    }
}

/// Live contracts first, finished ones last.
fn state_rank(state: &str) -> u8 {
    match state {
        "active" => 0,
        "review" => 1,
        "draft" => 2,
        "expired" => 3,
        "amended" => 4,
        _ => 5,
    }
}

/// A daemon signal as a line for the recent-events list, or None for those that are only
/// property changes.
fn describe(message: &zbus::Message) -> Option<String> {
    let header = message.header();
    let member = header.member()?.as_str().to_string();
    let body = message.body();
    let line = match member.as_str() {
        "ModeSwitched" => {
            let (old, new, reason): (String, String, String) = body.deserialize().ok()?;
            format!("mode {old} → {new}: {reason}")
        }
        "ContractChanged" => {
            let (id, state, suspension, reason): (String, String, Vec<String>, String) =
                body.deserialize().ok()?;
            let suspended = if suspension.is_empty() {
                String::new()
            } else {
                format!(" (suspended: {})", suspension.join(", "))
            };
            format!("contract {id} {state}{suspended}: {reason}")
        }
        "ContractsSuspended" => {
            let (ids, reason): (Vec<String>, String) = body.deserialize().ok()?;
            format!("{} contracts suspended: {reason}", ids.len())
        }
        "ContractsResumed" => {
            let (ids,): (Vec<String>,) = body.deserialize().ok()?;
            format!("{} contracts resumed", ids.len())
        }
        "MemoriesChanged" => {
            let (contract, status, ids): (String, String, Vec<String>) = body.deserialize().ok()?;
            format!("{} memories of {contract} {status}", ids.len())
        }
        "SessionEnded" => {
            let (session, expired): (String, Vec<String>) = body.deserialize().ok()?;
            format!(
                "session {session} ended, {} contracts expired",
                expired.len()
            )
        }
        _ => return None,
    };
    let now = format_iso_utc(Timestamp::now());
    Some(format!("{}  {line}", &now[11..19]))
}

/// Styling, or none.
struct Paint {
    colour: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }
    fn alarm(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }
    fn warn(&self, text: &str) -> String {
        self.wrap("33", text)
    }
    fn good(&self, text: &str) -> String {
        self.wrap("32", text)
    }
}

/// Cuts a line to `width` characters. Lines are cut before styling is applied where it
/// matters, so escape codes are never split.
fn fit(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        line.to_string()
    } else {
        let mut cut: String = line.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The view as lines for a terminal of `width` × `height`. `problem` replaces the contract
/// list when the daemon cannot be read.
pub fn render(
    snapshot: Option<&Snapshot>,
    problem: Option<&str>,
    events: &VecDeque<String>,
    width: u16,
    height: u16,
    colour: bool,
) -> Vec<String> {
    let paint = Paint { colour };
    let width = usize::from(width.max(20));
    let height = usize::from(height.max(8));
    let now = format_iso_utc(Timestamp::now());
    let mut lines = Vec::new();
    let title = fit(
        &format!("learning-contractsd: live view, {} UTC", &now[11..19]),
        width,
    );
    lines.push(paint.bold(&title));
    match (snapshot, problem) {
        (_, Some(problem)) => {
            lines.push(String::new());
            lines.push(paint.alarm(&fit(problem, width)));
        }
        (Some(s), None) => {
            let mode = match s.mode.as_str() {
                "LOCKDOWN" | "UNKNOWN" => paint.alarm(&s.mode),
                _ => paint.bold(&s.mode),
            };
            let health = if s.source_healthy {
                paint.good("healthy")
            } else {
                paint.alarm("NOT healthy")
            };
            lines.push(format!(
                "Mode      {mode}   source {} ({health})",
                fit(&s.source, width / 2)
            ));
            lines.push(if s.lockdown {
                paint.alarm(&fit(
                    &format!("Lockdown  LATCHED: {}", s.lockdown_reason),
                    width,
                ))
            } else {
                "Lockdown  no".to_string()
            });
            lines.push(format!(
                "Override  {}",
                if s.override_mode.is_empty() {
                    "none".to_string()
                } else {
                    format!("at most {}", s.override_mode)
                }
            ));
            lines.push(if s.paused_all {
                paint.warn("Learning  paused for everyone")
            } else {
                "Learning  not paused for everyone".to_string()
            });
            let active = s
                .contracts
                .iter()
                .filter(|c| text(c, "state") == "active")
                .count();
            let suspended = s
                .contracts
                .iter()
                .filter(|c| text(c, "state") == "active" && !texts(c, "suspension").is_empty())
                .count();
            lines.push(format!(
                "Contracts {} shown, {active} active, {suspended} of them suspended",
                s.contracts.len()
            ));
            lines.push(String::new());
            // Rows left for contracts: the header, the footer and the events take the rest.
            let reserved = lines.len() + 1 + 3 + events.len().min(RECENT_EVENTS);
            let room = height.saturating_sub(reserved).max(1);
            let header = format!(
                "{:<26}  {:<11}  {:<8}  {:<16}  {}",
                "ID", "KIND", "STATE", "SUSPENDED", "DOMAINS / CONTEXTS"
            );
            lines.push(paint.bold(&fit(&header, width)));
            let shown = if s.contracts.len() > room {
                room.saturating_sub(1)
            } else {
                s.contracts.len()
            };
            for contract in s.contracts.iter().take(shown) {
                let suspension = texts(contract, "suspension");
                let row = fit(
                    &format!(
                        "{:<26}  {:<11}  {:<8}  {:<16}  {} / {}",
                        text(contract, "id"),
                        text(contract, "kind"),
                        text(contract, "state"),
                        if suspension.is_empty() {
                            "-".to_string()
                        } else {
                            suspension.join(",")
                        },
                        texts(contract, "domains").join(","),
                        texts(contract, "contexts").join(","),
                    ),
                    width,
                );
                lines.push(if !suspension.is_empty() {
                    paint.warn(&row)
                } else if text(contract, "state") == "active" {
                    paint.good(&row)
                } else {
                    row
                });
            }
            if shown < s.contracts.len() {
                lines.push(format!(
                    "… {} more (a taller terminal shows them)",
                    s.contracts.len() - shown
                ));
            }
            if s.contracts.is_empty() {
                lines.push("No contracts you can see.".to_string());
            }
        }
        (None, None) => lines.push("Reading the daemon …".to_string()),
    }
    lines.push(String::new());
    lines.push(paint.bold("Recent events"));
    if events.is_empty() {
        lines.push("none since the view started".to_string());
    }
    for event in events.iter().take(RECENT_EVENTS) {
        lines.push(fit(event, width));
    }
    lines.truncate(height.saturating_sub(1));
    lines.push(paint.bold("q quits"));
    lines
}

/// Puts the terminal back as it was, whatever way the view ends.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> Result<Self, CliError> {
        terminal::enable_raw_mode()
            .map_err(|err| CliError::Input(format!("cannot use the terminal: {err}")))?;
        let guard = Self;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .map_err(|err| CliError::Input(format!("cannot use the terminal: {err}")))?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(
            std::io::stdout(),
            cursor::Show,
            terminal::LeaveAlternateScreen
        );
        let _ = terminal::disable_raw_mode();
    }
}

fn draw(lines: &[String]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    queue!(out, cursor::MoveTo(0, 0))?;
    for (row, line) in lines.iter().enumerate() {
        queue!(
            out,
            cursor::MoveTo(0, row as u16),
            style::Print(line),
            terminal::Clear(terminal::ClearType::UntilNewLine)
        )?;
    }
    queue!(out, terminal::Clear(terminal::ClearType::FromCursorDown))?;
    out.flush()
}

fn quits(key: &KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && match key.code {
            KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => true,
            KeyCode::Char('c') | KeyCode::Char('d') => {
                key.modifiers.contains(KeyModifiers::CONTROL)
            }
            _ => false,
        }
}

/// The daemon's signals, and its comings and goings on the bus.
async fn daemon_signals(client: &Client) -> Result<zbus::MessageStream, CliError> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(BUS_NAME)
        .path(OBJECT_PATH)
        .build()
        .map_err(CliError::from)?;
    signals(client, rule).await
}

async fn owner_changes(client: &Client) -> Result<zbus::MessageStream, CliError> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender("org.freedesktop.DBus")
        .interface("org.freedesktop.DBus")
        .member("NameOwnerChanged")
        .arg(0, BUS_NAME)
        .build()
        .map_err(CliError::from)?;
    signals(client, rule).await
}

/// Reads a snapshot, turning "the daemon is gone" into a line to show instead of an error.
async fn refresh(client: &Client) -> Result<Result<Snapshot, String>, CliError> {
    match Snapshot::read(client).await {
        Ok(snapshot) => Ok(Ok(snapshot)),
        Err(CliError::Unreachable(why)) => Ok(Err(format!(
            "learning-contractsd is not answering ({why}); waiting for it to come back"
        ))),
        Err(err @ CliError::Daemon { .. })
            if err.exit_code() == super::client::EXIT_UNREACHABLE =>
        {
            Ok(Err(
                "learning-contractsd is not running; waiting for it to start".to_string(),
            ))
        }
        Err(other) => Err(other),
    }
}

/// Runs the live view until q, Esc, Ctrl-C, SIGINT, SIGTERM or SIGHUP. With `json`, or
/// without a terminal when `json` is set, prints one snapshot a line instead of drawing.
pub async fn run(client: &Client, json: bool) -> Result<(), CliError> {
    use std::io::IsTerminal;
    let interactive = !json;
    if interactive && !std::io::stdout().is_terminal() {
        return Err(CliError::Input(
            "watch draws on a terminal, and stdout is not one; use --json for one JSON snapshot a line".into(),
        ));
    }
    let mut stop = StopSignals::listen()?;
    // Subscribe before the first read, so no change slips in between.
    let mut changes = daemon_signals(client).await?;
    let mut owners = owner_changes(client).await?;
    let mut events: VecDeque<String> = VecDeque::new();
    let mut state = refresh(client).await?;
    let guard = if interactive {
        Some(TerminalGuard::enter()?)
    } else {
        None
    };
    let mut keys = interactive.then(EventStream::new);
    let colour = super::output::colour();
    let show =
        |state: &Result<Snapshot, String>, events: &VecDeque<String>| -> std::io::Result<()> {
            if interactive {
                let (width, height) = terminal::size().unwrap_or((80, 24));
                let (snapshot, problem) = match state {
                    Ok(snapshot) => (Some(snapshot), None),
                    Err(problem) => (None, Some(problem.as_str())),
                };
                draw(&render(snapshot, problem, events, width, height, colour))
            } else {
                let value = match state {
                    Ok(snapshot) => snapshot.json(events),
                    Err(problem) => serde_json::json!({"error": problem, "events": events}),
                };
                let mut out = std::io::stdout().lock();
                writeln!(out, "{value}")?;
                out.flush()
            }
        };
    if show(&state, &events).is_err() {
        return Ok(());
    }
    loop {
        let mut changed = false;
        tokio::select! {
            () = stop.recv() => break,
            key = async {
                match keys.as_mut() {
                    Some(keys) => keys.next().await,
                    None => std::future::pending().await,
                }
            } => match key {
                Some(Ok(Event::Key(key))) if quits(&key) => break,
                Some(Ok(Event::Resize(..))) => {
                    if show(&state, &events).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                // The terminal went away.
                Some(Err(_)) | None => break,
            },
            message = changes.next() => match message {
                Some(Ok(message)) => {
                    if let Some(line) = describe(&message) {
                        events.push_front(line);
                        events.truncate(RECENT_EVENTS);
                    }
                    changed = true;
                }
                Some(Err(_)) => {}
                None => return Err(CliError::Unreachable("the bus connection closed".into())),
            },
            _ = owners.next() => changed = true,
        }
        if changed {
            // A burst of signals (a mode change suspends many contracts) is read once.
            while let Some(Some(Ok(message))) =
                futures_util::FutureExt::now_or_never(changes.next())
            {
                if let Some(line) = describe(&message) {
                    events.push_front(line);
                    events.truncate(RECENT_EVENTS);
                }
            }
            state = refresh(client).await?;
            if show(&state, &events).is_err() {
                break;
            }
        }
    }
    drop(guard);
    Ok(())
}
