//! The store's side of sealing: the daemon's current sealing key (one row, overwritten as it
//! evolves, with `secure_delete` on so the old key's bytes do not stay in the page), the seals
//! (append-only), and the record that enables an era. The scheme is in `seal.rs`.

use super::seal::{
    EnabledDetails, EpochClock, NO_MAC, SEALING_ENABLED, Seal, SealError, SealKey, SealKind,
    StoredSeal,
};
use super::{Store, StoreError, append_audit};
use crate::core::{AuditEvent, Caller, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The daemon's sealing state, without its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealingState {
    /// The era.
    pub era: u64,
    /// The epoch of the key held now: the epoch the next seal seals.
    pub epoch: u64,
    /// The era's clock.
    pub clock: EpochClock,
}

impl SealingState {
    /// When the current epoch's seal is due by the wall clock.
    pub fn due(&self) -> Timestamp {
        self.clock.end_of(self.epoch)
    }
}

/// A new sealing era to begin.
#[derive(Debug)]
pub struct SealingSetup {
    /// The era's key at `key_epoch`: the seed (epoch 0) from `SetupSealing`, key 1 from a
    /// credential.
    pub key: SealKey,
    /// Its epoch.
    pub key_epoch: u64,
    /// The era's clock.
    pub clock: EpochClock,
    /// The era's fingerprint (`SealKey::key_id` of key 1).
    pub key_id: String,
    /// "bus" or "credential", for the record.
    pub origin: &'static str,
    /// Who asked, for the record.
    pub caller: Caller,
    /// Close an existing era and begin the next; without it an existing era refuses.
    pub force: bool,
}

/// What one call of [`Store::seal_due`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealTick {
    /// The seal written, if an epoch ended.
    pub sealed: Option<Seal>,
    /// The state afterwards (none when sealing is not set up).
    pub state: Option<SealingState>,
}

impl Store {
    /// The sealing state, if sealing is set up.
    pub fn sealing(&self) -> Result<Option<SealingState>, StoreError> {
        Ok(read_state(&self.conn)?.map(|(state, _)| state))
    }

    /// Begins a sealing era in one transaction: with `force`, the current era is first closed
    /// with a stop seal; then an `audit.sealing_enabled` record is appended, the era's opening
    /// seal over it is written with the opening epoch's key, and only the next epoch's key is
    /// kept. The opening epoch is the one before the clock's, so the first real epoch ends on
    /// the clock's boundary (for `SetupSealing`, epoch 0: the seed seals only the opening).
    pub fn enable_sealing(
        &mut self,
        setup: SealingSetup,
        now: Timestamp,
    ) -> Result<SealingState, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let existing = read_state(&tx)?;
        if let Some((state, key)) = &existing {
            if !setup.force {
                return Err(StoreError::Sealing(SealError::AlreadySetUp {
                    era: state.era,
                    start_secs: state.clock.start_secs,
                }));
            }
            let next = state.clock.epoch_at(now).max(state.epoch + 1);
            write_seal(&tx, state, key, SealKind::Stop, next, &self.head)?;
        }
        let highest: Option<i64> =
            tx.query_row("SELECT max(era) FROM audit_seals", [], |row| row.get(0))?;
        let era = existing
            .as_ref()
            .map_or(0, |(state, _)| state.era)
            .max(highest.unwrap_or(0).max(0) as u64)
            + 1;
        let opening = setup
            .key_epoch
            .max(setup.clock.epoch_at(now).saturating_sub(1));
        let key = setup.key.evolve_by(opening - setup.key_epoch);
        let details = EnabledDetails {
            era,
            start: setup.clock.start_secs,
            interval: setup.clock.interval_secs,
            epoch: opening,
            key_id: setup.key_id,
            origin: setup.origin.to_string(),
        };
        let event = AuditEvent {
            caller: setup.caller,
            action: SEALING_ENABLED,
            contract_id: None,
            details: serde_json::to_value(&details)
                .map_err(|err| StoreError::Decode(err.to_string()))?,
        };
        let head = append_audit(&tx, &self.head, &[event], now)?;
        let state = SealingState {
            era,
            epoch: opening,
            clock: setup.clock,
        };
        let state = write_seal(&tx, &state, &key, SealKind::Open, opening + 1, &head)?;
        tx.commit()?;
        self.head = head;
        self.forget_old_keys();
        Ok(state)
    }

    /// Seals the current epoch if the wall clock has passed its end: one seal over the head,
    /// whose next epoch is the clock's (so a forward step or downtime is recorded in the seal
    /// as a jump), then the key evolves to the clock's epoch and the old one is overwritten.
    /// A clock that stepped back changes nothing: the current epoch goes on.
    pub fn seal_due(&mut self, now: Timestamp) -> Result<SealTick, StoreError> {
        self.seal(now, false)
    }

    /// A clean stop: seals the current epoch with the stop flag whatever the clock says, so a
    /// verifier does not take the time the daemon is down for missing seals.
    pub fn seal_stop(&mut self, now: Timestamp) -> Result<SealTick, StoreError> {
        self.seal(now, true)
    }

    /// At start: the epoch the daemon was in when it stopped (cleanly: the epoch after the
    /// stop seal; after a crash: the epoch it crashed in) is sealed as soon as the clock has
    /// passed it, with the downtime recorded as a jump. The key never moves on without a seal,
    /// so no epoch is ever skipped: a log cut back to a stop seal and continued under a later
    /// key shows as a gap (docs/DECISIONS.md).
    pub fn seal_at_start(&mut self, now: Timestamp) -> Result<SealTick, StoreError> {
        self.seal_due(now)
    }

    fn seal(&mut self, now: Timestamp, stop: bool) -> Result<SealTick, StoreError> {
        // Most calls find nothing due (or no sealing at all): decided without taking the
        // write lock.
        match read_state(&self.conn)? {
            None => {
                return Ok(SealTick {
                    sealed: None,
                    state: None,
                });
            }
            Some((state, _)) if !stop && state.clock.epoch_at(now) <= state.epoch => {
                return Ok(SealTick {
                    sealed: None,
                    state: Some(state),
                });
            }
            Some(_) => {}
        }
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some((state, key)) = read_state(&tx)? else {
            return Ok(SealTick {
                sealed: None,
                state: None,
            });
        };
        let clock_epoch = state.clock.epoch_at(now);
        if !stop && clock_epoch <= state.epoch {
            return Ok(SealTick {
                sealed: None,
                state: Some(state),
            });
        }
        let next = clock_epoch.max(state.epoch + 1);
        let kind = if stop {
            SealKind::Stop
        } else {
            SealKind::Epoch
        };
        let after = write_seal(&tx, &state, &key, kind, next, &self.head)?;
        let sealed = last_seal(&tx, state.era)?;
        tx.commit()?;
        self.forget_old_keys();
        Ok(SealTick {
            sealed,
            state: Some(after),
        })
    }

    /// After the key row was overwritten: the old key's page may still be in the write-ahead
    /// log, so the log is copied back and emptied. Best effort and without waiting: a reader in
    /// the middle of a long read (an Audit1.Verify) keeps it until the next seal, rather than
    /// holding up every commit behind the checkpoint.
    fn forget_old_keys(&self) {
        let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
        let outcome: rusqlite::Result<i64> =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0));
        if let Err(err) = self.conn.busy_timeout(self.busy_timeout) {
            tracing::warn!(error = %err, "the store's busy timeout could not be restored after a seal");
        }
        match outcome {
            Ok(0) => {}
            Ok(_) => tracing::debug!(
                "the write-ahead log could not be emptied after a seal (a reader holds it); the next seal tries again"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "the write-ahead log could not be checkpointed after a seal")
            }
        }
    }
}

/// The sealing state and the current key, if sealing is set up (and the tables exist: a store
/// read by a newer tool may predate them).
pub(super) fn read_state(conn: &Connection) -> Result<Option<(SealingState, SealKey)>, StoreError> {
    if !has_table(conn, "audit_sealing")? {
        return Ok(None);
    }
    let row: Option<(i64, i64, Vec<u8>, i64, i64)> = conn
        .query_row(
            "SELECT era, epoch, key, start_secs, interval_secs FROM audit_sealing WHERE singleton = 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)),
        )
        .optional()?;
    let Some((era, epoch, key, start_secs, interval_secs)) = row else {
        return Ok(None);
    };
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| StoreError::Decode("the sealing key is not 32 bytes".into()))?;
    let number = |value: i64, what: &str| {
        u64::try_from(value)
            .map_err(|_| StoreError::Decode(format!("the sealing state's {what} is negative")))
    };
    Ok(Some((
        SealingState {
            era: number(era, "era")?,
            epoch: number(epoch, "epoch")?,
            clock: EpochClock {
                start_secs,
                interval_secs: number(interval_secs, "interval")?,
            },
        },
        SealKey::from_bytes(key),
    )))
}

/// The era of the sealing state, if sealing is set up (the verifier's view: no key read).
pub(super) fn state_era(conn: &Connection) -> Result<Option<u64>, StoreError> {
    if !has_table(conn, "audit_sealing")? {
        return Ok(None);
    }
    let era: Option<i64> = conn
        .query_row(
            "SELECT era FROM audit_sealing WHERE singleton = 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(era.map(|era| era.max(0) as u64))
}

/// Whether the store has the table `name`.
pub(super) fn has_table(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    let count: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        params![name],
        |row| row.get(0),
    )?;
    Ok(count > 0)
}

/// Every seal as stored, in (era, epoch) order.
pub(super) fn stored_seals(conn: &Connection) -> Result<Vec<StoredSeal>, StoreError> {
    if !has_table(conn, "audit_seals")? {
        return Ok(Vec::new());
    }
    let mut statement = conn.prepare(
        "SELECT era, epoch, next_epoch, kind, seq, hash, prev_mac, mac FROM audit_seals ORDER BY era, epoch",
    )?;
    let bytes = |row: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<Vec<u8>> {
        Ok(row
            .get_ref(i)?
            .as_bytes_or_null()?
            .unwrap_or_default()
            .to_vec())
    };
    let rows = statement.query_map([], |row| {
        Ok(StoredSeal {
            era: row.get(0)?,
            epoch: row.get(1)?,
            next_epoch: row.get(2)?,
            kind: bytes(row, 3)?,
            seq: row.get(4)?,
            hash: bytes(row, 5)?,
            prev_mac: bytes(row, 6)?,
            mac: bytes(row, 7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The era's last seal.
fn last_seal(conn: &Connection, era: u64) -> Result<Option<Seal>, StoreError> {
    let stored = conn
        .query_row(
            "SELECT era, epoch, next_epoch, kind, seq, hash, prev_mac, mac FROM audit_seals
             WHERE era = ?1 ORDER BY epoch DESC LIMIT 1",
            params![era as i64],
            |row| {
                Ok(StoredSeal {
                    era: row.get(0)?,
                    epoch: row.get(1)?,
                    next_epoch: row.get(2)?,
                    kind: row.get::<_, String>(3)?.into_bytes(),
                    seq: row.get(4)?,
                    hash: row.get::<_, String>(5)?.into_bytes(),
                    prev_mac: row.get::<_, String>(6)?.into_bytes(),
                    mac: row.get::<_, String>(7)?.into_bytes(),
                })
            },
        )
        .optional()?;
    stored
        .map(|stored| stored.decode().map_err(StoreError::Decode))
        .transpose()
}

/// Writes the seal of `state`'s epoch over `head` with `key`, linked to the era's last seal,
/// then keeps only the key of `next` (overwriting the row). Returns the state after.
fn write_seal(
    tx: &Transaction<'_>,
    state: &SealingState,
    key: &SealKey,
    kind: SealKind,
    next: u64,
    head: &super::AuditHead,
) -> Result<SealingState, StoreError> {
    // The daemon links to the seal it finds: one removed under it leaves a visible gap.
    let prev_mac = last_seal(tx, state.era)?.map_or_else(|| NO_MAC.to_string(), |seal| seal.mac);
    let mut seal = Seal {
        era: state.era,
        epoch: state.epoch,
        next_epoch: next,
        kind,
        seq: head.seq,
        hash: head.hash.clone(),
        prev_mac,
        mac: String::new(),
    };
    seal.mac = seal.compute_mac(key);
    tx.execute(
        "INSERT INTO audit_seals (era, epoch, next_epoch, kind, seq, hash, prev_mac, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            seal.era as i64,
            seal.epoch as i64,
            seal.next_epoch as i64,
            seal.kind.as_str(),
            seal.seq as i64,
            seal.hash,
            seal.prev_mac,
            seal.mac,
        ],
    )?;
    let after = SealingState {
        epoch: next,
        ..*state
    };
    write_state(tx, &after, &key.evolve_by(next - state.epoch))?;
    Ok(after)
}

/// Overwrites the one state row with `state` and its key.
fn write_state(conn: &Connection, state: &SealingState, key: &SealKey) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit_sealing (singleton, era, epoch, key, start_secs, interval_secs)
         VALUES (1, ?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(singleton) DO UPDATE SET era = excluded.era, epoch = excluded.epoch,
             key = excluded.key, start_secs = excluded.start_secs,
             interval_secs = excluded.interval_secs",
        params![
            state.era as i64,
            state.epoch as i64,
            &key.as_bytes()[..],
            state.clock.start_secs,
            state.clock.interval_secs as i64,
        ],
    )?;
    Ok(())
}
