//! The scheduler task: timer heap, probe spawning, result application, publication.
//!
//! Timers are a binary heap of `(due, slot, seq)` with lazy deletion: rescheduling pushes a
//! new entry and bumps the node's `timer_seq`, stale entries are skipped when popped. One
//! pinned `Sleep` tracks the earliest entry, and every due entry is drained in one batch, so a
//! burst of due probes costs one timer wake-up, not one per probe.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{
    Command, EngineConfig, HealthSnapshot, LATENESS_BUCKETS_MS, NodeDetail, NodeId, NodeStatuses,
    ProbeStatus, RoundReport, Shared, Target,
};
use crate::compiled::{CompiledProbe, ConnState};
use crate::health::{HealthTracker, jittered};
use crate::outcome::{FailureCause, ProbeOutcome};
use crate::{AdminState, HealthState};

// jemalloc's size classes step from 320 to 384 bytes: a field more would cost a fifth more
// per node on a large fleet. Grow the record on purpose, not by accident.
const _: () = assert!(size_of::<Node>() <= 320, "a node record outgrew 320 bytes");

struct Node {
    target: Target,
    compiled: Arc<CompiledProbe>,
    health: HealthTracker,
    /// Pooled connections; `None` while a probe holds them.
    conn: Option<ConnState>,
    /// The running probe, aborted when the node is removed or readdressed.
    in_flight: Option<AbortHandle>,
    /// Probes running against this node's address, when a per-target limit is set.
    gate: Option<Arc<AtomicUsize>>,
    /// Sequence number of the live timer entry; 0 = none.
    timer_seq: u64,
    generation: u64,
    operator: AdminState,
    /// What the last probe found beyond the verdict.
    last: LastProbe,
    /// [`digest`] of the status as last published (or about to be): 8 bytes a node where a
    /// copy of the status would take a hundred.
    published: u64,
}

/// The parts of the last probe's outcome that the status shows. The readings are NaN when
/// absent: two plain floats keep a node record within 320 bytes (an allocator size class)
/// where two `Option<f64>` would take 16 bytes more and push it into the next one.
#[derive(Debug, Clone, Copy)]
struct LastProbe {
    cause: Option<FailureCause>,
    degraded_by: Option<crate::outcome::DegradedCause>,
    utilization: f64,
    load_average: f64,
}

impl Default for LastProbe {
    fn default() -> Self {
        LastProbe { cause: None, degraded_by: None, utilization: f64::NAN, load_average: f64::NAN }
    }
}

impl LastProbe {
    fn of(o: &ProbeOutcome) -> Self {
        LastProbe {
            cause: o.cause,
            degraded_by: o.degraded_by,
            // A reading is a finite number; anything else counts as none.
            utilization: o.utilization.filter(|u| u.is_finite()).unwrap_or(f64::NAN),
            load_average: o.load_average.filter(|l| l.is_finite()).unwrap_or(f64::NAN),
        }
    }
}

struct Done {
    slot: usize,
    generation: u64,
    started: Instant,
    outcome: ProbeOutcome,
    conn: ConnState,
}

struct Scheduler {
    config: EngineConfig,
    /// Boxed: a node is large (its tracker, pooled connections and last outcome), and a
    /// vector of them inline would grow by doubling hundreds of megabytes on a large fleet
    /// and keep every freed slot's full size.
    slots: Vec<Option<Box<Node>>>,
    free: Vec<usize>,
    ids: HashMap<NodeId, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    next_seq: u64,
    next_generation: u64,
    /// Per-address in-flight counters and how many nodes share each address; only kept when
    /// `per_target_max_in_flight` is set.
    gates: HashMap<SocketAddr, (usize, Arc<AtomicUsize>)>,
    done_tx: mpsc::Sender<Done>,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    /// The order snapshots list nodes in (by id), and each one's slot; rebuilt when nodes
    /// come or go, shared by every snapshot until then.
    order: Arc<[NodeId]>,
    order_slots: Vec<usize>,
    order_stale: bool,
    counts: [i64; 4],
    probed: usize,
    dirty: bool,
    publish_at: Instant,
    version: u64,
    snapshot: watch::Sender<Arc<HealthSnapshot>>,
}

pub(super) async fn run(
    config: EngineConfig,
    initial: Vec<(Target, Arc<CompiledProbe>)>,
    mut commands: mpsc::Receiver<Command>,
    snapshot: watch::Sender<Arc<HealthSnapshot>>,
    shared: Arc<Shared>,
    cancel: CancellationToken,
) {
    let (done_tx, mut done_rx) = mpsc::channel(config.max_in_flight.max(1));
    let mut s = Scheduler {
        config,
        gates: HashMap::new(),
        slots: Vec::new(),
        free: Vec::new(),
        ids: HashMap::new(),
        timers: BinaryHeap::new(),
        next_seq: 1,
        next_generation: 0,
        done_tx,
        shared,
        tracker: TaskTracker::new(),
        order: Arc::from([]),
        order_slots: Vec::new(),
        order_stale: true,
        counts: [0; 4],
        probed: 0,
        dirty: true,
        publish_at: Instant::now(),
        version: 0,
        snapshot,
    };
    for (t, c) in initial {
        s.upsert(t, c);
    }
    let far = || Instant::now() + Duration::from_secs(86_400);
    let timer = tokio::time::sleep_until(far());
    tokio::pin!(timer);
    let mut armed_at: Option<Instant> = None;
    let publish = tokio::time::sleep_until(far());
    tokio::pin!(publish);
    let mut publish_armed = false;
    loop {
        s.shared.heartbeat.fetch_add(1, Ordering::Relaxed);
        let next = s.timers.peek().map(|Reverse((due, _, _))| *due);
        if next != armed_at {
            if let Some(due) = next {
                timer.as_mut().reset(due);
            }
            armed_at = next;
        }
        if s.dirty && !publish_armed {
            publish.as_mut().reset(s.publish_at);
            publish_armed = true;
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            Some(done) = done_rx.recv() => {
                s.apply(done);
                // Drain what is already queued without another trip through select.
                for _ in 0..BATCH {
                    match done_rx.try_recv() {
                        Ok(d) => s.apply(d),
                        Err(_) => break,
                    }
                }
            }
            Some(cmd) = commands.recv() => s.command(cmd),
            _ = &mut timer, if armed_at.is_some() => {
                armed_at = None;
                s.fire_due();
            }
            _ = &mut publish, if publish_armed => {
                publish_armed = false;
                s.publish();
            }
        }
    }
    s.tracker.close();
    for node in s.slots.iter().flatten() {
        if let Some(h) = &node.in_flight {
            h.abort();
        }
    }
    drop(s.slots);
    s.tracker.wait().await;
}

/// Releases a running probe's place in the global and per-target counts, whether it finished
/// or was aborted.
struct InFlight {
    shared: Arc<Shared>,
    gate: Option<Arc<AtomicUsize>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(g) = &self.gate {
            g.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Most results or due timers handled per loop turn, so commands and results interleave.
const BATCH: usize = 512;

impl Scheduler {
    fn fire_due(&mut self) {
        let now = Instant::now();
        for _ in 0..BATCH {
            match self.timers.peek() {
                Some(Reverse((due, _, _))) if *due <= now => {}
                _ => return,
            }
            let Some(Reverse((due, slot, seq))) = self.timers.pop() else { return };
            self.fire(slot, seq, due);
        }
    }

    fn alloc(&mut self, node: Node) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(Box::new(node));
                i
            }
            None => {
                self.slots.push(Some(Box::new(node)));
                self.slots.len() - 1
            }
        }
    }

    fn mark_dirty(&mut self) {
        if !self.dirty {
            self.dirty = true;
            self.publish_at =
                Instant::now() + Duration::from_millis(self.config.publish_debounce_ms);
        }
    }

    fn status_of(node: &Node) -> ProbeStatus {
        status(&node.health, node.operator, &node.last)
    }

    fn count(&mut self, state: HealthState, delta: i64) {
        bump(&mut self.counts, &self.config.metrics, state, delta);
    }

    /// First probe of a new node: spread uniformly over one interval (or the configured
    /// shorter spread) so a fleet added at once does not probe in lock step.
    fn start_spread(&self, interval: Duration) -> Duration {
        let window = match self.config.first_probe_spread_ms {
            Some(ms) => interval.min(Duration::from_millis(ms)),
            None => interval,
        };
        window.mul_f64(rand::rng().random::<f64>())
    }

    fn upsert(&mut self, target: Target, compiled: Arc<CompiledProbe>) {
        if let Some(&slot) = self.ids.get(&target.id) {
            let Some(node) = self.slots[slot].as_mut() else { return };
            if node.target == target {
                return;
            }
            let old_interval = node.health.next_interval();
            let old_addr = node.target.addr;
            if old_addr != target.addr {
                // Another endpoint: its health starts over, its connections go.
                let before = node.health.effective();
                let was_probed = node.health.probes() > 0;
                node.health = HealthTracker::new(compiled.policy().clone());
                node.conn = Some(ConnState::default());
                if let Some(t) = node.in_flight.take() {
                    t.abort();
                }
                node.generation = self.next_generation;
                self.next_generation += 1;
                let after = node.health.effective();
                let had_gate = node.gate.take().is_some();
                if before != after {
                    bump(&mut self.counts, &self.config.metrics, before, -1);
                    bump(&mut self.counts, &self.config.metrics, after, 1);
                }
                self.config.metrics.node_state(&target.id, Some(after));
                if was_probed {
                    self.probed -= 1;
                }
                self.shared.probed.store(self.probed as u64, Ordering::Relaxed);
                if had_gate {
                    self.release_gate(old_addr);
                }
                let gate = self.acquire_gate(target.addr);
                if let Some(node) = self.slots[slot].as_mut() {
                    node.gate = gate;
                }
            } else {
                // Same endpoint, another spec: health carries on under the new policy, but
                // nothing made for the old spec may be used again (a pooled connection with
                // old TLS settings, an SNMP session with old credentials or port). A probe
                // still running under the old spec is dropped; its result would judge the
                // node by rules that no longer apply.
                node.health.set_policy(compiled.policy().clone());
                if let Some(t) = node.in_flight.take() {
                    t.abort();
                }
                node.conn = Some(ConnState::default());
                node.generation = self.next_generation;
                self.next_generation += 1;
            }
            let Some(node) = self.slots[slot].as_mut() else { return };
            let new_interval = node.health.next_interval();
            node.target = target;
            node.compiled = compiled;
            // `timer_seq == 0` means no timer is armed: the probe was running (and has just
            // been dropped above) or the node was new.
            let stale_timer = node.timer_seq == 0 || old_interval != new_interval;
            if stale_timer {
                let due = Instant::now() + self.start_spread(new_interval);
                self.set_timer(slot, due);
            }
            self.refresh_status(slot);
            return;
        }
        let health = HealthTracker::new(compiled.policy().clone());
        let first = self.start_spread(target.spec.interval());
        let generation = self.next_generation;
        self.next_generation += 1;
        let state = health.effective();
        let gate = self.acquire_gate(target.addr);
        let published = digest(&status(&health, AdminState::Enabled, &LastProbe::default()));
        let node = Node {
            target,
            compiled,
            health,
            conn: Some(ConnState::default()),
            in_flight: None,
            gate,
            timer_seq: 0,
            generation,
            operator: AdminState::Enabled,
            last: LastProbe::default(),
            published,
        };
        let id = node.target.id.clone();
        let slot = self.alloc(node);
        self.order_stale = true;
        self.config.metrics.node_state(&id, Some(state));
        self.ids.insert(id, slot);
        self.shared.nodes.store(self.ids.len() as u64, Ordering::Relaxed);
        self.count(state, 1);
        self.set_timer(slot, Instant::now() + first);
        self.refresh_status(slot);
    }

    /// The in-flight counter of `addr`, shared by every node probing that address; `None`
    /// when no per-target limit is configured.
    fn acquire_gate(&mut self, addr: SocketAddr) -> Option<Arc<AtomicUsize>> {
        self.config.per_target_max_in_flight?;
        let entry = self.gates.entry(addr).or_insert_with(|| (0, Arc::default()));
        entry.0 += 1;
        Some(entry.1.clone())
    }

    /// Forgets one node's use of `addr`; the entry goes with the last node, so removed
    /// addresses leave nothing behind.
    fn release_gate(&mut self, addr: SocketAddr) {
        if let Some(entry) = self.gates.get_mut(&addr) {
            entry.0 -= 1;
            if entry.0 == 0 {
                self.gates.remove(&addr);
            }
        }
    }

    fn set_timer(&mut self, slot: usize, due: Instant) {
        let Some(node) = self.slots[slot].as_mut() else { return };
        let seq = self.next_seq;
        self.next_seq += 1;
        node.timer_seq = seq;
        self.timers.push(Reverse((due, slot, seq)));
    }

    fn remove(&mut self, id: &NodeId) -> bool {
        let Some(slot) = self.ids.remove(id) else { return false };
        let Some(node) = self.slots[slot].take() else { return false };
        if let Some(t) = &node.in_flight {
            t.abort();
        }
        if node.gate.is_some() {
            self.release_gate(node.target.addr);
        }
        if node.health.probes() > 0 {
            self.probed -= 1;
        }
        self.count(node.health.effective(), -1);
        self.config.metrics.node_state(id, None);
        self.free.push(slot);
        self.order_stale = true;
        self.shared.nodes.store(self.ids.len() as u64, Ordering::Relaxed);
        self.shared.probed.store(self.probed as u64, Ordering::Relaxed);
        self.mark_dirty();
        true
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Upsert(t, c) => self.upsert(t, c),
            Command::Remove(id, reply) => {
                let existed = self.remove(&id);
                let _ = reply.send(existed);
            }
            Command::Retain(keep) => {
                let keep: std::collections::HashSet<NodeId> = keep.into_iter().collect();
                let gone: Vec<NodeId> =
                    self.ids.keys().filter(|id| !keep.contains(*id)).cloned().collect();
                for id in gone {
                    self.remove(&id);
                }
            }
            Command::Detail(id, reply) => {
                let detail =
                    self.ids.get(&id).and_then(|&s| self.slots[s].as_ref()).map(|n| NodeDetail {
                        target: n.target.clone(),
                        status: Self::status_of(n),
                        history: n.health.history().collect(),
                        probes: n.health.probes(),
                        transitions: n.health.transitions(),
                        state_changes: n.health.state_changes().copied().collect(),
                    });
                let _ = reply.send(detail);
            }
            Command::Operator(id, state, reply) => {
                let slot = self.ids.get(&id).copied();
                if let Some(slot) = slot
                    && let Some(n) = self.slots[slot].as_mut()
                {
                    if n.operator != state {
                        tracing::info!(node.id = %id, operator = ?state, "operator state changed");
                        n.operator = state;
                        self.refresh_status(slot);
                    }
                    let _ = reply.send(true);
                } else {
                    let _ = reply.send(false);
                }
            }
            Command::Barrier(reply) => {
                let _ = reply.send(());
            }
        }
    }

    fn fire(&mut self, slot: usize, seq: u64, deadline: Instant) {
        let now = Instant::now();
        let Some(node) = self.slots.get_mut(slot).and_then(Option::as_mut) else { return };
        if node.timer_seq != seq {
            return;
        }
        node.timer_seq = 0;
        let generation = node.generation;
        let late = now.saturating_duration_since(deadline);
        self.config.metrics.lateness(late);
        let bucket = LATENESS_BUCKETS_MS
            .iter()
            .position(|&b| late <= Duration::from_millis(b))
            .unwrap_or(LATENESS_BUCKETS_MS.len());
        self.shared.lateness[bucket].fetch_add(1, Ordering::Relaxed);

        // Skip this round when the previous probe still runs, the fleet-wide limit is reached
        // or the target's own limit is: never queue, so a slow target cannot pile probes up.
        let busy = node.conn.is_none()
            || self.shared.in_flight.load(Ordering::Relaxed) >= self.config.max_in_flight as u64;
        let target_full = !busy
            && match (&node.gate, self.config.per_target_max_in_flight) {
                (Some(g), Some(limit)) => g.load(Ordering::Relaxed) >= limit,
                _ => false,
            };
        if busy || target_full {
            if target_full {
                self.shared.target_limited.fetch_add(1, Ordering::Relaxed);
                self.config.metrics.target_limited();
            } else {
                self.shared.overruns.fetch_add(1, Ordering::Relaxed);
                self.config.metrics.overrun();
            }
            let next = deadline
                + jittered(node.health.next_interval(), jitter(node), rand::rng().random());
            self.set_timer(slot, next.max(now));
            return;
        }
        let mut conn = node.conn.take().unwrap_or_default();
        let gate = node.gate.clone();
        if let Some(g) = &gate {
            g.fetch_add(1, Ordering::Relaxed);
        }
        let compiled = node.compiled.clone();
        let addr = node.target.addr;
        let done = self.done_tx.clone();
        let shared = self.shared.clone();
        shared.started.fetch_add(1, Ordering::Relaxed);
        let running = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.config.metrics.set_in_flight(running);
        let guard = InFlight { shared, gate };
        let task = self.tracker.spawn(async move {
            let started = Instant::now();
            // A probe that panics (a defect, never a target's doing) still reports: otherwise
            // the node would never be scheduled again and its last state would stand forever.
            let run = std::panic::AssertUnwindSafe(compiled.run(addr, &mut conn)).catch_unwind();
            let outcome = match run.await {
                Ok(outcome) => outcome,
                Err(_) => {
                    tracing::error!(%addr, "probe task panicked; counted as a protocol failure");
                    conn = ConnState::default();
                    let mut o = ProbeOutcome::new();
                    o.fail(FailureCause::Protocol);
                    o
                }
            };
            // Counted out before the result is applied, so the scheduler never sees a finished
            // probe still holding a slot.
            drop(guard);
            let _ = done.send(Done { slot, generation, started, outcome, conn }).await;
        });
        node.in_flight = Some(task.abort_handle());
    }

    fn apply(&mut self, done: Done) {
        self.shared.finished.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let Some(node) = self.slots.get_mut(done.slot).and_then(Option::as_mut) else { return };
        if node.generation != done.generation {
            return;
        }
        node.conn = Some(done.conn);
        node.in_flight = None;
        self.config.metrics.set_in_flight(self.shared.in_flight.load(Ordering::Relaxed));
        self.config.metrics.probe(node.compiled.spec().check.kind_str(), &done.outcome);
        let first = node.health.probes() == 0;
        let before = node.health.effective();
        let transition = node.health.observe(now.into_std(), &done.outcome);
        let id = node.target.id.clone();
        if let Some(t) = transition {
            log_transition(&id, t.from, t.to, &done.outcome);
        }
        self.config.rounds.report(|| RoundReport {
            node: &id,
            addr: node.target.addr,
            kind: node.compiled.spec().check.kind_str(),
            started: done.started.into_std(),
            finished: now.into_std(),
            outcome: &done.outcome,
            before,
            after: node.health.effective(),
        });
        node.last = LastProbe::of(&done.outcome);
        let interval = jittered(node.health.next_interval(), jitter(node), rand::rng().random());
        let due = (done.started + interval).max(now);
        let after = node.health.effective();
        if first {
            self.probed += 1;
            self.shared.probed.store(self.probed as u64, Ordering::Relaxed);
        }
        if before != after {
            self.count(before, -1);
            self.count(after, 1);
            self.config.metrics.transition(before, after);
            self.config.metrics.node_state(&id, Some(after));
        }
        self.set_timer(done.slot, due);
        self.refresh_status(done.slot);
    }

    /// Updates the published status of a node; marks the snapshot dirty when something other
    /// than the latency estimate changed.
    fn refresh_status(&mut self, slot: usize) {
        let Some(node) = self.slots[slot].as_mut() else { return };
        let now = digest(&Self::status_of(node));
        let differs = now != node.published;
        node.published = now;
        // A node that has just come is published whatever its status.
        if differs || self.order_stale {
            self.mark_dirty();
        }
    }

    fn publish(&mut self) {
        self.dirty = false;
        self.version += 1;
        if self.order_stale {
            let mut order: Vec<(NodeId, usize)> = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, n)| Some((n.as_ref()?.target.id.clone(), i)))
                .collect();
            order.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            self.order_slots = order.iter().map(|(_, slot)| *slot).collect();
            self.order = order.into_iter().map(|(id, _)| id).collect();
            self.order_stale = false;
        }
        // Every slot of the order holds a node: any removal made the order stale above.
        let statuses = self
            .order_slots
            .iter()
            .filter_map(|&slot| Some(Self::status_of(self.slots[slot].as_ref()?)));
        let snap = HealthSnapshot {
            version: self.version,
            nodes: NodeStatuses::new(self.order.clone(), statuses.collect()),
            probed_nodes: self.probed,
        };
        self.snapshot.send_replace(Arc::new(snap));
    }
}

/// What a node's status says, from its parts (a node being built has no `Node` yet).
fn status(h: &HealthTracker, operator: AdminState, last: &LastProbe) -> ProbeStatus {
    ProbeStatus {
        state: h.effective(),
        observed: h.observed(),
        operator,
        weight_percent: h.weight_percent(),
        agent: h.agent(),
        latency_ewma_ms: h.latency_ewma_ms(),
        last_cause: last.cause,
        degraded_by: last.degraded_by,
        utilization: (!last.utilization.is_nan()).then_some(last.utilization),
        load_average: (!last.load_average.is_nan()).then_some(last.load_average),
        probed: h.probes() > 0,
    }
}

/// A digest of everything in a status but the latency average, which moves with every
/// probe and is not by itself a reason to publish.
fn digest(s: &ProbeStatus) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    let ProbeStatus {
        state,
        observed,
        operator,
        weight_percent,
        agent,
        latency_ewma_ms: _,
        last_cause,
        degraded_by,
        utilization,
        load_average,
        probed,
    } = s;
    (state, observed, operator, weight_percent, agent).hash(&mut h);
    (last_cause, degraded_by, probed).hash(&mut h);
    (utilization.map(f64::to_bits), load_average.map(f64::to_bits)).hash(&mut h);
    h.finish()
}

fn bump(
    counts: &mut [i64; 4],
    metrics: &crate::metrics::ProbeMetrics,
    state: HealthState,
    delta: i64,
) {
    let i = HealthState::ALL.iter().position(|s| *s == state).unwrap_or(0);
    counts[i] += delta;
    metrics.set_node_counts(counts);
}

fn jitter(node: &Node) -> u8 {
    node.target.spec.jitter_percent
}

fn log_transition(id: &NodeId, from: HealthState, to: HealthState, o: &ProbeOutcome) {
    let cause = o.cause.map(|c| c.as_str()).or(o.degraded_by.map(|d| d.as_str())).unwrap_or("none");
    match to {
        HealthState::Up => {
            tracing::info!(node.id = %id, from = from.as_str(), to = to.as_str(), "node health changed")
        }
        _ => tracing::warn!(
            node.id = %id,
            from = from.as_str(),
            to = to.as_str(),
            cause,
            status = o.status,
            "node health changed"
        ),
    }
}
