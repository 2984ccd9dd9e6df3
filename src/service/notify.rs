//! The service manager protocol (sd_notify): READY, STATUS, WATCHDOG, RELOADING, STOPPING.
//! Without NOTIFY_SOCKET every call does nothing.

use sd_notify::NotifyState;

/// Tells the service manager something; failures are logged and otherwise ignored.
fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(false, states) {
        tracing::warn!(error = %err, "could not notify the service manager, ignoring");
    }
}

/// Startup is complete: the name is owned and the first mode reading is in.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The one-line status `systemctl status` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// A reload begins.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(err) => tracing::warn!(error = %err, "no monotonic clock for RELOADING, ignoring"),
    }
}

/// The main loop is alive.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// Shutdown begins.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// The watchdog interval systemd asks for, if any. As sd_watchdog_enabled(3) says:
/// WATCHDOG_USEC sets it, and WATCHDOG_PID, when present, must name this process.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC")
        .ok()?
        .parse()
        .ok()
        .filter(|&usec| usec > 0)?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    Some(std::time::Duration::from_micros(usec))
}
