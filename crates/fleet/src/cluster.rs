//! Several instances sharing one fleet: who probes which node, what each prober says about
//! it, and the one view of health every instance routes from. Pure functions of their
//! inputs, so instances that agree on the members and the verdicts agree on the answer.
//!
//! Each node is probed by `replicas` live members, chosen by rendezvous hashing of the node
//! id over the member ids ([`switchyard_route::rendezvous::top_members`]): when a member
//! joins or leaves, only the nodes it wins or held change hands. A prober writes its
//! [`Verdict`] for a node only when it changes; every instance merges the verdicts of live
//! members per node with a [`MergePolicy`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_route::{HealthState, NodeHealth};

/// What one prober says about one node, as written to `health/<node>/<instance>`. Values
/// are quantized so that noise does not cause writes: utilization to steps of 0.05 (the
/// step the routing table's load headroom uses), load average to 0.1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The prober's state for the node.
    pub state: HealthState,
    /// Why it is down or degraded, when it is. Causes are a handful of words repeated over
    /// hundreds of thousands of verdicts, so each is held once ([`intern`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "word",
        deserialize_with = "interned"
    )]
    pub cause: Option<Arc<str>>,
    /// Latency EWMA at the time of writing, ms (informative: not a reason to write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f32>,
    /// Interface utilization, 0..1, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<f32>,
    /// 1-minute load average, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<f32>,
    /// Agent weight override, percent, when the node's agent set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_weight_percent: Option<u16>,
}

impl Verdict {
    /// A verdict with quantized load figures.
    pub fn new(
        state: HealthState,
        cause: Option<&str>,
        latency_ms: Option<f64>,
        utilization: Option<f64>,
        load: Option<f64>,
        agent_weight_percent: Option<u16>,
    ) -> Self {
        let step = |v: f64, s: f64| ((v / s).round() * s) as f32;
        Self {
            state,
            cause: cause.map(intern),
            latency_ms: latency_ms.map(|l| (l * 10.0).round() as f32 / 10.0),
            utilization: utilization.map(|u| step(u.clamp(0.0, 1.0), 0.05)),
            load: load.map(|l| step(l.max(0.0), 0.1)),
            agent_weight_percent,
        }
    }

    /// Whether writing `self` over `old` is worth a write: anything but latency changed.
    pub fn differs_from(&self, old: &Verdict) -> bool {
        self.state != old.state
            || self.cause != old.cause
            || self.utilization != old.utilization
            || self.load != old.load
            || self.agent_weight_percent != old.agent_weight_percent
    }

    /// A digest of what [`Verdict::differs_from`] compares (all but latency), for a writer
    /// that remembers what it wrote for a whole share of the fleet: 8 bytes a node instead
    /// of a verdict. Stable within a process.
    pub fn written_form(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        self.state.hash(&mut h);
        self.cause.hash(&mut h);
        self.utilization.map(f32::to_bits).hash(&mut h);
        self.load.map(f32::to_bits).hash(&mut h);
        self.agent_weight_percent.hash(&mut h);
        h.finish()
    }
}

/// The one shared copy of a cause word. At most [`INTERNED_MAX`] words are kept (values
/// come from etcd, which anyone with write access can fill); past that each gets its own.
pub fn intern(word: &str) -> Arc<str> {
    static WORDS: std::sync::Mutex<BTreeSet<Arc<str>>> = std::sync::Mutex::new(BTreeSet::new());
    let mut words = WORDS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(w) = words.get(word) {
        return w.clone();
    }
    let w: Arc<str> = Arc::from(word);
    if words.len() < INTERNED_MAX {
        words.insert(w.clone());
    }
    w
}

/// Distinct cause words shared at most.
const INTERNED_MAX: usize = 256;

fn word<S: serde::Serializer>(word: &Option<Arc<str>>, s: S) -> Result<S::Ok, S::Error> {
    word.as_deref().serialize(s)
}

fn interned<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
    let word: Option<std::borrow::Cow<'de, str>> = Deserialize::deserialize(d)?;
    Ok(word.as_deref().map(intern))
}

/// How the verdicts of a node's probers combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergePolicy {
    /// A node is as bad as more than half of its probers see it: down only when most say
    /// down, degraded when most say degraded or worse. One prober's bad network does not take
    /// a node out; a real failure does.
    #[default]
    Majority,
    /// Up if any prober says up, as Traffic Monitor's optimistic quorum: a node leaves only
    /// when every prober agrees it is gone.
    Optimistic,
    /// As bad as the worst prober says.
    Pessimistic,
}

impl MergePolicy {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Majority => "majority",
            Self::Optimistic => "optimistic",
            Self::Pessimistic => "pessimistic",
        }
    }
}

/// A member as it announces itself in `members/<instance>`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    /// Address of its admin listener.
    pub admin: Option<String>,
    /// Version of the binary.
    pub version: String,
    /// Unix time it joined, ms.
    pub started_unix_ms: u64,
    /// The store revision of the last inventory change it applied.
    pub applied_revision: i64,
}

/// The verdicts on one node, by prober instance id, sorted by instance. A node has a
/// handful of probers (`replicas`), and its verdicts change only when a prober's opinion
/// does, so they are one shared, immutable list: the etcd source's state and every view it
/// publishes hold the same allocation until a verdict changes, and instance ids are shared,
/// not copied, across a fleet's nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeVerdicts(Arc<[ProberVerdict]>);

/// One prober's verdict, with the store revision it was written at (0 when not read from
/// the store).
#[derive(Debug, Clone, PartialEq)]
struct ProberVerdict {
    instance: Arc<str>,
    verdict: Verdict,
    revision: i64,
}

impl NodeVerdicts {
    /// The verdict of `instance`, if it has one.
    pub fn get(&self, instance: &str) -> Option<&Verdict> {
        self.find(instance).ok().map(|i| &self.0[i].verdict)
    }

    /// The verdicts in instance order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Verdict)> + Clone {
        self.0.iter().map(|p| (&p.instance, &p.verdict))
    }

    /// The verdicts alone, in instance order.
    pub fn values(&self) -> impl Iterator<Item = &Verdict> + Clone {
        self.0.iter().map(|p| &p.verdict)
    }

    /// How many probers gave a verdict.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no prober gave one.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The store revision of `instance`'s verdict, if it has one.
    pub(crate) fn revision(&self, instance: &str) -> Option<i64> {
        self.find(instance).ok().map(|i| self.0[i].revision)
    }

    /// A copy with `instance`'s verdict set (replacing the one it had).
    pub(crate) fn with(&self, instance: Arc<str>, verdict: Verdict, revision: i64) -> Self {
        let mut list = self.0.to_vec();
        let entry = ProberVerdict { instance, verdict, revision };
        match self.find(&entry.instance) {
            Ok(i) => list[i] = entry,
            Err(i) => list.insert(i, entry),
        }
        Self(list.into())
    }

    /// A copy without `instance`'s verdict.
    pub(crate) fn without(&self, instance: &str) -> Self {
        Self(self.0.iter().filter(|p| &*p.instance != instance).cloned().collect())
    }

    /// Only the verdicts of instances `keep` accepts: the same list, shared, when that is
    /// all of them.
    pub(crate) fn only(&self, keep: impl Fn(&str) -> bool) -> Self {
        if self.0.iter().all(|p| keep(&p.instance)) {
            return self.clone();
        }
        Self(self.0.iter().filter(|p| keep(&p.instance)).cloned().collect())
    }

    /// Whether `other` is the same list, not a copy.
    #[cfg(test)]
    pub(crate) fn shares(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn find(&self, instance: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|p| (*p.instance).cmp(instance))
    }
}

impl FromIterator<(Arc<str>, Verdict)> for NodeVerdicts {
    fn from_iter<T: IntoIterator<Item = (Arc<str>, Verdict)>>(iter: T) -> Self {
        let mut list: Vec<ProberVerdict> = iter
            .into_iter()
            .map(|(instance, verdict)| ProberVerdict { instance, verdict, revision: 0 })
            .collect();
        // The last verdict of an instance given twice wins.
        list.reverse();
        list.sort_by(|a, b| a.instance.cmp(&b.instance));
        list.dedup_by(|a, b| a.instance == b.instance);
        Self(list.into())
    }
}

/// The shared state of the cluster as one instance reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    /// Live members by instance id.
    pub members: BTreeMap<String, Member>,
    /// Verdicts by node id, then by prober instance id (members only).
    pub verdicts: BTreeMap<Arc<str>, NodeVerdicts>,
    /// Maintenance set for every instance (`maintenance`), with its reason.
    pub maintenance_all: Option<String>,
    /// Maintenance set for this instance (`maintenance/<instance>`), with its reason.
    pub maintenance_this: Option<String>,
}

impl ClusterView {
    /// Whether readiness should fail for maintenance, and why.
    pub fn maintenance(&self) -> Option<&str> {
        self.maintenance_this.as_deref().or(self.maintenance_all.as_deref())
    }
}

/// The members that probe `node`: the `replicas` members that win its id, all of them when
/// `replicas` is 0 or exceeds the membership.
pub fn probers<'m>(node: &str, members: &[&'m str], replicas: usize) -> Vec<&'m str> {
    if replicas == 0 || replicas >= members.len() {
        let mut all = members.to_vec();
        all.sort_unstable();
        return all;
    }
    switchyard_route::rendezvous::top_members(node, members, replicas)
}

/// The nodes `me` probes among `nodes`, given the live `members` (which should include
/// `me`; if it does not, it is counted as one so it still does its share).
pub fn share<'n>(
    me: &str,
    nodes: impl IntoIterator<Item = &'n str>,
    members: &BTreeMap<String, Member>,
    replicas: usize,
) -> BTreeSet<String> {
    let mut ids: Vec<&str> = members.keys().map(String::as_str).collect();
    if !members.contains_key(me) {
        ids.push(me);
    }
    nodes
        .into_iter()
        .filter(|n| probers(n, &ids, replicas).contains(&me))
        .map(str::to_owned)
        .collect()
}

/// Merges a node's verdicts, given in prober instance order, into one node health. `None`
/// when nobody has a verdict.
pub fn merge<'v>(
    verdicts: impl Iterator<Item = &'v Verdict> + Clone,
    policy: MergePolicy,
) -> Option<NodeHealth> {
    // Runs for every node of a fleet on every merge: no allocation.
    let known = || verdicts.clone().filter(|v| v.state != HealthState::Unknown);
    let n = known().count();
    if n == 0 {
        return None;
    }
    let badness = |v: &Verdict| match v.state {
        HealthState::Up | HealthState::Unknown => 0,
        HealthState::Degraded => 1,
        HealthState::Down => 2,
    };
    let level = match policy {
        MergePolicy::Optimistic => known().map(badness).min().unwrap_or(0),
        MergePolicy::Pessimistic => known().map(badness).max().unwrap_or(0),
        // The worst level that more than half of the probers see or exceed.
        MergePolicy::Majority => (1..=2)
            .rev()
            .find(|&l| known().filter(|v| badness(v) >= l).count() * 2 > n)
            .unwrap_or(0),
    };
    let state = match level {
        0 => HealthState::Up,
        1 => HealthState::Degraded,
        _ => HealthState::Down,
    };
    // Figures are averaged in instance order, so every instance computes the same value.
    let mean = |f: fn(&Verdict) -> Option<f32>| {
        let (sum, count) = known().filter_map(f).fold((0.0f32, 0u32), |(s, c), x| (s + x, c + 1));
        (count > 0).then(|| sum / count as f32)
    };
    let agent = known().filter_map(|v| v.agent_weight_percent).min();
    Some(NodeHealth {
        state,
        utilization: mean(|v| v.utilization),
        latency_ewma_ms: mean(|v| v.latency_ms),
        agent_weight_percent: agent,
    })
}

#[cfg(test)]
mod tests;
