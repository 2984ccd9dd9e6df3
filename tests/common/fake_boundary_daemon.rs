//! A fake Boundary Daemon: a Unix socket in a temp dir that answers like the real one
//! (BOUNDARY-DAEMON-PROTOCOL.md), quirks included. It reads a request once, up to 64 KiB, so a
//! request split over two writes is cut and rejected; it sends one JSON reply of several KiB with
//! no trailing newline and closes. Tests choose how it misbehaves (garbage, slow replies,
//! refusals, closing without a reply, dropping the peer unread, the socket vanishing), set the
//! mode and the lockdown latch, and read back the requests it got.

#![allow(dead_code)]

use learning_contracts::source::boundary_daemon::BoundaryDaemonConfig;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// The real server's one read.
pub const READ_ONCE_BYTES: usize = 64 * 1024;

/// How the fake answers a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Like the real server: `status` with the current mode and latch, `set_mode` with the token.
    Answer,
    /// [`Behaviour::Answer`], after this long.
    Slow(Duration),
    /// Bytes that are not JSON.
    Garbage,
    /// Exactly these bytes.
    Raw(Vec<u8>),
    /// `{"success": false, "error": …}`, with `auth_error` when asked.
    Refuse { error: String, auth_error: bool },
    /// Reads the request, then closes without a reply.
    CloseWithoutReply,
    /// Closes without reading, as the real server does for a peer whose uid it refuses (it
    /// checks SO_PEERCRED before it reads).
    DropUnread,
}

#[derive(Debug)]
struct State {
    mode: String,
    latch: Option<String>,
    behaviour: Behaviour,
    queued: VecDeque<Behaviour>,
    requests: Vec<Vec<u8>>,
    token: String,
    set_mode_refusal: Option<String>,
}

/// A running fake server. Dropping it stops it and removes its directory.
pub struct FakeBoundaryDaemon {
    socket: PathBuf,
    state: Arc<Mutex<State>>,
    listener: Option<JoinHandle<()>>,
    // Last, so the directory goes after the listener.
    _dir: tempfile::TempDir,
}

/// The token the fake accepts for `set_mode` unless a test sets another.
pub const FAKE_TOKEN: &str = "bd_fake_operator_token";

impl FakeBoundaryDaemon {
    /// Starts the fake in OPEN, answering normally. Must be called inside a tokio runtime.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("fake-bd")
            .tempdir()
            .expect("a temp dir for the fake Boundary Daemon");
        let socket = dir.path().join("boundary.sock");
        let state = Arc::new(Mutex::new(State {
            mode: "open".into(),
            latch: None,
            behaviour: Behaviour::Answer,
            queued: VecDeque::new(),
            requests: Vec::new(),
            token: FAKE_TOKEN.into(),
            set_mode_refusal: None,
        }));
        let mut fake = Self {
            socket,
            state,
            listener: None,
            _dir: dir,
        };
        fake.listen();
        fake
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A client config for this fake with short intervals: poll 50 ms, timeout 200 ms, backoff
    /// capped at 200 ms, and the fake's token.
    pub fn config(&self) -> BoundaryDaemonConfig {
        BoundaryDaemonConfig {
            socket: self.socket.clone(),
            poll_interval_ms: 50,
            timeout_ms: 200,
            max_backoff_ms: 200,
            token: FAKE_TOKEN.into(),
            push_lockdown: true,
        }
    }

    /// Sets `boundary_state.mode` (any text, so tests can send unknown modes).
    pub fn set_mode(&self, mode: &str) {
        self.state.lock().unwrap().mode = mode.into();
    }

    /// The current `boundary_state.mode`.
    pub fn mode(&self) -> String {
        self.state.lock().unwrap().mode.clone()
    }

    /// Sets the lockdown latch with a reason, or clears it (as a restart of the real one would).
    pub fn set_latch(&self, reason: Option<&str>) {
        self.state.lock().unwrap().latch = reason.map(str::to_string);
    }

    /// How every connection is answered from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().behaviour = behaviour;
    }

    /// How the next connection (then the one after, …) is answered, before the standing
    /// behaviour applies again.
    pub fn queue_next(&self, behaviour: Behaviour) {
        self.state.lock().unwrap().queued.push_back(behaviour);
    }

    /// Makes `set_mode` fail with this text under `message`, as the real server refuses.
    pub fn refuse_set_mode(&self, message: &str) {
        self.state.lock().unwrap().set_mode_refusal = Some(message.into());
    }

    /// The requests received so far, each as read in the server's one read.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.state.lock().unwrap().requests.clone()
    }

    /// How many requests were read so far.
    pub fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }

    /// Stops listening and removes the socket file: connecting finds no socket.
    pub async fn vanish(&mut self) {
        self.stop_listening().await;
        std::fs::remove_file(&self.socket).expect("the fake's socket file");
    }

    /// Stops listening and removes the socket's directory with it, as systemd removes a
    /// service's RuntimeDirectory= when it stops.
    pub async fn vanish_with_directory(&mut self) {
        self.stop_listening().await;
        let directory = self.socket.parent().expect("the socket's directory");
        std::fs::remove_dir_all(directory).expect("the fake's directory");
    }

    /// Stops listening but leaves the socket file: connecting is refused.
    pub async fn stop_listening(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
            // The listener is closed once the aborted task is dropped, not when abort returns.
            let _ = listener.await;
        }
    }

    /// Listens again at the same path, as a restarted Boundary Daemon does.
    pub fn restore(&mut self) {
        assert!(self.listener.is_none(), "the fake is already listening");
        // The real server removes a stale socket file before it binds.
        let _ = std::fs::remove_file(&self.socket);
        let directory = self.socket.parent().expect("the socket's directory");
        std::fs::create_dir_all(directory).expect("the fake's directory");
        self.listen();
    }

    fn listen(&mut self) {
        let listener = UnixListener::bind(&self.socket).expect("bind the fake's socket");
        let state = self.state.clone();
        self.listener = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, state.clone()));
            }
        }));
    }
}

impl Drop for FakeBoundaryDaemon {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

/// A `status` reply like the real one: `success`, the mode under `boundary_state`, the latch,
/// and an `environment` large enough that the reply is about 5 KiB.
pub fn status_reply(mode: &str, latch: Option<&str>) -> Vec<u8> {
    let interfaces: Vec<Value> = (0..56)
        .map(|index| {
            json!({
                "name": format!("veth{index:02}"),
                "kind": "veth",
                "up": index % 3 != 0,
                "addresses": [format!("10.{index}.0.2/24"), format!("fd00:{index:x}::2/64")],
            })
        })
        .collect();
    let latch = latch.map(|reason| {
        json!({
            "in_lockdown": true,
            "reason": reason,
            "timestamp": "2025-01-02T03:04:05Z",
            "triggered_by": "tripwire",
        })
    });
    let reply = json!({
        "success": true,
        "status": {
            "running": true,
            "boundary_state": {
                "mode": mode,
                "network": "online",
                "last_transition": "2025-01-02T03:00:00Z",
                "operator": "human",
                "hardware_trust": "medium",
            },
            "lockdown": latch,
            "environment": {
                "interfaces": interfaces,
                "usb_devices": [],
                "active_processes": 312,
                "hostname": "fake-host",
            },
            "tripwire_violations": 0,
            "event_count": 1234,
        },
    });
    // No trailing newline, as the real server sends it.
    serde_json::to_vec(&reply).unwrap()
}

impl State {
    fn next_behaviour(&mut self) -> Behaviour {
        self.queued
            .pop_front()
            .unwrap_or_else(|| self.behaviour.clone())
    }

    fn answer(&mut self, request: &Value) -> Vec<u8> {
        let reply = match request.get("command").and_then(Value::as_str) {
            Some("status") => return status_reply(&self.mode, self.latch.as_deref()),
            Some("set_mode") => self.set_mode(request),
            Some(other) => json!({"error": format!("Unknown command: {other}")}),
            None => json!({"error": "Unknown command: None"}),
        };
        serde_json::to_vec(&reply).unwrap()
    }

    fn set_mode(&mut self, request: &Value) -> Value {
        if request.get("token").and_then(Value::as_str) != Some(self.token.as_str()) {
            return json!({
                "success": false,
                "error": "Authentication failed: Invalid token",
                "auth_error": true,
            });
        }
        let mode = request["params"]["mode"].as_str().unwrap_or_default();
        if let Some(refusal) = &self.set_mode_refusal {
            return json!({"success": false, "message": refusal, "new_mode": mode});
        }
        self.mode = mode.to_string();
        json!({
            "success": true,
            "message": format!("Transitioned to {}", mode.to_uppercase()),
            "new_mode": mode,
        })
    }
}

async fn serve(mut stream: UnixStream, state: Arc<Mutex<State>>) {
    let behaviour = state.lock().unwrap().next_behaviour();
    if behaviour == Behaviour::DropUnread {
        // Waiting until the request is there makes the drop deterministic: closing with unread
        // data is what makes Linux report ECONNRESET to the client.
        let _ = stream.readable().await;
        return;
    }
    let mut buffer = vec![0; READ_ONCE_BYTES];
    let Ok(length) = stream.read(&mut buffer).await else {
        return;
    };
    if length == 0 {
        return;
    }
    let request = buffer[..length].to_vec();
    let delay = match behaviour {
        Behaviour::Slow(delay) => Some(delay),
        _ => None,
    };
    // Recorded and answered under one lock: a test that sees a request counted also sees
    // what it did (a pushed lockdown has set the mode).
    let reply = {
        let mut state = state.lock().unwrap();
        state.requests.push(request.clone());
        match behaviour {
            Behaviour::CloseWithoutReply | Behaviour::DropUnread => return,
            Behaviour::Garbage => b"<html><body>502 Bad Gateway</body></html>".to_vec(),
            Behaviour::Raw(bytes) => bytes,
            Behaviour::Refuse { error, auth_error } => serde_json::to_vec(
                &json!({"success": false, "error": error, "auth_error": auth_error}),
            )
            .unwrap(),
            Behaviour::Answer | Behaviour::Slow(_) => {
                match serde_json::from_slice::<Value>(&request) {
                    Ok(request) => state.answer(&request),
                    Err(_) => serde_json::to_vec(&json!({"error": "Invalid JSON"})).unwrap(),
                }
            }
        }
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    // In two pieces with a pause between, so a client that reads once gets half a reply.
    let (first, rest) = reply.split_at(reply.len().min(1000));
    if stream.write_all(first).await.is_err() {
        return;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let _ = stream.write_all(rest).await;
    let _ = stream.shutdown().await;
}
