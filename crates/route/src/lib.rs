//! switchyard-route: the pure routing core of Switchyard.
//!
//! No I/O and no clock: a [`RoutingTable`] snapshot is built from a fleet spec, coverage zones
//! and a health view, and answers HTTP and DNS routing requests.

pub mod coverage;
pub mod geo;
pub mod health;
pub mod prefix_index;
pub mod spec;

pub use coverage::{CoverageZone, CoverageZones, CzfError, ZoneConflict};
pub use geo::{Coordinates, GeoError, GeoIp};
pub use health::{HealthState, HealthView, NodeHealth};
pub use spec::{
    AdminState, FleetSpec, HashKeySpec, NodeSpec, PanicMode, Policy, ServiceSpec, SpecError,
    ZoneSpec,
};
