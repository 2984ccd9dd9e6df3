//! The pure core: contracts, scope, modes, the four checks, suspension, forgetting, sessions
//! and expiry. No I/O and no bus types; the clock is passed in. This is where the rules of
//! docs/RULES.md live, once.
//!
//! This crate has no async runtime, no bus and no database in its dependency tree, so the
//! daemon, contractctl and anyone else can build on the rules alone.

pub mod access;
pub mod budget;
pub mod chain;
pub mod change;
pub mod check;
pub mod checkpoint;
pub mod contract;
pub mod denials;
pub mod error;
pub mod forgetting;
pub mod host;
pub mod install;
pub mod lifecycle;
pub mod memory;
pub mod mode;
pub mod plain;
pub mod registry;
pub mod scope;
pub mod seal;
pub mod session;
mod table;
pub mod time;

pub use budget::OwnerBudgets;
pub use change::{AuditEvent, Caller, Change, Event, HostState};
pub use check::{CheckKind, CheckRequest, Code, Decision};
pub use contract::{
    Abstraction, Contract, ContractId, ContractKind, ContractSpec, ContractState, MemoryId,
    RetentionKind, SessionId, SpecPatch, SpecProblem, Suspension, Uid,
};
pub use denials::DenialTally;
pub use error::CoreError;
pub use forgetting::{PurgeTokens, Registration};
pub use host::PauseScope;
pub use lifecycle::Actor;
pub use memory::{MemoryRecord, MemoryStatus};
pub use mode::{BoundaryMode, EffectiveMode, MemoryClass, ModeSettler};
pub use registry::Registry;
pub use scope::{Name, Scope};
pub use session::{Session, SessionLimits};
pub use time::{Monotonic, Now, Timestamp};
