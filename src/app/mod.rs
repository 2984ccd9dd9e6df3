//! The application layer between the ledger and the bus: how readings, the latch and the
//! override become the committed mode, without any bus or runtime types, so the same steps run
//! in the daemon and under a state-machine test with the store and the source in its hands.

pub mod mode;
