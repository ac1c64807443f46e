//! The `probes-warm` readiness signal: ready once enough of the fleet finished one probe
//! round, or once the warm-up deadline passed. Traffic Monitor reports not-ready until every
//! cache was polled, so one dead node keeps a whole instance out; a fraction avoids that.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::EngineHandle;

/// Warm-up settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmConfig {
    /// Fraction of nodes (0..=1) that must have finished one probe. Default 0.9.
    #[serde(default = "d_fraction")]
    pub fraction: f64,
    /// Ready after this long from engine start even when the fraction is not reached, ms.
    /// Default 30000.
    #[serde(default = "d_deadline")]
    pub deadline_ms: u64,
}

fn d_fraction() -> f64 {
    0.9
}
fn d_deadline() -> u64 {
    30_000
}

impl Default for WarmConfig {
    fn default() -> Self {
        WarmConfig { fraction: d_fraction(), deadline_ms: d_deadline() }
    }
}

/// Why the warm check passed or not.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum WarmStatus {
    /// Enough nodes probed.
    Warm {
        /// Fraction probed.
        fraction: f64,
    },
    /// Not enough probed, but the deadline passed.
    DeadlinePassed {
        /// Fraction probed.
        fraction: f64,
    },
    /// Still warming up.
    Cold {
        /// Fraction probed.
        fraction: f64,
        /// Required fraction.
        required: f64,
    },
}

impl WarmStatus {
    /// True when readiness may pass.
    pub fn is_ready(&self) -> bool {
        !matches!(self, WarmStatus::Cold { .. })
    }
}

/// Evaluates warm-up of one engine; wrap it as a readiness check.
#[derive(Debug, Clone)]
pub struct WarmCheck {
    engine: EngineHandle,
    config: WarmConfig,
    started: Instant,
}

impl WarmCheck {
    /// Starts the deadline clock now.
    pub fn new(engine: EngineHandle, config: WarmConfig) -> Self {
        WarmCheck { engine, config, started: Instant::now() }
    }

    /// Current status.
    pub fn status(&self) -> WarmStatus {
        evaluate(self.engine.warm_fraction(), &self.config, self.started.elapsed())
    }
}

/// The decision, pure: `fraction` probed so far, `elapsed` since start.
pub fn evaluate(fraction: f64, config: &WarmConfig, elapsed: Duration) -> WarmStatus {
    if fraction >= config.fraction {
        WarmStatus::Warm { fraction }
    } else if elapsed >= Duration::from_millis(config.deadline_ms) {
        WarmStatus::DeadlinePassed { fraction }
    } else {
        WarmStatus::Cold { fraction, required: config.fraction }
    }
}
