//! The Boundary Daemon client: the `status` parser for every documented reply, the client
//! against a fake server with the real one's quirks, the source's readings (each failure is
//! UNKNOWN and clears when the server answers again; the latch makes LOCKDOWN), logging once per
//! change of cause, capped backoff, and pushing our lockdown.

use crate::common::fake_boundary_daemon::{
    Behaviour, FAKE_TOKEN, FakeBoundaryDaemon, status_reply,
};
use learning_contracts::core::{BoundaryMode, EffectiveMode};
use learning_contracts::source::boundary_daemon::{
    BoundaryDaemonConfig, BoundaryDaemonSource, Cause, CauseChange, CauseTracker, MAX_REPLY_BYTES,
    PushError, STATUS_REQUEST, lockdown_request, next_poll_delay, parse_status, push_lockdown,
    query_status,
};
use learning_contracts::source::{ModeSource, Reading};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// parse_status

fn reply(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).unwrap()
}

fn status_with(boundary_state: Value, lockdown: Value) -> Vec<u8> {
    reply(json!({
        "success": true,
        "status": {"running": true, "boundary_state": boundary_state, "lockdown": lockdown},
    }))
}

#[test]
fn every_lower_case_mode_name_maps_to_its_mode() {
    for (name, mode) in [
        ("open", BoundaryMode::Open),
        ("restricted", BoundaryMode::Restricted),
        ("trusted", BoundaryMode::Trusted),
        ("airgap", BoundaryMode::Airgap),
        ("coldroom", BoundaryMode::Coldroom),
        ("lockdown", BoundaryMode::Lockdown),
    ] {
        let status = parse_status(&status_with(json!({"mode": name}), Value::Null)).unwrap();
        assert_eq!(status.reported_mode, mode, "{name}");
        assert_eq!(status.effective_mode(), mode, "{name}");
        assert_eq!(status.latch, None, "{name}");
    }
}

#[test]
fn a_full_status_reply_is_read_with_its_details() {
    let status = parse_status(&status_reply("airgap", None)).unwrap();
    assert_eq!(status.reported_mode, BoundaryMode::Airgap);
    assert_eq!(
        status.last_transition.as_deref(),
        Some("2025-01-02T03:00:00Z")
    );
    assert_eq!(status.operator.as_deref(), Some("human"));
    assert_eq!(status.network.as_deref(), Some("online"));
}

#[test]
fn the_latch_makes_lockdown_whatever_mode_is_reported() {
    let status = parse_status(&status_with(
        json!({"mode": "open"}),
        json!({"in_lockdown": true, "reason": "tripwire: usb inserted", "timestamp": "2025-01-02T03:04:05Z"}),
    ))
    .unwrap();
    assert_eq!(status.reported_mode, BoundaryMode::Open);
    assert_eq!(status.effective_mode(), BoundaryMode::Lockdown);
    let latch = status.latch.unwrap();
    assert_eq!(latch.reason.as_deref(), Some("tripwire: usb inserted"));
    assert_eq!(latch.since.as_deref(), Some("2025-01-02T03:04:05Z"));

    // Any value that is not null is the latch, even one without the fields we show.
    let bare = parse_status(&status_with(json!({"mode": "coldroom"}), json!({}))).unwrap();
    assert_eq!(bare.effective_mode(), BoundaryMode::Lockdown);
    assert_eq!(bare.latch.unwrap().reason, None);
}

#[test]
fn a_null_or_absent_latch_is_not_set() {
    let null = parse_status(&status_with(json!({"mode": "trusted"}), Value::Null)).unwrap();
    assert_eq!(null.effective_mode(), BoundaryMode::Trusted);
    let absent = parse_status(&reply(
        json!({"success": true, "status": {"boundary_state": {"mode": "trusted"}}}),
    ))
    .unwrap();
    assert_eq!(absent.effective_mode(), BoundaryMode::Trusted);
    assert_eq!(absent.latch, None);
}

#[test]
fn a_top_level_status_mode_is_not_read() {
    // Published clients read `status.mode`, which the real server never sends; a reply that
    // has only that must not be believed.
    let trap = reply(json!({"success": true, "status": {"mode": "open", "running": true}}));
    assert_eq!(parse_status(&trap), Err(Cause::MissingMode));
    let both = reply(json!({
        "success": true,
        "status": {"mode": "open", "boundary_state": {"network": "online"}},
    }));
    assert_eq!(parse_status(&both), Err(Cause::MissingMode));
}

#[test]
fn a_missing_or_null_mode_is_missing() {
    for body in [
        json!({"success": true}),
        json!({"success": true, "status": null}),
        json!({"success": true, "status": {"boundary_state": null}}),
        json!({"success": true, "status": {"boundary_state": {}}}),
        json!({"success": true, "status": {"boundary_state": {"mode": null}}}),
    ] {
        assert_eq!(
            parse_status(&reply(body.clone())),
            Err(Cause::MissingMode),
            "{body}"
        );
    }
}

#[test]
fn an_unknown_mode_is_refused_with_what_was_sent() {
    for (mode, shown) in [
        (json!("sealed"), "\"sealed\""),
        (json!("OPEN"), "\"OPEN\""),
        (json!("open\nlockdown"), "\"open lockdown\""),
        (json!(" open"), "\" open\""),
        (json!(0), "0"),
        (json!({"name": "open"}), "{\"name\":\"open\"}"),
    ] {
        let parsed = parse_status(&status_with(json!({"mode": mode}), Value::Null));
        assert_eq!(parsed, Err(Cause::UnknownMode(shown.into())), "{mode}");
    }
    let long = "x".repeat(5000);
    let Err(Cause::UnknownMode(shown)) =
        parse_status(&status_with(json!({"mode": long}), Value::Null))
    else {
        panic!("a long unknown mode is an unknown mode");
    };
    assert!(shown.len() < 300, "server text is cut before it is logged");
}

#[test]
fn success_must_be_true() {
    let cases = [
        (
            json!({"success": false, "error": "daemon is shutting down"}),
            Some("daemon is shutting down"),
            false,
        ),
        (
            json!({"success": false, "error": "Authentication failed: Invalid token", "auth_error": true}),
            Some("Authentication failed: Invalid token"),
            true,
        ),
        (
            json!({"success": false, "message": "Rate limit exceeded"}),
            Some("Rate limit exceeded"),
            false,
        ),
        // Malformed requests get an error without `success`.
        (
            json!({"error": "Invalid JSON"}),
            Some("Invalid JSON"),
            false,
        ),
        // Server text reaches logs on one line.
        (
            json!({"success": false, "error": "Daemon not running\nStart it with: …"}),
            Some("Daemon not running Start it with: …"),
            false,
        ),
        (
            json!({"success": "true", "status": {"boundary_state": {"mode": "open"}}}),
            None,
            false,
        ),
        (
            json!({"success": 1, "status": {"boundary_state": {"mode": "open"}}}),
            None,
            false,
        ),
        (
            json!({"status": {"boundary_state": {"mode": "open"}}}),
            None,
            false,
        ),
    ];
    for (body, message, auth_error) in cases {
        assert_eq!(
            parse_status(&reply(body.clone())),
            Err(Cause::NotSuccess {
                message: message.map(str::to_string),
                auth_error,
            }),
            "{body}"
        );
    }
    let auth = parse_status(&reply(
        json!({"success": false, "error": "Authentication failed: Invalid token", "auth_error": true}),
    ))
    .unwrap_err();
    assert_eq!(auth.to_string(), "authentication failed: Invalid token");
}

#[test]
fn a_reply_that_is_not_a_json_object_is_not_json() {
    let full = status_reply("open", None);
    for garbage in [
        b"".to_vec(),
        b"<html>502</html>".to_vec(),
        b"[1, 2, 3]".to_vec(),
        b"\"open\"".to_vec(),
        b"null".to_vec(),
        full[..4096].to_vec(),
        vec![0xff, 0xfe, 0x00],
    ] {
        assert_eq!(parse_status(&garbage), Err(Cause::NotJson), "{garbage:?}");
    }
}

#[test]
fn a_trailing_newline_does_not_hurt() {
    let mut with_newline = status_reply("restricted", None);
    with_newline.push(b'\n');
    assert_eq!(
        parse_status(&with_newline).unwrap().reported_mode,
        BoundaryMode::Restricted
    );
}

#[test]
fn a_reply_over_the_cap_is_too_large() {
    let huge = vec![b' '; MAX_REPLY_BYTES + 1];
    assert_eq!(parse_status(&huge), Err(Cause::ReplyTooLarge));
    assert_eq!(Cause::ReplyTooLarge.name(), "reply-too-large");
}

#[test]
fn causes_have_stable_names_and_say_what_to_do() {
    assert_eq!(Cause::ClosedByPeer.name(), "closed-by-peer");
    assert!(
        Cause::ClosedByPeer
            .to_string()
            .starts_with("connection closed by peer: check the service user")
    );
    assert!(
        Cause::ConnectionReset
            .to_string()
            .contains("check the service user")
    );
    assert!(
        Cause::PermissionDenied
            .to_string()
            .contains("check the service user")
    );
    assert_eq!(Cause::Timeout { millis: 2000 }.name(), "timeout");
    assert_eq!(
        Cause::Timeout { millis: 2000 }.to_string(),
        "no reply within 2000 ms"
    );
    assert_eq!(Cause::NotJson.name(), "not-json");
    assert_eq!(Cause::MissingMode.name(), "missing-mode");
    assert_eq!(Cause::UnknownMode("\"x\"".into()).name(), "unknown-mode");
    assert_eq!(Cause::SocketMissing.name(), "socket-missing");
    assert_eq!(Cause::ConnectionRefused.name(), "connection-refused");
}

// ---------------------------------------------------------------------------------------------
// the config

#[test]
fn the_config_has_the_documented_defaults() {
    let config = BoundaryDaemonConfig::default();
    assert_eq!(
        config.socket,
        std::path::Path::new("/var/run/boundary-daemon/boundary.sock")
    );
    assert_eq!(config.poll_interval_ms, 1000);
    assert_eq!(config.timeout_ms, 2000);
    assert_eq!(config.max_backoff_ms, 2000);
    assert_eq!(config.token, "");
    assert!(!config.push_lockdown);
    assert_eq!(config.validate(), Ok(()));
    let empty: BoundaryDaemonConfig = toml::from_str("").unwrap();
    assert_eq!(empty, config);
}

#[test]
fn the_config_refuses_unknown_keys_and_keeps_the_token_out_of_debug() {
    let parsed: BoundaryDaemonConfig =
        toml::from_str("socket = \"/run/bd.sock\"\ntoken = \"bd_secret\"\npush_lockdown = true")
            .unwrap();
    assert_eq!(parsed.socket, std::path::Path::new("/run/bd.sock"));
    assert_eq!(parsed.poll_interval_ms, 1000);
    assert!(!format!("{parsed:?}").contains("bd_secret"));
    assert!(toml::from_str::<BoundaryDaemonConfig>("poll_interval = 5").is_err());
}

#[test]
fn the_config_checks_what_types_cannot() {
    let base = BoundaryDaemonConfig::default();
    let problem = |config: BoundaryDaemonConfig| config.validate().unwrap_err().key;
    assert_eq!(
        problem(BoundaryDaemonConfig {
            socket: "relative.sock".into(),
            ..base.clone()
        }),
        "socket"
    );
    assert_eq!(
        problem(BoundaryDaemonConfig {
            poll_interval_ms: 0,
            ..base.clone()
        }),
        "poll_interval_ms"
    );
    assert_eq!(
        problem(BoundaryDaemonConfig {
            timeout_ms: 0,
            ..base.clone()
        }),
        "timeout_ms"
    );
    assert_eq!(
        problem(BoundaryDaemonConfig {
            max_backoff_ms: 10,
            ..base.clone()
        }),
        "max_backoff_ms"
    );
    assert_eq!(
        problem(BoundaryDaemonConfig {
            push_lockdown: true,
            ..base
        }),
        "push_lockdown"
    );
}

// ---------------------------------------------------------------------------------------------
// backoff and logging, as pure functions

#[test]
fn backoff_doubles_from_the_interval_up_to_the_cap_and_resets_on_success() {
    let config = BoundaryDaemonConfig {
        poll_interval_ms: 1000,
        max_backoff_ms: 30_000,
        ..BoundaryDaemonConfig::default()
    };
    let delays: Vec<u64> = (0..=8)
        .map(|failures| next_poll_delay(&config, failures).as_millis() as u64)
        .collect();
    assert_eq!(
        delays,
        [1000, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]
    );
    assert_eq!(
        next_poll_delay(&config, u32::MAX),
        Duration::from_secs(30),
        "no overflow however long the Boundary Daemon stays away"
    );
    assert_eq!(next_poll_delay(&config, 0), Duration::from_secs(1));

    // A cap below the interval never makes polling faster than the interval.
    let odd = BoundaryDaemonConfig {
        poll_interval_ms: 500,
        max_backoff_ms: 100,
        ..BoundaryDaemonConfig::default()
    };
    assert_eq!(next_poll_delay(&odd, 5), Duration::from_millis(500));
}

#[test]
fn a_cause_is_logged_once_per_change_not_once_per_poll() {
    let mut tracker = CauseTracker::default();
    let refused = Cause::ConnectionRefused;
    let timeout = Cause::Timeout { millis: 200 };
    let polls = [
        None,
        None,
        Some(&refused),
        Some(&refused),
        Some(&refused),
        Some(&timeout),
        Some(&timeout),
        None,
        None,
        Some(&timeout),
    ];
    let logged: Vec<CauseChange> = polls
        .into_iter()
        .filter_map(|outcome| tracker.observe(outcome))
        .collect();
    assert_eq!(
        logged,
        [
            CauseChange::Failing(refused.clone()),
            CauseChange::Failing(timeout.clone()),
            CauseChange::Recovered(timeout.clone()),
            CauseChange::Failing(timeout),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// the client against the fake server

#[tokio::test]
async fn the_fake_replies_like_the_real_server() {
    let fake = FakeBoundaryDaemon::start();
    let reply = status_reply("open", None);
    assert!(
        (4096..6 * 1024).contains(&reply.len()),
        "a status reply is about 5 KiB ({} bytes)",
        reply.len()
    );
    assert_ne!(reply.last(), Some(&b'\n'), "no trailing newline");

    // A request split over two writes is cut by the server's one read and rejected.
    let mut stream = tokio::net::UnixStream::connect(fake.socket())
        .await
        .unwrap();
    stream.write_all(&STATUS_REQUEST[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stream.write_all(&STATUS_REQUEST[10..]).await;
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer)
        .await
        .unwrap();
    assert_eq!(answer, br#"{"error":"Invalid JSON"}"#);
}

#[tokio::test]
async fn the_client_sends_one_status_request_in_one_write_and_reads_a_large_reply() {
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("coldroom");
    let status = query_status(&fake.config()).await.unwrap();
    assert_eq!(status.reported_mode, BoundaryMode::Coldroom);
    // The server's one read got the whole request, exactly.
    assert_eq!(fake.requests(), [STATUS_REQUEST.to_vec()]);
    let request: Value = serde_json::from_slice(STATUS_REQUEST).unwrap();
    assert_eq!(request, json!({"command": "status", "params": {}}));
}

#[tokio::test]
async fn each_failure_of_the_server_is_its_own_cause() {
    let mut fake = FakeBoundaryDaemon::start();
    let config = fake.config();
    let cases: Vec<(Behaviour, &str)> = vec![
        (Behaviour::Garbage, "not-json"),
        (Behaviour::Slow(Duration::from_millis(400)), "timeout"),
        (
            Behaviour::Refuse {
                error: "Authentication failed: token required".into(),
                auth_error: true,
            },
            "not-success",
        ),
        (Behaviour::CloseWithoutReply, "closed-by-peer"),
        (Behaviour::DropUnread, "connection-reset"),
        (
            Behaviour::Raw(vec![b' '; MAX_REPLY_BYTES + 4096]),
            "reply-too-large",
        ),
        (
            Behaviour::Raw(br#"{"success":true,"status":{"mode":"open"}}"#.to_vec()),
            "missing-mode",
        ),
        (
            Behaviour::Raw(br#"{"error":"Invalid JSON"}"#.to_vec()),
            "not-success",
        ),
    ];
    for (behaviour, expected) in cases {
        fake.set_behaviour(behaviour.clone());
        let cause = query_status(&config).await.unwrap_err();
        assert_eq!(cause.name(), expected, "{behaviour:?} gave {cause}");
    }
    fake.set_behaviour(Behaviour::Answer);
    fake.set_mode("sealed");
    assert_eq!(
        query_status(&config).await,
        Err(Cause::UnknownMode("\"sealed\"".into()))
    );

    fake.stop_listening().await;
    assert_eq!(query_status(&config).await, Err(Cause::ConnectionRefused));
    fake.restore();
    fake.vanish().await;
    assert_eq!(query_status(&config).await, Err(Cause::SocketMissing));
    fake.restore();
    fake.set_mode("trusted");
    assert_eq!(
        query_status(&config).await.unwrap().reported_mode,
        BoundaryMode::Trusted
    );
}

#[tokio::test]
async fn a_slow_reply_is_given_up_at_the_timeout() {
    let fake = FakeBoundaryDaemon::start();
    fake.set_behaviour(Behaviour::Slow(Duration::from_secs(5)));
    let started = Instant::now();
    assert_eq!(
        query_status(&fake.config()).await,
        Err(Cause::Timeout { millis: 200 })
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_full_listen_queue_is_busy() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("busy.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    // A backlog of 0 holds one pending connection; the next non-blocking connect gets EAGAIN.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let _pending = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let config = BoundaryDaemonConfig {
        socket,
        ..BoundaryDaemonConfig::default()
    };
    assert_eq!(query_status(&config).await, Err(Cause::Busy));
}

// ---------------------------------------------------------------------------------------------
// the source

struct RunningSource {
    readings: watch::Receiver<Option<Reading>>,
    task: JoinHandle<()>,
}

fn run_source(config: BoundaryDaemonConfig) -> RunningSource {
    let (sender, readings) = watch::channel(None);
    let source = Box::new(BoundaryDaemonSource::new(config));
    assert_eq!(source.name(), "boundary-daemon");
    let task = tokio::spawn(source.run(sender));
    RunningSource { readings, task }
}

impl RunningSource {
    /// Waits (up to 5 s) for a reading that satisfies `wanted`.
    async fn wait_for(&mut self, what: &str, wanted: impl Fn(&Reading) -> bool) -> Reading {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(reading) = self.readings.borrow_and_update().as_ref()
                && wanted(reading)
            {
                return reading.clone();
            }
            if tokio::time::timeout_at(deadline, self.readings.changed())
                .await
                .is_err()
            {
                panic!(
                    "no reading {what} within 5 s; last: {:?}",
                    self.readings.borrow()
                );
            }
        }
    }

    async fn wait_for_mode(&mut self, mode: BoundaryMode) -> Reading {
        let reading = self
            .wait_for(&format!("of {mode}"), |r| {
                r.mode == EffectiveMode::Known(mode)
            })
            .await;
        assert!(reading.healthy);
        reading
    }

    async fn wait_for_unknown(&mut self, cause: &str) -> Reading {
        let reading = self
            .wait_for(&format!("of UNKNOWN for {cause}"), |r| {
                r.mode == EffectiveMode::Unknown && r.facts["cause"] == cause
            })
            .await;
        assert!(!reading.healthy);
        assert!(!reading.route_out_is_vpn);
        assert!(
            reading.explanation.contains("UNKNOWN"),
            "{}",
            reading.explanation
        );
        reading
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_follows_the_mode() {
    let fake = FakeBoundaryDaemon::start();
    let mut source = run_source(fake.config());
    let open = source.wait_for_mode(BoundaryMode::Open).await;
    assert_eq!(open.facts["socket"], fake.socket().display().to_string());
    assert_eq!(open.facts["reported_mode"], "OPEN");
    assert_eq!(open.facts["lockdown_latched"], false);
    assert_eq!(open.facts["last_transition"], "2025-01-02T03:00:00Z");
    assert_eq!(open.explanation, "the Boundary Daemon reports OPEN");
    assert!(!open.route_out_is_vpn);

    fake.set_mode("trusted");
    let trusted = source.wait_for_mode(BoundaryMode::Trusted).await;
    assert!(trusted.route_out_is_vpn);
    fake.set_mode("airgap");
    source.wait_for_mode(BoundaryMode::Airgap).await;
    fake.set_mode("lockdown");
    source.wait_for_mode(BoundaryMode::Lockdown).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_reads_unknown_and_a_good_reply_clears_it() {
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("restricted");
    let mut source = run_source(fake.config());
    source.wait_for_mode(BoundaryMode::Restricted).await;
    let cases: Vec<(Behaviour, &str)> = vec![
        (Behaviour::Garbage, "not-json"),
        (Behaviour::Slow(Duration::from_millis(400)), "timeout"),
        (
            Behaviour::Refuse {
                error: "Authentication failed: token required".into(),
                auth_error: true,
            },
            "not-success",
        ),
        (Behaviour::CloseWithoutReply, "closed-by-peer"),
        (Behaviour::DropUnread, "connection-reset"),
        (
            Behaviour::Raw(br#"{"success":true,"status":{"mode":"open"}}"#.to_vec()),
            "missing-mode",
        ),
    ];
    for (behaviour, cause) in cases {
        fake.set_behaviour(behaviour);
        let unknown = source.wait_for_unknown(cause).await;
        assert!(
            unknown.facts["cause_detail"].as_str().unwrap().len() > 5,
            "{unknown:?}"
        );
        fake.set_behaviour(Behaviour::Answer);
        source.wait_for_mode(BoundaryMode::Restricted).await;
    }

    fake.set_mode("sealed");
    source.wait_for_unknown("unknown-mode").await;
    fake.set_mode("restricted");
    source.wait_for_mode(BoundaryMode::Restricted).await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_auth_refusal_is_explained_with_the_servers_text() {
    let fake = FakeBoundaryDaemon::start();
    fake.set_behaviour(Behaviour::Refuse {
        error: "Authentication failed: token required".into(),
        auth_error: true,
    });
    // The source logs on this thread, into a buffer the test reads.
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    let mut source = run_source(fake.config());
    let unknown = source.wait_for_unknown("not-success").await;
    // The server's own "Authentication failed" is not said twice.
    assert_eq!(
        unknown.explanation,
        "the Boundary Daemon cannot be read (authentication failed: token required), so the \
         mode is UNKNOWN"
    );
    let logged = logs.text();
    assert!(
        logged.contains(
            "cannot read the Boundary Daemon: authentication failed: token required; the mode \
             is UNKNOWN until it answers"
        ),
        "{logged}"
    );
    assert!(
        !logged
            .to_lowercase()
            .contains("failed: authentication failed"),
        "{logged}"
    );
}

#[test]
fn an_auth_refusal_says_authentication_failed_once_whatever_the_servers_wording() {
    let auth = |message: Option<&str>| {
        Cause::NotSuccess {
            message: message.map(str::to_string),
            auth_error: true,
        }
        .to_string()
    };
    assert_eq!(
        auth(Some("Authentication failed: Invalid token")),
        "authentication failed: Invalid token"
    );
    assert_eq!(
        auth(Some("authentication FAILED - token expired")),
        "authentication failed: token expired"
    );
    assert_eq!(
        auth(Some("Authentication failed")),
        "authentication failed: no reason given"
    );
    assert_eq!(
        auth(Some("Token revoked")),
        "authentication failed: Token revoked"
    );
    assert_eq!(auth(None), "authentication failed: no reason given");
    // A refusal that is not about authentication keeps the server's words whole.
    let refused = Cause::NotSuccess {
        message: Some("Authentication failed: Invalid token".into()),
        auth_error: false,
    };
    assert_eq!(
        refused.to_string(),
        "the Boundary Daemon refused: Authentication failed: Invalid token"
    );
}

/// Log lines written by a tracing subscriber, for tests that read what was logged.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_peer_is_told_to_check_the_service_user() {
    let fake = FakeBoundaryDaemon::start();
    fake.set_behaviour(Behaviour::CloseWithoutReply);
    let mut source = run_source(fake.config());
    let unknown = source.wait_for_unknown("closed-by-peer").await;
    assert!(
        unknown.explanation.contains("check the service user"),
        "{}",
        unknown.explanation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latch_with_an_open_mode_reads_lockdown_until_it_clears() {
    let fake = FakeBoundaryDaemon::start();
    let mut source = run_source(fake.config());
    source.wait_for_mode(BoundaryMode::Open).await;

    fake.set_latch(Some("tripwire: network came up in AIRGAP"));
    let locked = source.wait_for_mode(BoundaryMode::Lockdown).await;
    assert_eq!(locked.facts["reported_mode"], "OPEN");
    assert_eq!(locked.facts["lockdown_latched"], true);
    assert_eq!(
        locked.facts["lockdown_reason"],
        "tripwire: network came up in AIRGAP"
    );
    assert_eq!(locked.facts["lockdown_since"], "2025-01-02T03:04:05Z");
    assert_eq!(
        locked.explanation,
        "the Boundary Daemon reports OPEN but its lockdown latch is set (tripwire: network came \
         up in AIRGAP), so the mode is LOCKDOWN"
    );
    assert!(!locked.route_out_is_vpn);

    // Moving the mode back does not clear the latch.
    fake.set_mode("trusted");
    let still = source
        .wait_for("reporting TRUSTED", |r| {
            r.facts["reported_mode"] == "TRUSTED"
        })
        .await;
    assert_eq!(still.mode, EffectiveMode::Known(BoundaryMode::Lockdown));
    assert!(!still.route_out_is_vpn);

    // Only a restart of the Boundary Daemon does.
    fake.set_latch(None);
    source.wait_for_mode(BoundaryMode::Trusted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_vanishing_and_returning_is_followed() {
    let mut fake = FakeBoundaryDaemon::start();
    fake.set_mode("airgap");
    let mut source = run_source(fake.config());
    source.wait_for_mode(BoundaryMode::Airgap).await;

    fake.vanish().await;
    let unknown = source.wait_for_unknown("socket-missing").await;
    assert_eq!(unknown.facts["socket"], fake.socket().display().to_string());
    fake.restore();
    source.wait_for_mode(BoundaryMode::Airgap).await;

    fake.stop_listening().await;
    source.wait_for_unknown("connection-refused").await;
    fake.restore();
    source.wait_for_mode(BoundaryMode::Airgap).await;
}

// On a paused clock: the runtime moves time forward only when every task waits, so minutes
// of backoff take no wall time, and "how long after" is read off the virtual clock exactly.
// The fake runs on the same thread, so its socket appearing is seen before time moves on.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_restarted_boundary_daemon_is_read_again_as_soon_as_its_socket_reappears() {
    let mut fake = FakeBoundaryDaemon::start();
    fake.set_mode("airgap");
    // A long cap on purpose: only noticing the socket can make the return quick here.
    let config = BoundaryDaemonConfig {
        socket: fake.socket().to_path_buf(),
        poll_interval_ms: 1000,
        max_backoff_ms: 30_000,
        ..BoundaryDaemonConfig::default()
    };
    let mut source = run_source(config.clone());
    source.wait_for_mode(BoundaryMode::Airgap).await;

    // A clean stop of the real one takes over 30 s; minutes let the backoff reach its cap.
    // With the old schedule (attempts 1, 2, 4 … then 30 s apart) the restart below falls
    // 26 s before the next attempt.
    fake.vanish().await;
    source.wait_for_unknown("socket-missing").await;
    tokio::time::sleep(Duration::from_secs(215)).await;
    assert_eq!(
        next_poll_delay(&config, 8),
        Duration::from_secs(30),
        "the backoff had grown to the cap"
    );

    let restarted = tokio::time::Instant::now();
    fake.restore();
    source.wait_for_mode(BoundaryMode::Airgap).await;
    let after = restarted.elapsed();
    // Polling alone would come back only at the next attempt, up to 30 s later (26 s with this
    // schedule); the socket's appearance brings it back before a single poll interval passes.
    assert!(
        after < Duration::from_secs(1),
        "read again {after:?} after the socket reappeared"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_socket_directory_removed_and_made_again_is_followed_too() {
    // A systemd RuntimeDirectory= goes with its service and comes back with it: the watch
    // falls back to the nearest directory left and follows the path down again.
    let mut fake = FakeBoundaryDaemon::start();
    let config = BoundaryDaemonConfig {
        socket: fake.socket().to_path_buf(),
        max_backoff_ms: 30_000,
        ..BoundaryDaemonConfig::default()
    };
    let mut source = run_source(config);
    source.wait_for_mode(BoundaryMode::Open).await;
    for _ in 0..2 {
        fake.vanish_with_directory().await;
        source.wait_for_unknown("socket-missing").await;
        tokio::time::sleep(Duration::from_secs(215)).await;
        let restarted = tokio::time::Instant::now();
        fake.restore();
        source.wait_for_mode(BoundaryMode::Open).await;
        let after = restarted.elapsed();
        assert!(
            after < Duration::from_secs(1),
            "read again {after:?} after the directory and socket came back"
        );
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn with_the_default_cap_a_server_that_answers_again_is_read_within_two_intervals() {
    let fake = FakeBoundaryDaemon::start();
    fake.set_mode("coldroom");
    // The shipped defaults. The socket stays in place, so nothing but polling notices the
    // server answering again: the backoff's cap alone bounds the wait.
    let config = BoundaryDaemonConfig {
        socket: fake.socket().to_path_buf(),
        ..BoundaryDaemonConfig::default()
    };
    let mut source = run_source(config.clone());
    source.wait_for_mode(BoundaryMode::Coldroom).await;
    fake.set_behaviour(Behaviour::CloseWithoutReply);
    source.wait_for_unknown("closed-by-peer").await;
    // With a 30 s cap, the next attempt after this would be 26 s away.
    tokio::time::sleep(Duration::from_secs(215)).await;

    let answering = tokio::time::Instant::now();
    fake.set_behaviour(Behaviour::Answer);
    source.wait_for_mode(BoundaryMode::Coldroom).await;
    let after = answering.elapsed();
    assert!(
        after <= 2 * config.poll_interval(),
        "read again {after:?} after the server answered, with a poll interval of {:?}",
        config.poll_interval()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_steady_mode_sends_one_reading_not_one_per_poll() {
    let fake = FakeBoundaryDaemon::start();
    let mut source = run_source(fake.config());
    source.wait_for_mode(BoundaryMode::Open).await;
    let polls_before = fake.request_count();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        fake.request_count() >= polls_before + 3,
        "it kept polling ({} → {})",
        polls_before,
        fake.request_count()
    );
    assert!(!source.readings.has_changed().unwrap());

    // The same holds for a steady failure.
    fake.set_behaviour(Behaviour::Garbage);
    source.wait_for_unknown("not-json").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!source.readings.has_changed().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_to_the_cap_and_success_restores_the_interval() {
    let fake = FakeBoundaryDaemon::start();
    let config = BoundaryDaemonConfig {
        poll_interval_ms: 20,
        max_backoff_ms: 160,
        ..fake.config()
    };
    fake.set_behaviour(Behaviour::CloseWithoutReply);
    let mut source = run_source(config);
    source.wait_for_unknown("closed-by-peer").await;

    // Waits 20, 40, 80, then 160 ms each: about 10 attempts in 1.2 s, where polling at the
    // interval would make about 60. The cap keeps it from slowing further.
    let failing_start = fake.request_count();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let while_failing = fake.request_count() - failing_start;
    assert!(
        (5..=16).contains(&while_failing),
        "{while_failing} attempts in 1.2 s while failing"
    );

    fake.set_behaviour(Behaviour::Answer);
    source.wait_for_mode(BoundaryMode::Open).await;
    let healthy_start = fake.request_count();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let while_healthy = fake.request_count() - healthy_start;
    assert!(
        while_healthy >= 12,
        "{while_healthy} polls in 0.6 s at a 20 ms interval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_stops_when_nobody_listens() {
    let fake = FakeBoundaryDaemon::start();
    let mut source = run_source(fake.config());
    source.wait_for_mode(BoundaryMode::Open).await;
    let RunningSource { readings, task } = source;
    drop(readings);
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the source ends once its readings are not wanted")
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// pushing our lockdown

#[tokio::test]
async fn push_lockdown_sends_set_mode_with_the_token_and_the_fake_obeys() {
    let fake = FakeBoundaryDaemon::start();
    push_lockdown(&fake.config(), "admin lockdown: incident 42")
        .await
        .unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request: Value = serde_json::from_slice(&requests[0]).unwrap();
    assert_eq!(
        request,
        json!({
            "command": "set_mode",
            "params": {"mode": "lockdown", "operator": "system", "reason": "admin lockdown: incident 42"},
            "token": FAKE_TOKEN,
        })
    );
    assert_eq!(
        requests[0],
        lockdown_request(FAKE_TOKEN, "admin lockdown: incident 42")
    );
    assert_eq!(fake.mode(), "lockdown");
    assert_eq!(
        query_status(&fake.config()).await.unwrap().reported_mode,
        BoundaryMode::Lockdown
    );
}

#[tokio::test]
async fn push_lockdown_reports_a_refusals_message() {
    let fake = FakeBoundaryDaemon::start();
    fake.refuse_set_mode("Transition blocked: ceremony in progress");
    let refused = push_lockdown(&fake.config(), "admin lockdown")
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        PushError::Refused {
            message: "Transition blocked: ceremony in progress".into(),
            auth_error: false,
        }
    );
    assert!(
        refused
            .to_string()
            .contains("Transition blocked: ceremony in progress")
    );
    assert_eq!(fake.mode(), "open");
}

#[tokio::test]
async fn push_lockdown_reports_a_bad_token_without_showing_it() {
    let fake = FakeBoundaryDaemon::start();
    let config = BoundaryDaemonConfig {
        token: "bd_wrong".into(),
        ..fake.config()
    };
    let refused = push_lockdown(&config, "admin lockdown").await.unwrap_err();
    assert_eq!(
        refused,
        PushError::Refused {
            message: "Authentication failed: Invalid token".into(),
            auth_error: true,
        }
    );
    assert!(!refused.to_string().contains("bd_wrong"));
}

#[tokio::test]
async fn push_lockdown_needs_the_switch_and_a_token_and_a_server() {
    let mut fake = FakeBoundaryDaemon::start();
    let off = BoundaryDaemonConfig {
        push_lockdown: false,
        ..fake.config()
    };
    assert_eq!(push_lockdown(&off, "x").await, Err(PushError::Disabled));
    let tokenless = BoundaryDaemonConfig {
        token: String::new(),
        ..fake.config()
    };
    assert_eq!(
        push_lockdown(&tokenless, "x").await,
        Err(PushError::NoToken)
    );
    assert_eq!(fake.request_count(), 0, "nothing is sent without both");

    fake.set_behaviour(Behaviour::Garbage);
    assert_eq!(
        push_lockdown(&fake.config(), "x").await,
        Err(PushError::BadReply)
    );
    fake.vanish().await;
    assert_eq!(
        push_lockdown(&fake.config(), "x").await,
        Err(PushError::Unreachable(Cause::SocketMissing))
    );
}

#[test]
fn a_long_lockdown_reason_is_cut_to_fit_the_servers_one_read() {
    let reason = "é".repeat(40_000);
    let request = lockdown_request(FAKE_TOKEN, &reason);
    assert!(request.len() < 4096, "{} bytes", request.len());
    let parsed: Value = serde_json::from_slice(&request).unwrap();
    let sent = parsed["params"]["reason"].as_str().unwrap();
    assert!(reason.starts_with(sent) && !sent.is_empty());
}
