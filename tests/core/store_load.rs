//! Loading a large store on a real SQLite file: the contracts are read in batches and decoded
//! on several threads while the registry indexes them. Every contract must arrive once and
//! whole, the loaded registry must decide exactly as one built contract by contract, a record
//! that does not decode must stop the open wherever it sits, and records written in the
//! older, longer form must read the same as the compact ones written now.

use learning_contracts::core::{
    Abstraction, BoundaryMode, Change, CheckKind, CheckRequest, Contract, ContractKind,
    ContractSpec, ContractState, EffectiveMode, MemoryClass, Name, Registry, RetentionKind, Scope,
    Timestamp,
};
use learning_contracts::ledger::Ledger;
use learning_contracts::store::{Store, StoreError};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

const T0: i64 = 1_800_000_000_000;
/// Three full batches of the loader (4,096 records each) and a partial fourth.
const COUNT: usize = 3 * 4096 + 7;
const OWNERS: u32 = 50;
const DOMAINS: usize = 12;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn store_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contracts.db");
    (dir, path)
}

/// Contract `n` of a varied population: every kind, Active and ended states, system
/// prohibitions, timebound ends, amendments, tools, raised modes and every optional field.
fn contract(n: usize) -> Contract {
    let kinds = [
        ContractKind::Observation,
        ContractKind::Episodic,
        ContractKind::Procedural,
        ContractKind::Strategic,
        ContractKind::Prohibited,
    ];
    let kind = kinds[n % kinds.len()];
    let state = match n % 7 {
        0 => ContractState::Draft,
        1 => ContractState::Revoked,
        _ => ContractState::Active,
    };
    let system = kind == ContractKind::Prohibited && n.is_multiple_of(3);
    let timebound = n.is_multiple_of(4) && kind != ContractKind::Prohibited;
    let tools = if n % 5 == 2 {
        vec![name("*")]
    } else if n % 5 == 3 {
        vec![name("editor"), name("mail")]
    } else {
        Vec::new()
    };
    Contract {
        id: format!("{:026}", n * 7919 % 1_000_003),
        owner: if system { 0 } else { 1000 + n as u32 % OWNERS },
        kind,
        state,
        spec: ContractSpec {
            scope: Scope {
                domains: vec![
                    name(&format!("domain-{}", n % DOMAINS)),
                    name(&format!("domain-{}", (n / 3) % DOMAINS)),
                ],
                contexts: if n.is_multiple_of(2) {
                    vec![name("*")]
                } else {
                    vec![name("work"), name(&format!("context-{}", n % 5))]
                },
                tools,
            },
            retention: Some(if timebound {
                RetentionKind::Timebound
            } else {
                RetentionKind::Permanent
            }),
            retention_until: timebound.then(|| at(3_600_000 + n as i64 * 1000)),
            classification_cap: (n % 6 == 1).then_some(MemoryClass::Confidential),
            required_mode: (n % 9 == 4).then_some(BoundaryMode::Airgap),
            max_abstraction: (n % 8 == 5).then_some(Abstraction::Pattern),
            transferable: n.is_multiple_of(11),
            recall_requires_owner: n.is_multiple_of(13),
            description: if n.is_multiple_of(10) {
                String::new()
            } else {
                format!("contract \"{n}\" — ünïcode and a \\ backslash")
            },
            system,
        },
        created: at(n as i64),
        updated: at(n as i64 + 1),
        activated: (state != ContractState::Draft).then(|| at(n as i64 + 2)),
        ended: (state == ContractState::Revoked).then(|| at(n as i64 + 3)),
        supersedes: (n.is_multiple_of(17)).then(|| format!("amended-{n}")),
        superseded_by: (n.is_multiple_of(19)).then(|| format!("amendment-{n}")),
        session: None,
    }
}

fn population() -> Vec<Contract> {
    (0..COUNT).map(contract).collect()
}

/// Writes the contracts through the ledger, as the daemon does, in a few transactions.
fn write(path: &Path, contracts: &[Contract]) {
    let (mut ledger, _) = Ledger::open(path, at(0)).unwrap();
    for chunk in contracts.chunks(5000) {
        let mut change = Change::at(at(0));
        change.contracts = chunk.to_vec();
        ledger.commit(change).unwrap();
    }
}

fn sorted(mut contracts: Vec<Contract>) -> Vec<Contract> {
    contracts.sort_by(|a, b| a.id.cmp(&b.id));
    contracts
}

fn in_open_mode(mut registry: Registry) -> Registry {
    let change = registry
        .plan_mode_change(
            EffectiveMode::Known(BoundaryMode::Open),
            "test reading",
            at(5),
        )
        .unwrap();
    registry.apply(change);
    registry
}

/// Every decision over a grid of owners, domains, contexts and classifications, with the
/// deciding contract.
fn decisions(registry: &Registry) -> Vec<String> {
    let mut out = Vec::new();
    for owner in (1000..1000 + OWNERS).step_by(7) {
        for domain in 0..DOMAINS {
            for context in ["work", "context-3", "home"] {
                for class in [MemoryClass::Public, MemoryClass::Secret] {
                    let request = CheckRequest::new(
                        owner,
                        name(&format!("domain-{domain}")),
                        name(context),
                        class,
                    );
                    for kind in [CheckKind::MemoryCreation, CheckKind::Recall] {
                        let decision = registry.check(kind, &request, at(10));
                        out.push(format!(
                            "{owner} {domain} {context} {class:?} {kind:?}: {} {:?} {:?}",
                            decision.allowed, decision.code, decision.contract_id
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn a_large_store_gives_back_every_contract_once_and_whole() {
    let (_dir, path) = store_path();
    let written = population();
    write(&path, &written);
    let (_store, loaded) = Store::open(&path).unwrap();
    assert_eq!(loaded.contracts.len(), COUNT);
    assert_eq!(sorted(loaded.contracts), sorted(written));
}

#[test]
fn a_registry_loaded_in_batches_decides_as_one_built_contract_by_contract() {
    let (_dir, path) = store_path();
    let written = population();
    write(&path, &written);

    let mut reference = Registry::default();
    let mut change = Change::at(at(0));
    change.contracts = written.clone();
    reference.apply(change);
    let (ledger, _) = Ledger::open(&path, at(1)).unwrap();
    let loaded = ledger.registry();

    let active = written
        .iter()
        .filter(|c| c.state == ContractState::Active)
        .count();
    assert_eq!(loaded.active_count(), active);
    assert_eq!(reference.active_count(), active);
    let first_end = written
        .iter()
        .filter(|c| c.state == ContractState::Active)
        .filter_map(|c| c.spec.retention_until)
        .min();
    assert!(first_end.is_some());
    assert_eq!(loaded.next_expiry(), first_end);
    for contract in &written {
        assert_eq!(loaded.contract(&contract.id), Some(contract));
    }

    let loaded = in_open_mode(Registry::from_parts(
        loaded.contracts().cloned().collect(),
        Vec::new(),
        loaded.host().clone(),
    ));
    let reference = in_open_mode(reference);
    let (from_store, expected) = (decisions(&loaded), decisions(&reference));
    assert_eq!(from_store, expected);
    // The grid reaches allowed answers and prohibitions both, or it would prove little.
    assert!(expected.iter().any(|line| line.contains(": true Allowed")));
    assert!(expected.iter().any(|line| line.contains("Prohibited")));
}

/// The ids of the first, a middle and the last record in the order the store reads them.
fn ids_in_read_order(path: &Path) -> Vec<String> {
    let conn = Connection::open(path).unwrap();
    // The same table scan as the loader's (the id alone would be read from its index).
    let mut statement = conn.prepare("SELECT id, record FROM contracts").unwrap();
    let ids: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    vec![
        ids[0].clone(),
        ids[ids.len() / 2].clone(),
        ids[ids.len() - 1].clone(),
    ]
}

#[test]
fn a_record_that_does_not_decode_stops_the_open_wherever_it_sits() {
    let damaged = [
        r#"{"id":"cut short""#,
        r#"{"id":"x","owner":1000,"kind":"episodic","state":"active","spec":{"domains":[""],"contexts":["*"]},"created":1,"updated":1}"#,
        r#"{"id":"x","owner":1000,"kind":"no-such-kind","state":"active","spec":{"domains":["a"],"contexts":["*"]},"created":1,"updated":1}"#,
    ];
    let (_dir, path) = store_path();
    write(&path, &population());
    let targets = ids_in_read_order(&path);
    let pristine = std::fs::read(&path).unwrap();
    for (index, target) in targets.iter().enumerate() {
        for record in damaged {
            std::fs::write(&path, &pristine).unwrap();
            let conn = Connection::open(&path).unwrap();
            conn.execute(
                "UPDATE contracts SET record = ?1 WHERE id = ?2",
                params![record, target],
            )
            .unwrap();
            drop(conn);
            match Store::open(&path) {
                Err(StoreError::Decode(_)) => {}
                other => panic!(
                    "record {index} replaced by {record}: expected a decode error, got {:?}",
                    other.map(|(_, loaded)| loaded.contracts.len())
                ),
            }
            assert!(
                Ledger::open(&path, at(1)).is_err(),
                "the ledger opened over a damaged record"
            );
        }
    }
}

/// The JSON the store holds for a contract.
fn stored_record(conn: &Connection, id: &str) -> String {
    conn.query_row(
        "SELECT record FROM contracts WHERE id = ?1",
        params![id],
        |row| row.get(0),
    )
    .unwrap()
}

#[test]
fn records_in_the_older_longer_form_read_the_same_as_compact_ones() {
    let (_dir, path) = store_path();
    let written = vec![contract(3), contract(17), contract(21), contract(40)];
    write(&path, &written);
    // Compact on disk: no absent key is spelled out.
    let conn = Connection::open(&path).unwrap();
    let plain = written
        .iter()
        .find(|c| c.supersedes.is_none() && c.spec.scope.tools.is_empty() && !c.spec.system)
        .unwrap();
    let stored = stored_record(&conn, &plain.id);
    for absent in ["null", "\"tools\"", "\"system\"", "\"superseded_by\""] {
        assert!(!stored.contains(absent), "{absent} in {stored}");
    }
    // The same contracts as an earlier build wrote them: every key, absent ones as null.
    for contract in &written {
        let spec = &contract.spec;
        let long = serde_json::json!({
            "id": contract.id,
            "owner": contract.owner,
            "kind": contract.kind,
            "state": contract.state,
            "spec": {
                "domains": spec.scope.domains,
                "contexts": spec.scope.contexts,
                "tools": spec.scope.tools,
                "retention": spec.retention,
                "retention_until": spec.retention_until,
                "classification_cap": spec.classification_cap,
                "required_mode": spec.required_mode,
                "max_abstraction": spec.max_abstraction,
                "transferable": spec.transferable,
                "recall_requires_owner": spec.recall_requires_owner,
                "description": spec.description,
                "system": spec.system,
            },
            "created": contract.created,
            "updated": contract.updated,
            "activated": contract.activated,
            "ended": contract.ended,
            "supersedes": contract.supersedes,
            "superseded_by": contract.superseded_by,
            "session": contract.session,
        });
        conn.execute(
            "UPDATE contracts SET record = ?1 WHERE id = ?2",
            params![long.to_string(), contract.id],
        )
        .unwrap();
    }
    let long_form = stored_record(&conn, &plain.id);
    assert!(long_form.contains("\"session\":null"), "{long_form}");
    drop(conn);
    let (_store, loaded) = Store::open(&path).unwrap();
    assert_eq!(sorted(loaded.contracts), sorted(written));
}
