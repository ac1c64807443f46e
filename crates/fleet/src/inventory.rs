//! The value every source publishes: an [`Inventory`], and where it came from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchyard_route::{AdminState, CoverageZones, FleetSpec, GeoIp};

/// What the routing table is built from, apart from health.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Set by the source when it publishes: increases by one with every inventory.
    pub version: u64,
    /// Nodes, zones and services. Always valid ([`FleetSpec::validate`] passes).
    pub spec: Arc<FleetSpec>,
    /// Coverage zones (empty when none are configured).
    pub coverage: Arc<CoverageZones>,
    /// GeoIP database, when configured.
    pub geo: Option<GeoIp>,
    /// Operator states the source sets beside the spec, by node id; they win over the
    /// spec's own `admin` field. Empty for files, whose states are in the spec.
    pub operator: Arc<BTreeMap<String, AdminState>>,
    /// Where each part came from.
    pub origin: Origin,
    /// How long loading took.
    pub load_duration: Duration,
}

/// Where an inventory came from, for logs and the admin API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Nothing loaded yet.
    #[default]
    None,
    /// Files named by the configuration.
    Files {
        /// The fleet file; `None` when the fleet is inline in the configuration file.
        fleet: Option<PathBuf>,
        /// The coverage zone file, if any.
        coverage_zones: Option<PathBuf>,
        /// The GeoIP database, if any.
        geoip: Option<PathBuf>,
    },
    /// etcd, as of a store revision.
    Etcd {
        /// The client URLs.
        endpoints: Vec<String>,
        /// The key prefix.
        prefix: String,
        /// The store revision applied.
        revision: i64,
    },
    /// The last-known-good cache of the etcd source, etcd being unreachable.
    EtcdCache {
        /// The cache file.
        file: PathBuf,
        /// The store revision it was written at.
        revision: i64,
    },
}
