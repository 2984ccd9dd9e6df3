//! Slow calls never hold up anyone else (issue 12, findings F2 and F3): `Audit1.Verify` on a
//! large log runs on a read connection of its own, one at a time, so an admin's pile of
//! pipelined Verify calls neither stalls the writer (EnterLockdown, RegisterMemory) nor the
//! bus dispatcher (checks).
//!
//! The tests assert order, not time: while Verify calls are still outstanding, a lockdown has
//! already replied and shows in the Mode property, and an owner's registration has replied.

use crate::common::bus::*;
use learning_contracts::core::{AuditEvent, Caller, Timestamp};
use learning_contracts::store::Store;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Records written before the daemon starts: enough that one Verify takes a noticeable while
/// in a debug build, so a pile of them would keep a writer busy for many seconds.
const LOG_RECORDS: usize = 60_000;
/// Verify calls the admin keeps in flight (the bus allows 128 pending per connection).
const PIPELINED_VERIFIES: usize = 24;

/// A store under `root/state` whose audit log holds `records` records.
fn store_with_large_log(root: &Path, records: usize) {
    use std::os::unix::fs::DirBuilderExt;
    let state = root.join("state");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&state)
        .unwrap();
    let (mut store, _) = Store::open(&state.join("contracts.db")).unwrap();
    let batch: Vec<AuditEvent> = (0..1_000)
        .map(|n| AuditEvent {
            caller: Caller::daemon(),
            action: "test.filler",
            contract_id: None,
            details: serde_json::json!({ "n": n, "why": "a large log for Verify to walk" }),
        })
        .collect();
    for _ in 0..records.div_ceil(batch.len()) {
        store.append_audit(&batch, Timestamp::now()).unwrap();
    }
}

/// Sends `count` Verify calls on `connection` at once; the counter counts answered ones.
fn pipeline_verifies(connection: &zbus::Connection, count: usize) -> Arc<AtomicUsize> {
    let answered = Arc::new(AtomicUsize::new(0));
    for _ in 0..count {
        let connection = connection.clone();
        let answered = Arc::clone(&answered);
        tokio::spawn(async move {
            let result: zbus::Result<(bool, u64, u64, String)> =
                call_daemon(&connection, "Audit1", "Verify", &()).await;
            let (ok, _, _, message) = result.expect("an admin's Verify is answered");
            assert!(ok, "the log verifies: {message}");
            answered.fetch_add(1, Ordering::SeqCst);
        });
    }
    answered
}

struct Setup {
    _daemon: DaemonProcess,
    bus: TestBus,
    root: zbus::Connection,
    owner: zbus::Connection,
}

async fn setup() -> Setup {
    let bus = TestBus::start();
    let dir = tempfile::tempdir().unwrap().keep();
    store_with_large_log(&dir, LOG_RECORDS);
    let daemon = DaemonProcess::start_in(&bus, &static_config("AIRGAP", ""), &dir, &[]);
    let root = connect_as(&bus, 0, &[0]).await;
    let owner = connect_as(&bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    activate_new(&contracts, "episodic", episodic_spec(&["coding"])).await;
    Setup {
        _daemon: daemon,
        bus,
        root,
        owner,
    }
}

impl Setup {
    /// An admin connection of its own with `count` Verify calls in flight, once the first of
    /// them has been answered (so the rest have reached the daemon and wait there).
    async fn verifies_in_flight(&self, count: usize) -> (zbus::Connection, Arc<AtomicUsize>) {
        let admin = connect_as(&self.bus, 0, &[0]).await;
        let answered = pipeline_verifies(&admin, count);
        eventually("the first Verify is answered", || {
            std::future::ready((answered.load(Ordering::SeqCst) > 0).then_some(()))
        })
        .await;
        (admin, answered)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockdown_is_not_held_up_by_pipelined_verifies() {
    if !require_root("lockdown_is_not_held_up_by_pipelined_verifies") {
        return;
    }
    let s = setup().await;
    let (_admin, answered) = s.verifies_in_flight(PIPELINED_VERIFIES).await;

    let boundary = Boundary1Proxy::new(&s.root).await.unwrap();
    within(
        "EnterLockdown behind pipelined Verify calls",
        boundary.enter_lockdown("test: lockdown under a Verify backlog"),
    )
    .await
    .unwrap();
    let mode: String = boundary_property(&s.root, "Mode").await.try_into().unwrap();
    let done = answered.load(Ordering::SeqCst);
    assert_eq!(mode, "LOCKDOWN");
    assert!(
        done < PIPELINED_VERIFIES,
        "EnterLockdown replied only after all {done} Verify calls: it waited behind them"
    );
    let enforcement = Enforcement1Proxy::new(&s.owner).await.unwrap();
    let (allowed, code, ..) = enforcement
        .check_memory_creation(&check_request("coding", "work", 1))
        .await
        .unwrap();
    assert!(!allowed, "a check in LOCKDOWN is denied");
    assert_eq!(code, "lockdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_not_held_up_by_pipelined_verifies() {
    if !require_root("registration_is_not_held_up_by_pipelined_verifies") {
        return;
    }
    let s = setup().await;
    let (_admin, answered) = s.verifies_in_flight(PIPELINED_VERIFIES).await;

    let enforcement = Enforcement1Proxy::new(&s.owner).await.unwrap();
    let (allowed, code, ..) = within(
        "RegisterMemory behind pipelined Verify calls",
        enforcement.register_memory(&check_request("coding", "work", 1)),
    )
    .await
    .unwrap();
    let done = answered.load(Ordering::SeqCst);
    assert!(allowed, "the owner's registration is allowed: {code}");
    assert!(
        done < PIPELINED_VERIFIES,
        "RegisterMemory replied only after all {done} Verify calls: it waited behind them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_verifies_all_succeed() {
    if !require_root("queued_verifies_all_succeed") {
        return;
    }
    let s = setup().await;
    let admin = connect_as(&s.bus, 0, &[0]).await;
    let answered = pipeline_verifies(&admin, 3);
    // A hang guard only: each Verify walks the whole log in turn.
    let all_answered = async {
        while answered.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), all_answered)
        .await
        .expect("three queued Verify calls are all answered");
    let audit = Audit1Proxy::new(&s.root).await.unwrap();
    let (ok, records, first_bad, _) = audit.verify().await.unwrap();
    assert!(ok);
    assert_eq!(first_bad, 0);
    assert!(records as usize >= LOG_RECORDS);
}

/// A stand-in for systemd-logind: `GetUser` answers a user object whose `State` is `state`,
/// or, when `hold` is set, never answers. It notes who asked.
struct FakeLogind {
    hold: bool,
    askers: Arc<parking_lot::Mutex<Vec<String>>>,
    asked: Arc<tokio::sync::Notify>,
}

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl FakeLogind {
    async fn get_user(
        &self,
        uid: u32,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) -> zbus::fdo::Result<zbus::OwnedObjectPath> {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        self.askers.lock().push(sender);
        self.asked.notify_one();
        if self.hold {
            std::future::pending::<()>().await;
        }
        Ok(
            zbus::OwnedObjectPath::try_from(format!("/org/freedesktop/login1/user/_{uid}"))
                .unwrap(),
        )
    }
}

struct FakeLogindUser {
    state: String,
}

#[zbus::interface(name = "org.freedesktop.login1.User")]
impl FakeLogindUser {
    #[zbus(property)]
    fn state(&self) -> String {
        self.state.clone()
    }
}

struct Logind {
    _connection: zbus::Connection,
    askers: Arc<parking_lot::Mutex<Vec<String>>>,
    asked: Arc<tokio::sync::Notify>,
}

/// Puts a logind stand-in on the bus for the owner's user, in `state`; `hold` makes GetUser
/// never answer.
async fn fake_logind(bus: &TestBus, hold: bool, state: &str) -> Logind {
    let connection = connect_as(bus, 0, &[0]).await;
    let askers = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let asked = Arc::new(tokio::sync::Notify::new());
    let server = connection.object_server();
    server
        .at(
            "/org/freedesktop/login1",
            FakeLogind {
                hold,
                askers: Arc::clone(&askers),
                asked: Arc::clone(&asked),
            },
        )
        .await
        .unwrap();
    server
        .at(
            format!("/org/freedesktop/login1/user/_{}", users().owner),
            FakeLogindUser {
                state: state.to_string(),
            },
        )
        .await
        .unwrap();
    connection
        .request_name("org.freedesktop.login1")
        .await
        .unwrap();
    Logind {
        _connection: connection,
        askers,
        asked,
    }
}

/// A daemon in AIRGAP and an owner with an Active contract over "coding" whose recall needs
/// the owner present.
async fn presence_setup(bus: &TestBus) -> (DaemonProcess, zbus::Connection) {
    let daemon = DaemonProcess::start(bus, &static_config("AIRGAP", ""));
    let owner = connect_as(bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let mut spec = episodic_spec(&["coding"]);
    spec.insert("recall_requires_owner", true.into());
    activate_new(&contracts, "episodic", spec).await;
    (daemon, owner)
}

/// The unique name the daemon serves on (the owner of its well-known name).
async fn serving_name(connection: &zbus::Connection) -> String {
    let proxy = zbus::fdo::DBusProxy::new(connection).await.unwrap();
    proxy
        .get_name_owner(zbus::names::BusName::try_from(BUS_NAME).unwrap())
        .await
        .unwrap()
        .to_string()
}

/// While `service` keeps a call waiting, another client's check is answered; that client.
async fn another_client_is_answered(bus: &TestBus, service: &str) -> zbus::Connection {
    let other = connect_as(bus, users().other, &[]).await;
    let (_, code, ..) = within(
        &format!("another client's check while {service} does not answer"),
        Enforcement1Proxy::new(&other)
            .await
            .unwrap()
            .check_memory_creation(&check_request("coding", "work", 1)),
    )
    .await
    .unwrap();
    assert_eq!(code, "no_contract");
    other
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_presence_is_asked_apart_from_the_serving_connection_and_times_out_closed() {
    if !require_root(
        "owner_presence_is_asked_apart_from_the_serving_connection_and_times_out_closed",
    ) {
        return;
    }
    let bus = TestBus::start();
    let logind = fake_logind(&bus, true, "active").await;
    let (_daemon, owner) = presence_setup(&bus).await;
    let asked = logind.asked.notified();

    let recalling = Enforcement1Proxy::new(&owner).await.unwrap();
    let recall = tokio::spawn(async move {
        recalling
            .check_recall(&check_request("coding", "work", 1))
            .await
    });
    within("the daemon asks logind about the owner", asked).await;
    let serving = serving_name(&owner).await;
    let askers = logind.askers.lock().clone();
    assert!(
        !askers.contains(&serving),
        "logind was asked over the serving connection {serving}: {askers:?}"
    );

    let _other = another_client_is_answered(&bus, "logind").await;
    // A logind that does not answer in time means the owner is absent: fail closed.
    let (allowed, code, ..) = within("the recall's answer", recall)
        .await
        .unwrap()
        .unwrap();
    assert!(!allowed);
    assert_eq!(code, "owner_absent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_presence_follows_logind() {
    if !require_root("owner_presence_follows_logind") {
        return;
    }
    for (state, expected) in [("active", "allowed"), ("online", "owner_absent")] {
        let bus = TestBus::start();
        let _logind = fake_logind(&bus, false, state).await;
        let (_daemon, owner) = presence_setup(&bus).await;
        let (_, code, ..) = within(
            "a recall that needs the owner",
            Enforcement1Proxy::new(&owner)
                .await
                .unwrap()
                .check_recall(&check_request("coding", "work", 1)),
        )
        .await
        .unwrap();
        assert_eq!(code, expected, "logind says the owner is {state}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_answered_while_a_registration_waits_for_the_store() {
    if !require_root("checks_are_answered_while_a_registration_waits_for_the_store") {
        return;
    }
    let bus = TestBus::start();
    let daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    activate_new(&contracts, "episodic", episodic_spec(&["coding"])).await;
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();

    // Another process holds the store's write lock: the registration's commit waits for it.
    let blocker = rusqlite::Connection::open(daemon.state_dir.join("contracts.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let registering = enforcement.clone();
    let registration = tokio::spawn(async move {
        registering
            .register_memory(&check_request("coding", "work", 1))
            .await
    });
    // Sent after the registration on the same connection, so it reaches the daemon after it.
    let (allowed, code, ..) = within(
        "a check behind a registration that waits for the store",
        enforcement.check_memory_creation(&check_request("coding", "work", 1)),
    )
    .await
    .unwrap();
    assert!(allowed, "{code}");
    assert!(
        !registration.is_finished(),
        "the registration finished first: the check waited behind it"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    let (allowed, code, ..) = within("the registration once the store is free", registration)
        .await
        .unwrap()
        .unwrap();
    assert!(allowed, "{code}");
}

/// A stand-in for polkitd that notes who asks and never answers.
struct SilentPolkit {
    askers: Arc<parking_lot::Mutex<Vec<String>>>,
    asked: Arc<tokio::sync::Notify>,
}

type PolkitSubject = (String, HashMap<String, zbus::OwnedVariant>);

#[zbus::interface(name = "org.freedesktop.PolicyKit1.Authority")]
impl SilentPolkit {
    async fn check_authorization(
        &self,
        _subject: PolkitSubject,
        _action_id: String,
        _details: HashMap<String, String>,
        _flags: u32,
        _cancellation_id: String,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) -> zbus::fdo::Result<(bool, bool, HashMap<String, String>)> {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        self.askers.lock().push(sender);
        self.asked.notify_one();
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polkit_is_asked_apart_from_the_serving_connection_and_times_out_closed() {
    if !require_root("polkit_is_asked_apart_from_the_serving_connection_and_times_out_closed") {
        return;
    }
    let bus = TestBus::start();
    let polkit_connection = connect_as(&bus, 0, &[0]).await;
    let askers = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let asked = Arc::new(tokio::sync::Notify::new());
    polkit_connection
        .object_server()
        .at(
            "/org/freedesktop/PolicyKit1/Authority",
            SilentPolkit {
                askers: Arc::clone(&askers),
                asked: Arc::clone(&asked),
            },
        )
        .await
        .unwrap();
    polkit_connection
        .request_name("org.freedesktop.PolicyKit1")
        .await
        .unwrap();
    let _daemon = DaemonProcess::start(&bus, &polkit_config("AIRGAP", ""));

    // An admin action by someone not root: the daemon must ask polkit.
    let asking = connect_as(&bus, users().group_admin, &[]).await;
    let boundary = Boundary1Proxy::new(&asking).await.unwrap();
    let waiting = asked.notified();
    let lockdown = tokio::spawn(async move { boundary.enter_lockdown("drill").await });
    within("the daemon asks polkit", waiting).await;
    let serving = serving_name(&asking).await;
    let seen = askers.lock().clone();
    assert!(
        !seen.contains(&serving),
        "polkit was asked over the serving connection {serving}: {seen:?}"
    );

    let other = another_client_is_answered(&bus, "polkit").await;

    // No answer from polkit in time means denied: fail closed.
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), lockdown)
        .await
        .expect("a call waiting for a silent polkit is answered within 20 s")
        .unwrap();
    assert!(
        matches!(outcome, Err(zbus::Error::FDO(ref e)) if matches!(**e, zbus::fdo::Error::AccessDenied(_))),
        "a call polkit never answered was not denied: {outcome:?}"
    );
    let mode: String = boundary_property(&other, "Mode").await.try_into().unwrap();
    assert_eq!(mode, "AIRGAP", "nothing changed");
}
