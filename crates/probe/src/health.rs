//! The per-node health state machine. Pure: the caller passes the clock and each probe outcome,
//! so thresholds and intervals are tested without sockets or real time.
//!
//! Hysteresis follows HAProxy's `rise`/`fall`: an up node goes down after `fall` consecutive
//! failures, a down node comes up after `rise` consecutive successes. A node in `unknown` takes
//! the first result as is, like Envoy does for freshly added hosts, so a new fleet is usable
//! after one round. Statuses listed in `immediate_down_status` skip `fall`.
//!
//! Agent precedence (HAProxy `agent-check`): an agent reply of `down` or `maint` makes the node
//! down whatever the main check says; `up` only clears what the agent itself set and never
//! brings up a node whose main check fails; `drain` keeps the observed state but sets weight 0;
//! `N%` scales the weight. An unreachable or unparsable agent changes nothing.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_route::HealthState;

use crate::outcome::{AgentReply, AgentState, FailureCause, ProbeOutcome, Tier, Verdict};
use crate::spec::{InitialState, ProbeSpec};

/// A state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Effective state before.
    pub from: HealthState,
    /// Effective state after.
    pub to: HealthState,
}

/// A state change and when it happened, as kept in the per-node change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    /// When the probe that caused it finished.
    pub at: Instant,
    /// Effective state before.
    pub from: HealthState,
    /// Effective state after.
    pub to: HealthState,
}

/// State changes kept per node. Most nodes never change state, and the log allocates only
/// at the first change, so a large stable fleet pays nothing for it.
pub const STATE_CHANGES_KEPT: usize = 16;

/// What the agent last said; fields keep their value until the agent says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgentStatus {
    /// Last state word (`None` = the agent never sent one, same as up).
    pub state: Option<AgentState>,
    /// Weight percent, 100 unless the agent set one.
    pub weight_percent: u16,
    /// Connection limit the agent asked for.
    pub maxconn: Option<u32>,
}

impl Default for AgentStatus {
    fn default() -> Self {
        AgentStatus { state: None, weight_percent: 100, maxconn: None }
    }
}

/// One entry of the per-node history, as [`HealthTracker::history`] gives it out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeRecord {
    /// When the probe finished.
    pub at: Instant,
    /// Verdict.
    pub verdict: Verdict,
    /// Tier reached.
    pub tier: Tier,
    /// Failure cause.
    pub cause: Option<FailureCause>,
    /// HTTP status / RCODE / gRPC status.
    pub status: Option<u16>,
    /// Whole probe latency.
    pub latency: Duration,
    /// Interface utilization read by the probe (SNMP), 0..1.
    pub utilization: Option<f32>,
}

/// A [`ProbeRecord`] as the ring keeps it: 24 bytes instead of 48. Every probed node keeps
/// `history_len` of them, so on a fleet of 100,000 nodes with the default ten this is the
/// difference between 24 and 48 MB.
#[derive(Debug, Clone, Copy)]
struct PackedRecord {
    /// Microseconds since the tracker's `history_base`.
    at_us: u64,
    /// Whole probe latency, microseconds (saturating: over an hour reads as 71 minutes).
    latency_us: u32,
    /// Utilization, NaN for none.
    utilization: f32,
    /// Status, [`NO_STATUS`] for none.
    status: u16,
    verdict: Verdict,
    tier: Tier,
    cause: Option<FailureCause>,
}

/// No HTTP status, DNS RCODE or gRPC status reaches it.
const NO_STATUS: u16 = u16::MAX;

impl PackedRecord {
    fn pack(base: Instant, r: &ProbeRecord) -> Self {
        let at_us = r.at.saturating_duration_since(base).as_micros();
        PackedRecord {
            at_us: u64::try_from(at_us).unwrap_or(u64::MAX),
            latency_us: u32::try_from(r.latency.as_micros()).unwrap_or(u32::MAX),
            utilization: r.utilization.unwrap_or(f32::NAN),
            status: r.status.unwrap_or(NO_STATUS),
            verdict: r.verdict,
            tier: r.tier,
            cause: r.cause,
        }
    }

    fn unpack(&self, base: Instant) -> ProbeRecord {
        ProbeRecord {
            at: base + Duration::from_micros(self.at_us),
            verdict: self.verdict,
            tier: self.tier,
            cause: self.cause,
            status: (self.status != NO_STATUS).then_some(self.status),
            latency: Duration::from_micros(u64::from(self.latency_us)),
            utilization: (!self.utilization.is_nan()).then_some(self.utilization),
        }
    }
}

/// Thresholds and intervals, taken from a [`ProbeSpec`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthPolicy {
    /// Successes to come up.
    pub rise: u32,
    /// Failures to go down.
    pub fall: u32,
    /// Interval while stable up/degraded.
    pub interval: Duration,
    /// Interval while down.
    pub down_interval: Duration,
    /// Interval while a transition is pending.
    pub transition_interval: Duration,
    /// EWMA weight of a new sample.
    pub ewma_weight: f64,
    /// Latency charged for a failure.
    pub failure_penalty: Duration,
    /// History ring capacity.
    pub history_len: usize,
    /// Start state.
    pub initial: InitialState,
}

impl HealthPolicy {
    /// The policy a spec describes.
    pub fn from_spec(s: &ProbeSpec) -> Self {
        HealthPolicy {
            rise: s.rise.max(1),
            fall: s.fall.max(1),
            interval: s.interval(),
            down_interval: s.down_interval(),
            transition_interval: s.transition_interval(),
            ewma_weight: s.latency_ewma_weight,
            failure_penalty: s.failure_penalty(),
            history_len: s.history_len,
            initial: s.initial_state,
        }
    }
}

/// Health of one node.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    /// Shared by every node of one spec.
    policy: Arc<HealthPolicy>,
    observed: HealthState,
    successes: u32,
    failures: u32,
    agent: AgentStatus,
    ewma_ms: Option<f64>,
    transitions: u64,
    last_change: Option<Instant>,
    probes: u64,
    /// What the history's times count from: the first probe recorded.
    history_base: Option<Instant>,
    history: VecDeque<PackedRecord>,
    changes: VecDeque<StateChange>,
}

impl HealthTracker {
    /// A node that has not been probed yet.
    pub fn new(policy: impl Into<Arc<HealthPolicy>>) -> Self {
        let policy = policy.into();
        let observed = match policy.initial {
            InitialState::Unknown => HealthState::Unknown,
            InitialState::Up => HealthState::Up,
            InitialState::Down => HealthState::Down,
        };
        HealthTracker {
            policy,
            observed,
            successes: 0,
            failures: 0,
            agent: AgentStatus::default(),
            ewma_ms: None,
            transitions: 0,
            last_change: None,
            probes: 0,
            history_base: None,
            history: VecDeque::new(),
            changes: VecDeque::new(),
        }
    }

    /// Replaces thresholds and intervals, keeping state and counters.
    pub fn set_policy(&mut self, policy: impl Into<Arc<HealthPolicy>>) {
        self.policy = policy.into();
        while self.history.len() > self.policy.history_len {
            self.history.pop_front();
        }
    }

    /// State from the main check alone.
    pub fn observed(&self) -> HealthState {
        self.observed
    }

    /// State after applying the agent's word (see the module docs for precedence).
    pub fn effective(&self) -> HealthState {
        match self.agent.state {
            Some(AgentState::Down | AgentState::Maint) => HealthState::Down,
            _ => self.observed,
        }
    }

    /// What the agent last said.
    pub fn agent(&self) -> AgentStatus {
        self.agent
    }

    /// Weight factor in percent: 0 while the agent drains or holds the node down.
    pub fn weight_percent(&self) -> u16 {
        match self.agent.state {
            Some(AgentState::Drain | AgentState::Down | AgentState::Maint) => 0,
            _ => self.agent.weight_percent,
        }
    }

    /// Latency EWMA in milliseconds (failures count as the penalty).
    pub fn latency_ewma_ms(&self) -> Option<f64> {
        self.ewma_ms
    }

    /// Number of effective-state changes so far.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// When the effective state last changed.
    pub fn last_change(&self) -> Option<Instant> {
        self.last_change
    }

    /// Probes observed so far.
    pub fn probes(&self) -> u64 {
        self.probes
    }

    /// Recent results, oldest first.
    pub fn history(&self) -> impl ExactSizeIterator<Item = ProbeRecord> + '_ {
        let base = self.history_base;
        self.history.iter().map(move |r| r.unpack(base.unwrap_or_else(Instant::now)))
    }

    /// The last [`STATE_CHANGES_KEPT`] effective-state changes, oldest first.
    pub fn state_changes(&self) -> impl ExactSizeIterator<Item = &StateChange> {
        self.changes.iter()
    }

    /// True while some but not enough results point at a change (or the state is unknown).
    pub fn transitioning(&self) -> bool {
        match self.observed {
            HealthState::Unknown => true,
            HealthState::Down => self.successes > 0,
            HealthState::Up | HealthState::Degraded => self.failures > 0,
        }
    }

    /// Interval until the next probe start, by state (HAProxy `inter`/`fastinter`/`downinter`).
    pub fn next_interval(&self) -> Duration {
        if self.transitioning() {
            self.policy.transition_interval
        } else if self.observed == HealthState::Down {
            self.policy.down_interval
        } else {
            self.policy.interval
        }
    }

    /// Feeds one probe outcome; returns the effective transition it caused, if any.
    pub fn observe(&mut self, now: Instant, outcome: &ProbeOutcome) -> Option<Transition> {
        let before = self.effective();
        self.probes += 1;
        self.record(now, outcome);
        if let Some(reply) = &outcome.agent {
            self.apply_agent(reply);
        }
        let success = outcome.is_success();
        if success {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        let good = if outcome.verdict == Verdict::Degraded {
            HealthState::Degraded
        } else {
            HealthState::Up
        };
        self.observed = match (self.observed, success) {
            (HealthState::Unknown, true) => good,
            (HealthState::Unknown, false) => HealthState::Down,
            (HealthState::Down, true) if self.successes >= self.policy.rise => good,
            (HealthState::Down, _) => HealthState::Down,
            (HealthState::Up | HealthState::Degraded, true) => good,
            (_, false) if outcome.immediate_down || self.failures >= self.policy.fall => {
                HealthState::Down
            }
            (s, false) => s,
        };
        let after = self.effective();
        if after == before {
            return None;
        }
        self.transitions += 1;
        self.last_change = Some(now);
        if self.changes.len() == STATE_CHANGES_KEPT {
            self.changes.pop_front();
        } else if self.changes.capacity() == 0 {
            // Most nodes change state once (out of `unknown`) and then hold: room for one,
            // not the four a first push would take.
            self.changes.reserve_exact(1);
        }
        self.changes.push_back(StateChange { at: now, from: before, to: after });
        Some(Transition { from: before, to: after })
    }

    fn apply_agent(&mut self, reply: &AgentReply) {
        if let Some(s) = reply.state {
            self.agent.state = Some(s);
        }
        if let Some(w) = reply.weight_percent {
            self.agent.weight_percent = w;
        }
        if reply.maxconn.is_some() {
            self.agent.maxconn = reply.maxconn;
        }
    }

    fn record(&mut self, now: Instant, o: &ProbeOutcome) {
        let sample = if o.is_success() { o.phases.total } else { self.policy.failure_penalty };
        let ms = sample.as_secs_f64() * 1000.0;
        let w = self.policy.ewma_weight;
        self.ewma_ms = Some(match self.ewma_ms {
            Some(prev) => prev + w * (ms - prev),
            None => ms,
        });
        if self.policy.history_len == 0 {
            return;
        }
        if self.history.len() == self.policy.history_len {
            self.history.pop_front();
        } else if self.history.capacity() == 0 {
            // The ring fills up and stays full: room for all of it at once, and no more.
            self.history.reserve_exact(self.policy.history_len);
        }
        let base = *self.history_base.get_or_insert(now);
        let record = ProbeRecord {
            at: now,
            verdict: o.verdict,
            tier: o.tier,
            cause: o.cause,
            status: o.status,
            latency: o.phases.total,
            utilization: o.utilization.map(|u| u as f32),
        };
        self.history.push_back(PackedRecord::pack(base, &record));
    }
}

/// `base` spread uniformly by +/- `percent`, with `unit` a sample from [0, 1).
pub fn jittered(base: Duration, percent: u8, unit: f64) -> Duration {
    let p = f64::from(percent.min(100)) / 100.0;
    let factor = 1.0 + p * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
    base.mul_f64(factor.max(0.0))
}
