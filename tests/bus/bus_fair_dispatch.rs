//! One connection's pipelined calls never hold up another connection's call (issue 12, item 3
//! and the adversarial target on the owner's check latency).
//!
//! The test asserts order, not time. The daemon numbers every message it sends in the order
//! it sends it, and the bus passes those serials on unchanged, so each reply's serial tells
//! when the daemon answered. A stranger puts 127 checks in flight on each of four connections,
//! then a `Peer.Ping` behind them on each; once all four pings are answered, every one of the
//! stranger's calls has reached the daemon. Only then does the owner ask one check. Served in
//! arrival order, the owner's answer comes after all 508 of the stranger's; served fairly, it
//! comes after a handful.

use crate::common::bus::*;
use crate::common::raw::{RawClient, Reply, check_body};
use std::sync::mpsc;

/// Checks the stranger keeps in flight per connection: with the ping, the 128 replies the bus
/// lets one connection wait for.
const PIPELINED: usize = 127;
const CONNECTIONS: usize = 4;

/// What one stranger connection saw: the daemon's serial of each check's reply.
struct Seen {
    check_reply_serials: Vec<u32>,
}

/// Sends `PIPELINED` denied checks and a ping on a connection of the stranger's; says on
/// `pinged` when the ping is answered, then reads the rest.
fn stranger_connection(
    bus: &TestBus,
    uid: u32,
    pinged: mpsc::Sender<()>,
) -> std::thread::JoinHandle<Seen> {
    let mut client = RawClient::connect(bus, uid);
    std::thread::spawn(move || {
        for _ in 0..PIPELINED {
            client.call_daemon(
                "org.learningcontracts.Enforcement1",
                "CheckMemoryCreation",
                "a{sv}",
                &check_body("coding", "work", |_| {}),
            );
        }
        let ping = client.call_daemon("org.freedesktop.DBus.Peer", "Ping", "", &[]);
        let mut seen = Seen {
            check_reply_serials: Vec::new(),
        };
        let mut ping_answered = false;
        while !(ping_answered && seen.check_reply_serials.len() == PIPELINED) {
            let (serial, answers, reply) = client.next_reply_numbered().unwrap();
            if answers == ping {
                assert!(matches!(reply, Reply::Return), "Ping failed: {reply:?}");
                ping_answered = true;
                pinged.send(()).unwrap();
                continue;
            }
            if let Reply::Error(name, message) = &reply {
                panic!("a stranger's check got an error, not a decision: {name}: {message}");
            }
            seen.check_reply_serials.push(serial);
        }
        client.close();
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connections_pipelined_calls_do_not_hold_up_another_connections_call() {
    if !require_root("one_connections_pipelined_calls_do_not_hold_up_another_connections_call") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", ""));
    let users = users();
    let owner = connect_as(&bus, users.owner, &[]).await;
    let request = check_request("coding", "work", 1);
    // Once unloaded, so that the owner's identity is known before the race.
    let _: (bool, String, String, String) =
        call_daemon(&owner, "Enforcement1", "CheckMemoryCreation", &(&request,))
            .await
            .unwrap();

    let (pinged, pings) = mpsc::channel();
    let strangers: Vec<_> = (0..CONNECTIONS)
        .map(|_| stranger_connection(&bus, users.other, pinged.clone()))
        .collect();
    for _ in 0..CONNECTIONS {
        pings
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("every stranger connection's ping is answered");
    }
    let reply = owner
        .call_method(
            Some(BUS_NAME),
            PATH,
            Some("org.learningcontracts.Enforcement1"),
            "CheckMemoryCreation",
            &(&request,),
        )
        .await
        .unwrap();
    let owner_reply_serial = reply.primary_header().serial_num().get();

    let mut answered_before = 0;
    for stranger in strangers {
        let seen = stranger.join().unwrap();
        answered_before += seen
            .check_reply_serials
            .iter()
            .filter(|serial| **serial < owner_reply_serial)
            .count();
    }
    let total = PIPELINED * CONNECTIONS;
    println!(
        "the daemon answered {answered_before} of the stranger's {total} checks before the owner's"
    );
    assert!(
        answered_before < total / 2,
        "the owner's check was answered after {answered_before} of the stranger's {total} \
         pipelined checks: the daemon served them in arrival order"
    );
}

/// Sends `count` denied checks at once on `client` and reads all their replies, in the order
/// they come: a decision, or an error's name and message.
fn pipelined_checks(client: &mut RawClient, count: usize) -> Vec<Result<(), (String, String)>> {
    pipelined_checks_in(client, count, "work")
}

/// As [`pipelined_checks`], each check naming `context`.
fn pipelined_checks_in(
    client: &mut RawClient,
    count: usize,
    context: &str,
) -> Vec<Result<(), (String, String)>> {
    for _ in 0..count {
        client.call_daemon(
            "org.learningcontracts.Enforcement1",
            "CheckMemoryCreation",
            "a{sv}",
            &check_body("coding", context, |_| {}),
        );
    }
    (0..count)
        .map(|_| match client.next_reply_numbered().unwrap().2 {
            Reply::Return => Ok(()),
            Reply::Error(name, message) => Err((name, message)),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_a_connections_queue_are_refused_with_limit_reached_and_the_rest_answered() {
    if !require_root(
        "calls_past_a_connections_queue_are_refused_with_limit_reached_and_the_rest_answered",
    ) {
        return;
    }
    let bus = TestBus::start();
    // One call runs at a time, two wait, and a pace of one a second keeps them waiting.
    // Refusals are audited in aggregates written every second.
    let limits = "[limits]\ncalls_running_per_connection = 1\ncalls_waiting_per_connection = 2\ncalls_per_second_per_uid = 1\ndenial_audit_interval_secs = 1\n";
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", limits));
    let admin = connect_as(&bus, 0, &[0]).await;
    let audit = Audit1Proxy::new(&admin).await.unwrap();
    let seq_before = audit.head_seq().await.unwrap();
    let mut stranger = RawClient::connect(&bus, users().other);
    // A first call, so that the daemon knows the connection's uid (and paces it).
    assert_eq!(pipelined_checks(&mut stranger, 1), vec![Ok(())]);

    let replies = pipelined_checks(&mut stranger, 10);
    let refused: Vec<_> = replies.iter().filter_map(|r| r.as_ref().err()).collect();
    let answered = replies.iter().filter(|r| r.is_ok()).count();
    assert!(
        (6..=7).contains(&refused.len()),
        "with one running and two waiting, 6 or 7 of 10 pipelined calls are refused: {replies:?}"
    );
    assert_eq!(answered + refused.len(), 10);
    for (name, message) in &refused {
        assert_eq!(name, "org.learningcontracts.Error.LimitReached");
        assert!(
            message.contains("limits.calls_waiting_per_connection"),
            "the refusal names the setting: {message}"
        );
    }

    // The refusals are audited, aggregated, under the stranger's uid and the call's name.
    let stranger_uid = users().other;
    let counted = eventually("the lanes' refusals to be audited", || async {
        let counted: u64 = records_after(&audit, seq_before)
            .await
            .iter()
            .filter(|(uid, action, details)| {
                *uid == stranger_uid
                    && action == "call.refused"
                    && details["call"] == "Enforcement1.CheckMemoryCreation"
                    && details["code"] == "org.learningcontracts.Error.LimitReached"
            })
            .map(|(_, _, details)| details["count"].as_u64().unwrap_or(1))
            .sum();
        (counted >= refused.len() as u64).then_some(counted)
    })
    .await;
    assert_eq!(
        counted,
        refused.len() as u64,
        "each refusal is counted once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_calls_are_bounded_in_bytes_too() {
    if !require_root("waiting_calls_are_bounded_in_bytes_too") {
        return;
    }
    let bus = TestBus::start();
    // Room for 100 calls but only 3000 bytes of them; each call below is over 1000 bytes.
    let limits = "[limits]\ncalls_running_per_connection = 1\ncalls_waiting_per_connection = 100\ncalls_waiting_bytes_per_connection = 3000\ncalls_per_second_per_uid = 1\n";
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", limits));
    let mut stranger = RawClient::connect(&bus, users().other);
    assert_eq!(pipelined_checks(&mut stranger, 1), vec![Ok(())]);

    // A context this long is refused by the check itself (InvalidArgs), once it runs.
    let context = "x".repeat(1000);
    let replies = pipelined_checks_in(&mut stranger, 10, &context);
    let refused: Vec<_> = replies
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|(name, _)| name != "org.freedesktop.DBus.Error.InvalidArgs")
        .collect();
    // One runs at once, one or two more wait (the first may be done before the last come).
    assert!(
        (6..=8).contains(&refused.len()),
        "with 3000 bytes of queue, 6 to 8 of 10 calls of over 1000 bytes are refused: {replies:?}"
    );
    for (name, message) in refused {
        assert_eq!(name, "org.learningcontracts.Error.LimitReached");
        assert!(
            message.contains("limits.calls_waiting_bytes_per_connection"),
            "the refusal names the setting: {message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uid_past_its_pace_waits_for_its_turn_and_is_not_refused() {
    if !require_root("a_uid_past_its_pace_waits_for_its_turn_and_is_not_refused") {
        return;
    }
    let bus = TestBus::start();
    let limits = "[limits]\ncalls_per_second_per_uid = 20\n";
    let _daemon = DaemonProcess::start(&bus, &static_config("AIRGAP", limits));
    let mut stranger = RawClient::connect(&bus, users().other);
    assert_eq!(pipelined_checks(&mut stranger, 1), vec![Ok(())]);

    // A burst of one second's worth (20) starts at once; the other 40 start 50 ms apart, so
    // the 60 cannot all be answered in less than about two seconds, however fast the machine.
    let started = std::time::Instant::now();
    let replies = pipelined_checks(&mut stranger, 60);
    let took = started.elapsed();
    assert!(
        replies.iter().all(|r| r.is_ok()),
        "paced calls are answered, not refused: {replies:?}"
    );
    assert!(
        took >= std::time::Duration::from_millis(1500),
        "60 calls at a pace of 20 a second were all answered in {took:?}: the pace is not applied"
    );
}
