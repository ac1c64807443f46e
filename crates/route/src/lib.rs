//! switchyard-route: the pure routing core of Switchyard.
//!
//! No I/O and no clock. A [`RoutingTable`] is one immutable snapshot built from a
//! [`FleetSpec`] (nodes, zones, services), [`CoverageZones`] (Traffic Router's coverage zone
//! file or a `cidr,zone` CSV), an optional [`GeoIp`] database and a [`HealthView`]. It
//! answers HTTP and DNS routing requests the way Apache Traffic Router does (coverage zone,
//! then GeoIP, then the default zone; backup zones; consistent hashing of the content key)
//! and adds load awareness, degraded tiers, an Envoy-style panic threshold and weighted
//! rendezvous hashing that moves only the keys that must move.
//!
//! When only health changes, [`RoutingTable::with_health`] makes a new snapshot that shares
//! the prefix index and all other heavy parts with the old one. A server keeps the current
//! snapshot behind `ArcSwap<RoutingTable>` and loads it once per request.
//!
//! ```
//! use switchyard_route::{
//!     CoverageZones, Family, FleetSpec, HealthState, HealthView, HttpRequest, DnsRequest,
//!     LocalizationMethod, NodeHealth, RoutingTable,
//! };
//!
//! let spec: FleetSpec = toml::from_str(r#"
//!     [[zones]]
//!     name = "east"
//!     backups = ["west"]
//!     [[zones]]
//!     name = "west"
//!
//!     [[nodes]]
//!     id = "east-1"
//!     zone = "east"
//!     ipv4 = "192.0.2.1"
//!     [[nodes]]
//!     id = "west-1"
//!     zone = "west"
//!     ipv4 = "192.0.2.2"
//!
//!     [[services]]
//!     name = "video"
//!     hostnames = ["video.cdn.example.com"]
//!     ttl_seconds = 60
//! "#).unwrap();
//! spec.validate().unwrap();
//!
//! let czf = CoverageZones::from_czf_json(r#"{"coverageZones": {
//!     "east": {"network": ["198.51.100.0/24"], "network6": ["2001:db8:e::/48"]},
//!     "west": {"network": ["203.0.113.0/24"]}
//! }}"#).unwrap();
//!
//! let table = RoutingTable::build(&spec, &czf, None, &HealthView::new(1)).unwrap();
//! let service = table.service_for_host("Video.CDN.example.com").unwrap();
//!
//! let req = HttpRequest {
//!     service,
//!     client_ip: "198.51.100.7".parse().unwrap(),
//!     path: "/movie/seg-1.ts",
//!     query: "",
//!     seed: 0,
//! };
//! let d = table.route_http(&req, false).unwrap();
//! assert_eq!(d.node().id, "east-1");
//! assert_eq!(d.localization.method, LocalizationMethod::CoverageZone);
//! assert_eq!(d.localization.matched_prefix_len, Some(24)); // the matched network
//!
//! // east-1 goes down: only health is re-applied, and its clients go to the backup zone.
//! let down = HealthView::new(2).with("east-1", NodeHealth::state(HealthState::Down));
//! let table = table.with_health(&down);
//! let d = table
//!     .route_dns(&DnsRequest {
//!         service,
//!         client_ip: "198.51.100.7".parse().unwrap(),
//!         qname: "video.cdn.example.com",
//!         want: Family::V4,
//!         seed: 0,
//!     })
//!     .unwrap();
//! assert_eq!(d.node().ipv4, Some("192.0.2.2".parse().unwrap()));
//! assert_eq!(d.ttl_seconds, 60);
//! ```
//!
//! Design choices, each explained where it lives:
//! - Prefix index ([`prefix_index`]): prefixes flattened into disjoint ranges with a
//!   direct-indexed /16 first level; about 4 bytes per range, one or two cache lines per
//!   lookup, and the matched prefix length kept for the DNS ECS scope.
//! - Picking: weighted rendezvous (HRW) hashing over the candidates of one zone rather than a
//!   ring or Maglev. Zones hold tens of nodes, so scoring all of them is cheap, there is no
//!   table to rebuild when a weight or health changes, and only the keys that must move do:
//!   about 1/N when a node joins or leaves, none when another zone changes. Ineligible and
//!   overloaded nodes are simply not scored, which is the bounded-load walk: their keys go to
//!   the next-ranked node. The hash is defined in this crate so that several router instances
//!   agree on every key.
//! - Snapshots: health lives in two small per-node arrays next to the shared, `Arc`'d fleet;
//!   [`RoutingTable::with_health`] and [`RoutingTable::with_node_health`] rebuild only those.
//!
//! Modules: [`spec`] (fleet model and validation), [`health`] (health view), [`coverage`]
//! (CZF/CSV), [`prefix_index`] (longest-prefix match), [`geo`] (distances, GeoIP),
//! [`table`] (snapshot and selection), [`decision`] (requests, answers, errors).

#![warn(missing_docs)]

pub mod coverage;
pub mod decision;
pub mod geo;
pub mod health;
pub mod prefix_index;
pub mod rendezvous;
pub mod spec;
pub mod table;

pub use coverage::{CoverageZone, CoverageZones, CzfError, ZoneConflict};
pub use decision::{
    Decision, DnsRequest, Family, HttpRequest, Localization, LocalizationMethod, MAX_NODES,
    NodeChoice, NodeIndex, Nodes, RouteError, ServiceIndex, SkipReason, Skipped, ZoneIndex,
    ZoneSource,
};
pub use geo::{Coordinates, GeoError, GeoIp};
pub use health::{HealthState, HealthView, NodeHealth};
pub use spec::{
    AdminState, FleetSpec, HashKeySpec, NodeSpec, PanicMode, Policy, RedirectScheme, ServiceSpec,
    ZoneSpec,
};
pub use table::{BuildError, NameClass, NodeStatus, RoutingTable, ServiceInfo};
