//! One node as the router and the prober see it: its place in the fleet listing and, on
//! its own page, its recent probe results and state changes.

use std::time::Instant;

use serde::Serialize;
use switchyard_probe::{NodeDetail, ProbeStatus};
use switchyard_route::{AdminState, NodeSpec, RoutingTable};

/// A node with everything known about it.
#[derive(Serialize)]
pub struct NodeStatusView<'a> {
    /// Node id.
    pub id: &'a str,
    /// Zone.
    pub zone: &'a str,
    /// IPv4 address.
    pub ipv4: Option<String>,
    /// IPv6 address.
    pub ipv6: Option<String>,
    /// Port.
    pub port: u16,
    /// Tags.
    pub tags: &'a [String],
    /// Operator state in force.
    pub admin: &'static str,
    /// Whether this instance's admin API set that state (rather than the inventory).
    pub admin_overridden: bool,
    /// Weight from the inventory.
    pub configured_weight: f64,
    /// Health as the routing table sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<&'static str>,
    /// Utilization, 0..1, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilization: Option<Option<f32>>,
    /// Latency EWMA, ms, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ewma_ms: Option<Option<f32>>,
    /// Agent weight percentage, when the agent set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_weight_percent: Option<Option<u16>>,
    /// Weight used for picks now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_weight: Option<f64>,
    /// What the local prober knows beyond the routing view.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeView>,
}

/// What the prober knows about a node beyond the routing view.
#[derive(Serialize)]
pub struct ProbeView {
    /// At least one probe finished.
    pub probed: bool,
    /// Health after the agent's word.
    pub state: &'static str,
    /// Health from the main check alone.
    pub observed: &'static str,
    /// Cause of the last failure, if the last probe failed.
    pub last_cause: Option<&'static str>,
    /// Why the last probe judged the node degraded.
    pub degraded_by: Option<&'static str>,
    /// Agent weight, percent.
    pub weight_percent: u16,
    /// Interface utilization from SNMP.
    pub utilization: Option<f64>,
    /// Load average from SNMP.
    pub load_average: Option<f64>,
}

impl ProbeView {
    /// The view of a prober status.
    pub fn new(st: &ProbeStatus) -> Self {
        Self {
            probed: st.probed,
            state: st.state.as_str(),
            observed: st.observed.as_str(),
            last_cause: st.last_cause.map(|c| c.as_str()),
            degraded_by: st.degraded_by.map(|d| d.as_str()),
            weight_percent: st.weight_percent,
            utilization: st.utilization,
            load_average: st.load_average,
        }
    }
}

impl<'a> NodeStatusView<'a> {
    /// A node of the inventory with its operator state `(admin, overridden)`, the table's
    /// view of it, and the prober's.
    pub fn new(
        table: &RoutingTable,
        n: &'a NodeSpec,
        admin: (AdminState, bool),
        probe: Option<&ProbeStatus>,
    ) -> Self {
        let status = table.node_by_id(&n.id).and_then(|id| table.node_status(id));
        Self {
            id: &n.id,
            zone: &n.zone,
            ipv4: n.ipv4.map(|a| a.to_string()),
            ipv6: n.ipv6.map(|a| a.to_string()),
            port: n.port,
            tags: &n.tags,
            admin: admin.0.as_str(),
            admin_overridden: admin.1,
            configured_weight: n.configured_weight(),
            health: status.map(|s| s.health.state.as_str()),
            utilization: status.map(|s| s.health.utilization),
            latency_ewma_ms: status.map(|s| s.health.latency_ewma_ms),
            agent_weight_percent: status.map(|s| s.health.agent_weight_percent),
            effective_weight: status.map(|s| s.effective_weight),
            probe: probe.map(ProbeView::new),
        }
    }
}

/// `GET /api/v1/nodes/<id>` and `GET /admin/nodes/<id>`: the node as in the fleet listing,
/// plus its recent probe results and state changes (oldest first, `age_ms` before now) and
/// counters.
#[derive(Serialize)]
pub struct NodeDetailView<'a> {
    /// The node as in the fleet listing.
    #[serde(flatten)]
    pub node: NodeStatusView<'a>,
    /// Recent probe results, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<ProbeResultView>>,
    /// Probes finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<u64>,
    /// Effective state changes since the node was added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transitions: Option<u64>,
    /// The last few of those changes, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_changes: Option<Vec<StateChangeView>>,
}

/// One change of a node's effective health.
#[derive(Serialize)]
pub struct StateChangeView {
    /// How long ago, ms.
    pub age_ms: u64,
    /// Health before.
    pub from: &'static str,
    /// Health after.
    pub to: &'static str,
}

/// One probe result.
#[derive(Serialize)]
pub struct ProbeResultView {
    /// How long ago, ms.
    pub age_ms: u64,
    /// `pass`, `degraded` or `fail`.
    pub verdict: &'static str,
    /// How far up the stack the probe got.
    pub tier: &'static str,
    /// Failure cause, if it failed.
    pub cause: Option<&'static str>,
    /// HTTP status or similar, if any.
    pub status: Option<u16>,
    /// Probe latency, ms.
    pub latency_ms: f64,
    /// Interface utilization (0..1) this probe read over SNMP, if it read one.
    pub utilization: Option<f32>,
}

impl<'a> NodeDetailView<'a> {
    /// The node with the prober's detail, if the prober knows it.
    pub fn new(node: NodeStatusView<'a>, detail: Option<&NodeDetail>) -> Self {
        let now = Instant::now();
        let Some(detail) = detail else {
            return Self {
                node,
                history: None,
                probes: None,
                transitions: None,
                state_changes: None,
            };
        };
        let age_ms = |at: Instant| now.saturating_duration_since(at).as_millis() as u64;
        let history = detail
            .history
            .iter()
            .map(|r| ProbeResultView {
                age_ms: age_ms(r.at),
                verdict: r.verdict.as_str(),
                tier: r.tier.as_str(),
                cause: r.cause.map(|c| c.as_str()),
                status: r.status,
                latency_ms: r.latency.as_secs_f64() * 1e3,
                utilization: r.utilization,
            })
            .collect();
        let state_changes = detail
            .state_changes
            .iter()
            .map(|c| StateChangeView {
                age_ms: age_ms(c.at),
                from: c.from.as_str(),
                to: c.to.as_str(),
            })
            .collect();
        Self {
            node,
            history: Some(history),
            probes: Some(detail.probes),
            transitions: Some(detail.transitions),
            state_changes: Some(state_changes),
        }
    }
}
