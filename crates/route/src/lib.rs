//! switchyard-route: the pure routing core of Switchyard.
//!
//! No I/O and no clock: a [`RoutingTable`] snapshot is built from a fleet spec, coverage zones
//! and a health view, and answers HTTP and DNS routing requests.

pub mod coverage;
pub mod decision;
pub mod geo;
pub mod health;
pub mod prefix_index;
mod rendezvous;
pub mod spec;
pub mod table;

pub use coverage::{CoverageZone, CoverageZones, CzfError, ZoneConflict};
pub use decision::{
    Decision, DnsRequest, Family, HttpRequest, Localization, LocalizationMethod, NodeChoice,
    NodeId, RouteError, ServiceId, SkipReason, Skipped, ZoneId, ZoneSource,
};
pub use geo::{Coordinates, GeoError, GeoIp};
pub use health::{HealthState, HealthView, NodeHealth};
pub use spec::{
    AdminState, FleetSpec, HashKeySpec, NodeSpec, PanicMode, Policy, ServiceSpec, SpecError,
    ZoneSpec,
};
pub use table::{BuildError, NameClass, NodeStatus, RoutingTable, ServiceInfo};
