//! One local user cannot exhaust what all share (SEMANTICS sections 7 and 12; review findings
//! F10 and F12): a stranger's flood of denied checks and refused calls grows the audit log by
//! a bounded number of aggregated records, refused calls are audited with uid, method and
//! count, per-owner budgets answer `Error.LimitReached` (admins exempt, revoking frees room),
//! and the store guard refuses owners' writes while an admin's lockdown still commits.

use crate::common::bus::*;
use crate::common::in_process::InProcessDaemon;
use futures_util::future::join_all;

const LIMIT_REACHED: &str = "org.learningcontracts.Error.LimitReached";
const ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";

/// How many denials the stranger's `check.denied` records stand for (a record without a
/// count stands for one).
fn denials_counted(records: &[(u32, String, serde_json::Value)], uid: u32) -> u64 {
    records
        .iter()
        .filter(|(by, action, _)| *by == uid && action == "check.denied")
        .map(|(_, _, details)| details["count"].as_u64().unwrap_or(1))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_flood_of_denials_and_refusals_grows_the_audit_by_a_bounded_amount() {
    if !require_root(
        "a_strangers_flood_of_denials_and_refusals_grows_the_audit_by_a_bounded_amount",
    ) {
        return;
    }
    let bus = TestBus::start();
    let config = unix_config("AIRGAP", "", "[limits]\ndenial_audit_interval_secs = 1\n");
    let _daemon = InProcessDaemon::start(&bus, &config);
    let stranger_uid = users().other;
    let stranger = connect_as(&bus, stranger_uid, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let audit: Audit1Proxy = uncached(&root).await;
    let seq_before = audit.head_seq().await.unwrap();

    const CHECKS: u64 = 3000;
    const REFUSED_EACH: usize = 40;
    let enforcement = Enforcement1Proxy::new(&stranger).await.unwrap();
    let request = check_request("health", "home", 1);
    for _ in 0..(CHECKS / 100) {
        let answers = join_all((0..100).map(|_| enforcement.check_recall(&request))).await;
        for answer in answers {
            let (allowed, code, ..) = answer.unwrap();
            assert!(!allowed);
            assert_eq!(code, "no_contract");
        }
    }
    let boundary = Boundary1Proxy::new(&stranger).await.unwrap();
    let stranger_audit = Audit1Proxy::new(&stranger).await.unwrap();
    let daemon1 = Daemon1Proxy::new(&stranger).await.unwrap();
    for _ in 0..REFUSED_EACH {
        let refused = [
            outcome(&boundary.enter_lockdown("mine now").await),
            outcome(&boundary.release_lockdown("mine now").await),
            outcome(&boundary.set_override("OPEN", "mine now").await),
            outcome(&boundary.pause_all("mine now").await),
            outcome(&stranger_audit.read(0, 10).await),
            outcome(&daemon1.reload().await),
        ];
        assert!(
            refused.iter().all(|name| name == ACCESS_DENIED),
            "{refused:?}"
        );
    }

    // Naming an owner the stranger is not delegated by is refused, and audited too.
    let mut naming = check_request("health", "home", 1);
    naming.insert("owner", users().owner.into());
    for _ in 0..REFUSED_EACH {
        let refused = enforcement.check_recall(&naming).await;
        assert_eq!(outcome(&refused), ACCESS_DENIED);
    }

    // Wait until every denial is accounted for in the log, then count the records it took.
    let records = eventually("every denied check to be audited", || async {
        let records = records_after(&audit, seq_before).await;
        (denials_counted(&records, stranger_uid) >= CHECKS).then_some(records)
    })
    .await;
    assert_eq!(denials_counted(&records, stranger_uid), CHECKS);
    // Refused calls are audited too: uid, method and count.
    let refusals = eventually("the refused calls to be audited", || async {
        let records = records_after(&audit, seq_before).await;
        let refused: u64 = records
            .iter()
            .filter(|(uid, action, details)| {
                *uid == stranger_uid && action == "call.refused" && details["code"] == ACCESS_DENIED
            })
            .map(|(_, _, details)| details["count"].as_u64().unwrap_or(0))
            .sum();
        (refused >= 7 * REFUSED_EACH as u64).then_some(records)
    })
    .await;
    for call in [
        "Boundary1.EnterLockdown",
        "Boundary1.ReleaseLockdown",
        "Boundary1.SetOverride",
        "Boundary1.PauseAll",
        "Audit1.Read",
        "Daemon1.Reload",
        "delegation.owner",
    ] {
        let counted: u64 = refusals
            .iter()
            .filter(|(uid, action, details)| {
                *uid == stranger_uid && action == "call.refused" && details["call"] == call
            })
            .map(|(_, _, details)| {
                assert_eq!(details["uid"], stranger_uid, "{details}");
                assert_eq!(details["code"], ACCESS_DENIED, "{details}");
                details["count"].as_u64().unwrap()
            })
            .sum();
        assert_eq!(counted, REFUSED_EACH as u64, "refusals of {call} audited");
    }

    // All of it took a handful of aggregated records.
    let grown = audit.head_seq().await.unwrap() - seq_before;
    println!(
        "{CHECKS} denied checks and {} refused calls: {grown} audit records",
        7 * REFUSED_EACH
    );
    assert!(
        grown <= 50,
        "{CHECKS} denied checks and {} refused calls grew the audit by {grown} records",
        7 * REFUSED_EACH
    );
}

fn register_request(contract: &str) -> Args<'_> {
    dict(&[
        ("domain", "coding".into()),
        ("context", "work".into()),
        ("classification", 1u8.into()),
        ("contract_id", contract.into()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_budgets_answer_limit_reached_admins_are_exempt_and_revoking_frees_room() {
    if !require_root("owner_budgets_answer_limit_reached_admins_are_exempt_and_revoking_frees_room")
    {
        return;
    }
    let bus = TestBus::start();
    let config = unix_config(
        "AIRGAP",
        "",
        "[limits]\nmax_open_drafts_per_owner = 3\nmax_memories_per_owner = 2\n\
         denial_audit_interval_secs = 1\n\n[sessions]\nmax_per_owner = 1\n",
    );
    let _daemon = InProcessDaemon::start(&bus, &config);
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let audit: Audit1Proxy = uncached(&root).await;
    let seq_before = audit.head_seq().await.unwrap();

    // Memories: an Active contract holds no draft slot; two registrations fit, the third not.
    let active = activate_new(&contracts, "episodic", episodic_spec(&["coding"])).await;
    for _ in 0..2 {
        let (allowed, code, ..) = enforcement
            .register_memory(&register_request(&active))
            .await
            .unwrap();
        assert!(allowed, "{code}");
    }
    let refused = enforcement
        .register_memory(&register_request(&active))
        .await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );
    assert!(error_message(&refused).contains("max_memories_per_owner"));

    // Drafts: three in Draft or Review, the fourth refused, by every way of making a draft.
    let mut drafts = Vec::new();
    for _ in 0..3 {
        drafts.push(
            contracts
                .create_draft("episodic", &episodic_spec(&["coding"]))
                .await
                .unwrap(),
        );
    }
    contracts.submit(&drafts[0]).await.unwrap();
    let refused = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );
    assert!(error_message(&refused).contains("max_open_drafts_per_owner"));
    let refused = contracts.amend(&active, &dict(&[])).await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );

    // An admin is not limited.
    let root_contracts = Contracts1Proxy::new(&root).await.unwrap();
    for _ in 0..5 {
        root_contracts
            .create_draft("episodic", &episodic_spec(&["coding"]))
            .await
            .unwrap();
    }

    // Revoking a draft frees its slot at once.
    contracts.revoke(&drafts[1], "not needed").await.unwrap();
    contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();

    // Sessions answer LimitReached past sessions.max_per_owner.
    let sessions = Sessions1Proxy::new(&owner).await.unwrap();
    sessions.open(&dict(&[])).await.unwrap();
    let refused = sessions.open(&dict(&[])).await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );

    // The refusals are audited, aggregated, as LimitReached: the memory, the draft, the
    // amendment and the session.
    let records = eventually("the LimitReached refusals to be audited", || async {
        let records = records_after(&audit, seq_before).await;
        let refused: u64 = records
            .iter()
            .filter(|(uid, action, details)| {
                *uid == owner_uid && action == "call.refused" && details["code"] == LIMIT_REACHED
            })
            .map(|(_, _, details)| details["count"].as_u64().unwrap_or(0))
            .sum();
        (refused >= 4).then_some(records)
    })
    .await;
    assert!(
        records
            .iter()
            .any(|(_, action, details)| action == "call.refused"
                && details["call"] == "Sessions1.Open"
                && details["code"] == LIMIT_REACHED),
        "the refused session is audited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_past_its_size_mark_refuses_owners_while_lockdown_still_commits() {
    if !require_root("a_store_past_its_size_mark_refuses_owners_while_lockdown_still_commits") {
        return;
    }
    let bus = TestBus::start();
    // Any store is past a one-byte mark: the guard holds from the first call.
    let config = unix_config(
        "OPEN",
        "",
        "[limits]\nstore_max_bytes = 1\ndenial_audit_interval_secs = 1\n",
    );
    let _daemon = InProcessDaemon::start(&bus, &config);
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let audit: Audit1Proxy = uncached(&root).await;
    let seq_before = audit.head_seq().await.unwrap();
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let owner_boundary = Boundary1Proxy::new(&owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&owner).await.unwrap();

    let refused = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );
    assert!(
        error_message(&refused).contains("store_max_bytes"),
        "{}",
        error_message(&refused)
    );
    let refused = owner_boundary.pause_learning("quiet").await;
    assert_eq!(outcome(&refused), LIMIT_REACHED);
    let refused = sessions.open(&dict(&[])).await;
    assert_eq!(outcome(&refused), LIMIT_REACHED);

    // An admin's lockdown commits from the reserve, and so does an admin's draft.
    let boundary: Boundary1Proxy = uncached(&root).await;
    boundary.enter_lockdown("store guard test").await.unwrap();
    assert_eq!(
        String::try_from(boundary_property(&root, "Mode").await).unwrap(),
        "LOCKDOWN"
    );
    Contracts1Proxy::new(&root)
        .await
        .unwrap()
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();

    // The three refusals are audited once each (the aggregated audit commits past the guard).
    let limit_refusals = |records: &[(u32, String, serde_json::Value)]| -> u64 {
        records
            .iter()
            .filter(|(uid, action, details)| {
                *uid == owner_uid && action == "call.refused" && details["code"] == LIMIT_REACHED
            })
            .map(|(_, _, details)| details["count"].as_u64().unwrap())
            .sum()
    };
    let records = eventually("the refusals to be audited", || async {
        let records = records_after(&audit, seq_before).await;
        (limit_refusals(&records) >= 3).then_some(records)
    })
    .await;
    assert_eq!(limit_refusals(&records), 3, "{records:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_writes_per_minute_are_bounded_so_open_and_end_cycles_cannot_flood_the_log() {
    if !require_root(
        "a_callers_writes_per_minute_are_bounded_so_open_and_end_cycles_cannot_flood_the_log",
    ) {
        return;
    }
    let bus = TestBus::start();
    let config = unix_config("OPEN", "", "[limits]\nmax_owner_writes_per_minute = 6\n");
    let _daemon = InProcessDaemon::start(&bus, &config);
    let stranger = connect_as(&bus, users().other, &[]).await;
    let sessions = Sessions1Proxy::new(&stranger).await.unwrap();
    for _ in 0..6 {
        let id = sessions.open(&dict(&[])).await.unwrap();
        sessions.end(&id).await.unwrap();
    }
    let refused = sessions.open(&dict(&[])).await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );
    assert!(
        error_message(&refused).contains("max_owner_writes_per_minute"),
        "{}",
        error_message(&refused)
    );
    let contracts = Contracts1Proxy::new(&stranger).await.unwrap();
    let refused = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );

    // Another user, and root, are not held back by the stranger's rate.
    let owner = connect_as(&bus, users().owner, &[]).await;
    Contracts1Proxy::new(&owner)
        .await
        .unwrap()
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    let root = connect_as(&bus, 0, &[0]).await;
    let root_sessions = Sessions1Proxy::new(&root).await.unwrap();
    for _ in 0..8 {
        let id = root_sessions.open(&dict(&[])).await.unwrap();
        root_sessions.end(&id).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_new_limits_at_once() {
    if !require_root("a_reload_applies_new_limits_at_once") {
        return;
    }
    let bus = TestBus::start();
    let daemon = InProcessDaemon::start(&bus, &unix_config("OPEN", "", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();

    std::fs::write(
        &daemon.config_path,
        unix_config("OPEN", "", "[limits]\nmax_open_drafts_per_owner = 1\n"),
    )
    .unwrap();
    Daemon1Proxy::new(&root)
        .await
        .unwrap()
        .reload()
        .await
        .unwrap();
    let refused = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await;
    assert_eq!(
        outcome(&refused),
        LIMIT_REACHED,
        "{}",
        error_message(&refused)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_the_core_decides_is_audited_like_one_the_bus_decides() {
    if !require_root("a_refusal_the_core_decides_is_audited_like_one_the_bus_decides") {
        return;
    }
    let bus = TestBus::start();
    let config = unix_config("AIRGAP", "", "[limits]\ndenial_audit_interval_secs = 1\n");
    let _daemon = InProcessDaemon::start(&bus, &config);
    let owner = connect_as(&bus, users().owner, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let audit: Audit1Proxy = uncached(&root).await;
    let mut spec = Args::new();
    spec.insert("domains", vec!["health"].into());
    spec.insert("contexts", vec!["*"].into());
    spec.insert("retention", "permanent".into());
    let draft = Contracts1Proxy::new(&owner)
        .await
        .unwrap()
        .create_draft("episodic", &spec)
        .await
        .unwrap();
    let seq_before = audit.head_seq().await.unwrap();

    // Submitting is the owner's alone, even for an admin: the bus lets root's call through as
    // an admin's, and the core refuses it.
    let contracts = Contracts1Proxy::new(&root).await.unwrap();
    const TRIES: u64 = 5;
    for _ in 0..TRIES {
        let refused = contracts.submit(&draft).await;
        assert_eq!(outcome(&refused), ACCESS_DENIED);
    }
    let counted = eventually("the core's refusals to be audited", || async {
        let records = records_after(&audit, seq_before).await;
        let counted: u64 = records
            .iter()
            .filter(|(uid, action, details)| {
                *uid == 0
                    && action == "call.refused"
                    && details["call"] == "Contracts1.Submit"
                    && details["code"] == ACCESS_DENIED
            })
            .map(|(_, _, details)| details["count"].as_u64().unwrap_or(0))
            .sum();
        (counted >= TRIES).then_some(counted)
    })
    .await;
    assert_eq!(counted, TRIES, "each refusal counted once");
}
