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
    /// `dev`, `test` or `prod` (default): how dependency checks time out and cache, how
    /// often a failing check logs, and whether `/readyz` shows why a check failed.
    #[serde(default)]
    pub profile: HealthProfile,
    /// Memory limit for the watermark, bytes. Default: the cgroup's limit when there is one;
    /// with neither, no watermark.
    #[serde(default)]
    pub memory_limit_bytes: Option<u64>,
    /// Above this fraction of the limit readiness fails and the traffic front ends shed
    /// load. Default 0.9.
    #[serde(default = "default_memory_high")]
    pub memory_high_ratio: f64,
    /// Below this fraction the process is ready again (hysteresis). Default 0.8.
    #[serde(default = "default_memory_low")]
    pub memory_low_ratio: f64,
}

/// A preset of health-check behaviour for where the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthProfile {
    /// A developer's machine: reasons shown on `/readyz`, dependencies probed every second,
    /// failures logged every 5 s.
    Dev,
    /// Test suites and CI: reasons shown, dependencies probed every 100 ms with a 500 ms
    /// timeout, failures logged every second.
    Test,
    /// Production: reasons withheld (as the apiserver), dependencies probed at most every
    /// 5 s with a 1 s timeout, failures logged every 30 s.
    #[default]
    Prod,
}

impl HealthProfile {
    /// `dev`, `test` or `prod`.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthProfile::Dev => "dev",
            HealthProfile::Test => "test",
            HealthProfile::Prod => "prod",
        }
    }

    /// Whether the aggregated endpoints show failed checks' errors.
    pub fn show_reasons(self) -> bool {
        self != HealthProfile::Prod
    }

    /// Least time between two failure logs of one check.
    pub fn failure_log_interval(self) -> Duration {
        match self {
            HealthProfile::Dev => Duration::from_secs(5),
            HealthProfile::Test => Duration::from_secs(1),
            HealthProfile::Prod => Duration::from_secs(30),
        }
    }

    /// A dependency check's (timeout, least time between probes).
    pub fn dependency_timing(self) -> (Duration, Duration) {
        match self {
            HealthProfile::Dev => (Duration::from_secs(1), Duration::from_secs(1)),
            HealthProfile::Test => (Duration::from_millis(500), Duration::from_millis(100)),
            HealthProfile::Prod => (Duration::from_secs(1), Duration::from_secs(5)),
        }
    }

    /// A dependency with this profile's timeout and period.
    pub fn apply(self, dependency: crate::Dependency) -> crate::Dependency {
        let (timeout, period) = self.dependency_timing();
        dependency.timeout(timeout).period(period)
    }
}

fn default_memory_high() -> f64 {
    0.9
}
fn default_memory_low() -> f64 {
    0.8
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
            profile: HealthProfile::default(),
            memory_limit_bytes: None,
            memory_high_ratio: default_memory_high(),
            memory_low_ratio: default_memory_low(),
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
        if self.memory_limit_bytes == Some(0) {
            p.push("memory_limit_bytes", "must be > 0 (leave it out for the cgroup's limit)");
        }
        let (high, low) = (self.memory_high_ratio, self.memory_low_ratio);
        if !(high > 0.0 && high <= 1.0) {
            p.push("memory_high_ratio", format!("{high} is out of range (0, 1]"));
        } else if !(low > 0.0 && low < high) {
            let at_high = p.path("memory_high_ratio");
            p.push("memory_low_ratio", format!("{low} must be > 0 and below {at_high} ({high})"));
        }
        p.into_vec()
    }

    /// The memory watermark these settings describe: the configured limit, else the
    /// cgroup's; `None` with neither.
    pub fn memory_watermark(&self) -> Option<crate::MemoryWatermark> {
        let limit = self.memory_limit_bytes.or_else(crate::cgroup_memory_limit)?;
        crate::MemoryWatermark::new(limit, self.memory_high_ratio, self.memory_low_ratio).ok()
    }

    /// A registry builder with the configured check timeout and grace period.
    pub fn registry_builder(&self) -> HealthRegistryBuilder {
        HealthRegistry::builder()
            .livez_grace_period(
                Duration::try_from_secs_f64(self.livez_grace_period_seconds).unwrap_or_default(),
            )
            .default_timeout(Duration::from_millis(self.check_timeout_ms))
            .failure_log_interval(self.profile.failure_log_interval())
            .show_reasons(self.profile.show_reasons())
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
