//! Following the daemon: streams of its signals for `audit show --follow` and `watch`, and the
//! signals that end a follower cleanly.

use super::client::{CliError, Client, interactive};
use super::output::Dict;
use futures_util::StreamExt;
use learning_contracts_client::{BUS_NAME, OBJECT_PATH, zbus};
use std::io::Write;
use tokio::signal::unix::{SignalKind, signal};

/// How many audit records one read asks for while catching up.
const AUDIT_PAGE: u32 = 500;

/// A stream of the signals that `rule` matches.
pub async fn signals(
    client: &Client,
    rule: zbus::MatchRule<'_>,
) -> Result<zbus::MessageStream, CliError> {
    zbus::MessageStream::for_match_rule(rule, client.connection(), None)
        .await
        .map_err(CliError::from)
}

/// A rule for the daemon's PropertiesChanged of one interface (its short name).
pub fn properties_changed(interface: &str) -> Result<zbus::MatchRule<'static>, CliError> {
    zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(BUS_NAME)
        .path(OBJECT_PATH)
        .interface("org.freedesktop.DBus.Properties")
        .member("PropertiesChanged")
        .arg(0, format!("org.learningcontracts.{interface}"))
        .build()
        .map(|rule| rule.to_owned())
        .map_err(CliError::from)
}

/// The signals that ask a follower to stop: SIGINT (Ctrl-C), SIGTERM, and SIGHUP (the terminal
/// or the ssh session went away). Listening starts when this is made, so a signal that arrives
/// while a call is in flight is not lost and does not kill the process mid-write.
pub struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts listening.
    pub fn listen() -> Result<Self, CliError> {
        let listen = |kind| {
            signal(kind).map_err(|err| CliError::Input(format!("cannot listen for signals: {err}")))
        };
        Ok(Self {
            interrupt: listen(SignalKind::interrupt())?,
            terminate: listen(SignalKind::terminate())?,
            hangup: listen(SignalKind::hangup())?,
        })
    }

    /// Resolves at the first of the signals.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
            _ = self.hangup.recv() => {}
        }
    }
}

/// Prints audit records after `after` as they are written, until a stop signal arrives or the
/// reader of stdout goes away. Catches up first, then wakes on each change of the log's head
/// (`HeadSeq`), so nothing is polled. `print` writes one record.
pub async fn audit(
    client: &Client,
    mut after: u64,
    mut print: impl FnMut(&mut dyn Write, &Dict) -> std::io::Result<()>,
) -> Result<(), CliError> {
    let mut stop = StopSignals::listen()?;
    // Subscribe before the first read, so a record written in between still wakes us.
    let mut changes = signals(client, properties_changed("Audit1")?).await?;
    let mut stdout = std::io::stdout();
    loop {
        // Read until a page comes back empty: the daemon may cap a page below what we ask.
        loop {
            let records: Vec<Dict> =
                interactive(&client.audit, "Read", &(after, AUDIT_PAGE)).await?;
            if records.is_empty() {
                break;
            }
            for record in &records {
                if print(&mut stdout, record)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    return Ok(());
                }
                if let Some(seq) = record
                    .get("seq")
                    .and_then(|v| u64::try_from(v.try_clone().ok()?).ok())
                {
                    after = after.max(seq);
                }
            }
        }
        tokio::select! {
            () = stop.recv() => return Ok(()),
            change = changes.next() => {
                if change.is_none() {
                    return Err(CliError::Unreachable("the bus connection closed".into()));
                }
            }
        }
    }
}
