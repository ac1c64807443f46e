//! Requests, decisions and routing errors: what callers hand to and get back from a
//! [`RoutingTable`](crate::RoutingTable).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::Serialize;

/// Index of a service in the table (spec order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServiceId(pub(crate) u32);

/// Index of a zone in the table (spec order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ZoneId(pub(crate) u32);

/// Index of a node in the table (spec order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct NodeId(pub(crate) u32);

macro_rules! index_accessor {
    ($t:ty) => {
        impl $t {
            /// Position in the fleet spec's list.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}
index_accessor!(ServiceId);
index_accessor!(ZoneId);
index_accessor!(NodeId);

/// An HTTP routing request. The content key comes from `path` and `query` under the
/// service's hash key rule.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// Service, from [`RoutingTable::service_for_host`](crate::RoutingTable::service_for_host).
    pub service: ServiceId,
    /// Client address used for localization (peer, trusted `X-Forwarded-For`, or `ip=`).
    pub client_ip: IpAddr,
    /// Request path, e.g. `/videos/a/seg1.ts`.
    pub path: &'a str,
    /// Raw query string without `?` (empty when none).
    pub query: &'a str,
    /// Per-request random value; used by dispersion and the `weighted_random` policy only.
    pub seed: u64,
}

/// Address family wanted by a DNS query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `A` records.
    V4,
    /// `AAAA` records.
    V6,
}

/// A DNS routing request.
#[derive(Debug, Clone, Copy)]
pub struct DnsRequest<'a> {
    /// Service the query name belongs to.
    pub service: ServiceId,
    /// ECS client subnet address when present (RFC 7871), else the resolver's address.
    pub client_ip: IpAddr,
    /// Query name; hashed by the `consistent_hash` policy (case-insensitive).
    pub qname: &'a str,
    /// Record type wanted.
    pub want: Family,
    /// Per-request random value for the `weighted_random` policy.
    pub seed: u64,
}

/// How the client was placed in a zone (Traffic Router's localization order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LocalizationMethod {
    /// Longest-prefix match in the coverage zones.
    CoverageZone,
    /// GeoIP coordinates, then the nearest zone.
    GeoIp,
    /// Neither matched: the service's default zone applies.
    Default,
}

impl LocalizationMethod {
    /// Stable lower-case name for logs, JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CoverageZone => "coverage_zone",
            Self::GeoIp => "geoip",
            Self::Default => "default",
        }
    }
}

/// Where a client address was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Localization {
    /// Zone found; `None` with [`LocalizationMethod::Default`] (the service decides).
    pub zone: Option<ZoneId>,
    /// How it was found.
    pub method: LocalizationMethod,
    /// Length of the matched coverage-zone or GeoIP network: the ECS scope prefix length
    /// (RFC 7871 §7.2.1). `None` when nothing matched; a DNS front end should then answer
    /// with the source prefix length as scope.
    pub matched_prefix_len: Option<u8>,
}

/// How the serving zone relates to the client's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// The zone the client was localized to.
    Localized,
    /// A configured backup of the localized zone.
    Backup,
    /// One of the nearest zones by distance.
    Nearest,
    /// The service's default zone.
    Default,
}

/// A chosen node, with everything a front end needs to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeChoice {
    /// Node index in the table.
    pub node: NodeId,
    /// Node id from the spec.
    pub id: Arc<str>,
    /// Zone the node belongs to.
    pub zone: Arc<str>,
    /// IPv4 address, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address, if any.
    pub ipv6: Option<Ipv6Addr>,
    /// Host name for redirect locations, if configured.
    pub hostname: Option<Arc<str>>,
    /// HTTP port for redirect locations.
    pub port: u16,
}

/// Why a candidate was passed over (reported when `explain` is asked for).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    /// The zone is not among the service's zones.
    ZoneNotAllowed,
    /// The zone had no usable node (the nodes' own reasons are listed too).
    ZoneExhausted,
    /// Admin state `drain`.
    Draining,
    /// Admin state `maintenance`.
    Maintenance,
    /// Observed down.
    Down,
    /// Degraded, held back because healthy nodes were available.
    Degraded,
    /// Utilization above the service's overload threshold.
    Overloaded {
        /// Reported utilization, 0..=1.
        utilization: f32,
    },
    /// Effective weight is zero (e.g. agent `weight:0%`).
    ZeroWeight,
    /// No address of the family the DNS query asked for.
    NoAddress,
    /// Usable, but ranked below the chosen node(s) for this key.
    Outranked,
}

impl SkipReason {
    /// Stable snake_case name for JSON and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ZoneNotAllowed => "zone_not_allowed",
            Self::ZoneExhausted => "zone_exhausted",
            Self::Draining => "draining",
            Self::Maintenance => "maintenance",
            Self::Down => "down",
            Self::Degraded => "degraded",
            Self::Overloaded { .. } => "overloaded",
            Self::ZeroWeight => "zero_weight",
            Self::NoAddress => "no_address",
            Self::Outranked => "outranked",
        }
    }
}

/// One skipped candidate: a node, or a whole zone when `node` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    /// Zone of the candidate.
    pub zone: Arc<str>,
    /// Node id, or `None` for a zone-level skip.
    pub node: Option<Arc<str>>,
    /// Why.
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// The answer to a routing request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// Service routed.
    pub service: ServiceId,
    /// Chosen node(s): one for HTTP, up to `dns_answers` distinct ones for DNS, best first.
    pub nodes: Vec<NodeChoice>,
    /// Zone the nodes were chosen from.
    pub zone: ZoneId,
    /// Name of that zone.
    pub zone_name: Arc<str>,
    /// How that zone relates to the client's location.
    pub zone_source: ZoneSource,
    /// Where the client was localized.
    pub localization: Localization,
    /// TTL for DNS answers and HTTP caching hints, in seconds.
    pub ttl_seconds: u32,
    /// Next-ranked usable nodes in the same zone (HTTP retry targets), best first.
    pub alternates: Vec<NodeChoice>,
    /// The service is under its panic threshold and fails open (health ignored).
    pub panic: bool,
    /// The nodes came from the degraded tier because no healthy node was usable.
    pub degraded: bool,
    /// Skipped candidates and why; filled only when `explain` was asked.
    pub skipped: Vec<Skipped>,
}

/// Why no decision could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// The service id is not in this table (HTTP 404 / DNS REFUSED).
    #[error("unknown service")]
    UnknownService,
    /// The client matched no zone and the service has no default zone (HTTP 503).
    #[error("client could not be localized and the service has no default zone")]
    NotLocalized,
    /// Every zone in the fallback chain was exhausted (HTTP 503 / DNS SERVFAIL).
    #[error("no eligible node")]
    NoEligibleNode,
    /// The service is under its panic threshold and configured to fail closed (HTTP 503).
    #[error("service in panic, failing closed")]
    PanicFailClosed,
}
