//! `Enforcement1.CheckBatch` and `Enforcement1.Generation` on a real daemon over a private bus:
//! a batch answers each request exactly as the single call does (every kind of check, allowed
//! and denied by many codes, unknown and other owners' contracts, a delegated agent), its
//! denials are audited as the single calls' are, a bad batch (unknown check, too many
//! requests, a bad request) is a named error that judges and audits nothing; and Generation
//! moves, with PropertiesChanged, on every kind of change a decision reads, never on a read.

use crate::common::bus::*;
use futures_util::StreamExt;
use std::collections::BTreeMap;

type Request = Args<'static>;
type Answer = (bool, String, String, String);

const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const KINDS: [&str; 4] = ["memory_creation", "abstraction", "recall", "export"];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn spec(domains: &[&str], extra: &[(&'static str, zbus::Variant<'_>)]) -> Request {
    let mut spec = dict(&[
        ("domains", strings(domains).into()),
        ("contexts", strings(&["*"]).into()),
        ("retention", "permanent".into()),
    ]);
    for (key, value) in extra {
        spec.insert(*key, value.try_to_owned().unwrap().into());
    }
    spec
}

/// A request with `extra` keys.
fn request(domain: &str, context: &str, class: u8, extra: &[(&'static str, &str)]) -> Request {
    let mut request = check_request(domain, context, class);
    for (key, value) in extra {
        request.insert(*key, value.to_string().into());
    }
    request
}

/// The contracts of the owner (and one of another user) the requests name.
struct Contracts {
    coding: String,
    other_owners: String,
}

/// The mixed requests of one kind: allowed, and denied by as many codes as that kind reaches.
fn mixed(kind: &str, contracts: &Contracts) -> Vec<Request> {
    let mut requests = vec![
        request("coding", "project", 1, &[]),
        request("cooking", "kitchen", 1, &[]),
        request("coding", "project", 2, &[]),
        request("coding", "project", 4, &[]),
        request("health", "home", 0, &[]),
        request("garden", "home", 0, &[]),
        request(
            "coding",
            "project",
            0,
            &[("contract_id", &contracts.other_owners)],
        ),
        request(
            "coding",
            "project",
            0,
            &[("contract_id", "01J0000000000000000000NONE")],
        ),
        request("chess", "club", 0, &[]),
        request("music", "band", 0, &[]),
        request("travel", "trips", 0, &[]),
        request(
            "cooking",
            "kitchen",
            0,
            &[("contract_id", &contracts.coding)],
        ),
    ];
    match kind {
        "abstraction" => {
            for request in &mut requests {
                request.insert("abstraction", "raw".into());
            }
            requests.push(request(
                "cooking",
                "kitchen",
                1,
                &[("abstraction", "heuristic")],
            ));
            requests.push(request(
                "cooking",
                "kitchen",
                1,
                &[("abstraction", "strategy")],
            ));
            requests.push(request(
                "coding",
                "project",
                1,
                &[("abstraction", "pattern")],
            ));
        }
        "recall" | "export" => {
            requests.push(request("coding", "project", 1, &[("memory_id", "m1")]));
            requests.push(request("cooking", "kitchen", 1, &[("memory_id", "m2")]));
            requests.push(request("coding", "project", 1, &[("memory_id", "nope")]));
            requests.push(request("coding", "elsewhere", 1, &[("memory_id", "m1")]));
        }
        _ => {}
    }
    requests
}

async fn single(enforcement: &Enforcement1Proxy<'_>, kind: &str, request: Request) -> Answer {
    match kind {
        "memory_creation" => enforcement.check_memory_creation(&request).await,
        "abstraction" => enforcement.check_abstraction(&request).await,
        "recall" => enforcement.check_recall(&request).await,
        "export" => enforcement.check_export(&request).await,
        _ => unreachable!(),
    }
    .unwrap()
}

/// Denied answers counted by (check, code).
fn denied_by_code(answers: &[(String, Vec<Answer>)]) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for (kind, answers) in answers {
        for (allowed, code, ..) in answers {
            if !allowed {
                *counts.entry((kind.clone(), code.clone())).or_default() += 1;
            }
        }
    }
    counts
}

/// The denials `uid`'s `check.denied` records after `after` stand for, by (check, code).
async fn audited_denials(
    audit: &Audit1Proxy<'_>,
    after: u64,
    uid: u32,
) -> BTreeMap<(String, String), u64> {
    let mut counts = BTreeMap::new();
    for (by, action, details) in records_after(audit, after).await {
        if by == uid && action == "check.denied" {
            let key = (
                details["call"].as_str().unwrap().to_string(),
                details["code"].as_str().unwrap().to_string(),
            );
            *counts.entry(key).or_default() += details["count"].as_u64().unwrap();
        }
    }
    counts
}

/// Waits until `uid`'s denials audited after `after` stand for at least `expected` in all,
/// and returns them.
async fn audited_at_least(
    audit: &Audit1Proxy<'_>,
    after: u64,
    uid: u32,
    expected: &BTreeMap<(String, String), u64>,
) -> BTreeMap<(String, String), u64> {
    let total: u64 = expected.values().sum();
    eventually("the denials to be audited", || async {
        let counts = audited_denials(audit, after, uid).await;
        (counts.values().sum::<u64>() >= total).then_some(counts)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_and_audits_exactly_as_the_single_calls_and_a_bad_batch_nothing() {
    if !require_root(
        "a_batch_answers_and_audits_exactly_as_the_single_calls_and_a_bad_batch_nothing",
    ) {
        return;
    }
    let users = users();
    let bus = TestBus::start();
    let config = static_config(
        "OPEN",
        &format!(
            "[limits]\ndenial_audit_interval_secs = 1\n\n[[delegation]]\nagent = {}\nowners = [{}]\n",
            users.agent, users.owner
        ),
    );
    let _daemon = DaemonProcess::start(&bus, &config);
    let owner = connect_as(&bus, users.owner, &[]).await;
    let other = connect_as(&bus, users.other, &[]).await;
    let agent = connect_as(&bus, users.agent, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let audit: Audit1Proxy = uncached(&root).await;

    let contracts: Contracts1Proxy = uncached(&owner).await;
    let coding = activate_new(
        &contracts,
        "episodic",
        spec(&["coding"], &[("transferable", true.into())]),
    )
    .await;
    activate_new(
        &contracts,
        "procedural",
        spec(
            &["cooking"],
            &[
                ("transferable", true.into()),
                ("recall_requires_owner", true.into()),
            ],
        ),
    )
    .await;
    // Strategic needs TRUSTED: suspended in OPEN.
    activate_new(&contracts, "strategic", spec(&["chess"], &[])).await;
    activate_new(&contracts, "observation", spec(&["music"], &[])).await;
    activate_new(&contracts, "prohibited", spec(&["health"], &[])).await;
    activate_new(&contracts, "episodic", spec(&["travel"], &[])).await;
    let other_contracts: Contracts1Proxy = uncached(&other).await;
    let other_owners = activate_new(&other_contracts, "episodic", spec(&["coding"], &[])).await;
    let ids = Contracts {
        coding,
        other_owners,
    };
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    for (id, domain, context) in [("m1", "coding", "project"), ("m2", "cooking", "kitchen")] {
        let (allowed, code, ..) = enforcement
            .register_memory(&request(domain, context, 1, &[("memory_id", id)]))
            .await
            .unwrap();
        assert!(allowed, "{id}: {code}");
    }

    // The single calls, then the audit they leave.
    let seq_before_singles = audit.head_seq().await.unwrap();
    let mut singles = Vec::new();
    for kind in KINDS {
        let mut answers = Vec::new();
        for request in mixed(kind, &ids) {
            answers.push(single(&enforcement, kind, request).await);
        }
        singles.push((kind.to_string(), answers));
    }
    let expected = denied_by_code(&singles);
    let codes: std::collections::BTreeSet<&str> =
        expected.keys().map(|(_, code)| code.as_str()).collect();
    for code in [
        "boundary_class",
        "classification_cap",
        "prohibited",
        "no_contract",
        "suspended",
        "type_forbids",
        "out_of_scope",
        "abstraction_cap",
        "memory_unavailable",
        "not_transferable",
    ] {
        assert!(codes.contains(code), "the mix reaches no {code}: {codes:?}");
    }
    for (kind, answers) in &singles {
        let allowed = answers.iter().filter(|a| a.0).count();
        assert!(allowed >= 2, "{kind}: only {allowed} allowed: {answers:?}");
    }
    let audited = audited_at_least(&audit, seq_before_singles, users.owner, &expected).await;
    assert_eq!(audited, expected, "the single calls' denials as audited");

    // Bad batches: named errors, and nothing judged or audited (each also holds requests
    // that would be denied, so an audit would show).
    let seq_before_batches = audit.head_seq().await.unwrap();
    let denied_requests = mixed("recall", &ids);
    let refused = enforcement.check_batch("forget", &denied_requests).await;
    assert_eq!(outcome(&refused), INVALID_ARGS);
    assert!(
        error_message(&refused).contains("check"),
        "{}",
        error_message(&refused)
    );
    let too_many: Vec<Request> = (0..1001)
        .map(|_| request("garden", "home", 0, &[]))
        .collect();
    let refused = enforcement.check_batch("recall", &too_many).await;
    assert_eq!(outcome(&refused), INVALID_ARGS);
    assert!(
        error_message(&refused).contains("1000"),
        "{}",
        error_message(&refused)
    );
    let mut malformed = denied_requests.clone();
    malformed[5].insert("colour", "blue".into());
    let refused = enforcement.check_batch("recall", &malformed).await;
    assert_eq!(outcome(&refused), INVALID_ARGS);
    assert!(
        error_message(&refused).contains("requests[5]")
            && error_message(&refused).contains("colour"),
        "{}",
        error_message(&refused)
    );
    // A key given twice is a bad request (a dictionary a zbus client cannot build: raw).
    let duplicated = {
        let mut raw = crate::common::raw::RawClient::connect(&bus, users.owner);
        let mut body = crate::common::raw::Enc::default();
        body.str("recall");
        body.array(8, |e| {
            e.dict(|e| {
                e.entry("domain", "s", |e| e.str("coding"));
                e.entry("context", "s", |e| e.str("project"));
                e.entry("classification", "y", |e| e.byte(1));
            });
            e.dict(|e| {
                e.entry("domain", "s", |e| e.str("garden"));
                e.entry("context", "s", |e| e.str("home"));
                e.entry("classification", "y", |e| e.byte(0));
                e.entry("domain", "s", |e| e.str("coding"));
            });
        });
        let serial = raw.call_daemon(
            "org.learningcontracts.Enforcement1",
            "CheckBatch",
            "saa{sv}",
            &body.buf,
        );
        tokio::task::spawn_blocking(move || raw.reply(serial).unwrap())
            .await
            .unwrap()
    };
    assert_eq!(duplicated.error_name(), INVALID_ARGS, "{duplicated:?}");
    assert!(
        duplicated.message().contains("requests[1]")
            && duplicated.message().contains("domain")
            && duplicated.message().contains("more than once"),
        "{}",
        duplicated.message()
    );
    // A key of another check is a bad request too.
    let refused = enforcement
        .check_batch("memory_creation", &denied_requests)
        .await;
    assert_eq!(outcome(&refused), INVALID_ARGS);
    assert!(
        error_message(&refused).contains("memory_id"),
        "{}",
        error_message(&refused)
    );

    // The batches: each answer exactly the single call's.
    let mut batches = Vec::new();
    for (kind, answers) in &singles {
        let batch = enforcement
            .check_batch(kind, &mixed(kind, &ids))
            .await
            .unwrap();
        assert_eq!(
            &batch, answers,
            "CheckBatch({kind}) against the single calls"
        );
        batches.push((kind.clone(), batch));
    }
    assert_eq!(denied_by_code(&batches), expected);
    // Audited exactly as the singles were; the bad batches added nothing.
    let audited = audited_at_least(&audit, seq_before_batches, users.owner, &expected).await;
    assert_eq!(audited, expected, "the batches' denials as audited");

    // At the limit, a batch is answered; an empty one too.
    let full: Vec<Request> = (0..1000)
        .map(|_| request("coding", "project", 1, &[("memory_id", "m1")]))
        .collect();
    let answers = enforcement.check_batch("recall", &full).await.unwrap();
    assert_eq!(answers.len(), 1000);
    assert!(
        answers.iter().all(|a| a == &singles[2].1[12]),
        "{:?}",
        answers[0]
    );
    assert!(
        enforcement
            .check_batch("recall", &[])
            .await
            .unwrap()
            .is_empty()
    );

    // A delegated agent is answered for its owner, as its single calls are; naming an owner
    // who did not delegate to it fails the whole batch, naming the request.
    let agent_enforcement = Enforcement1Proxy::new(&agent).await.unwrap();
    for kind in KINDS {
        let mut answers = Vec::new();
        for request in mixed(kind, &ids) {
            answers.push(single(&agent_enforcement, kind, request).await);
        }
        let batch = agent_enforcement
            .check_batch(kind, &mixed(kind, &ids))
            .await
            .unwrap();
        assert_eq!(batch, answers, "the agent's CheckBatch({kind})");
        assert!(answers.iter().any(|a| a.0), "the agent acts for its owner");
    }
    let mut naming = mixed("recall", &ids);
    naming[2].insert("owner", users.other.into());
    let refused = agent_enforcement.check_batch("recall", &naming).await;
    assert_eq!(outcome(&refused), ACCESS_DENIED);
    assert!(
        error_message(&refused).contains("requests[2]"),
        "{}",
        error_message(&refused)
    );

    // Another user is answered from its own contracts only.
    let stranger = Enforcement1Proxy::new(&other).await.unwrap();
    let answers = stranger
        .check_batch("recall", &mixed("recall", &ids))
        .await
        .unwrap();
    for (index, (allowed, code, _, contract)) in answers.iter().enumerate() {
        assert!(
            !allowed || contract == &ids.other_owners,
            "request {index} allowed under {contract} ({code})"
        );
    }
}

/// Follows `Enforcement1.Generation`: its PropertiesChanged signals, and its value read anew.
struct Generation {
    signals: zbus::fdo::PropertiesChangedStream,
    enforcement: Enforcement1Proxy<'static>,
}

impl Generation {
    async fn new(connection: &zbus::Connection) -> Generation {
        let properties = zbus::fdo::PropertiesProxy::builder(connection)
            .destination(BUS_NAME)
            .path(PATH)
            .build()
            .await
            .unwrap();
        let signals = properties.receive_properties_changed().await.unwrap();
        Generation {
            signals,
            enforcement: uncached(connection).await,
        }
    }

    async fn read(&self) -> u64 {
        self.enforcement.generation().await.unwrap()
    }

    /// Waits for a PropertiesChanged that carries a Generation above `before`, then checks the
    /// value read is at least that: `what` moved it. Returns the value read.
    async fn moved(&mut self, before: u64, what: &str) -> u64 {
        let announced = within(&format!("Generation to move after {what}"), async {
            loop {
                let signal = self.signals.next().await.expect("the signal stream ended");
                let args = signal.args().unwrap();
                if args.interface_name().as_str() != "org.learningcontracts.Enforcement1" {
                    continue;
                }
                if let Some(value) = args.changed_properties().get("Generation") {
                    let value = u64::try_from(value).unwrap();
                    if value > before {
                        return value;
                    }
                }
            }
        })
        .await;
        let now = self.read().await;
        assert!(
            now >= announced,
            "{what}: read {now}, announced {announced}"
        );
        now
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generation_moves_with_properties_changed_on_every_change_a_decision_reads_and_not_on_reads()
 {
    if !require_root(
        "generation_moves_with_properties_changed_on_every_change_a_decision_reads_and_not_on_reads",
    ) {
        return;
    }
    let users = users();
    let bus = TestBus::start();
    let daemon = DaemonProcess::start(&bus, &static_config("TRUSTED", ""));
    let root = connect_as(&bus, 0, &[0]).await;
    let owner = connect_as(&bus, users.owner, &[]).await;
    let mut generation = Generation::new(&root).await;
    let contracts: Contracts1Proxy = uncached(&owner).await;
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let boundary_admin: Boundary1Proxy = uncached(&root).await;
    let boundary_owner: Boundary1Proxy = uncached(&owner).await;
    let memories = Memories1Proxy::new(&owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&owner).await.unwrap();
    let daemon1 = Daemon1Proxy::new(&root).await.unwrap();

    // It starts near the start time in microseconds, above any earlier run's count.
    let mut g = generation.read().await;
    let now_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    assert!(
        g > now_micros - 3_600_000_000 && g <= now_micros + 1_000_000,
        "Generation {g} at {now_micros}"
    );

    // A contract's state.
    let id = contracts
        .create_draft("strategic", &spec(&["coding"], &[]))
        .await
        .unwrap();
    g = generation.moved(g, "CreateDraft").await;
    contracts.submit(&id).await.unwrap();
    g = generation.moved(g, "Submit").await;
    contracts.activate(&id).await.unwrap();
    g = generation.moved(g, "Activate").await;
    // A memory registered.
    let (allowed, code, ..) = enforcement
        .register_memory(&request("coding", "project", 1, &[("memory_id", "m1")]))
        .await
        .unwrap();
    assert!(allowed, "{code}");
    g = generation.moved(g, "RegisterMemory").await;

    // Pure reads move nothing.
    let before_reads = generation.read().await;
    let recall = request("coding", "project", 1, &[("memory_id", "m1")]);
    let (allowed, ..) = enforcement.check_recall(&recall).await.unwrap();
    assert!(allowed);
    let (allowed, ..) = enforcement
        .check_memory_creation(&request("garden", "home", 0, &[]))
        .await
        .unwrap();
    assert!(!allowed, "a denied check is a read too");
    enforcement
        .check_batch("recall", &[recall.clone(), recall.clone()])
        .await
        .unwrap();
    enforcement.recall_gate(2).await.unwrap();
    contracts.get(&id).await.unwrap();
    contracts.list(&dict(&[])).await.unwrap();
    memories.get("m1").await.unwrap();
    boundary_admin.explain().await.unwrap();
    assert_eq!(
        generation.read().await,
        before_reads,
        "reads moved Generation"
    );
    assert_eq!(before_reads, g);

    // The mode and the suspensions it brings (strategic needs TRUSTED), both ways.
    boundary_admin
        .set_override("RESTRICTED", "test")
        .await
        .unwrap();
    g = generation.moved(g, "SetOverride").await;
    let (allowed, code, ..) = enforcement.check_recall(&recall).await.unwrap();
    assert!(!allowed && code == "suspended", "{code}");
    boundary_admin.clear_override().await.unwrap();
    g = generation.moved(g, "ClearOverride").await;
    // Lockdown.
    boundary_admin.enter_lockdown("test").await.unwrap();
    g = generation.moved(g, "EnterLockdown").await;
    boundary_admin.release_lockdown("test").await.unwrap();
    g = generation.moved(g, "ReleaseLockdown").await;
    // Pauses: the owner's learning, and everyone's.
    boundary_owner.pause_learning("test").await.unwrap();
    g = generation.moved(g, "PauseLearning").await;
    boundary_owner.resume_learning().await.unwrap();
    g = generation.moved(g, "ResumeLearning").await;
    boundary_admin.pause_all("test").await.unwrap();
    g = generation.moved(g, "PauseAll").await;
    boundary_admin.resume_all().await.unwrap();
    g = generation.moved(g, "ResumeAll").await;
    // Sessions opened and ended.
    let session = sessions.open(&dict(&[])).await.unwrap();
    g = generation.moved(g, "Sessions1.Open").await;
    sessions.end(&session).await.unwrap();
    g = generation.moved(g, "Sessions1.End").await;
    // A reloaded configuration (delegations and the tool deny list decide answers).
    daemon1.reload().await.unwrap();
    g = generation.moved(g, "Reload").await;
    // Revoking tombstones the memories; the deep purge removes them.
    contracts.revoke(&id, "test").await.unwrap();
    g = generation.moved(g, "Revoke").await;
    let token = memories.request_purge(&id).await.unwrap();
    assert_eq!(
        generation.read().await,
        g,
        "a purge token changes no decision"
    );
    assert_eq!(memories.confirm_purge(&id, &token).await.unwrap(), 1);
    generation.moved(g, "ConfirmPurge").await;
    // A timebound contract expiring, with its memory, at its end (the sweep).
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 3;
    let timebound = activate_new(
        &contracts,
        "episodic",
        dict(&[
            ("domains", strings(&["notes"]).into()),
            ("contexts", strings(&["*"]).into()),
            ("retention", "timebound".into()),
            ("retention_until", until.into()),
        ]),
    )
    .await;
    let (allowed, code, ..) = enforcement
        .register_memory(&request("notes", "desk", 1, &[("memory_id", "n1")]))
        .await
        .unwrap();
    assert!(allowed, "{code}");
    // Each move until the sweep has expired it (only the sweep's commit moves it now).
    let before_expiry = generation.read().await;
    let mut seen = before_expiry;
    loop {
        seen = generation.moved(seen, "the expiry").await;
        let state: String = field(&contracts.get(&timebound).await.unwrap(), "state");
        if state == "expired" {
            break;
        }
    }
    assert!(seen > before_expiry);
    drop(daemon);
}
