//! The fleet as the router sees it: zones, nodes with operator state, health, load and
//! weights, and services. `/api/v1/fleet`, `/admin/nodes/<id>` and the status page show it.

use std::time::Instant;

use serde::Serialize;
use switchyard_probe::{NodeDetail, ProbeStatus};
use switchyard_route::{AdminState, FleetSpec, NodeSpec, RoutingTable};

/// `GET /api/v1/fleet`.
#[derive(Serialize)]
pub struct FleetView<'a> {
    /// Routing tables published since start.
    pub table_version: u64,
    /// Version of the health view in the current table.
    pub health_version: u64,
    /// Zones, in inventory order.
    pub zones: Vec<ZoneView<'a>>,
    /// Nodes, in inventory order.
    pub nodes: Vec<NodeStatusView<'a>>,
    /// Services.
    pub services: Vec<ServiceView<'a>>,
}

/// A zone and its members.
#[derive(Serialize)]
pub struct ZoneView<'a> {
    /// Zone name.
    pub name: &'a str,
    /// Latitude, if configured.
    pub latitude: Option<f64>,
    /// Longitude, if configured.
    pub longitude: Option<f64>,
    /// Backup zones, in order.
    pub backups: &'a [String],
    /// Ids of the zone's nodes.
    pub nodes: Vec<&'a str>,
}

/// A service.
#[derive(Serialize)]
pub struct ServiceView<'a> {
    /// Service name.
    pub name: &'a str,
    /// Host names it answers.
    pub hostnames: &'a [String],
    /// TTL of its answers.
    pub ttl_seconds: u32,
    /// Addresses per DNS answer.
    pub dns_answers: u32,
    /// Below its panic threshold now.
    pub in_panic: bool,
}

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

impl<'a> FleetView<'a> {
    /// The whole fleet. `node` gives each node's view.
    pub fn new(
        table: &'a RoutingTable,
        spec: &'a FleetSpec,
        table_version: u64,
        nodes: Vec<NodeStatusView<'a>>,
    ) -> Self {
        let zones = spec
            .zones
            .iter()
            .map(|z| ZoneView {
                name: &z.name,
                latitude: z.latitude,
                longitude: z.longitude,
                backups: &z.backups,
                nodes: spec
                    .nodes
                    .iter()
                    .filter(|n| n.zone == z.name)
                    .map(|n| n.id.as_str())
                    .collect(),
            })
            .collect();
        let services = table
            .services()
            .map(|(id, s)| ServiceView {
                name: s.name(),
                hostnames: s.hostnames(),
                ttl_seconds: s.ttl_seconds(),
                dns_answers: s.dns_answers(),
                in_panic: table.in_panic(id),
            })
            .collect();
        Self { table_version, health_version: table.health_version(), zones, nodes, services }
    }
}

/// `GET /admin/nodes/<id>`: the node as in the fleet listing, plus its recent probe results
/// (oldest first, `age_ms` before now) and counters.
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
    /// Effective state changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transitions: Option<u64>,
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
}

impl<'a> NodeDetailView<'a> {
    /// The node with the prober's detail, if the prober knows it.
    pub fn new(node: NodeStatusView<'a>, detail: Option<&NodeDetail>) -> Self {
        let now = Instant::now();
        let Some(detail) = detail else {
            return Self { node, history: None, probes: None, transitions: None };
        };
        let history = detail
            .history
            .iter()
            .map(|r| ProbeResultView {
                age_ms: now.saturating_duration_since(r.at).as_millis() as u64,
                verdict: r.verdict.as_str(),
                tier: r.tier.as_str(),
                cause: r.cause.map(|c| c.as_str()),
                status: r.status,
                latency_ms: r.latency.as_secs_f64() * 1e3,
            })
            .collect();
        Self {
            node,
            history: Some(history),
            probes: Some(detail.probes),
            transitions: Some(detail.transitions),
        }
    }
}
