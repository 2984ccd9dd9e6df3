//! Bad input on the bus (DBUS-API.md, SEMANTICS.md section 14): unknown keys, wrongly typed
//! values, values out of range and oversized strings or lists are refused with
//! org.freedesktop.DBus.Error.InvalidArgs naming the key, and change nothing.

use crate::common;

use crate::common::bus::*;
use crate::common::in_process::InProcessDaemon;
use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;
use zbus::OwnedVariant;

type Dict = HashMap<String, OwnedVariant>;

const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
/// The limits of the daemon under test, small so that tests stay small.
const MAX_ENTRIES: usize = 8;
const MAX_STRING_BYTES: usize = 64;

fn limits() -> String {
    format!("[limits]\nmax_entries = {MAX_ENTRIES}\nmax_string_bytes = {MAX_STRING_BYTES}\n")
}

/// Problems found, reported together at the end of a test.
#[derive(Default)]
struct Findings(Vec<String>);

impl Findings {
    /// Expects `result` to be InvalidArgs with a message naming `key`.
    fn invalid<T: Debug>(&mut self, what: &str, result: zbus::Result<T>, key: &str) {
        let got = outcome(&result);
        if got != INVALID_ARGS {
            self.0.push(format!(
                "{what}: expected {INVALID_ARGS}, got {got} ({result:?})"
            ));
            return;
        }
        let message = error_message(&result);
        if !message.contains(key) {
            self.0.push(format!(
                "{what}: the message does not name '{key}': {message}"
            ));
        }
    }

    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} case(s) wrong:\n  {}",
            self.0.len(),
            self.0.join("\n  ")
        );
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `base` with `extra` added (or replaced).
fn with<'a>(base: &Args<'a>, extra: &[(&'a str, zbus::Variant<'a>)]) -> Args<'a> {
    let mut dict = base.clone();
    dict.extend(common::bus::dict(extra));
    dict
}

struct Setup {
    _daemon: InProcessDaemon,
    _bus: TestBus,
    owner: zbus::Connection,
    root: zbus::Connection,
    /// An Active contract of the owner over "coding".
    active: String,
    /// A Draft of the owner over "music".
    draft: String,
}

async fn setup() -> Setup {
    let bus = TestBus::start();
    let daemon = InProcessDaemon::start(&bus, &static_config("AIRGAP", &limits()));
    let owner = connect_as(&bus, users().owner, &[]).await;
    let root = connect_as(&bus, 0, &[0]).await;
    let contracts = Contracts1Proxy::new(&owner).await.unwrap();
    let active = activate_new(&contracts, "procedural", episodic_spec(&["coding"])).await;
    let draft = contracts
        .create_draft(
            "episodic",
            &with(
                &episodic_spec(&["music"]),
                &[("description", "original".into())],
            ),
        )
        .await
        .unwrap();
    Setup {
        _daemon: daemon,
        _bus: bus,
        owner,
        root,
        active,
        draft,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_are_refused_naming_the_key() {
    if !require_root("unknown_keys_are_refused_naming_the_key") {
        return;
    }
    let s = setup().await;
    let contracts = Contracts1Proxy::new(&s.owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&s.owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&s.owner).await.unwrap();
    let request = check_request("coding", "work", 1);
    let colour = [("colour", zbus::Variant::from("blue"))];
    let mut f = Findings::default();

    let spec = with(&episodic_spec(&["garden"]), &colour);
    f.invalid(
        "CreateDraft spec",
        contracts.create_draft("episodic", &spec).await,
        "colour",
    );
    f.invalid(
        "UpdateDraft spec",
        contracts.update_draft(&s.draft, &spec).await,
        "colour",
    );
    f.invalid(
        "Amend changes",
        contracts.amend(&s.active, &dict(&colour)).await,
        "colour",
    );
    let bad = with(&request, &colour);
    f.invalid(
        "CheckMemoryCreation",
        enforcement.check_memory_creation(&bad).await,
        "colour",
    );
    f.invalid(
        "CheckAbstraction",
        enforcement
            .check_abstraction(&with(&bad, &[("abstraction", "pattern".into())]))
            .await,
        "colour",
    );
    f.invalid(
        "CheckRecall",
        enforcement.check_recall(&bad).await,
        "colour",
    );
    f.invalid(
        "CheckExport",
        enforcement.check_export(&bad).await,
        "colour",
    );
    f.invalid(
        "RegisterMemory",
        enforcement.register_memory(&bad).await,
        "colour",
    );
    // Keys of another check are unknown to this one.
    f.invalid(
        "CheckMemoryCreation with abstraction",
        enforcement
            .check_memory_creation(&with(&request, &[("abstraction", "raw".into())]))
            .await,
        "abstraction",
    );
    f.invalid(
        "CheckAbstraction with memory_id",
        enforcement
            .check_abstraction(&with(
                &request,
                &[("abstraction", "raw".into()), ("memory_id", "m".into())],
            ))
            .await,
        "memory_id",
    );
    f.invalid(
        "CheckRecall with derived_from",
        enforcement
            .check_recall(&with(&request, &[("derived_from", strings(&["m"]).into())]))
            .await,
        "derived_from",
    );
    f.invalid(
        "List filter",
        contracts
            .list(&dict(&[
                ("state", "active".into()),
                ("colour", "blue".into()),
            ]))
            .await,
        "colour",
    );
    f.invalid(
        "ToolGate needs",
        enforcement
            .tool_gate("editor", &dict(&[("bluetooth", true.into())]))
            .await,
        "bluetooth",
    );
    f.invalid(
        "Sessions1.Open options",
        sessions.open(&dict(&colour)).await,
        "colour",
    );
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrongly_typed_values_are_refused_naming_the_key() {
    if !require_root("wrongly_typed_values_are_refused_naming_the_key") {
        return;
    }
    let s = setup().await;
    let contracts = Contracts1Proxy::new(&s.owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&s.owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&s.owner).await.unwrap();
    let request = check_request("coding", "work", 1);
    let spec = episodic_spec(&["garden"]);
    let mut f = Findings::default();

    for (key, value) in [
        ("classification", zbus::Variant::from("2")),
        ("classification", zbus::Variant::from(2u32)),
        ("domain", zbus::Variant::from(strings(&["coding"]))),
        ("owner", zbus::Variant::from("5")),
        ("owner", zbus::Variant::from(5i32)),
        ("contract_id", zbus::Variant::from(7u32)),
    ] {
        let bad = with(&request, &[(key, value.try_clone().unwrap())]);
        f.invalid(
            &format!("CheckMemoryCreation {key} as {}", value.value_signature()),
            enforcement.check_memory_creation(&bad).await,
            key,
        );
        f.invalid(
            &format!("RegisterMemory {key} as {}", value.value_signature()),
            enforcement.register_memory(&bad).await,
            key,
        );
    }
    f.invalid(
        "RegisterMemory derived_from as s",
        enforcement
            .register_memory(&with(&request, &[("derived_from", "m".into())]))
            .await,
        "derived_from",
    );
    f.invalid(
        "CheckRecall memory_id as as",
        enforcement
            .check_recall(&with(&request, &[("memory_id", strings(&["m"]).into())]))
            .await,
        "memory_id",
    );
    for (key, value) in [
        ("domains", zbus::Variant::from("garden")),
        ("domains", zbus::Variant::from(vec![1i32, 2])),
        ("contexts", zbus::Variant::from("*")),
        ("tools", zbus::Variant::from(true)),
        ("retention", zbus::Variant::from(1u8)),
        ("retention_until", zbus::Variant::from("2030-01-01")),
        ("classification_cap", zbus::Variant::from(2u32)),
        ("classification_cap", zbus::Variant::from("2")),
        ("transferable", zbus::Variant::from("yes")),
        ("recall_requires_owner", zbus::Variant::from(1u8)),
        ("description", zbus::Variant::from(strings(&["a"]))),
        ("system", zbus::Variant::from(0u32)),
    ] {
        let bad = with(&spec, &[(key, value.try_clone().unwrap())]);
        f.invalid(
            &format!("CreateDraft {key} as {}", value.value_signature()),
            contracts.create_draft("episodic", &bad).await,
            key,
        );
        f.invalid(
            &format!("UpdateDraft {key} as {}", value.value_signature()),
            contracts.update_draft(&s.draft, &bad).await,
            key,
        );
    }
    f.invalid(
        "Amend classification_cap as s",
        contracts
            .amend(&s.active, &dict(&[("classification_cap", "2".into())]))
            .await,
        "classification_cap",
    );
    f.invalid(
        "List owner as s",
        contracts.list(&dict(&[("owner", "5".into())])).await,
        "owner",
    );
    f.invalid(
        "List state as u",
        contracts.list(&dict(&[("state", 1u32.into())])).await,
        "state",
    );
    f.invalid(
        "ToolGate network as s",
        enforcement
            .tool_gate("editor", &dict(&[("network", "yes".into())]))
            .await,
        "network",
    );
    f.invalid(
        "Sessions1.Open owner as s",
        sessions.open(&dict(&[("owner", "5".into())])).await,
        "owner",
    );
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_out_of_range_are_refused_naming_the_key() {
    if !require_root("values_out_of_range_are_refused_naming_the_key") {
        return;
    }
    let s = setup().await;
    let contracts = Contracts1Proxy::new(&s.owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&s.owner).await.unwrap();
    let boundary = Boundary1Proxy::new(&s.root).await.unwrap();
    let request = check_request("coding", "work", 1);
    let spec = episodic_spec(&["garden"]);
    let mut f = Findings::default();

    f.invalid(
        "CheckMemoryCreation classification 9",
        enforcement
            .check_memory_creation(&with(&request, &[("classification", 9u8.into())]))
            .await,
        "classification",
    );
    f.invalid(
        "RegisterMemory classification 6",
        enforcement
            .register_memory(&with(&request, &[("classification", 6u8.into())]))
            .await,
        "classification",
    );
    f.invalid(
        "CheckAbstraction abstraction galaxy",
        enforcement
            .check_abstraction(&with(&request, &[("abstraction", "galaxy".into())]))
            .await,
        "abstraction",
    );
    f.invalid(
        "CheckMemoryCreation domain *",
        enforcement
            .check_memory_creation(&with(&request, &[("domain", "*".into())]))
            .await,
        "domain",
    );
    f.invalid(
        "CheckRecall without a context",
        enforcement
            .check_recall(&dict(&[
                ("domain", "coding".into()),
                ("classification", 1u8.into()),
            ]))
            .await,
        "context",
    );
    f.invalid(
        "CreateDraft kind habit",
        contracts.create_draft("habit", &spec).await,
        "kind",
    );
    for (key, value) in [
        ("retention", zbus::Variant::from("forever")),
        ("classification_cap", zbus::Variant::from(9u8)),
        ("required_mode", zbus::Variant::from("SUPERMAX")),
        ("max_abstraction", zbus::Variant::from("galaxy")),
        ("retention_until", zbus::Variant::from(-5i64)),
        ("domains", zbus::Variant::from(strings(&["bad\u{7}name"]))),
    ] {
        let bad = with(&spec, &[(key, value.try_clone().unwrap())]);
        f.invalid(
            &format!("CreateDraft {key} = {value:?}"),
            contracts.create_draft("episodic", &bad).await,
            key,
        );
        f.invalid(
            &format!("UpdateDraft {key} = {value:?}"),
            contracts.update_draft(&s.draft, &bad).await,
            key,
        );
    }
    f.invalid(
        "List state zombie",
        contracts.list(&dict(&[("state", "zombie".into())])).await,
        "state",
    );
    f.invalid(
        "List kind habit",
        contracts.list(&dict(&[("kind", "habit".into())])).await,
        "kind",
    );
    f.invalid(
        "SetOverride SUPERMAX",
        boundary.set_override("SUPERMAX", "testing").await,
        "mode",
    );
    f.invalid(
        "SetOverride LOCKDOWN",
        boundary.set_override("LOCKDOWN", "testing").await,
        "mode",
    );
    f.invalid("RecallGate 9", enforcement.recall_gate(9).await, "class");
    f.invalid(
        "ToolGate with an empty tool name",
        enforcement.tool_gate("", &Args::new()).await,
        "tool",
    );
    f.invalid(
        "Get with an id holding a space",
        contracts.get("not an id").await,
        "id",
    );
    f.assert_none();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_strings_and_lists_are_refused_naming_the_key() {
    if !require_root("oversized_strings_and_lists_are_refused_naming_the_key") {
        return;
    }
    let s = setup().await;
    let contracts = Contracts1Proxy::new(&s.owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&s.owner).await.unwrap();
    let boundary = Boundary1Proxy::new(&s.root).await.unwrap();
    let own_boundary = Boundary1Proxy::new(&s.owner).await.unwrap();
    let memories = Memories1Proxy::new(&s.owner).await.unwrap();
    let request = check_request("coding", "work", 1);
    let spec = episodic_spec(&["garden"]);
    let long = "a".repeat(MAX_STRING_BYTES + 1);
    let many: Vec<String> = (0..=MAX_ENTRIES).map(|i| format!("n{i}")).collect();
    let mut f = Findings::default();

    // Exactly at the limits is accepted.
    let fits = "a".repeat(MAX_STRING_BYTES);
    let full: Vec<String> = (0..MAX_ENTRIES).map(|i| format!("n{i}")).collect();
    contracts
        .create_draft(
            "episodic",
            &with(
                &spec,
                &[
                    ("description", fits.as_str().into()),
                    ("domains", full.clone().into()),
                ],
            ),
        )
        .await
        .unwrap();

    for (key, value) in [
        ("description", zbus::Variant::from(long.as_str())),
        ("domains", zbus::Variant::from(many.clone())),
        ("contexts", zbus::Variant::from(many.clone())),
        ("tools", zbus::Variant::from(many.clone())),
        ("domains", zbus::Variant::from(vec![long.clone()])),
    ] {
        let bad = with(&spec, &[(key, value.try_clone().unwrap())]);
        f.invalid(
            &format!("CreateDraft oversized {key}"),
            contracts.create_draft("episodic", &bad).await,
            key,
        );
        f.invalid(
            &format!("UpdateDraft oversized {key}"),
            contracts.update_draft(&s.draft, &bad).await,
            key,
        );
        f.invalid(
            &format!("Amend oversized {key}"),
            contracts.amend(&s.active, &bad).await,
            key,
        );
    }
    for (key, value) in [
        ("domain", zbus::Variant::from(long.as_str())),
        ("context", zbus::Variant::from(long.as_str())),
        ("tool", zbus::Variant::from(long.as_str())),
        ("memory_id", zbus::Variant::from(long.as_str())),
        ("derived_from", zbus::Variant::from(many.clone())),
        ("derived_from", zbus::Variant::from(vec![long.clone()])),
    ] {
        f.invalid(
            &format!("RegisterMemory oversized {key}"),
            enforcement
                .register_memory(&with(&request, &[(key, value.try_clone().unwrap())]))
                .await,
            key,
        );
    }
    f.invalid(
        "CheckRecall oversized memory_id",
        enforcement
            .check_recall(&with(&request, &[("memory_id", long.as_str().into())]))
            .await,
        "memory_id",
    );
    // A dictionary with more entries than allowed.
    let crowded: Vec<(String, zbus::Variant<'_>)> = (0..=MAX_ENTRIES)
        .map(|i| (format!("k{i}"), zbus::Variant::from(true)))
        .collect();
    let crowded: Vec<(&str, zbus::Variant<'_>)> = crowded
        .iter()
        .map(|(k, v)| (k.as_str(), v.try_clone().unwrap()))
        .collect();
    f.invalid(
        "ToolGate with too many needs",
        enforcement.tool_gate("editor", &dict(&crowded)).await,
        "entries",
    );
    // Free-text arguments.
    f.invalid(
        "Revoke reason",
        contracts.revoke(&s.active, &long).await,
        "reason",
    );
    contracts.submit(&s.draft).await.unwrap();
    f.invalid(
        "ReturnToDraft note",
        contracts.return_to_draft(&s.draft, &long).await,
        "note",
    );
    f.invalid(
        "EnterLockdown reason",
        boundary.enter_lockdown(&long).await,
        "reason",
    );
    f.invalid(
        "SetOverride reason",
        boundary.set_override("OPEN", &long).await,
        "reason",
    );
    f.invalid(
        "PauseLearning reason",
        own_boundary.pause_learning(&long).await,
        "reason",
    );
    f.invalid("PauseAll reason", boundary.pause_all(&long).await, "reason");
    let long_id = "x".repeat(129);
    f.invalid("Contracts1.Get id", contracts.get(&long_id).await, "id");
    f.invalid(
        "Memories1.Get memory_id",
        memories.get(&long_id).await,
        "memory_id",
    );
    f.invalid(
        "ConfirmPurge token",
        memories.confirm_purge(&s.active, &long_id).await,
        "token",
    );
    f.assert_none();
}

/// What a client can observe of the daemon's state.
#[derive(Debug, PartialEq)]
struct Observed {
    active_count: u32,
    contracts: Vec<(String, String, String)>,
    memories: usize,
    head_seq: u64,
    lockdown: bool,
    mode_override: String,
    paused_all: bool,
    creation: String,
}

async fn observe(s: &Setup) -> Observed {
    let contracts: Contracts1Proxy = uncached(&s.root).await;
    let boundary: Boundary1Proxy = uncached(&s.root).await;
    let audit: Audit1Proxy = uncached(&s.root).await;
    let mut listed: Vec<(String, String, String)> = contracts
        .list(&Args::new())
        .await
        .unwrap()
        .iter()
        .map(|c| (field(c, "id"), field(c, "state"), field(c, "description")))
        .collect();
    listed.sort();
    let (_, creation, ..) = Enforcement1Proxy::new(&s.owner)
        .await
        .unwrap()
        .check_memory_creation(&check_request("coding", "work", 1))
        .await
        .unwrap();
    Observed {
        active_count: contracts.active_count().await.unwrap(),
        contracts: listed,
        memories: Memories1Proxy::new(&s.root)
            .await
            .unwrap()
            .list(&s.active)
            .await
            .unwrap()
            .len(),
        head_seq: audit.head_seq().await.unwrap(),
        lockdown: boundary.lockdown().await.unwrap(),
        mode_override: boundary.mode_override().await.unwrap(),
        paused_all: boundary.paused_all().await.unwrap(),
        creation,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_changes_nothing() {
    if !require_root("a_bad_request_changes_nothing") {
        return;
    }
    let s = setup().await;
    let contracts = Contracts1Proxy::new(&s.owner).await.unwrap();
    let enforcement = Enforcement1Proxy::new(&s.owner).await.unwrap();
    let sessions = Sessions1Proxy::new(&s.owner).await.unwrap();
    let boundary = Boundary1Proxy::new(&s.root).await.unwrap();
    let own_boundary = Boundary1Proxy::new(&s.owner).await.unwrap();
    let long = "a".repeat(MAX_STRING_BYTES + 1);
    // Let the startup and the setup settle (denied checks are written in batches).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let before = observe(&s).await;
    assert_eq!(before.active_count, 1);
    assert_eq!(before.creation, "allowed");

    let mut f = Findings::default();
    f.invalid(
        "CreateDraft with one bad key among good ones",
        contracts
            .create_draft(
                "episodic",
                &with(&episodic_spec(&["garden"]), &[("colour", "blue".into())]),
            )
            .await,
        "colour",
    );
    f.invalid(
        "UpdateDraft with one bad value among good ones",
        contracts
            .update_draft(
                &s.draft,
                &dict(&[
                    ("description", "changed".into()),
                    ("classification_cap", "3".into()),
                ]),
            )
            .await,
        "classification_cap",
    );
    f.invalid(
        "Amend with a bad value",
        contracts
            .amend(
                &s.active,
                &dict(&[
                    ("description", "changed".into()),
                    ("retention", "forever".into()),
                ]),
            )
            .await,
        "retention",
    );
    f.invalid(
        "Revoke with an oversized reason",
        contracts.revoke(&s.active, &long).await,
        "reason",
    );
    f.invalid(
        "RegisterMemory with a bad class",
        enforcement
            .register_memory(&dict(&[
                ("domain", "coding".into()),
                ("context", "work".into()),
                ("classification", 9u8.into()),
                ("memory_id", "never".into()),
            ]))
            .await,
        "classification",
    );
    f.invalid(
        "CheckMemoryCreation with a bad type",
        enforcement
            .check_memory_creation(&dict(&[
                ("domain", "coding".into()),
                ("context", "work".into()),
                ("classification", "1".into()),
            ]))
            .await,
        "classification",
    );
    f.invalid(
        "Sessions1.Open with an unknown key",
        sessions.open(&dict(&[("colour", "blue".into())])).await,
        "colour",
    );
    f.invalid(
        "SetOverride with a bad mode",
        boundary.set_override("SUPERMAX", "testing").await,
        "mode",
    );
    f.invalid(
        "EnterLockdown with an oversized reason",
        boundary.enter_lockdown(&long).await,
        "reason",
    );
    f.invalid(
        "PauseAll with an oversized reason",
        boundary.pause_all(&long).await,
        "reason",
    );
    f.invalid(
        "PauseLearning with an oversized reason",
        own_boundary.pause_learning(&long).await,
        "reason",
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = observe(&s).await;
    f.assert_none();
    assert_eq!(
        after, before,
        "a refused request changed the daemon's state"
    );
}

/// Found by the requests fuzz target: `DraftFromTemplate`'s parameter parser echoed an
/// oversized or wrongly typed key whole in its InvalidArgs message.
#[test]
fn template_parameter_errors_cut_long_keys_short() {
    use learning_contracts::bus::args::template_params;
    use learning_contracts::config::LimitsConfig;
    let limits = LimitsConfig::default();
    let key = "k".repeat(5000);
    for value in [
        OwnedVariant::from(1u32),
        OwnedVariant::try_from(zbus::Variant::from("x")).unwrap(),
    ] {
        let dict: Dict = HashMap::from([(key.clone(), value)]);
        // As the daemon reads it: off the wire, into its bounded request reader.
        let ctxt = zbus::wire::serialized::Context::new(zbus::wire::LE, 0);
        let (request, _): (learning_contracts::bus::args::Request, _) =
            zbus::wire::to_bytes(ctxt, &dict)
                .unwrap()
                .deserialize()
                .unwrap();
        let err = template_params(&request, &limits).unwrap_err();
        assert_eq!(err.error_name(), INVALID_ARGS);
        assert!(err.message().len() < 200, "{} bytes", err.message().len());
    }
}
