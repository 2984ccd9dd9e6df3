//! The daemon's checkpoints of the audit chain in the journal (`core::checkpoint` decides when):
//! one structured entry with its own MESSAGE_ID and the head's sequence number and hash, so
//! that someone who rewrites the store must forge the journal too. The writer thread looks
//! after every job that moved the head, a timer looks when the interval ends, and the service
//! writes one at start and at a clean stop.
//!
//! The entry is an ordinary `tracing` event: the journald layer writes each field as a journal
//! field of the same name in capitals (the layer runs without a field prefix, see
//! `service::logging`), so `MESSAGE_ID`, `LC_AUDIT_SEQ`, `LC_AUDIT_HASH` and `LC_AUDIT_REASON`
//! are the journal's own fields. Its target is always let through, whatever the log level.

use crate::core::Monotonic;
use crate::core::checkpoint::{Cadence, Checkpoint, Checkpointer, MESSAGE_AUDIT_CHECKPOINT};
use crate::store::AuditHead;
use parking_lot::Mutex;
use std::sync::Arc;

/// The `tracing` target of checkpoint entries, which the log filter always lets through.
pub const CHECKPOINT_TARGET: &str = "learning_contracts::audit_checkpoint";

/// The checkpointer, shared by the writer thread, the timer and the service's start and stop.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    checkpointer: Arc<Mutex<Checkpointer>>,
}

impl Checkpoints {
    /// Checkpoints at `cadence`, counting time from `now`.
    pub fn new(cadence: Cadence, now: Monotonic) -> Self {
        Self {
            checkpointer: Arc::new(Mutex::new(Checkpointer::new(cadence, now))),
        }
    }

    /// Changes the cadence (a reload).
    pub fn set_cadence(&self, cadence: Cadence) {
        self.checkpointer.lock().set_cadence(cadence);
    }

    /// Writes the head at start, when the store holds records.
    pub fn start(&self, head: &AuditHead, now: Monotonic) {
        let mut checkpointer = self.checkpointer.lock();
        // Written while the lock is held, so entries reach the journal in sequence order.
        if let Some(checkpoint) = checkpointer.start(head.seq, &head.hash, now) {
            write(&checkpoint);
        }
    }

    /// Writes the head when the cadence says so (after a job, and on the timer).
    pub fn observe(&self, head: &AuditHead, now: Monotonic) {
        let mut checkpointer = self.checkpointer.lock();
        if let Some(checkpoint) = checkpointer.observe(head.seq, &head.hash, now) {
            write(&checkpoint);
        }
    }

    /// Writes the head at a clean stop, when it moved since the last checkpoint.
    pub fn stop(&self, head: &AuditHead, now: Monotonic) {
        let mut checkpointer = self.checkpointer.lock();
        if let Some(checkpoint) = checkpointer.stop(head.seq, &head.hash, now) {
            write(&checkpoint);
        }
    }

    /// How long the timer may sleep, in milliseconds (None: the timed rule is off).
    pub fn next_look_in(&self, now: Monotonic) -> Option<i64> {
        self.checkpointer.lock().next_look_in(now)
    }
}

fn write(checkpoint: &Checkpoint) {
    tracing::info!(
        target: CHECKPOINT_TARGET,
        MESSAGE_ID = MESSAGE_AUDIT_CHECKPOINT,
        LC_AUDIT_SEQ = checkpoint.seq,
        LC_AUDIT_HASH = checkpoint.hash.as_str(),
        LC_AUDIT_REASON = checkpoint.reason.name(),
        "audit checkpoint: record {} has hash {} ({})",
        checkpoint.seq,
        checkpoint.hash,
        checkpoint.reason.name()
    );
}
