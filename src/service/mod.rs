//! The service: loads the config and the store, serves the bus object, owns the well-known
//! name, feeds the mode supervisor, keeps the timers, talks to systemd, and shuts down cleanly.

pub mod lockdown;
pub mod logging;
pub mod mode;
pub mod notify;
pub mod supervisor;
pub mod wall_alarm;

use crate::app::checkpoint::Checkpoints;
use crate::app::writer::{Announcement, Writer};
use crate::bus::authorize::{Authorizer, PolkitAuthorizer, UnixAuthorizer};
use crate::bus::{self, BUS_NAME, Daemon, OBJECT_PATH};
use crate::config::{self, AuthorizationMode, SourceKind};
use crate::core::{Monotonic, Now, Timestamp};
use crate::ledger::Ledger;
use crate::source::boundary_daemon::BoundaryDaemonSource;
use crate::source::detect::DetectSource;
use crate::source::{ModeSource, fixed::StaticSource};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot, watch};

/// Which bus to serve on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusChoice {
    /// The system bus.
    System,
    /// The caller's session bus.
    Session,
    /// A bus at this address (tests).
    Address(String),
}

/// How the service was asked to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The bus.
    pub bus: BusChoice,
    /// The directory that holds the store.
    pub state_dir: PathBuf,
    /// The main config file (drop-ins in `<file>.d/`).
    pub config: PathBuf,
}

/// Why the service could not start or had to stop.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The config is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// The store cannot be used.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The state directory cannot be made.
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The bus cannot be reached.
    #[error("cannot connect to the bus: {0}")]
    Bus(#[from] zbus::Error),
    /// Another instance serves the name.
    #[error(
        "another process already owns {BUS_NAME} on this bus; is learning-contractsd already running?"
    )]
    NameTaken,
    /// A thread or signal handler could not be set up.
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    /// A background task panicked or ended: the daemon stops so systemd restarts it.
    #[error("{0}; stopping so the service is restarted")]
    Task(#[from] supervisor::TaskFailure),
}

/// How long the start waits for the mode source's first reading before taking the bus name
/// anyway.
const FIRST_READING_WAIT: Duration = Duration::from_secs(10);

pub use crate::core::install::{SEALING_CREDENTIAL, STORE_FILE};

/// Runs the daemon until SIGTERM or SIGINT; SIGHUP reloads the configuration.
pub async fn run(options: Options) -> Result<(), ServiceError> {
    // Listened for from the start: a stop or reload that arrives while the store loads is
    // kept and handled once the daemon is serving, never a default-action kill mid-start.
    let signals = Signals {
        terminate: signal(SignalKind::terminate())?,
        interrupt: signal(SignalKind::interrupt())?,
        hangup: signal(SignalKind::hangup())?,
    };
    serve(options, Some(signals), std::future::pending()).await
}

/// Runs the daemon inside another program until `stop` completes, with no signal handlers
/// (the program's own stay as they are; a reload is asked for over the bus). The tests serve
/// the interfaces in their own process this way; the system service is [`run`]. Everything
/// else is as in [`run`], sd_notify included when `NOTIFY_SOCKET` is set.
pub async fn run_until(
    options: Options,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    serve(options, None, stop).await
}

/// The signals the system service stops and reloads on.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

/// The next delivery of `signal`; never, without one.
async fn delivered(signal: Option<&mut Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

async fn serve(
    options: Options,
    signals: Option<Signals>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServiceError> {
    let (mut terminate, mut interrupt, mut hangup) = match signals {
        Some(signals) => (
            Some(signals.terminate),
            Some(signals.interrupt),
            Some(signals.hangup),
        ),
        None => (None, None, None),
    };
    let mut stop = std::pin::pin!(stop);
    let config_path = options.config.clone();
    let loaded = tokio::task::spawn_blocking(move || config::load(&config_path))
        .await
        .map_err(std::io::Error::other)??;
    for file in &loaded.files {
        tracing::info!(file = %file.display(), "configuration read");
    }
    create_state_dir(&options.state_dir)?;
    let store_path = options.state_dir.join(STORE_FILE);
    let opening = store_path.clone();
    let builder = || match &options.bus {
        BusChoice::System => zbus::connection::Builder::system(),
        BusChoice::Session => zbus::connection::Builder::session(),
        BusChoice::Address(address) => zbus::connection::Builder::address(address.as_str()),
    };
    // The bus connections are made while the store loads; the name is asked for only once the
    // objects are served.
    let credential = sealing_credential();
    let (opened, connection, lookups) = tokio::join!(
        tokio::task::spawn_blocking(move || {
            let (mut ledger, recovery) = Ledger::open(&opening, Timestamp::now())?;
            start_sealing(&mut ledger, credential)?;
            Ok::<_, ServiceError>((ledger, recovery))
        }),
        builder().build(),
        builder().build(),
    );
    let (ledger, recovery) = opened.map_err(std::io::Error::other)??;
    let connection = connection?;
    // Credentials are asked for over a second connection (see bus::caller::Identities).
    let lookups = lookups?;
    tracing::info!(
        store = %store_path.display(),
        contracts = ledger.registry().contracts().count(),
        active = ledger.registry().active_count(),
        "store opened"
    );
    let registry = ledger.shared_registry();
    registry.write().start_generation_at(generation_start());
    let (announce_tx, announce_rx) = mpsc::unbounded_channel();
    // The audit chain's head goes to the journal now (the store's state as found, recovery
    // included), then as the cadence says, and at a clean stop.
    let checkpoints = Checkpoints::new(loaded.config.audit.cadence(), Monotonic::now());
    if !logging::to_journal() {
        tracing::warn!(
            "no journal: audit checkpoints go to this log output only, so they are not kept outside the store where `contractctl audit verify --journal` could find them"
        );
    }
    checkpoints.start(ledger.store().head(), Monotonic::now());
    let (writer, writer_thread) = Writer::spawn(ledger, announce_tx.clone(), checkpoints.clone())?;

    // polkit is another service: it is asked over the lookup connection, never the serving one.
    let authorizer = choose_authorizer(&lookups, &loaded, &options.bus).await;
    tracing::info!(authorization = authorizer.name(), "authorization mode");

    // Every long-lived task runs under one supervisor: one that ends stops the daemon.
    let mut tasks = supervisor::Supervisor::new();
    let (mode_control, control_rx) = mpsc::unbounded_channel();
    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel();
    let source_kind = loaded.config.mode.source;
    let source: Box<dyn ModeSource> = match source_kind {
        SourceKind::Static => Box::new(StaticSource::new(loaded.config.mode.static_mode())),
        SourceKind::BoundaryDaemon => Box::new(BoundaryDaemonSource::new(
            loaded.config.mode.boundary_daemon.clone(),
        )),
        SourceKind::Detect => {
            let (mounts_tx, mounts_rx) = watch::channel(None);
            tasks.spawn(
                "watch_mounts",
                crate::source::detect::watch_mounts(loaded.config.mode.detect.clone(), mounts_tx),
            );
            Box::new(
                DetectSource::new(&loaded.config.mode.detect, mounts_rx).map_err(|message| {
                    config::ConfigError::Value {
                        key: "mode.detect.rules".into(),
                        message,
                    }
                })?,
            )
        }
    };
    let daemon = Arc::new(Daemon::new(
        registry,
        writer.clone(),
        authorizer,
        loaded,
        mode_control,
        reload_tx,
    ));

    daemon.apply_limits();
    // systemd is called for unit freezing over the second connection too.
    {
        let units = Arc::clone(&daemon);
        let locked = Arc::clone(&daemon);
        tasks.spawn(
            "unit reconciler",
            lockdown::reconcile_units(
                lookups.clone(),
                move || units.config().config.lockdown.freeze_units.clone(),
                move || {
                    locked.registry.read().mode()
                        == crate::core::EffectiveMode::Known(crate::core::BoundaryMode::Lockdown)
                },
                daemon.committed.subscribe(),
            ),
        );
    }
    tasks.spawn("status", follow_status(Arc::clone(&daemon)));
    daemon.identities.set_lookup_connection(lookups.clone());
    // Audit reads go over read-only connections of their own, never through the writer.
    daemon.audit_reads.open(&store_path)?;
    // Objects first, then the name: a caller that sees the name finds every interface.
    serve_objects(&connection, &daemon).await?;
    tasks.spawn(
        "announce",
        bus::announce(connection.clone(), Arc::clone(&daemon), announce_rx),
    );
    if !recovery.is_empty() {
        let _ = announce_tx.send(Announcement {
            events: recovery,
            done: None,
        });
    }
    let (readings_tx, readings_rx) = watch::channel(None);
    let source_name = source.name();
    tasks.spawn(TASK_SOURCE, source.run(readings_tx));
    let (first_tx, first_rx) = oneshot::channel();
    tasks.spawn(
        TASK_MODE_SUPERVISOR,
        mode::supervise(
            Arc::clone(&daemon),
            connection.clone(),
            source_name,
            readings_rx,
            control_rx,
            first_tx,
        ),
    );
    tasks.spawn(
        "watch_connections",
        watch_connections(connection.clone(), Arc::clone(&daemon)),
    );
    tasks.spawn("keep_time", keep_time(Arc::clone(&daemon)));
    tasks.spawn("flush_denials", flush_denials(Arc::clone(&daemon)));
    tasks.spawn("recover_store", recover_store(Arc::clone(&daemon)));
    tasks.spawn(
        "audit checkpoints",
        keep_checkpoints(writer.clone(), checkpoints.clone()),
    );
    tasks.spawn("keep_seals", keep_seals(Arc::clone(&daemon)));

    // The name is asked for once the first reading is judged, so a caller that finds the name
    // is answered in the host's mode rather than in UNKNOWN (a source that gives no reading at
    // all is waited for at most FIRST_READING_WAIT; checks then deny as UNKNOWN). A task that
    // fails before then stops the start too.
    tokio::select! {
        _ = first_rx => {}
        _ = tokio::time::sleep(FIRST_READING_WAIT) => {
            tracing::warn!("no mode reading after {} s; serving in UNKNOWN, where every check is denied", FIRST_READING_WAIT.as_secs());
        }
        failure = tasks.failure() => {
            tracing::error!(task = failure.task(), "{failure}");
            return Err(failure.into());
        }
    }
    let reply = connection
        .request_name_with_flags(BUS_NAME, zbus::fdo::RequestNameFlags::DO_NOT_QUEUE)
        .await;
    match reply {
        Ok(
            zbus::fdo::RequestNameReply::PrimaryOwner | zbus::fdo::RequestNameReply::AlreadyOwner,
        ) => {}
        Ok(_) | Err(zbus::Error::NameTaken) => return Err(ServiceError::NameTaken),
        Err(err) => return Err(err.into()),
    }
    notify::ready(&status_line(&daemon));
    tracing::info!(
        MESSAGE_ID = logging::MESSAGE_STARTED,
        mode = daemon.registry.read().mode().name(),
        source = source_name,
        "learning-contractsd is ready on {BUS_NAME}, mode {}",
        daemon.registry.read().mode().name()
    );

    let watchdog = notify::watchdog_interval();
    let mut watchdog_tick =
        tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |w| w / 2));
    let mut failed = None;
    loop {
        tokio::select! {
            failure = tasks.failure() => {
                tracing::error!(task = failure.task(), "{failure}");
                failed = Some(failure);
                break;
            }
            _ = &mut stop => break,
            _ = delivered(terminate.as_mut()) => break,
            _ = delivered(interrupt.as_mut()) => break,
            _ = delivered(hangup.as_mut()) => {
                if let Err(err) = reload(&daemon, &options, &checkpoints).await {
                    tracing::error!(MESSAGE_ID = logging::MESSAGE_RELOAD, error = %err, "reload refused; the old configuration stays in force");
                }
            }
            Some(reply) = reload_rx.recv() => {
                let outcome = reload(&daemon, &options, &checkpoints).await;
                if let Err(err) = &outcome {
                    tracing::error!(MESSAGE_ID = logging::MESSAGE_RELOAD, error = %err, "reload refused; the old configuration stays in force");
                }
                let _ = reply.send(outcome);
            }
            _ = watchdog_tick.tick(), if watchdog.is_some() => {
                let within = watchdog.unwrap_or_default() / 2;
                if alive(&writer, &lookups, &connection, within).await {
                    notify::watchdog();
                }
            }
        }
    }
    notify::stopping();
    tracing::info!("stopping");
    // The mode supervisor first: a source that stops while it still runs would read as UNKNOWN.
    tasks.abort(TASK_MODE_SUPERVISOR);
    tasks.abort(TASK_SOURCE);
    daemon.flush_denials(true);
    let _ = connection.release_name(BUS_NAME).await;
    // Everything queued before the stop still commits; then the current epoch is sealed with
    // the stop flag (so the time the daemon is down is no gap), the head goes to the journal,
    // and the store closes.
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(mut ledger) = writer_thread.finish() {
            match ledger.seal_stop(Timestamp::now()) {
                Ok(tick) => {
                    if let Some(seal) = tick.sealed {
                        tracing::info!(epoch = seal.epoch, seq = seal.seq, "the audit log is sealed for the stop");
                    }
                }
                Err(err) => {
                    tracing::error!(error = %err, "the audit log could not be sealed for the stop; a verifier will see the epochs until the next start as unsealed")
                }
            }
            checkpoints.stop(ledger.store().head(), Monotonic::now());
        }
    })
    .await;
    drop(writer);
    drop(daemon);
    drop(announce_tx);
    tasks.shutdown();
    match failed {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}

/// The supervised task that runs the mode source.
const TASK_SOURCE: &str = "mode source";
/// The supervised task that turns readings into the committed mode.
const TASK_MODE_SUPERVISOR: &str = "mode supervisor";

/// Whether the daemon is alive enough for the watchdog: the store writer runs a job, and the
/// serving connection's dispatcher answers a `Peer.Ping` sent from the lookup connection, both
/// within `within`. A dispatcher stuck behind a handler withholds the ping as a stuck writer
/// does.
async fn alive(
    writer: &Writer,
    lookups: &zbus::Connection,
    serving: &zbus::Connection,
    within: Duration,
) -> bool {
    let writer_answers = async { matches!(writer.read(|_| ()).await, Ok(())) };
    let dispatcher_answers = async {
        let Some(name) = serving.unique_name() else {
            return false;
        };
        lookups
            .call_method(
                Some(name.as_str()),
                OBJECT_PATH,
                Some("org.freedesktop.DBus.Peer"),
                "Ping",
                &(),
            )
            .await
            .is_ok()
    };
    let answered = tokio::time::timeout(within, async {
        tokio::join!(writer_answers, dispatcher_answers)
    })
    .await;
    match answered {
        Ok((true, true)) => true,
        Ok((writer_ok, _)) => {
            tracing::error!(
                writer = writer_ok,
                "{} did not answer; withholding the watchdog ping",
                if writer_ok {
                    "the bus dispatcher"
                } else {
                    "the store writer"
                }
            );
            false
        }
        Err(_) => {
            tracing::error!(
                "the store writer or the bus dispatcher did not answer in time; withholding the watchdog ping"
            );
            false
        }
    }
}

fn create_state_dir(path: &std::path::Path) -> Result<(), ServiceError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| ServiceError::StateDir {
            path: path.to_path_buf(),
            source,
        })
}

async fn serve_objects(connection: &zbus::Connection, daemon: &Arc<Daemon>) -> zbus::Result<()> {
    use crate::bus::fair::Fair;
    use crate::bus::{audit1, boundary1, contracts1, daemon1, enforcement1, memories1, sessions1};
    let server = connection.object_server();
    let d = || Arc::clone(daemon);
    // Every interface's calls go through the daemon's fair dispatcher (bus/fair.rs).
    server
        .at(
            OBJECT_PATH,
            Fair::new(daemon1::Daemon1 { daemon: d() }, d()),
        )
        .await?;
    server
        .at(
            OBJECT_PATH,
            Fair::new(contracts1::Contracts1 { daemon: d() }, d()),
        )
        .await?;
    server
        .at(
            OBJECT_PATH,
            Fair::new(enforcement1::Enforcement1 { daemon: d() }, d()),
        )
        .await?;
    server
        .at(
            OBJECT_PATH,
            Fair::new(boundary1::Boundary1 { daemon: d() }, d()),
        )
        .await?;
    server
        .at(
            OBJECT_PATH,
            Fair::new(memories1::Memories1 { daemon: d() }, d()),
        )
        .await?;
    server
        .at(
            OBJECT_PATH,
            Fair::new(sessions1::Sessions1 { daemon: d() }, d()),
        )
        .await?;
    server
        .at(OBJECT_PATH, Fair::new(audit1::Audit1 { daemon: d() }, d()))
        .await?;
    Ok(())
}

/// polkit on the system bus unless configured otherwise, falling back to unix (with a
/// warning) when polkitd is not on the bus; unix on a session bus.
async fn choose_authorizer(
    connection: &zbus::Connection,
    loaded: &config::Loaded,
    bus: &BusChoice,
) -> Arc<dyn Authorizer> {
    let unix = || Arc::new(UnixAuthorizer::new(loaded.admin_gid)) as Arc<dyn Authorizer>;
    if loaded.config.authorization.mode == AuthorizationMode::Unix || *bus == BusChoice::Session {
        return unix();
    }
    let available = match zbus::fdo::DBusProxy::new(connection).await {
        Ok(proxy) => {
            let Ok(name) = zbus::names::BusName::from_static_str(PolkitAuthorizer::SERVICE) else {
                return unix();
            };
            let owned = proxy.name_has_owner(name.clone()).await.unwrap_or(false);
            let activatable = proxy
                .list_activatable_names()
                .await
                .map(|names| {
                    names
                        .iter()
                        .any(|n| n.as_str() == PolkitAuthorizer::SERVICE)
                })
                .unwrap_or(false);
            owned || activatable
        }
        Err(_) => false,
    };
    if !available {
        tracing::warn!(
            "polkitd is not on the bus; falling back to unix authorization (uid 0 and the admin group are admins)"
        );
        return unix();
    }
    match PolkitAuthorizer::new(connection).await {
        Ok(polkit) => Arc::new(polkit),
        Err(err) => {
            tracing::warn!(error = %err, "cannot reach polkitd; falling back to unix authorization");
            unix()
        }
    }
}

async fn reload(
    daemon: &Daemon,
    options: &Options,
    checkpoints: &Checkpoints,
) -> Result<(), String> {
    notify::reloading();
    let path = options.config.clone();
    let outcome = tokio::task::spawn_blocking(move || config::load(&path))
        .await
        .map_err(|err| err.to_string())
        .and_then(|loaded| loaded.map_err(|err| err.to_string()));
    match outcome {
        Ok(loaded) => {
            let changed_source = loaded.config.mode != daemon.config().config.mode;
            *daemon.config.write() = Arc::new(loaded);
            // Delegations and the tool deny list decide answers too; the mode supervisor,
            // woken below, announces the generation.
            daemon.registry.write().advance_generation();
            daemon.apply_limits();
            checkpoints.set_cadence(daemon.config().config.audit.cadence());
            if changed_source {
                tracing::warn!(
                    "mode settings changed; the new source settings apply at the next restart, the settle time now"
                );
            }
            let _ = daemon.mode_control.send(());
            tracing::info!(
                MESSAGE_ID = logging::MESSAGE_RELOAD,
                "configuration reloaded"
            );
            notify::ready(&status_line(daemon));
            Ok(())
        }
        Err(err) => {
            notify::ready(&status_line(daemon));
            Err(err)
        }
    }
}

/// Where Enforcement1.Generation starts: the wall clock in microseconds, so a restarted daemon
/// does not count again through the numbers the last run used (it would take a million changes
/// a second to catch up with the clock).
fn generation_start() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros() as u64)
}

/// The one-line status systemd shows.
pub fn status_line(daemon: &Daemon) -> String {
    let registry = daemon.registry.read();
    let source = daemon.source.read();
    let mut line = format!(
        "Mode {} (source {}, {}); {} active, {} suspended contracts",
        registry.mode(),
        source.source,
        if source.healthy {
            "healthy"
        } else {
            "unhealthy"
        },
        registry.active_count(),
        registry.suspended_count()
    );
    if registry.host().lockdown.is_some() {
        line.push_str("; LOCKDOWN latched");
    }
    if registry.host().paused_all.is_some() {
        line.push_str("; all learning paused");
    }
    if registry.store_fault().is_some() {
        line.push_str("; the store cannot be written, checks deny");
    }
    line
}

/// Sends the status line to systemd after every announced commit.
async fn follow_status(daemon: Arc<Daemon>) {
    let mut committed = daemon.committed.subscribe();
    while committed.changed().await.is_ok() {
        update_status(&daemon);
    }
}

/// Sends the status line to systemd.
pub fn update_status(daemon: &Daemon) {
    notify::status(&status_line(daemon));
}

/// Ends the sessions of connections that leave the bus, and forgets their credentials and
/// that they listened.
async fn watch_connections(connection: zbus::Connection, daemon: Arc<Daemon>) {
    let Ok(proxy) = zbus::fdo::DBusProxy::new(&connection).await else {
        tracing::error!("cannot watch bus connections; sessions will end only by idle time");
        return;
    };
    let Ok(mut changes) = proxy.receive_name_owner_changed().await else {
        tracing::error!("cannot watch bus connections; sessions will end only by idle time");
        return;
    };
    while let Some(change) = changes.next().await {
        let Ok(args) = change.args() else { continue };
        if args.new_owner().is_some() || !args.name().as_str().starts_with(':') {
            continue;
        }
        let gone = args.name().to_string();
        daemon.identities.forget(&gone);
        daemon.listeners.forget(&gone);
        daemon.activity.lock().remove(&gone);
        let sessions: Vec<String> = daemon
            .registry
            .read()
            .sessions()
            .filter(|s| s.opener.bus_name.as_deref() == Some(gone.as_str()))
            .map(|s| s.id.clone())
            .collect();
        for id in sessions {
            end_session(&daemon, id, "the agent's connection left the bus").await;
        }
    }
}

async fn end_session(daemon: &Daemon, id: String, reason: &'static str) {
    let outcome = daemon
        .writer
        .run(move |r| r.plan_end_session(None, &id, reason, Timestamp::now()))
        .await;
    if let Err(err) = outcome {
        tracing::warn!(error = %err, "a session could not be ended, will retry at the next timer");
    }
}

/// How often a store that failed to commit is tried again.
const STORE_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// While the store cannot be written (a full disk, a read-only remount), every check denies
/// with `store_unavailable`. Once a second this tries a harmless write; when it commits, the
/// fault is lifted and checks answer again, without waiting for a mutation to succeed (the
/// registration a denied check refuses would never come).
async fn recover_store(daemon: Arc<Daemon>) {
    let mut tick = tokio::time::interval(STORE_PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(fault) = daemon.registry.read().store_fault().map(str::to_string) else {
            continue;
        };
        let writable = daemon.writer.read(|ledger| ledger.probe_store()).await;
        if writable.unwrap_or(false) {
            // A mode change that failed to commit is judged again at once.
            let _ = daemon.mode_control.send(());
            tracing::warn!(
                MESSAGE_ID = logging::MESSAGE_STORE_RECOVERED,
                "the store can be written again; checks answer again (it failed with: {fault})"
            );
            update_status(&daemon);
        }
    }
}

/// Expires timebound contracts at their end (wall clock) and ends idle sessions (monotonic
/// clock); wakes at the next deadline, when the wall clock is set, when a commit may have
/// changed the deadlines, and at least once a minute.
async fn keep_time(daemon: Arc<Daemon>) {
    let alarm = match wall_alarm::WallAlarm::new() {
        Ok(alarm) => Some(alarm),
        Err(err) => {
            tracing::warn!(error = %err, "no wall-clock alarm; after the clock is set, timebound contracts expire within a minute, ignoring");
            None
        }
    };
    loop {
        // Timebound ends are wall-clock instants; idle times are monotonic durations.
        let now = Now::read();
        let idle = daemon.config().config.sessions.idle_timeout_millis();
        let due = daemon
            .registry
            .read()
            .next_expiry()
            .is_some_and(|end| end <= now.wall);
        if due {
            let outcome = daemon
                .writer
                .mutate(|ledger| {
                    let change = ledger.registry().plan_expire_due(Timestamp::now());
                    match change {
                        Some(change) => ledger.commit(change).map(|e| ((), e)).map_err(Into::into),
                        None => Ok(((), Vec::new())),
                    }
                })
                .await;
            if let Err(err) = outcome {
                tracing::error!(error = %err, "expired contracts could not be committed; checks still deny them by the clock");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            continue;
        }
        // Calls seen from the openers' connections count as use of their sessions.
        let seen: Vec<(String, Monotonic)> = {
            let activity = daemon.activity.lock();
            daemon
                .registry
                .read()
                .sessions()
                .filter_map(|s| {
                    let name = s.opener.bus_name.as_deref()?;
                    activity.get(name).map(|at| (s.id.clone(), *at))
                })
                .collect()
        };
        if !seen.is_empty() {
            let mut registry = daemon.registry.write();
            for (id, at) in &seen {
                registry.touch_session(id, *at);
            }
        }
        let idle_now = daemon.registry.read().idle_sessions(idle, now);
        for id in idle_now {
            end_session(&daemon, id, "idle time reached").await;
        }
        let wait = {
            let registry = daemon.registry.read();
            let now = Now::read();
            let until_idle = registry
                .sessions()
                .map(|s| now.mono.millis_until(s.idle_deadline(idle)))
                .min();
            let until_expiry = registry
                .next_expiry()
                .map(|end| end.as_millis() - now.wall.as_millis());
            until_idle
                .into_iter()
                .chain(until_expiry)
                .min()
                .map_or(60_000, |millis| millis.clamp(0, 60_000))
        };
        // The next timebound end by the wall clock, which also wakes this loop when the wall
        // clock is set (a step forward past an end is then committed at once).
        let next_end = daemon.registry.read().next_expiry();
        let armed = match (&alarm, next_end) {
            (Some(alarm), Some(end)) => alarm.arm(end),
            (Some(alarm), None) => alarm.disarm(),
            (None, _) => Ok(()),
        };
        if let Err(err) = armed {
            tracing::warn!(error = %err, "the wall-clock alarm could not be set; the timer wakes within a minute, ignoring");
        }
        let alarm_fired = async {
            match (&alarm, next_end) {
                (Some(alarm), Some(_)) if alarm.fired().await.is_ok() => {}
                _ => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            _ = alarm_fired => {}
            _ = daemon.changed.notified() => {}
        }
    }
}

/// The longest the checkpoint timer sleeps, so that a reload's new interval applies soon.
const CHECKPOINT_LOOK_MAX: Duration = Duration::from_secs(60);

/// Writes a checkpoint of the audit head when the interval ends and records were written but
/// no commit since has looked (the writer thread looks after every job that moved the head).
async fn keep_checkpoints(writer: Writer, checkpoints: Checkpoints) {
    loop {
        let now = Monotonic::now();
        checkpoints.observe(&writer.head(), now);
        let wait = checkpoints
            .next_look_in(now)
            .map_or(CHECKPOINT_LOOK_MAX, |millis| {
                Duration::from_millis(u64::try_from(millis).unwrap_or(0))
            })
            .clamp(Duration::from_millis(1), CHECKPOINT_LOOK_MAX);
        tokio::time::sleep(wait).await;
    }
}

/// The sealing credential's text, if the service was given one.
fn sealing_credential() -> Option<(PathBuf, std::io::Result<String>)> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|dir| !dir.is_empty())?;
    let path = PathBuf::from(dir).join(SEALING_CREDENTIAL);
    match std::fs::read_to_string(&path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        read => Some((path, read)),
    }
}

/// Before serving: a store with no sealing state takes the sealing key from the credential, if
/// one was given (a credential that cannot be read refuses the start, as a bad configuration
/// does: the admin asked for sealing); then sealing catches up with the time the daemon was
/// down (store/sealing.rs, `seal_at_start`).
fn start_sealing(
    ledger: &mut Ledger,
    credential: Option<(PathBuf, std::io::Result<String>)>,
) -> Result<(), ServiceError> {
    let now = Timestamp::now();
    if let Some((path, read)) = credential {
        let bad = |message: String| {
            ServiceError::Config(config::ConfigError::Value {
                key: format!("credential {SEALING_CREDENTIAL}"),
                message,
            })
        };
        let text = read.map_err(|err| bad(format!("cannot read {}: {err}", path.display())))?;
        let credential = crate::store::seal::SealingCredential::parse(&text)
            .map_err(|err| bad(err.to_string()))?;
        match ledger.store().sealing()? {
            Some(state) => tracing::info!(
                era = state.era,
                "a sealing credential was given but sealing is already set up (era {}); it is not used and may be removed",
                state.era
            ),
            None => {
                let state = ledger.enable_sealing(
                    crate::store::sealing::SealingSetup {
                        key_id: credential.key.key_id(),
                        key: credential.key.clone(),
                        key_epoch: credential.epoch,
                        clock: credential.clock,
                        origin: "credential",
                        caller: crate::core::Caller::daemon(),
                        force: false,
                    },
                    now,
                )?;
                // The credential still holds key 1, from which every later key of the era can
                // be computed: whoever can read it could forge seals. The store now holds only
                // the current key, so the credential has done its work.
                tracing::warn!(
                    era = state.era,
                    epoch = state.epoch,
                    "audit sealing set up from the credential {SEALING_CREDENTIAL}; remove the credential now (it holds an early sealing key that could forge every later seal) and remove its LoadCredentialEncrypted= line"
                );
            }
        }
    }
    let tick = ledger.seal_at_start(now)?;
    if let Some(seal) = tick.sealed {
        tracing::warn!(
            epoch = seal.epoch,
            next = seal.next_epoch,
            "the audit log was not sealed at the last stop (a crash?); the epoch it was in is sealed now"
        );
    }
    Ok(())
}

/// Seals the audit log as each epoch ends (store/sealing.rs): wakes at the current epoch's end
/// by the wall clock, and at least once a minute so that a step of the clock is noticed.
async fn keep_seals(daemon: Arc<Daemon>) {
    const AT_MOST: Duration = Duration::from_secs(60);
    loop {
        let outcome = daemon
            .writer
            .read(|ledger| ledger.seal_due(Timestamp::now()))
            .await;
        let wait = match outcome {
            Ok(Ok(tick)) => {
                if let Some(seal) = &tick.sealed {
                    tracing::debug!(
                        epoch = seal.epoch,
                        seq = seal.seq,
                        next = seal.next_epoch,
                        "audit epoch sealed"
                    );
                    if seal.next_epoch > seal.epoch + 1 {
                        tracing::warn!(
                            epoch = seal.epoch,
                            next = seal.next_epoch,
                            "the wall clock jumped forward past {} sealing epochs; the jump is sealed",
                            seal.next_epoch - seal.epoch - 1
                        );
                    }
                }
                tick.state.map_or(AT_MOST, |state| {
                    let millis = state.due().as_millis() - Timestamp::now().as_millis();
                    Duration::from_millis(millis.clamp(0, AT_MOST.as_millis() as i64) as u64)
                })
            }
            Ok(Err(err)) => {
                tracing::error!(error = %err, "the audit log could not be sealed; trying again");
                AT_MOST
            }
            // The writer is stopping; the stop seal is written after it.
            Err(_) => AT_MOST,
        };
        // A seal that is due now is retried after a short pause, never in a busy loop.
        tokio::select! {
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
            _ = daemon.sealing_changed.notified() => {}
        }
    }
}

/// Writes the aggregated records of denied checks and refused calls as their intervals end.
async fn flush_denials(daemon: Arc<Daemon>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        daemon.flush_denials(false);
    }
}
