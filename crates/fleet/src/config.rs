//! The `[inventory]` configuration section: where nodes, zones, services, coverage zones and
//! the GeoIP database come from, and its validation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use switchyard_config::document::{elements, section};
use switchyard_config::{Problem, Problems};
use switchyard_route::{FleetSpec, NodeSpec};

use crate::etcd::EtcdConfig;

/// Where the fleet inventory comes from. For now the nodes, zones and services live in this
/// file as arrays of tables (`[[inventory.nodes]]`, `[[inventory.zones]]`,
/// `[[inventory.services]]`, each element as documented on `switchyard_route::NodeSpec`,
/// `ZoneSpec` and `ServiceSpec`); the coverage zones live in a Traffic Router coverage-zone
/// JSON or a `cidr,zone` CSV.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// Coverage zone file (Traffic Router CZF JSON, or CSV `cidr,zone` when the name ends in
    /// `.csv`). Relative paths are resolved against the config file's folder. Default: none.
    #[serde(default)]
    pub coverage_zones_file: Option<PathBuf>,
    /// A separate fleet file with `[[nodes]]`, `[[zones]]` and `[[services]]` at its top
    /// level, for fleets too large to keep in this file: it is read after the listeners are
    /// bound, so `/livez` answers at once however large it is. Relative to this file's
    /// folder. Use it or the inline arrays, not both. Default: none.
    #[serde(default)]
    pub fleet_file: Option<PathBuf>,
    /// MaxMind GeoIP2/GeoLite2 City database used when the coverage zones do not match a
    /// client. Relative to the config file's folder. Default: none.
    #[serde(default)]
    pub geoip_file: Option<PathBuf>,
    /// Take nodes, zones, services, operator states and coverage zones from etcd, shared by
    /// every instance (`[inventory.etcd]`). Excludes `fleet_file` and the inline arrays;
    /// `coverage_zones_file` then serves while etcd has no `coverage` key, and `geoip_file`
    /// stays local. Default: none (the inventory comes from files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etcd: Option<EtcdConfig>,
    /// Nodes, zones and services, read from the arrays of tables named above.
    #[serde(skip)]
    pub fleet: FleetSpec,
    /// Traffic Router deep coverage zone file (`deepCoverageZones` JSON, each zone listing
    /// the ids of its `caches`), read by the `/crs` deep-caching endpoints; traffic
    /// decisions do not use it yet. Relative to the config file's folder.
    /// Default: none.
    #[serde(default)]
    pub deep_coverage_zones_file: Option<PathBuf>,
}

impl InventoryConfig {
    /// Checks what serde cannot: that the fleet comes from one place, that the files exist,
    /// and the inline fleet's cross-references. Paths are under `at` (`inventory`); relative
    /// file names resolve against `base_dir`.
    pub fn validate(&self, at: &str, base_dir: &Path) -> Vec<Problem> {
        let mut p = Problems::new(at);
        let inline = !(self.fleet.nodes.is_empty()
            && self.fleet.zones.is_empty()
            && self.fleet.services.is_empty());
        if self.fleet_file.is_some() && inline {
            p.push(
                "fleet_file",
                "set, but [[inventory.nodes]], zones or services are also given: use one",
            );
        }
        if self.etcd.is_some() && (self.fleet_file.is_some() || inline) {
            p.push(
                "etcd",
                "set, but the fleet is also given in files (fleet_file or [[inventory.nodes]], \
                 zones, services): in etcd mode the fleet lives in etcd only",
            );
        }
        for (key, file) in [
            ("fleet_file", &self.fleet_file),
            ("coverage_zones_file", &self.coverage_zones_file),
            ("geoip_file", &self.geoip_file),
            ("deep_coverage_zones_file", &self.deep_coverage_zones_file),
        ] {
            if let Some(file) = file {
                let path = base_dir.join(file);
                if !path.is_file() {
                    p.push(key, format!("{} does not exist or is not a file", path.display()));
                }
            }
        }
        let mut problems = p.into_vec();
        if let Some(etcd) = &self.etcd {
            problems.extend(etcd.validate(&format!("{at}.etcd"), base_dir));
        }
        if let Err(errors) = self.fleet.validate() {
            problems.extend(errors.into_iter().map(|e| e.under(at)));
        }
        problems
    }

    /// Reads `[inventory]` from its TOML value. The fleet arrays are deserialized element by
    /// element so every bad node, zone or service is reported, not only the first; paths are
    /// under `inventory`.
    pub fn read_section(value: toml::Value, problems: &mut Vec<Problem>) -> Option<Self> {
        let toml::Value::Table(mut table) = value else {
            return section::<Self>(value, "inventory", problems);
        };
        let fleet = take_fleet(&mut table, "inventory.", problems);
        let mut inv = section::<Self>(toml::Value::Table(table), "inventory", problems);
        if let (Some(inv), Some(fleet)) = (&mut inv, fleet) {
            inv.fleet = fleet;
        }
        inv
    }
}

/// Removes the `nodes`, `zones` and `services` arrays from `table` and deserializes them
/// element by element (paths prefixed with `prefix`).
pub(crate) fn take_fleet(
    table: &mut toml::Table,
    prefix: &str,
    problems: &mut Vec<Problem>,
) -> Option<FleetSpec> {
    let mut array = |name: &str| match table.remove(name) {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items,
        Some(other) => {
            let what = other.type_str();
            problems.push(Problem::at(
                format!("{prefix}{name}"),
                format!("must be an array of tables ([[{prefix}{name}]]), found a {what}"),
            ));
            Vec::new()
        }
    };
    let (nodes, zones, services) = (array("nodes"), array("zones"), array("services"));
    let nodes = elements::<NodeSpec>(nodes, &format!("{prefix}nodes"), problems)
        .map(|nodes| nodes.into_iter().map(Arc::new).collect());
    let zones = elements(zones, &format!("{prefix}zones"), problems);
    let services = elements(services, &format!("{prefix}services"), problems);
    Some(FleetSpec { nodes: nodes?, zones: zones?, services: services? })
}
