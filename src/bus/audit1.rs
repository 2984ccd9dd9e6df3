//! `org.learningcontracts.Audit1`: the hash-chained audit log.

use super::Daemon;
use super::args::{self, Request};
use super::authorize::Action;
use super::dicts::Dict;
use super::error::BusError;
use crate::core::Timestamp;
use crate::store::seal::{SealError, VerificationKey};
use crate::store::sealing::SealingSetup;
use crate::store::{AuditReader, StoreError};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::sync::Mutex;
use zbus::interface;
use zbus::message::Header;
use zbus::{OwnedVariant, Variant};

/// The audit log.
#[derive(Debug, Clone)]
pub struct Audit1 {
    pub(crate) daemon: Arc<Daemon>,
}

/// The audit log's own read-only connections to the store: one for `Read`, one for `Verify`.
/// Neither runs on the writer thread, so a long walk of the chain holds up no mutation; each
/// runs in `spawn_blocking`, one call at a time per connection. A second Verify waits for the
/// first to finish (an admin asking twice gets two answers, not an error).
#[derive(Debug, Default)]
pub struct AuditReads {
    reads: OnceLock<Arc<Mutex<AuditReader>>>,
    verifies: OnceLock<Arc<Mutex<AuditReader>>>,
}

impl AuditReads {
    /// Opens both connections to the store at `path` (which the writer has opened already).
    pub fn open(&self, path: &Path) -> Result<(), StoreError> {
        let _ = self
            .reads
            .set(Arc::new(Mutex::new(AuditReader::open(path)?)));
        let _ = self
            .verifies
            .set(Arc::new(Mutex::new(AuditReader::open(path)?)));
        Ok(())
    }

    /// Runs `job` on `connection` in a blocking thread once the previous job on it is done.
    async fn run<R, F>(
        connection: &OnceLock<Arc<Mutex<AuditReader>>>,
        job: F,
    ) -> Result<R, BusError>
    where
        R: Send + 'static,
        F: FnOnce(&mut AuditReader) -> Result<R, StoreError> + Send + 'static,
    {
        let connection = connection
            .get()
            .ok_or_else(|| BusError::unavailable("the audit log is not open yet"))?;
        let mut reader = Arc::clone(connection).lock_owned().await;
        let outcome = tokio::task::spawn_blocking(move || job(&mut reader))
            .await
            .map_err(|_| BusError::unavailable("reading the audit log failed"))?;
        Ok(outcome?)
    }
}

fn put<'a>(dict: &mut Dict, key: &str, value: impl Into<Variant<'a>>) {
    if let Ok(value) = OwnedVariant::try_from(value.into()) {
        dict.insert(key.to_string(), value);
    }
}

/// The append-only audit log: every lifecycle transition, mode change, lockdown, pause,
/// registration and denied check, each record chained to the one before by SHA-256, and,
/// once SetupSealing was called, sealed forward-securely at the end of every epoch.
#[interface(name = "org.learningcontracts.Audit1")]
impl Audit1 {
    /// Up to limit records after sequence number after_seq, oldest first (admin;
    /// org.learningcontracts.manage-all). A record: seq t, id s, ts x (seconds), ts_ms x (the
    /// milliseconds the hash covers), caller_uid u and
    /// caller_pid u (absent for the daemon itself), caller_bus s, action s, contract_id s,
    /// details s (JSON, as chained), prev_hash s, hash s; and opened s (JSON) where the
    /// details hold a memory's sealed id, domain, context and sources: the details with those
    /// opened while the memory exists, "(purged)" once a deep purge destroyed its key.
    async fn read(
        &self,
        after_seq: u64,
        limit: u32,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<Vec<Dict>, BusError> {
        let who = self.daemon.identify(connection, &header).await?;
        self.daemon
            .require(&who, Action::ManageAll, &header)
            .await?;
        let limit = limit.min(self.daemon.config().config.limits.max_audit_read);
        let records = AuditReads::run(&self.daemon.audit_reads.reads, move |reader| {
            reader.read_audit_opened(after_seq, limit)
        })
        .await?;
        Ok(records
            .into_iter()
            .map(|(record, opened)| {
                let mut dict = Dict::new();
                put(&mut dict, "seq", record.seq);
                put(&mut dict, "id", record.id);
                put(&mut dict, "ts", record.ts.as_secs());
                put(&mut dict, "ts_ms", record.ts.as_millis());
                if let Some(uid) = record.caller_uid {
                    put(&mut dict, "caller_uid", uid);
                }
                if let Some(pid) = record.caller_pid {
                    put(&mut dict, "caller_pid", pid);
                }
                put(
                    &mut dict,
                    "caller_bus",
                    record.caller_bus.unwrap_or_default(),
                );
                put(&mut dict, "action", record.action);
                put(
                    &mut dict,
                    "contract_id",
                    record.contract_id.unwrap_or_default(),
                );
                put(&mut dict, "details", record.details);
                if let Some(opened) = opened {
                    put(&mut dict, "opened", opened);
                }
                put(&mut dict, "prev_hash", record.prev_hash);
                put(&mut dict, "hash", record.hash);
                dict
            })
            .collect())
    }

    /// Recomputes the whole chain and checks the structure of its seals (admin;
    /// org.learningcontracts.manage-all): (ok, records read, first broken sequence number or
    /// 0, message). The seals' MACs need the admin's verification key, which the daemon does
    /// not have: contractctl audit verify, given the key, checks them. One verification runs at a time;
    /// a second call waits for the one before it.
    #[zbus(out_args("ok", "records", "first_bad", "message"))]
    async fn verify(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<(bool, u64, u64, String), BusError> {
        let who = self.daemon.identify(connection, &header).await?;
        self.daemon
            .require(&who, Action::ManageAll, &header)
            .await?;
        let verification =
            AuditReads::run(&self.daemon.audit_reads.verifies, AuditReader::verify_audit).await?;
        Ok((
            verification.ok,
            verification.records,
            verification.first_bad,
            verification.message,
        ))
    }

    /// Removes the records up to through_seq from the store once they are safe in an archive
    /// (admin; org.learningcontracts.manage-all): through_hash must be that record's hash, as
    /// the archive holds it. In one transaction the records go, the chain's anchor becomes
    /// that record (so the records left still verify) and an audit.archived record names
    /// the caller and the range. Returns how many records were removed. A sequence number not
    /// in the store, or another hash, is InvalidState and removes nothing. `contractctl audit
    /// archive` writes and checks the archive file first.
    async fn archive(
        &self,
        through_seq: u64,
        through_hash: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<u64, BusError> {
        if through_hash.len() != 64 || !through_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BusError::invalid_args(
                "through_hash",
                "must be a record hash: 64 hexadecimal digits",
            ));
        }
        let through_hash = through_hash.to_ascii_lowercase();
        let who = self.daemon.identify(connection, &header).await?;
        self.daemon
            .require(&who, Action::ManageAll, &header)
            .await?;
        let caller = who.caller();
        self.daemon
            .writer_for(&who, &header)
            .mutate(move |ledger| {
                ledger.archive_audit(&caller, through_seq, &through_hash, Timestamp::now())
            })
            .await
    }

    /// Sets up forward-secure sealing of the audit log (admin; org.learningcontracts.manage-all;
    /// options: force b). The daemon makes a new random seed, records the new sealing era in
    /// the chain (audit.sealing_enabled), seals that record with the seed, keeps only the next
    /// epoch's key, and returns the verification key once, as text: the seed in hex, a slash,
    /// then the start and the epoch length in seconds, in hex. The daemon keeps no copy: write
    /// it down and keep it off this host. Epochs last [audit] seal_interval_seconds. When
    /// sealing is set up already, answers org.learningcontracts.Error.AlreadyExists unless
    /// force is true, which closes the current era with a stop seal and begins the next.
    async fn setup_sealing(
        &self,
        options: Request,
        #[zbus(header)] header: Header<'_>,
        #[zbus(connection)] connection: &zbus::Connection,
    ) -> Result<String, BusError> {
        let config = self.daemon.config();
        let force = args::sealing_options(&options, &config.config.limits)?;
        let who = self.daemon.identify(connection, &header).await?;
        self.daemon
            .require(&who, Action::ManageAll, &header)
            .await?;
        let now = Timestamp::now();
        let key = VerificationKey::generate(now, config.config.audit.seal_interval_seconds)
            .map_err(|err| {
                tracing::error!(error = %err, "no sealing key could be made");
                BusError::unavailable("no random bytes for a sealing key; try again")
            })?;
        let setup = SealingSetup {
            key: key.seed.clone(),
            key_epoch: 0,
            clock: key.clock,
            key_id: key.key_id(),
            origin: "bus",
            caller: who.caller(),
            force,
        };
        let state = self
            .daemon
            .writer
            .read(move |ledger| ledger.enable_sealing(setup, now))
            .await?
            .map_err(|err| match err {
                StoreError::Sealing(refusal @ SealError::AlreadySetUp { .. }) => {
                    BusError::already_exists(refusal.to_string())
                }
                other => other.into(),
            })?;
        self.daemon.sealing_changed.notify_one();
        tracing::warn!(
            era = state.era,
            interval = state.clock.interval_secs,
            uid = who.uid,
            "audit sealing set up (era {}); the verification key was handed to the caller and is not kept",
            state.era
        );
        Ok(key.to_string())
    }

    /// The last record's sequence number.
    #[zbus(property)]
    fn head_seq(&self) -> u64 {
        self.daemon.writer.head().seq
    }

    /// The last record's hash.
    #[zbus(property)]
    fn head_hash(&self) -> String {
        self.daemon.writer.head().hash
    }
}
