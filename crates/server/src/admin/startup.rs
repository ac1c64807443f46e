//! Start-up phase timing: `GET /debug/startup` and the gauge
//! `switchyard_startup_phase_duration_seconds{phase}`, filled in by `serve` as each phase ends.
//!
//! The phases, in order: `config` (read and validate the file, the admin token, the audit
//! file), `bind` (every listener bound), `inventory` (the probe engine and inventory source
//! started and the first inventory loaded), `routing-table` (the first routing table built),
//! `first-probes` (every probe target has its first result; immediate when nothing is
//! probed). `total` runs from the start of `config` to the end of `first-probes`, so it also
//! counts what lies between phases (a hidden `--startup-delay-ms` after `bind`).

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;
use switchyard_probe::EngineHandle;
use tokio_util::sync::CancellationToken;

/// A start-up phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading and validating the configuration, the admin token and the audit file.
    Config,
    /// Binding every listener.
    Bind,
    /// Starting the prober and the inventory source, loading the first inventory.
    Inventory,
    /// Building the first routing table.
    RoutingTable,
    /// Every probe target's first result.
    FirstProbes,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 5] =
        [Phase::Config, Phase::Bind, Phase::Inventory, Phase::RoutingTable, Phase::FirstProbes];

    /// The phase's name in `/debug/startup` and the metric's `phase` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Config => "config",
            Phase::Bind => "bind",
            Phase::Inventory => "inventory",
            Phase::RoutingTable => "routing-table",
            Phase::FirstProbes => "first-probes",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: &'static str,
}

/// When each phase started and how long it took, relative to the start of `config`.
#[derive(Debug)]
pub struct StartupPhases {
    origin: Instant,
    done: Mutex<[Option<(Duration, Duration)>; 5]>,
    gauges: Family<PhaseLabels, Gauge<f64, AtomicU64>>,
    total: Gauge<f64, AtomicU64>,
}

impl StartupPhases {
    /// Timing from `origin`, the start of the `config` phase.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            done: Mutex::new([None; 5]),
            gauges: Family::default(),
            total: Gauge::default(),
        }
    }

    /// The start of the `config` phase.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Registers `switchyard_startup_phase_duration_seconds{phase}` and
    /// `switchyard_startup_duration_seconds` in the `switchyard_`-prefixed registry.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "startup_phase_duration",
            "Duration of each start-up phase (config, bind, inventory, routing-table, \
             first-probes); absent until the phase ends",
            Unit::Seconds,
            self.gauges.clone(),
        );
        registry.register_with_unit(
            "startup_duration",
            "From the start of config to the end of first-probes; 0 until then",
            Unit::Seconds,
            self.total.clone(),
        );
    }

    /// Records that `phase`, begun at `started`, ends now.
    pub fn finish(&self, phase: Phase, started: Instant) {
        let now = Instant::now();
        let duration = now.saturating_duration_since(started);
        let offset = started.saturating_duration_since(self.origin);
        let i = Phase::ALL.iter().position(|p| *p == phase).unwrap_or(0);
        self.done.lock().unwrap_or_else(|e| e.into_inner())[i] = Some((offset, duration));
        self.gauges
            .get_or_create(&PhaseLabels { phase: phase.as_str() })
            .set(duration.as_secs_f64());
        if phase == Phase::FirstProbes {
            self.total.set(now.saturating_duration_since(self.origin).as_secs_f64());
        }
        tracing::debug!(
            phase = phase.as_str(),
            duration_ms = duration.as_millis() as u64,
            "start-up phase done"
        );
    }

    /// The phases as `/debug/startup` shows them.
    pub fn view(&self) -> StartupView {
        let done = *self.done.lock().unwrap_or_else(|e| e.into_inner());
        let phases = Phase::ALL
            .iter()
            .zip(done)
            .map(|(phase, d)| PhaseView {
                phase: phase.as_str(),
                started_seconds: d.map(|(offset, _)| offset.as_secs_f64()),
                duration_seconds: d.map(|(_, duration)| duration.as_secs_f64()),
            })
            .collect();
        let complete = done.iter().all(Option::is_some);
        let total_seconds =
            done[4].filter(|_| complete).map(|(offset, d)| (offset + d).as_secs_f64());
        StartupView { complete, total_seconds, phases }
    }
}

/// The answer of `/debug/startup`.
#[derive(Debug, Serialize)]
pub struct StartupView {
    /// Whether every phase has ended.
    pub complete: bool,
    /// From the start of `config` to the end of `first-probes`; null until then.
    pub total_seconds: Option<f64>,
    /// Every phase in order, those not ended yet with nulls.
    pub phases: Vec<PhaseView>,
}

/// One phase of `/debug/startup`.
#[derive(Debug, Serialize)]
pub struct PhaseView {
    /// `config`, `bind`, `inventory`, `routing-table` or `first-probes`.
    pub phase: &'static str,
    /// When it began, seconds after the start of `config`; null until it ends.
    pub started_seconds: Option<f64>,
    /// How long it took; null until it ends.
    pub duration_seconds: Option<f64>,
}

/// Waits until every current probe target has its first result (at once when there is none),
/// woken by the engine's snapshots, each of which follows a node's first result. Returns
/// false when `stop` fires or the engine stops first.
pub async fn first_probe_round(engine: &EngineHandle, stop: &CancellationToken) -> bool {
    let mut snapshots = engine.subscribe();
    loop {
        let targets = engine.stats().nodes as usize;
        {
            let snapshot = snapshots.borrow_and_update();
            if snapshot.nodes.len() == targets && snapshot.probed_nodes >= targets {
                return true;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return false,
            changed = snapshots.changed() => if changed.is_err() { return false },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{Phase, StartupPhases};

    #[test]
    fn phases_report_offsets_durations_and_a_total_once_complete() {
        let origin = Instant::now() - Duration::from_millis(500);
        let phases = StartupPhases::new(origin);
        phases.finish(Phase::Config, origin);
        let view = phases.view();
        assert!(!view.complete);
        assert_eq!(view.total_seconds, None);
        assert_eq!(view.phases[0].phase, "config");
        assert_eq!(view.phases[0].started_seconds, Some(0.0));
        assert!(view.phases[0].duration_seconds.unwrap() >= 0.5);
        assert_eq!(view.phases[4].phase, "first-probes");
        assert_eq!(view.phases[4].duration_seconds, None);

        for p in &Phase::ALL[1..] {
            phases.finish(*p, Instant::now());
        }
        let view = phases.view();
        assert!(view.complete);
        let total = view.total_seconds.unwrap();
        let last = &view.phases[4];
        let sum = last.started_seconds.unwrap() + last.duration_seconds.unwrap();
        assert!((total - sum).abs() < 1e-6, "{total} vs {sum}");
        assert!(total >= 0.5);
    }
}
