//! Inventory sources for Switchyard: where the fleet (nodes, zones, services), the coverage
//! zones and the operator states come from, and how a change reaches the running server.
//!
//! An [`Inventory`] is everything the routing table is built from besides health. A source
//! publishes versioned inventories on a [`tokio::sync::watch`] channel (an [`InventoryFeed`]);
//! the server installs each one, whatever the source. The [`FileSource`] reads the
//! configuration's inline fleet or fleet file, a Traffic Router coverage zone file (JSON) or a
//! `cidr,zone` CSV, and an optional MaxMind database, at start and on every reload.
//!
//! ```no_run
//! use switchyard_fleet::{FileSource, InventoryConfig};
//!
//! # async fn run() -> Result<(), switchyard_fleet::InventoryError> {
//! let config = InventoryConfig {
//!     coverage_zones_file: Some("coverage-zones.json".into()),
//!     fleet_file: Some("fleet.toml".into()),
//!     ..InventoryConfig::default()
//! };
//! let (source, mut feed) = FileSource::new("/etc/switchyard");
//! let inventory = source.load(&config).await?;
//! source.publish(inventory);
//! feed.changed().await.expect("the source is alive");
//! let current = feed.borrow().clone().expect("published");
//! println!("inventory v{}: {} nodes", current.version, current.spec.nodes.len());
//! # Ok(())
//! # }
//! ```

mod config;
mod files;
mod source;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchyard_route::{AdminState, CoverageZones, FleetSpec, GeoIp};

pub use config::InventoryConfig;
pub use files::{InventoryError, InventoryFiles, load_files, load_fleet_file};
pub use source::{FileSource, InventoryFeed, Publisher};

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
}

#[cfg(test)]
mod tests;
