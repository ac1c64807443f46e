//! Wiring of the probe engine: the `[probe]` configuration, inventory nodes turned into probe
//! targets, and the task that turns every published health snapshot into the routing
//! table's `HealthView`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use switchyard_probe::{
    EngineConfig, EngineHandle, HealthSnapshot, ProbeSpec, Target, WarmCheck, WarmConfig,
};
use switchyard_route::{FleetSpec, HealthState, HealthView, NodeHealth};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Problem;

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
    pub fn validate(&self) -> Vec<Problem> {
        let mut out: Vec<Problem> = Vec::new();
        let mut add = |problems: Vec<switchyard_probe::ConfigProblem>| {
            out.extend(problems.into_iter().map(|p| Problem::at(p.path, p.message)));
        };
        add(self.engine.problems("probe.engine"));
        let specs = self
            .default
            .iter()
            .map(|s| ("probe.default".to_string(), s))
            .chain(self.by_tag.iter().map(|(tag, s)| (format!("probe.by_tag.{tag}"), s)));
        for (at, spec) in specs {
            let mut problems = spec.problems(&at);
            if problems.is_empty() {
                // What only building the probe finds (a CA file that is not PEM, say) is a
                // problem of the file too, so a reload with it is refused as a whole.
                if let Err(e) = switchyard_probe::CompiledProbe::new(Arc::new(spec.clone())) {
                    problems.push(switchyard_probe::ConfigProblem {
                        path: format!("{at}.check"),
                        message: e.to_string(),
                    });
                }
            }
            add(problems);
        }
        if !(0.0..=1.0).contains(&self.warm.fraction) {
            out.push(Problem::at("probe.warm.fraction", "must be between 0 and 1"));
        }
        if self.scheduler_stall_threshold_ms < 1000 {
            out.push(Problem::at("probe.scheduler_stall_threshold_ms", "must be at least 1000"));
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
}

/// Maps the prober's snapshot to the router's health view.
pub fn health_view(snapshot: &HealthSnapshot) -> HealthView {
    let mut view = HealthView::new(snapshot.version);
    view.nodes.reserve(snapshot.nodes.len());
    for (id, st) in &snapshot.nodes {
        let state = match st.state {
            switchyard_probe::HealthState::Unknown => HealthState::Unknown,
            switchyard_probe::HealthState::Up => HealthState::Up,
            switchyard_probe::HealthState::Degraded => HealthState::Degraded,
            switchyard_probe::HealthState::Down => HealthState::Down,
        };
        view.nodes.insert(
            id.to_string(),
            NodeHealth {
                state,
                utilization: st.utilization.map(|u| u as f32),
                latency_ewma_ms: st.latency_ewma_ms.map(|l| l as f32),
                agent_weight_percent: (st.weight_percent != 100).then_some(st.weight_percent),
            },
        );
    }
    view
}

/// Applies every published snapshot to the routing table until `stop`.
pub async fn follow_health(
    mut rx: watch::Receiver<Arc<HealthSnapshot>>,
    app: Arc<crate::app::App>,
    stop: CancellationToken,
) {
    loop {
        let snapshot = rx.borrow_and_update().clone();
        app.routing.apply_health(health_view(&snapshot));
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// `probes-warm` readiness: enough nodes probed once, or the warm-up deadline passed.
pub fn warm_check(engine: EngineHandle, config: WarmConfig) -> switchyard_health::Check {
    let warm = WarmCheck::new(engine, config);
    switchyard_health::Check::immediate("probes-warm", move || {
        let status = warm.status();
        if status.is_ready() {
            Ok(())
        } else {
            Err(switchyard_health::CheckError::new(format!("{status:?}")))
        }
    })
}

/// The longest gap between two scheduler turns a healthy engine can show: its loop turns at
/// least once per probe interval of any node, so the limit is the configured threshold or
/// three times the longest interval, whichever is larger.
pub fn scheduler_stall_limit(config: &ProbeConfig) -> Duration {
    let longest = config
        .default
        .iter()
        .chain(config.by_tag.values())
        .map(|s| s.interval().max(s.down_interval()).max(s.transition_interval()))
        .max()
        .unwrap_or_default();
    Duration::from_millis(config.scheduler_stall_threshold_ms).max(longest * 3)
}

/// Liveness: the scheduler loop keeps turning while it has nodes to probe.
pub fn scheduler_check(engine: EngineHandle, stall: Duration) -> switchyard_health::Check {
    let last_turns = AtomicU64::new(u64::MAX);
    let since = std::sync::Mutex::new(Instant::now());
    switchyard_health::Check::immediate("probe-scheduler", move || {
        let stats = engine.stats();
        let turns = stats.heartbeat;
        let mut changed_at = since.lock().unwrap_or_else(|e| e.into_inner());
        if last_turns.swap(turns, Ordering::Relaxed) != turns || stats.nodes == 0 {
            *changed_at = Instant::now();
            return Ok(());
        }
        let idle = changed_at.elapsed();
        if idle > stall {
            Err(switchyard_health::CheckError::new(format!(
                "probe scheduler has not turned for {idle:?} (limit {stall:?})"
            )))
        } else {
            Ok(())
        }
    })
}
