//! Forward-secure sealing of the audit chain (SEMANTICS.md section 13; the scheme is written
//! down in docs/DECISIONS.md, "Sealing the audit chain").
//!
//! Time is cut into epochs of a fixed length from a start time chosen at setup. Each epoch has
//! its own 32-byte sealing key: key 0 is random (the seed, which only the admin keeps, inside
//! the verification key), and key e+1 is SHA-256 of a domain string and key e. When an epoch
//! ends the daemon writes a seal, an HMAC-SHA256 under that epoch's key over the chain's head
//! at that moment and the previous seal's MAC, then keeps only the next key. Whoever takes the
//! host later holds only the current key, from which no earlier key can be computed, so the
//! records under earlier seals cannot be changed without a seal failing to verify.
//!
//! Nothing here does I/O: the daemon's store writes seals (`Store::seal_due`) and reads them
//! back for [`verify_sealed`], which walks the chain once and checks the seals beside it.

use crate::Timestamp;
use crate::chain::{AuditRecord, GENESIS_HASH};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// The audit action of the record that enables sealing (one per sealing era).
pub const SEALING_ENABLED: &str = "audit.sealing_enabled";

/// The action of the record an archive leaves (store/mod.rs, `archive_audit`): it carries the
/// `audit.sealing_enabled` records it moved out, so the eras still verify.
pub const ARCHIVED: &str = "audit.archived";

/// The last record an `audit.archived` record says it moved out: (sequence number, hash).
fn archived_through(details: &str) -> Option<(u64, String)> {
    let value = serde_json::from_str::<serde_json::Value>(details).ok()?;
    Some((
        value["through_seq"].as_u64()?,
        value["through_hash"].as_str()?.to_string(),
    ))
}

/// The `audit.sealing_enabled` records an `audit.archived` record says it moved out: (their
/// sequence number, their details).
fn archived_eras(details: &str) -> Vec<(u64, Result<EnabledDetails, String>)> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(details) else {
        return Vec::new();
    };
    value["sealing_enabled"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let seq = entry["seq"].as_u64()?;
            let details = entry["details"]
                .as_str()
                .ok_or_else(|| "no details".to_string())
                .and_then(|text| {
                    serde_json::from_str::<EnabledDetails>(text).map_err(|err| err.to_string())
                });
            Some((seq, details))
        })
        .collect()
}

/// The default epoch length (15 minutes, as journald's) and the bounds of an epoch length.
pub use crate::time::{
    SEAL_INTERVAL_DEFAULT_SECS as DEFAULT_INTERVAL_SECS, SEAL_INTERVAL_RANGE as INTERVAL_RANGE,
};

/// How late a seal may be before a verifier with a clock calls the epochs after the last
/// seal "unsealed with no clean stop": one epoch after the epoch's end, plus this.
pub const SEAL_GRACE_MILLIS: i64 = 5 * 60 * 1000;

const EVOLVE_DOMAIN: &[u8] = b"learning-contracts seal evolve";
const MAC_DOMAIN: &[u8] = b"learning-contracts seal v1";
const KEY_ID_DOMAIN: &[u8] = b"learning-contracts seal key id";
const CREDENTIAL_HEADER: &str = "learning-contracts audit sealing key v1";

/// The MAC before the first seal of an era.
pub const NO_MAC: &str = GENESIS_HASH;

/// One epoch's sealing key. Overwritten in memory when dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey([u8; 32]);

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealKey(…)")
    }
}

impl Drop for SealKey {
    fn drop(&mut self) {
        // Volatile writes, so the compiler cannot drop the wipe of memory about to be freed.
        for byte in self.0.iter_mut() {
            // SAFETY: `byte` is a valid, aligned, exclusive reference into our own array.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl SealKey {
    /// A fresh random key from the kernel's generator.
    pub fn generate() -> Result<SealKey, SealError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|err| SealError::Random(err.to_string()))?;
        Ok(SealKey(bytes))
    }

    /// The key with these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SealKey {
        SealKey(bytes)
    }

    /// The key's bytes (for storing it).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The next epoch's key: SHA-256 over a domain string and this key. One-way, so the next
    /// key tells nothing of this one.
    pub fn evolve(&self) -> SealKey {
        let mut hasher = Sha256::new();
        hasher.update(EVOLVE_DOMAIN);
        hasher.update(self.0);
        SealKey(hasher.finalize().into())
    }

    /// The key `steps` epochs later.
    pub fn evolve_by(&self, steps: u64) -> SealKey {
        let mut key = self.clone();
        for _ in 0..steps {
            key = key.evolve();
        }
        key
    }

    /// The public fingerprint of an era's key 1, recorded in the chain so that a verifier can
    /// tell which sealing era a verification key belongs to (key 1, not the seed: a sealing
    /// credential starts at key 1 and must be able to name its era too). One-way: it reveals
    /// nothing of any key.
    pub fn key_id(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(KEY_ID_DOMAIN);
        hasher.update(self.0);
        hex::encode(&hasher.finalize()[..16])
    }
}

/// Why sealing could not be set up, or a key or credential could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SealError {
    /// The kernel's random generator failed.
    #[error("no random bytes for a sealing key: {0}")]
    Random(String),
    /// A verification key that does not parse.
    #[error(
        "not a verification key ({0}); it looks like 64 hex digits in groups, a slash, then START-INTERVAL in hex, as contractctl audit setup-keys printed it"
    )]
    BadKey(String),
    /// A sealing-key file that does not parse.
    #[error("not a sealing-key file ({0}); make one with contractctl audit setup-keys --offline")]
    BadCredential(String),
    /// Sealing is set up already and no new era was asked for.
    #[error(
        "sealing is already set up (era {era}, since {start_secs} s after the Unix epoch); a new setup replaces the key and needs the force option"
    )]
    AlreadySetUp {
        /// The current era.
        era: u64,
        /// Its start, seconds since the Unix epoch.
        start_secs: i64,
    },
    /// An epoch length out of bounds.
    #[error("the seal interval must be between 10 s and one week, not {0} s")]
    Interval(u64),
}

/// What a seal records about how the daemon got there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKind {
    /// The first seal of an era, over the record that enabled it.
    Open,
    /// The end of an epoch while the daemon runs (or the first chance after a crash).
    Epoch,
    /// A clean stop, or an era closed by a new setup: a log that ends with it is not overdue
    /// for a seal (the daemon is not running). The next start seals the epoch after it.
    Stop,
}

impl SealKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Epoch => "epoch",
            Self::Stop => "stop",
        }
    }

    /// The kind a stored name names.
    pub fn parse(text: &str) -> Option<SealKind> {
        match text {
            "open" => Some(Self::Open),
            "epoch" => Some(Self::Epoch),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }

    fn byte(self) -> u8 {
        match self {
            Self::Open => 1,
            Self::Epoch => 2,
            Self::Stop => 3,
        }
    }
}

/// One stored seal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Seal {
    /// The sealing era (a new setup with force starts the next).
    pub era: u64,
    /// The epoch it seals; its key made the MAC.
    pub epoch: u64,
    /// The epoch the key moved on to: the next seal must be for this epoch, even after a stop
    /// seal. Larger than `epoch + 1` after a forward clock step or downtime: the jump is sealed,
    /// so it cannot be claimed later.
    pub next_epoch: u64,
    /// Open, epoch end, or stop.
    pub kind: SealKind,
    /// The chain's head at the seal: its sequence number …
    pub seq: u64,
    /// … and its hash.
    pub hash: String,
    /// The MAC of the era's previous seal ([`NO_MAC`] for its first).
    pub prev_mac: String,
    /// HMAC-SHA256 under the epoch's key over every field above, hex.
    pub mac: String,
}

impl Seal {
    /// The HMAC-SHA256 of this seal under `key`, over every field but `mac`, each of fixed
    /// width or length-prefixed so that no two seals encode alike.
    pub fn compute_mac(&self, key: &SealKey) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&key.0).expect("HMAC takes a key of any length");
        mac.update(MAC_DOMAIN);
        mac.update(&self.era.to_be_bytes());
        mac.update(&self.epoch.to_be_bytes());
        mac.update(&self.next_epoch.to_be_bytes());
        mac.update(&[self.kind.byte()]);
        mac.update(&self.seq.to_be_bytes());
        for text in [&self.hash, &self.prev_mac] {
            mac.update(&(text.len() as u64).to_be_bytes());
            mac.update(text.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `mac` is this seal's MAC under `key`, compared in constant time.
    pub fn verify_mac(&self, key: &SealKey) -> bool {
        use subtle_compare::equal;
        equal(self.compute_mac(key).as_bytes(), self.mac.as_bytes())
    }
}

/// A constant-time comparison, so a verifier's timing tells nothing of how much of a MAC
/// matched (the verifier is offline, but the same code could serve a bus call).
mod subtle_compare {
    pub fn equal(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Epochs on the wall clock: epoch 1 is the first `interval` after `start`, and so on. An
/// instant before the start is in epoch 0 (the clock stepped back past the setup).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EpochClock {
    /// The start, seconds since the Unix epoch.
    pub start_secs: i64,
    /// The epoch length in seconds.
    pub interval_secs: u64,
}

impl EpochClock {
    /// The epoch the wall clock shows at `now`.
    pub fn epoch_at(&self, now: Timestamp) -> u64 {
        let since = now.as_millis() - self.start_secs.saturating_mul(1000);
        if since < 0 {
            return 0;
        }
        (since as u64) / self.interval_millis() + 1
    }

    /// When `epoch` ends by the wall clock (its seal is due then).
    pub fn end_of(&self, epoch: u64) -> Timestamp {
        let offset = epoch.saturating_mul(self.interval_millis());
        Timestamp::from_secs(self.start_secs).plus_millis(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    fn interval_millis(&self) -> u64 {
        self.interval_secs.max(1).saturating_mul(1000)
    }
}

/// The admin's verification key: the seed (key 0) and the era's epoch clock. Its text form is
/// the seed in hex, in groups of eight digits joined by dashes, a slash, then the start
/// (seconds since the Unix epoch) and the interval (seconds), both in hex, joined by a dash:
/// the shape of journald's keys.
#[derive(Clone, PartialEq, Eq)]
pub struct VerificationKey {
    /// Key 0.
    pub seed: SealKey,
    /// The era's clock.
    pub clock: EpochClock,
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("key_id", &self.seed.key_id())
            .field("clock", &self.clock)
            .finish()
    }
}

impl fmt::Display for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = hex::encode(self.seed.0);
        let groups: Vec<&str> = (0..digits.len())
            .step_by(8)
            .map(|at| &digits[at..at + 8])
            .collect();
        write!(
            f,
            "{}/{:x}-{:x}",
            groups.join("-"),
            self.clock.start_secs,
            self.clock.interval_secs
        )
    }
}

impl std::str::FromStr for VerificationKey {
    type Err = SealError;

    fn from_str(text: &str) -> Result<Self, SealError> {
        let bad = |why: &str| SealError::BadKey(why.to_string());
        let text = text.trim();
        let (seed, clock) = text.split_once('/').ok_or_else(|| bad("no '/'"))?;
        let seed: String = seed.chars().filter(|c| *c != '-').collect();
        let bytes = hex::decode(&seed).map_err(|_| bad("the part before '/' is not hex"))?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("the part before '/' is not 64 hex digits"))?;
        let (start, interval) = clock
            .split_once('-')
            .ok_or_else(|| bad("no '-' between start and interval"))?;
        let start_secs =
            i64::from_str_radix(start, 16).map_err(|_| bad("the start is not a hex number"))?;
        let interval_secs = u64::from_str_radix(interval, 16)
            .map_err(|_| bad("the interval is not a hex number"))?;
        if !INTERVAL_RANGE.contains(&interval_secs) {
            return Err(bad("the interval is out of range"));
        }
        Ok(VerificationKey {
            seed: SealKey(seed),
            clock: EpochClock {
                start_secs,
                interval_secs,
            },
        })
    }
}

impl VerificationKey {
    /// A new seed for an era starting at `now` (rounded down to whole seconds).
    pub fn generate(now: Timestamp, interval_secs: u64) -> Result<VerificationKey, SealError> {
        if !INTERVAL_RANGE.contains(&interval_secs) {
            return Err(SealError::Interval(interval_secs));
        }
        Ok(VerificationKey {
            seed: SealKey::generate()?,
            clock: EpochClock {
                start_secs: now.as_secs(),
                interval_secs,
            },
        })
    }

    /// The public fingerprint of this key's era ([`SealKey::key_id`] of key 1).
    pub fn key_id(&self) -> String {
        self.seed.evolve().key_id()
    }

    /// The sealing-key file for systemd credentials: the key of epoch 1 (never the seed) and
    /// the era's clock.
    pub fn credential(&self) -> SealingCredential {
        SealingCredential {
            key: self.seed.evolve(),
            epoch: 1,
            clock: self.clock,
        }
    }
}

/// A sealing key handed to the daemon from outside (`LoadCredentialEncrypted=`): the key of
/// one epoch and the era's clock. Anyone who reads it can derive every later key of the era,
/// so it is to be removed once the daemon has taken it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingCredential {
    /// The key of `epoch`.
    pub key: SealKey,
    /// Its epoch.
    pub epoch: u64,
    /// The era's clock.
    pub clock: EpochClock,
}

impl fmt::Debug for SealingCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingCredential")
            .field("epoch", &self.epoch)
            .field("clock", &self.clock)
            .finish()
    }
}

impl SealingCredential {
    /// The file's text: a header line, then `key=value` lines.
    pub fn to_text(&self) -> String {
        format!(
            "{CREDENTIAL_HEADER}\nepoch={}\nstart={}\ninterval={}\nkey={}\n",
            self.epoch,
            self.clock.start_secs,
            self.clock.interval_secs,
            hex::encode(self.key.0)
        )
    }

    /// Reads the file's text; anything unexpected refuses it.
    pub fn parse(text: &str) -> Result<SealingCredential, SealError> {
        let bad = |why: &str| SealError::BadCredential(why.to_string());
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if lines.next() != Some(CREDENTIAL_HEADER) {
            return Err(bad("the first line is not the expected header"));
        }
        let (mut epoch, mut start, mut interval, mut key) = (None, None, None, None);
        for line in lines {
            let (name, value) = line
                .split_once('=')
                .ok_or_else(|| bad("a line without '='"))?;
            let slot = match name {
                "epoch" => &mut epoch,
                "start" => &mut start,
                "interval" => &mut interval,
                "key" => &mut key,
                _ => return Err(bad("an unknown line")),
            };
            if slot.replace(value.to_string()).is_some() {
                return Err(bad("a line given twice"));
            }
        }
        // Always key 1: the era's fingerprint is taken from it (SealKey::key_id).
        let epoch: u64 = epoch
            .and_then(|v| v.parse().ok())
            .filter(|epoch| *epoch == 1)
            .ok_or_else(|| bad("no valid epoch (this build writes and reads epoch=1)"))?;
        let start_secs: i64 = start
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| bad("no valid start"))?;
        let interval_secs: u64 = interval
            .and_then(|v| v.parse().ok())
            .filter(|v| INTERVAL_RANGE.contains(v))
            .ok_or_else(|| bad("no valid interval"))?;
        let key: [u8; 32] = key
            .and_then(|v| hex::decode(v).ok())
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad("no valid key"))?;
        Ok(SealingCredential {
            key: SealKey(key),
            epoch,
            clock: EpochClock {
                start_secs,
                interval_secs,
            },
        })
    }
}

/// The details of an `audit.sealing_enabled` record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EnabledDetails {
    /// The era it starts.
    pub era: u64,
    /// The era's start, seconds since the Unix epoch.
    pub start: i64,
    /// The epoch length, seconds.
    pub interval: u64,
    /// The epoch of the era's opening seal.
    pub epoch: u64,
    /// The seed's public fingerprint ([`SealKey::key_id`]).
    pub key_id: String,
    /// How the key came: "bus" (SetupSealing) or "credential".
    pub origin: String,
}

pub use crate::chain::ChainAnchor;

/// Whether and how the log is sealed, as a verification found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealingStatus {
    /// Sealing was never set up: only the hash chain protects the log.
    Unsealed,
    /// Seals found and consistent (checked with the key when one was given).
    Sealed,
    /// A seal is missing, altered, or does not match the chain or the key.
    Broken,
}

/// A verification of the chain and its seals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedVerification {
    /// Whether the chain and every seal verified (and, with a key, every sealed epoch).
    pub ok: bool,
    /// How many records were read.
    pub records: u64,
    /// The first record at fault (0 when none is, or when the fault is in a seal only).
    pub first_bad: u64,
    /// What is wrong, or the summary.
    pub message: String,
    /// Unsealed, sealed or broken.
    pub sealing: SealingStatus,
    /// Whether the seals' MACs were checked with a verification key.
    pub key_checked: bool,
    /// The era checked (the key's era, or the newest without a key; 0 when unsealed).
    pub era: u64,
    /// How many seals of that era were checked.
    pub seals: u64,
    /// The first record under that era's seals (0: none).
    pub sealed_from: u64,
    /// The last record under a seal (0: none).
    pub sealed_through: u64,
    /// The first record after the last seal: the unsealed tail, not yet protected (0: none).
    pub unsealed_from: u64,
    /// The last record.
    pub last: u64,
    /// Remarks that are not failures: records before sealing, the unsealed tail.
    pub notes: Vec<String>,
}

/// A seal as stored, before it is known to decode: a bit flipped in its kind must fail the
/// verification, not the read.
#[derive(Clone, Debug)]
pub struct StoredSeal {
    /// The era column.
    pub era: i64,
    /// The epoch column.
    pub epoch: i64,
    /// The next_epoch column.
    pub next_epoch: i64,
    /// The kind column's bytes.
    pub kind: Vec<u8>,
    /// The seq column.
    pub seq: i64,
    /// The hash column's bytes.
    pub hash: Vec<u8>,
    /// The prev_mac column's bytes.
    pub prev_mac: Vec<u8>,
    /// The mac column's bytes.
    pub mac: Vec<u8>,
}

impl StoredSeal {
    /// The seal, or why it does not decode.
    pub fn decode(self) -> Result<Seal, String> {
        let text = |bytes: Vec<u8>, what: &str| {
            String::from_utf8(bytes).map_err(|_| format!("its {what} is not text"))
        };
        let number = |value: i64, what: &str| {
            u64::try_from(value).map_err(|_| format!("its {what} is negative"))
        };
        let kind = text(self.kind, "kind")?;
        Ok(Seal {
            era: number(self.era, "era")?,
            epoch: number(self.epoch, "epoch")?,
            next_epoch: number(self.next_epoch, "next epoch")?,
            kind: SealKind::parse(&kind).ok_or_else(|| format!("its kind '{kind}' is unknown"))?,
            seq: number(self.seq, "sequence number")?,
            hash: text(self.hash, "hash")?,
            prev_mac: text(self.prev_mac, "previous MAC")?,
            mac: text(self.mac, "MAC")?,
        })
    }
}

/// What [`verify_sealed`] is given besides the records.
#[derive(Debug)]
pub struct SealInputs<'a> {
    /// Where the chain starts.
    pub anchor: ChainAnchor,
    /// The head the store recorded.
    pub head: (u64, String),
    /// Every stored seal, in (era, epoch) order.
    pub seals: Vec<StoredSeal>,
    /// The era the daemon's sealing state is in, if it has one.
    pub state_era: Option<u64>,
    /// The admin's key, when given.
    pub key: Option<&'a VerificationKey>,
    /// The verifier's clock, for seals that are overdue (used only with a key, whose clock is
    /// the admin's own).
    pub now: Timestamp,
}

/// Walks the chain from the anchor once, recomputing every hash, and checks the seals beside
/// it: each names a record whose hash it repeats, the seals of an era follow each other
/// epoch by epoch (skipping epochs only where a sealed jump says so),
/// each era begins with an opening seal over its `audit.sealing_enabled` record, and, with a
/// key, each seal's MAC is made by its epoch's key.
pub fn verify_sealed(
    records: impl Iterator<Item = Result<AuditRecord, String>>,
    inputs: SealInputs<'_>,
) -> SealedVerification {
    let mut out = SealedVerification {
        ok: false,
        records: 0,
        first_bad: 0,
        message: String::new(),
        sealing: SealingStatus::Unsealed,
        key_checked: false,
        era: 0,
        seals: 0,
        sealed_from: 0,
        sealed_through: 0,
        unsealed_from: 0,
        last: inputs.anchor.seq,
        notes: Vec::new(),
    };
    if inputs.anchor.seq > 0 {
        out.notes.push(format!(
            "records 1 to {} were archived; the store continues the chain from record {}",
            inputs.anchor.seq,
            inputs.anchor.seq + 1
        ));
    }
    // Seals first: one that does not decode is a broken seal, whatever the chain says.
    let mut seals = Vec::with_capacity(inputs.seals.len());
    for stored in inputs.seals {
        let (era, epoch) = (stored.era, stored.epoch);
        match stored.decode() {
            Ok(seal) => seals.push(seal),
            Err(why) => {
                return seal_broken(
                    out,
                    0,
                    format!(
                        "the seal stored as era {era}, epoch {epoch} does not decode ({why}): it was altered"
                    ),
                );
            }
        }
    }
    // The records each seal names, in sequence order, to compare while walking.
    let mut wanted: Vec<(u64, usize)> = seals.iter().enumerate().map(|(i, s)| (s.seq, i)).collect();
    wanted.sort_unstable();
    let mut next_wanted = 0;
    // Seals of records archived out of the store: the one naming the anchor is compared with
    // it; older ones were verified with their records when the archive file was (their MACs
    // are still checked below, with a key).
    while next_wanted < wanted.len() && wanted[next_wanted].0 <= inputs.anchor.seq {
        let (seq, index) = wanted[next_wanted];
        let seal = &seals[index];
        if seq == inputs.anchor.seq && seal.hash != inputs.anchor.hash {
            return seal_broken(
                out,
                seq.max(1),
                format!(
                    "the seal of era {}, epoch {} names the archive's last record {seq} with another hash: the anchor was changed",
                    seal.era, seal.epoch
                ),
            );
        }
        next_wanted += 1;
    }
    let mut enabled: std::collections::BTreeMap<u64, Result<EnabledDetails, String>> =
        std::collections::BTreeMap::new();

    let mut expected_seq = inputs.anchor.seq + 1;
    let mut prev_hash = inputs.anchor.hash.clone();
    // The newest archive's record, which must name the anchor.
    let mut last_archive: Option<Option<(u64, String)>> = None;
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(why) => {
                return chain_broken(
                    out,
                    expected_seq,
                    format!(
                        "the record after {} does not decode ({why}): it was altered",
                        expected_seq - 1
                    ),
                );
            }
        };
        out.records += 1;
        if record.seq != expected_seq {
            return chain_broken(
                out,
                expected_seq,
                format!(
                    "record {expected_seq} is missing (found {} next)",
                    record.seq
                ),
            );
        }
        if record.prev_hash != prev_hash {
            return chain_broken(
                out,
                record.seq,
                format!(
                    "record {} does not link to the record before it",
                    record.seq
                ),
            );
        }
        if !record.hash_matches() {
            return chain_broken(
                out,
                record.seq,
                format!(
                    "record {} does not match its hash: it was altered",
                    record.seq
                ),
            );
        }
        while next_wanted < wanted.len() && wanted[next_wanted].0 <= record.seq {
            let (seq, index) = wanted[next_wanted];
            let seal = &seals[index];
            if seq < record.seq || seal.hash != record.hash {
                return seal_broken(
                    out,
                    seq.max(1),
                    format!(
                        "the seal of era {}, epoch {} names record {seq} with another hash: the records up to it were changed after they were sealed",
                        seal.era, seal.epoch
                    ),
                );
            }
            next_wanted += 1;
        }
        if record.action == SEALING_ENABLED {
            let details = serde_json::from_str::<EnabledDetails>(&record.details)
                .map_err(|err| err.to_string());
            enabled.insert(record.seq, details);
        }
        if record.action == ARCHIVED {
            last_archive = Some(archived_through(&record.details));
            // The eras enabled in records since archived out of the store, as the chained
            // `audit.archived` record carries them.
            for (seq, details) in archived_eras(&record.details) {
                if seq <= inputs.anchor.seq {
                    enabled.entry(seq).or_insert(details);
                }
            }
        }
        prev_hash = record.hash;
        expected_seq += 1;
    }
    let last = expected_seq - 1;
    out.last = last;
    let (head_seq, head_hash) = &inputs.head;
    if *head_seq != last || *head_hash != prev_hash {
        let first_bad = if *head_seq > last {
            last + 1
        } else {
            (*head_seq).max(1)
        };
        return chain_broken(
            out,
            first_bad,
            format!(
                "the log ends at record {last} but its recorded head is record {head_seq}: records were removed or the head was altered"
            ),
        );
    }
    // The anchor moves only with an archive, which chains a record naming it: an anchor no
    // archive record names means records were removed from the front and the anchor moved.
    if inputs.anchor.seq > 0 {
        let named = last_archive.flatten();
        if named.as_ref() != Some(&(inputs.anchor.seq, inputs.anchor.hash.clone())) {
            return chain_broken(
                out,
                inputs.anchor.seq + 1,
                format!(
                    "the store continues the chain after record {}, but {}: records were removed from the front of the log and the anchor moved",
                    inputs.anchor.seq,
                    match named {
                        Some((seq, _)) => format!(
                            "the newest archive record says the archive ended at record {seq}"
                        ),
                        None => "no archive record in the log says so".to_string(),
                    }
                ),
            );
        }
    }
    if let Some(&(seq, index)) = wanted.get(next_wanted) {
        let seal = &seals[index];
        return seal_broken(
            out,
            0,
            format!(
                "the seal of era {}, epoch {} names record {seq}, past the end of the log (record {last}): the log was truncated",
                seal.era, seal.epoch
            ),
        );
    }
    let enabled: Vec<(u64, Result<EnabledDetails, String>)> = enabled.into_iter().collect();
    check_seals(
        out,
        &seals,
        &enabled,
        inputs.state_era,
        inputs.key,
        inputs.now,
    )
}

fn chain_broken(mut out: SealedVerification, seq: u64, message: String) -> SealedVerification {
    out.ok = false;
    out.first_bad = seq;
    out.message = message;
    if out.sealing == SealingStatus::Sealed {
        out.sealing = SealingStatus::Broken;
    }
    out
}

fn seal_broken(mut out: SealedVerification, seq: u64, message: String) -> SealedVerification {
    out.ok = false;
    out.first_bad = seq;
    out.sealing = SealingStatus::Broken;
    out.message = message;
    out
}

/// The eras' structure, their seals' links and (with a key) their MACs; the chain itself has
/// been verified and every seal names a record of it with that record's hash.
fn check_seals(
    mut out: SealedVerification,
    seals: &[Seal],
    enabled: &[(u64, Result<EnabledDetails, String>)],
    state_era: Option<u64>,
    key: Option<&VerificationKey>,
    now: Timestamp,
) -> SealedVerification {
    let last = out.last;
    if enabled.is_empty() && seals.is_empty() {
        if key.is_some() {
            return seal_broken(
                out,
                0,
                "the log holds no seals and no record of sealing ever being enabled: it was never sealed, or the seals and the records since sealing began were stripped".into(),
            );
        }
        if let Some(era) = state_era {
            return seal_broken(
                out,
                0,
                format!(
                    "the store has a sealing key for era {era} but the log holds no seals and no record enabling sealing: they were stripped"
                ),
            );
        }
        out.ok = true;
        out.message = format!(
            "{} records verified; the log is unsealed (sealing was never set up)",
            out.records
        );
        return out;
    }
    // Eras as the chain records them, in order.
    let mut eras: Vec<(u64, EnabledDetails)> = Vec::new();
    for (seq, details) in enabled {
        match details {
            Ok(details) => eras.push((*seq, details.clone())),
            Err(why) => {
                return seal_broken(
                    out,
                    *seq,
                    format!("record {seq} enables sealing but its details do not decode ({why})"),
                );
            }
        }
    }
    for (index, (seq, details)) in eras.iter().enumerate() {
        if details.era != index as u64 + 1 {
            return seal_broken(
                out,
                *seq,
                format!(
                    "record {seq} enables sealing era {} where era {} was due: an era's record was removed or forged",
                    details.era,
                    index + 1
                ),
            );
        }
    }
    if let Some(seal) = seals
        .iter()
        .find(|s| s.era == 0 || s.era > eras.len() as u64)
    {
        return seal_broken(
            out,
            0,
            format!(
                "a seal of era {} (epoch {}) has no record enabling its era in the log: the record was removed",
                seal.era, seal.epoch
            ),
        );
    }
    let newest = eras.len() as u64;
    if state_era != Some(newest) {
        return seal_broken(
            out,
            0,
            match state_era {
                None => format!(
                    "the log enables sealing era {newest} but the store holds no sealing key: the key was removed, so nothing can be sealed any more"
                ),
                Some(era) => format!(
                    "the log's newest sealing era is {newest} but the store's sealing key is of era {era}: the sealing state was replaced"
                ),
            },
        );
    }
    // Every era's seals, structurally.
    let mut spans = Vec::with_capacity(eras.len());
    for (opened_at, details) in &eras {
        let era_seals: Vec<&Seal> = seals.iter().filter(|s| s.era == details.era).collect();
        match check_era(*opened_at, details, &era_seals) {
            Ok(span) => spans.push(span),
            Err((seq, message)) => return seal_broken(out, seq, message),
        }
    }
    // An era other than the newest must end with a stop seal (the next setup closes it).
    for (index, span) in spans.iter().enumerate().take(spans.len().saturating_sub(1)) {
        if !span.last_stop {
            return seal_broken(
                out,
                0,
                format!(
                    "sealing era {} ends without the stop seal the next setup writes: seals were removed",
                    index + 1
                ),
            );
        }
        if span.through > eras[index + 1].0 {
            return seal_broken(
                out,
                0,
                format!(
                    "sealing era {} has seals past the start of era {}",
                    index + 1,
                    index + 2
                ),
            );
        }
    }
    // Which era is checked: the key's, or the newest.
    let era_index = match key {
        None => eras.len() - 1,
        Some(key) => {
            let id = key.key_id();
            let Some(index) = eras.iter().position(|(_, d)| d.key_id == id) else {
                return seal_broken(
                    out,
                    0,
                    format!(
                        "this verification key belongs to none of the log's {} sealing era(s): it is another host's or an old key, or the record enabling its era was removed",
                        eras.len()
                    ),
                );
            };
            let details = &eras[index].1;
            if details.start != key.clock.start_secs || details.interval != key.clock.interval_secs
            {
                return seal_broken(
                    out,
                    eras[index].0,
                    format!(
                        "the verification key's start and interval differ from what record {} enabled: the key was mistyped, or the record was altered",
                        eras[index].0
                    ),
                );
            }
            index
        }
    };
    let (opened_at, details) = &eras[era_index];
    let span = &spans[era_index];
    let era_seals: Vec<&Seal> = seals.iter().filter(|s| s.era == details.era).collect();
    out.era = details.era;
    out.seals = era_seals.len() as u64;
    out.sealed_from = *opened_at;
    out.sealed_through = span.through;
    if let Some(key) = key {
        // Keys in epoch order: one evolution per epoch, all eras' MACs in one pass.
        let mut current = key.seed.clone();
        let mut at = 0u64;
        for seal in &era_seals {
            current = current.evolve_by(seal.epoch - at);
            at = seal.epoch;
            if !seal.verify_mac(&current) {
                return seal_broken(
                    out,
                    0,
                    format!(
                        "the seal of epoch {} (records up to {}) was not made with that epoch's key: records in it were changed and resealed with a later key, or the seal was forged",
                        seal.epoch, seal.seq
                    ),
                );
            }
        }
        out.key_checked = true;
        if era_index + 1 < eras.len() {
            return seal_broken(
                out,
                eras[era_index + 1].0,
                format!(
                    "this key is for sealing era {} of {}; the records from {} on are sealed in a later era under another key: verify with the newest verification key",
                    details.era,
                    eras.len(),
                    eras[era_index + 1].0
                ),
            );
        }
        // Seals that stopped with no stop seal: the daemon would have sealed by now.
        if let Some(last_seal) = era_seals.last()
            && last_seal.kind != SealKind::Stop
        {
            let clock = key.clock;
            let overdue = clock
                .end_of(last_seal.next_epoch)
                .plus_millis(SEAL_GRACE_MILLIS);
            if now > overdue {
                let through = clock
                    .epoch_at(now)
                    .saturating_sub(1)
                    .max(last_seal.next_epoch);
                return seal_broken(
                    out,
                    0,
                    format!(
                        "epochs {}..{} unsealed with no clean stop: a crash, or removed records (the last seal, of epoch {}, covers records up to {}; if this is an old copy of the store, verify it where it was taken)",
                        last_seal.next_epoch, through, last_seal.epoch, last_seal.seq
                    ),
                );
            }
        }
    }
    out.ok = true;
    out.sealing = SealingStatus::Sealed;
    if *opened_at > 1 {
        out.notes.push(if details.era == 1 {
            format!(
                "records 1..{} precede sealing: the hash chain protects them, no seal does",
                opened_at - 1
            )
        } else {
            format!(
                "records 1..{} precede sealing era {}: their seals, if any, are of earlier eras and need those eras' keys",
                opened_at - 1,
                details.era
            )
        });
    }
    if let Some(last_seal) = era_seals.last()
        && last_seal.kind == SealKind::Stop
    {
        let clock = EpochClock {
            start_secs: details.start,
            interval_secs: details.interval,
        };
        out.notes.push(format!(
            "the log ends with a clean stop sealed in epoch {} (which began {}): the daemon has not run since; if it has, records after the stop were removed",
            last_seal.epoch,
            crate::plain::format_utc(clock.end_of(last_seal.epoch.saturating_sub(1)))
        ));
    }
    if span.through < last {
        out.unsealed_from = span.through + 1;
        out.notes.push(format!(
            "records {}..{last} are not sealed yet (the current epoch): the next seal will cover them",
            span.through + 1
        ));
    }
    out.message = format!(
        "{} records verified; records {}..{} sealed in era {} ({} seals{})",
        out.records,
        opened_at,
        span.through,
        details.era,
        era_seals.len(),
        if out.key_checked {
            ", every one checked with the verification key"
        } else {
            "; without the verification key only their structure was checked"
        }
    );
    out
}

/// One era's seals, as checked.
struct EraSpan {
    /// The last record under its seals.
    through: u64,
    /// Whether its last seal is a stop seal.
    last_stop: bool,
}

/// The seals of one era: an opening seal over the record that enabled it, then each seal at
/// the epoch the one before moved on to, each naming the MAC of the one before and a record no
/// earlier than it.
fn check_era(
    opened_at: u64,
    details: &EnabledDetails,
    seals: &[&Seal],
) -> Result<EraSpan, (u64, String)> {
    let era = details.era;
    let Some(first) = seals.first() else {
        return Err((
            opened_at,
            format!(
                "record {opened_at} enables sealing era {era}, but the era has no seals: the seals were stripped"
            ),
        ));
    };
    if first.kind != SealKind::Open
        || first.seq != opened_at
        || first.epoch != details.epoch
        || first.prev_mac != NO_MAC
    {
        return Err((
            opened_at,
            format!(
                "sealing era {era} does not begin with its opening seal over record {opened_at}: seals were removed or forged"
            ),
        ));
    }
    for pair in seals.windows(2) {
        let (before, seal) = (pair[0], pair[1]);
        if seal.kind == SealKind::Open {
            return Err((
                0,
                format!(
                    "era {era} has a second opening seal, at epoch {}: it was forged",
                    seal.epoch
                ),
            ));
        }
        if seal.prev_mac != before.mac {
            return Err((
                0,
                format!(
                    "the seal of epoch {} does not follow the seal of epoch {}: a seal between them was removed or altered",
                    seal.epoch, before.epoch
                ),
            ));
        }
        // No gap is ever legitimate, not even after a stop seal: the daemon seals the epoch
        // after a stop at its next start, recording the downtime as a jump. A gap after a stop
        // seal is a log cut back to that stop and continued under a later key.
        if seal.epoch != before.next_epoch || before.next_epoch <= before.epoch {
            let from = before.next_epoch;
            let to = seal.epoch.saturating_sub(1).max(from);
            return Err((
                0,
                if before.kind == SealKind::Stop {
                    format!(
                        "epochs {from}..{to} unsealed after the clean stop sealed in epoch {} (records up to {}): the next start seals the epoch after a stop, so records were removed after the stop and the log continued",
                        before.epoch, before.seq
                    )
                } else {
                    format!(
                        "epochs {from}..{to} unsealed with no clean stop: a crash, or removed records (after the seal of epoch {}, records up to {})",
                        before.epoch, before.seq
                    )
                },
            ));
        }
        if seal.seq < before.seq {
            return Err((
                seal.seq.max(1),
                format!(
                    "the seal of epoch {} names record {}, before the record {} the seal of epoch {} named: the log was truncated and continued",
                    seal.epoch, seal.seq, before.seq, before.epoch
                ),
            ));
        }
    }
    let last = seals[seals.len() - 1];
    Ok(EraSpan {
        through: last.seq,
        last_stop: last.kind == SealKind::Stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_evolve_one_way_with_a_domain_and_the_text_forms_round_trip() {
        let seed = SealKey::from_bytes([7; 32]);
        let next = seed.evolve();
        let mut plain = Sha256::new();
        plain.update([7u8; 32]);
        assert_ne!(
            next.as_bytes()[..],
            plain.finalize()[..],
            "domain-separated"
        );
        assert_eq!(seed.evolve_by(3), next.evolve().evolve());
        let key = VerificationKey {
            seed: seed.clone(),
            clock: EpochClock {
                start_secs: 1_800_000_000,
                interval_secs: 900,
            },
        };
        let text = key.to_string();
        assert!(text.ends_with("/6b49d200-384"), "{text}");
        assert_eq!(text.parse::<VerificationKey>().unwrap(), key);
        // Without the dashes too, and with spaces around.
        let bare = format!(
            " {} ",
            text.replace('-', "")
                .replacen("/6b49d200384", "/6b49d200-384", 1)
        );
        assert_eq!(bare.parse::<VerificationKey>().unwrap(), key);
        for bad in [
            "",
            "abc",
            "zz/1-2",
            &text.replace("/", ":"),
            &format!("{}/1-5", "00".repeat(32)),
        ] {
            assert!(
                matches!(bad.parse::<VerificationKey>(), Err(SealError::BadKey(_))),
                "{bad}"
            );
        }
        let credential = key.credential();
        assert_eq!(credential.key, seed.evolve());
        assert_eq!(
            SealingCredential::parse(&credential.to_text()).unwrap(),
            credential
        );
        assert!(
            SealingCredential::parse(&credential.to_text().replace("epoch=1", "epoch=x")).is_err()
        );
        assert!(SealingCredential::parse("key=00").is_err());
        // The debug forms never show a key.
        assert!(!format!("{key:?}{credential:?}{seed:?}").contains("0707"));
    }

    #[test]
    fn epochs_count_from_the_start_and_an_instant_before_it_is_epoch_zero() {
        let clock = EpochClock {
            start_secs: 1000,
            interval_secs: 60,
        };
        assert_eq!(clock.epoch_at(Timestamp::from_secs(999)), 0);
        assert_eq!(clock.epoch_at(Timestamp::from_secs(1000)), 1);
        assert_eq!(clock.epoch_at(Timestamp::from_millis(1_059_999)), 1);
        assert_eq!(clock.epoch_at(Timestamp::from_secs(1060)), 2);
        assert_eq!(clock.end_of(1), Timestamp::from_secs(1060));
    }

    #[test]
    fn a_mac_covers_every_field_of_a_seal() {
        let key = SealKey::from_bytes([1; 32]);
        let mut seal = Seal {
            era: 1,
            epoch: 4,
            next_epoch: 5,
            kind: SealKind::Epoch,
            seq: 10,
            hash: "ab".repeat(32),
            prev_mac: NO_MAC.into(),
            mac: String::new(),
        };
        seal.mac = seal.compute_mac(&key);
        assert!(seal.verify_mac(&key));
        assert!(!seal.verify_mac(&key.evolve()));
        let variants: [fn(&mut Seal); 7] = [
            |s| s.era += 1,
            |s| s.epoch += 1,
            |s| s.next_epoch += 1,
            |s| s.kind = SealKind::Stop,
            |s| s.seq += 1,
            |s| s.hash.push('0'),
            |s| s.prev_mac = "1".into(),
        ];
        for change in variants {
            let mut altered = seal.clone();
            change(&mut altered);
            assert!(!altered.verify_mac(&key), "{altered:?}");
        }
    }
}
