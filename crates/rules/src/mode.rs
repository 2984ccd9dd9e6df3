//! Boundary modes, memory classes, the effective mode, the settle-time rule and the two
//! mode-only gates (SEMANTICS.md sections 1, 7 and 8).

use super::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The host's boundary mode, ordered from least to most isolated. The discriminants are the
/// wire values shared with the Boundary Daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[repr(u8)]
pub enum BoundaryMode {
    /// Direct network access.
    Open = 0,
    /// Network limited to the local segment (no route out).
    Restricted = 1,
    /// Every route out goes through a VPN or encrypted tunnel.
    Trusted = 2,
    /// No network link at all except loopback.
    Airgap = 3,
    /// AIRGAP, no removable media, all persistent writable storage encrypted.
    Coldroom = 4,
    /// Emergency: nothing is allowed.
    Lockdown = 5,
}

impl BoundaryMode {
    /// Every mode, in wire order.
    pub const ALL: [BoundaryMode; 6] = [
        Self::Open,
        Self::Restricted,
        Self::Trusted,
        Self::Airgap,
        Self::Coldroom,
        Self::Lockdown,
    ];

    /// The mode's upper-case name as used on the bus ("OPEN" … "LOCKDOWN").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Restricted => "RESTRICTED",
            Self::Trusted => "TRUSTED",
            Self::Airgap => "AIRGAP",
            Self::Coldroom => "COLDROOM",
            Self::Lockdown => "LOCKDOWN",
        }
    }

    /// Parses a mode name, ignoring case ("airgap", "AIRGAP").
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The mode for a wire value 0–5.
    pub fn from_wire(value: u8) -> Option<Self> {
        Self::ALL.get(usize::from(value)).copied()
    }

    /// The highest memory class that may be stored or recalled in this mode; none in LOCKDOWN.
    pub const fn class_cap(self) -> Option<MemoryClass> {
        match self {
            Self::Open => Some(MemoryClass::Internal),
            Self::Restricted => Some(MemoryClass::Confidential),
            Self::Trusted => Some(MemoryClass::Secret),
            Self::Airgap => Some(MemoryClass::TopSecret),
            Self::Coldroom => Some(MemoryClass::CrownJewel),
            Self::Lockdown => None,
        }
    }
}

impl fmt::Display for BoundaryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A memory's classification, 0 (PUBLIC) to 5 (CROWN_JEWEL), as the Boundary Daemon numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
#[repr(u8)]
pub enum MemoryClass {
    /// 0
    Public = 0,
    /// 1
    Internal = 1,
    /// 2
    Confidential = 2,
    /// 3
    Secret = 3,
    /// 4
    TopSecret = 4,
    /// 5
    CrownJewel = 5,
}

impl MemoryClass {
    /// Every class, in order.
    pub const ALL: [MemoryClass; 6] = [
        Self::Public,
        Self::Internal,
        Self::Confidential,
        Self::Secret,
        Self::TopSecret,
        Self::CrownJewel,
    ];

    /// The class for a wire value 0–5.
    pub fn from_wire(value: u8) -> Option<Self> {
        Self::ALL.get(usize::from(value)).copied()
    }

    /// The wire value 0–5.
    pub const fn wire(self) -> u8 {
        self as u8
    }

    /// The class's upper-case name ("PUBLIC" … "CROWN_JEWEL").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Public => "PUBLIC",
            Self::Internal => "INTERNAL",
            Self::Confidential => "CONFIDENTIAL",
            Self::Secret => "SECRET",
            Self::TopSecret => "TOP_SECRET",
            Self::CrownJewel => "CROWN_JEWEL",
        }
    }
}

impl TryFrom<u8> for MemoryClass {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Self::from_wire(value).ok_or_else(|| format!("memory class {value} is not 0–5"))
    }
}

impl From<MemoryClass> for u8 {
    fn from(class: MemoryClass) -> u8 {
        class.wire()
    }
}

impl fmt::Display for MemoryClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.wire(), self.name())
    }
}

/// The mode the daemon enforces: a known boundary mode, or UNKNOWN when there is no good
/// reading (enforced exactly like LOCKDOWN, but reported as its own state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EffectiveMode {
    /// A good reading.
    Known(BoundaryMode),
    /// No reading, a lost source or a garbled reply.
    Unknown,
}

impl EffectiveMode {
    /// The name used on the bus: a mode name or "UNKNOWN".
    pub const fn name(self) -> &'static str {
        match self {
            Self::Known(mode) => mode.name(),
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Parses a mode name or "UNKNOWN", ignoring case.
    pub fn parse(name: &str) -> Option<Self> {
        if name.trim().eq_ignore_ascii_case("UNKNOWN") {
            Some(Self::Unknown)
        } else {
            BoundaryMode::parse(name).map(Self::Known)
        }
    }

    /// True in LOCKDOWN and UNKNOWN, where everything is denied and every contract suspended.
    pub const fn is_locked(self) -> bool {
        matches!(self, Self::Unknown | Self::Known(BoundaryMode::Lockdown))
    }

    /// The mode when learning is possible at all (not LOCKDOWN, not UNKNOWN).
    pub const fn operating(self) -> Option<BoundaryMode> {
        match self {
            Self::Known(BoundaryMode::Lockdown) | Self::Unknown => None,
            Self::Known(mode) => Some(mode),
        }
    }

    /// The more restrictive of two modes for learning: LOCKDOWN before UNKNOWN before any
    /// operating mode, and among operating modes the less isolated one (toward OPEN). Checks
    /// are judged in both when they differ; this is the one a change toward it applies at once.
    pub fn most_restrictive(self, other: EffectiveMode) -> EffectiveMode {
        let lockdown = Self::Known(BoundaryMode::Lockdown);
        if self == lockdown || other == lockdown {
            return lockdown;
        }
        match (self.operating(), other.operating()) {
            (Some(a), Some(b)) => Self::Known(a.min(b)),
            _ => Self::Unknown,
        }
    }

    /// Whether moving from `self` to `next` makes learning more permissive: from a locked state
    /// to any operating mode, or from an operating mode to a more isolated one. Such changes wait
    /// for the settle time; every other change applies at once.
    pub fn is_more_permissive(self, next: EffectiveMode) -> bool {
        match (self.operating(), next.operating()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(current), Some(candidate)) => candidate > current,
        }
    }
}

impl fmt::Display for EffectiveMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Combines the source's reading with the admin override and the lockdown latch, in that order.
/// The override can only lower the mode (claim less isolation); it never lifts LOCKDOWN or
/// UNKNOWN. A latched lockdown wins over everything.
pub fn combine_mode(
    reading: EffectiveMode,
    override_mode: Option<BoundaryMode>,
    latched_lockdown: bool,
) -> EffectiveMode {
    if latched_lockdown {
        return EffectiveMode::Known(BoundaryMode::Lockdown);
    }
    match (reading.operating(), override_mode) {
        (Some(read), Some(lowered)) if lowered < read => EffectiveMode::Known(lowered),
        _ => reading,
    }
}

/// The settle-time rule as a pure state machine: a change toward more restrictive learning
/// applies at once; a change toward more permissive learning applies only once the candidate has
/// been stable for `settle_millis`.
#[derive(Clone, Debug)]
pub struct ModeSettler {
    settle_millis: i64,
    applied: EffectiveMode,
    pending: Option<(EffectiveMode, Timestamp)>,
}

impl ModeSettler {
    /// A settler that starts at UNKNOWN, as the daemon does before its first reading.
    pub fn new(settle_millis: i64) -> Self {
        Self {
            settle_millis: settle_millis.max(0),
            applied: EffectiveMode::Unknown,
            pending: None,
        }
    }

    /// The mode currently applied.
    pub fn applied(&self) -> EffectiveMode {
        self.applied
    }

    /// The permissive candidate waiting for its settle time, and since when it has been seen.
    pub fn pending(&self) -> Option<(EffectiveMode, Timestamp)> {
        self.pending
    }

    /// When the pending candidate will apply if nothing else is observed (for the timer).
    pub fn deadline(&self) -> Option<Timestamp> {
        self.pending
            .map(|(_, since)| since.plus_millis(self.settle_millis))
    }

    /// Changes the settle time (a reloaded config); a pending candidate keeps its start.
    pub fn set_settle_millis(&mut self, settle_millis: i64) {
        self.settle_millis = settle_millis.max(0);
    }

    /// Takes the mode actually committed as the applied one. The store decides what is in force:
    /// after a commit that failed, or one made elsewhere (a lockdown released, an override
    /// set), the settler judges the next candidate against what checks really see. A pending
    /// candidate keeps its start unless it is now the committed mode.
    pub fn resync(&mut self, committed: EffectiveMode) {
        self.applied = committed;
        if self
            .pending
            .is_some_and(|(waiting, _)| waiting == committed)
        {
            self.pending = None;
        }
    }

    /// Applies `candidate` at once, whatever its direction: for the first reading after
    /// startup, which has nothing to settle against.
    pub fn force(&mut self, candidate: EffectiveMode) -> Option<EffectiveMode> {
        self.pending = None;
        (candidate != std::mem::replace(&mut self.applied, candidate)).then_some(candidate)
    }

    /// Feeds the latest candidate mode observed at `now`. Returns the newly applied mode when
    /// the applied mode changes.
    pub fn observe(&mut self, candidate: EffectiveMode, now: Timestamp) -> Option<EffectiveMode> {
        if candidate == self.applied {
            self.pending = None;
            return None;
        }
        if !self.applied.is_more_permissive(candidate) {
            self.pending = None;
            self.applied = candidate;
            return Some(candidate);
        }
        match self.pending {
            Some((waiting, _)) if waiting == candidate => {}
            _ => self.pending = Some((candidate, now)),
        }
        self.poll(now)
    }

    /// Applies the pending candidate if it has been stable for the settle time by `now`.
    pub fn poll(&mut self, now: Timestamp) -> Option<EffectiveMode> {
        let deadline = self.deadline()?;
        if now < deadline {
            return None;
        }
        let (candidate, _) = self.pending.take()?;
        self.applied = candidate;
        Some(candidate)
    }
}

/// A gate's answer: allowed, a stable code and a one-sentence reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateDecision {
    /// Whether the operation may go ahead.
    pub allowed: bool,
    /// A stable machine-readable code (see [`super::check::Code`]).
    pub code: super::check::Code,
    /// One sentence a person can read.
    pub reason: String,
}

impl GateDecision {
    fn allow(reason: String) -> Self {
        Self {
            allowed: true,
            code: super::check::Code::Allowed,
            reason,
        }
    }

    fn deny(code: super::check::Code, reason: String) -> Self {
        Self {
            allowed: false,
            code,
            reason,
        }
    }

    /// The denial every gate gives in LOCKDOWN or UNKNOWN, if `mode` is one of them.
    fn locked(mode: EffectiveMode) -> Option<Self> {
        use super::check::Code;
        match mode {
            EffectiveMode::Unknown => Some(Self::deny(
                Code::BoundaryUnknown,
                "The boundary mode is unknown, so everything is denied until a good reading returns."
                    .into(),
            )),
            EffectiveMode::Known(BoundaryMode::Lockdown) => Some(Self::deny(
                Code::Lockdown,
                "The host is in LOCKDOWN, so everything is denied.".into(),
            )),
            EffectiveMode::Known(_) => None,
        }
    }
}

/// The recall gate: a memory of `class` may be recalled iff the mode's cap is at least `class`.
pub fn recall_gate(mode: EffectiveMode, class: MemoryClass) -> GateDecision {
    if let Some(locked) = GateDecision::locked(mode) {
        return locked;
    }
    match mode.operating().and_then(BoundaryMode::class_cap) {
        Some(cap) if class <= cap => GateDecision::allow(format!(
            "Class {class} may be recalled in {mode}, whose cap is {cap}."
        )),
        Some(cap) => GateDecision::deny(
            super::check::Code::BoundaryClass,
            format!("Class {class} is above the cap {cap} of the current mode {mode}."),
        ),
        None => unreachable!("locked modes are answered above"),
    }
}

/// What a tool needs from the host, for the tool gate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ToolNeeds {
    /// The tool talks to the network.
    pub network: bool,
    /// The tool reads or writes the filesystem.
    pub filesystem: bool,
    /// The tool uses USB devices.
    pub usb: bool,
}

/// The tool gate (SEMANTICS.md section 7): OPEN allows all; RESTRICTED denies usb; TRUSTED
/// denies network unless the route out is a VPN; AIRGAP denies network and usb; COLDROOM denies
/// network, filesystem and usb; LOCKDOWN and UNKNOWN deny all. Tools in `denied_tools` are
/// denied in every mode.
pub fn tool_gate(
    mode: EffectiveMode,
    tool: &str,
    needs: ToolNeeds,
    route_out_is_vpn: bool,
    denied_tools: &[String],
) -> GateDecision {
    use super::check::Code;
    if let Some(locked) = GateDecision::locked(mode) {
        return locked;
    }
    if denied_tools.iter().any(|denied| denied == tool) {
        return GateDecision::deny(
            Code::ToolDenied,
            format!("The tool '{tool}' is denied on this host in every mode."),
        );
    }
    let Some(current) = mode.operating() else {
        unreachable!("locked modes are answered above")
    };
    let (network_ok, filesystem_ok, usb_ok) = match current {
        BoundaryMode::Open => (true, true, true),
        BoundaryMode::Restricted => (true, true, false),
        BoundaryMode::Trusted => (route_out_is_vpn, true, true),
        BoundaryMode::Airgap => (false, true, false),
        BoundaryMode::Coldroom | BoundaryMode::Lockdown => (false, false, false),
    };
    let refused: Vec<&str> = [
        (needs.network && !network_ok, "network"),
        (needs.filesystem && !filesystem_ok, "filesystem"),
        (needs.usb && !usb_ok, "usb"),
    ]
    .into_iter()
    .filter_map(|(refused, what)| refused.then_some(what))
    .collect();
    if refused.is_empty() {
        GateDecision::allow(format!("The tool '{tool}' may run in {current}."))
    } else {
        GateDecision::deny(
            Code::BoundaryMode,
            format!(
                "The tool '{tool}' needs {} access, which {current} does not allow.",
                refused.join(" and ")
            ),
        )
    }
}
