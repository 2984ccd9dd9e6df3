//! The two clocks as the core sees them.
//!
//! - [`Timestamp`], the wall clock: milliseconds since the Unix epoch, UTC. What people read
//!   and what contracts state: audit records, `retention_until`, creation and activation times.
//!   It can step (NTP, an admin, a bad RTC at boot).
//! - [`Monotonic`], the boot-time clock: milliseconds since the host booted, counting time
//!   spent suspended. It never steps. Durations the daemon measures itself run on it: a
//!   session's idle time and a purge token's two minutes, so a wall-clock step can neither end
//!   every session at once nor stretch a token's life.
//!
//! The two are distinct types with no conversion between them, so one cannot be compared with
//! the other by mistake. The core never reads either clock itself; every operation that
//! depends on time takes them as arguments ([`Now`] carries both), so tests can place events
//! exactly and step one clock without the other.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An instant in milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// The instant `secs` seconds after the epoch (the bus's unit for times).
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant moved forward by `millis` milliseconds (saturating).
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// The current wall-clock time. Only the service layer calls this; the core takes
    /// timestamps as arguments.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// An instant on the monotonic (boot-time) clock, in milliseconds. Comparable only with other
/// [`Monotonic`] instants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Monotonic(i64);

impl Monotonic {
    /// The instant `millis` milliseconds after the clock's origin.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the clock's origin.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant moved forward by `millis` milliseconds (saturating).
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// Milliseconds from this instant until `later` (negative when `later` is earlier).
    pub const fn millis_until(self, later: Monotonic) -> i64 {
        later.0.saturating_sub(self.0)
    }

    /// The current reading of the boot-time clock (`CLOCK_BOOTTIME`: it counts suspend, so a
    /// purge token does not outlive its two minutes across a suspend). Only the service layer
    /// calls this.
    pub fn now() -> Self {
        let reading = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME)
            .map(|ts| i64::try_from(std::time::Duration::from(ts).as_millis()).unwrap_or(i64::MAX));
        // Every Linux since 2.6.39 has the boot-time clock; should it be missing, the standard
        // monotonic clock (which pauses during suspend) measured from the first reading serves.
        Self(reading.unwrap_or_else(|_| {
            static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            let elapsed = ORIGIN.get_or_init(std::time::Instant::now).elapsed();
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        }))
    }
}

impl fmt::Display for Monotonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms since boot", self.0)
    }
}

/// Both clocks, read at the same moment: the wall clock for what is recorded, the monotonic
/// clock for durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// The wall clock.
    pub wall: Timestamp,
    /// The monotonic clock.
    pub mono: Monotonic,
}

impl Now {
    /// Reads both clocks. Only the service layer calls this.
    pub fn read() -> Self {
        Self {
            wall: Timestamp::now(),
            mono: Monotonic::now(),
        }
    }
}

/// The default length of an audit sealing epoch, in seconds: 15 minutes, as journald's
/// (`[audit] seal_interval_seconds`; store/seal.rs).
pub const SEAL_INTERVAL_DEFAULT_SECS: u64 = 900;

/// The bounds of a sealing epoch's length, in seconds: at least ten seconds (the daemon's seal
/// timer wakes at least once a minute anyway), at most a week.
pub const SEAL_INTERVAL_RANGE: std::ops::RangeInclusive<u64> = 10..=7 * 24 * 3600;
