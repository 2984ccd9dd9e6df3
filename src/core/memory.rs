//! Memory records (SEMANTICS.md section 9). The daemon never stores memory content: only the
//! facts it needs to enforce contracts and to announce forgetting.

use super::contract::{Abstraction, ContractId, MemoryId, Uid};
use super::mode::MemoryClass;
use super::scope::Name;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a memory store may do with a memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryStatus {
    /// Usable within its contract.
    Active,
    /// Kept but inaccessible: its contract expired, or an amendment no longer covers it.
    Frozen,
    /// Its contract was revoked.
    Tombstoned,
    /// It was derived from a memory that was revoked.
    Quarantined,
    /// A heuristic or strategy of a revoked contract.
    Invalidated,
    /// Its record was deleted by a deep purge; only a hash of its id is kept.
    Purged,
}

impl MemoryStatus {
    /// The lower-case wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Frozen => "frozen",
            Self::Tombstoned => "tombstoned",
            Self::Quarantined => "quarantined",
            Self::Invalidated => "invalidated",
            Self::Purged => "purged",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Active,
            Self::Frozen,
            Self::Tombstoned,
            Self::Quarantined,
            Self::Invalidated,
            Self::Purged,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// The record of one memory an agent registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Its id.
    pub id: MemoryId,
    /// The contract that governs it (moves to the new version on amendment).
    pub contract_id: ContractId,
    /// The contract owner's uid.
    pub owner: Uid,
    /// The domain it was learned in.
    pub domain: Name,
    /// The context it was learned in.
    pub context: Name,
    /// Its classification.
    pub classification: MemoryClass,
    /// How far it generalizes.
    pub abstraction: Abstraction,
    /// The memories it was derived from.
    pub derived_from: Vec<MemoryId>,
    /// What may be done with it.
    pub status: MemoryStatus,
    /// When it was registered.
    pub created: Timestamp,
}

/// What a deep purge keeps of a memory: a hash of its id and the contract it belonged to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgedMemory {
    /// SHA-256 of the memory id, hex.
    pub id_hash: String,
    /// The purged memory's contract.
    pub contract_id: ContractId,
    /// The memory id itself: announced once to memory stores, never stored.
    #[serde(skip)]
    pub id: MemoryId,
}

/// The hex SHA-256 of a memory id, as kept after a deep purge.
pub fn memory_id_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}
