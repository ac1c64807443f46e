//! A routing decision as JSON.

use std::net::IpAddr;

use serde::Serialize;
use serde::ser::SerializeSeq;
use switchyard_route::{Decision, NodeChoice, RoutingTable, SkipReason, Skipped};

/// A routing decision: the `/v1/route` answer, the redirect's `?format=json` answer (with
/// `location`) and the `/debug/pick` answer (with `skipped`).
#[derive(Serialize)]
pub struct DecisionView<'a> {
    /// Where the redirect for this request points (`?format=json` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<&'a str>,
    /// The service's name.
    pub service: &'a str,
    /// Where the client was placed.
    pub client: ClientView<'a>,
    /// The first chosen node (an HTTP decision chooses one).
    pub node: NodeView<'a>,
    /// Every chosen node, the first included (a DNS decision may choose several).
    pub nodes: NodesView<'a>,
    /// The zone serving the client.
    pub zone: &'a str,
    /// How that zone relates to the client's location.
    pub zone_source: &'static str,
    /// The next candidates, in order, should the chosen ones fail.
    pub alternates: NodesView<'a>,
    /// TTL of the answer.
    pub ttl_seconds: u32,
    /// The service is below its panic threshold and ignores health.
    pub panic: bool,
    /// Only degraded nodes were usable.
    pub degraded: bool,
    /// Candidates passed over and why (when asked to explain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkippedView<'a>>,
    /// Version of the health view the decision was made with; instances that agree on it
    /// and on the inventory give the same answer.
    pub health_version: u64,
}

impl<'a> DecisionView<'a> {
    /// The decision `d` of the service named `service` for a client at `client_ip`, whose
    /// address came from `client_source` (`peer`, `x-forwarded-for`, `parameter`, ...).
    /// `explain` adds the skipped candidates (the decision must have been made explaining).
    pub fn new(
        table: &'a RoutingTable,
        service: &'a str,
        client_ip: IpAddr,
        client_source: &'static str,
        d: &'a Decision<'a>,
        explain: bool,
    ) -> Self {
        Self {
            location: None,
            service,
            client: ClientView::of_decision(table, client_ip, client_source, d),
            node: NodeView::new(d.node(), client_ip),
            nodes: NodesView(d.nodes(), client_ip),
            zone: d.zone_name(),
            zone_source: d.zone_source.as_str(),
            alternates: NodesView(d.alternates(), client_ip),
            ttl_seconds: d.ttl_seconds,
            panic: d.panic,
            degraded: d.degraded,
            skipped: explain.then_some(SkippedView(d.skipped())),
            health_version: table.health_version(),
        }
    }

    /// The same decision with the redirect's `Location`, for `?format=json`.
    pub fn with_location(self, location: &'a str) -> Self {
        Self { location: Some(location), ..self }
    }
}

/// Where a client was placed.
#[derive(Serialize)]
pub struct ClientView<'a> {
    /// The address localized.
    pub ip: IpAddr,
    /// Where that address came from.
    pub source: &'static str,
    /// The zone it was localized to, if any.
    pub zone: Option<&'a str>,
    /// How: `coverage_zone`, `geo`, `default`, ...
    pub localization: &'static str,
    /// Length of the coverage-zone prefix that matched, if one did.
    pub matched_prefix_len: Option<u8>,
}

impl<'a> ClientView<'a> {
    /// The client of a decision.
    pub fn of_decision(
        table: &'a RoutingTable,
        ip: IpAddr,
        source: &'static str,
        d: &Decision<'_>,
    ) -> Self {
        Self {
            ip,
            source,
            zone: d.localization.zone.and_then(|z| table.zone_name(z)),
            localization: d.localization.method.as_str(),
            matched_prefix_len: d.localization.matched_prefix_len,
        }
    }

    /// A client localized without a decision (`/debug/localize`, failed decisions).
    pub fn localize(table: &'a RoutingTable, ip: IpAddr, source: &'static str) -> Self {
        let loc = table.localize(ip);
        Self {
            ip,
            source,
            zone: loc.zone.and_then(|z| table.zone_name(z)),
            localization: loc.method.as_str(),
            matched_prefix_len: loc.matched_prefix_len,
        }
    }
}

/// A chosen node.
#[derive(Serialize)]
pub struct NodeView<'a> {
    /// Node id.
    pub id: &'a str,
    /// Zone of the node.
    pub zone: &'a str,
    /// The address a client of this family should use.
    pub address: Option<IpAddr>,
    /// IPv4 address, if the node has one.
    pub ipv4: Option<IpAddr>,
    /// IPv6 address, if the node has one.
    pub ipv6: Option<IpAddr>,
    /// Host name for redirects, when configured.
    pub hostname: Option<&'a str>,
    /// HTTP port.
    pub port: u16,
}

impl<'a> NodeView<'a> {
    /// View of `n` for a client at `client`.
    pub fn new(n: NodeChoice<'a>, client: IpAddr) -> Self {
        Self {
            id: n.id,
            zone: n.zone,
            address: address_for(&n, client),
            ipv4: n.ipv4.map(IpAddr::V4),
            ipv6: n.ipv6.map(IpAddr::V6),
            hostname: n.hostname,
            port: n.port,
        }
    }
}

/// The node's address in the client's own family when it has one, else the other.
pub fn address_for(n: &NodeChoice<'_>, client: IpAddr) -> Option<IpAddr> {
    let v4 = n.ipv4.map(IpAddr::V4);
    let v6 = n.ipv6.map(IpAddr::V6);
    if client.is_ipv6() { v6.or(v4) } else { v4.or(v6) }
}

/// Nodes serialized as a JSON array without collecting views first.
pub struct NodesView<'a>(pub switchyard_route::Nodes<'a, 'a>, pub IpAddr);

impl Serialize for NodesView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for n in self.0.clone() {
            seq.serialize_element(&NodeView::new(n, self.1))?;
        }
        seq.end()
    }
}

/// Candidates passed over, with why.
pub struct SkippedView<'a>(pub &'a [Skipped<'a>]);

impl Serialize for SkippedView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct One<'a> {
            zone: &'a str,
            node: Option<&'a str>,
            reason: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            utilization: Option<f32>,
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for k in self.0 {
            let utilization = match k.reason {
                SkipReason::Overloaded { utilization } => Some(utilization),
                _ => None,
            };
            let one = One { zone: k.zone, node: k.node, reason: k.reason.as_str(), utilization };
            seq.serialize_element(&one)?;
        }
        seq.end()
    }
}
