//! A routing decision as JSON.

use std::net::IpAddr;
use std::sync::OnceLock;

use serde::Serialize;
use serde::ser::SerializeSeq;
use switchyard_route::{Decision, NodeChoice, NodeIndex, RoutingTable, SkipReason, Skipped};

use super::json;

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
    /// Node objects already written, copied by [`DecisionView::write_json`].
    #[serde(skip)]
    pub node_json: Option<&'a NodeJson>,
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
            node_json: None,
        }
    }

    /// The same decision written with node objects from `cache` (which must be of the
    /// decision's table's fleet, see [`NodeJson::fits`]).
    pub fn with_node_json(self, cache: &'a NodeJson) -> Self {
        Self { node_json: Some(cache), ..self }
    }

    /// The same decision with the redirect's `Location`, for `?format=json`.
    pub fn with_location(self, location: &'a str) -> Self {
        Self { location: Some(location), ..self }
    }

    /// Appends to `out` the JSON that serializing the view writes, without serde's work per
    /// key and per byte (the answer of `/v1/route` and `?format=json`, see [`super::json`]).
    /// Field for field in the order of the struct; a test holds the two to the same bytes.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(location) = self.location {
            out.extend_from_slice(br#""location":"#);
            json::str(out, location);
            out.push(b',');
        }
        out.extend_from_slice(br#""service":"#);
        json::str(out, self.service);
        out.extend_from_slice(br#","client":"#);
        self.client.write_json(out);
        out.extend_from_slice(br#","node":"#);
        write_node(out, &self.node, self.client.ip, self.node_json);
        out.extend_from_slice(br#","nodes":"#);
        self.nodes.write_json(out, self.node_json);
        out.extend_from_slice(br#","zone":"#);
        json::str(out, self.zone);
        out.extend_from_slice(br#","zone_source":"#);
        json::str(out, self.zone_source);
        out.extend_from_slice(br#","alternates":"#);
        self.alternates.write_json(out, self.node_json);
        out.extend_from_slice(br#","ttl_seconds":"#);
        json::uint(out, self.ttl_seconds);
        out.extend_from_slice(br#","panic":"#);
        json::bool(out, self.panic);
        out.extend_from_slice(br#","degraded":"#);
        json::bool(out, self.degraded);
        if let Some(skipped) = &self.skipped {
            // Only when explaining: not worth a writer of its own.
            out.extend_from_slice(br#","skipped":"#);
            let _ = serde_json::to_writer(&mut *out, skipped);
        }
        out.extend_from_slice(br#","health_version":"#);
        json::uint(out, self.health_version);
        out.push(b'}');
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

    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"ip":"#);
        json::ip(out, self.ip);
        out.extend_from_slice(br#","source":"#);
        json::str(out, self.source);
        out.extend_from_slice(br#","zone":"#);
        json::opt_str(out, self.zone);
        out.extend_from_slice(br#","localization":"#);
        json::str(out, self.localization);
        out.extend_from_slice(br#","matched_prefix_len":"#);
        match self.matched_prefix_len {
            Some(len) => json::uint(out, len),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
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
    /// Index in the table, which keys [`NodeJson`].
    #[serde(skip)]
    pub index: NodeIndex,
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
            index: n.node,
        }
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"id":"#);
        json::str(out, self.id);
        out.extend_from_slice(br#","zone":"#);
        json::str(out, self.zone);
        out.extend_from_slice(br#","address":"#);
        json::opt_ip(out, self.address);
        out.extend_from_slice(br#","ipv4":"#);
        json::opt_ip(out, self.ipv4);
        out.extend_from_slice(br#","ipv6":"#);
        json::opt_ip(out, self.ipv6);
        out.extend_from_slice(br#","hostname":"#);
        json::opt_str(out, self.hostname);
        out.extend_from_slice(br#","port":"#);
        json::uint(out, self.port);
        out.push(b'}');
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

impl NodesView<'_> {
    fn write_json(&self, out: &mut Vec<u8>, cache: Option<&NodeJson>) {
        out.push(b'[');
        for (i, n) in self.0.clone().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_node(out, &NodeView::new(n, self.1), self.1, cache);
        }
        out.push(b']');
    }
}

/// Every node's JSON object, written the first time an answer names the node and copied into
/// every later answer that does, until the inventory changes. An answer names four or five
/// nodes, and writing their addresses was most of what serializing it cost.
pub struct NodeJson {
    /// The fleet of the table the objects were written from; they hold for every table of
    /// it (`RoutingTable::fleet_id`). The id, not the table: holding the table would keep
    /// an old inventory (coverage zones included) alive until the next JSON answer.
    fleet: u64,
    /// Per node index, the object for IPv4 clients and for IPv6 clients (`address` differs).
    objects: Box<[[Written; 2]]>,
}

/// One node object, written on first use.
type Written = OnceLock<Box<[u8]>>;

impl NodeJson {
    /// An empty cache for the fleet of `table`.
    pub fn new(table: &RoutingTable) -> Self {
        let (_, nodes, _) = table.counts();
        let objects = (0..nodes).map(|_| Default::default()).collect();
        Self { fleet: table.fleet_id(), objects }
    }

    /// Whether the objects hold for `table`: it was built from the same inventory.
    pub fn fits(&self, table: &RoutingTable) -> bool {
        table.fleet_id() == self.fleet
    }

    /// The object of `node` (its view for a client at `client`), written on first use.
    fn object(&self, node: &NodeView<'_>, client: IpAddr) -> Option<&[u8]> {
        let slots = self.objects.get(node.index.index())?;
        let object = slots[usize::from(client.is_ipv6())].get_or_init(|| {
            let mut one = Vec::with_capacity(160);
            node.write_json(&mut one);
            one.into()
        });
        Some(object)
    }
}

/// Appends `node` as a client at `client` sees it, from `cache` when there is one.
fn write_node(out: &mut Vec<u8>, node: &NodeView<'_>, client: IpAddr, cache: Option<&NodeJson>) {
    match cache.and_then(|c| c.object(node, client)) {
        Some(object) => out.extend_from_slice(object),
        None => node.write_json(out),
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

#[cfg(test)]
mod tests {
    use switchyard_route::{
        CoverageZones, FleetSpec, HealthState, HealthView, HttpRequest, NodeHealth,
    };

    use super::*;

    const FLEET: &str = r#"
[[zones]]
name = "east"
backups = ["west"]
[[zones]]
name = "west"

[[nodes]]
id = "e1"
zone = "east"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
hostname = "e1.edge.example.com"
[[nodes]]
id = "e2"
zone = "east"
ipv6 = "2001:db8:0:1::2"
port = 8080
[[nodes]]
id = "e3"
zone = "east"
ipv4 = "192.0.2.3"
[[nodes]]
id = "w1"
zone = "west"
ipv4 = "198.51.100.11"
ipv6 = "::ffff:198.51.100.11"

[[services]]
name = "video"
hostnames = ["video.cdn.example.com"]
zones = ["east", "west"]
default_zone = "west"
dispersion = 2
"#;

    /// The hand-written JSON is byte for byte what serde writes for the same view: for v4,
    /// v6 and unlocalized clients, healthy and degraded picks, with a location and explaining,
    /// with node objects written afresh and copied from a cache that outlives health changes.
    #[test]
    fn written_json_is_the_serialized_view() {
        let spec: FleetSpec = toml::from_str(FLEET).unwrap();
        let czf = CoverageZones::from_czf_json(
            r#"{"coverageZones": {"east": {"network": ["10.1.0.0/16"], "network6": ["2001:db8:e::/48"]}}}"#,
        )
        .unwrap();
        let base = RoutingTable::build(&spec, &czf, None, &HealthView::new(7)).unwrap();
        let cache = NodeJson::new(&base);
        let healths = [
            HealthView::new(7),
            HealthView::new(8).with("e1", NodeHealth::state(HealthState::Down)),
            HealthView::new(9)
                .with("e1", NodeHealth::state(HealthState::Degraded))
                .with("e2", NodeHealth::state(HealthState::Degraded))
                .with("e3", NodeHealth::state(HealthState::Down)),
        ];
        let clients = ["10.1.2.3", "2001:db8:e::9", "203.0.113.5", "::ffff:10.1.0.1"];
        let written = |view: &DecisionView<'_>| {
            let mut out = Vec::new();
            view.write_json(&mut out);
            String::from_utf8(out).unwrap()
        };
        let mut checked = 0;
        for health in &healths {
            let table = base.with_health(health);
            assert!(cache.fits(&table));
            let service = table.service_for_host("video.cdn.example.com").unwrap();
            for client in clients {
                let client_ip: IpAddr = client.parse().unwrap();
                for (explain, seed) in [(false, 1), (true, 2), (false, u64::MAX)] {
                    let req = HttpRequest { service, client_ip, path: "/a/b.ts", query: "", seed };
                    let d = table.route_http(&req, explain).unwrap();
                    let view = DecisionView::new(&table, "video", client_ip, "peer", &d, explain);
                    let serialized = serde_json::to_string(&view).unwrap();
                    assert_eq!(written(&view), serialized);
                    assert_eq!(written(&view.with_node_json(&cache)), serialized);
                    let located = DecisionView::new(&table, "video", client_ip, "peer", &d, false)
                        .with_location("http://e1.edge.example.com/a/\"b\".ts");
                    let serialized = serde_json::to_string(&located).unwrap();
                    assert_eq!(written(&located), serialized);
                    assert_eq!(written(&located.with_node_json(&cache)), serialized);
                    checked += 1;
                }
            }
        }
        let rebuilt = RoutingTable::build(&spec, &czf, None, &HealthView::new(7)).unwrap();
        assert!(!cache.fits(&rebuilt), "a new inventory build needs new objects");
        assert_eq!(checked, 36);
    }
}
