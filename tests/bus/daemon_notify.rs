//! The service manager protocol, against the real binary with NOTIFY_SOCKET pointing at a
//! test socket: READY only once the name is owned and the first mode reading is in, STATUS
//! lines, watchdog pings, RELOADING then READY on SIGHUP (keeping the old config when the new
//! one is broken), STOPPING and exit 0 on SIGTERM, and a clean failure when the name is taken.

use crate::common::bus::*;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Collects sd_notify datagrams.
struct NotifySocket {
    socket: UnixDatagram,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    seen: Vec<String>,
}

impl NotifySocket {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Self {
            socket,
            path,
            _dir: dir,
            seen: Vec::new(),
        }
    }

    /// Waits up to `timeout` for a message with a line starting with `prefix`; returns it.
    fn wait_for(&mut self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.socket.recv(&mut buf) {
                let message = String::from_utf8_lossy(&buf[..n]).to_string();
                self.seen.push(message.clone());
                if message.lines().any(|line| line.starts_with(prefix)) {
                    return Some(message);
                }
            }
        }
        None
    }
}

#[test]
fn ready_comes_after_the_name_status_watchdog_reload_and_stopping_follow() {
    if !require_root("ready_comes_after_the_name_status_watchdog_reload_and_stopping_follow") {
        return;
    }
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let mut notify = NotifySocket::new();
    let socket = notify.path.to_str().unwrap().to_string();
    let mut child = DaemonProcess::spawn_with(
        &bus,
        &static_config("AIRGAP", ""),
        root.path(),
        &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "400000")],
        &[],
    );
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(10))
        .expect("no READY=1");
    assert!(
        bus.daemon_name_owned(),
        "READY=1 was sent before the name was owned"
    );
    let status = ready
        .lines()
        .find(|l| l.starts_with("STATUS="))
        .expect("READY carries a STATUS line");
    assert!(
        status.contains("Mode AIRGAP") && status.contains("source static"),
        "{status}"
    );
    assert!(status.contains("0 active"), "{status}");

    notify
        .wait_for("WATCHDOG=1", Duration::from_secs(2))
        .expect("no watchdog ping within 2 s at 400 ms");

    child.signal(nix::sys::signal::Signal::SIGHUP);
    notify
        .wait_for("RELOADING=1", Duration::from_secs(5))
        .expect("no RELOADING=1 after SIGHUP");
    let after = notify
        .wait_for("READY=1", Duration::from_secs(5))
        .expect("no READY=1 after the reload");
    assert!(
        after.contains("MONOTONIC_USEC=")
            || notify.seen.iter().any(|m| m.contains("MONOTONIC_USEC="))
    );

    // A broken config is refused and the daemon keeps serving with the old one.
    std::fs::write(
        root.path().join("daemon.toml"),
        "[mode]\nstatic_mode = \"SIDEWAYS\"\nunknown_key = 1\n",
    )
    .unwrap();
    child.signal(nix::sys::signal::Signal::SIGHUP);
    notify
        .wait_for("RELOADING=1", Duration::from_secs(5))
        .expect("no RELOADING=1 after the second SIGHUP");
    notify
        .wait_for("READY=1", Duration::from_secs(5))
        .expect("no READY=1 after a refused reload");
    assert!(
        child.child.try_wait().unwrap().is_none(),
        "a bad config on reload must not stop the daemon"
    );
    assert!(bus.daemon_name_owned());

    child.signal(nix::sys::signal::Signal::SIGTERM);
    notify
        .wait_for("STOPPING=1", Duration::from_secs(5))
        .expect("no STOPPING=1 after SIGTERM");
    let status = child.wait_exit();
    assert_eq!(status.code(), Some(0), "SIGTERM must end with exit 0");
    let log = child.log();
    assert!(
        log.contains("reload refused"),
        "the refused reload is logged: {log}"
    );
}

#[test]
fn a_second_instance_fails_cleanly_and_never_says_ready() {
    if !require_root("a_second_instance_fails_cleanly_and_never_says_ready") {
        return;
    }
    let bus = TestBus::start();
    let first = DaemonProcess::start(&bus, &static_config("OPEN", ""));
    let root = tempfile::tempdir().unwrap();
    let mut notify = NotifySocket::new();
    let socket = notify.path.to_str().unwrap().to_string();
    let mut second = DaemonProcess::spawn_with(
        &bus,
        &static_config("OPEN", ""),
        root.path(),
        &[("NOTIFY_SOCKET", &socket)],
        &[],
    );
    let status = second.wait_exit();
    assert_eq!(
        status.code(),
        Some(69),
        "a taken name exits with 69 (EX_UNAVAILABLE)"
    );
    let log = second.log();
    assert!(
        log.contains("already owns org.learningcontracts.Daemon1"),
        "{log}"
    );
    assert!(
        notify
            .wait_for("READY=1", Duration::from_millis(300))
            .is_none(),
        "the second instance said READY"
    );
    assert!(bus.daemon_name_owned(), "the first instance keeps the name");
    drop(first);
}

#[test]
fn an_invalid_config_stops_startup_with_exit_78_and_the_key() {
    if !require_root("an_invalid_config_stops_startup_with_exit_78_and_the_key") {
        return;
    }
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let mut child =
        DaemonProcess::spawn_with(&bus, "[mode]\nsettle_time = 5\n", root.path(), &[], &[]);
    let status = child.wait_exit();
    assert_eq!(status.code(), Some(78));
    let log = child.log();
    assert!(
        log.contains("daemon.toml") && log.contains("settle_time"),
        "the error names the file and the key: {log}"
    );
    assert!(!bus.daemon_name_owned());
}

/// Continues a stopped process when dropped, whatever the test's outcome.
struct Stopped(nix::unistd::Pid);

impl Stopped {
    fn stop(pid: nix::unistd::Pid) -> Self {
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

#[test]
fn the_watchdog_is_withheld_while_the_bus_side_does_not_answer() {
    if !require_root("the_watchdog_is_withheld_while_the_bus_side_does_not_answer") {
        return;
    }
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap();
    let mut notify = NotifySocket::new();
    let socket = notify.path.to_str().unwrap().to_string();
    let daemon = DaemonProcess::spawn_with(
        &bus,
        &static_config("AIRGAP", ""),
        root.path(),
        &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "400000")],
        &[],
    );
    notify
        .wait_for("READY=1", Duration::from_secs(10))
        .expect("no READY=1");
    notify
        .wait_for("WATCHDOG=1", Duration::from_secs(2))
        .expect("no watchdog ping within 2 s at 400 ms");

    // The store writer still answers, but a Peer.Ping to the serving connection cannot.
    let stopped = Stopped::stop(bus.pid());
    // A ping whose checks passed just before the stop may still arrive: let it.
    let _ = notify.wait_for("no such line", Duration::from_millis(600));
    let during = notify.wait_for("WATCHDOG=1", Duration::from_millis(1_600));
    drop(stopped);
    assert!(
        during.is_none(),
        "the watchdog was pinged while the bus dispatcher could not answer"
    );
    assert!(
        daemon.log().contains("withholding the watchdog ping"),
        "{}",
        daemon.log()
    );
    notify
        .wait_for("WATCHDOG=1", Duration::from_secs(5))
        .expect("watchdog pings resume once the bus answers again");
}
