//! Health/load view: the plain data the router consumes from the prober (it never probes).
//! [`HealthState`] is the one name for a node's observed state across the workspace: the
//! prober's state machine produces it and the router consumes it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Observed state of one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    /// Passing its checks.
    Up,
    /// Serving but impaired; used only when a zone has no usable `Up` node.
    Degraded,
    /// Failing its checks; never chosen except in fail-open panic.
    Down,
    /// Not probed yet. Treated like `Up` so a fresh start serves traffic before the first
    /// probe round completes (Envoy and Traffic Router both start optimistic).
    #[default]
    Unknown,
}

impl HealthState {
    /// Every state, for metric families.
    pub const ALL: [HealthState; 4] = [Self::Unknown, Self::Up, Self::Degraded, Self::Down];

    /// The name used in the APIs, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// Health and load of one node, as reported by the prober.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeHealth {
    /// Observed state.
    pub state: HealthState,
    /// Bandwidth or CPU utilization, 0..=1; `None` when unknown.
    pub utilization: Option<f32>,
    /// Decaying average of probe latency, in milliseconds; `None` when unknown.
    pub latency_ewma_ms: Option<f32>,
    /// HAProxy-agent style `weight:N%` override, a percentage of the configured weight
    /// (0..=256). When set it replaces the health and load factors.
    pub agent_weight_percent: Option<u16>,
}

/// Health of the whole fleet, keyed by node id (`NodeSpec::id`). Nodes absent from the map
/// are [`HealthState::Unknown`] with no load data; ids not in the fleet are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    /// Monotonic version of this view, echoed by the table for `/debug` and metrics.
    pub version: u64,
    /// Per-node health by node id.
    pub nodes: HashMap<String, NodeHealth>,
}

impl HealthView {
    /// An empty view (every node unknown) at `version`.
    pub fn new(version: u64) -> Self {
        Self { version, nodes: HashMap::new() }
    }

    /// Sets one node's health, builder style.
    pub fn with(mut self, node_id: impl Into<String>, health: NodeHealth) -> Self {
        self.nodes.insert(node_id.into(), health);
        self
    }
}

impl NodeHealth {
    /// A node in `state` with no load data.
    pub fn state(state: HealthState) -> Self {
        Self { state, ..Self::default() }
    }
}
