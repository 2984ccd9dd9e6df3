//! Privacy between local users, on a private system bus with the shipped policy (issue 13,
//! review finding F9): another local user listening to the bus hears nothing of an owner's
//! contracts, memories or sessions, while the owner's own connections and admins do; and no
//! answer to a stranger tells an id of another owner from an id that does not exist, under unix
//! authorization and under a polkit that asks for authentication.

use crate::common::bus::*;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zbus::OwnedVariant;

/// Every message a connection receives from now on (signals matched by its rules and unicast
/// ones), kept in order.
/// Read at once by a task of its own: a stream left unread would stop the connection's reader
/// once zbus's queue is full, and with it the replies to the test's own calls.
fn collect(connection: &zbus::Connection) -> Heard {
    let mut stream = zbus::MessageStream::from(connection);
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if sender.send(message).is_err() {
                return;
            }
        }
    });
    receiver
}

type Heard = tokio::sync::mpsc::UnboundedReceiver<zbus::Message>;

/// What any user may do: a plain match for every signal of the daemon; then every message the
/// connection receives.
async fn listen(connection: &zbus::Connection) -> Heard {
    let stream = collect(connection);
    zbus::fdo::DBusProxy::new(connection)
        .await
        .unwrap()
        .add_match_rule(
            zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .sender(BUS_NAME)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    stream
}

/// Waits on `stream` for the daemon's ModeSwitched signal into `mode`, and returns every message
/// received until then, that one included. The daemon sends its signals in commit order and the
/// bus keeps one sender's order, so everything announced before that mode change has arrived.
async fn until_mode(stream: &mut Heard, mode: &str) -> Vec<zbus::Message> {
    let mut received = Vec::new();
    within(&format!("ModeSwitched into {mode}"), async {
        while let Some(message) = stream.recv().await {
            let done = is_signal(&message, "ModeSwitched")
                && message
                    .body()
                    .deserialize::<(String, String, String)>()
                    .is_ok_and(|(_, new, _)| new == mode);
            received.push(message);
            if done {
                return;
            }
        }
        panic!("the connection closed");
    })
    .await;
    received
}

fn is_signal(message: &zbus::Message, member: &str) -> bool {
    let header = message.header();
    header.message_type() == zbus::message::Type::Signal
        && header.member().is_some_and(|m| m.as_str() == member)
}

/// The messages that name `needle` anywhere in their header or body.
fn naming<'a>(messages: &'a [zbus::Message], needle: &str) -> Vec<&'a zbus::Message> {
    messages
        .iter()
        .filter(|message| {
            let bytes: &[u8] = message.data();
            bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        })
        .collect()
}

fn members(messages: &[zbus::Message]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| m.header().member().map(|m| m.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_listening_to_the_bus_hears_nothing_of_another_owners_work() {
    if !require_root("a_stranger_listening_to_the_bus_hears_nothing_of_another_owners_work") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &unix_config("AIRGAP", "", ""));
    let u = users();

    // The stranger listens as any user can: a plain match for every signal of the daemon.
    let stranger = connect_as(&bus, u.other, &[]).await;
    let mut heard = listen(&stranger).await;
    // A second stranger connection asks to eavesdrop, and to become a monitor: the policy
    // refuses both or delivers nothing more.
    let eavesdropper = connect_as(&bus, u.other, &[]).await;
    let mut overheard = collect(&eavesdropper);
    zbus::fdo::DBusProxy::new(&eavesdropper)
        .await
        .unwrap()
        .add_match_rule(
            zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                .sender(BUS_NAME)
                .member("ModeSwitched")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    let _ = eavesdropper
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "AddMatch",
            &("type='signal',eavesdrop='true'",),
        )
        .await;
    let _ = eavesdropper
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "AddMatch",
            &("eavesdrop='true'",),
        )
        .await;
    let monitor = connect_as(&bus, u.other, &[]).await;
    let became = monitor
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus.Monitoring"),
            "BecomeMonitor",
            &(Vec::<String>::new(), 0u32),
        )
        .await;
    assert!(
        became.is_err(),
        "the policy let another user become a monitor"
    );

    // The owner works on one connection and follows on a second that only subscribed.
    let owner = connect_as(&bus, u.owner, &[]).await;
    let mut owner_heard = listen(&owner).await;
    let follower = connect_as(&bus, u.owner, &[]).await;
    let mut follower_heard = listen(&follower).await;
    assert!(!subscribe(&follower).await, "the owner is no admin");
    let root = connect_as(&bus, 0, &[0]).await;
    let mut root_heard = listen(&root).await;
    assert!(subscribe(&root).await, "root listens as an admin");

    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let as_admin = Contracts1Proxy::new(&root).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&owner).await.unwrap();
    let boundary = Boundary1Proxy::new(&root).await.unwrap();

    // A contract created by the owner and activated by an admin, a memory under it, revoked.
    let revoked = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    contracts.submit(&revoked).await.unwrap();
    as_admin.activate(&revoked).await.unwrap();
    let memory = "owner-private-memory-7f3a";
    let mut request = check_request("coding", "work", 1);
    request.extend(dict(&[("memory_id", memory.into())]));
    let (allowed, code, ..) = enforcement.register_memory(&request).await.unwrap();
    assert!(allowed, "{code}");
    let reason = "health-data-reason-9c1e";
    contracts.revoke(&revoked, reason).await.unwrap();

    // A session with a session-scoped contract bound to it, ended.
    let session = sessions.open(&Args::new()).await.unwrap();
    let scoped = activate_new(&contracts, "episodic", session_spec(&["music"])).await;
    sessions.bind(&session, &scoped).await.unwrap();
    sessions.end(&session).await.unwrap();

    // A contract that a lockdown suspends and its release resumes.
    let suspended = activate_new(&contracts, "episodic", episodic_spec(&["cooking"])).await;
    boundary.enter_lockdown("drill").await.unwrap();
    boundary.release_lockdown("drill over").await.unwrap();
    // A last mode change: once it is heard, everything before it has been delivered.
    boundary.set_override("restricted", "sync").await.unwrap();

    let stranger_got = until_mode(&mut heard, "RESTRICTED").await;

    // The stranger heard the host's state ...
    let heard_members = members(&stranger_got);
    for member in ["ModeSwitched", "PropertiesChanged"] {
        assert!(
            heard_members.iter().any(|m| m == member),
            "the stranger did not hear {member}: {heard_members:?}"
        );
    }
    assert!(
        stranger_got.iter().any(|m| is_signal(m, "ModeSwitched")
            && m.body()
                .deserialize::<(String, String, String)>()
                .is_ok_and(|(_, new, _)| new == "LOCKDOWN")),
        "the stranger did not hear the lockdown"
    );
    // ... and nothing of the owner's.
    let private = [
        revoked.as_str(),
        scoped.as_str(),
        suspended.as_str(),
        memory,
        session.as_str(),
        reason,
    ];
    for needle in private {
        let leaks = naming(&stranger_got, needle);
        assert!(
            leaks.is_empty(),
            "the stranger heard '{needle}' in {:?}",
            members(&leaks.into_iter().cloned().collect::<Vec<_>>())
        );
    }
    for member in [
        "ContractChanged",
        "ContractsSuspended",
        "ContractsResumed",
        "MemoriesChanged",
        "SessionEnded",
    ] {
        assert!(
            !heard_members.iter().any(|m| m == member),
            "the stranger heard {member}: {heard_members:?}"
        );
    }
    // The eavesdropping connection heard no more than the stranger's plain match.
    let sync = boundary.clear_override().await;
    sync.unwrap();
    let overheard_got = until_mode(&mut overheard, "AIRGAP").await;
    for needle in private {
        let leaks = naming(&overheard_got, needle);
        assert!(
            leaks.is_empty(),
            "an eavesdropping stranger heard '{needle}' in {:?}",
            members(&leaks.into_iter().cloned().collect::<Vec<_>>())
        );
    }

    // The owner's connections (the working one, and the one that only subscribed) and the
    // admin heard every signal naming the owner's ids.
    let owner_got = until_mode(&mut owner_heard, "RESTRICTED").await;
    let follower_got = until_mode(&mut follower_heard, "RESTRICTED").await;
    let root_got = until_mode(&mut root_heard, "RESTRICTED").await;
    for (who, got) in [
        ("the owner", &owner_got),
        ("the owner's subscribed connection", &follower_got),
        ("root", &root_got),
    ] {
        for (member, needle) in [
            ("ContractChanged", revoked.as_str()),
            ("ContractChanged", reason),
            ("MemoriesChanged", memory),
            ("SessionEnded", session.as_str()),
            ("ContractsSuspended", suspended.as_str()),
            ("ContractsResumed", suspended.as_str()),
        ] {
            assert!(
                naming(got, needle).iter().any(|m| is_signal(m, member)),
                "{who} did not hear {member} naming '{needle}': {:?}",
                members(got)
            );
        }
        // Unicast: addressed to that connection.
        for message in got.iter().filter(|m| is_signal(m, "ContractChanged")) {
            assert!(message.header().destination().is_some(), "{who}: broadcast");
        }
    }
}

// --- No existence leaks through answers -------------------------------------------------------

/// A polkit authority standing in for polkitd (behind the same D-Bus interface): it answers
/// "authentication would be needed" to every question, so the daemon's answer shows whether it
/// asked.
struct ChallengingPolkit {
    asked: Arc<AtomicUsize>,
}

#[zbus::interface(name = "org.freedesktop.PolicyKit1.Authority")]
impl ChallengingPolkit {
    #[allow(clippy::type_complexity)]
    fn check_authorization(
        &self,
        _subject: (String, HashMap<String, OwnedVariant>),
        _action_id: String,
        _details: HashMap<String, String>,
        _flags: u32,
        _cancellation_id: String,
    ) -> (bool, bool, HashMap<String, String>) {
        self.asked.fetch_add(1, Ordering::SeqCst);
        (false, true, HashMap::new())
    }
}

/// What a stranger is answered, with `id` written as ID so two ids compare.
fn answer<T: std::fmt::Debug>(result: &zbus::Result<T>, id: &str) -> String {
    let text = match result {
        Ok(value) => format!("ok {value:?}"),
        Err(_) => format!("{}: {}", outcome(result), error_message(result)),
    };
    text.replace(id, "ID")
}

/// Everything a stranger can send naming an id, as (what, the answer for `id`). `own_session`
/// is a session of the stranger's own (to name another owner's contract in Bind).
async fn probes(
    stranger: &zbus::Connection,
    id: &str,
    own_session: &str,
) -> Vec<(&'static str, String)> {
    let contracts = Contracts1Proxy::new(stranger).await.unwrap();
    let memories = Memories1Proxy::new(stranger).await.unwrap();
    let sessions = Sessions1Proxy::new(stranger).await.unwrap();
    let enforcement = Enforcement1Proxy::new(stranger).await.unwrap();
    let with = |key: &'static str| {
        let mut request = check_request("coding", "work", 1);
        request.extend(dict(&[(key, id.into())]));
        request
    };
    let mut registration = check_request("coding", "work", 1);
    registration.extend(dict(&[("derived_from", vec![id.to_string()].into())]));
    vec![
        (
            "Contracts1.UpdateDraft",
            answer(&contracts.update_draft(id, &Args::new()).await, id),
        ),
        ("Contracts1.Submit", answer(&contracts.submit(id).await, id)),
        (
            "Contracts1.ReturnToDraft",
            answer(&contracts.return_to_draft(id, "note").await, id),
        ),
        (
            "Contracts1.Activate",
            answer(&contracts.activate(id).await, id),
        ),
        (
            "Contracts1.Amend",
            answer(&contracts.amend(id, &Args::new()).await, id),
        ),
        (
            "Contracts1.Revoke",
            answer(&contracts.revoke(id, "why").await, id),
        ),
        ("Contracts1.Get", answer(&contracts.get(id).await, id)),
        (
            "Contracts1.Summarize",
            answer(&contracts.summarize(id).await, id),
        ),
        ("Memories1.Get", answer(&memories.get(id).await, id)),
        ("Memories1.List", answer(&memories.list(id).await, id)),
        (
            "Memories1.RequestPurge",
            answer(&memories.request_purge(id).await, id),
        ),
        (
            "Memories1.ConfirmPurge",
            answer(&memories.confirm_purge(id, "token").await, id),
        ),
        ("Sessions1.End", answer(&sessions.end(id).await, id)),
        (
            "Sessions1.Bind (their session)",
            answer(&sessions.bind(id, id).await, id),
        ),
        (
            "Sessions1.Bind (own session)",
            answer(&sessions.bind(own_session, id).await, id),
        ),
        (
            "Enforcement1.CheckMemoryCreation contract_id",
            answer(
                &enforcement
                    .check_memory_creation(&with("contract_id"))
                    .await,
                id,
            ),
        ),
        (
            "Enforcement1.CheckRecall memory_id",
            answer(&enforcement.check_recall(&with("memory_id")).await, id),
        ),
        (
            "Enforcement1.CheckExport memory_id",
            answer(&enforcement.check_export(&with("memory_id")).await, id),
        ),
        (
            "Enforcement1.RegisterMemory contract_id",
            answer(&enforcement.register_memory(&with("contract_id")).await, id)
                .split(", ")
                .take(4)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        (
            "Enforcement1.RegisterMemory derived_from",
            answer(&enforcement.register_memory(&registration).await, id)
                .split(", ")
                .take(4)
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]
}

/// The owner's ids of every kind: a draft, an active contract with a memory, a revoked
/// contract, an open session. Returns them with their kind.
async fn owners_ids(bus: &TestBus, root: &zbus::Connection) -> Vec<String> {
    let owner = connect_as(bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let as_admin = Contracts1Proxy::new(root).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&owner).await.unwrap();
    let draft = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    let review = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    contracts.submit(&review).await.unwrap();
    let active = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    contracts.submit(&active).await.unwrap();
    as_admin.activate(&active).await.unwrap();
    let mut request = check_request("coding", "work", 1);
    request.extend(dict(&[("memory_id", "owner-memory-1".into())]));
    let (allowed, code, ..) = enforcement.register_memory(&request).await.unwrap();
    assert!(allowed, "{code}");
    let revoked = contracts
        .create_draft("episodic", &episodic_spec(&["music"]))
        .await
        .unwrap();
    contracts.submit(&revoked).await.unwrap();
    as_admin.activate(&revoked).await.unwrap();
    contracts.revoke(&revoked, "done").await.unwrap();
    let session = sessions.open(&Args::new()).await.unwrap();
    // The owner's connection stays open (its session with it) for the rest of the test.
    std::mem::forget(owner);
    vec![
        draft,
        review,
        active,
        revoked,
        "owner-memory-1".into(),
        session,
    ]
}

/// For every id of the owner, each method answers the stranger exactly as for an id that does
/// not exist (of the same length and shape).
async fn compare(bus: &TestBus, stranger_uid: u32, root: &zbus::Connection) -> usize {
    let ids = owners_ids(bus, root).await;
    let stranger = connect_as(bus, stranger_uid, &[]).await;
    let own_session = Sessions1Proxy::new(&stranger)
        .await
        .unwrap()
        .open(&Args::new())
        .await
        .unwrap();
    let mut differences = Vec::new();
    let mut compared = 0;
    for id in &ids {
        // Same length, never an id of anyone.
        let missing: String = id
            .chars()
            .rev()
            .map(|c| if c.is_ascii_digit() { 'Z' } else { '0' })
            .collect();
        let existing = probes(&stranger, id, &own_session).await;
        let absent = probes(&stranger, &missing, &own_session).await;
        for ((what, seen), (_, unseen)) in existing.iter().zip(&absent) {
            compared += 1;
            if seen != unseen {
                differences.push(format!(
                    "{what} with the owner's '{id}': {seen}\n    with a missing id: {unseen}"
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "answers tell another owner's ids from missing ones:\n  {}",
        differences.join("\n  ")
    );
    compared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_tells_a_stranger_that_another_owners_id_exists() {
    if !require_root("no_answer_tells_a_stranger_that_another_owners_id_exists") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &unix_config("AIRGAP", "", ""));
    let root = connect_as(&bus, 0, &[0]).await;
    let compared = compare(&bus, users().other, &root).await;
    assert!(compared > 100, "{compared}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_tells_a_stranger_that_another_owners_id_exists_under_polkit() {
    if !require_root("no_answer_tells_a_stranger_that_another_owners_id_exists_under_polkit") {
        return;
    }
    let bus = TestBus::start();
    let asked = Arc::new(AtomicUsize::new(0));
    // The stand-in polkitd owns its name before the daemon starts, so the daemon chooses it.
    let polkit = zbus::connection::Builder::unix_stream(
        std::os::unix::net::UnixStream::connect(bus.socket()).unwrap(),
    )
    .serve_at(
        "/org/freedesktop/PolicyKit1/Authority",
        ChallengingPolkit {
            asked: Arc::clone(&asked),
        },
    )
    .name("org.freedesktop.PolicyKit1")
    .build()
    .await
    .unwrap();
    let daemon = DaemonProcess::start(&bus, &polkit_config("AIRGAP", ""));
    let root = connect_as(&bus, 0, &[0]).await;
    compare(&bus, users().other, &root).await;
    assert!(
        asked.load(Ordering::SeqCst) > 0,
        "polkit was never asked; the daemon ran with: {}",
        daemon.log()
    );
    drop(polkit);
}

/// The ids of ContractsSuspended and ContractsResumed that `got` heard, in order.
fn suspension_ids(got: &[zbus::Message], member: &str) -> Vec<Vec<String>> {
    got.iter()
        .filter(|m| is_signal(m, member))
        .map(|m| {
            if member == "ContractsSuspended" {
                m.body().deserialize::<(Vec<String>, String)>().unwrap().0
            } else {
                m.body().deserialize::<(Vec<String>,)>().unwrap().0
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mode_change_tells_each_listener_only_the_contracts_it_may_see() {
    if !require_root("a_mode_change_tells_each_listener_only_the_contracts_it_may_see") {
        return;
    }
    let u = users();
    let bus = TestBus::start();
    let config = unix_config(
        "AIRGAP",
        "staff",
        &format!(
            "[[delegation]]\nagent = {}\nowners = [{}]\n",
            u.agent, u.owner
        ),
    );
    let _daemon = DaemonProcess::start(&bus, &config);
    let owner = connect_as(&bus, u.owner, &[]).await;
    let other = connect_as(&bus, u.other, &[]).await;
    let first = activate_new(
        &Contracts1Proxy::new(&owner).await.unwrap(),
        "episodic",
        episodic_spec(&["coding"]),
    )
    .await;
    let second = activate_new(
        &Contracts1Proxy::new(&other).await.unwrap(),
        "episodic",
        episodic_spec(&["coding"]),
    )
    .await;
    // Listeners that only listen: the owner's delegated agent, a member of the admin group,
    // and a plain user who never subscribed (it hears the mode, nothing else).
    let agent = connect_as(&bus, u.agent, &[]).await;
    let mut agent_heard = listen(&agent).await;
    assert!(!subscribe(&agent).await);
    let group_admin = connect_as(&bus, u.group_admin, &[u.admin_gid]).await;
    let mut admin_heard = listen(&group_admin).await;
    assert!(
        subscribe(&group_admin).await,
        "the admin group listens as admins"
    );
    let unsubscribed = connect_as(&bus, u.group_admin, &[u.admin_gid]).await;
    let mut unsubscribed_heard = listen(&unsubscribed).await;
    let mut owner_heard = listen(&owner).await;
    let mut other_heard = listen(&other).await;

    let root = connect_as(&bus, 0, &[0]).await;
    let boundary = Boundary1Proxy::new(&root).await.unwrap();
    boundary.enter_lockdown("drill").await.unwrap();
    boundary.release_lockdown("drill over").await.unwrap();
    boundary.set_override("restricted", "sync").await.unwrap();

    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    for (who, heard, expected) in [
        ("the owner", &mut owner_heard, vec![first.clone()]),
        ("the other owner", &mut other_heard, vec![second.clone()]),
        ("the owner's agent", &mut agent_heard, vec![first.clone()]),
        ("an admin", &mut admin_heard, both.clone()),
    ] {
        let got = until_mode(heard, "RESTRICTED").await;
        for member in ["ContractsSuspended", "ContractsResumed"] {
            assert_eq!(
                suspension_ids(&got, member),
                std::slice::from_ref(&expected),
                "{who}: {member}"
            );
        }
    }
    let got = until_mode(&mut unsubscribed_heard, "RESTRICTED").await;
    assert!(
        naming(&got, &first).is_empty() && naming(&got, &second).is_empty(),
        "an admin's connection that neither called nor subscribed heard contracts: {:?}",
        members(&got)
    );
}
