//! Reading inventory files: the coverage zones (Traffic Router CZF JSON or `cidr,zone` CSV),
//! Traffic Router's deep coverage zones, the GeoIP database and the fleet file, each error
//! naming its file and, where it has one, its line and column.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use switchyard_config::{ConfigError, Problem, document::Document};
use switchyard_route::coverage::{DeepCoverageZones, MisfiledNetwork};
use switchyard_route::{CoverageZones, FleetSpec, GeoIp, ZoneConflict};

use crate::config::{InventoryConfig, take_fleet};
pub use crate::error::InventoryError;
use crate::inventory::{Inventory, Origin};

#[cfg(test)]
mod tests;

/// The files an inventory is read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryFiles {
    /// Coverage zone file: Traffic Router CZF JSON, or CSV `cidr,zone` when the name ends in
    /// `.csv` (case-insensitive).
    pub coverage_zones: Option<PathBuf>,
    /// MaxMind DB with coordinates.
    pub geoip: Option<PathBuf>,
}

/// Loads the coverage zones and GeoIP database named in `files` around `spec`.
///
/// Conflicting duplicate prefixes in the coverage file are logged as warnings (the longest,
/// then first, entry wins) rather than refused, as Traffic Router does.
pub fn load_files(spec: FleetSpec, files: &InventoryFiles) -> Result<Inventory, InventoryError> {
    let started = Instant::now();
    let coverage = match &files.coverage_zones {
        None => CoverageZones::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| InventoryError::Read { path: path.clone(), source })?;
            let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            let parsed = if is_csv {
                CoverageZones::from_csv(&text)
            } else {
                CoverageZones::from_czf_json(&text)
            };
            let czf = parsed
                .map_err(|source| InventoryError::CoverageZones { path: path.clone(), source })?;
            warn_about(path, czf.conflicts(), czf.misfiled());
            czf
        }
    };
    let geo = match &files.geoip {
        None => None,
        Some(path) => Some(
            GeoIp::open(path)
                .map_err(|source| InventoryError::GeoIp { path: path.clone(), source })?,
        ),
    };
    Ok(Inventory {
        spec: Arc::new(spec),
        coverage: Arc::new(coverage),
        geo,
        origin: Origin::Files {
            fleet: None,
            coverage_zones: files.coverage_zones.clone(),
            geoip: files.geoip.clone(),
        },
        load_duration: started.elapsed(),
        ..Inventory::default()
    })
}

/// Logs (at most 20 of each) the duplicate prefixes and the networks left out of a coverage
/// file.
fn warn_about(path: &Path, conflicts: &[ZoneConflict], misfiled: &[MisfiledNetwork]) {
    for c in conflicts.iter().take(20) {
        tracing::warn!(
            file = %path.display(),
            prefix = %c.prefix,
            kept = %c.kept,
            dropped = %c.dropped,
            "coverage zone conflict: prefix listed for two zones, the first is kept"
        );
    }
    for m in misfiled.iter().take(20) {
        tracing::warn!(
            file = %path.display(),
            zone = %m.zone,
            network = %m.network,
            key = m.key,
            "coverage zone network listed under the other family's key: it never matches"
        );
    }
}

/// Reads Traffic Router's deep coverage zone file; duplicates and misfiled networks are
/// logged, as for the coverage zones.
pub(crate) fn load_deep_coverage_zones(path: &Path) -> Result<DeepCoverageZones, InventoryError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| InventoryError::Read { path: path.to_path_buf(), source })?;
    let deep = DeepCoverageZones::from_dczf_json(&text)
        .map_err(|source| InventoryError::CoverageZones { path: path.to_path_buf(), source })?;
    warn_about(path, deep.conflicts(), deep.misfiled());
    Ok(deep)
}

impl InventoryConfig {
    /// Reads `deep_coverage_zones_file` (relative to `base_dir`), when one is set, as the file
    /// source does before attaching it to the coverage zones ([`CoverageZones::with_deep`]);
    /// `check-config` reads it through here.
    pub fn load_deep_coverage_zones(
        &self,
        base_dir: &Path,
    ) -> Result<Option<DeepCoverageZones>, InventoryError> {
        self.deep_coverage_zones_file
            .as_ref()
            .map(|f| load_deep_coverage_zones(&base_dir.join(f)))
            .transpose()
    }
}

/// Reads a fleet file: `[[nodes]]`, `[[zones]]` and `[[services]]` at the top level, as in
/// `[inventory]`. Large fleets (tens of thousands of nodes) live in such a file so the main
/// configuration stays small and the listeners bind before the fleet is parsed.
///
/// The common case, a valid file, takes one serde pass; only a file with problems is parsed
/// again the slow way that locates every problem.
pub fn load_fleet_file(path: &Path) -> Result<FleetSpec, ConfigError> {
    let origin = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(&origin, format!("cannot read the fleet file: {e}")))?;
    if let Ok(fleet) = toml::from_str::<FleetSpec>(&source)
        && fleet.validate().is_ok()
    {
        return Ok(fleet);
    }
    let fail = |problems: Vec<Problem>| ConfigError { origin: origin.clone(), problems };
    let (doc, mut table) = Document::parse(&source).map_err(|p| fail(vec![p]))?;
    let mut problems = Vec::new();
    let fleet = take_fleet(&mut table, "", &mut problems);
    for key in table.keys() {
        problems.push(Problem::at(
            key.clone(),
            format!("unknown key `{key}`, expected one of: nodes, zones, services"),
        ));
    }
    if let Some(Err(errors)) = fleet.as_ref().map(FleetSpec::validate) {
        problems.extend(errors);
    }
    doc.locate_all(&mut problems);
    match fleet {
        Some(f) if problems.is_empty() => Ok(f),
        _ => Err(fail(problems)),
    }
}
