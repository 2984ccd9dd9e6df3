//! Every method of every interface on its happy path, through a client proxy on a private
//! system bus, with the returned values checked (DBUS-API.md).

use crate::common::bus::*;
use crate::common::in_process::InProcessDaemon;
use futures_util::StreamExt;
use std::collections::{BTreeSet, HashMap};
use zbus::OwnedVariant;

type Dict = HashMap<String, OwnedVariant>;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ids(list: &[Dict]) -> BTreeSet<String> {
    list.iter().map(|c| field::<String>(c, "id")).collect()
}

fn set<S: AsRef<str>>(items: &[S]) -> BTreeSet<String> {
    items.iter().map(|s| s.as_ref().to_string()).collect()
}

fn is_ulid(id: &str) -> bool {
    id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon1_version_features_and_reload() {
    if !require_root("daemon1_version_features_and_reload") {
        return;
    }
    let bus = TestBus::start();
    let daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let root = connect_as(&bus, 0, &[0]).await;
    let daemon1: Daemon1Proxy = uncached(&root).await;
    let enforcement = Enforcement1Proxy::new(&root).await.unwrap();

    assert_eq!(daemon1.version().await.unwrap(), env!("CARGO_PKG_VERSION"));
    let features: BTreeSet<String> = daemon1.features().await.unwrap().into_iter().collect();
    assert_eq!(
        features,
        set(&[
            "contracts",
            "enforcement",
            "boundary",
            "memories",
            "sessions",
            "audit",
            "subscribe",
            "owner-memory-ids",
            "audit-archive",
            "audit-sealing",
            "audit-checkpoints",
            "check-batch",
            "generation"
        ])
    );

    let (allowed, code, _) = enforcement.tool_gate("rm", &Args::new()).await.unwrap();
    assert!(allowed, "{code}");

    // Reload applies a changed config.
    std::fs::write(
        &daemon.config_path,
        static_config("AIRGAP", "[gates]\ndenied_tools = [\"RM\"]"),
    )
    .unwrap();
    daemon1.reload().await.unwrap();
    let (allowed, code, reason) = enforcement.tool_gate("rm", &Args::new()).await.unwrap();
    assert_eq!((allowed, code.as_str()), (false, "tool_denied"), "{reason}");

    // A config that does not parse is refused and the old one stays in force.
    std::fs::write(&daemon.config_path, "[authorization\nmode = ").unwrap();
    let refused = daemon1.reload().await;
    assert_eq!(
        outcome(&refused),
        "org.learningcontracts.Error.InvalidConfig"
    );
    let (allowed, code, _) = enforcement.tool_gate("rm", &Args::new()).await.unwrap();
    assert_eq!((allowed, code.as_str()), (false, "tool_denied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts1_every_lifecycle_method() {
    if !require_root("contracts1_every_lifecycle_method") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let contracts: Contracts1Proxy = uncached(&owner).await;
    let mut changes = contracts.receive_contract_changed().await.unwrap();
    let before = now_secs();

    // CreateDraft: names are trimmed and lower-cased.
    let id = contracts
        .create_draft(
            "episodic",
            &dict(&[
                ("domains", strings(&[" Coding "]).into()),
                ("contexts", strings(&["work"]).into()),
                ("retention", "permanent".into()),
                ("description", "first".into()),
            ]),
        )
        .await
        .unwrap();
    assert!(is_ulid(&id), "{id}");
    let draft = contracts.get(&id).await.unwrap();
    assert_eq!(field::<String>(&draft, "id"), id);
    assert_eq!(field::<String>(&draft, "kind"), "episodic");
    assert_eq!(field::<String>(&draft, "state"), "draft");
    assert_eq!(field::<u32>(&draft, "owner"), owner_uid);
    assert_eq!(field::<Vec<String>>(&draft, "domains"), ["coding"]);
    assert_eq!(field::<Vec<String>>(&draft, "contexts"), ["work"]);
    assert_eq!(field::<Vec<String>>(&draft, "tools"), Vec::<String>::new());
    assert_eq!(field::<String>(&draft, "retention"), "permanent");
    assert_eq!(field::<String>(&draft, "description"), "first");
    assert_eq!(field::<u8>(&draft, "classification_cap"), 3);
    assert_eq!(field::<String>(&draft, "required_mode"), "OPEN");
    assert!(!field::<bool>(&draft, "transferable"));
    assert!(!field::<bool>(&draft, "recall_requires_owner"));
    assert!(!field::<bool>(&draft, "system"));
    assert!(!field::<bool>(&draft, "effective"));
    assert_eq!(
        field::<Vec<String>>(&draft, "suspension"),
        Vec::<String>::new()
    );
    let created = field::<i64>(&draft, "created");
    assert!(created >= before && created <= now_secs(), "{created}");
    assert_eq!(field::<i64>(&draft, "activated"), 0);
    assert_eq!(field::<String>(&draft, "supersedes"), "");
    assert_eq!(field::<String>(&draft, "superseded_by"), "");

    // UpdateDraft: given keys change, others keep their value.
    contracts
        .update_draft(
            &id,
            &dict(&[
                ("description", "second".into()),
                ("contexts", strings(&["work", "home"]).into()),
            ]),
        )
        .await
        .unwrap();
    let updated = contracts.get(&id).await.unwrap();
    assert_eq!(field::<String>(&updated, "description"), "second");
    assert_eq!(
        field::<Vec<String>>(&updated, "contexts")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        set(&["work", "home"])
    );
    assert_eq!(field::<Vec<String>>(&updated, "domains"), ["coding"]);
    assert_eq!(field::<String>(&updated, "state"), "draft");

    // Submit, ReturnToDraft, Submit, Activate.
    contracts.submit(&id).await.unwrap();
    assert_eq!(
        field::<String>(&contracts.get(&id).await.unwrap(), "state"),
        "review"
    );
    contracts
        .return_to_draft(&id, "name the tools too")
        .await
        .unwrap();
    assert_eq!(
        field::<String>(&contracts.get(&id).await.unwrap(), "state"),
        "draft"
    );
    contracts.submit(&id).await.unwrap();
    assert_eq!(contracts.active_count().await.unwrap(), 0);
    contracts.activate(&id).await.unwrap();
    let active = contracts.get(&id).await.unwrap();
    assert_eq!(field::<String>(&active, "state"), "active");
    assert!(field::<bool>(&active, "effective"));
    let activated = field::<i64>(&active, "activated");
    assert!(
        activated >= created && activated <= now_secs(),
        "{activated}"
    );
    assert_eq!(contracts.active_count().await.unwrap(), 1);
    assert_eq!(contracts.suspended_count().await.unwrap(), 0);

    // Amend: a new Draft superseding the Active contract, which stays Active.
    let amendment = contracts
        .amend(&id, &dict(&[("contexts", strings(&["home"]).into())]))
        .await
        .unwrap();
    assert!(is_ulid(&amendment) && amendment != id, "{amendment}");
    let new = contracts.get(&amendment).await.unwrap();
    assert_eq!(field::<String>(&new, "state"), "draft");
    assert_eq!(field::<String>(&new, "kind"), "episodic");
    assert_eq!(field::<u32>(&new, "owner"), owner_uid);
    assert_eq!(field::<String>(&new, "supersedes"), id);
    assert_eq!(field::<Vec<String>>(&new, "contexts"), ["home"]);
    assert_eq!(field::<Vec<String>>(&new, "domains"), ["coding"]);
    assert_eq!(field::<String>(&new, "description"), "second");
    let old = contracts.get(&id).await.unwrap();
    assert_eq!(field::<String>(&old, "state"), "active");
    assert_eq!(field::<String>(&old, "superseded_by"), "");

    // Activating the amendment: new Active, old Amended, never two Active.
    contracts.submit(&amendment).await.unwrap();
    contracts.activate(&amendment).await.unwrap();
    let old = contracts.get(&id).await.unwrap();
    let new = contracts.get(&amendment).await.unwrap();
    assert_eq!(field::<String>(&old, "state"), "amended");
    assert_eq!(field::<String>(&old, "superseded_by"), amendment);
    assert!(!field::<bool>(&old, "effective"));
    assert_eq!(field::<String>(&new, "state"), "active");
    assert!(field::<bool>(&new, "effective"));
    assert_eq!(contracts.active_count().await.unwrap(), 1);

    // Revoke.
    contracts
        .revoke(&amendment, "no longer needed")
        .await
        .unwrap();
    let revoked = contracts.get(&amendment).await.unwrap();
    assert_eq!(field::<String>(&revoked, "state"), "revoked");
    assert!(!field::<bool>(&revoked, "effective"));
    assert_eq!(contracts.active_count().await.unwrap(), 0);

    // Every transition was announced, in order, with the contract's id and new state.
    let mut seen: Vec<(String, String)> = Vec::new();
    while seen.last() != Some(&(amendment.clone(), "revoked".to_string())) {
        let signal = within("ContractChanged", changes.next()).await.unwrap();
        let args = signal.args().unwrap();
        seen.push((args.id().to_string(), args.state().to_string()));
    }
    let of = |which: &str| -> Vec<String> {
        seen.iter()
            .filter(|(i, _)| i == which)
            .map(|(_, s)| s.clone())
            .collect()
    };
    assert_eq!(
        of(&id),
        [
            "draft", "draft", "review", "draft", "review", "active", "amended"
        ]
    );
    assert_eq!(of(&amendment), ["draft", "review", "active", "revoked"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts1_list_filters_by_state_kind_and_owner() {
    if !require_root("contracts1_list_filters_by_state_kind_and_owner") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let u = users();
    let owner = connect_as(&bus, u.owner, &[]).await;
    let other = connect_as(&bus, u.other, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let mine = Contracts1Proxy::new(&owner).await.unwrap();
    let theirs = Contracts1Proxy::new(&other).await.unwrap();
    let admin = Contracts1Proxy::new(&root).await.unwrap();

    let active = activate_new(&mine, "episodic", episodic_spec(&["coding"])).await;
    let draft = mine
        .create_draft(
            "procedural",
            &dict(&[("domains", strings(&["cooking"]).into())]),
        )
        .await
        .unwrap();
    let revoked = mine
        .create_draft("episodic", &episodic_spec(&["music"]))
        .await
        .unwrap();
    mine.revoke(&revoked, "changed my mind").await.unwrap();
    let other_draft = theirs
        .create_draft("episodic", &episodic_spec(&["garden"]))
        .await
        .unwrap();
    let system = activate_new(
        &admin,
        "prohibited",
        dict(&[
            ("domains", strings(&["weapons"]).into()),
            ("contexts", strings(&["*"]).into()),
            ("retention", "permanent".into()),
            ("system", true.into()),
        ]),
    )
    .await;

    let everything = mine.list(&Args::new()).await.unwrap();
    assert_eq!(
        ids(&everything),
        set(&[&active, &draft, &revoked, &system]),
        "the caller's own and the system prohibitions"
    );
    let listed = everything
        .iter()
        .find(|c| field::<String>(c, "id") == active)
        .unwrap();
    assert_eq!(field::<String>(listed, "state"), "active");
    assert_eq!(field::<u32>(listed, "owner"), u.owner);

    let by_state = mine
        .list(&dict(&[("state", "active".into())]))
        .await
        .unwrap();
    assert_eq!(ids(&by_state), set(&[&active, &system]));
    let by_kind = mine
        .list(&dict(&[("kind", "procedural".into())]))
        .await
        .unwrap();
    assert_eq!(ids(&by_kind), set(&[&draft]));
    let both = mine
        .list(&dict(&[
            ("kind", "episodic".into()),
            ("state", "revoked".into()),
        ]))
        .await
        .unwrap();
    assert_eq!(ids(&both), set(&[&revoked]));
    let none = mine
        .list(&dict(&[("state", "expired".into())]))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    // An admin lists one owner's contracts, or everyone's.
    let owners = admin
        .list(&dict(&[("owner", u.owner.into())]))
        .await
        .unwrap();
    assert_eq!(ids(&owners), set(&[&active, &draft, &revoked]));
    let all = admin.list(&Args::new()).await.unwrap();
    assert_eq!(
        ids(&all),
        set(&[&active, &draft, &revoked, &other_draft, &system])
    );
    let others = theirs.list(&Args::new()).await.unwrap();
    assert_eq!(ids(&others), set(&[&other_draft, &system]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contracts1_list_owner_filter_returns_only_that_owners_contracts() {
    if !require_root("contracts1_list_owner_filter_returns_only_that_owners_contracts") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let u = users();
    let owner = connect_as(&bus, u.owner, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let mine = Contracts1Proxy::new(&owner).await.unwrap();
    let admin = Contracts1Proxy::new(&root).await.unwrap();
    let own = activate_new(&mine, "episodic", episodic_spec(&["coding"])).await;
    activate_new(
        &admin,
        "prohibited",
        dict(&[
            ("domains", strings(&["weapons"]).into()),
            ("contexts", strings(&["*"]).into()),
            ("retention", "permanent".into()),
            ("system", true.into()),
        ]),
    )
    .await;
    // A filter on owner u answers the contracts whose owner is u: every dictionary returned
    // must say so.
    let listed = mine
        .list(&dict(&[("owner", u.owner.into())]))
        .await
        .unwrap();
    let owners: Vec<(String, u32)> = listed
        .iter()
        .map(|c| (field::<String>(c, "id"), field::<u32>(c, "owner")))
        .collect();
    assert_eq!(
        owners,
        [(own, u.owner)],
        "List(owner = {}) returned contracts of other owners",
        u.owner
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforcement1_checks_registration_and_gates() {
    if !require_root("enforcement1_checks_registration_and_gates") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("TRUSTED", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let memories = Memories1Proxy::new(&owner).await.unwrap();
    let id = activate_new(
        &contracts,
        "procedural",
        dict(&[
            ("domains", strings(&["coding"]).into()),
            ("contexts", strings(&["*"]).into()),
            ("tools", strings(&["editor"]).into()),
            ("retention", "permanent".into()),
            ("transferable", true.into()),
        ]),
    )
    .await;
    fn request<'a>(extra: &[(&'a str, zbus::Variant<'a>)]) -> Args<'a> {
        let mut request = check_request("coding", "work", 2);
        request.extend(dict(extra));
        request
    }

    // The four checks.
    let (allowed, code, reason, decided) = enforcement
        .check_memory_creation(&request(&[]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    assert!(!reason.is_empty());
    let (allowed, code, _, decided) = enforcement
        .check_memory_creation(&request(&[("tool", "Editor".into())]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    let (allowed, code, _, _) = enforcement
        .check_memory_creation(&request(&[("tool", "browser".into())]))
        .await
        .unwrap();
    assert_eq!((allowed, code.as_str()), (false, "no_contract"));
    let (allowed, code, _, decided) = enforcement
        .check_memory_creation(&request(&[
            ("tool", "browser".into()),
            ("contract_id", id.as_str().into()),
        ]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (false, "out_of_scope", id.as_str())
    );
    let (allowed, code, _, decided) = enforcement
        .check_abstraction(&request(&[("abstraction", "heuristic".into())]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    let (allowed, code, _, _) = enforcement
        .check_abstraction(&request(&[("abstraction", "strategy".into())]))
        .await
        .unwrap();
    assert_eq!((allowed, code.as_str()), (false, "abstraction_cap"));
    let (allowed, code, _, decided) = enforcement.check_recall(&request(&[])).await.unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    let (allowed, code, _, decided) = enforcement.check_export(&request(&[])).await.unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    let (allowed, code, _, decided) = enforcement
        .check_memory_creation(&request(&[("contract_id", id.as_str().into())]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );

    // RegisterMemory with the agent's own id, and without one.
    let (allowed, code, _, decided, first) = enforcement
        .register_memory(&request(&[("memory_id", "mem-one".into())]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str(), first.as_str()),
        (true, "allowed", id.as_str(), "mem-one")
    );
    let (allowed, code, _, decided, second) =
        enforcement.register_memory(&request(&[])).await.unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    assert!(is_ulid(&second), "{second}");
    // derived_from, above raw.
    let (allowed, code, _, _, derived) = enforcement
        .register_memory(&request(&[
            ("abstraction", "pattern".into()),
            ("derived_from", strings(&["mem-one", &second]).into()),
        ]))
        .await
        .unwrap();
    assert!(allowed, "{code}");
    let record = memories.get(&derived).await.unwrap();
    assert_eq!(field::<String>(&record, "abstraction"), "pattern");
    assert_eq!(
        field::<Vec<String>>(&record, "derived_from"),
        strings(&["mem-one", &second])
    );
    assert_eq!(field::<String>(&record, "contract_id"), id);
    // A source that does not exist cannot be derived from; nothing is recorded.
    let (allowed, code, _, _, refused) = enforcement
        .register_memory(&request(&[(
            "derived_from",
            strings(&["no-such-memory"]).into(),
        )]))
        .await
        .unwrap();
    assert_eq!((allowed, code.as_str()), (false, "memory_unavailable"));
    assert_eq!(
        outcome(&memories.get(&refused).await),
        "org.learningcontracts.Error.NotFound"
    );
    assert_eq!(memories.list(&id).await.unwrap().len(), 3);

    // Checks that name a memory.
    let (allowed, code, _, decided) = enforcement
        .check_recall(&request(&[("memory_id", "mem-one".into())]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str(), decided.as_str()),
        (true, "allowed", id.as_str())
    );
    let (allowed, code, _, _) = enforcement
        .check_export(&request(&[("memory_id", "mem-one".into())]))
        .await
        .unwrap();
    assert_eq!((allowed, code.as_str()), (true, "allowed"));

    // RecallGate: TRUSTED's cap is class 3.
    let (allowed, code, _) = enforcement.recall_gate(3).await.unwrap();
    assert_eq!((allowed, code.as_str()), (true, "allowed"));
    let (allowed, code, _) = enforcement.recall_gate(4).await.unwrap();
    assert_eq!((allowed, code.as_str()), (false, "boundary_class"));

    // ToolGate with needs: TRUSTED (the static source's route out is a VPN) allows all;
    // RESTRICTED (an override) denies usb only.
    let (allowed, code, _) = enforcement
        .tool_gate(
            "sync",
            &dict(&[
                ("network", true.into()),
                ("filesystem", true.into()),
                ("usb", true.into()),
            ]),
        )
        .await
        .unwrap();
    assert_eq!((allowed, code.as_str()), (true, "allowed"));
    let boundary: Boundary1Proxy = uncached(&root).await;
    boundary
        .set_override("RESTRICTED", "testing the tool gate")
        .await
        .unwrap();
    eventually("the mode RESTRICTED", || async {
        (boundary.mode().await.unwrap() == "RESTRICTED").then_some(())
    })
    .await;
    let (allowed, code, reason) = enforcement
        .tool_gate("flasher", &dict(&[("usb", true.into())]))
        .await
        .unwrap();
    assert_eq!(
        (allowed, code.as_str()),
        (false, "boundary_mode"),
        "{reason}"
    );
    assert!(reason.contains("usb"), "{reason}");
    let (allowed, code, _) = enforcement
        .tool_gate(
            "fetch",
            &dict(&[("network", true.into()), ("filesystem", true.into())]),
        )
        .await
        .unwrap();
    assert_eq!((allowed, code.as_str()), (true, "allowed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boundary1_properties_lockdown_override_and_pauses() {
    if !require_root("boundary1_properties_lockdown_override_and_pauses") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let contracts: Contracts1Proxy = uncached(&owner).await;
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let boundary: Boundary1Proxy = uncached(&root).await;
    let own_boundary = Boundary1Proxy::new(&owner).await.unwrap();
    let id = activate_new(&contracts, "episodic", episodic_spec(&["coding"])).await;
    let creation = || async {
        let (_, code, _, _) = enforcement
            .check_memory_creation(&check_request("coding", "work", 1))
            .await
            .unwrap();
        code
    };
    let recall = || async {
        let (_, code, _, _) = enforcement
            .check_recall(&check_request("coding", "work", 1))
            .await
            .unwrap();
        code
    };
    let mode_is = |mode: &'static str| {
        let boundary = boundary.clone();
        async move {
            eventually(&format!("the mode {mode}"), || async {
                (boundary.mode().await.unwrap() == mode).then_some(())
            })
            .await
        }
    };

    // Every property, and Explain.
    mode_is("AIRGAP").await;
    assert_eq!(boundary.source().await.unwrap(), "static");
    assert!(boundary.source_healthy().await.unwrap());
    assert!(!boundary.lockdown().await.unwrap());
    assert_eq!(boundary.lockdown_reason().await.unwrap(), "");
    assert_eq!(boundary.mode_override().await.unwrap(), "");
    assert!(!boundary.paused_all().await.unwrap());
    let facts = boundary.facts().await.unwrap();
    assert_eq!(field::<String>(&facts, "static_mode"), "AIRGAP");
    let explanation = boundary.explain().await.unwrap();
    assert!(
        explanation.contains("AIRGAP") && explanation.contains("static"),
        "{explanation}"
    );
    assert_eq!(creation().await, "allowed");
    let counted = boundary.explain().await.unwrap();
    assert!(
        counted
            .lines()
            .any(|l| l.starts_with("Allowed checks since start: ") && !l.ends_with(": 0")),
        "allowed checks are counted: {counted}"
    );

    // EnterLockdown / ReleaseLockdown, with their signals.
    let mut switched = boundary.receive_mode_switched().await.unwrap();
    let mut suspended = boundary.receive_contracts_suspended().await.unwrap();
    let mut resumed = boundary.receive_contracts_resumed().await.unwrap();
    boundary.enter_lockdown("drill").await.unwrap();
    assert!(boundary.lockdown().await.unwrap());
    assert_eq!(boundary.lockdown_reason().await.unwrap(), "drill");
    mode_is("LOCKDOWN").await;
    let signal = within("ModeSwitched", switched.next()).await.unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (args.old().as_str(), args.new().as_str()),
        ("AIRGAP", "LOCKDOWN")
    );
    let signal = within("ContractsSuspended", suspended.next())
        .await
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (args.ids().clone(), args.reason().as_str()),
        (vec![id.clone()], "lockdown")
    );
    assert_eq!(creation().await, "lockdown");
    assert_eq!(recall().await, "lockdown");
    let contract = contracts.get(&id).await.unwrap();
    assert_eq!(field::<Vec<String>>(&contract, "suspension"), ["lockdown"]);
    assert!(!field::<bool>(&contract, "effective"));
    assert_eq!(contracts.suspended_count().await.unwrap(), 1);
    assert!(boundary.explain().await.unwrap().contains("drill"));
    boundary.release_lockdown("drill over").await.unwrap();
    assert!(!boundary.lockdown().await.unwrap());
    assert_eq!(boundary.lockdown_reason().await.unwrap(), "");
    mode_is("AIRGAP").await;
    let signal = within("ContractsResumed", resumed.next()).await.unwrap();
    assert_eq!(signal.args().unwrap().ids().clone(), vec![id.clone()]);
    assert_eq!(creation().await, "allowed");
    assert_eq!(contracts.suspended_count().await.unwrap(), 0);

    // SetOverride / ClearOverride: the override lowers the mode.
    boundary
        .set_override("restricted", "maintenance window")
        .await
        .unwrap();
    assert_eq!(boundary.mode_override().await.unwrap(), "RESTRICTED");
    mode_is("RESTRICTED").await;
    assert!(
        boundary
            .explain()
            .await
            .unwrap()
            .contains("maintenance window")
    );
    let (allowed, code, _) = enforcement.recall_gate(3).await.unwrap();
    assert_eq!((allowed, code.as_str()), (false, "boundary_class"));
    boundary.clear_override().await.unwrap();
    assert_eq!(boundary.mode_override().await.unwrap(), "");
    mode_is("AIRGAP").await;

    // PauseLearning / ResumeLearning: the caller's own learning; recall is not paused.
    own_boundary.pause_learning("a break").await.unwrap();
    assert_eq!(creation().await, "paused");
    assert_eq!(recall().await, "allowed");
    let contract = contracts.get(&id).await.unwrap();
    assert_eq!(field::<Vec<String>>(&contract, "suspension"), ["pause"]);
    own_boundary.resume_learning().await.unwrap();
    assert_eq!(creation().await, "allowed");

    // PauseAll / ResumeAll.
    boundary.pause_all("incident").await.unwrap();
    assert!(boundary.paused_all().await.unwrap());
    assert_eq!(creation().await, "paused");
    assert!(boundary.explain().await.unwrap().contains("incident"));
    boundary.resume_all().await.unwrap();
    assert!(!boundary.paused_all().await.unwrap());
    assert_eq!(creation().await, "allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories1_records_revocation_and_deep_purge() {
    if !require_root("memories1_records_revocation_and_deep_purge") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let memories = Memories1Proxy::new(&owner).await.unwrap();
    let mut changed = memories.receive_memories_changed().await.unwrap();
    let id = activate_new(
        &contracts,
        "procedural",
        dict(&[
            ("domains", strings(&["coding"]).into()),
            ("contexts", strings(&["*"]).into()),
            ("retention", "permanent".into()),
        ]),
    )
    .await;
    let before = now_secs();
    let mut request = check_request("coding", "Work", 2);
    request.extend(dict(&[("memory_id", "m-raw".into())]));
    let (allowed, code, ..) = enforcement.register_memory(&request).await.unwrap();
    assert!(allowed, "{code}");
    let mut request = check_request("coding", "work", 1);
    request.extend(dict(&[
        ("memory_id", "m-heuristic".into()),
        ("abstraction", "heuristic".into()),
    ]));
    let (allowed, code, ..) = enforcement.register_memory(&request).await.unwrap();
    assert!(allowed, "{code}");

    // Get and List.
    let raw = memories.get("m-raw").await.unwrap();
    assert_eq!(field::<String>(&raw, "id"), "m-raw");
    assert_eq!(field::<String>(&raw, "contract_id"), id);
    assert_eq!(field::<String>(&raw, "domain"), "coding");
    assert_eq!(field::<String>(&raw, "context"), "work");
    assert_eq!(field::<u8>(&raw, "classification"), 2);
    assert_eq!(field::<String>(&raw, "abstraction"), "raw");
    assert_eq!(
        field::<Vec<String>>(&raw, "derived_from"),
        Vec::<String>::new()
    );
    let created = field::<i64>(&raw, "created");
    assert!(created >= before && created <= now_secs(), "{created}");
    assert_eq!(field::<String>(&raw, "status"), "active");
    let listed = memories.list(&id).await.unwrap();
    let listed: Vec<(String, String)> = listed
        .iter()
        .map(|m| (field::<String>(m, "id"), field::<String>(m, "status")))
        .collect();
    assert_eq!(
        listed,
        [
            ("m-heuristic".to_string(), "active".to_string()),
            ("m-raw".to_string(), "active".to_string())
        ]
    );

    // Revoking tombstones the raw memory and invalidates the heuristic.
    contracts.revoke(&id, "forget it").await.unwrap();
    assert_eq!(
        field::<String>(&memories.get("m-raw").await.unwrap(), "status"),
        "tombstoned"
    );
    assert_eq!(
        field::<String>(&memories.get("m-heuristic").await.unwrap(), "status"),
        "invalidated"
    );

    // The deep purge: a token, then the purge with it.
    let token = memories.request_purge(&id).await.unwrap();
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    assert_eq!(memories.confirm_purge(&id, &token).await.unwrap(), 2);
    // Nothing of a purged memory is kept: its id is not found.
    assert_eq!(
        outcome(&memories.get("m-raw").await),
        "org.learningcontracts.Error.NotFound"
    );
    assert!(memories.list(&id).await.unwrap().is_empty());
    // The token was used up.
    assert_eq!(
        outcome(&memories.confirm_purge(&id, &token).await),
        "org.learningcontracts.Error.TokenInvalid"
    );

    // Each effect was announced with the memory ids.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let signal = within("MemoriesChanged", changed.next()).await.unwrap();
        let args = signal.args().unwrap();
        seen.push((
            args.contract_id().to_string(),
            args.status().to_string(),
            args.memory_ids().clone(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            (id.clone(), "invalidated".into(), strings(&["m-heuristic"])),
            (
                id.clone(),
                "purged".into(),
                strings(&["m-heuristic", "m-raw"])
            ),
            (id.clone(), "tombstoned".into(), strings(&["m-raw"])),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions1_open_bind_end() {
    if !require_root("sessions1_open_bind_end") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&owner).await.unwrap();
    let memories = Memories1Proxy::new(&owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&owner).await.unwrap();
    let mut ended = sessions.receive_session_ended().await.unwrap();
    let id = activate_new(&contracts, "episodic", session_spec(&["chat"])).await;
    let creation = || async {
        let (_, code, _, _) = enforcement
            .check_memory_creation(&check_request("chat", "support", 1))
            .await
            .unwrap();
        code
    };
    // Unbound, a session contract does not count.
    assert_eq!(creation().await, "not_active");

    let session = sessions.open(&Args::new()).await.unwrap();
    assert!(is_ulid(&session), "{session}");
    sessions.bind(&session, &id).await.unwrap();
    let bound = contracts.get(&id).await.unwrap();
    assert_eq!(field::<String>(&bound, "session_id"), session);
    assert!(field::<bool>(&bound, "effective"));
    assert_eq!(creation().await, "allowed");
    let mut request = check_request("chat", "support", 1);
    request.extend(dict(&[("memory_id", "m-chat".into())]));
    let (allowed, code, ..) = enforcement.register_memory(&request).await.unwrap();
    assert!(allowed, "{code}");

    sessions.end(&session).await.unwrap();
    let signal = within("SessionEnded", ended.next()).await.unwrap();
    let args = signal.args().unwrap();
    assert_eq!(
        (
            args.session_id().to_string(),
            args.expired_contract_ids().clone()
        ),
        (session.clone(), vec![id.clone()])
    );
    let expired = contracts.get(&id).await.unwrap();
    assert_eq!(field::<String>(&expired, "state"), "expired");
    assert!(!field::<bool>(&expired, "effective"));
    assert_eq!(
        field::<String>(&memories.get("m-chat").await.unwrap(), "status"),
        "frozen"
    );
    assert_ne!(creation().await, "allowed");
    // The session is gone.
    assert_eq!(
        outcome(&sessions.end(&session).await),
        "org.learningcontracts.Error.NotFound"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit1_read_verify_and_head() {
    if !require_root("audit1_read_verify_and_head") {
        return;
    }
    let bus = TestBus::start();
    let _daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", ""));
    let owner_uid = users().owner;
    let owner = connect_as(&bus, owner_uid, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let audit: Audit1Proxy = uncached(&root).await;

    let seq_before = audit.head_seq().await.unwrap();
    let hash_before = audit.head_hash().await.unwrap();
    let id = contracts
        .create_draft("episodic", &episodic_spec(&["coding"]))
        .await
        .unwrap();
    let seq_after = eventually("HeadSeq to move", || async {
        let seq = audit.head_seq().await.unwrap();
        (seq > seq_before).then_some(seq)
    })
    .await;
    let hash_after = audit.head_hash().await.unwrap();
    assert_ne!(hash_after, hash_before);
    assert_eq!(hash_after.len(), 64, "{hash_after}");

    let records = audit.read(0, 1000).await.unwrap();
    assert_eq!(
        records.len() as u64,
        seq_after,
        "every record from the first"
    );
    let mut previous: Option<String> = None;
    for (index, record) in records.iter().enumerate() {
        assert_eq!(field::<u64>(record, "seq"), index as u64 + 1);
        if let Some(previous) = &previous {
            assert_eq!(&field::<String>(record, "prev_hash"), previous);
        }
        previous = Some(field::<String>(record, "hash"));
    }
    assert_eq!(previous.unwrap(), hash_after);
    let created = records
        .iter()
        .find(|r| field::<String>(r, "action") == "contract.create")
        .expect("the creation is audited");
    assert_eq!(field::<String>(created, "contract_id"), id);
    assert_eq!(field::<u32>(created, "caller_uid"), owner_uid);
    assert!(field::<String>(created, "caller_bus").starts_with(':'));
    let details: serde_json::Value =
        serde_json::from_str(&field::<String>(created, "details")).unwrap();
    assert_eq!(details["kind"], "episodic");

    let tail = audit.read(seq_after - 1, 1).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(field::<u64>(&tail[0], "seq"), seq_after);
    assert!(audit.read(seq_after, 10).await.unwrap().is_empty());

    let (ok, count, first_bad, message) = audit.verify().await.unwrap();
    assert!(ok, "{message}");
    assert_eq!((count, first_bad), (seq_after, 0));
}
