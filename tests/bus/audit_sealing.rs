//! Forward-secure sealing of the audit chain on real SQLite files (SEMANTICS.md section 13,
//! docs/DECISIONS.md "Sealing the audit chain"): the attacks that broke journald's sealing in
//! 2023, each made by editing the store file as an attacker who holds the current sealing key
//! would; a bit-flip sweep over a sealed segment; wall-clock steps backward and forward with
//! the time passed in; a store made before sealing; and, on a private bus with the real daemon,
//! setup by an admin only (`Audit1.SetupSealing`, `contractctl audit setup-keys`), the stop
//! seal, and a sealing key taken from a systemd credential.

use crate::common;

use learning_contracts::core::chain::AuditRecord;
use learning_contracts::core::{AuditEvent, Caller, Timestamp};
use learning_contracts::store::seal::{
    NO_MAC, Seal, SealKey, SealKind, SealedVerification, SealingStatus, VerificationKey,
};
use learning_contracts::store::sealing::SealingSetup;
use learning_contracts::store::{AuditReader, Store, StoreError, schema};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};

const T0: i64 = 1_800_000_000_000;
const INTERVAL: u64 = 60;
const MINUTE: i64 = 60_000;

fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

fn store_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contracts.db");
    (dir, path)
}

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        caller: Caller::uid(1000),
        action: "check.denied",
        contract_id: Some(format!("c-{n}")),
        details: serde_json::json!({"check": "recall", "code": "out_of_scope", "n": n}),
    }
}

fn append(store: &mut Store, count: u64, at: Timestamp) {
    let events: Vec<AuditEvent> = (0..count).map(event).collect();
    store.append_audit(&events, at).unwrap();
}

/// Sets sealing up as `SetupSealing` does, at `now`.
fn setup(store: &mut Store, now: Timestamp) -> VerificationKey {
    let key = VerificationKey::generate(now, INTERVAL).unwrap();
    store
        .enable_sealing(
            SealingSetup {
                key: key.seed.clone(),
                key_epoch: 0,
                clock: key.clock,
                key_id: key.key_id(),
                origin: "bus",
                caller: Caller::uid(0),
                force: false,
            },
            now,
        )
        .unwrap();
    key
}

/// A store with two records before sealing, then three sealed epochs of records (3, 3 and 2
/// records), then one record in the fourth epoch, not yet sealed. Returns the key.
fn sealed_store(path: &Path) -> VerificationKey {
    let (mut store, _) = Store::open(path).unwrap();
    append(&mut store, 2, at(-MINUTE));
    let key = setup(&mut store, at(0));
    for (epoch, count) in [(1i64, 3u64), (2, 3), (3, 2)] {
        append(&mut store, count, at((epoch - 1) * MINUTE + 1000));
        let tick = store.seal_due(at(epoch * MINUTE + 500)).unwrap();
        assert_eq!(tick.sealed.map(|s| s.epoch), Some(epoch as u64));
    }
    append(&mut store, 1, at(3 * MINUTE + 2000));
    key
}

fn verify(path: &Path, key: Option<&VerificationKey>, now: Timestamp) -> SealedVerification {
    AuditReader::open(path)
        .unwrap()
        .verify_sealed(key, now)
        .unwrap()
}

/// The verifier's clock for the sealed store: in its fourth epoch.
fn now() -> Timestamp {
    at(3 * MINUTE + 5000)
}

fn seals(conn: &Connection) -> Vec<Seal> {
    let mut statement = conn
        .prepare("SELECT era, epoch, next_epoch, kind, seq, hash, prev_mac, mac FROM audit_seals ORDER BY era, epoch")
        .unwrap();
    statement
        .query_map([], |row| {
            Ok(Seal {
                era: row.get::<_, i64>(0)? as u64,
                epoch: row.get::<_, i64>(1)? as u64,
                next_epoch: row.get::<_, i64>(2)? as u64,
                kind: SealKind::parse(&row.get::<_, String>(3)?).unwrap(),
                seq: row.get::<_, i64>(4)? as u64,
                hash: row.get(5)?,
                prev_mac: row.get(6)?,
                mac: row.get(7)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The attacker: a writable connection with the append-only triggers dropped, holding the
/// store's current sealing key (and nothing older: it was erased).
struct Attacker {
    conn: Connection,
    key: SealKey,
    key_epoch: u64,
}

impl Attacker {
    fn on(path: &Path) -> Attacker {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER audit_refuses_update; DROP TRIGGER audit_refuses_delete;
             DROP TRIGGER audit_seals_refuse_update; DROP TRIGGER audit_seals_refuse_delete;",
        )
        .unwrap();
        let (key, epoch): (Vec<u8>, i64) = conn
            .query_row("SELECT key, epoch FROM audit_sealing", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .unwrap();
        Attacker {
            conn,
            key: SealKey::from_bytes(key.try_into().unwrap()),
            key_epoch: epoch as u64,
        }
    }

    fn records(&self) -> Vec<AuditRecord> {
        let mut statement = self
            .conn
            .prepare("SELECT seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash, hash FROM audit ORDER BY seq")
            .unwrap();
        statement
            .query_map([], |row| {
                Ok(AuditRecord {
                    seq: row.get::<_, i64>(0)? as u64,
                    id: row.get(1)?,
                    ts: Timestamp::from_millis(row.get(2)?),
                    caller_uid: row.get(3)?,
                    caller_pid: row.get(4)?,
                    caller_bus: row.get(5)?,
                    action: row.get(6)?,
                    contract_id: row.get(7)?,
                    details: row.get(8)?,
                    prev_hash: row.get(9)?,
                    hash: row.get(10)?,
                })
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Replaces the whole log with `records`, rechained from the genesis, and the head.
    fn rewrite_log(&self, mut records: Vec<AuditRecord>) -> Vec<AuditRecord> {
        let mut prev = learning_contracts::core::chain::GENESIS_HASH.to_string();
        for (index, record) in records.iter_mut().enumerate() {
            record.seq = index as u64 + 1;
            record.prev_hash = prev;
            record.hash = record.compute_hash();
            prev = record.hash.clone();
        }
        self.conn.execute("DELETE FROM audit", []).unwrap();
        for r in &records {
            self.conn
                .execute(
                    "INSERT INTO audit (seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![r.seq as i64, r.id, r.ts.as_millis(), r.caller_uid, r.caller_pid, r.caller_bus, r.action, r.contract_id, r.details, r.prev_hash, r.hash],
                )
                .unwrap();
        }
        let last = records.last().unwrap();
        self.conn
            .execute(
                "UPDATE audit_head SET seq = ?1, hash = ?2",
                params![last.seq as i64, last.hash],
            )
            .unwrap();
        records
    }

    /// Replaces every seal with `seals`, each pointed at its record's new hash, linked in
    /// order, and MAC'd with the only key the attacker has: the current one.
    fn reseal(&self, mut seals: Vec<Seal>, records: &[AuditRecord]) {
        self.conn.execute("DELETE FROM audit_seals", []).unwrap();
        let mut prev = NO_MAC.to_string();
        for seal in &mut seals {
            seal.hash = records[seal.seq as usize - 1].hash.clone();
            seal.prev_mac = prev;
            seal.mac = seal.compute_mac(&self.key);
            prev = seal.mac.clone();
            self.insert_seal(seal);
        }
    }

    fn insert_seal(&self, seal: &Seal) {
        self.conn
            .execute(
                "INSERT INTO audit_seals (era, epoch, next_epoch, kind, seq, hash, prev_mac, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![seal.era as i64, seal.epoch as i64, seal.next_epoch as i64, seal.kind.as_str(), seal.seq as i64, seal.hash, seal.prev_mac, seal.mac],
            )
            .unwrap();
    }
}

fn assert_broken(verification: &SealedVerification, needle: &str) {
    assert!(!verification.ok, "{verification:#?}");
    assert_eq!(
        verification.sealing,
        SealingStatus::Broken,
        "{verification:#?}"
    );
    assert!(
        verification.message.contains(needle),
        "expected '{needle}' in: {}",
        verification.message
    );
}

#[test]
fn a_sealed_log_verifies_with_its_key_and_reports_what_precedes_sealing_and_the_unsealed_tail() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let verification = verify(&path, Some(&key), now());
    assert!(verification.ok, "{verification:#?}");
    assert_eq!(verification.sealing, SealingStatus::Sealed);
    assert!(verification.key_checked);
    // Records 1-2 before sealing, 3 the enabling record, 4-11 in three epochs, 12 unsealed.
    assert_eq!(
        (
            verification.records,
            verification.sealed_from,
            verification.sealed_through,
            verification.unsealed_from,
            verification.seals
        ),
        (12, 3, 11, 12, 4)
    );
    let notes = verification.notes.join("\n");
    assert!(notes.contains("records 1..2 precede sealing"), "{notes}");
    assert!(
        notes.contains("records 12..12 are not sealed yet"),
        "{notes}"
    );
    // Without the key: the structure only, and it says so.
    let structural = verify(&path, None, now());
    assert!(structural.ok && !structural.key_checked, "{structural:#?}");
    assert!(
        structural.message.contains("only their structure"),
        "{structural:#?}"
    );
    // The plain verification (Audit1.Verify) carries the same finding.
    let (store, _) = Store::open(&path).unwrap();
    let plain = store.verify_audit().unwrap();
    assert!(
        plain.ok && plain.message.contains("sealed in era 1"),
        "{plain:?}"
    );
    // The store keeps the key of the epoch it is in, never an earlier one.
    let state = store.sealing().unwrap().unwrap();
    assert_eq!((state.era, state.epoch), (1, 4));
    let stored: Vec<u8> = Connection::open(&path)
        .unwrap()
        .query_row("SELECT key FROM audit_sealing", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, key.seed.evolve_by(4).as_bytes());
}

#[test]
fn a_wrong_or_mistyped_key_fails() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let other = VerificationKey::generate(at(0), INTERVAL).unwrap();
    assert_broken(&verify(&path, Some(&other), now()), "belongs to none");
    let mut shifted = key.clone();
    shifted.clock.interval_secs = 120;
    assert_broken(
        &verify(&path, Some(&shifted), now()),
        "start and interval differ",
    );
}

/// Attack (a): a record of epoch 1 is changed, the chain recomputed, and every seal remade
/// with the attacker's key (the current one). The structure is perfect; only the key shows
/// that epoch 1's seal was not made with epoch 1's key.
#[test]
fn attack_a_records_resealed_with_a_later_key_fail_with_the_key() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let attacker = Attacker::on(&path);
    assert_eq!(attacker.key_epoch, 4);
    let mut records = attacker.records();
    records[4].details = r#"{"check":"recall","code":"allowed"}"#.into();
    let records = attacker.rewrite_log(records);
    attacker.reseal(seals(&attacker.conn), &records);
    drop(attacker);
    let structural = verify(&path, None, now());
    assert!(structural.ok, "only the key can tell: {structural:#?}");
    let verification = verify(&path, Some(&key), now());
    assert_broken(&verification, "resealed with a later key");
    assert!(
        verification.message.contains("epoch 0"),
        "{}",
        verification.message
    );
}

/// Attack (b): records of epochs 2 and 3 are changed and their seals removed; the daemon goes
/// on and seals epoch 4 after the last seal it finds. The gap has no stop seal before it.
#[test]
fn attack_b_skipped_epochs_fail_as_unsealed_with_no_clean_stop() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let attacker = Attacker::on(&path);
    let mut records = attacker.records();
    records[8].details = r#"{"forged":true}"#.into();
    attacker.rewrite_log(records);
    attacker
        .conn
        .execute("DELETE FROM audit_seals WHERE epoch IN (2, 3)", [])
        .unwrap();
    drop(attacker);
    let (mut store, _) = Store::open(&path).unwrap();
    let tick = store.seal_due(at(4 * MINUTE + 100)).unwrap();
    assert_eq!(tick.sealed.map(|s| s.epoch), Some(4));
    drop(store);
    let with_key = verify(&path, Some(&key), at(4 * MINUTE + 200));
    assert_broken(
        &with_key,
        "epochs 2..3 unsealed with no clean stop: a crash, or removed records",
    );
    // The gap shows without the key too.
    assert_broken(&verify(&path, None, now()), "unsealed with no clean stop");
}

/// Attack (c): the log is truncated after epoch 1's seal and continued with new records, which
/// the attacker seals as epochs 2 and 3 with the current key, so no epoch is missing.
#[test]
fn attack_c_a_log_truncated_and_continued_fails() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let attacker = Attacker::on(&path);
    let old = seals(&attacker.conn);
    let cut = old[1].seq as usize; // records up to epoch 1's seal stay
    let mut records = attacker.records();
    records.truncate(cut);
    let mut continued = records.clone();
    for n in 0..4 {
        let mut record = records[cut - 1].clone();
        record.id = format!("forged-{n}");
        record.details = format!(r#"{{"n":{n}}}"#);
        continued.push(record);
    }
    let continued = attacker.rewrite_log(continued);
    let mut forged = old[..2].to_vec();
    for (epoch, seq) in [(2, cut + 2), (3, cut + 4)] {
        forged.push(Seal {
            era: 1,
            epoch,
            next_epoch: epoch + 1,
            kind: SealKind::Epoch,
            seq: seq as u64,
            hash: String::new(),
            prev_mac: String::new(),
            mac: String::new(),
        });
    }
    // Epoch 0's and 1's seals are kept as they were (their records are untouched).
    attacker
        .conn
        .execute("DELETE FROM audit_seals WHERE epoch >= 2", [])
        .unwrap();
    let mut prev = old[1].mac.clone();
    for seal in &mut forged[2..] {
        seal.hash = continued[seal.seq as usize - 1].hash.clone();
        seal.prev_mac = prev;
        seal.mac = seal.compute_mac(&attacker.key);
        prev = seal.mac.clone();
        attacker.insert_seal(seal);
    }
    drop(attacker);
    assert!(verify(&path, None, now()).ok, "a perfect structure");
    assert_broken(&verify(&path, Some(&key), now()), "epoch 2");
    assert_broken(
        &verify(&path, Some(&key), now()),
        "resealed with a later key",
    );
}

/// Attack (c), the lazy way: records removed from the end, the seals left as they were.
#[test]
fn attack_c_a_truncated_log_under_its_old_seals_fails_even_without_the_key() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let attacker = Attacker::on(&path);
    let mut records = attacker.records();
    records.truncate(9);
    attacker.rewrite_log(records);
    drop(attacker);
    assert_broken(&verify(&path, None, now()), "the log was truncated");
    assert_broken(&verify(&path, Some(&key), now()), "the log was truncated");
}

/// Attack (d): every seal and the sealing key removed. With the enabling record still in the
/// chain, the stripping shows with or without the key; with that record removed too (the
/// whole chain rewritten without it), the key still refuses a log that has no seals.
#[test]
fn attack_d_stripped_seals_fail() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let attacker = Attacker::on(&path);
    attacker
        .conn
        .execute_batch("DELETE FROM audit_seals; DELETE FROM audit_sealing;")
        .unwrap();
    assert_broken(
        &verify(&path, None, now()),
        "the store holds no sealing key",
    );
    assert_broken(&verify(&path, Some(&key), now()), "no sealing key");
    // The key left in place, only the seals gone.
    let (_dir2, path2) = store_path();
    let key2 = sealed_store(&path2);
    let attacker2 = Attacker::on(&path2);
    attacker2
        .conn
        .execute("DELETE FROM audit_seals", [])
        .unwrap();
    assert_broken(
        &verify(&path2, Some(&key2), now()),
        "has no seals: the seals were stripped",
    );
    // And the record that enabled sealing removed as well.
    let mut records = attacker.records();
    records.retain(|r| r.action != "audit.sealing_enabled");
    attacker.rewrite_log(records);
    drop(attacker);
    let stripped = verify(&path, Some(&key), now());
    assert_broken(&stripped, "the log holds no seals");
    // Without the key, such a log cannot be told from one never sealed: that is what the
    // verification key is for.
    let structural = verify(&path, None, now());
    assert!(
        structural.ok && structural.sealing == SealingStatus::Unsealed,
        "{structural:#?}"
    );
}

/// The daemon stopped sealing (crashed or killed) and the seals after some point are gone:
/// with the key, the verifier's clock shows the seals are overdue.
#[test]
fn seals_that_stop_without_a_stop_seal_are_overdue_for_a_verifier_with_the_key() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let attacker = Attacker::on(&path);
    attacker
        .conn
        .execute("DELETE FROM audit_seals WHERE epoch = 3", [])
        .unwrap();
    drop(attacker);
    // At ten minutes the clock is in epoch 11: epochs 3 to 10 ended with no seal.
    let later = at(10 * MINUTE);
    assert_broken(
        &verify(&path, Some(&key), later),
        "epochs 3..10 unsealed with no clean stop",
    );
    // Without the key the verifier has no clock to judge by: the structure holds.
    assert!(verify(&path, None, later).ok);
}

#[test]
fn a_clean_stop_seals_and_the_next_start_seals_the_downtime_as_a_jump() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    {
        let (mut store, _) = Store::open(&path).unwrap();
        let tick = store.seal_stop(at(3 * MINUTE + 9000)).unwrap();
        let stop = tick.sealed.unwrap();
        assert_eq!(
            (stop.kind, stop.epoch, stop.next_epoch),
            (SealKind::Stop, 4, 5)
        );
    }
    // Down for a day: a log that ends with a stop seal is owed no seal, and says it ended so.
    let day = 24 * 60 * MINUTE;
    let stopped = verify(&path, Some(&key), at(day));
    assert!(stopped.ok, "{stopped:#?}");
    assert!(
        stopped
            .notes
            .iter()
            .any(|n| n.contains("ends with a clean stop sealed in epoch 4")),
        "{:?}",
        stopped.notes
    );
    let (mut store, _) = Store::open(&path).unwrap();
    let clock_epoch = key.clock.epoch_at(at(day));
    let tick = store.seal_at_start(at(day)).unwrap();
    let start = tick
        .sealed
        .expect("the start seals the epoch after the stop");
    assert_eq!(
        (start.kind, start.epoch, start.next_epoch),
        (SealKind::Epoch, 5, clock_epoch)
    );
    append(&mut store, 2, at(day + 1000));
    let tick = store.seal_due(at(day + MINUTE)).unwrap();
    assert_eq!(tick.sealed.unwrap().epoch, clock_epoch);
    let verification = verify(&path, Some(&key), at(day + MINUTE + 1000));
    assert!(verification.ok, "{verification:#?}");
    assert_eq!(verification.unsealed_from, 0, "everything sealed");
}

/// Attack (c) through a clean stop: the log cut back to an old stop seal and continued with
/// the current key. The daemon seals the epoch after a stop at its next start, so a seal at a
/// later epoch right after a stop seal is a gap.
#[test]
fn attack_c_a_log_cut_back_to_a_stop_seal_and_continued_fails() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let day = 24 * 60 * MINUTE;
    {
        let (mut store, _) = Store::open(&path).unwrap();
        store.seal_stop(at(3 * MINUTE + 9000)).unwrap();
        drop(store);
        let (mut store, _) = Store::open(&path).unwrap();
        store.seal_at_start(at(day)).unwrap();
        append(&mut store, 3, at(day + 1000));
        store.seal_due(at(day + MINUTE)).unwrap();
    }
    // The attacker removes everything after the stop seal and continues from there, sealing
    // with the key the store holds now.
    let attacker = Attacker::on(&path);
    let all = seals(&attacker.conn);
    let stop = all
        .iter()
        .find(|s| s.kind == SealKind::Stop)
        .unwrap()
        .clone();
    let mut records = attacker.records();
    records.truncate(stop.seq as usize);
    let mut forged = records[records.len() - 1].clone();
    forged.id = "forged".into();
    records.push(forged);
    let records = attacker.rewrite_log(records);
    attacker
        .conn
        .execute(
            "DELETE FROM audit_seals WHERE epoch > ?1",
            [stop.epoch as i64],
        )
        .unwrap();
    let mut seal = Seal {
        era: 1,
        epoch: attacker.key_epoch,
        next_epoch: attacker.key_epoch + 1,
        kind: SealKind::Epoch,
        seq: records.len() as u64,
        hash: records[records.len() - 1].hash.clone(),
        prev_mac: stop.mac.clone(),
        mac: String::new(),
    };
    seal.mac = seal.compute_mac(&attacker.key);
    attacker.insert_seal(&seal);
    drop(attacker);
    let verification = verify(&path, Some(&key), at(day + MINUTE + 1000));
    assert_broken(&verification, "unsealed after the clean stop");
    assert!(
        verification
            .message
            .contains("records were removed after the stop"),
        "{}",
        verification.message
    );
    // The structure alone shows it too.
    assert_broken(&verify(&path, None, now()), "unsealed after the clean stop");
}

#[test]
fn after_a_crash_the_epoch_the_daemon_was_in_is_sealed_at_start_with_the_jump() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    // No stop seal: the daemon died in epoch 4. It starts again an hour later.
    let hour = 60 * MINUTE;
    let (mut store, _) = Store::open(&path).unwrap();
    let tick = store.seal_at_start(at(hour)).unwrap();
    let seal = tick.sealed.unwrap();
    let clock_epoch = key.clock.epoch_at(at(hour));
    assert_eq!(
        (seal.kind, seal.epoch, seal.next_epoch),
        (SealKind::Epoch, 4, clock_epoch)
    );
    let verification = verify(&path, Some(&key), at(hour + 1000));
    assert!(verification.ok, "{verification:#?}");
    assert_eq!(verification.sealed_through, 12);
}

#[test]
fn a_backward_clock_step_keeps_the_current_epoch() {
    let (_dir, path) = store_path();
    let (mut store, _) = Store::open(&path).unwrap();
    let key = setup(&mut store, at(0));
    append(&mut store, 2, at(1000));
    assert_eq!(store.seal_due(at(MINUTE)).unwrap().sealed.unwrap().epoch, 1);
    append(&mut store, 2, at(MINUTE + 1000));
    // The clock steps back an hour, to before the setup: epoch 2 goes on, nothing is sealed,
    // and no earlier key comes back.
    for back in [at(-60 * MINUTE), at(-1), at(MINUTE + 10)] {
        let tick = store.seal_due(back).unwrap();
        assert_eq!(tick.sealed, None);
        assert_eq!(tick.state.unwrap().epoch, 2);
    }
    append(&mut store, 1, at(-60 * MINUTE + 5));
    // Once the clock passes epoch 2's end again, epoch 2 is sealed, records from the step
    // included.
    let seal = store.seal_due(at(2 * MINUTE)).unwrap().sealed.unwrap();
    assert_eq!((seal.epoch, seal.next_epoch, seal.seq), (2, 3, 6));
    let verification = verify(&path, Some(&key), at(2 * MINUTE + 1));
    assert!(verification.ok, "{verification:#?}");
    assert_eq!(verification.sealed_through, 6);
}

#[test]
fn a_forward_clock_step_is_sealed_once_with_the_jump_and_the_key_evolves_through_it() {
    let (_dir, path) = store_path();
    let (mut store, _) = Store::open(&path).unwrap();
    let key = setup(&mut store, at(0));
    append(&mut store, 2, at(1000));
    // Ten days forward at once: one seal for epoch 1 recording the jump, not 14,400 seals.
    let ten_days = 10 * 24 * 60 * MINUTE;
    let jump = key.clock.epoch_at(at(ten_days));
    let seal = store.seal_due(at(ten_days)).unwrap().sealed.unwrap();
    assert_eq!((seal.epoch, seal.next_epoch), (1, jump));
    assert_eq!(store.sealing().unwrap().unwrap().epoch, jump);
    let stored: Vec<u8> = Connection::open(&path)
        .unwrap()
        .query_row("SELECT key FROM audit_sealing", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, key.seed.evolve_by(jump).as_bytes());
    append(&mut store, 1, at(ten_days + 1000));
    let next = store
        .seal_due(at(ten_days + MINUTE))
        .unwrap()
        .sealed
        .unwrap();
    assert_eq!(next.epoch, jump);
    let count: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM audit_seals", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 3, "the opening seal, the jump and the next epoch");
    let verification = verify(&path, Some(&key), at(ten_days + MINUTE + 1));
    assert!(verification.ok, "{verification:#?}");
    // The jump is under epoch 1's MAC: an attacker holding a later key cannot claim one.
    let attacker = Attacker::on(&path);
    let mut first = seals(&attacker.conn)[1].clone();
    attacker
        .conn
        .execute("DELETE FROM audit_seals WHERE epoch = 1", [])
        .unwrap();
    first.next_epoch = jump + 1;
    first.mac = first.compute_mac(&attacker.key);
    attacker.insert_seal(&first);
    drop(attacker);
    assert!(!verify(&path, Some(&key), at(ten_days + MINUTE + 1)).ok);
}

#[test]
fn a_second_setup_is_refused_and_force_starts_a_new_era_recorded_in_the_chain() {
    let (_dir, path) = store_path();
    let first = sealed_store(&path);
    let (mut store, _) = Store::open(&path).unwrap();
    let again = VerificationKey::generate(now(), INTERVAL).unwrap();
    let request = |force| SealingSetup {
        key: again.seed.clone(),
        key_epoch: 0,
        clock: again.clock,
        key_id: again.key_id(),
        origin: "bus",
        caller: Caller::uid(0),
        force,
    };
    let err = store.enable_sealing(request(false), now()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Sealing(learning_contracts::store::seal::SealError::AlreadySetUp {
                era: 1,
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("force"), "{err}");
    let state = store.enable_sealing(request(true), now()).unwrap();
    assert_eq!(state.era, 2);
    append(&mut store, 1, at(4 * MINUTE));
    drop(store);
    let newest = verify(&path, Some(&again), at(4 * MINUTE + 1));
    assert!(newest.ok, "{newest:#?}");
    assert_eq!((newest.era, newest.sealed_from), (2, 13));
    // The old key still proves its era, and says that it does not cover the newest.
    let old = verify(&path, Some(&first), at(4 * MINUTE + 1));
    assert!(!old.ok && old.key_checked, "{old:#?}");
    assert!(
        old.message
            .contains("verify with the newest verification key"),
        "{}",
        old.message
    );
    // Without a key, the newest era's structure.
    assert!(verify(&path, None, now()).ok);
}

#[test]
fn a_store_made_before_sealing_still_opens_and_verifies_as_unsealed() {
    let (_dir, path) = store_path();
    {
        // A store of schema version 1, as the build before sealing wrote it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    // Read-only, as contractctl reads it offline: no sealing tables at all.
    let old = verify(&path, None, now());
    assert!(old.ok && old.sealing == SealingStatus::Unsealed, "{old:#?}");
    assert!(old.message.contains("unsealed"), "{}", old.message);
    // With a key: there is nothing to prove, and that fails.
    let key = VerificationKey::generate(at(0), INTERVAL).unwrap();
    assert_broken(&verify(&path, Some(&key), now()), "the log holds no seals");
    // The daemon opens it (migrating it) and it keeps working, unsealed, until set up.
    let (mut store, _) = Store::open(&path).unwrap();
    append(&mut store, 3, at(0));
    assert_eq!(store.sealing().unwrap(), None);
    assert_eq!(store.seal_due(at(MINUTE)).unwrap().sealed, None);
    let plain = store.verify_audit().unwrap();
    assert!(plain.ok && plain.message.contains("unsealed"), "{plain:?}");
    let version: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, schema::CURRENT_VERSION);
}

#[test]
fn the_store_runs_with_secure_delete() {
    let (_dir, path) = store_path();
    let (store, _) = Store::open(&path).unwrap();
    drop(store);
    // secure_delete is a connection setting; the store sets it on its own connection. The
    // evolved key overwrites the row in place; this checks the old key's bytes are gone from
    // the file after a seal (the write-ahead log is emptied after each seal).
    let (mut store, _) = Store::open(&path).unwrap();
    let key = setup(&mut store, at(0));
    store.seal_due(at(MINUTE)).unwrap();
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-shm"] {
        let mut side = path.clone().into_os_string();
        side.push(suffix);
        bytes.extend(std::fs::read(side).unwrap_or_default());
    }
    for epoch in 0..2 {
        let old = key.seed.evolve_by(epoch);
        assert!(
            !bytes.windows(32).any(|w| w == old.as_bytes()),
            "the key of epoch {epoch} is still in the store's files"
        );
    }
    let current = key.seed.evolve_by(2);
    assert!(bytes.windows(32).any(|w| w == current.as_bytes()));
}

// ---- The bit-flip sweep ----

/// One bit of one stored value: table, rowid, column, bit.
#[derive(Clone, Debug)]
struct Bit {
    table: &'static str,
    rowid: i64,
    column: &'static str,
    bit: usize,
}

const RECORD_COLUMNS: [&str; 11] = [
    "seq",
    "id",
    "ts",
    "caller_uid",
    "caller_pid",
    "caller_bus",
    "action",
    "contract_id",
    "details",
    "prev_hash",
    "hash",
];
const SEAL_COLUMNS: [&str; 8] = [
    "era",
    "epoch",
    "next_epoch",
    "kind",
    "seq",
    "hash",
    "prev_mac",
    "mac",
];

/// Every bit of epoch 2's records (4..=… up to its seal) and of the seals of epochs 1 and 2.
fn sealed_segment_bits(conn: &Connection) -> Vec<Bit> {
    let all = seals(conn);
    let (from, through) = (all[1].seq + 1, all[2].seq);
    let mut bits = Vec::new();
    let mut add = |table: &'static str, rowid: i64, columns: &[&'static str]| {
        for column in columns {
            let value: rusqlite::types::Value = conn
                .query_row(
                    &format!("SELECT {column} FROM {table} WHERE rowid = ?1"),
                    [rowid],
                    |row| row.get(0),
                )
                .unwrap();
            let width = match value {
                rusqlite::types::Value::Integer(_) => 64,
                rusqlite::types::Value::Text(text) => text.len() * 8,
                rusqlite::types::Value::Blob(blob) => blob.len() * 8,
                _ => 0,
            };
            for bit in 0..width {
                bits.push(Bit {
                    table,
                    rowid,
                    column,
                    bit,
                });
            }
        }
    };
    for seq in from..=through {
        add("audit", seq as i64, &RECORD_COLUMNS);
    }
    let rowids: Vec<i64> = conn
        .prepare("SELECT rowid FROM audit_seals WHERE era = 1 AND epoch IN (1, 2)")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for rowid in rowids {
        add("audit_seals", rowid, &SEAL_COLUMNS);
    }
    bits
}

/// Flips `bit` in place; returns the rowid the value now lives at (a flipped `seq` of a
/// record moves its row), or none when SQLite refuses the flip (a sequence number that
/// collides with another record's).
fn flip(conn: &Connection, bit: &Bit, rowid: i64) -> Option<i64> {
    let value: rusqlite::types::Value = conn
        .query_row(
            &format!("SELECT {} FROM {} WHERE rowid = ?1", bit.column, bit.table),
            [rowid],
            |row| row.get(0),
        )
        .unwrap();
    let outcome = match value {
        rusqlite::types::Value::Integer(n) => {
            let flipped = n ^ (1i64 << bit.bit);
            let done = conn.execute(
                &format!(
                    "UPDATE {} SET {} = ?1 WHERE rowid = ?2",
                    bit.table, bit.column
                ),
                params![flipped, rowid],
            );
            done.map(|_| {
                if bit.table == "audit" && bit.column == "seq" {
                    flipped
                } else {
                    rowid
                }
            })
        }
        rusqlite::types::Value::Text(text) => {
            let mut bytes = text.into_bytes();
            bytes[bit.bit / 8] ^= 1 << (bit.bit % 8);
            // As raw bytes: a flip may well make invalid UTF-8, as it would on disk.
            conn.execute(
                &format!(
                    "UPDATE {} SET {} = CAST(?1 AS TEXT) WHERE rowid = ?2",
                    bit.table, bit.column
                ),
                params![bytes, rowid],
            )
            .map(|_| rowid)
        }
        other => panic!("unexpected value {other:?}"),
    };
    outcome.ok()
}

/// Reads a text value back as bytes for the restoring flip (it may no longer be UTF-8).
fn flip_back(conn: &Connection, bit: &Bit, rowid: i64) {
    let typeof_: String = conn
        .query_row(
            &format!(
                "SELECT typeof({}) FROM {} WHERE rowid = ?1",
                bit.column, bit.table
            ),
            [rowid],
            |row| row.get(0),
        )
        .unwrap();
    if typeof_ == "integer" {
        let n: i64 = conn
            .query_row(
                &format!("SELECT {} FROM {} WHERE rowid = ?1", bit.column, bit.table),
                [rowid],
                |row| row.get(0),
            )
            .unwrap();
        conn.execute(
            &format!(
                "UPDATE {} SET {} = ?1 WHERE rowid = ?2",
                bit.table, bit.column
            ),
            params![n ^ (1i64 << bit.bit), rowid],
        )
        .unwrap();
    } else {
        let mut bytes: Vec<u8> = conn
            .query_row(
                &format!(
                    "SELECT CAST({} AS BLOB) FROM {} WHERE rowid = ?1",
                    bit.column, bit.table
                ),
                [rowid],
                |row| row.get(0),
            )
            .unwrap();
        bytes[bit.bit / 8] ^= 1 << (bit.bit % 8);
        conn.execute(
            &format!(
                "UPDATE {} SET {} = CAST(?1 AS TEXT) WHERE rowid = ?2",
                bit.table, bit.column
            ),
            params![bytes, rowid],
        )
        .unwrap();
    }
}

/// Flips each bit of the sealed segment in turn (with a `stride` above 1, a sample of them),
/// verifies with the key, and flips it back. Returns how many flips were made.
fn sweep(stride: usize) -> usize {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let attacker = Attacker::on(&path);
    // The attacker's session need not be durable: the sweep makes thousands of writes.
    attacker
        .conn
        .pragma_update(None, "synchronous", "OFF")
        .unwrap();
    let bits = sealed_segment_bits(&attacker.conn);
    assert!(bits.len() > 5_000, "{} bits", bits.len());
    // The sample: every `stride`-th bit, plus the first bit of each kind (table, column, bit
    // position within a byte) the stride would miss, so the full sweep adds no kind of flip
    // the sample lacks.
    let mut seen = std::collections::BTreeSet::new();
    let sample: Vec<&Bit> = bits
        .iter()
        .enumerate()
        .filter(|(index, bit)| {
            let new_kind = seen.insert((bit.table, bit.column, bit.bit % 8));
            index % stride == 0 || new_kind
        })
        .map(|(_, bit)| bit)
        .collect();
    let kinds = |bits: &[&Bit]| {
        let mut kinds: Vec<(&str, &str, usize)> = bits
            .iter()
            .map(|b| (b.table, b.column, b.bit % 8))
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    };
    assert_eq!(kinds(&sample), kinds(&bits.iter().collect::<Vec<_>>()));
    let mut reader = AuditReader::open(&path).unwrap();
    let mut flipped = 0;
    let mut refused = 0;
    for bit in sample {
        let Some(moved) = flip(&attacker.conn, bit, bit.rowid) else {
            refused += 1;
            continue;
        };
        flipped += 1;
        let verification = reader.verify_sealed(Some(&key), now()).unwrap();
        assert!(
            !verification.ok,
            "flipping bit {} of {} in {} row {} went unnoticed",
            bit.bit, bit.column, bit.table, bit.rowid
        );
        flip_back(&attacker.conn, bit, moved);
    }
    // Only sequence numbers that would collide with another record's are refused by SQLite.
    assert!(refused <= 64 * 8, "{refused} flips refused");
    let restored = reader.verify_sealed(Some(&key), now()).unwrap();
    assert!(restored.ok, "{restored:#?}");
    flipped
}

/// A bounded, deterministic sample of the sweep: every 29th bit, and the first bit of every
/// column and bit position within a byte that the stride misses (`sweep` checks the sample
/// reaches every kind of flip the full sweep makes).
#[test]
fn a_sample_of_bit_flips_in_a_sealed_segment_each_fails_verification() {
    let flipped = sweep(29);
    assert!(flipped >= 300, "{flipped} flips");
}

/// The whole sweep: every bit of the sealed segment (about 9,400 flips; a few seconds even in a
/// debug build). Not needed for coverage (the sample above reaches every column and bit
/// position, and checks that it does); CI runs `cargo test` without `--include-ignored`, so run
/// it on demand with `cargo test --test bus audit_sealing:: -- --ignored`.
#[test]
#[ignore = "the full sweep; CI runs the sample, run this on demand with --ignored"]
fn every_bit_flip_in_a_sealed_segment_fails_verification() {
    sweep(1);
}

// ---- The daemon on a bus ----

use crate::common::bus::{
    DaemonProcess, TestBus, call_daemon, connect_as, error_message, outcome, require_root,
    static_config,
};
use std::collections::HashMap;
use zbus::OwnedVariant;

fn sealing_config() -> String {
    static_config("AIRGAP", "[audit]\nseal_interval_seconds = 600\n")
}

async fn setup_sealing(conn: &zbus::Connection, force: bool) -> zbus::Result<String> {
    let mut options: HashMap<String, OwnedVariant> = HashMap::new();
    if force {
        options.insert("force".into(), common::bus::variant(true));
    }
    call_daemon(conn, "Audit1", "SetupSealing", &(options,)).await
}

fn seal_kinds(path: &Path) -> Vec<(u64, String)> {
    let conn = Connection::open(path).unwrap();
    let mut statement = conn
        .prepare("SELECT era, kind FROM audit_seals ORDER BY era, epoch")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get::<_, i64>(0)? as u64, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_over_the_bus_is_for_admins_refuses_a_second_setup_and_a_stop_is_sealed() {
    if !require_root("setup_over_the_bus_is_for_admins_refuses_a_second_setup_and_a_stop_is_sealed")
    {
        return;
    }
    let bus = TestBus::start();
    let mut daemon = DaemonProcess::start(&bus, &sealing_config());
    let store = daemon.state_dir.join("contracts.db");
    let stranger = connect_as(&bus, 1000, &[1000]).await;
    let refused = setup_sealing(&stranger, false).await;
    assert_eq!(
        outcome(&refused),
        "org.freedesktop.DBus.Error.AccessDenied",
        "{}",
        error_message(&refused)
    );
    let root = connect_as(&bus, 0, &[0]).await;
    let bad_option: zbus::Result<String> = call_daemon(
        &root,
        "Audit1",
        "SetupSealing",
        &(HashMap::from([(
            "forse".to_string(),
            common::bus::variant(true),
        )]),),
    )
    .await;
    assert_eq!(
        outcome(&bad_option),
        "org.freedesktop.DBus.Error.InvalidArgs"
    );
    let first: VerificationKey = setup_sealing(&root, false).await.unwrap().parse().unwrap();
    assert_eq!(
        first.clock.interval_secs, 600,
        "[audit] seal_interval_seconds"
    );
    let again = setup_sealing(&root, false).await;
    assert_eq!(outcome(&again), "org.learningcontracts.Error.AlreadyExists");
    assert!(
        error_message(&again).contains("force"),
        "{}",
        error_message(&again)
    );
    let second: VerificationKey = setup_sealing(&root, true).await.unwrap().parse().unwrap();
    assert_ne!(first.key_id(), second.key_id());
    // The daemon keeps neither seed.
    let state: Vec<u8> = Connection::open(&store)
        .unwrap()
        .query_row("SELECT key FROM audit_sealing", [], |row| row.get(0))
        .unwrap();
    assert_ne!(state, first.seed.as_bytes());
    assert_ne!(state, second.seed.as_bytes());
    // Verified live, read-only, beside the running daemon.
    let live = verify(&store, Some(&second), Timestamp::now());
    assert!(live.ok && live.era == 2, "{live:#?}");
    assert!(daemon.stop().success(), "{}", daemon.log());
    assert_eq!(
        seal_kinds(&store),
        [
            (1, "open".into()),
            (1, "stop".into()),
            (2, "open".into()),
            (2, "stop".into())
        ],
        "the forced setup closed era 1, the clean stop sealed era 2"
    );
    let stopped = verify(&store, Some(&second), Timestamp::now());
    assert!(stopped.ok, "{stopped:#?}");
    assert_eq!(stopped.unsealed_from, 0, "the stop sealed everything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contractctl_sets_up_keys_for_root_only_and_verifies_the_store_with_the_key() {
    if !require_root("contractctl_sets_up_keys_for_root_only_and_verifies_the_store_with_the_key") {
        return;
    }
    use crate::common::cli::contractctl;
    let bus = TestBus::start();
    let mut daemon = DaemonProcess::start(&bus, &sealing_config());
    let store = daemon.state_dir.join("contracts.db");
    let store_arg = store.to_str().unwrap();
    let denied = contractctl(&bus, 1000, &["audit", "setup-keys"]);
    assert_eq!(denied.code, 3, "{}{}", denied.stdout, denied.stderr);
    // Before setup: unsealed, fine without a key.
    let unsealed = contractctl(&bus, 0, &["audit", "verify", "--store", store_arg]);
    assert_eq!(unsealed.code, 0, "{}{}", unsealed.stdout, unsealed.stderr);
    assert!(unsealed.stdout.contains("unsealed"), "{}", unsealed.stdout);
    let shown = contractctl(&bus, 0, &["audit", "setup-keys"]);
    assert_eq!(shown.code, 0, "{}{}", shown.stdout, shown.stderr);
    let key = shown
        .stdout
        .lines()
        .map(str::trim)
        .find(|line| line.parse::<VerificationKey>().is_ok())
        .unwrap_or_else(|| panic!("no key in: {}", shown.stdout))
        .to_string();
    assert!(
        shown
            .stdout
            .contains("keep it somewhere other than this host")
            || shown
                .stdout
                .contains("Keep it somewhere other than this host"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains('▀') || shown.stdout.contains('▄'),
        "a QR code in half blocks"
    );
    let verified = contractctl(
        &bus,
        0,
        &["audit", "verify", "--key", &key, "--store", store_arg],
    );
    assert_eq!(verified.code, 0, "{}{}", verified.stdout, verified.stderr);
    assert!(verified.stdout.starts_with("OK:"), "{}", verified.stdout);
    let as_json = contractctl(
        &bus,
        0,
        &[
            "--json", "audit", "verify", "--key", &key, "--store", store_arg,
        ],
    );
    let finding: serde_json::Value = serde_json::from_str(&as_json.stdout).unwrap();
    assert_eq!(finding["sealing"], "sealed");
    assert_eq!(finding["key_checked"], true);
    // A wrong key fails with exit status 1, a mistyped one with 5.
    let other = VerificationKey::generate(Timestamp::now(), 600)
        .unwrap()
        .to_string();
    let wrong = contractctl(
        &bus,
        0,
        &["audit", "verify", "--key", &other, "--store", store_arg],
    );
    assert_eq!(wrong.code, 1, "{}{}", wrong.stdout, wrong.stderr);
    assert!(wrong.stdout.starts_with("BROKEN:"), "{}", wrong.stdout);
    let garbled = contractctl(
        &bus,
        0,
        &["audit", "verify", "--key", "nonsense", "--store", store_arg],
    );
    assert_eq!(garbled.code, 5, "{}{}", garbled.stdout, garbled.stderr);
    // The daemon's own Verify (no key) sees the seals too.
    let plain = contractctl(&bus, 0, &["audit", "verify"]);
    assert_eq!(plain.code, 0, "{}{}", plain.stdout, plain.stderr);
    assert!(plain.stdout.contains("sealed in era 1"), "{}", plain.stdout);
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_takes_its_sealing_key_from_a_credential_once() {
    if !require_root("the_daemon_takes_its_sealing_key_from_a_credential_once") {
        return;
    }
    use crate::common::cli::contractctl;
    let bus = TestBus::start();
    let root = tempfile::tempdir().unwrap().keep();
    let credentials = root.join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let file = credentials.join("audit-sealing-key");
    let made = contractctl(
        &bus,
        0,
        &[
            "--json",
            "audit",
            "setup-keys",
            "--offline",
            "--output",
            file.to_str().unwrap(),
            "--interval",
            "600",
        ],
    );
    assert_eq!(made.code, 0, "{}{}", made.stdout, made.stderr);
    let shown: serde_json::Value = serde_json::from_str(&made.stdout).unwrap();
    let key: VerificationKey = shown["verification_key"].as_str().unwrap().parse().unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        !text.contains(&hex::encode(key.seed.as_bytes())),
        "the file never holds the seed"
    );
    // Never over an existing file.
    let again = contractctl(
        &bus,
        0,
        &[
            "audit",
            "setup-keys",
            "--offline",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(again.code, 5, "{}{}", again.stdout, again.stderr);
    let env = [("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())];
    let mut daemon = DaemonProcess::start_in(&bus, &sealing_config(), &root, &env);
    assert!(
        daemon.log().contains("remove the credential now"),
        "{}",
        daemon.log()
    );
    let store = daemon.state_dir.join("contracts.db");
    let verification = verify(&store, Some(&key), Timestamp::now());
    assert!(
        verification.ok && verification.key_checked,
        "{verification:#?}"
    );
    daemon.stop();
    // A second start with the credential still there does not take it again.
    let mut daemon = DaemonProcess::start_in(&bus, &sealing_config(), &root, &env);
    assert!(
        daemon.log().contains("it is not used and may be removed"),
        "{}",
        daemon.log()
    );
    daemon.stop();
    assert_eq!(
        seal_kinds(&store).len(),
        3,
        "open, stop, stop: {:?}",
        seal_kinds(&store)
    );
    assert!(verify(&store, Some(&key), Timestamp::now()).ok);
    // A credential that does not parse refuses the start, as a bad configuration does.
    std::fs::write(&file, "garbage").unwrap();
    let other = tempfile::tempdir().unwrap().keep();
    let mut refused = DaemonProcess::spawn_with(&bus, &sealing_config(), &other, &env, &[]);
    let status = refused.wait_exit();
    assert_eq!(status.code(), Some(78), "{}", refused.log());
    assert!(
        refused.log().contains("audit-sealing-key"),
        "{}",
        refused.log()
    );
}

/// The daemon's seal timer, end to end: with 10-second epochs the first epoch's seal appears
/// on its own once the epoch is over. (Waited for, with a generous bound only against a hang;
/// nothing is asserted about how long it took.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_daemon_seals_each_epoch_as_it_ends() {
    if !require_root("the_running_daemon_seals_each_epoch_as_it_ends") {
        return;
    }
    let bus = TestBus::start();
    let mut daemon = DaemonProcess::start(
        &bus,
        &static_config("AIRGAP", "[audit]\nseal_interval_seconds = 10\n"),
    );
    let store = daemon.state_dir.join("contracts.db");
    let root = connect_as(&bus, 0, &[0]).await;
    let key: VerificationKey = setup_sealing(&root, false).await.unwrap().parse().unwrap();
    let bound = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !seal_kinds(&store).iter().any(|(_, kind)| kind == "epoch") {
        assert!(
            std::time::Instant::now() < bound,
            "no epoch was sealed: {:?}\n{}",
            seal_kinds(&store),
            daemon.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let live = verify(&store, Some(&key), Timestamp::now());
    assert!(live.ok && live.key_checked && live.seals >= 2, "{live:#?}");
    assert!(daemon.stop().success(), "{}", daemon.log());
    assert!(verify(&store, Some(&key), Timestamp::now()).ok);
}

/// A seal while a reader holds an old snapshot (a long Audit1.Verify) still commits: the
/// write-ahead log is emptied only when no reader needs it, without waiting, and the next seal
/// empties it once the reader is done.
#[test]
fn a_seal_beside_a_long_read_commits_and_the_next_one_erases_the_old_keys() {
    let (_dir, path) = store_path();
    let (mut store, _) = Store::open(&path).unwrap();
    let key = setup(&mut store, at(0));
    append(&mut store, 2, at(1000));
    let reader =
        Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let count: i64 = reader
        .query_row("SELECT count(*) FROM audit", [], |row| row.get(0))
        .unwrap();
    assert_eq!(count, 3);
    let seal = store.seal_due(at(MINUTE)).unwrap().sealed.unwrap();
    assert_eq!(seal.epoch, 1);
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    store.seal_due(at(2 * MINUTE)).unwrap();
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    bytes.extend(std::fs::read(wal).unwrap_or_default());
    for epoch in 0..3 {
        let old = key.seed.evolve_by(epoch);
        assert!(
            !bytes.windows(32).any(|w| w == old.as_bytes()),
            "the key of epoch {epoch} is still in the store's files"
        );
    }
    assert!(verify(&path, Some(&key), at(2 * MINUTE + 1)).ok);
}

#[test]
fn an_archived_sealed_log_still_verifies_with_its_key_and_a_moved_anchor_fails() {
    let (_dir, path) = store_path();
    let key = sealed_store(&path);
    let (mut store, _) = Store::open(&path).unwrap();
    // Archive through record 7: the enabling record (3) and the first epoch's seal go out.
    let through = store.read_audit(6, 1).unwrap().remove(0);
    assert_eq!(through.seq, 7);
    let archived = AuditEvent {
        caller: Caller::uid(0),
        action: "audit.archived",
        contract_id: None,
        details: serde_json::json!({"through_seq": 7, "through_hash": through.hash}),
    };
    assert_eq!(
        store
            .archive_audit(7, &through.hash, &archived, at(3 * MINUTE + 3000))
            .unwrap(),
        7
    );
    // The record the archive leaves carries the era it moved out.
    let left = store.read_audit(0, 100).unwrap();
    let record = left.iter().find(|r| r.action == "audit.archived").unwrap();
    let details: serde_json::Value = serde_json::from_str(&record.details).unwrap();
    assert_eq!(details["sealing_enabled"][0]["seq"], 3, "{details}");
    drop(store);
    let verification = verify(&path, Some(&key), now());
    assert!(verification.ok, "{verification:#?}");
    assert!(verification.key_checked);
    assert!(
        verification
            .notes
            .join("\n")
            .contains("records 1 to 7 were archived"),
        "{verification:#?}"
    );
    // The anchor moved by someone who removed more records: the seal naming the old anchor
    // no longer matches, or a record is missing.
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER audit_refuses_delete")
        .unwrap();
    let next: (i64, String) = conn
        .query_row("SELECT seq, hash FROM audit WHERE seq = 8", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    conn.execute("DELETE FROM audit WHERE seq = 8", []).unwrap();
    conn.execute(
        "UPDATE audit_anchor SET seq = ?1, hash = ?2",
        params![next.0, next.1],
    )
    .unwrap();
    drop(conn);
    let moved = verify(&path, Some(&key), now());
    assert!(!moved.ok, "{moved:#?}");
}
