//! Memory records (SEMANTICS.md section 9). The daemon never stores memory content: only the
//! facts it needs to enforce contracts and to announce forgetting.

use super::contract::{Abstraction, ContractId, MemoryId, Uid};
use super::mode::MemoryClass;
use super::scope::Name;
use super::time::Timestamp;
use serde::{Deserialize, Serialize};

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
    /// Its record was deleted by a deep purge (announced once; nothing of it is kept).
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

/// The record of one memory an agent registered. Memory ids belong to their owner: the
/// record is found by its owner and id together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRecord {
    /// Its id, unique among its owner's memories.
    pub id: MemoryId,
    /// The contract that governs it (moves to the new version on amendment).
    pub contract_id: ContractId,
    /// The owner's uid.
    pub owner: Uid,
    /// The domain it was learned in.
    pub domain: Name,
    /// The context it was learned in.
    pub context: Name,
    /// Its classification.
    pub classification: MemoryClass,
    /// How far it generalizes.
    pub abstraction: Abstraction,
    /// The memories it was derived from ([`PURGED_SOURCE`] where a source was purged).
    pub derived_from: Vec<MemoryId>,
    /// What may be done with it.
    pub status: MemoryStatus,
    /// When it was registered.
    pub created: Timestamp,
    /// The key its details in the audit log are sealed under; a deep purge destroys it.
    pub shred: ShredKey,
}

/// What a deep purge deletes: one memory record, found by its owner and id. Nothing of it is
/// kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgedMemory {
    /// The owner.
    pub owner: Uid,
    /// The memory id: announced once to memory stores, never stored.
    pub id: MemoryId,
}

/// What a derivation link to a purged memory becomes: a marker that names nothing. It holds
/// a space, which no memory id may, so it is never taken for one.
pub const PURGED_SOURCE: &str = "(purged source)";

/// The per-memory key that makes a deep purge final (crypto-shredding). The audit log is
/// append-only and hash-chained, so it cannot forget by deleting: a memory's id, domain,
/// context and derivation links are written into it sealed under this key, which lives only
/// in the memory's own record. Deleting the record with the store's `secure_delete` and
/// truncating the write-ahead log leaves the sealed details unreadable by anyone, while the
/// chain still verifies.
#[derive(Clone, PartialEq, Eq)]
pub struct ShredKey {
    /// A random name for the key, written beside everything sealed under it so a reader can
    /// find the key while it exists (hex, 32 characters). Meaningless once the key is gone.
    pub reference: String,
    /// AES-256-GCM-SIV key.
    pub key: [u8; 32],
}

impl std::fmt::Debug for ShredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShredKey")
            .field("reference", &self.reference)
            .finish_non_exhaustive()
    }
}

/// Sealed text starts with this, then the key's reference, a colon and the ciphertext in hex.
pub const SEALED_PREFIX: &str = "shred1:";

impl ShredKey {
    /// A key from 48 random bytes: 16 for the reference, 32 for the key.
    pub fn from_random(random: [u8; 48]) -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(&random[16..]);
        Self {
            reference: hex::encode(&random[..16]),
            key,
        }
    }

    /// `plaintext` sealed under this key. AES-GCM-SIV with a fixed nonce: the same plaintext
    /// under the same key seals alike, which shows only that two sealed texts are equal; its
    /// misuse resistance is why it was chosen over a mode that needs a fresh nonce per seal.
    pub fn seal(&self, plaintext: &str) -> String {
        use aes_gcm_siv::aead::{Aead, KeyInit};
        let cipher = aes_gcm_siv::Aes256GcmSiv::new((&self.key).into());
        let sealed = cipher
            .encrypt(&SEAL_NONCE.into(), plaintext.as_bytes())
            .expect("sealing a short text in memory does not fail");
        format!("{SEALED_PREFIX}{}:{}", self.reference, hex::encode(sealed))
    }

    /// Opens text sealed under this key: `None` when it was sealed under another key, or
    /// altered.
    pub fn open(&self, sealed: &str) -> Option<String> {
        use aes_gcm_siv::aead::{Aead, KeyInit};
        let (reference, ciphertext) = sealed_parts(sealed)?;
        if reference != self.reference {
            return None;
        }
        let ciphertext = hex::decode(ciphertext).ok()?;
        let cipher = aes_gcm_siv::Aes256GcmSiv::new((&self.key).into());
        let plain = cipher
            .decrypt(&SEAL_NONCE.into(), ciphertext.as_slice())
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// The nonce every seal uses (see [`ShredKey::seal`]): each key is used by one memory only.
const SEAL_NONCE: [u8; 12] = *b"lc-shred-v1\0";

/// The key reference and the hex ciphertext of sealed text, if it is sealed text.
pub fn sealed_parts(text: &str) -> Option<(&str, &str)> {
    text.strip_prefix(SEALED_PREFIX)?.split_once(':')
}
