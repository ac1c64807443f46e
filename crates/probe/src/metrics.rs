//! Prometheus metrics of the prober. Label values come from small enums; node ids appear only
//! in the opt-in per-node gauge, because 100k series per metric would swamp a scrape.

use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::HealthState;
use crate::outcome::{FailureCause, ProbeOutcome, SnmpDrops, Verdict};

/// `switchyard_probes_total{kind,result}`: probes finished.
pub const PROBES_TOTAL: &str = "switchyard_probes";
/// `switchyard_probe_duration_seconds{kind,phase}`: latency by phase.
pub const PROBE_DURATION_SECONDS: &str = "switchyard_probe_duration_seconds";
/// `switchyard_nodes{state}`: nodes by effective state.
pub const NODES: &str = "switchyard_nodes";
/// `switchyard_node_transitions_total{from,to}`: effective state changes.
pub const NODE_TRANSITIONS_TOTAL: &str = "switchyard_node_transitions";
/// `switchyard_probe_overruns_total`: probe rounds skipped because the previous one of the
/// node was still running or the global in-flight limit was reached.
pub const PROBE_OVERRUNS_TOTAL: &str = "switchyard_probe_overruns";
/// `switchyard_probe_target_limited_total`: probe rounds skipped because their target address
/// was at `per_target_max_in_flight`.
pub const PROBE_TARGET_LIMITED_TOTAL: &str = "switchyard_probe_target_limited";
/// `switchyard_probes_in_flight`: probes running now.
pub const PROBES_IN_FLIGHT: &str = "switchyard_probes_in_flight";
/// `switchyard_probe_schedule_lateness_seconds`: how late probes start against their plan.
pub const PROBE_LATENESS_SECONDS: &str = "switchyard_probe_schedule_lateness_seconds";
/// `switchyard_snmp_replies_dropped_total{reason}`: SNMP replies the probes' clients dropped:
/// `wrong_digest` (a v3 reply whose HMAC did not verify: forged, damaged, or keyed with
/// another pass phrase), `decryption`, `security` (other USM refusals), `parse`.
pub const SNMP_REPLIES_DROPPED_TOTAL: &str = "switchyard_snmp_replies_dropped";
/// `switchyard_node_up{node}` (opt-in): 1 when the node's effective state is up or degraded.
pub const NODE_UP: &str = "switchyard_node_up";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResult {
    kind: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindPhase {
    kind: &'static str,
    phase: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FromTo {
    from: &'static str,
    to: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

type HistFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Probe kinds in label order; [`crate::spec::Check::kind_str`] returns one of these.
const KINDS: [&str; 9] = ["tcp", "tls", "http", "https", "dns", "grpc", "grpcs", "agent", "snmp"];
const PHASES: [&str; 4] = ["connect", "tls", "first_byte", "total"];
/// Result labels: pass, degraded, fail without a cause, then one per [`FailureCause`].
const RESULTS: usize = 3 + FailureCause::COUNT;

/// Handles of one kind's series, each looked up in its family once and then kept, so a
/// finished probe costs atomic updates and no label hashing or family lock.
#[derive(Debug, Default)]
struct KindHandles {
    results: [OnceLock<Counter>; RESULTS],
    phases: [OnceLock<Histogram>; PHASES.len()],
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0])
}

/// Metric handles, created once and cloned into the engine (clones share the series).
#[derive(Clone, Debug)]
pub struct ProbeMetrics {
    probes: Family<KindResult, Counter>,
    duration: HistFamily<KindPhase>,
    nodes: Family<StateLabel, Gauge>,
    transitions: Family<FromTo, Counter>,
    overruns: Counter,
    target_limited: Counter,
    in_flight: Gauge,
    lateness: Histogram,
    snmp_dropped: Family<ReasonLabel, Counter>,
    per_node: Option<Family<NodeLabel, Gauge>>,
    hot: Arc<[KindHandles; KINDS.len()]>,
}

impl Default for ProbeMetrics {
    fn default() -> Self {
        ProbeMetrics::new(false)
    }
}

impl ProbeMetrics {
    /// New handles; `per_node` adds `switchyard_node_up{node}` (one series per node).
    pub fn new(per_node: bool) -> Self {
        let snmp_dropped = Family::<ReasonLabel, Counter>::default();
        // Every reason is shown from the start, at zero.
        for (reason, _) in SnmpDrops::default().by_reason() {
            let _ = snmp_dropped.get_or_create(&ReasonLabel { reason });
        }
        ProbeMetrics {
            probes: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            nodes: Family::default(),
            transitions: Family::default(),
            overruns: Counter::default(),
            target_limited: Counter::default(),
            in_flight: Gauge::default(),
            lateness: latency_histogram(),
            snmp_dropped,
            per_node: per_node.then(Family::default),
            hot: Arc::default(),
        }
    }

    /// Registers every family in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(PROBES_TOTAL, "Probes finished, by kind and result", self.probes.clone());
        registry.register(PROBE_DURATION_SECONDS, "Probe latency by phase", self.duration.clone());
        registry.register(NODES, "Nodes by effective health state", self.nodes.clone());
        registry.register(
            NODE_TRANSITIONS_TOTAL,
            "Effective node state changes",
            self.transitions.clone(),
        );
        registry.register(
            PROBE_OVERRUNS_TOTAL,
            "Probe rounds skipped (previous still running or in-flight limit reached)",
            self.overruns.clone(),
        );
        registry.register(
            PROBE_TARGET_LIMITED_TOTAL,
            "Probe rounds skipped because the target address was at its in-flight limit",
            self.target_limited.clone(),
        );
        registry.register(PROBES_IN_FLIGHT, "Probes running now", self.in_flight.clone());
        registry.register(
            PROBE_LATENESS_SECONDS,
            "Delay between a probe's planned and actual start",
            self.lateness.clone(),
        );
        registry.register(
            SNMP_REPLIES_DROPPED_TOTAL,
            "SNMP replies dropped by the probes' clients (wrong_digest: v3 HMAC did not verify)",
            self.snmp_dropped.clone(),
        );
        if let Some(f) = &self.per_node {
            registry.register(NODE_UP, "1 when the node is up or degraded", f.clone());
        }
    }

    pub(crate) fn probe(&self, kind: &'static str, o: &ProbeOutcome) {
        if !o.snmp_dropped.is_empty() {
            for (reason, n) in o.snmp_dropped.by_reason() {
                if n > 0 {
                    self.snmp_dropped.get_or_create(&ReasonLabel { reason }).inc_by(n);
                }
            }
        }
        let Some(k) = KINDS.iter().position(|n| *n == kind) else { return };
        let hot = &self.hot[k];
        let (index, result) = match (o.verdict, o.cause) {
            (_, Some(c)) => (3 + c.index(), c.as_str()),
            (Verdict::Pass, None) => (0, "pass"),
            (Verdict::Degraded, None) => (1, "degraded"),
            (Verdict::Fail, None) => (2, "fail"),
        };
        hot.results[index]
            .get_or_init(|| self.probes.get_or_create(&KindResult { kind, result }).clone())
            .inc();
        let observe = |i: usize, d: Option<std::time::Duration>| {
            if let Some(d) = d {
                hot.phases[i]
                    .get_or_init(|| {
                        self.duration.get_or_create(&KindPhase { kind, phase: PHASES[i] }).clone()
                    })
                    .observe(d.as_secs_f64());
            }
        };
        observe(0, o.phases.connect.filter(|_| !o.reused_connection));
        observe(1, o.phases.tls);
        observe(2, o.phases.first_byte);
        observe(3, Some(o.phases.total));
    }

    pub(crate) fn set_node_counts(&self, counts: &[i64; 4]) {
        for (s, n) in HealthState::ALL.iter().zip(counts) {
            self.nodes.get_or_create(&StateLabel { state: s.as_str() }).set(*n);
        }
    }

    pub(crate) fn transition(&self, from: HealthState, to: HealthState) {
        self.transitions.get_or_create(&FromTo { from: from.as_str(), to: to.as_str() }).inc();
    }

    pub(crate) fn overrun(&self) {
        self.overruns.inc();
    }

    pub(crate) fn target_limited(&self) {
        self.target_limited.inc();
    }

    pub(crate) fn set_in_flight(&self, n: u64) {
        self.in_flight.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn lateness(&self, late: std::time::Duration) {
        self.lateness.observe(late.as_secs_f64());
    }

    pub(crate) fn node_state(&self, node: &str, state: Option<HealthState>) {
        let Some(f) = &self.per_node else { return };
        let label = NodeLabel { node: node.to_owned() };
        match state {
            Some(s) => {
                f.get_or_create(&label)
                    .set(i64::from(matches!(s, HealthState::Up | HealthState::Degraded)));
            }
            None => {
                f.remove(&label);
            }
        }
    }
}

/// Creates metric handles and registers them; pass the result in `EngineConfig::metrics`.
pub fn register_metrics(registry: &mut Registry) -> ProbeMetrics {
    let m = ProbeMetrics::new(false);
    m.register(registry);
    m
}
