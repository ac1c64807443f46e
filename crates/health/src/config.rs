//! The `[health]` configuration section: check timeouts, the liveness grace period and the
//! event-loop heartbeat, with the validation that reports every problem at once.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_config::{Problem, Problems};

use crate::{HealthRegistry, HealthRegistryBuilder, HeartbeatConfig};

/// Self-health check settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Time limit for each health check run. Milliseconds, default 2000, 1..=2000 (a probe of
    /// `/readyz` by a kubelet times out at 1-2 s, so a check may never take longer).
    #[serde(default = "default_check_timeout")]
    pub check_timeout_ms: u64,
    /// Liveness checks report ok for this long after start even when failing (the k8s
    /// `--livez-grace-period`). Seconds, default 0.
    #[serde(default)]
    pub livez_grace_period_seconds: f64,
    /// The event-loop heartbeat fails `/livez` when the runtime has not run it for this long.
    /// Milliseconds, default 5000, must exceed `heartbeat_interval_ms`.
    #[serde(default = "default_stall_threshold")]
    pub event_loop_stall_threshold_ms: u64,
    /// How often the heartbeat task ticks. Milliseconds, default 100.
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval_ms: u64,
}

fn default_check_timeout() -> u64 {
    2000
}
fn default_stall_threshold() -> u64 {
    5000
}
fn default_heartbeat_interval() -> u64 {
    100
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            check_timeout_ms: default_check_timeout(),
            livez_grace_period_seconds: 0.0,
            event_loop_stall_threshold_ms: default_stall_threshold(),
            heartbeat_interval_ms: default_heartbeat_interval(),
        }
    }
}

impl HealthConfig {
    /// Every problem, with paths under `at` (e.g. `health`).
    pub fn validate(&self, at: &str) -> Vec<Problem> {
        let mut p = Problems::new(at);
        if self.check_timeout_ms == 0 || self.check_timeout_ms > 2000 {
            p.push(
                "check_timeout_ms",
                format!("{} is out of range 1..=2000", self.check_timeout_ms),
            );
        }
        let grace = self.livez_grace_period_seconds;
        if !grace.is_finite() || grace < 0.0 {
            p.push("livez_grace_period_seconds", "must be a number of seconds >= 0");
        }
        if self.heartbeat_interval_ms == 0 {
            p.push("heartbeat_interval_ms", "must be > 0");
        }
        if self.event_loop_stall_threshold_ms <= self.heartbeat_interval_ms {
            let at_interval = p.path("heartbeat_interval_ms");
            p.push(
                "event_loop_stall_threshold_ms",
                format!(
                    "{} must be greater than {at_interval} ({})",
                    self.event_loop_stall_threshold_ms, self.heartbeat_interval_ms
                ),
            );
        }
        p.into_vec()
    }

    /// A registry builder with the configured check timeout and grace period.
    pub fn registry_builder(&self) -> HealthRegistryBuilder {
        HealthRegistry::builder()
            .livez_grace_period(
                Duration::try_from_secs_f64(self.livez_grace_period_seconds).unwrap_or_default(),
            )
            .default_timeout(Duration::from_millis(self.check_timeout_ms))
    }

    /// The event-loop heartbeat these settings describe.
    pub fn heartbeat(&self) -> HeartbeatConfig {
        HeartbeatConfig {
            interval: Duration::from_millis(self.heartbeat_interval_ms),
            max_lag: Duration::from_millis(self.event_loop_stall_threshold_ms),
            ..Default::default()
        }
    }
}
