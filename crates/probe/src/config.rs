//! The `[probe]` configuration section: engine limits, warm-up, the probe every node gets and
//! the probes by tag, and how inventory nodes become probe targets.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_config::{Problem, join};
use switchyard_route::FleetSpec;

use crate::{CompiledProbe, EngineConfig, ProbeSpec, Target, WarmConfig};

/// `[probe]`: how the fleet is probed. Without `[probe.default]` nothing is probed and every
/// node stays `unknown` (routed as if up).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Engine-wide limits (`max_in_flight`, `per_target_max_in_flight` per ip:port,
    /// `publish_debounce_ms`, `command_capacity`, `first_probe_spread_ms`).
    #[serde(default)]
    pub engine: EngineConfig,
    /// When the `probes-warm` readiness check passes (`fraction` of nodes probed once,
    /// default 0.9, or `deadline_ms` after start, default 30000).
    #[serde(default)]
    pub warm: WarmConfig,
    /// The probe every node gets (`check = { kind = "http", path = "/health" }`, intervals,
    /// rise/fall...). Default: none, no probing.
    #[serde(default)]
    pub default: Option<ProbeSpec>,
    /// Probes for nodes carrying a tag, replacing `default` for them. When a node has several
    /// tagged probes, the first tag in the node's `tags` list that has one wins.
    #[serde(default)]
    pub by_tag: BTreeMap<String, ProbeSpec>,
    /// Liveness: `/livez` fails when the scheduler has not turned for this long.
    /// Milliseconds, default 10000.
    #[serde(default = "default_stall")]
    pub scheduler_stall_threshold_ms: u64,
}

fn default_stall() -> u64 {
    10_000
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            warm: WarmConfig::default(),
            default: None,
            by_tag: BTreeMap::new(),
            scheduler_stall_threshold_ms: default_stall(),
        }
    }
}

impl ProbeConfig {
    /// Every problem, with paths under `probe.`.
    pub fn validate(&self, at: &str) -> Vec<Problem> {
        let mut out = self.engine.problems(&join(at, "engine"));
        let mut add = |problems: Vec<Problem>| out.extend(problems);
        let specs = self
            .default
            .iter()
            .map(|s| (join(at, "default"), s))
            .chain(self.by_tag.iter().map(|(tag, s)| (join(at, &format!("by_tag.{tag}")), s)));
        for (at, spec) in specs {
            let mut problems = spec.problems(&at);
            if problems.is_empty() {
                // What only building the probe finds (a CA file that is not PEM, say) is a
                // problem of the file too, so a reload with it is refused as a whole.
                if let Err(e) = CompiledProbe::new(Arc::new(spec.clone())) {
                    problems.push(Problem::at(format!("{at}.check"), e.to_string()));
                }
            }
            add(problems);
        }
        if !(0.0..=1.0).contains(&self.warm.fraction) {
            out.push(Problem::at(join(at, "warm.fraction"), "must be between 0 and 1"));
        }
        if self.scheduler_stall_threshold_ms < 1000 {
            out.push(Problem::at(
                join(at, "scheduler_stall_threshold_ms"),
                "must be at least 1000",
            ));
        }
        out
    }

    /// Probe targets for the fleet: one per node with an address and a probe. Specs are
    /// shared through one `Arc` each so nodes share compiled regexes and TLS settings.
    pub fn targets(&self, fleet: &FleetSpec) -> Vec<Target> {
        let default = self.default.clone().map(Arc::new);
        let by_tag: BTreeMap<&str, Arc<ProbeSpec>> =
            self.by_tag.iter().map(|(t, s)| (t.as_str(), Arc::new(s.clone()))).collect();
        fleet
            .nodes
            .iter()
            .filter_map(|n| {
                let spec = n
                    .tags
                    .iter()
                    .find_map(|t| by_tag.get(t.as_str()).cloned())
                    .or_else(|| default.clone())?;
                let ip: IpAddr = n.ipv4.map(IpAddr::V4).or(n.ipv6.map(IpAddr::V6))?;
                Some(Target::new(n.id.as_str(), SocketAddr::new(ip, n.port), spec))
            })
            .collect()
    }

    /// The longest gap between two scheduler turns a healthy engine can show: its loop turns at
    /// least once per probe interval of any node, so the limit is the configured threshold or
    /// three times the longest interval, whichever is larger.
    pub fn scheduler_stall_limit(&self) -> Duration {
        let longest = self
            .default
            .iter()
            .chain(self.by_tag.values())
            .map(|s| s.interval().max(s.down_interval()).max(s.transition_interval()))
            .max()
            .unwrap_or_default();
        Duration::from_millis(self.scheduler_stall_threshold_ms).max(longest * 3)
    }
}
