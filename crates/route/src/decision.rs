//! Requests, decisions and routing errors: what callers hand to and get back from a
//! [`RoutingTable`](crate::RoutingTable).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde::Serialize;

use crate::table::Fleet;

/// Index of a service in the table (spec order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServiceIndex(pub(crate) u32);

/// Index of a zone in the table (spec order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ZoneIndex(pub(crate) u32);

/// Index of a node in the table (spec order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct NodeIndex(pub(crate) u32);

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
index_accessor!(ServiceIndex);
index_accessor!(ZoneIndex);
index_accessor!(NodeIndex);

/// An HTTP routing request. The content key comes from `path` and `query` under the
/// service's hash key rule.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// Service, from [`RoutingTable::service_for_host`](crate::RoutingTable::service_for_host).
    pub service: ServiceIndex,
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
    pub service: ServiceIndex,
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
    /// Longest-prefix match in the deep coverage zones, served by the deep zone's caches
    /// (Traffic Router's `DEEP_CZ` result). HTTP decisions with deep caching only.
    DeepCoverageZone,
}

impl LocalizationMethod {
    /// Stable lower-case name for logs, JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CoverageZone => "coverage_zone",
            Self::GeoIp => "geoip",
            Self::Default => "default",
            Self::DeepCoverageZone => "deep_coverage_zone",
        }
    }
}

/// Whether an HTTP decision tries the deep coverage zones first (Traffic Router's
/// `deepCachingType` of a delivery service, read case-insensitively there, `NEVER` by
/// default).
///
/// With `Always`, a client inside a deep coverage zone goes to one of that zone's caches the
/// service may use (its zone is one of the service's), ranked by the same rendezvous hash;
/// when none of them is usable, or the client is in no deep zone, the normal decision
/// follows. Deep zones have no backups and no nearest-zone search, as in Traffic Router.
/// DNS answers never use them (Traffic Router's DNS routing reads only the coverage zones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeepCaching {
    /// Coverage zones only.
    #[default]
    #[serde(alias = "NEVER", alias = "Never")]
    Never,
    /// Deep coverage zones first.
    #[serde(alias = "ALWAYS", alias = "Always")]
    Always,
}

impl DeepCaching {
    /// Traffic Router's spelling: `NEVER` or `ALWAYS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Never => "NEVER",
            Self::Always => "ALWAYS",
        }
    }
}

/// Where a client address was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Localization {
    /// Zone found; `None` with [`LocalizationMethod::Default`] (the service decides).
    pub zone: Option<ZoneIndex>,
    /// How it was found.
    pub method: LocalizationMethod,
    /// Length of the matched coverage-zone or GeoIP network; `None` when nothing matched.
    /// Not an ECS scope by itself: a more specific network inside it, or next to an
    /// unmatched address, may place clients elsewhere. See `scope_prefix_len`.
    pub matched_prefix_len: Option<u8>,
    /// Length of the shortest prefix of the client address whose every address is placed
    /// the same way: the widest network a DNS answer may claim as its EDNS Client Subnet
    /// scope (RFC 7871 §7.2.1). It may be shorter or longer than `matched_prefix_len`.
    /// Routing leaves it `None`, so decisions do not pay for it: a DNS front end asks
    /// [`RoutingTable::scope_prefix_len`](crate::RoutingTable::scope_prefix_len) only for
    /// queries that carry a client subnet; `localize_with_scope` fills it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_prefix_len: Option<u8>,
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

impl ZoneSource {
    /// The name used in the APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Localized => "localized",
            Self::Backup => "backup",
            Self::Nearest => "nearest",
            Self::Default => "default",
        }
    }
}

/// A chosen node, with everything a front end needs to answer. Borrows from the
/// [`RoutingTable`](crate::RoutingTable) snapshot that made the decision, so producing one
/// copies a few words and touches no reference count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NodeChoice<'t> {
    /// Node index in the table.
    pub node: NodeIndex,
    /// Node id from the spec.
    pub id: &'t str,
    /// Zone the node belongs to.
    pub zone: &'t str,
    /// IPv4 address, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address, if any.
    pub ipv6: Option<Ipv6Addr>,
    /// Host name for redirect locations, if configured.
    pub hostname: Option<&'t str>,
    /// HTTP port for redirect locations.
    pub port: u16,
    /// HTTPS port for `https://` redirect locations.
    pub https_port: u16,
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Skipped<'t> {
    /// Zone of the candidate.
    pub zone: &'t str,
    /// Node id, or `None` for a zone-level skip.
    pub node: Option<&'t str>,
    /// Why.
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// Most nodes one decision carries: chosen node(s) plus alternates, or DNS answers.
pub const MAX_NODES: usize = 16;

/// The answer to a routing request. It borrows the [`RoutingTable`](crate::RoutingTable)
/// snapshot that made it and holds the picked nodes as positions in that snapshot, so a
/// decision is built without allocating or touching a reference count; [`Decision::nodes`]
/// and [`Decision::alternates`] materialize [`NodeChoice`]s on demand.
#[derive(Clone)]
pub struct Decision<'t> {
    pub(crate) fleet: &'t Fleet,
    /// Service routed.
    pub service: ServiceIndex,
    /// Zone the nodes were chosen from.
    pub zone: ZoneIndex,
    /// How that zone relates to the client's location.
    pub zone_source: ZoneSource,
    /// Where the client was localized.
    pub localization: Localization,
    /// TTL for DNS answers and HTTP caching hints, in seconds.
    pub ttl_seconds: u32,
    /// The service is under its panic threshold and fails open (health ignored).
    pub panic: bool,
    /// The nodes came from the degraded tier because no healthy node was usable.
    pub degraded: bool,
    /// Slots of the chosen nodes (`..chosen`) then of the alternates (`chosen..len`).
    pub(crate) slots: [u32; MAX_NODES],
    pub(crate) chosen: u8,
    pub(crate) len: u8,
    /// Skipped candidates and why; only when `explain` was asked (a boxed slice: two
    /// words, and no allocation when empty).
    pub(crate) skipped: Box<[Skipped<'t>]>,
}

/// What the table keeps per slot to answer with, in the order a pick ranks slots.
#[derive(Debug)]
pub(crate) struct ChoiceData {
    pub(crate) node: NodeIndex,
    pub(crate) id: Box<str>,
    pub(crate) zone: Arc<str>,
    pub(crate) ipv4: Option<Ipv4Addr>,
    pub(crate) ipv6: Option<Ipv6Addr>,
    pub(crate) hostname: Option<Box<str>>,
    pub(crate) port: u16,
    pub(crate) https_port: u16,
}

impl ChoiceData {
    #[inline]
    fn view(&self) -> NodeChoice<'_> {
        NodeChoice {
            node: self.node,
            id: &self.id,
            zone: &self.zone,
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            hostname: self.hostname.as_deref(),
            port: self.port,
            https_port: self.https_port,
        }
    }
}

/// The nodes of a [`Decision`], best first.
#[derive(Clone)]
pub struct Nodes<'d, 't> {
    choices: &'t [ChoiceData],
    slots: std::slice::Iter<'d, u32>,
}

impl<'t> Iterator for Nodes<'_, 't> {
    type Item = NodeChoice<'t>;

    #[inline]
    fn next(&mut self) -> Option<NodeChoice<'t>> {
        self.slots.next().map(|&s| self.choices[s as usize].view())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.slots.size_hint()
    }
}

impl ExactSizeIterator for Nodes<'_, '_> {}

impl<'t> Decision<'t> {
    /// The chosen node: the HTTP answer, or the first DNS answer.
    #[inline]
    pub fn node(&self) -> NodeChoice<'t> {
        self.fleet.choices()[self.slots[0] as usize].view()
    }

    /// Chosen node(s): one for HTTP, up to `dns_answers` distinct ones for DNS, best first.
    /// Never empty.
    pub fn nodes(&self) -> Nodes<'_, 't> {
        let slots = self.slots[..usize::from(self.chosen)].iter();
        Nodes { choices: self.fleet.choices(), slots }
    }

    /// Next-ranked usable nodes in the same zone (HTTP retry targets), best first.
    pub fn alternates(&self) -> Nodes<'_, 't> {
        let range = usize::from(self.chosen)..usize::from(self.len);
        Nodes { choices: self.fleet.choices(), slots: self.slots[range].iter() }
    }

    /// Name of the zone the nodes were chosen from.
    pub fn zone_name(&self) -> &'t str {
        self.fleet.zone_name(self.zone.0)
    }

    /// Skipped candidates and why; empty unless `explain` was asked.
    pub fn skipped(&self) -> &[Skipped<'t>] {
        &self.skipped
    }
}

impl PartialEq for Decision<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.service == other.service
            && self.zone == other.zone
            && self.zone_source == other.zone_source
            && self.localization == other.localization
            && self.ttl_seconds == other.ttl_seconds
            && self.panic == other.panic
            && self.degraded == other.degraded
            && self.nodes().eq(other.nodes())
            && self.alternates().eq(other.alternates())
            && self.skipped() == other.skipped()
    }
}

impl fmt::Debug for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("service", &self.service)
            .field("nodes", &self.nodes().collect::<Vec<_>>())
            .field("zone", &self.zone)
            .field("zone_name", &self.zone_name())
            .field("zone_source", &self.zone_source)
            .field("localization", &self.localization)
            .field("ttl_seconds", &self.ttl_seconds)
            .field("alternates", &self.alternates().collect::<Vec<_>>())
            .field("panic", &self.panic)
            .field("degraded", &self.degraded)
            .field("skipped", &self.skipped())
            .finish()
    }
}

/// Serializes a node iterator as a JSON array without collecting it.
struct Seq<'d, 't>(Nodes<'d, 't>);

impl Serialize for Seq<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.clone())
    }
}

impl Serialize for Decision<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Decision", 11)?;
        st.serialize_field("service", &self.service)?;
        st.serialize_field("nodes", &Seq(self.nodes()))?;
        st.serialize_field("zone", &self.zone)?;
        st.serialize_field("zone_name", self.zone_name())?;
        st.serialize_field("zone_source", &self.zone_source)?;
        st.serialize_field("localization", &self.localization)?;
        st.serialize_field("ttl_seconds", &self.ttl_seconds)?;
        st.serialize_field("alternates", &Seq(self.alternates()))?;
        st.serialize_field("panic", &self.panic)?;
        st.serialize_field("degraded", &self.degraded)?;
        st.serialize_field("skipped", self.skipped())?;
        st.end()
    }
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
