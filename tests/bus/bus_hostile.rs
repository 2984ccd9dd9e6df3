//! Hostile callers on the bus: oversized strings and arrays, deep nesting, wrong types, a
//! million keys, a connection that opens sessions without end, a client that never reads its
//! replies, a flood of calls. Each offender gets a named error (InvalidArgs naming the key,
//! LimitReached, or the bus's own refusal), while a well-behaved client on another connection
//! keeps getting right answers and the daemon's memory stays bounded.
//!
//! The bus is a private dbus-daemon with the limits of a stock system bus written out
//! (`TestBus`): messages up to 32 MiB, 127 MiB queued per connection each way, 128 calls awaiting
//! a reply per connection. The offender speaks raw D-Bus (tests/common/raw.rs) so it can send
//! what a library would refuse to build.

use crate::common::bus::*;
use crate::common::raw::*;
use std::time::{Duration, Instant};

const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
const LIMIT_REACHED: &str = "org.learningcontracts.Error.LimitReached";
const LIMITS_EXCEEDED: &str = "org.freedesktop.DBus.Error.LimitsExceeded";
const ENFORCEMENT: &str = "org.learningcontracts.Enforcement1";
const CONTRACTS: &str = "org.learningcontracts.Contracts1";
const SESSIONS: &str = "org.learningcontracts.Sessions1";
const MIB: usize = 1024 * 1024;

/// How much the daemon's peak resident memory may grow over a whole attack. Its largest input
/// is one message of at most 32 MiB (the bus's limit); this allows for that message, zbus's
/// copy of it and what the allocator keeps, and fails on anything proportional to a flood.
const GROWTH_BOUND_KIB: u64 = 96 * 1024;

struct Setup {
    daemon: DaemonProcess,
    bus: TestBus,
    /// The well-behaved client: the owner of an Active contract over "coding".
    witness: Enforcement1Proxy<'static>,
    _witness_connection: zbus::Connection,
}

async fn setup() -> Setup {
    let bus = TestBus::start();
    // The shipped defaults, but for the mode and authorization.
    let daemon = DaemonProcess::start(&bus, &unix_config("AIRGAP", "", ""));
    let connection = connect_as(&bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&connection).await.unwrap();
    activate_new(&contracts, "procedural", episodic_spec(&["coding"])).await;
    let witness = Enforcement1Proxy::new(&connection).await.unwrap();
    let s = Setup {
        daemon,
        bus,
        witness,
        _witness_connection: connection,
    };
    s.witness_is_served("before the attack").await;
    s
}

impl Setup {
    fn pid(&self) -> u32 {
        self.daemon.child.id()
    }

    /// The witness's check is answered, and answered right.
    async fn witness_is_served(&self, when: &str) {
        self.witness_is_served_before(when, Duration::from_secs(5))
            .await;
    }

    /// The same, with a longer guard against hanging (behind a flood), printing how long it
    /// took.
    async fn witness_is_served_before(&self, when: &str, guard: Duration) {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            guard,
            self.witness
                .check_memory_creation(&check_request("coding", "work", 1)),
        )
        .await
        .unwrap_or_else(|_| panic!("the witness's check {when} was not answered in {guard:?}"))
        .unwrap_or_else(|err| panic!("the witness's check {when} failed: {err}"));
        assert_eq!(
            (answer.0, answer.1.as_str()),
            (true, "allowed"),
            "the witness's check {when}: {answer:?}"
        );
        if guard > Duration::from_secs(5) {
            eprintln!(
                "the witness's check {when}: answered in {:?}",
                started.elapsed()
            );
        }
    }

    /// The daemon is still running.
    fn alive(&mut self, when: &str) {
        if let Some(status) = self.daemon.child.try_wait().unwrap() {
            panic!(
                "the daemon exited {when} with {status}:\n{}",
                self.daemon.log()
            );
        }
    }

    fn rss(&self) -> (u64, u64) {
        (proc_kib(self.pid(), "VmRSS"), proc_kib(self.pid(), "VmHWM"))
    }

    /// Asserts the peak grew by at most GROWTH_BOUND_KIB since `before` (a VmHWM), and prints it.
    fn assert_bounded(&self, what: &str, before: u64) {
        let (rss, hwm) = self.rss();
        eprintln!("{what}: daemon VmRSS {rss} KiB, VmHWM {hwm} KiB (peak before: {before} KiB)");
        assert!(
            hwm.saturating_sub(before) <= GROWTH_BOUND_KIB,
            "{what}: the daemon's peak memory grew by {} KiB (VmHWM {before} → {hwm} KiB), more than {GROWTH_BOUND_KIB} KiB",
            hwm - before
        );
    }
}

/// Runs blocking raw-socket work off the async workers.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(work).await.unwrap()
}

fn expect_invalid_args(what: &str, reply: &Reply, key: &str) {
    assert_eq!(reply.error_name(), INVALID_ARGS, "{what}: {reply:?}");
    assert!(
        reply.message().contains(key),
        "{what}: the message does not name '{key}': {}",
        reply.message()
    );
    assert!(
        reply.message().len() < 1024,
        "{what}: the message echoes the input ({} bytes)",
        reply.message().len()
    );
}

// --- the attacks, each usable on its own daemon or in the whole suite --------------------------

async fn oversized_strings_and_arrays(s: &mut Setup) {
    let mut raw = RawClient::connect(&s.bus, users().other);
    // A 16 MiB string as the domain.
    let long = "a".repeat(16 * MIB);
    let serial = raw.call_daemon(
        ENFORCEMENT,
        "CheckMemoryCreation",
        "a{sv}",
        &dict_body(|e| {
            e.entry("domain", "s", |e| e.str(&long));
            e.entry("context", "s", |e| e.str("work"));
            e.entry("classification", "y", |e| e.byte(1));
        }),
    );
    s.witness_is_served("while a 16 MiB string waits").await;
    let (reply, mut raw) = blocking(move || (raw.reply(serial), raw)).await;
    expect_invalid_args("a 16 MiB domain", &reply.unwrap(), "domain");

    // A million domains in a spec.
    let body = {
        let mut enc = Enc::default();
        enc.str("episodic");
        enc.dict(|e| {
            e.entry("domains", "as", |e| {
                e.array(4, |e| {
                    for n in 0..1_000_000 {
                        e.str(&format!("d{n}"));
                    }
                })
            });
            e.entry("contexts", "as", |e| e.array(4, |e| e.str("*")));
            e.entry("retention", "s", |e| e.str("permanent"));
        });
        enc.buf
    };
    let serial = raw.call_daemon(CONTRACTS, "CreateDraft", "sa{sv}", &body);
    s.witness_is_served("while a million domains wait").await;
    let (reply, raw) = blocking(move || (raw.reply(serial), raw)).await;
    expect_invalid_args("a million domains", &reply.unwrap(), "domains");
    raw.close();

    // Past the bus's message size (32 MiB) the bus itself hangs up on the sender; the message
    // never reaches the daemon.
    let mut raw = RawClient::connect(&s.bus, users().other);
    let huge = "a".repeat(40 * MIB);
    let body = dict_body(|e| e.entry("domain", "s", |e| e.str(&huge)));
    raw.call_daemon(ENFORCEMENT, "CheckMemoryCreation", "a{sv}", &body);
    let hung_up = blocking(move || raw.hung_up()).await;
    assert!(hung_up, "the bus did not hang up on a 40 MiB message");
    s.alive("after oversized input");
    s.witness_is_served("after oversized input").await;
}

/// A variant holding a variant … `depth` deep, around the string "coding", as the domain.
fn nested_domain(depth: usize) -> Vec<u8> {
    dict_body(|e| {
        e.entry("domain", "v", |e| {
            for _ in 1..depth {
                e.sig("v");
            }
            e.sig("s");
            e.str("coding");
        });
        e.entry("context", "s", |e| e.str("work"));
        e.entry("classification", "y", |e| e.byte(1));
    })
}

/// Arrays nested `depth` deep (one element each) around the string "coding", as the domains.
fn nested_domains(depth: usize) -> Vec<u8> {
    let mut enc = Enc::default();
    enc.str("episodic");
    enc.dict(|e| {
        let signature = format!("{}s", "a".repeat(depth));
        e.entry("domains", &signature, |e| {
            fn level(e: &mut Enc, left: usize) {
                if left == 0 {
                    e.str("coding");
                } else {
                    e.array(4, |e| level(e, left - 1));
                }
            }
            level(e, depth);
        });
    });
    enc.buf
}

/// What happened to one nested request: the daemon's answer, or the bus hanging up.
async fn send_nested(
    bus: &TestBus,
    interface: &str,
    member: &str,
    sig: &str,
    body: Vec<u8>,
) -> Option<Reply> {
    let mut raw = RawClient::connect(bus, users().other);
    let interface = interface.to_string();
    let member = member.to_string();
    let sig = sig.to_string();
    blocking(move || {
        let serial = raw.call_daemon(&interface, &member, &sig, &body);
        raw.reply(serial).ok()
    })
    .await
}

async fn deep_nesting(s: &mut Setup) {
    let mut table = Vec::new();
    for depth in [2, 16, 31, 32, 33, 63, 64, 65, 100, 1000] {
        let outcome = send_nested(
            &s.bus,
            ENFORCEMENT,
            "CheckMemoryCreation",
            "a{sv}",
            nested_domain(depth),
        )
        .await;
        s.alive(&format!("after variants nested {depth} deep"));
        s.witness_is_served(&format!("after variants nested {depth} deep"))
            .await;
        table.push(format!("variants {depth}: {outcome:?}"));
        match outcome {
            // The daemon answered: the domain must be a string, and a variant is not one.
            Some(reply) => expect_invalid_args(&format!("variants {depth} deep"), &reply, "domain"),
            // dbus-daemon hung up on a message nested deeper than the D-Bus spec allows.
            None => assert!(depth > 33, "the bus hung up at variant depth {depth}"),
        }
    }
    for depth in [2, 31, 32, 33, 40] {
        let outcome = send_nested(
            &s.bus,
            CONTRACTS,
            "CreateDraft",
            "sa{sv}",
            nested_domains(depth),
        )
        .await;
        s.alive(&format!("after arrays nested {depth} deep"));
        s.witness_is_served(&format!("after arrays nested {depth} deep"))
            .await;
        table.push(format!("arrays {depth}: {outcome:?}"));
        match outcome {
            Some(reply) => expect_invalid_args(&format!("arrays {depth} deep"), &reply, "domains"),
            None => assert!(depth > 31, "the bus hung up at array depth {depth}"),
        }
    }
    eprintln!("nesting outcomes:\n  {}", table.join("\n  "));
}

async fn wrong_types(s: &mut Setup) {
    let mut raw = RawClient::connect(&s.bus, users().other);
    let mut cases: Vec<(&str, &str, &str, Vec<u8>)> = Vec::new();
    let mut string_body = Enc::default();
    string_body.str("coding");
    cases.push((ENFORCEMENT, "CheckRecall", "s", string_body.buf.clone()));
    cases.push((ENFORCEMENT, "CheckRecall", "", vec![]));
    let mut ss = Enc::default();
    ss.array(8, |e| {
        e.pad(8);
        e.str("domain");
        e.str("coding");
    });
    cases.push((ENFORCEMENT, "CheckExport", "a{ss}", ss.buf));
    let mut extra = Enc {
        buf: check_body("coding", "work", |_| {}),
    };
    extra.str("and more");
    cases.push((ENFORCEMENT, "CheckMemoryCreation", "a{sv}s", extra.buf));
    let mut uint = Enc::default();
    uint.u32(7);
    cases.push((SESSIONS, "Open", "u", uint.buf));
    cases.push((CONTRACTS, "Get", "u", {
        let mut e = Enc::default();
        e.u32(7);
        e.buf
    }));
    for (interface, member, sig, body) in cases {
        let serial = raw.call_daemon(interface, member, sig, &body);
        let (reply, back) = blocking(move || (raw.reply(serial), raw)).await;
        raw = back;
        let reply = reply.unwrap();
        assert_eq!(
            reply.error_name(),
            INVALID_ARGS,
            "{member} with '{sig}': {reply:?}"
        );
    }
    // Values of types no key has: a struct, a dict, a nested variant of a number.
    for (signature, value) in [
        (
            "(ss)",
            Box::new(|e: &mut Enc| {
                e.pad(8);
                e.str("a");
                e.str("b");
            }) as Box<dyn FnOnce(&mut Enc)>,
        ),
        (
            "a{sv}",
            Box::new(|e: &mut Enc| e.dict(|e| e.entry("x", "b", |e| e.u32(1)))),
        ),
        (
            "d",
            Box::new(|e: &mut Enc| {
                e.pad(8);
                e.buf.extend_from_slice(&1.5f64.to_le_bytes());
            }),
        ),
    ] {
        let body = check_body("coding", "work", |e| e.entry("tool", signature, value));
        let serial = raw.call_daemon(ENFORCEMENT, "CheckMemoryCreation", "a{sv}", &body);
        let (reply, back) = blocking(move || (raw.reply(serial), raw)).await;
        raw = back;
        expect_invalid_args(&format!("tool as '{signature}'"), &reply.unwrap(), "tool");
    }
    raw.close();
    s.alive("after wrongly typed calls");
    s.witness_is_served("after wrongly typed calls").await;
}

async fn a_million_keys(s: &mut Setup) {
    let before = s.rss().1;
    let mut raw = RawClient::connect(&s.bus, users().other);
    let body = check_body("coding", "work", |e| {
        for n in 0..1_000_000 {
            e.entry(&format!("k{n}"), "b", |e| e.u32(1));
        }
    });
    eprintln!("a million keys: a {} MiB message", body.len() / MIB);
    let started = Instant::now();
    let serial = raw.call_daemon(ENFORCEMENT, "CheckMemoryCreation", "a{sv}", &body);
    s.witness_is_served("while a million keys wait").await;
    let (reply, raw) = blocking(move || (raw.reply(serial), raw)).await;
    eprintln!("a million keys: refused in {:?}", started.elapsed());
    expect_invalid_args("a million keys", &reply.unwrap(), "entries");
    raw.close();
    s.alive("after a million keys");
    s.witness_is_served("after a million keys").await;
    s.assert_bounded("a million keys", before);
}

async fn sessions_without_end(s: &mut Setup) {
    let mut raw = RawClient::connect(&s.bus, users().other);
    let empty = dict_body(|_| {});
    let mut opened = 0;
    let mut refusal = None;
    for _ in 0..2000 {
        let serial = raw.call_daemon(SESSIONS, "Open", "a{sv}", &empty);
        let (reply, back) = blocking(move || (raw.reply(serial), raw)).await;
        raw = back;
        match reply.unwrap() {
            Reply::Return => opened += 1,
            refused => {
                refusal = Some(refused);
                break;
            }
        }
    }
    // The default limits: 8 a connection, 32 an owner.
    assert_eq!(opened, 8, "sessions opened over one connection");
    let refusal = refusal.expect("no refusal");
    assert_eq!(refusal.error_name(), LIMIT_REACHED, "{refusal:?}");
    assert!(
        refusal.message().contains("max_per_connection"),
        "{}",
        refusal.message()
    );
    // Refused again, every time.
    for _ in 0..100 {
        let serial = raw.call_daemon(SESSIONS, "Open", "a{sv}", &empty);
        let (reply, back) = blocking(move || (raw.reply(serial), raw)).await;
        raw = back;
        assert_eq!(reply.unwrap().error_name(), LIMIT_REACHED);
    }
    // Others open sessions as before.
    let owner = connect_as(&s.bus, users().owner, &[]).await;
    let sessions = Sessions1Proxy::new(&owner).await.unwrap();
    sessions.open(&Args::new()).await.unwrap();
    s.witness_is_served("while one connection holds its most sessions")
        .await;
    // The offender's sessions end with its connection: the same user opens afresh.
    raw.close();
    let other = connect_as(&s.bus, users().other, &[]).await;
    let sessions = Sessions1Proxy::new(&other).await.unwrap();
    eventually("the offender's sessions to end with its connection", || {
        let sessions = sessions.clone();
        async move {
            let mut ids = Vec::new();
            for _ in 0..8 {
                match sessions.open(&Args::new()).await {
                    Ok(id) => ids.push(id),
                    Err(_) => break,
                }
            }
            let all = ids.len() == 8;
            for id in ids {
                sessions.end(&id).await.unwrap();
            }
            all.then_some(())
        }
    })
    .await;
    s.alive("after sessions without end");
}

async fn never_reads_replies(s: &mut Setup) {
    let before = s.rss().1;
    let mut raw = RawClient::connect(&s.bus, users().other);
    // Introspection answers with the whole interface description (kilobytes), so the replies
    // the offender never reads pile up fast at the bus. Batches of 100 stay under the bus's
    // 128 calls awaiting replies, so most calls reach the daemon and are answered.
    let calls = 16_000;
    let started = Instant::now();
    let raw = blocking(move || {
        for _ in 0..calls / 100 {
            for _ in 0..100 {
                raw.call(
                    DAEMON,
                    OBJECT,
                    "org.freedesktop.DBus.Introspectable",
                    "Introspect",
                    "",
                    &[],
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        raw
    })
    .await;
    eprintln!("never reads: {calls} calls sent in {:?}", started.elapsed());
    for round in 0..20 {
        s.witness_is_served(&format!("while the offender never reads (round {round})"))
            .await;
    }
    // dbus-daemon keeps what the offender does not read in its queue for that connection
    // (127 MiB at most; past it the bus rejects further messages to it); the daemon only ever
    // writes to its own socket. The offender leaves without reading anything.
    raw.close();
    s.alive("after a client that never reads");
    s.witness_is_served("after a client that never reads").await;
    s.assert_bounded("a client that never reads", before);
}

async fn flood(s: &mut Setup) {
    let before = s.rss().1;
    let mut raw = RawClient::connect(&s.bus, users().other);
    let calls = 5_000u32;
    let body = check_body("coding", "work", |_| {});
    let (first, mut raw) = blocking(move || {
        let first = raw.call_daemon(ENFORCEMENT, "CheckMemoryCreation", "a{sv}", &body);
        for _ in 1..calls {
            raw.call_daemon(ENFORCEMENT, "CheckMemoryCreation", "a{sv}", &body);
        }
        (first, raw)
    })
    .await;
    // The witness is served while the flood is queued (behind whatever of it the bus has
    // already passed on: the guard is generous, the time is printed, not asserted).
    for round in 0..5 {
        s.witness_is_served_before(
            &format!("during a flood (round {round})"),
            Duration::from_secs(120),
        )
        .await;
    }
    // The flood's calls are answered by the daemon, or by the bus with LimitsExceeded once 128
    // of the offender's calls await replies; nothing else comes back.
    let (answered, limited) = blocking(move || {
        let raw = &mut raw;
        raw.set_read_timeout(Duration::from_secs(10));
        let (mut answered, mut limited) = (0u32, 0u32);
        for serial in first..first + calls {
            match raw.reply(serial) {
                Ok(Reply::Return) => answered += 1,
                Ok(Reply::Error(name, message)) => {
                    assert_eq!(name, LIMITS_EXCEEDED, "{message}");
                    limited += 1;
                }
                Err(_) => break,
            }
        }
        (answered, limited)
    })
    .await;
    eprintln!(
        "flood: of {calls} calls, {answered} answered by the daemon, {limited} refused by the bus"
    );
    assert!(answered > 0, "no call of the flood was answered");
    s.alive("after a flood");
    s.witness_is_served("after a flood").await;
    s.assert_bounded("a flood", before);
}

// --- the tests -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_strings_and_arrays_are_refused_and_others_served() {
    if !require_root("oversized_strings_and_arrays_are_refused_and_others_served") {
        return;
    }
    let mut s = setup().await;
    let before = s.rss().1;
    oversized_strings_and_arrays(&mut s).await;
    s.assert_bounded("oversized strings and arrays", before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_is_refused_without_a_crash() {
    if !require_root("deep_nesting_is_refused_without_a_crash") {
        return;
    }
    let mut s = setup().await;
    deep_nesting(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_get_invalid_args() {
    if !require_root("wrong_types_get_invalid_args") {
        return;
    }
    let mut s = setup().await;
    wrong_types(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_keys_are_refused_with_memory_bounded() {
    if !require_root("a_million_keys_are_refused_with_memory_bounded") {
        return;
    }
    let mut s = setup().await;
    a_million_keys(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_opening_sessions_without_end_reaches_its_limit() {
    if !require_root("a_connection_opening_sessions_without_end_reaches_its_limit") {
        return;
    }
    let mut s = setup().await;
    sessions_without_end(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_hold_up_others() {
    if !require_root("a_client_that_never_reads_does_not_hold_up_others") {
        return;
    }
    let mut s = setup().await;
    never_reads_replies(&mut s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_client_does_not_starve_another() {
    if !require_root("a_flood_from_one_client_does_not_starve_another") {
        return;
    }
    let mut s = setup().await;
    flood(&mut s).await;
}

/// Every attack in turn on one daemon; its peak memory at the end is what the README reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_hostile_suite_leaves_memory_bounded() {
    if !require_root("the_whole_hostile_suite_leaves_memory_bounded") {
        return;
    }
    let mut s = setup().await;
    let (rss, before) = s.rss();
    eprintln!("suite: daemon VmRSS {rss} KiB, VmHWM {before} KiB before");
    oversized_strings_and_arrays(&mut s).await;
    deep_nesting(&mut s).await;
    wrong_types(&mut s).await;
    a_million_keys(&mut s).await;
    sessions_without_end(&mut s).await;
    never_reads_replies(&mut s).await;
    flood(&mut s).await;
    s.assert_bounded("the whole hostile suite", before);
}
