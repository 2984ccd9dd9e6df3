//! The daemon served inside the test process, on a private bus: the service code the binary
//! runs (`learning_contracts::service::run_until`), on a single-threaded runtime of its own
//! thread as in the binary, with no process to start. For the interface and policy tests; the
//! tests of the process itself (signals, exit status, logs, sd_notify, credentials given by
//! systemd, stress and crashes) keep [`super::bus::DaemonProcess`]. Clients still connect
//! through the bus socket as any uid, so the bus policy and the callers' credentials are the
//! real ones.

#![allow(dead_code)]

use super::bus::TestBus;
use learning_contracts::service::{self, BusChoice, Options, ServiceError};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The daemon served in this process; stopped (and its store closed) when dropped.
pub struct InProcessDaemon {
    pub state_dir: PathBuf,
    pub config_path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServiceError>>>,
}

impl InProcessDaemon {
    /// Serves the daemon with `config` on `bus` and waits until it owns the name.
    pub fn start(bus: &TestBus, config: &str) -> InProcessDaemon {
        let root = tempfile::tempdir().unwrap().keep();
        let state_dir = root.join("state");
        let config_path = root.join("daemon.toml");
        std::fs::write(&config_path, config).unwrap();
        let options = Options {
            bus: BusChoice::Address(bus.address.clone()),
            state_dir: state_dir.clone(),
            config: config_path.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("in-process daemon".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(service::run_until(options, async {
                    let _ = stopped.await;
                }))
            })
            .unwrap();
        let mut daemon = InProcessDaemon {
            state_dir,
            config_path,
            stop: Some(stop),
            thread: Some(thread),
        };
        daemon.wait_for_name(bus);
        daemon
    }

    fn wait_for_name(&mut self, bus: &TestBus) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                let ended = self.thread.take().unwrap().join();
                panic!("the daemon ended before owning the name: {ended:?}");
            }
            if bus.daemon_name_owned() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not own its name in time"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon as SIGTERM stops the binary and returns how its run ended.
    pub fn stop(&mut self) -> Result<(), String> {
        drop(self.stop.take());
        match self.thread.take() {
            Some(thread) => match thread.join() {
                Ok(ended) => ended.map_err(|err| err.to_string()),
                Err(_) => Err("the daemon's thread panicked".into()),
            },
            None => Err("the daemon was already stopped".into()),
        }
    }
}

impl Drop for InProcessDaemon {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}
