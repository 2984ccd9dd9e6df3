//! The `static` source: a fixed mode from the config, for hosts that want it. Without a
//! configured mode it reads UNKNOWN, and everything stays denied.

use super::{ModeSource, Reading};
use crate::core::{BoundaryMode, EffectiveMode};
use tokio::sync::watch;

/// A fixed mode.
#[derive(Debug, Clone)]
pub struct StaticSource {
    mode: Option<BoundaryMode>,
}

impl StaticSource {
    /// A source that always reads `mode` (UNKNOWN when `None`).
    pub fn new(mode: Option<BoundaryMode>) -> Self {
        Self { mode }
    }

    /// Its one reading.
    pub fn reading(&self) -> Reading {
        match self.mode {
            Some(mode) => Reading {
                mode: EffectiveMode::Known(mode),
                healthy: true,
                facts: serde_json::json!({"static_mode": mode.name()}),
                explanation: format!(
                    "the configuration fixes the mode at {mode} (mode.static_mode)"
                ),
                route_out_is_vpn: mode == BoundaryMode::Trusted,
                judgement: None,
            },
            None => Reading {
                mode: EffectiveMode::Unknown,
                healthy: false,
                facts: serde_json::json!({}),
                explanation:
                    "source is static but mode.static_mode is not set, so the mode is UNKNOWN"
                        .into(),
                route_out_is_vpn: false,
                judgement: None,
            },
        }
    }
}

#[async_trait::async_trait]
impl ModeSource for StaticSource {
    fn name(&self) -> &'static str {
        "static"
    }

    async fn run(self: Box<Self>, readings: watch::Sender<Option<Reading>>) {
        readings.send_replace(Some(self.reading()));
        readings.closed().await;
    }
}
