//! The application layer between the ledger and the bus: the one writer (jobs in fair lanes,
//! committed changes announced in order), how readings, the latch and the override become the
//! committed mode, the journal entries every committed change is announced with, and the audit
//! chain's checkpoints in the journal. No bus
//! types: the bus and the service both build on it, and it on the ledger and the core, so the
//! mode steps run the same in the daemon and under a state-machine test with the store and the
//! source in its hands.

pub mod checkpoint;
pub mod journal;
pub mod mode;
pub mod writer;
