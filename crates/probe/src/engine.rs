//! The probe engine: one scheduler task owns every node's state and a timer heap of due
//! probes, and spawns a short task per probe, bounded by a global and an optional per-address
//! in-flight limit. Results flow back over a bounded channel; the state machine runs in the
//! scheduler task, so there are no locks on the hot path. Health is published as a versioned
//! `Arc<HealthSnapshot>` through `tokio::sync::watch`, debounced.
//!
//! Unlike Envoy, which runs all checks of a cluster on one worker thread and falls behind at
//! ~20k endpoints, the probe I/O runs on every runtime worker; the scheduler only does timer
//! and bookkeeping work per probe.

mod rounds;
mod scheduler;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use switchyard_route::AdminState;

use crate::HealthState;
use crate::compiled::CompiledProbe;
use crate::error::ProbeError;
use crate::health::{AgentStatus, ProbeRecord, StateChange};
use crate::metrics::ProbeMetrics;
use crate::outcome::FailureCause;
use crate::spec::ProbeSpec;

pub use rounds::{RoundObserver, RoundReport, Rounds};

/// Node identifier, cheap to clone.
pub type NodeId = Arc<str>;

/// One node to probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Stable id (inventory key).
    pub id: NodeId,
    /// Address probed.
    pub addr: SocketAddr,
    /// How it is probed; nodes sharing one `Arc` share compiled regexes and TLS config.
    pub spec: Arc<ProbeSpec>,
}

impl Target {
    /// A target.
    pub fn new(id: impl Into<NodeId>, addr: SocketAddr, spec: Arc<ProbeSpec>) -> Self {
        Target { id: id.into(), addr, spec }
    }
}

/// Engine-wide settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Probes running at once across the fleet; a due probe that finds no slot is skipped and
    /// counted as an overrun, never queued. Default 4096.
    #[serde(default = "d_max_in_flight")]
    pub max_in_flight: usize,
    /// Minimum delay between two snapshot publications, ms. Default 100.
    #[serde(default = "d_debounce")]
    pub publish_debounce_ms: u64,
    /// Capacity of the command queue (upsert/remove/...). Default 1024.
    #[serde(default = "d_commands")]
    pub command_capacity: usize,
    /// The first probe of a new node is spread uniformly over this long (capped at the node's
    /// interval), so a fleet added at once does not probe in lock step, ms. Default: the
    /// node's interval. A shorter spread makes a fresh start warm sooner, at the price of a
    /// burst that `max_in_flight` bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_probe_spread_ms: Option<u64>,
    /// Probes running at once against one address (`ip:port`), however many nodes share it
    /// (virtual hosts behind one load balancer, several services of one box). A due probe over
    /// the limit skips its round and is counted in `switchyard_probe_target_limited_total`,
    /// never queued. Default: no per-target limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_target_max_in_flight: Option<usize>,
    /// Metric handles (register them with [`ProbeMetrics::register`]).
    #[serde(skip)]
    pub metrics: ProbeMetrics,
    /// Where every finished probe round is reported (tracing); none by default.
    #[serde(skip)]
    pub rounds: Rounds,
}

fn d_max_in_flight() -> usize {
    4096
}
fn d_debounce() -> u64 {
    100
}
fn d_commands() -> usize {
    1024
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_in_flight: d_max_in_flight(),
            publish_debounce_ms: d_debounce(),
            command_capacity: d_commands(),
            first_probe_spread_ms: None,
            per_target_max_in_flight: None,
            metrics: ProbeMetrics::default(),
            rounds: Rounds::default(),
        }
    }
}

impl EngineConfig {
    /// Every problem, paths prefixed with `at`.
    pub fn problems(&self, at: &str) -> Vec<switchyard_config::Problem> {
        let mut p = switchyard_config::Problems::new(at);
        if self.max_in_flight == 0 || self.max_in_flight > 1 << 20 {
            p.push("max_in_flight", "must be between 1 and 1048576");
        }
        if self.publish_debounce_ms > 60_000 {
            p.push("publish_debounce_ms", "must be at most 60000");
        }
        if self.command_capacity == 0 {
            p.push("command_capacity", "must be at least 1");
        }
        if self.first_probe_spread_ms.is_some_and(|s| s > 3_600_000) {
            p.push("first_probe_spread_ms", "must be at most 3600000");
        }
        if self.per_target_max_in_flight.is_some_and(|n| n == 0 || n > 1 << 20) {
            p.push("per_target_max_in_flight", "must be between 1 and 1048576");
        }
        p.into_vec()
    }
}

/// What the rest of the system needs to know about one node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeStatus {
    /// Health after the agent's word.
    pub state: HealthState,
    /// Health from the main check alone.
    pub observed: HealthState,
    /// Operator-set state.
    pub operator: AdminState,
    /// Weight factor, percent (agent `N%`; 0 when draining).
    pub weight_percent: u16,
    /// What the agent last said.
    pub agent: AgentStatus,
    /// Latency EWMA, ms, as of the snapshot.
    pub latency_ewma_ms: Option<f64>,
    /// Cause of the last failure, if the last probe failed.
    pub last_cause: Option<FailureCause>,
    /// Why the last probe judged the node degraded, if it did.
    pub degraded_by: Option<crate::outcome::DegradedCause>,
    /// Interface utilization from the last SNMP probe (0..1).
    pub utilization: Option<f64>,
    /// 1-minute load average from the last SNMP probe.
    pub load_average: Option<f64>,
    /// At least one probe finished.
    pub probed: bool,
}

/// A versioned view of the whole fleet's health.
#[derive(Debug, Clone, Default)]
pub struct HealthSnapshot {
    /// Increases with every publication.
    pub version: u64,
    /// Per-node status.
    pub nodes: NodeStatuses,
    /// Nodes that finished at least one probe.
    pub probed_nodes: usize,
}

/// The status of every node, by id, in id order.
///
/// The engine publishes a snapshot every time some status changes (at most every
/// `publish_debounce_ms`), and readers hold on to older ones for a while, so a snapshot is
/// made to be small and quick to make: a dense vector of statuses beside the list of ids,
/// which is shared by every snapshot until nodes come or go. A hash map per snapshot would
/// hold each id again and twice the room it fills.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatuses {
    ids: Arc<[NodeId]>,
    statuses: Vec<ProbeStatus>,
}

impl Default for NodeStatuses {
    fn default() -> Self {
        NodeStatuses { ids: Arc::from([]), statuses: Vec::new() }
    }
}

impl NodeStatuses {
    /// `statuses[i]` is the status of `ids[i]`; `ids` is sorted.
    pub(crate) fn new(ids: Arc<[NodeId]>, statuses: Vec<ProbeStatus>) -> Self {
        debug_assert_eq!(ids.len(), statuses.len());
        debug_assert!(ids.is_sorted());
        NodeStatuses { ids, statuses }
    }

    /// The status of node `id`.
    pub fn get(&self, id: &str) -> Option<&ProbeStatus> {
        let i = self.ids.binary_search_by(|n| (**n).cmp(id)).ok()?;
        self.statuses.get(i)
    }

    /// Whether node `id` is known.
    pub fn contains_key(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.statuses.len()
    }

    /// No nodes.
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty()
    }

    /// Every node with its status, in id order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&NodeId, &ProbeStatus)> {
        self.ids.iter().zip(self.statuses.iter())
    }

    /// Every node id, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &NodeId> {
        self.ids.iter()
    }

    /// Every status, in id order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &ProbeStatus> {
        self.statuses.iter()
    }
}

impl<'a> IntoIterator for &'a NodeStatuses {
    type Item = (&'a NodeId, &'a ProbeStatus);
    type IntoIter = std::iter::Zip<std::slice::Iter<'a, NodeId>, std::slice::Iter<'a, ProbeStatus>>;

    fn into_iter(self) -> Self::IntoIter {
        self.ids.iter().zip(self.statuses.iter())
    }
}

impl std::ops::Index<&str> for NodeStatuses {
    type Output = ProbeStatus;

    /// The status of node `id`; panics when there is none, like a map's index.
    fn index(&self, id: &str) -> &ProbeStatus {
        self.get(id).unwrap_or_else(|| panic!("no node {id:?} in the snapshot"))
    }
}

impl HealthSnapshot {
    /// Fraction of nodes probed at least once (1.0 for an empty fleet).
    pub fn warm_fraction(&self) -> f64 {
        if self.nodes.is_empty() { 1.0 } else { self.probed_nodes as f64 / self.nodes.len() as f64 }
    }
}

/// Everything known about one node, for `/debug`.
#[derive(Debug, Clone)]
pub struct NodeDetail {
    /// The target.
    pub target: Target,
    /// Current status.
    pub status: ProbeStatus,
    /// Recent results, oldest first.
    pub history: Vec<ProbeRecord>,
    /// Probes finished.
    pub probes: u64,
    /// Effective state changes.
    pub transitions: u64,
    /// The last few of those changes, oldest first.
    pub state_changes: Vec<StateChange>,
}

/// Counters of the engine itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Nodes known.
    pub nodes: u64,
    /// Nodes probed at least once.
    pub probed_nodes: u64,
    /// Probes started.
    pub probes_started: u64,
    /// Probes finished.
    pub probes_finished: u64,
    /// Rounds skipped because the node's previous probe still ran or the global in-flight
    /// limit was reached.
    pub overruns: u64,
    /// Rounds skipped because the target address was at its per-target in-flight limit.
    pub target_limited: u64,
    /// Probes running now.
    pub in_flight: u64,
    /// Scheduler loop turns (a liveness signal: it keeps rising while the engine runs).
    pub heartbeat: u64,
    /// Start lateness histogram: counts per bucket of [`LATENESS_BUCKETS_MS`] (last = more).
    pub lateness: [u64; LATENESS_BUCKETS_MS.len() + 1],
}

/// Upper bounds of the lateness buckets in [`EngineStats::lateness`], ms.
pub const LATENESS_BUCKETS_MS: [u64; 11] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000];

impl EngineStats {
    /// Upper bound (ms) of the bucket holding quantile `q` of start lateness; `None` if empty or
    /// beyond the last bound.
    pub fn lateness_quantile_ms(&self, q: f64) -> Option<u64> {
        let total: u64 = self.lateness.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.lateness.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return LATENESS_BUCKETS_MS.get(i).copied();
            }
        }
        None
    }
}

#[derive(Default)]
pub(crate) struct Shared {
    pub nodes: AtomicU64,
    pub probed: AtomicU64,
    pub started: AtomicU64,
    pub finished: AtomicU64,
    pub overruns: AtomicU64,
    pub target_limited: AtomicU64,
    pub in_flight: AtomicU64,
    pub heartbeat: AtomicU64,
    pub lateness: [AtomicU64; LATENESS_BUCKETS_MS.len() + 1],
}

pub(crate) enum Command {
    Upsert(Target, Arc<CompiledProbe>),
    Remove(NodeId, oneshot::Sender<bool>),
    Retain(Vec<NodeId>),
    Detail(NodeId, oneshot::Sender<Option<NodeDetail>>),
    Operator(NodeId, AdminState, oneshot::Sender<bool>),
    Barrier(oneshot::Sender<()>),
}

/// Starts engines.
#[derive(Debug)]
pub struct ProbeEngine;

impl ProbeEngine {
    /// Validates the targets and starts the scheduler on the current runtime. Stops when
    /// `cancel` (or any parent of it) is cancelled, or on [`EngineHandle::shutdown`].
    pub fn start(
        config: EngineConfig,
        targets: Vec<Target>,
        cancel: CancellationToken,
    ) -> Result<EngineHandle, ProbeError> {
        let problems = config.problems("");
        if !problems.is_empty() {
            return Err(ProbeError::Invalid(problems));
        }
        // A child: `shutdown` stops this engine without cancelling the caller's tree.
        let cancel = cancel.child_token();
        let cache = SpecCache::default();
        let mut compiled = Vec::with_capacity(targets.len());
        for t in targets {
            let c = cache.compile(&t.spec)?;
            compiled.push((t, c));
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(config.command_capacity);
        let (snap_tx, snap_rx) = watch::channel(Arc::new(HealthSnapshot::default()));
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(scheduler::run(
            config,
            compiled,
            cmd_rx,
            snap_tx,
            shared.clone(),
            cancel.clone(),
        ));
        Ok(EngineHandle {
            cmd: cmd_tx,
            snapshot: snap_rx,
            shared,
            cache: Arc::new(cache),
            task: Arc::new(Mutex::new(Some(task))),
            cancel,
        })
    }
}

/// Compiled specs shared by every target holding the same `Arc<ProbeSpec>`.
#[derive(Default)]
struct SpecCache {
    map: Mutex<HashMap<usize, Weak<CompiledProbe>>>,
}

impl SpecCache {
    fn compile(&self, spec: &Arc<ProbeSpec>) -> Result<Arc<CompiledProbe>, ProbeError> {
        let key = Arc::as_ptr(spec) as usize;
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&key).and_then(Weak::upgrade)
            && Arc::ptr_eq(c.spec(), spec)
        {
            return Ok(c);
        }
        let c = Arc::new(CompiledProbe::new(spec.clone())?);
        if map.len() > 1024 {
            map.retain(|_, w| w.strong_count() > 0);
        }
        map.insert(key, Arc::downgrade(&c));
        Ok(c)
    }
}

/// Control and observation handle of a running engine; cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    cmd: mpsc::Sender<Command>,
    snapshot: watch::Receiver<Arc<HealthSnapshot>>,
    shared: Arc<Shared>,
    cache: Arc<SpecCache>,
    task: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle").field("stats", &self.stats()).finish()
    }
}

impl EngineHandle {
    async fn send(&self, c: Command) -> Result<(), ProbeError> {
        self.cmd.send(c).await.map_err(|_| ProbeError::Stopped)
    }

    /// Adds a node or changes one. An unchanged target keeps its schedule and connection; a
    /// new spec keeps the node's health state; a new address starts it over.
    pub async fn upsert(&self, target: Target) -> Result<(), ProbeError> {
        let compiled = self.cache.compile(&target.spec)?;
        self.send(Command::Upsert(target, compiled)).await
    }

    /// Removes a node: its in-flight probe is cancelled and its connection closed. Returns
    /// whether it existed.
    pub async fn remove(&self, id: &NodeId) -> Result<bool, ProbeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Remove(id.clone(), tx)).await?;
        rx.await.map_err(|_| ProbeError::Stopped)
    }

    /// Makes the fleet exactly `targets`, by difference: unchanged nodes are not disturbed.
    pub async fn replace_all(&self, targets: Vec<Target>) -> Result<(), ProbeError> {
        let mut compiled = Vec::with_capacity(targets.len());
        for t in targets {
            let c = self.cache.compile(&t.spec)?;
            compiled.push((t, c));
        }
        let keep = compiled.iter().map(|(t, _)| t.id.clone()).collect();
        self.send(Command::Retain(keep)).await?;
        for (t, c) in compiled {
            self.send(Command::Upsert(t, c)).await?;
        }
        Ok(())
    }

    /// Sets the operator state of a node; returns whether it exists.
    pub async fn set_operator_state(
        &self,
        id: &NodeId,
        state: AdminState,
    ) -> Result<bool, ProbeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Operator(id.clone(), state, tx)).await?;
        rx.await.map_err(|_| ProbeError::Stopped)
    }

    /// Status and history of one node.
    pub async fn node_detail(&self, id: &NodeId) -> Result<Option<NodeDetail>, ProbeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Detail(id.clone(), tx)).await?;
        rx.await.map_err(|_| ProbeError::Stopped)
    }

    /// Waits until every command sent before has been applied.
    pub async fn sync(&self) -> Result<(), ProbeError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Barrier(tx)).await?;
        rx.await.map_err(|_| ProbeError::Stopped)
    }

    /// Receiver of health snapshots.
    pub fn subscribe(&self) -> watch::Receiver<Arc<HealthSnapshot>> {
        self.snapshot.clone()
    }

    /// The latest published snapshot.
    pub fn snapshot(&self) -> Arc<HealthSnapshot> {
        self.snapshot.borrow().clone()
    }

    /// Fraction of current nodes that finished at least one probe (live, not debounced).
    pub fn warm_fraction(&self) -> f64 {
        let n = self.shared.nodes.load(Ordering::Relaxed);
        let p = self.shared.probed.load(Ordering::Relaxed);
        if n == 0 { 1.0 } else { p as f64 / n as f64 }
    }

    /// Engine counters.
    pub fn stats(&self) -> EngineStats {
        let s = &self.shared;
        let mut lateness = [0; LATENESS_BUCKETS_MS.len() + 1];
        for (o, a) in lateness.iter_mut().zip(&s.lateness) {
            *o = a.load(Ordering::Relaxed);
        }
        EngineStats {
            nodes: s.nodes.load(Ordering::Relaxed),
            probed_nodes: s.probed.load(Ordering::Relaxed),
            probes_started: s.started.load(Ordering::Relaxed),
            probes_finished: s.finished.load(Ordering::Relaxed),
            overruns: s.overruns.load(Ordering::Relaxed),
            target_limited: s.target_limited.load(Ordering::Relaxed),
            in_flight: s.in_flight.load(Ordering::Relaxed),
            heartbeat: s.heartbeat.load(Ordering::Relaxed),
            lateness,
        }
    }

    /// Cancels the engine and waits for the scheduler and every probe task it started to end.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}
