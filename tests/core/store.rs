//! The store on real SQLite files: every kind of change survives a reopen, the audit chain's
//! verifier finds tampering at the right record, and damaged, newer or foreign databases are
//! refused with a clear message and left untouched.

use learning_contracts::core::{
    Abstraction, Actor, BoundaryMode, Caller, CheckRequest, ContractKind, ContractState,
    EffectiveMode, MemoryClass, MemoryStatus, Name, PauseScope, Registry, RetentionKind, SpecPatch,
    Timestamp,
};
use learning_contracts::ledger::{Ledger, LedgerError};
use learning_contracts::store::{Store, StoreError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// Session limits roomy enough not to matter here.
const LIMITS: learning_contracts::core::SessionLimits = learning_contracts::core::SessionLimits {
    per_owner: 8,
    per_connection: 8,
};

const OWNER: u32 = 1000;
const T0: i64 = 1_800_000_000_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

/// Both clocks: the wall clock at [`at`]`(offset_ms)`, the monotonic one at `offset_ms`.
fn now_at(offset_ms: i64) -> learning_contracts::core::Now {
    learning_contracts::core::Now {
        wall: at(offset_ms),
        mono: learning_contracts::core::Monotonic::from_millis(offset_ms),
    }
}

fn names(list: &[&str]) -> Vec<Name> {
    list.iter().map(|n| Name::parse(n).unwrap()).collect()
}

fn spec(domains: &[&str], contexts: &[&str]) -> SpecPatch {
    SpecPatch {
        domains: Some(names(domains)),
        contexts: Some(names(contexts)),
        retention: Some(RetentionKind::Permanent),
        ..SpecPatch::default()
    }
}

fn store_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contracts.db");
    (dir, path)
}

/// Everything a reopen must give back: contracts, memories (keys included) and the host
/// state, except the mode, which restarts UNKNOWN by rule.
fn snapshot(registry: &Registry) -> String {
    let mut contracts: Vec<_> = registry.contracts().cloned().collect();
    contracts.sort_by(|a, b| a.id.cmp(&b.id));
    let mut memories: Vec<_> = registry.memories().cloned().collect();
    memories.sort_by(|a, b| a.id.cmp(&b.id));
    let mut host = registry.host().clone();
    host.mode = EffectiveMode::Unknown;
    format!("{contracts:#?}\n{memories:#?}\n{host:#?}")
}

fn assert_survives_reopen(ledger: Ledger, path: &Path, step: &str) -> Ledger {
    let before = snapshot(&ledger.registry());
    let head = ledger.store().head().clone();
    drop(ledger);
    let (reopened, _) = Ledger::open(path, at(0)).unwrap();
    assert_eq!(
        snapshot(&reopened.registry()),
        before,
        "state differs after reopen following: {step}"
    );
    assert_eq!(
        reopened.store().head(),
        &head,
        "audit head differs after: {step}"
    );
    assert!(
        reopened.store().verify_audit().unwrap().ok,
        "audit chain broken after: {step}"
    );
    reopened
}

fn create_active(ledger: &mut Ledger, id: &str, kind: ContractKind, patch: &SpecPatch) {
    let owner = Actor::user(OWNER);
    ledger
        .run(|r| r.plan_create_draft(&owner, kind, patch, id.to_string(), at(0)))
        .unwrap();
    ledger.run(|r| r.plan_submit(&owner, id, at(1))).unwrap();
    ledger
        .run(|r| r.plan_activate(&owner.clone().confirmed(), id, at(2)))
        .unwrap();
}

fn register(ledger: &mut Ledger, memory: &str, domain: &str, level: Abstraction, derived: &[&str]) {
    let mut request = CheckRequest::new(
        OWNER,
        Name::parse(domain).unwrap(),
        Name::parse("home").unwrap(),
        MemoryClass::Internal,
    );
    request.abstraction = level;
    let derived: Vec<String> = derived.iter().map(|d| d.to_string()).collect();
    let (decision, id, _) = ledger
        .register_memory(
            &Caller::uid(OWNER),
            &request,
            Some(memory.into()),
            &derived,
            at(10),
        )
        .unwrap();
    assert!(
        decision.allowed,
        "registration of {memory} denied: {decision:?}"
    );
    assert_eq!(id, memory);
}

#[test]
fn every_kind_of_change_survives_a_reopen() {
    let (_dir, path) = store_path();
    let (mut ledger, _) = Ledger::open(&path, at(0)).unwrap();
    let owner = Actor::user(OWNER);
    let admin = Actor::admin(0);

    ledger
        .run(|r| {
            r.plan_create_draft(
                &owner,
                ContractKind::Procedural,
                &spec(&["coding"], &["*"]),
                "c1".into(),
                at(0),
            )
        })
        .unwrap();
    let mut ledger = assert_survives_reopen(ledger, &path, "create draft");
    ledger
        .run(|r| {
            r.plan_update_draft(
                &owner,
                "c1",
                &spec(&["coding", "cooking"], &["home"]),
                at(1),
            )
        })
        .unwrap();
    let mut ledger = assert_survives_reopen(ledger, &path, "update draft");
    ledger.run(|r| r.plan_submit(&owner, "c1", at(2))).unwrap();
    let mut ledger = assert_survives_reopen(ledger, &path, "submit");
    ledger
        .run(|r| r.plan_return_to_draft(&owner, "c1", "narrow it", at(3)))
        .unwrap();
    let mut ledger = assert_survives_reopen(ledger, &path, "return to draft");
    ledger.run(|r| r.plan_submit(&owner, "c1", at(4))).unwrap();
    ledger
        .run(|r| r.plan_activate(&owner.clone().confirmed(), "c1", at(5)))
        .unwrap();
    let mut ledger = assert_survives_reopen(ledger, &path, "activate");

    ledger
        .run(|r| {
            r.plan_mode_change(EffectiveMode::Known(BoundaryMode::Airgap), "test", at(6))
                .ok_or_else(|| unreachable!())
        })
        .unwrap();
    register(&mut ledger, "m1", "coding", Abstraction::Raw, &[]);
    register(
        &mut ledger,
        "m2",
        "cooking",
        Abstraction::Heuristic,
        &["m1"],
    );
    let mut ledger = assert_survives_reopen(ledger, &path, "register memories");
    // The reopen restarted in UNKNOWN; give it a mode again.
    ledger
        .run(|r| {
            r.plan_mode_change(EffectiveMode::Known(BoundaryMode::Airgap), "test", at(7))
                .ok_or_else(|| unreachable!())
        })
        .unwrap();

    let narrower = SpecPatch {
        domains: Some(names(&["coding"])),
        ..SpecPatch::default()
    };
    ledger
        .run(|r| r.plan_amend(&owner, "c1", &narrower, "c2".into(), at(8)))
        .unwrap();
    ledger.run(|r| r.plan_submit(&owner, "c2", at(9))).unwrap();
    ledger
        .run(|r| r.plan_activate(&admin, "c2", at(10)))
        .unwrap();
    {
        let registry = ledger.registry();
        assert_eq!(
            registry.contract("c1").unwrap().state,
            ContractState::Amended
        );
        assert_eq!(
            registry.memory(OWNER, "m2").unwrap().status,
            MemoryStatus::Frozen
        );
        assert_eq!(registry.memory(OWNER, "m1").unwrap().contract_id, "c2");
    }
    let mut ledger = assert_survives_reopen(ledger, &path, "amendment hand-over");

    create_active(
        &mut ledger,
        "c3",
        ContractKind::Episodic,
        // It covers coding too: m3 is derived from a coding memory.
        &spec(&["music", "coding"], &["*"]),
    );
    ledger
        .run(|r| {
            r.plan_mode_change(EffectiveMode::Known(BoundaryMode::Airgap), "test", at(11))
                .ok_or_else(|| unreachable!())
        })
        .unwrap();
    let mut request = CheckRequest::new(
        OWNER,
        Name::parse("music").unwrap(),
        Name::parse("home").unwrap(),
        // At least its source's class.
        MemoryClass::Internal,
    );
    request.contract_id = Some("c3".into());
    let (registered, ..) = ledger
        .register_memory(
            &Caller::uid(OWNER),
            &request,
            Some("m3".into()),
            &["m1".into()],
            at(12),
        )
        .unwrap();
    assert!(registered.allowed, "{registered:?}");
    ledger
        .run(|r| r.plan_revoke(&owner, "c2", "no longer wanted", at(13)))
        .unwrap();
    {
        let registry = ledger.registry();
        assert_eq!(
            registry.memory(OWNER, "m1").unwrap().status,
            MemoryStatus::Tombstoned
        );
        assert_eq!(
            registry.memory(OWNER, "m3").unwrap().status,
            MemoryStatus::Quarantined
        );
    }
    let mut ledger = assert_survives_reopen(ledger, &path, "revoke with cascade");

    let token = ledger
        .request_purge(&owner.clone().confirmed(), "c2", now_at(14))
        .unwrap();
    let (count, _) = ledger
        .confirm_purge(&owner.clone().confirmed(), "c2", &token, now_at(15))
        .unwrap();
    assert_eq!(count, 2);
    let ledger = assert_survives_reopen(ledger, &path, "deep purge");
    assert!(ledger.registry().memory(OWNER, "m1").is_none());
    assert!(
        ledger
            .registry()
            .memory(OWNER, "m3")
            .is_some_and(|m| m.derived_from == [learning_contracts::core::memory::PURGED_SOURCE])
    );
    let mut ledger = ledger;

    let timebound = SpecPatch {
        retention: Some(RetentionKind::Timebound),
        retention_until: Some(at(1_000)),
        ..spec(&["travel"], &["*"])
    };
    create_active(&mut ledger, "c4", ContractKind::Episodic, &timebound);
    let expiry = ledger.registry().plan_expire_due(at(1_000)).unwrap();
    ledger.commit(expiry).unwrap();
    assert_eq!(
        ledger.registry().contract("c4").unwrap().state,
        ContractState::Expired
    );
    let mut ledger = assert_survives_reopen(ledger, &path, "expiry");

    ledger
        .run(|r| r.plan_pause(&owner, PauseScope::Owner(OWNER), "thinking", at(20)))
        .unwrap();
    ledger
        .run(|r| r.plan_pause(&admin, PauseScope::All, "maintenance", at(21)))
        .unwrap();
    let mut ledger = assert_survives_reopen(ledger, &path, "pauses");
    ledger
        .run(|r| r.plan_set_override(&admin, BoundaryMode::Restricted, "testing", at(22)))
        .unwrap();
    ledger
        .run(|r| r.plan_enter_lockdown(&admin, "incident", at(23)))
        .unwrap();
    let ledger = assert_survives_reopen(ledger, &path, "override and lockdown latch");
    let host = ledger.registry().host().clone();
    assert_eq!(host.lockdown.unwrap().reason, "incident");
    assert_eq!(host.mode_override.unwrap().mode, BoundaryMode::Restricted);
    assert!(host.paused_all.is_some() && host.paused_owners.contains_key(&OWNER));
}

#[test]
fn a_restart_expires_contracts_bound_to_sessions() {
    let (_dir, path) = store_path();
    let (mut ledger, _) = Ledger::open(&path, at(0)).unwrap();
    let session_spec = SpecPatch {
        retention: Some(RetentionKind::Session),
        ..spec(&["chat"], &["*"])
    };
    create_active(&mut ledger, "s1", ContractKind::Episodic, &session_spec);
    let opener = Caller::uid(OWNER);
    ledger
        .run(|r| r.plan_open_session(&opener, OWNER, "sess".into(), LIMITS, now_at(3)))
        .unwrap();
    ledger
        .run(|r| r.plan_bind(&Actor::user(OWNER), "sess", "s1", at(4)))
        .unwrap();
    drop(ledger);
    let (reopened, events) = Ledger::open(&path, at(5)).unwrap();
    assert_eq!(
        reopened.registry().contract("s1").unwrap().state,
        ContractState::Expired
    );
    assert!(!events.is_empty(), "the recovery must be announced");
    assert!(reopened.store().verify_audit().unwrap().ok);
}

#[test]
fn the_store_uses_wal_full_sync_and_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = store_path();
    let (store, _) = Store::open(&path).unwrap();
    let (mode, synchronous) = store.settings().unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(synchronous, 2, "synchronous must be FULL (2)");
    let permissions = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(permissions, 0o600);
    drop(store);
    // A new store has 16 KiB pages.
    let conn = Connection::open(&path).unwrap();
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .unwrap();
    assert_eq!(page_size, 16384);
}

#[test]
fn a_store_made_with_small_pages_keeps_them() {
    let (_dir, path) = store_path();
    let (mut ledger, _) = Ledger::open(&path, at(0)).unwrap();
    create_active(
        &mut ledger,
        "c",
        ContractKind::Episodic,
        &spec(&["email"], &["*"]),
    );
    drop(ledger);
    // As an earlier build made it: SQLite's default 4 KiB pages.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; PRAGMA page_size=4096; VACUUM; PRAGMA journal_mode=WAL;",
    )
    .unwrap();
    let page_size = |conn: &Connection| -> i64 {
        conn.query_row("PRAGMA page_size", [], |row| row.get(0))
            .unwrap()
    };
    assert_eq!(page_size(&conn), 4096);
    drop(conn);
    let (mut ledger, _) = Ledger::open(&path, at(1)).unwrap();
    assert!(ledger.registry().contract("c").is_some());
    create_active(
        &mut ledger,
        "d",
        ContractKind::Episodic,
        &spec(&["email"], &["*"]),
    );
    drop(ledger);
    let (_store, loaded) = Store::open(&path).unwrap();
    assert_eq!(loaded.contracts.len(), 2);
    assert_eq!(page_size(&Connection::open(&path).unwrap()), 4096);
}

/// A ledger with `count` audit records (one per created draft).
fn ledger_with_audit(path: &Path, count: usize) -> Ledger {
    let (mut ledger, _) = Ledger::open(path, at(0)).unwrap();
    for n in 0..count {
        ledger
            .run(|r| {
                r.plan_create_draft(
                    &Actor::user(OWNER),
                    ContractKind::Episodic,
                    &spec(&["d"], &["*"]),
                    format!("c{n}"),
                    at(n as i64),
                )
            })
            .unwrap();
    }
    assert_eq!(ledger.store().head().seq, count as u64);
    ledger
}

fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("DROP TRIGGER audit_refuses_update; DROP TRIGGER audit_refuses_delete;")
        .unwrap();
    conn
}

fn verify(path: &Path) -> learning_contracts::core::chain::AuditVerification {
    let (store, _) = Store::open(path).unwrap();
    store.verify_audit().unwrap()
}

#[test]
fn the_audit_log_refuses_updates_and_deletes() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 3));
    let conn = Connection::open(&path).unwrap();
    let update = conn.execute("UPDATE audit SET action = 'x' WHERE seq = 2", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM audit WHERE seq = 3", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    drop(conn);
    assert!(verify(&path).ok);
}

#[test]
fn an_edited_audit_record_is_found_at_its_sequence_number() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 6));
    raw(&path)
        .execute(
            "UPDATE audit SET details = '{\"kind\":\"strategic\"}' WHERE seq = 4",
            [],
        )
        .unwrap();
    let verification = verify(&path);
    assert!(!verification.ok);
    assert_eq!(verification.first_bad, 4, "{}", verification.message);
    assert!(verification.message.contains("altered"));
}

#[test]
fn an_edited_record_with_a_recomputed_hash_breaks_the_next_link() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 6));
    let conn = raw(&path);
    let (store, _) = Store::open(&path).unwrap();
    let mut record = store.read_audit(2, 1).unwrap().remove(0);
    drop(store);
    record.action = "contract.revoke".into();
    record.hash = record.compute_hash();
    conn.execute(
        "UPDATE audit SET action = ?1, hash = ?2 WHERE seq = 3",
        rusqlite::params![record.action, record.hash],
    )
    .unwrap();
    let verification = verify(&path);
    assert_eq!(verification.first_bad, 4, "{}", verification.message);
    assert!(verification.message.contains("does not link"));
}

#[test]
fn a_deleted_audit_record_is_found_at_its_sequence_number() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 6));
    raw(&path)
        .execute("DELETE FROM audit WHERE seq = 3", [])
        .unwrap();
    let verification = verify(&path);
    assert!(!verification.ok);
    assert_eq!(verification.first_bad, 3, "{}", verification.message);
    assert!(verification.message.contains("missing"));
}

#[test]
fn reordered_audit_records_are_found_at_the_first_moved_one() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 6));
    raw(&path)
        .execute_batch(
            "UPDATE audit SET seq = -1 WHERE seq = 2;
             UPDATE audit SET seq = 2 WHERE seq = 5;
             UPDATE audit SET seq = 5 WHERE seq = -1;",
        )
        .unwrap();
    let verification = verify(&path);
    assert!(!verification.ok);
    assert_eq!(verification.first_bad, 2, "{}", verification.message);
}

#[test]
fn a_truncated_audit_tail_is_found() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 6));
    raw(&path)
        .execute("DELETE FROM audit WHERE seq >= 5", [])
        .unwrap();
    let verification = verify(&path);
    assert!(!verification.ok);
    assert_eq!(verification.first_bad, 5, "{}", verification.message);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let (_dir, path) = store_path();
    let garbage =
        b"this is not an sqlite database, it is a text file with enough bytes to have a header"
            .repeat(64);
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains("damaged") && err.to_string().contains("will not start over"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the damaged file must not be touched"
    );
}

#[test]
fn a_database_with_damaged_pages_is_refused() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 200));
    // Fold the WAL into the main file, then overwrite part of a page in the middle.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    drop(conn);
    let mut bytes = std::fs::read(&path).unwrap();
    // The page size as the file's header gives it (bytes 16 and 17, big-endian).
    let page_size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    assert!(bytes.len() > page_size * 4, "the test needs several pages");
    for byte in &mut bytes[page_size * 2 + 8..page_size * 2 + 2000] {
        *byte = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_database_from_a_newer_schema_is_refused() {
    let (_dir, path) = store_path();
    drop(ledger_with_audit(&path, 1));
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("newer than this build supports"),
        "{err}"
    );
}

#[test]
fn a_foreign_database_is_refused() {
    let (_dir, path) = store_path();
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT);")
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Foreign { .. }), "{err:?}");
}

#[test]
fn a_store_that_cannot_be_written_fails_mutations_and_closes_checks_until_it_recovers() {
    let (_dir, path) = store_path();
    let (mut ledger, _) = Ledger::open(&path, at(0)).unwrap();
    create_active(
        &mut ledger,
        "c1",
        ContractKind::Episodic,
        &spec(&["coding"], &["*"]),
    );
    ledger
        .run(|r| {
            r.plan_mode_change(EffectiveMode::Known(BoundaryMode::Open), "test", at(3))
                .ok_or_else(|| unreachable!())
        })
        .unwrap();
    let request = CheckRequest::new(
        OWNER,
        Name::parse("coding").unwrap(),
        Name::parse("x").unwrap(),
        MemoryClass::Public,
    );
    let check = |ledger: &Ledger| {
        ledger.registry().check(
            learning_contracts::core::CheckKind::MemoryCreation,
            &request,
            at(4),
        )
    };
    assert!(check(&ledger).allowed);

    // Another process holds the write lock: every commit fails.
    ledger
        .set_busy_timeout(std::time::Duration::from_millis(20))
        .unwrap();
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE;").unwrap();
    let head = ledger.store().head().clone();
    let err = ledger
        .run(|r| r.plan_revoke(&Actor::user(OWNER), "c1", "x", at(5)))
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::Store(StoreError::Sqlite(_))),
        "{err:?}"
    );
    assert_eq!(
        ledger.registry().contract("c1").unwrap().state,
        ContractState::Active,
        "nothing applied"
    );
    assert_eq!(ledger.store().head(), &head, "nothing appended");
    let denied = check(&ledger);
    assert!(!denied.allowed);
    assert_eq!(denied.code.as_str(), "store_unavailable");

    blocker.execute_batch("ROLLBACK;").unwrap();
    ledger
        .run(|r| r.plan_pause(&Actor::user(OWNER), PauseScope::Owner(OWNER), "x", at(6)))
        .unwrap();
    ledger
        .run(|r| r.plan_resume(&Actor::user(OWNER), PauseScope::Owner(OWNER), at(7)))
        .unwrap();
    assert!(
        check(&ledger).allowed,
        "checks answer again once the store works"
    );
    assert!(ledger.store().verify_audit().unwrap().ok);
}

#[test]
fn an_audit_reader_reads_and_verifies_beside_the_writer() {
    let (_dir, path) = store_path();
    let mut ledger = ledger_with_audit(&path, 3);
    let mut reader = learning_contracts::store::AuditReader::open(&path).unwrap();
    let head = ledger.store().head().clone();
    let verification = reader.verify_audit().unwrap();
    assert!(verification.ok, "{}", verification.message);
    assert_eq!(verification.records, head.seq);
    let records = reader.read_audit(0, 100).unwrap();
    assert_eq!(records.len() as u64, head.seq);
    assert_eq!(records.last().unwrap().hash, head.hash);

    // The writer commits while the reader is open; the reader sees the commit next time.
    ledger_with_audit_more(&mut ledger);
    let after = reader.verify_audit().unwrap();
    assert!(after.ok, "{}", after.message);
    assert_eq!(after.records, ledger.store().head().seq);
    assert!(after.records > head.seq);
}

/// One more audited change through `ledger`.
fn ledger_with_audit_more(ledger: &mut Ledger) {
    ledger
        .run(|r| {
            r.plan_create_draft(
                &Actor::user(OWNER),
                ContractKind::Episodic,
                &spec(&["d"], &["*"]),
                "c-more".into(),
                at(100),
            )
        })
        .unwrap();
}

#[test]
fn a_version_1_store_is_migrated_to_owner_keyed_memories_with_a_key_each() {
    let (_dir, path) = store_path();
    {
        // A store as version 1 wrote it: one memory, one purged-id hash.
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch(learning_contracts::store::schema::MIGRATIONS[0])
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for (id, owner) in [("old-memory", OWNER), ("old-other", OWNER + 1)] {
            conn.execute(
                "INSERT INTO memories VALUES (?1, 'c1', ?2, 'notes', 'work', 1, 'raw', '[]', 'active', 0)",
                rusqlite::params![id, owner],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO purged_memories VALUES ('hash-of-a-purged-id-1d9e', 'c0', 0)",
            [],
        )
        .unwrap();
    }
    let (store, loaded) = Store::open(&path).unwrap();
    let mut memories = loaded.memories;
    memories.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(memories.len(), 2);
    assert_eq!(
        (memories[0].id.as_str(), memories[0].owner),
        ("old-memory", OWNER)
    );
    assert_eq!(
        (memories[1].id.as_str(), memories[1].owner),
        ("old-other", OWNER + 1)
    );
    // Each memory got a key of its own.
    assert_ne!(memories[0].shred.key, memories[1].shred.key);
    assert_ne!(memories[0].shred.reference, memories[1].shred.reference);
    assert_ne!(memories[0].shred.key, [0; 32]);
    drop(store);
    // The purged-id hashes are gone from the schema and from the file's bytes.
    let conn = Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'purged_memories'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    drop(conn);
    for file in [path.clone(), path.with_extension("db-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes
                .windows(b"hash-of-a-purged-id-1d9e".len())
                .any(|w| w == b"hash-of-a-purged-id-1d9e"),
            "{} keeps a purged-id hash",
            file.display()
        );
    }
    // The same id may now be two owners' memories.
    let (ledger, _) = Ledger::open(&path, at(0)).unwrap();
    assert!(ledger.registry().memory(OWNER, "old-memory").is_some());
    assert!(ledger.registry().memory(OWNER + 1, "old-memory").is_none());
}

#[test]
fn archiving_moves_old_records_to_a_file_that_verifies_and_the_rest_still_verifies() {
    use contractctl::archive_file::{verify_archive, write_archive};
    let (dir, path) = store_path();
    let mut ledger = ledger_with_audit(&path, 30);
    let records = ledger.store().read_audit(0, 10).unwrap();
    let file = dir.path().join("audit-1-10.jsonl");
    let header = write_archive(&file, &records, at(100)).unwrap();
    assert_eq!(
        (header.first_seq, header.last_seq, header.count),
        (1, 10, 10)
    );
    let (_, verification) = verify_archive(&file).unwrap();
    assert!(verification.ok, "{verification:?}");
    // An existing file is never overwritten.
    assert!(write_archive(&file, &records, at(100)).is_err());

    // The store refuses a hash that is not its own and a record it does not hold, and then
    // has removed nothing.
    let admin = Caller::uid(0);
    for (seq, hash) in [
        (10, "0".repeat(64)),
        (31, records[9].hash.clone()),
        (0, records[9].hash.clone()),
    ] {
        let err = ledger
            .archive_audit(&admin, seq, &hash, at(101))
            .unwrap_err();
        assert!(
            matches!(err, LedgerError::Core(ref e) if e.to_string().contains("nothing was removed")),
            "{seq}: {err:?}"
        );
    }
    assert_eq!(ledger.store().read_audit(0, 1).unwrap()[0].seq, 1);

    let (removed, _) = ledger
        .archive_audit(&admin, 10, &records[9].hash, at(101))
        .unwrap();
    assert_eq!(removed, 10);
    let rest = ledger.store().read_audit(0, 100).unwrap();
    assert_eq!(rest.first().unwrap().seq, 11);
    assert_eq!(rest.first().unwrap().prev_hash, records[9].hash);
    let last = rest.last().unwrap();
    assert_eq!(last.action, "audit.archived");
    assert_eq!(last.caller_uid, Some(0));
    let verification = ledger.store().verify_audit().unwrap();
    assert!(verification.ok, "{verification:?}");
    assert!(
        verification
            .message
            .contains("records 1 to 10 were archived"),
        "{}",
        verification.message
    );
    // Deletes are refused again, and the archive still verifies after a reopen.
    assert!(
        Connection::open(&path)
            .unwrap()
            .execute("DELETE FROM audit WHERE seq = 11", [])
            .is_err_and(|e| e.to_string().contains("append-only"))
    );
    drop(ledger);
    let (reopened, _) = Ledger::open(&path, at(200)).unwrap();
    assert!(reopened.store().verify_audit().unwrap().ok);
    assert_eq!(reopened.store().audit_anchor().unwrap().seq, 10);
}

#[test]
fn an_altered_archive_or_records_dropped_without_the_anchor_fail_verification() {
    use contractctl::archive_file::{verify_archive, write_archive};
    let (dir, path) = store_path();
    let ledger = ledger_with_audit(&path, 12);
    let records = ledger.store().read_audit(0, 12).unwrap();
    let file = dir.path().join("archive.jsonl");
    write_archive(&file, &records[..6], at(100)).unwrap();
    // Every byte of a record's line changed in turn (bounded: one in seven) breaks it.
    let original = std::fs::read(&file).unwrap();
    let header_end = original.iter().position(|&b| b == b'\n').unwrap() + 1;
    for index in (header_end..original.len() - 1).step_by(7) {
        if original[index] == b'\n' {
            continue;
        }
        let mut bytes = original.clone();
        bytes[index] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
        let outcome = verify_archive(&file);
        assert!(
            outcome.as_ref().map_or(true, |(_, v)| !v.ok),
            "byte {index} flipped still verifies"
        );
    }
    // A line removed from the middle, or the last one, is found.
    let text = String::from_utf8(original).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for drop_line in [3, lines.len() - 1] {
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(n, _)| *n != drop_line)
            .map(|(_, l)| *l)
            .collect();
        std::fs::write(&file, kept.join("\n") + "\n").unwrap();
        let (_, verification) = verify_archive(&file).unwrap();
        assert!(!verification.ok, "line {drop_line} removed still verifies");
    }
    // Records removed from the store's front without moving the anchor: found.
    drop(ledger);
    let conn = raw(&path);
    conn.execute("DELETE FROM audit WHERE seq <= 3", [])
        .unwrap();
    drop(conn);
    let (store, _) = Store::open(&path).unwrap();
    let verification = store.verify_audit().unwrap();
    assert!(!verification.ok);
    assert_eq!(verification.first_bad, 1, "{verification:?}");
    drop(store);
    // … and with the anchor moved over them, as no archive did: found too.
    let conn = Connection::open(&path).unwrap();
    let hash: String = conn
        .query_row("SELECT prev_hash FROM audit WHERE seq = 4", [], |row| {
            row.get(0)
        })
        .unwrap();
    conn.execute(
        "UPDATE audit_anchor SET seq = 3, hash = ?1",
        rusqlite::params![hash],
    )
    .unwrap();
    drop(conn);
    let (store, _) = Store::open(&path).unwrap();
    let verification = store.verify_audit().unwrap();
    assert!(!verification.ok, "{verification:?}");
    assert!(
        verification.message.contains("the anchor moved"),
        "{verification:?}"
    );
}
