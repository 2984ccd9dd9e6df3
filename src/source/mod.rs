//! Where boundary-mode readings come from. Every source sits behind [`ModeSource`] and
//! produces [`Reading`]s; one place (the service's mode supervisor) turns readings into the
//! effective mode with the override, the latch and the settle time.

pub mod boundary_daemon;
pub mod detect;
pub mod fixed;

use crate::core::EffectiveMode;
use tokio::sync::watch;

/// One reading of a source.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The mode read, or UNKNOWN when the source cannot tell.
    pub mode: EffectiveMode,
    /// Whether the source works (UNKNOWN from a healthy source means it really cannot tell).
    pub healthy: bool,
    /// What the source sees, for `Facts` and `Explain()`.
    pub facts: serde_json::Value,
    /// Why the mode is what it is, in one sentence.
    pub explanation: String,
    /// Whether every route out leaves through a VPN (the tool gate in TRUSTED).
    pub route_out_is_vpn: bool,
    /// What the detector's tripwires watch (links up, removable media); none for other sources.
    pub judgement: Option<detect::rules::Judgement>,
}

/// A source of readings.
#[async_trait::async_trait]
pub trait ModeSource: Send + std::fmt::Debug {
    /// The name shown in the `Source` property: static, detect or boundary-daemon.
    fn name(&self) -> &'static str;

    /// Produces readings until the sender is dropped or the task is cancelled.
    async fn run(self: Box<Self>, readings: watch::Sender<Option<Reading>>);
}
