//! The durable store: one SQLite file in WAL mode with `synchronous=FULL`, one writer, schema
//! migrations by `user_version`, and the hash-chained audit log. A [`Change`] commits in one
//! transaction; when [`Store::commit`] returns `Ok`, the change is on disk.

mod load;
pub mod reader;
pub mod room;
pub mod schema;
pub use learning_contracts_rules::seal;
pub mod sealing;

use crate::core::chain::{self, AuditRecord, AuditVerification, GENESIS_HASH};
use crate::core::{
    AuditEvent, Change, Contract, HostState, MemoryRecord, Name, Timestamp,
    memory::{MemoryStatus, ShredKey},
};
pub use reader::AuditReader;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why the store could not be opened, read or written.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error("cannot open the store at {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a healthy database: refuse it rather than start over empty.
    #[error(
        "the store at {path} is damaged ({detail}); restore it from a backup or move it aside, the daemon will not start over with an empty store"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the integrity check or SQLite reported.
        detail: String,
    },
    /// A newer build wrote this database.
    #[error(
        "the store at {path} has schema version {found}, newer than this build supports ({supported}); run the newer learning-contractsd, or restore a backup"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its `user_version`.
        found: i64,
        /// The highest this build knows.
        supported: i64,
    },
    /// A database, but not one of ours.
    #[error(
        "{path} is an SQLite database that is not a learning-contracts store; point the daemon at another file"
    )]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// A read or write failed (disk full, I/O error, locked).
    #[error("the store could not be written or read: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored record does not decode.
    #[error("a stored record does not decode: {0}")]
    Decode(String),
    /// Sealing was refused (set up already without force, a bad key).
    #[error(transparent)]
    Sealing(#[from] seal::SealError),
}

/// Why an archive step removed nothing.
#[derive(Debug, Error)]
pub enum ArchiveRefusal {
    /// The sequence number is not one of the records in the store.
    #[error(
        "record {through_seq} is not in the store, which holds records {first} to {last}; nothing was removed"
    )]
    OutOfRange {
        /// What was asked.
        through_seq: u64,
        /// The first record in the store.
        first: u64,
        /// The last.
        last: u64,
    },
    /// The archive's last record is not the store's.
    #[error(
        "the archive's record {through_seq} does not match the store's (different hash); nothing was removed"
    )]
    HashMismatch {
        /// What was asked.
        through_seq: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ArchiveRefusal {
    fn from(err: rusqlite::Error) -> Self {
        Self::Store(err.into())
    }
}

/// What the store holds, loaded at startup.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every contract ([`Store::open`]; empty from [`Store::open_with`], which hands them to
    /// its sink instead).
    pub contracts: Vec<Contract>,
    /// Every memory record.
    pub memories: Vec<MemoryRecord>,
    /// The host state.
    pub host: HostState,
}

/// The page size of a new store. Larger than SQLite's 4 KiB default: reading 100,000
/// contracts and checking the whole file at startup make a quarter of the read calls and
/// walk a quarter of the pages, for about 0.1 ms more per commit.
const PAGE_SIZE: i64 = 16 * 1024;

/// The write-ahead log is copied back into the database once it holds this much, whatever
/// the page size (SQLite's default is 1,000 pages, 4 MB with its default page size).
const WAL_CHECKPOINT_BYTES: i64 = 4 * 1024 * 1024;

/// Where [`Store::open_with`] puts the contracts it reads.
pub trait ContractSink {
    /// Called once, before the first batch: how many contracts the store holds.
    fn expect(&mut self, count: usize);
    /// A batch of decoded contracts, in no particular order.
    fn take(&mut self, batch: Vec<Contract>);
}

impl ContractSink for Vec<Contract> {
    fn expect(&mut self, count: usize) {
        self.reserve(count);
    }

    fn take(&mut self, batch: Vec<Contract>) {
        self.extend(batch);
    }
}

/// The last record of the audit chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    /// Its sequence number (0 when the log is empty).
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// The store. Owned by exactly one writer.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    head: AuditHead,
    /// A deep purge committed but the write-ahead log still holds what it deleted: the
    /// truncating checkpoint is tried again after every commit until it succeeds.
    truncate_pending: bool,
    /// How long a write waits for another process's lock (kept to restore it after a
    /// checkpoint that must not wait: store/sealing.rs).
    busy_timeout: std::time::Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("head", &self.head)
            .finish()
    }
}

impl Store {
    /// Opens the store at `path`, creating it (mode 0600) when the file does not exist or is
    /// empty. A damaged database, one from a newer schema, or a foreign database is refused.
    pub fn open(path: &Path) -> Result<(Store, Loaded), StoreError> {
        let mut contracts = Vec::new();
        let (store, mut loaded) = Self::open_with(path, &mut contracts)?;
        loaded.contracts = contracts;
        Ok((store, loaded))
    }

    /// Opens the store like [`Store::open`], handing the contracts to `sink` in batches, in no
    /// particular order, as they are decoded: the caller indexes one batch while the next
    /// decodes. When this returns an error, what the sink was given must be thrown away.
    pub fn open_with(
        path: &Path,
        sink: &mut dyn ContractSink,
    ) -> Result<(Store, Loaded), StoreError> {
        let path = path.to_path_buf();
        create_private_file(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| corrupt_or(&path, err))?;
        let corrupt = |err: rusqlite::Error| corrupt_or(&path, err);
        // The first statement reads the header: a file that is not a database fails here.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(corrupt)?;
        if version > schema::CURRENT_VERSION {
            return Err(StoreError::NewerSchema {
                path,
                found: version,
                supported: schema::CURRENT_VERSION,
            });
        }
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(corrupt)?;
        if version == 0 && tables > 0 {
            // Refused before anything is checked or written: it is not ours.
            return Err(StoreError::Foreign { path });
        }
        // A store that needs migrating is checked before it is changed.
        if version < schema::CURRENT_VERSION {
            quick_check(&conn, &path)?;
        }
        if tables == 0 {
            // Set before the first write creates the file's header; an older store keeps its
            // page size (changing it would rewrite the whole file).
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(corrupt)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Decode(format!(
                "the store could not switch to WAL mode (it reports {mode})"
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Deleted and overwritten content is zeroed in the file, not left in free space: a deep
        // purge must leave nothing of the memories it deleted, and an evolved sealing key must
        // not leave the one before it behind (store/sealing.rs).
        conn.pragma_update(None, "secure_delete", "ON")?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            (WAL_CHECKPOINT_BYTES / page_size.max(512)).max(1),
        )?;
        let busy_timeout = std::time::Duration::from_secs(5);
        conn.busy_timeout(busy_timeout)?;
        let mut store = Store {
            conn,
            busy_timeout,
            path,
            head: AuditHead {
                seq: 0,
                hash: GENESIS_HASH.to_string(),
            },
            truncate_pending: false,
        };
        store.migrate(version)?;
        // A crash between a deep purge's commit and its checkpoint left old frames in the
        // write-ahead log: they go before anything else happens.
        store.truncate_wal()?;
        // A current store is checked on a second, read-only connection while this one loads:
        // on a large store the check and the load each take a good part of the startup. The
        // check's verdict wins over whatever the load made of a damaged file.
        let (checked, loaded) = std::thread::scope(|scope| {
            let checker = (version == schema::CURRENT_VERSION).then(|| {
                let path = store.path.clone();
                scope.spawn(move || {
                    let reader = Connection::open_with_flags(
                        &path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                    .map_err(|err| corrupt_or(&path, err))?;
                    quick_check(&reader, &path)
                })
            });
            let loaded = store.read_head().and_then(|head| {
                store.head = head;
                store.load(sink)
            });
            let checked = match checker {
                Some(checker) => checker.join().unwrap_or_else(|_| {
                    Err(StoreError::Decode("the integrity check panicked".into()))
                }),
                None => Ok(()),
            };
            (checked, loaded)
        });
        checked?;
        Ok((store, loaded?))
    }

    /// The file the store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal mode and synchronous level in force, as SQLite reports them
    /// (expected: "wal" and 2, FULL).
    pub fn settings(&self) -> Result<(String, i64), StoreError> {
        let mode = self
            .conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        let synchronous = self
            .conn
            .query_row("PRAGMA synchronous", [], |row| row.get(0))?;
        Ok((mode, synchronous))
    }

    /// How long a write waits for a lock held by another process before failing.
    pub fn set_busy_timeout(&mut self, timeout: std::time::Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(timeout)?;
        self.busy_timeout = timeout;
        Ok(())
    }

    /// The last audit record's sequence number and hash.
    pub fn head(&self) -> &AuditHead {
        &self.head
    }

    fn migrate(&mut self, from: i64) -> Result<(), StoreError> {
        for (index, sql) in schema::MIGRATIONS.iter().enumerate() {
            let to = index as i64 + 1;
            if to <= from {
                continue;
            }
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()?;
        }
        if (1..2).contains(&from) {
            // Migration 2 dropped the purged-id hashes and rewrote the memories: rebuild the
            // file so none of their bytes stay in free pages, and empty the write-ahead log.
            self.conn.execute_batch("VACUUM")?;
            self.truncate_wal()?;
        }
        Ok(())
    }

    /// Copies the write-ahead log into the database and truncates it to nothing, so bytes a
    /// deep purge deleted do not survive in old log frames. Waits (the busy timeout) for
    /// readers on an older snapshot; `Ok(false)` when they still held it.
    fn truncate_wal(&mut self) -> Result<bool, StoreError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        self.truncate_pending = busy != 0;
        Ok(busy == 0)
    }

    fn read_head(&self) -> Result<AuditHead, StoreError> {
        reader::read_head(&self.conn)
    }

    fn load(&self, sink: &mut dyn ContractSink) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded::default();
        load::contracts(&self.conn, sink)?;
        let mut statement = self.conn.prepare(
            "SELECT id, contract_id, owner, domain, context, classification, abstraction, derived_from, status, created, shred_ref, shred_key FROM memories",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, u32>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, u8>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, i64>(9)?,
                row.get::<_, String>(10)?,
                row.get::<_, Vec<u8>>(11)?,
            ))
        })?;
        for row in rows {
            let (
                id,
                contract_id,
                owner,
                domain,
                context,
                class,
                abstraction,
                derived,
                status,
                created,
                shred_ref,
                shred_key,
            ) = row?;
            let bad = |what: &str| StoreError::Decode(format!("memory {id}: bad {what}"));
            loaded.memories.push(MemoryRecord {
                contract_id,
                owner,
                domain: Name::parse(&domain).map_err(|_| bad("domain"))?,
                context: Name::parse(&context).map_err(|_| bad("context"))?,
                classification: crate::core::MemoryClass::from_wire(class)
                    .ok_or_else(|| bad("classification"))?,
                abstraction: crate::core::Abstraction::parse(&abstraction)
                    .ok_or_else(|| bad("abstraction"))?,
                derived_from: decode(&derived)?,
                status: MemoryStatus::parse(&status).ok_or_else(|| bad("status"))?,
                created: Timestamp::from_millis(created),
                shred: ShredKey {
                    reference: shred_ref,
                    key: shred_key.try_into().map_err(|_| bad("audit key"))?,
                },
                id,
            });
        }
        let host: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM host_state WHERE singleton = 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(host) = host {
            loaded.host = decode(&host)?;
        }
        Ok(loaded)
    }

    /// Commits a change in one transaction. On `Ok` it is durably on disk; on `Err` nothing of
    /// it was written.
    pub fn commit(&mut self, change: &Change) -> Result<(), StoreError> {
        let at = change.at.unwrap_or_else(Timestamp::now);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        write_contracts(&tx, &change.contracts)?;
        write_memories(&tx, &change.memories)?;
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM memories WHERE owner = ?1 AND id = ?2")?;
            for gone in &change.purged {
                delete.execute(params![gone.owner, gone.id])?;
            }
        }
        if let Some(host) = &change.host {
            tx.execute(
                "INSERT INTO host_state (singleton, state) VALUES (1, ?1)
                 ON CONFLICT(singleton) DO UPDATE SET state = excluded.state",
                params![encode(host)?],
            )?;
        }
        let head = append_audit(&tx, &self.head, &change.audit, at)?;
        tx.commit()?;
        self.head = head;
        if !change.purged.is_empty() || self.truncate_pending {
            // Committed either way; a checkpoint that fails is tried again after the next
            // commit, and the purge is not undone.
            match self.truncate_wal() {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    "the write-ahead log could not be emptied after a deep purge (a reader held \
                     it); trying again after the next change"
                ),
                Err(err) => {
                    self.truncate_pending = true;
                    tracing::warn!(error = %err, "the write-ahead log could not be emptied after a deep purge; trying again after the next change");
                }
            }
        }
        Ok(())
    }

    /// Proves the store can be written again after a failure: one write transaction that
    /// rewrites the audit head's row as it is, committed like any change (so it needs the same
    /// room in the write-ahead log). Changes nothing.
    pub fn probe_write(&mut self) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("UPDATE audit_head SET seq = seq WHERE singleton = 1", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Appends audit records alone (denied checks, which are decided without the writer).
    pub fn append_audit(&mut self, events: &[AuditEvent], at: Timestamp) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let head = append_audit(&tx, &self.head, events, at)?;
        tx.commit()?;
        self.head = head;
        Ok(())
    }

    /// Moves the records up to `through_seq` out of the store in one transaction, once the
    /// caller has them safe in an archive: the record at `through_seq` must have the hash
    /// `through_hash` (proof that the archive holds the chain as the store does). The anchor
    /// becomes that record, so the records left still verify, and `event` (the
    /// `audit.archived` record) is appended. Returns how many records were removed.
    pub fn archive_audit(
        &mut self,
        through_seq: u64,
        through_hash: &str,
        event: &AuditEvent,
        at: Timestamp,
    ) -> Result<u64, ArchiveRefusal> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let anchor = reader::read_anchor(&tx)?;
        if through_seq <= anchor.seq || through_seq > self.head.seq {
            return Err(ArchiveRefusal::OutOfRange {
                through_seq,
                first: anchor.seq + 1,
                last: self.head.seq,
            });
        }
        let hash: Option<String> = tx
            .query_row(
                "SELECT hash FROM audit WHERE seq = ?1",
                params![through_seq as i64],
                |row| row.get(0),
            )
            .optional()?;
        if hash.as_deref() != Some(through_hash) {
            return Err(ArchiveRefusal::HashMismatch { through_seq });
        }
        // The eras enabled in the records that go (and in earlier archives' records that go)
        // stay known to the chain through the record this archive leaves.
        let mut eras: Vec<serde_json::Value> = Vec::new();
        {
            let mut statement = tx.prepare(
                "SELECT seq, action, details FROM audit WHERE seq <= ?1 AND action IN (?2, ?3) ORDER BY seq",
            )?;
            let rows = statement.query_map(
                params![through_seq as i64, seal::SEALING_ENABLED, seal::ARCHIVED],
                |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                },
            )?;
            for row in rows {
                let (seq, action, details) = row?;
                if action == seal::SEALING_ENABLED {
                    eras.push(serde_json::json!({"seq": seq, "details": details}));
                } else if let Ok(value) = serde_json::from_str::<serde_json::Value>(&details) {
                    eras.extend(
                        value["sealing_enabled"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .cloned(),
                    );
                }
            }
        }
        let mut event = event.clone();
        if !eras.is_empty() {
            event.details["sealing_enabled"] = serde_json::Value::Array(eras);
        }
        // The log refuses deletes; the refusal is lifted for this transaction only.
        tx.execute_batch("DROP TRIGGER audit_refuses_delete")?;
        let removed = tx.execute(
            "DELETE FROM audit WHERE seq <= ?1",
            params![through_seq as i64],
        )? as u64;
        tx.execute_batch(
            "CREATE TRIGGER audit_refuses_delete BEFORE DELETE ON audit
                 BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;",
        )?;
        tx.execute(
            "UPDATE audit_anchor SET seq = ?1, hash = ?2 WHERE singleton = 1",
            params![through_seq as i64, through_hash],
        )?;
        let head = append_audit(&tx, &self.head, std::slice::from_ref(&event), at)?;
        tx.commit()?;
        self.head = head;
        Ok(removed)
    }

    /// Where the records in the store continue the chain (nothing archived: the genesis).
    pub fn audit_anchor(&self) -> Result<chain::ChainAnchor, StoreError> {
        reader::read_anchor(&self.conn)
    }

    /// Up to `limit` audit records after sequence number `after_seq`, oldest first.
    pub fn read_audit(&self, after_seq: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        reader::audit_page(&self.conn, after_seq, limit)
    }

    /// Recomputes the whole chain and reports the first broken record (on the writer's
    /// connection; the daemon verifies on an [`AuditReader`] instead).
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        reader::verify_in(&self.conn)
    }

    /// Verifies the chain and its seals, with the admin's key when given
    /// ([`AuditReader::verify_sealed`]).
    pub fn verify_sealed(
        &self,
        key: Option<&seal::VerificationKey>,
        now: Timestamp,
    ) -> Result<seal::SealedVerification, StoreError> {
        reader::verify_sealed_in(&self.conn, self.audit_anchor()?, key, now)
    }
}

fn audit_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRecord> {
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
}

fn write_contracts(tx: &Transaction<'_>, contracts: &[Contract]) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO contracts (id, owner, kind, state, supersedes, record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, kind = excluded.kind,
             state = excluded.state, supersedes = excluded.supersedes, record = excluded.record",
    )?;
    for contract in contracts {
        upsert.execute(params![
            contract.id,
            contract.owner,
            contract.kind.as_str(),
            contract.state.as_str(),
            contract.supersedes,
            encode(contract)?,
        ])?;
    }
    Ok(())
}

fn write_memories(tx: &Transaction<'_>, memories: &[MemoryRecord]) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO memories (id, contract_id, owner, domain, context, classification, abstraction, derived_from, status, created, shred_ref, shred_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(owner, id) DO UPDATE SET contract_id = excluded.contract_id,
             status = excluded.status, derived_from = excluded.derived_from",
    )?;
    for memory in memories {
        upsert.execute(params![
            memory.id,
            memory.contract_id,
            memory.owner,
            memory.domain.as_str(),
            memory.context.as_str(),
            memory.classification.wire(),
            memory.abstraction.as_str(),
            encode(&memory.derived_from)?,
            memory.status.as_str(),
            memory.created.as_millis(),
            memory.shred.reference,
            memory.shred.key.as_slice(),
        ])?;
    }
    Ok(())
}

/// Appends `events` after `head` inside `tx`, returning the new head.
fn append_audit(
    tx: &Transaction<'_>,
    head: &AuditHead,
    events: &[AuditEvent],
    at: Timestamp,
) -> Result<AuditHead, StoreError> {
    if events.is_empty() {
        return Ok(head.clone());
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO audit (seq, id, ts, caller_uid, caller_pid, caller_bus, action, contract_id, details, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let mut seq = head.seq;
    let mut prev_hash = head.hash.clone();
    for event in events {
        seq += 1;
        let mut record = AuditRecord {
            seq,
            id: ulid::Ulid::new().to_string(),
            ts: at,
            caller_uid: event.caller.uid,
            caller_pid: event.caller.pid,
            caller_bus: event.caller.bus_name.clone(),
            action: event.action.to_string(),
            contract_id: event.contract_id.clone(),
            details: event.details.to_string(),
            prev_hash,
            hash: String::new(),
        };
        record.hash = record.compute_hash();
        insert.execute(params![
            record.seq as i64,
            record.id,
            record.ts.as_millis(),
            record.caller_uid,
            record.caller_pid,
            record.caller_bus,
            record.action,
            record.contract_id,
            record.details,
            record.prev_hash,
            record.hash,
        ])?;
        prev_hash = record.hash;
    }
    tx.execute(
        "UPDATE audit_head SET seq = ?1, hash = ?2 WHERE singleton = 1",
        params![seq as i64, prev_hash],
    )?;
    Ok(AuditHead {
        seq,
        hash: prev_hash,
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Decode(err.to_string()))
}

/// `PRAGMA quick_check`: the b-trees and their pages are sound. Anything but "ok" refuses the
/// store, naming what SQLite found.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(|err| corrupt_or(path, err))?;
    if check == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: check,
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|err| StoreError::Decode(err.to_string()))
}

/// Creates the file with mode 0600 if it does not exist, so private data is never readable by
/// others even for a moment.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Open {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// SQLite's "not a database" and "malformed" answers mean a damaged file; anything else is
/// reported as it is.
fn corrupt_or(path: &Path, err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    match err.sqlite_error_code() {
        Some(NotADatabase | DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: err.to_string(),
        },
        _ => StoreError::Sqlite(err),
    }
}
