//! Fleet model: nodes, zones and services as an operator writes them (TOML/JSON via serde),
//! plus [`FleetSpec::validate`], which reports every problem at once with its location.

#[cfg(test)]
mod tests;
pub(crate) mod validate;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The whole fleet: every node, zone and service the router knows about.
///
/// Zones play the part of Traffic Control "cache groups", services the part of "delivery
/// services".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// Edge nodes (caches). Order is significant only for display. Default: empty.
    ///
    /// Shared: a source that keeps each node's value (the etcd source, for its last good
    /// values) publishes the same allocation, so a large fleet is held once.
    #[serde(default, serialize_with = "shared_nodes", deserialize_with = "own_nodes")]
    pub nodes: Vec<Arc<NodeSpec>>,
    /// Zones (cache groups / locations). Default: empty.
    #[serde(default)]
    pub zones: Vec<ZoneSpec>,
    /// Services (delivery services). Default: empty.
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
}

fn shared_nodes<S: Serializer>(nodes: &[Arc<NodeSpec>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(nodes.iter().map(|n| &**n))
}

fn own_nodes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Arc<NodeSpec>>, D::Error> {
    let nodes: Vec<NodeSpec> = Deserialize::deserialize(d)?;
    Ok(nodes.into_iter().map(Arc::new).collect())
}

/// One edge node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique node identifier (also the key of the health view). Required, non-empty.
    pub id: String,
    /// Name of the zone the node belongs to; must name an entry of `zones`. Required.
    pub zone: String,
    /// IPv4 address answered in DNS `A` records and used for redirects. Default: none.
    /// At least one of `ipv4` / `ipv6` is required.
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address answered in DNS `AAAA` records and used for redirects. Default: none.
    #[serde(default)]
    pub ipv6: Option<Ipv6Addr>,
    /// Host name put in HTTP redirect locations instead of an address literal. Default: none.
    #[serde(default)]
    pub hostname: Option<String>,
    /// TCP port of the node's HTTP service, used in redirect locations. Default: 80.
    #[serde(default = "default_port")]
    pub port: u16,
    /// TCP port of the node's HTTPS service, used in `https://` redirect locations (Traffic
    /// Router's `httpsPort`). Default: 443.
    #[serde(default = "default_https_port")]
    pub https_port: u16,
    /// Relative selection weight (unitless, > 0). Default: `capacity_mbps` when that is set,
    /// else 1.
    #[serde(default)]
    pub weight: Option<f64>,
    /// Egress capacity in megabits per second; informs the default weight. Default: unknown.
    #[serde(default)]
    pub capacity_mbps: Option<u64>,
    /// Operator state, kept apart from observed health. Default: `enabled`.
    #[serde(default)]
    pub admin: AdminState,
    /// Free-form labels, shown in the fleet API. Default: empty.
    #[serde(default)]
    pub tags: Vec<String>,
}

fn default_port() -> u16 {
    80
}

fn default_https_port() -> u16 {
    443
}

impl NodeSpec {
    /// Weight used when health and load are perfect: `weight`, else `capacity_mbps`, else 1.
    pub fn configured_weight(&self) -> f64 {
        match (self.weight, self.capacity_mbps) {
            (Some(w), _) => w,
            (None, Some(c)) if c > 0 => c as f64,
            _ => 1.0,
        }
    }
}

/// Operator state of a node, independent of what probes observe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// Takes traffic when healthy.
    #[default]
    Enabled,
    /// Takes no new traffic; existing sessions finish (the router simply stops choosing it).
    Drain,
    /// Out of service for maintenance; never chosen, even in panic mode.
    Maintenance,
}

impl AdminState {
    /// Every state.
    pub const ALL: [AdminState; 3] = [Self::Enabled, Self::Drain, Self::Maintenance];

    /// The name used in configuration, the APIs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Drain => "drain",
            Self::Maintenance => "maintenance",
        }
    }
}

/// A zone: a location that groups nodes, with coordinates and an ordered backup list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// Unique zone name; coverage zone files refer to it. Required, non-empty.
    pub name: String,
    /// Latitude in decimal degrees (-90..=90). Default: taken from the coverage zone file.
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Longitude in decimal degrees (-180..=180). Default: taken from the coverage zone file.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Zones tried, in order, when this zone has no eligible node (Traffic Router's
    /// "backupZones"). Default: empty.
    #[serde(default)]
    pub backups: Vec<String>,
}

/// A service (Traffic Router "delivery service").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Unique service name. Required, non-empty.
    pub name: String,
    /// Host names served: exact (`video.example.com`) or wildcard (`*.example.com`, matching
    /// one or more labels). Case-insensitive. At least one is required.
    pub hostnames: Vec<String>,
    /// Zones this service may use; empty means every zone. Default: empty.
    #[serde(default)]
    pub zones: Vec<String>,
    /// How nodes are picked. Default: `consistent_hash`.
    #[serde(default)]
    pub policy: Policy,
    /// How the HTTP content key is derived from the request. Default: the whole path.
    #[serde(default)]
    pub hash_key: HashKeySpec,
    /// Number of top-ranked nodes a request chooses among (Traffic Router "dispersion").
    /// 1 means every request for one key goes to the same node. Default: 1.
    #[serde(default = "one")]
    pub dispersion: u32,
    /// Number of distinct addresses in a DNS answer. Default: 1.
    #[serde(default = "one")]
    pub dns_answers: u32,
    /// TTL of DNS answers, in seconds. Default: 30.
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u32,
    /// Zone used when the client cannot be localized (Traffic Router's miss location).
    /// Default: none; unlocalized clients then get no answer.
    #[serde(default)]
    pub default_zone: Option<String>,
    /// After the matched zone and its backups, also try the nearest zones by great-circle
    /// distance. Default: true.
    #[serde(default = "yes")]
    pub fallback_to_nearest: bool,
    /// Maximum number of nearest zones tried when `fallback_to_nearest` is on. Default: 3.
    #[serde(default = "default_nearest_limit")]
    pub fallback_nearest_limit: u32,
    /// Fraction (0..=1) of the service's admin-enabled nodes that must be usable; below it the
    /// service is in panic (Envoy's `healthy_panic_threshold`). 0 disables panic. Default: 0.
    #[serde(default)]
    pub panic_threshold: f64,
    /// What panic does: `open` routes to every admin-enabled node ignoring health, `closed`
    /// refuses traffic. Default: `open`.
    #[serde(default)]
    pub panic_mode: PanicMode,
    /// Utilization (0..=1) above which a node counts as overloaded and is walked past.
    /// Default: 0.9.
    #[serde(default = "default_overload")]
    pub overload_threshold: f64,
    /// The scheme of this service's redirect locations: `http`, `https`, or `request` (the
    /// scheme the client used: `https` when it came over TLS, to this router or, as a
    /// trusted proxy says, to the proxy in front). Traffic Router's delivery-service
    /// `protocol`. Default: `request`.
    #[serde(default)]
    pub redirect_scheme: RedirectScheme,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_ttl() -> u32 {
    30
}
fn default_nearest_limit() -> u32 {
    3
}
fn default_overload() -> f64 {
    0.9
}

/// Node selection policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// HTTP: weighted rendezvous hashing of the content key. DNS: the same hash of the query
    /// name, so one name keeps its answers while membership is stable.
    #[default]
    ConsistentHash,
    /// Weighted random, seeded per request (HTTP and DNS).
    WeightedRandom,
}

/// The scheme of a service's redirect locations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedirectScheme {
    /// `http://` to the node's `port` (Traffic Router's `HTTP`).
    Http,
    /// `https://` to the node's `https_port`, whatever the client came over (Traffic
    /// Router's `HTTPS` and `HTTP_TO_HTTPS`).
    Https,
    /// The scheme the request came over (Traffic Router's `HTTP_AND_HTTPS`): a client of the
    /// HTTPS listener stays on HTTPS.
    #[default]
    Request,
}

impl RedirectScheme {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Request => "request",
        }
    }
}

/// Behaviour when a service falls under its panic threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanicMode {
    /// Route to every admin-enabled node regardless of health (Envoy's default).
    #[default]
    Open,
    /// Refuse: the request gets no node (Envoy's `fail_traffic_on_panic`).
    Closed,
}

/// How the HTTP content key is built, after Traffic Router's `consistentHashRegex` and
/// `consistentHashQueryParams`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashKeySpec {
    /// Regular expression applied to the path; the key is the concatenation of its capture
    /// groups (or the whole match when it has none). A path that does not match is used as
    /// is. Default: none (the whole path).
    #[serde(default)]
    pub path_regex: Option<String>,
    /// Query parameters appended to the key, in this order, as `name=value`. Others are
    /// ignored. Default: empty.
    #[serde(default)]
    pub query_params: Vec<String>,
}
