//! The fleet as the router sees it: zones with a summary of their nodes, the nodes, and the
//! services. `/api/v1/fleet` and the status page show it; a large fleet is read zone summaries
//! first (`?summary`), then the nodes of the zones one looks at (`?zone=`).

use std::collections::HashMap;

use serde::Serialize;
use switchyard_fleet::etcd::KeyProblem;
use switchyard_route::{FleetSpec, RoutingTable};

use super::node::NodeStatusView;

/// Which nodes a fleet view lists. Zone summaries always cover every node.
#[derive(Debug, Clone, Copy)]
pub enum NodeListing<'q> {
    /// Every node (the default).
    All,
    /// The nodes of these zones only (`?zone=`, repeatable).
    Zones(&'q [String]),
    /// No node, only the zone summaries (`?summary`).
    None,
}

impl NodeListing<'_> {
    fn lists(&self, zone: &str) -> bool {
        match self {
            Self::All => true,
            Self::Zones(zones) => zones.iter().any(|z| z == zone),
            Self::None => false,
        }
    }
}

/// `GET /api/v1/fleet`.
#[derive(Serialize)]
pub struct FleetView<'a> {
    /// Routing tables published since start.
    pub table_version: u64,
    /// Version of the health view in the current table.
    pub health_version: u64,
    /// Zones, in inventory order, each with its summary.
    pub zones: Vec<ZoneView<'a>>,
    /// Nodes, in inventory order: all of them, or those of the zones asked for; absent with
    /// `?summary`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeStatusView<'a>>>,
    /// Services.
    pub services: Vec<ServiceView<'a>>,
    /// Inventory entries not in force, with the key (etcd) and the problem; the last good
    /// value of each stays in force. Empty in file mode, where a bad file is refused whole.
    pub errors: Vec<KeyProblem>,
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
    /// Ids of the zone's nodes, when the view lists them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<&'a str>>,
    /// Counts and averages over all of the zone's nodes.
    pub summary: ZoneSummaryView,
}

/// What a zone's nodes add up to, so a fleet of thousands can be read zone by zone.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ZoneSummaryView {
    /// Nodes in the zone.
    pub total: usize,
    /// Nodes by health as the routing table sees it (`unknown` also counts nodes the table
    /// does not know yet).
    pub health: HealthCounts,
    /// Nodes by operator state.
    pub admin: AdminCounts,
    /// Mean utilization (0..1) over the nodes that report one.
    pub utilization_mean: Option<f32>,
    /// Highest utilization (0..1) reported.
    pub utilization_max: Option<f32>,
    /// Mean latency EWMA, ms, over the nodes that have one.
    pub latency_ewma_ms_mean: Option<f32>,
    /// Sum of the weights used for picks now.
    pub effective_weight: f64,
    /// Sum of the configured weights.
    pub configured_weight: f64,
}

/// Nodes by health.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCounts {
    /// Up.
    pub up: usize,
    /// Degraded.
    pub degraded: usize,
    /// Down.
    pub down: usize,
    /// Not known yet.
    pub unknown: usize,
}

/// Nodes by operator state.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct AdminCounts {
    /// Enabled.
    pub enabled: usize,
    /// Draining.
    pub drain: usize,
    /// In maintenance.
    pub maintenance: usize,
}

/// Sums kept while the summary is built; the means are taken at the end.
#[derive(Default)]
struct Accumulator {
    summary: ZoneSummaryView,
    utilization: (f64, usize),
    latency: (f64, usize),
}

impl Accumulator {
    fn add(&mut self, n: &NodeStatusView<'_>) {
        let s = &mut self.summary;
        s.total += 1;
        match n.health.unwrap_or("unknown") {
            "up" => s.health.up += 1,
            "degraded" => s.health.degraded += 1,
            "down" => s.health.down += 1,
            _ => s.health.unknown += 1,
        }
        match n.admin {
            "drain" => s.admin.drain += 1,
            "maintenance" => s.admin.maintenance += 1,
            _ => s.admin.enabled += 1,
        }
        if let Some(Some(u)) = n.utilization {
            self.utilization.0 += f64::from(u);
            self.utilization.1 += 1;
            s.utilization_max = Some(s.utilization_max.map_or(u, |m| m.max(u)));
        }
        if let Some(Some(l)) = n.latency_ewma_ms {
            self.latency.0 += f64::from(l);
            self.latency.1 += 1;
        }
        s.effective_weight += n.effective_weight.unwrap_or(0.0);
        s.configured_weight += n.configured_weight;
    }

    fn finish(self) -> ZoneSummaryView {
        let mean = |(sum, n): (f64, usize)| (n > 0).then(|| (sum / n as f64) as f32);
        ZoneSummaryView {
            utilization_mean: mean(self.utilization),
            latency_ewma_ms_mean: mean(self.latency),
            ..self.summary
        }
    }
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

impl<'a> FleetView<'a> {
    /// The fleet with the views of all of its nodes, in inventory order; `listing` says
    /// which of them the view lists.
    pub fn new(
        table: &'a RoutingTable,
        spec: &'a FleetSpec,
        table_version: u64,
        nodes: Vec<NodeStatusView<'a>>,
        listing: NodeListing<'_>,
    ) -> Self {
        let index: HashMap<&str, usize> =
            spec.zones.iter().enumerate().map(|(i, z)| (z.name.as_str(), i)).collect();
        let mut sums: Vec<Accumulator> =
            std::iter::repeat_with(Accumulator::default).take(spec.zones.len()).collect();
        let mut ids: Vec<Option<Vec<&'a str>>> =
            spec.zones.iter().map(|z| listing.lists(&z.name).then(Vec::new)).collect();
        for n in &nodes {
            if let Some(&i) = index.get(n.zone) {
                sums[i].add(n);
                if let Some(list) = &mut ids[i] {
                    list.push(n.id);
                }
            }
        }
        let zones = spec
            .zones
            .iter()
            .zip(sums.into_iter().zip(ids))
            .map(|(z, (sum, nodes))| ZoneView {
                name: &z.name,
                latitude: z.latitude,
                longitude: z.longitude,
                backups: &z.backups,
                nodes,
                summary: sum.finish(),
            })
            .collect();
        let nodes = match listing {
            NodeListing::All => Some(nodes),
            NodeListing::Zones(_) => {
                Some(nodes.into_iter().filter(|n| listing.lists(n.zone)).collect())
            }
            NodeListing::None => None,
        };
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
        Self {
            table_version,
            health_version: table.health_version(),
            zones,
            nodes,
            services,
            errors: Vec::new(),
        }
    }
}
