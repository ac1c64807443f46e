//! Health-derived per-node status and per-service panic flags: the only parts of a snapshot
//! recomputed when the health view changes.

use std::sync::Arc;

use super::{Fleet, Member, NodeInfo, RoutingTable};
use crate::health::{HealthState, HealthView, NodeHealth};
use crate::spec::AdminState;

/// Smallest load headroom factor: a node at or above full utilization keeps 5% of its weight
/// (it is walked past by the overload threshold anyway; this only orders the rest).
const MIN_HEADROOM: f64 = 0.05;
/// Headroom is rounded to this step so utilization noise of a percent or two does not move
/// keys between nodes on every probe round.
const HEADROOM_STEP: f64 = 0.05;

/// What the table derived from one node's health.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeStatus {
    /// Health as reported (unknown when the view does not mention the node).
    pub health: NodeHealth,
    /// Weight used for picks: configured x health factor x load headroom, or configured x
    /// agent percentage when the agent overrides. Health factor: up/unknown 1, degraded
    /// 0.5, down 0. Headroom: `1 - utilization` rounded to 0.05, at least 0.05.
    pub effective_weight: f64,
    /// Weight used in fail-open panic, when health is ignored: configured x agent percentage
    /// when set, else configured.
    pub panic_weight: f64,
}

impl NodeStatus {
    fn new(node: &NodeInfo, health: NodeHealth) -> Self {
        let agent = health.agent_weight_percent.map(|p| node.weight * f64::from(p) / 100.0);
        let effective_weight = match agent {
            Some(w) => match health.state {
                HealthState::Down => 0.0,
                _ => w,
            },
            None => node.weight * health_factor(health.state) * headroom(health.utilization),
        };
        Self { health, effective_weight, panic_weight: agent.unwrap_or(node.weight) }
    }
}

fn health_factor(state: HealthState) -> f64 {
    match state {
        HealthState::Up | HealthState::Unknown => 1.0,
        HealthState::Degraded => 0.5,
        HealthState::Down => 0.0,
    }
}

fn headroom(utilization: Option<f32>) -> f64 {
    match utilization {
        Some(u) if u.is_finite() => {
            let free = 1.0 - f64::from(u).clamp(0.0, 1.0);
            ((free / HEADROOM_STEP).round() * HEADROOM_STEP).max(MIN_HEADROOM)
        }
        _ => 1.0,
    }
}

/// Usable for panic accounting (of an admin-enabled node): not down.
fn counts_as_usable(st: &NodeStatus) -> bool {
    st.health.state != HealthState::Down
}

impl RoutingTable {
    pub(super) fn from_fleet(fleet: Arc<Fleet>, health: &HealthView) -> RoutingTable {
        let mut nodes: Vec<NodeStatus> = fleet
            .members
            .iter()
            .map(|m| NodeStatus::new(&fleet.nodes[m.node as usize], NodeHealth::default()))
            .collect();
        for (id, h) in &health.nodes {
            if let Some(&i) = fleet.node_by_id.get(id.as_str()) {
                let slot = fleet.slot_of[i as usize] as usize;
                nodes[slot] = NodeStatus::new(&fleet.nodes[i as usize], *h);
            }
        }
        let panic = panic_flags(&fleet, &nodes);
        let slots = Arc::new(Slots::new(&fleet, &nodes));
        RoutingTable { fleet, nodes: nodes.into(), slots, panic, health_version: health.version }
    }

    /// A new snapshot with `health` applied, sharing every health-independent part (prefix
    /// index, zones, services, host maps) with `self`.
    pub fn with_health(&self, health: &HealthView) -> RoutingTable {
        RoutingTable::from_fleet(Arc::clone(&self.fleet), health)
    }

    /// A new snapshot with one node's health replaced and everything else kept, for a prober
    /// that reports changes one at a time. Unknown ids return an unchanged copy.
    pub fn with_node_health(
        &self,
        node_id: &str,
        health: NodeHealth,
        version: u64,
    ) -> RoutingTable {
        let mut nodes: Vec<NodeStatus> = self.nodes.to_vec();
        let mut slots = Slots::clone(&self.slots);
        if let Some(&i) = self.fleet.node_by_id.get(node_id) {
            let slot = self.fleet.slot_of[i as usize] as usize;
            nodes[slot] = NodeStatus::new(&self.fleet.nodes[i as usize], health);
            slots.set(slot, Slot::new(&self.fleet.members[slot], &nodes[slot]));
        }
        let panic = panic_flags(&self.fleet, &nodes);
        RoutingTable {
            fleet: Arc::clone(&self.fleet),
            nodes: nodes.into(),
            slots: Arc::new(slots),
            panic,
            health_version: version,
        }
    }
}

/// Pick data of one slot: rendezvous seed and flags in one word, weights, load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    /// The node's rendezvous seed with its low byte replaced by the flags below.
    seed_flags: u64,
    /// `1 / effective weight`; meaningless when the `ZERO_WEIGHT` flag is set.
    pub(crate) inv_weight: f32,
    /// `1 / panic weight`; meaningless when the `ZERO_PANIC_WEIGHT` flag is set.
    pub(crate) inv_panic_weight: f32,
    /// Minus infinity when unknown, so it is never over a threshold.
    pub(crate) utilization: f32,
}

impl Slot {
    pub(crate) const DRAIN: u8 = 1;
    pub(crate) const MAINTENANCE: u8 = 2;
    pub(crate) const DOWN: u8 = 4;
    pub(crate) const DEGRADED: u8 = 8;
    pub(crate) const V4: u8 = 16;
    pub(crate) const V6: u8 = 32;
    pub(crate) const ZERO_WEIGHT: u8 = 64;
    pub(crate) const ZERO_PANIC_WEIGHT: u8 = 128;

    fn new(m: &Member, st: &NodeStatus) -> Self {
        let mut flags = match m.admin {
            AdminState::Enabled => 0,
            AdminState::Drain => Self::DRAIN,
            AdminState::Maintenance => Self::MAINTENANCE,
        };
        flags |= match st.health.state {
            HealthState::Down => Self::DOWN,
            HealthState::Degraded => Self::DEGRADED,
            HealthState::Up | HealthState::Unknown => 0,
        };
        if m.has_v4 {
            flags |= Self::V4;
        }
        if m.has_v6 {
            flags |= Self::V6;
        }
        let inv = |w: f64, flag: u8, flags: &mut u8| {
            if w > 0.0 && w.is_finite() {
                (1.0 / w) as f32
            } else {
                *flags |= flag;
                0.0
            }
        };
        let inv_weight = inv(st.effective_weight, Self::ZERO_WEIGHT, &mut flags);
        let inv_panic_weight = inv(st.panic_weight, Self::ZERO_PANIC_WEIGHT, &mut flags);
        Self::from_parts(
            m.seed,
            flags,
            inv_weight,
            inv_panic_weight,
            st.health.utilization.filter(|u| u.is_finite()).unwrap_or(f32::NEG_INFINITY),
        )
    }

    /// A slot from its parts; the seed's low byte is dropped (56 bits are plenty to keep
    /// the members of a zone apart) to make room for the flags.
    pub(crate) fn from_parts(
        seed: u64,
        flags: u8,
        inv_weight: f32,
        inv_panic_weight: f32,
        utilization: f32,
    ) -> Self {
        Self {
            seed_flags: (seed & !0xFF) | u64::from(flags),
            inv_weight,
            inv_panic_weight,
            utilization,
        }
    }

    /// The flags above.
    #[inline(always)]
    pub(crate) fn flags(&self) -> u8 {
        self.seed_flags as u8
    }
}

/// Extra entries at the end of every [`Slots`] array: a zone's batch may be rounded up to a
/// whole number of vectors and read into the next zone (or this padding); the extra ranks
/// are ignored.
pub(crate) const SLOT_PAD: usize = 16;

/// Pick data of every slot, one array per field (structure of arrays): the rank loop loads
/// each field of eight members with one plain vector load.
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    pub(crate) seed_flags: Box<[u64]>,
    pub(crate) inv_weight: Box<[f32]>,
    pub(crate) inv_panic_weight: Box<[f32]>,
    pub(crate) utilization: Box<[f32]>,
}

impl Slots {
    fn new(fleet: &Fleet, nodes: &[NodeStatus]) -> Self {
        let all = fleet.members.iter().zip(nodes).map(|(m, st)| Slot::new(m, st));
        Self::from_slots(all)
    }

    /// Arrays from slots in order, with [`SLOT_PAD`] ineligible entries appended.
    pub(crate) fn from_slots(slots: impl ExactSizeIterator<Item = Slot>) -> Self {
        let n = slots.len() + SLOT_PAD;
        let mut out = Self {
            seed_flags: vec![u64::from(Slot::MAINTENANCE); n].into(),
            inv_weight: vec![0.0; n].into(),
            inv_panic_weight: vec![0.0; n].into(),
            utilization: vec![f32::NEG_INFINITY; n].into(),
        };
        for (i, s) in slots.enumerate() {
            out.set(i, s);
        }
        out
    }

    pub(crate) fn set(&mut self, i: usize, s: Slot) {
        self.seed_flags[i] = s.seed_flags;
        self.inv_weight[i] = s.inv_weight;
        self.inv_panic_weight[i] = s.inv_panic_weight;
        self.utilization[i] = s.utilization;
    }

    pub(crate) fn get(&self, i: usize) -> Slot {
        Slot {
            seed_flags: self.seed_flags[i],
            inv_weight: self.inv_weight[i],
            inv_panic_weight: self.inv_panic_weight[i],
            utilization: self.utilization[i],
        }
    }

    /// Heap bytes.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.seed_flags.len() * (8 + 4 + 4 + 4)
    }
}

/// Envoy-style panic per service: the share of the service's admin-enabled nodes that are
/// not down, against its threshold.
fn panic_flags(fleet: &Fleet, nodes: &[NodeStatus]) -> Arc<[bool]> {
    let per_zone: Vec<(u32, u32)> = fleet
        .zones
        .iter()
        .map(|z| {
            let slots = z.members.start as usize..z.members.end as usize;
            fleet.members[slots.clone()]
                .iter()
                .zip(&nodes[slots])
                .filter(|(m, _)| m.admin == AdminState::Enabled)
                .fold((0, 0), |(e, u), (_, st)| (e + 1, u + u32::from(counts_as_usable(st))))
        })
        .collect();
    fleet
        .services
        .iter()
        .map(|s| {
            let threshold = s.spec.panic_threshold;
            if threshold <= 0.0 {
                return false;
            }
            let (enabled, usable) = per_zone
                .iter()
                .zip(s.allowed.iter())
                .filter(|(_, a)| **a)
                .fold((0u64, 0u64), |acc, (c, _)| (acc.0 + u64::from(c.0), acc.1 + u64::from(c.1)));
            enabled > 0 && (usable as f64) < threshold * enabled as f64
        })
        .collect()
}
