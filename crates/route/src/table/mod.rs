//! The routing table: one immutable snapshot of fleet, coverage zones, GeoIP and health.
//!
//! The heavy, health-independent parts (prefix index, zone chains, host maps, node data) live
//! in one `Arc`'d `Fleet` shared by every snapshot; [`RoutingTable::with_health`] makes a new
//! snapshot that shares it and only recomputes the per-node effective weights and per-service
//! panic flags (O(nodes + services x zones), nothing else is copied or rebuilt).

mod build;
mod health_state;
mod select;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ahash::AHashMap;

use crate::decision::{
    ChoiceData, DeepCaching, Localization, LocalizationMethod, NodeIndex, ServiceIndex, ZoneIndex,
};
use crate::geo::{Coordinates, GeoIp, NearestIndex};
use crate::prefix_index::PrefixIndex;
use switchyard_config::Problem;

use crate::spec::{AdminState, ServiceSpec};

pub use health_state::NodeStatus;

/// Errors building a table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The fleet spec failed validation; every problem is listed.
    #[error("invalid fleet spec: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidSpec(Vec<Problem>),
}

/// An immutable routing snapshot. Cheap to clone (a few `Arc`s); meant to be published
/// through `ArcSwap<RoutingTable>` and read lock-free per request.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    fleet: Arc<Fleet>,
    /// Health-derived status per slot (zone order).
    nodes: Arc<[NodeStatus]>,
    /// What a pick reads per slot, one array per field, so a zone's members are a few
    /// contiguous lines in each.
    slots: Arc<health_state::Slots>,
    panic: Arc<[bool]>,
    health_version: u64,
}

/// Everything that does not depend on health.
#[derive(Debug)]
pub(crate) struct Fleet {
    /// Unique to this build (see [`RoutingTable::fleet_id`]).
    id: u64,
    nodes: Vec<NodeInfo>,
    /// Hot per-node data in zone order ("slots"), so a zone's candidates are contiguous.
    members: Box<[Member]>,
    /// Node index -> slot.
    slot_of: Box<[u32]>,
    /// The answer for each slot, ready to clone: a pick reads one contiguous entry instead
    /// of chasing slot -> node -> zone, and the id strings of a zone's nodes sit together.
    choices: Box<[ChoiceData]>,
    node_by_id: AHashMap<Box<str>, u32>,
    zones: Vec<ZoneInfo>,
    services: Vec<ServiceInfo>,
    exact_hosts: AHashMap<Box<str>, u32>,
    wildcard_hosts: AHashMap<Box<str>, u32>,
    apexes: Vec<Box<str>>,
    czf: Arc<PrefixIndex>,
    /// Coverage-file zone index -> fleet zone (by name, else nearest by the file's
    /// coordinates, as Traffic Router falls back for cache groups it does not serve).
    czf_zones: Vec<Option<u32>>,
    geo: Option<GeoIp>,
    nearest: NearestIndex,
    /// Deep coverage zones, when the coverage zones carry them.
    deep: Option<DeepZones>,
}

/// The deep coverage zones as the table uses them: the prefix index and, per deep zone, the
/// slots of the caches the fleet knows.
#[derive(Debug)]
pub(crate) struct DeepZones {
    index: Arc<PrefixIndex>,
    zones: Box<[DeepZoneInfo]>,
}

#[derive(Debug)]
pub(crate) struct DeepZoneInfo {
    /// Name in the deep coverage zone file.
    name: Box<str>,
    /// Slots of the zone's caches, in file order; names the fleet does not know are left out.
    slots: Box<[u32]>,
    /// Fleet zone of each of those slots, to check it against the service's zones.
    zones: Box<[u32]>,
}

impl Fleet {
    /// Answer data per slot.
    #[inline]
    pub(crate) fn choices(&self) -> &[ChoiceData] {
        &self.choices
    }

    /// Name of a zone by index.
    pub(crate) fn zone_name(&self, zone: u32) -> &str {
        &self.zones[zone as usize].name
    }
}

#[derive(Debug)]
pub(crate) struct NodeInfo {
    id: Arc<str>,
    zone: u32,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    hostname: Option<Arc<str>>,
    port: u16,
    https_port: u16,
    weight: f64,
    admin: AdminState,
    seed: u64,
}

/// What a pick reads about a node, packed into 16 bytes and stored zone by zone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    seed: u64,
    node: u32,
    admin: AdminState,
    has_v4: bool,
    has_v6: bool,
}

#[derive(Debug)]
pub(crate) struct ZoneInfo {
    name: Arc<str>,
    coordinates: Option<Coordinates>,
    /// Slots of the zone's nodes (a range of `Fleet::members` and of the status array).
    members: std::ops::Range<u32>,
    backups: Box<[u32]>,
    /// Other zones with coordinates, nearest first, at most [`build::NEAREST_KEPT`].
    nearest: Box<[u32]>,
}

/// A service as the table holds it.
#[derive(Debug)]
pub struct ServiceInfo {
    spec: ServiceSpec,
    allowed: Box<[bool]>,
    default_zone: Option<u32>,
    path_regex: Option<regex::Regex>,
    /// `overload_threshold` as the f32 the pick compares with.
    overload: f32,
    has_v4: bool,
    has_v6: bool,
    /// Whether `route_http` tries the deep coverage zones first.
    deep_caching: DeepCaching,
}

impl ServiceInfo {
    /// Service name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// Host names as configured (exact and `*.` wildcards).
    pub fn hostnames(&self) -> &[String] {
        &self.spec.hostnames
    }
    /// DNS TTL in seconds.
    pub fn ttl_seconds(&self) -> u32 {
        self.spec.ttl_seconds
    }
    /// Number of addresses per DNS answer.
    pub fn dns_answers(&self) -> u32 {
        self.spec.dns_answers
    }
    /// Whether any node the service may use has an IPv4 / IPv6 address; a DNS front end
    /// answers NODATA for a family the service has none of.
    pub fn has_family(&self, want: crate::Family) -> bool {
        match want {
            crate::Family::V4 => self.has_v4,
            crate::Family::V6 => self.has_v6,
        }
    }
    /// The full spec.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }
    /// Whether HTTP decisions try the deep coverage zones first.
    pub fn deep_caching(&self) -> DeepCaching {
        self.deep_caching
    }
}

/// What a DNS name is to this router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameClass {
    /// A service host name: answer it.
    Service(ServiceIndex),
    /// Exactly an apex the router is authoritative for (SOA/NS live here; NODATA for A).
    Apex,
    /// Under an apex but no such name: NXDOMAIN.
    InZone,
    /// Not ours: REFUSED.
    OutOfZone,
}

impl RoutingTable {
    /// Health version this snapshot was built with.
    pub fn health_version(&self) -> u64 {
        self.health_version
    }

    /// Service serving `host` (an HTTP `Host` without port, or a DNS name): exact names
    /// first, then the longest matching `*.` wildcard. Case-insensitive, trailing dot ignored.
    pub fn service_for_host(&self, host: &str) -> Option<ServiceIndex> {
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.len() > 253 {
            return None;
        }
        let mut buf = [0u8; 253];
        let lower = &mut buf[..host.len()];
        lower.copy_from_slice(host.as_bytes());
        lower.make_ascii_lowercase();
        let lower = std::str::from_utf8(lower).ok()?;
        let f = &self.fleet;
        if let Some(&s) = f.exact_hosts.get(lower) {
            return Some(ServiceIndex(s));
        }
        let mut rest = lower;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(&s) = f.wildcard_hosts.get(parent) {
                return Some(ServiceIndex(s));
            }
            rest = parent;
        }
        None
    }

    /// Classifies a DNS query name for the authoritative front end.
    pub fn classify_name(&self, qname: &str) -> NameClass {
        if let Some(s) = self.service_for_host(qname) {
            return NameClass::Service(s);
        }
        let name = qname.strip_suffix('.').unwrap_or(qname).to_ascii_lowercase();
        let mut in_zone = false;
        for apex in &self.fleet.apexes {
            if *name == **apex {
                return NameClass::Apex;
            }
            if name.len() > apex.len()
                && name.ends_with(&**apex)
                && name.as_bytes()[name.len() - apex.len() - 1] == b'.'
            {
                in_zone = true;
            }
        }
        if in_zone { NameClass::InZone } else { NameClass::OutOfZone }
    }

    /// DNS apex names the router is authoritative for: the base of each `*.` wildcard and
    /// the parent of each exact host name (the name itself when its parent is a top-level
    /// domain), lower-case, without trailing dot.
    pub fn apexes(&self) -> impl Iterator<Item = &str> {
        self.fleet.apexes.iter().map(|a| &**a)
    }

    /// Services in spec order.
    pub fn services(&self) -> impl ExactSizeIterator<Item = (ServiceIndex, &ServiceInfo)> {
        self.fleet.services.iter().enumerate().map(|(i, s)| (ServiceIndex(i as u32), s))
    }

    /// One service.
    pub fn service(&self, id: ServiceIndex) -> Option<&ServiceInfo> {
        self.fleet.services.get(id.index())
    }

    /// Service by name.
    pub fn service_by_name(&self, name: &str) -> Option<ServiceIndex> {
        self.services().find(|(_, s)| s.name() == name).map(|(id, _)| id)
    }

    /// Zone name.
    pub fn zone_name(&self, id: ZoneIndex) -> Option<&str> {
        self.fleet.zones.get(id.index()).map(|z| &*z.name)
    }

    /// Coordinates of a zone (from the spec, else from the coverage zone file).
    pub fn zone_coordinates(&self, id: ZoneIndex) -> Option<Coordinates> {
        self.fleet.zones.get(id.index()).and_then(|z| z.coordinates)
    }

    /// Id of the build this table's inventory came from. Tables that differ only in health
    /// share it; every build, even of the same inventory, gets a new one. What a cache of
    /// per-node data keys on, without holding the table.
    pub fn fleet_id(&self) -> u64 {
        self.fleet.id
    }

    /// Number of zones, nodes and services.
    pub fn counts(&self) -> (usize, usize, usize) {
        let f = &self.fleet;
        (f.zones.len(), f.nodes.len(), f.services.len())
    }

    /// Zone by name.
    pub fn zone_by_name(&self, name: &str) -> Option<ZoneIndex> {
        self.fleet.zones.iter().position(|z| &*z.name == name).map(|i| ZoneIndex(i as u32))
    }

    /// Node by spec id.
    pub fn node_by_id(&self, id: &str) -> Option<NodeIndex> {
        self.fleet.node_by_id.get(id).map(|&i| NodeIndex(i))
    }

    /// Health-derived status of a node in this snapshot.
    pub fn node_status(&self, id: NodeIndex) -> Option<&NodeStatus> {
        let slot = *self.fleet.slot_of.get(id.index())?;
        self.nodes.get(slot as usize)
    }

    /// Whether the service is in panic in this snapshot.
    pub fn in_panic(&self, id: ServiceIndex) -> bool {
        self.panic.get(id.index()).copied().unwrap_or(false)
    }

    /// Places a client: coverage zones (longest prefix), then GeoIP to the nearest zone,
    /// else [`LocalizationMethod::Default`] with no zone.
    #[inline]
    pub fn localize(&self, ip: IpAddr) -> Localization {
        let f = &*self.fleet;
        if let Some(hit) = f.czf.lookup(ip)
            && let Some(Some(zone)) = f.czf_zones.get(hit.value as usize)
        {
            return Localization {
                zone: Some(ZoneIndex(*zone)),
                method: LocalizationMethod::CoverageZone,
                matched_prefix_len: Some(hit.prefix_len),
                scope_prefix_len: None,
            };
        }
        if let Some(geo) = &f.geo
            && let Some(hit) = geo.locate(ip)
            && let Some(zone) = f.nearest.nearest(&hit.coordinates)
        {
            return Localization {
                zone: Some(ZoneIndex(zone)),
                method: LocalizationMethod::GeoIp,
                matched_prefix_len: Some(hit.prefix_len),
                scope_prefix_len: None,
            };
        }
        Localization {
            zone: None,
            method: LocalizationMethod::Default,
            matched_prefix_len: None,
            scope_prefix_len: None,
        }
    }

    /// [`RoutingTable::localize`] with [`Localization::scope_prefix_len`] filled in.
    pub fn localize_with_scope(&self, ip: IpAddr) -> Localization {
        let mut loc = self.localize(ip);
        loc.scope_prefix_len = Some(self.scope_prefix_len(ip, &loc));
        loc
    }

    /// Length of the shortest prefix of `ip` whose every address [`RoutingTable::localize`]
    /// places as it placed `ip` (`loc`, its result): what a DNS answer for `ip` may announce
    /// as its ECS scope. In `ip`'s family, so 96 or more for an IPv4-mapped IPv6 address.
    ///
    /// - Coverage zone: the index's decision depth. Every address within it has the same
    ///   coverage hit, hence the same zone.
    /// - GeoIP: the GeoIP network length, raised to the coverage index's decision depth
    ///   when that is longer. Within the larger of the two, every address misses the
    ///   coverage zones the same way (no hit, or the same hit on a coverage zone the fleet
    ///   cannot place) and falls in the same GeoIP network, whose one record gives the same
    ///   coordinates and so the same nearest zone. A coverage network inside the GeoIP
    ///   network thus narrows the scope so that it leaves the coverage network out.
    /// - Default, without GeoIP, or with a GeoIP hit that places no zone: as for GeoIP.
    /// - Default after a GeoIP miss: the full address width, since the lookup does not
    ///   report how far the database's gap around `ip` extends.
    pub fn scope_prefix_len(&self, ip: IpAddr, loc: &Localization) -> u8 {
        let f = &*self.fleet;
        let coverage = f.czf.decision_depth(ip);
        let geo_len = match loc.method {
            // DNS never localizes by the deep zones; a caller passing an HTTP decision's
            // localization gets the coverage zones' depth.
            LocalizationMethod::CoverageZone | LocalizationMethod::DeepCoverageZone => {
                return coverage;
            }
            LocalizationMethod::GeoIp => loc.matched_prefix_len,
            LocalizationMethod::Default => match &f.geo {
                None => Some(0),
                Some(geo) => geo.locate(ip).map(|hit| hit.prefix_len),
            },
        };
        let width = if ip.is_ipv4() { 32 } else { 128 };
        geo_len.map_or(width, |g| coverage.max(g).min(width))
    }

    /// Approximate heap bytes of the snapshot, including the shared parts.
    pub fn memory_bytes(&self) -> usize {
        let f = &*self.fleet;
        let nodes: usize = f
            .nodes
            .iter()
            .map(|n| {
                size_of::<NodeInfo>()
                    + n.id.len()
                    + n.hostname.as_ref().map_or(0, |h| h.len())
                    + size_of::<(Box<str>, u32)>()
                    + n.id.len()
                    + size_of::<Member>()
                    + 4
                    + size_of::<ChoiceData>()
                    + size_of::<[usize; 2]>()
                    + n.id.len()
            })
            .sum();
        let zones: usize = f
            .zones
            .iter()
            .map(|z| size_of::<ZoneInfo>() + z.name.len() + 4 * (z.backups.len() + z.nearest.len()))
            .sum();
        let services: usize = f
            .services
            .iter()
            .map(|s| size_of::<ServiceInfo>() + s.allowed.len() + 64 * s.spec.hostnames.len())
            .sum();
        let deep = f.deep.as_ref().map_or(0, |d| {
            d.index.memory_bytes()
                + d.zones
                    .iter()
                    .map(|z| size_of::<DeepZoneInfo>() + z.name.len() + 8 * z.slots.len())
                    .sum::<usize>()
        });
        f.czf.memory_bytes()
            + deep
            + nodes
            + zones
            + services
            + 4 * f.czf_zones.len()
            + size_of_val(&*self.nodes)
            + self.slots.memory_bytes()
            + self.panic.len()
    }

    /// Bytes of the coverage-zone prefix index alone.
    pub fn index_memory_bytes(&self) -> usize {
        self.fleet.czf.memory_bytes()
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;
    use crate::decision::{DnsRequest, Family, HttpRequest};
    use crate::geo::test_mmdb;
    use crate::{CoverageZones, FleetSpec, HealthView};

    const FLEET: &str = r#"
[[zones]]
name = "east"
latitude = 40.7
longitude = -74.0
[[zones]]
name = "lon"
latitude = 51.5
longitude = -0.1
[[nodes]]
id = "e1"
zone = "east"
ipv4 = "192.0.2.1"
[[nodes]]
id = "l1"
zone = "lon"
ipv4 = "192.0.2.2"
[[services]]
name = "svc"
hostnames = ["svc.example.com"]
default_zone = "east"
"#;

    /// Coverage: east on 172.16.4.0/24 (inside the GeoIP network 172.16.0.0/12), and
    /// 10.5.0.0/16 for a zone with neither a fleet zone nor coordinates, so it places no
    /// one and GeoIP decides there. GeoIP: 172.16.0.0/12 and 10.0.0.0/8 in London, and
    /// 198.51.100.0/24 without a location.
    fn tables() -> (RoutingTable, RoutingTable) {
        let spec: FleetSpec = toml::from_str(FLEET).unwrap();
        let czf = CoverageZones::from_czf_json(
            r#"{"coverageZones": {
                "east": {"network": ["172.16.4.0/24"]},
                "nowhere": {"network": ["10.5.0.0/16"]}
            }}"#,
        )
        .unwrap();
        let db = test_mmdb::build(&[
            test_mmdb::entry("172.16.0.0/12", Some((51.0, 0.0))),
            test_mmdb::entry("10.0.0.0/8", Some((51.0, 0.0))),
            test_mmdb::entry("198.51.100.0/24", None),
        ]);
        let geo = GeoIp::from_bytes(db).unwrap();
        let health = HealthView::default();
        let with_geo = RoutingTable::build(&spec, &czf, Some(&geo), &health).unwrap();
        let without = RoutingTable::build(&spec, &czf, None, &health).unwrap();
        (with_geo, without)
    }

    fn scope(t: &RoutingTable, ip: &str) -> (LocalizationMethod, Option<u8>, u8) {
        let loc = t.localize_with_scope(ip.parse().unwrap());
        (loc.method, loc.matched_prefix_len, loc.scope_prefix_len.unwrap())
    }

    #[test]
    fn geoip_scope_keeps_its_network_but_leaves_out_coverage_networks() {
        use LocalizationMethod::{CoverageZone, Default, GeoIp};
        let (t, _) = tables();
        // In the GeoIP /12 but next to the coverage /24: only 172.16.0.0/22 is placed by
        // GeoIP alone.
        assert_eq!(scope(&t, "172.16.0.0"), (GeoIp, Some(12), 22));
        assert_eq!(scope(&t, "172.20.0.0"), (GeoIp, Some(12), 14));
        assert_eq!(scope(&t, "172.31.0.0"), (GeoIp, Some(12), 13));
        assert_eq!(scope(&t, "172.16.4.1"), (CoverageZone, Some(24), 24));
        // A coverage hit that places no zone falls through to GeoIP: the /8 network,
        // narrowed to the coverage /16 it must stay inside.
        assert_eq!(scope(&t, "10.5.1.1"), (GeoIp, Some(8), 16));
        assert_eq!(scope(&t, "10.9.0.0"), (GeoIp, Some(8), 13));
        // GeoIP misses do not say how wide the gap is: the whole address.
        assert_eq!(scope(&t, "198.51.100.1"), (Default, None, 32));
        assert_eq!(scope(&t, "192.0.2.1"), (Default, None, 32));
    }

    #[test]
    fn without_geoip_the_default_scope_is_the_coverage_depth() {
        use LocalizationMethod::Default;
        let (_, t) = tables();
        assert_eq!(scope(&t, "192.0.2.1"), (Default, None, 2));
        assert_eq!(scope(&t, "10.5.1.1"), (Default, None, 16));
        assert_eq!(scope(&t, "10.0.0.0"), (Default, None, 14));
    }

    #[test]
    fn routing_leaves_the_scope_to_the_caller_who_needs_it() {
        let (t, _) = tables();
        let service = t.service_by_name("svc").unwrap();
        let client_ip: IpAddr = "172.16.0.0".parse().unwrap();
        let req =
            DnsRequest { service, client_ip, qname: "svc.example.com", want: Family::V4, seed: 0 };
        let d = t.route_dns(&req).unwrap();
        assert_eq!(d.localization.scope_prefix_len, None);
        assert_eq!(t.scope_prefix_len(client_ip, &d.localization), 22);
        let req = HttpRequest { service, client_ip, path: "/", query: "", seed: 0 };
        let d = t.route_http(&req, false).unwrap();
        assert_eq!(d.localization.scope_prefix_len, None);
        assert!(
            serde_json::to_value(&d).unwrap()["localization"].get("scope_prefix_len").is_none()
        );
    }
}
