//! `org.learningcontracts.Audit1`: the hash-chained audit log.

use super::Daemon;
use super::authorize::Action;
use super::dicts::Dict;
use super::error::BusError;
use std::sync::Arc;
use zbus::interface;
use zbus::message::Header;
use zbus::{OwnedVariant, Variant};

/// The audit log.
#[derive(Debug)]
pub struct Audit1 {
    pub(crate) daemon: Arc<Daemon>,
}

fn put<'a>(dict: &mut Dict, key: &str, value: impl Into<Variant<'a>>) {
    if let Ok(value) = OwnedVariant::try_from(value.into()) {
        dict.insert(key.to_string(), value);
    }
}

/// The append-only audit log: every lifecycle transition, mode change, lockdown, pause,
/// registration and denied check, each record chained to the one before by SHA-256.
#[interface(name = "org.learningcontracts.Audit1")]
impl Audit1 {
    /// Up to limit records after sequence number after_seq, oldest first (admin;
    /// org.learningcontracts.manage-all). A record: seq t, id s, ts x, caller_uid u and
    /// caller_pid u (absent for the daemon itself), caller_bus s, action s, contract_id s,
    /// details s (JSON), prev_hash s, hash s.
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
        let records = self
            .daemon
            .writer
            .read(move |ledger| ledger.store().read_audit(after_seq, limit))
            .await??;
        Ok(records
            .into_iter()
            .map(|record| {
                let mut dict = Dict::new();
                put(&mut dict, "seq", record.seq);
                put(&mut dict, "id", record.id);
                put(&mut dict, "ts", record.ts.as_secs());
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
                put(&mut dict, "prev_hash", record.prev_hash);
                put(&mut dict, "hash", record.hash);
                dict
            })
            .collect())
    }

    /// Recomputes the whole chain: (ok, records read, first broken sequence number or 0,
    /// message).
    #[zbus(out_args("ok", "records", "first_bad", "message"))]
    async fn verify(&self) -> Result<(bool, u64, u64, String), BusError> {
        let verification = self
            .daemon
            .writer
            .read(|ledger| ledger.store().verify_audit())
            .await??;
        Ok((
            verification.ok,
            verification.records,
            verification.first_bad,
            verification.message,
        ))
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
