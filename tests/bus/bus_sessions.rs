//! Sessions on a real bus (SEMANTICS.md section 10): a session belongs to the connection that
//! opened it and ends when that connection leaves the bus or after the idle time; its
//! session-scoped contracts then expire and their memories freeze. An owner may hold only so
//! many sessions.

use crate::common;

use crate::common::bus::*;
use crate::common::in_process::InProcessDaemon;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use zbus::OwnedVariant;

type Dict = HashMap<String, OwnedVariant>;

const LIMIT_REACHED: &str = "org.learningcontracts.Error.LimitReached";

async fn creation_code(enforcement: &Enforcement1Proxy<'_>, domain: &str) -> String {
    let (_, code, ..) = enforcement
        .check_memory_creation(&check_request(domain, "support", 1))
        .await
        .unwrap();
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_its_connection_leaves_the_bus() {
    if !require_root("a_session_ends_when_its_connection_leaves_the_bus") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner_uid = users().owner;
    // The observer is the same user on another connection.
    let observer = connect_as(&bus, owner_uid, &[]).await;
    let contracts = Contracts1Proxy::new(&observer).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&observer).await.unwrap();
    let memories = Memories1Proxy::new(&observer).await.unwrap();
    let observer_sessions = Sessions1Proxy::new(&observer).await.unwrap();
    let mut ended = observer_sessions.receive_session_ended().await.unwrap();
    let mut changes = contracts.receive_contract_changed().await.unwrap();
    let bound = activate_new(&contracts, "episodic", session_spec(&["chat"])).await;
    let kept = activate_new(&contracts, "episodic", session_spec(&["notes"])).await;
    // A session of the observer's own, which must outlive the other connection.
    let observers_session = observer_sessions.open(&Args::new()).await.unwrap();
    observer_sessions
        .bind(&observers_session, &kept)
        .await
        .unwrap();

    let opener = connect_as(&bus, owner_uid, &[]).await;
    let sessions = Sessions1Proxy::new(&opener).await.unwrap();
    let agent = Enforcement1Proxy::new(&opener).await.unwrap();
    let session = sessions.open(&Args::new()).await.unwrap();
    sessions.bind(&session, &bound).await.unwrap();
    assert_eq!(creation_code(&enforcement, "chat").await, "allowed");
    let mut request = check_request("chat", "support", 1);
    request.extend(dict(&[("memory_id", "m-chat".into())]));
    let (allowed, code, ..) = agent.register_memory(&request).await.unwrap();
    assert!(allowed, "{code}");

    // The agent goes away without ending its session.
    drop(agent);
    drop(sessions);
    drop(opener);

    let signal = within("SessionEnded", ended.next()).await.unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (
            args.session_id().to_string(),
            args.expired_contract_ids().clone()
        ),
        (session.clone(), vec![bound.clone()])
    );
    let expired = contracts.get(&bound).await.unwrap();
    assert_eq!(field::<String>(&expired, "state"), "expired");
    assert!(!field::<bool>(&expired, "effective"));
    let announced = within("ContractChanged(expired)", async {
        loop {
            let signal = changes.next().await.unwrap();
            let args = signal.args().unwrap();
            if args.id() == &bound && args.state() == "expired" {
                return args.reason().to_string();
            }
        }
    })
    .await;
    assert!(announced.contains("session"), "{announced}");
    assert_ne!(creation_code(&enforcement, "chat").await, "allowed");
    assert_eq!(
        field::<String>(&memories.get("m-chat").await.unwrap(), "status"),
        "frozen"
    );

    // The observer's session and its contract are untouched.
    assert_eq!(
        field::<String>(&contracts.get(&kept).await.unwrap(), "state"),
        "active"
    );
    assert_eq!(creation_code(&enforcement, "notes").await, "allowed");
    observer_sessions.end(&observers_session).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_after_the_idle_time() {
    if !require_root("an_idle_session_ends_after_the_idle_time") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(
        &bus,
        &static_config("AIRGAP", "[sessions]\nidle_timeout_secs = 1\n"),
    );
    let owner_uid = users().owner;
    let observer = connect_as(&bus, owner_uid, &[]).await;
    let contracts = Contracts1Proxy::new(&observer).await.unwrap();
    let mut ended = Sessions1Proxy::new(&observer)
        .await
        .unwrap()
        .receive_session_ended()
        .await
        .unwrap();
    let id = activate_new(&contracts, "episodic", session_spec(&["chat"])).await;

    let opener = connect_as(&bus, owner_uid, &[]).await;
    let sessions = Sessions1Proxy::new(&opener).await.unwrap();
    let agent = Enforcement1Proxy::new(&opener).await.unwrap();
    let session = sessions.open(&Args::new()).await.unwrap();
    sessions.bind(&session, &id).await.unwrap();

    // An agent that keeps calling keeps its session.
    let busy_until = Instant::now() + Duration::from_millis(1800);
    while Instant::now() < busy_until {
        assert_eq!(creation_code(&agent, "chat").await, "allowed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        field::<String>(&contracts.get(&id).await.unwrap(), "state"),
        "active",
        "the session ended although its agent kept calling"
    );

    // Then it falls silent, and the session ends after the idle time.
    let silent = Instant::now();
    let signal = within("SessionEnded after the idle time", ended.next())
        .await
        .unwrap();
    let waited = silent.elapsed();
    let args = signal.args().unwrap();
    assert_eq!(
        (
            args.session_id().to_string(),
            args.expired_contract_ids().clone()
        ),
        (session.clone(), vec![id.clone()])
    );
    assert!(
        waited >= Duration::from_millis(700),
        "the session ended {waited:?} after the last call, before the idle time"
    );
    assert_eq!(
        field::<String>(&contracts.get(&id).await.unwrap(), "state"),
        "expired"
    );
    // The connection is still there, but the session is gone.
    assert_eq!(
        outcome(&sessions.end(&session).await),
        "org.learningcontracts.Error.NotFound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_holds_at_most_max_per_owner_sessions() {
    if !require_root("an_owner_holds_at_most_max_per_owner_sessions") {
        return;
    }
    let u = users();
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(
        &bus,
        &unix_config(
            "AIRGAP",
            "",
            &format!(
                "[sessions]\nmax_per_owner = 2\n\n[[delegation]]\nagent = {}\nowners = [{}]\n",
                u.agent, u.owner
            ),
        ),
    );
    let owner = Sessions1Proxy::new(&connect_as(&bus, u.owner, &[]).await)
        .await
        .unwrap();
    let agent = Sessions1Proxy::new(&connect_as(&bus, u.agent, &[]).await)
        .await
        .unwrap();
    let other = Sessions1Proxy::new(&connect_as(&bus, u.other, &[]).await)
        .await
        .unwrap();

    let first = owner.open(&Args::new()).await.unwrap();
    let _second = agent.open(&Args::new()).await.unwrap();
    let refused = owner.open(&Args::new()).await;
    assert_eq!(outcome(&refused), LIMIT_REACHED, "{refused:?}");
    assert_eq!(outcome(&agent.open(&Args::new()).await), LIMIT_REACHED);
    // The limit is per owner.
    other.open(&Args::new()).await.unwrap();
    other.open(&Args::new()).await.unwrap();
    assert_eq!(outcome(&other.open(&Args::new()).await), LIMIT_REACHED);
    // Ending one makes room again.
    owner.end(&first).await.unwrap();
    owner.open(&Args::new()).await.unwrap();
    assert_eq!(outcome(&owner.open(&Args::new()).await), LIMIT_REACHED);
}

/// The audit records of `action` whose caller was one of `callers`, as their session ids.
fn audited_sessions(records: &[Dict], action: &str, callers: &[String]) -> Vec<String> {
    records
        .iter()
        .filter(|r| field::<String>(r, "action") == action)
        .filter(|r| action != "session.open" || callers.contains(&field::<String>(r, "caller_bus")))
        .map(|r| {
            let details: serde_json::Value =
                serde_json::from_str(&field::<String>(r, "details")).unwrap();
            details["session_id"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_connection_left_before_open_committed_ends_at_once() {
    if !require_root("a_session_whose_connection_left_before_open_committed_ends_at_once") {
        return;
    }
    const AGENTS: usize = 20;
    const MAX_ROUNDS: usize = 10;
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner_uid = users().owner;
    let observer = connect_as(&bus, owner_uid, &[]).await;
    let contracts = Contracts1Proxy::new(&observer).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&observer).await.unwrap();
    let observer_sessions = Sessions1Proxy::new(&observer).await.unwrap();
    let root = connect_as(&bus, 0, &[0]).await;
    let audit: Audit1Proxy = uncached(&root).await;

    // Each agent makes a check (so the daemon knows its credentials and need not ask the bus),
    // then asks for a session without waiting for the answer and leaves at once, so its
    // connection may be gone before the Open commits. Often the daemon cannot even identify
    // the agent any more and opens nothing; rounds go on until some sessions were opened.
    let mut agents = Vec::new();
    for _ in 0..MAX_ROUNDS {
        for _ in 0..AGENTS {
            let mut agent = common::raw::RawClient::connect(&bus, owner_uid);
            let check = agent.call_daemon(
                "org.learningcontracts.Enforcement1",
                "CheckMemoryCreation",
                "a{sv}",
                &common::raw::check_body("chat", "support", |_| {}),
            );
            assert_eq!(agent.reply(check).unwrap(), common::raw::Reply::Return);
            agent.call_daemon_no_reply(
                "org.learningcontracts.Sessions1",
                "Open",
                "a{sv}",
                &common::raw::dict_body(|_| {}),
            );
            agents.push(agent.unique_name());
            agent.close();
        }
        let records = audit.read(0, 10_000).await.unwrap();
        if !audited_sessions(&records, "session.open", &agents).is_empty() {
            break;
        }
    }

    // Every session an agent opened ends, without waiting for the idle time (an hour).
    let opened = eventually("every opened session to end", || async {
        let records = audit.read(0, 10_000).await.unwrap();
        let opened = audited_sessions(&records, "session.open", &agents);
        let ended = audited_sessions(&records, "session.end", &agents);
        (!opened.is_empty() && opened.iter().all(|id| ended.contains(id))).then_some(opened)
    })
    .await;

    // None of them can still carry a session contract.
    for session in &opened {
        let id = activate_new(&contracts, "episodic", session_spec(&["chat"])).await;
        let bound = observer_sessions.bind(session, &id).await;
        assert_eq!(
            outcome(&bound),
            "org.learningcontracts.Error.NotFound",
            "session {session} of a departed agent still accepts a binding"
        );
        assert_ne!(creation_code(&enforcement, "chat").await, "allowed");
        contracts.revoke(&id, "test over").await.unwrap();
    }
}
