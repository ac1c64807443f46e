//! Inventory sources for Switchyard: where the fleet (nodes, zones, services) and the
//! coverage zones come from.
//!
//! An [`Inventory`] is everything the routing table is built from besides health. Today it is
//! loaded from files ([`load_files`]): the fleet spec as parsed from the configuration, a
//! Traffic Router coverage zone file (JSON) or a `cidr,zone` CSV, and an optional MaxMind
//! database.
//!
//! ```no_run
//! use std::path::Path;
//! use switchyard_fleet::{InventoryFiles, load_files};
//! use switchyard_route::FleetSpec;
//!
//! let files = InventoryFiles {
//!     coverage_zones: Some(Path::new("coverage-zones.json").into()),
//!     geoip: None,
//! };
//! let inventory = load_files(FleetSpec::default(), &files)?;
//! println!("{} coverage zones", inventory.coverage.zones().len());
//! # Ok::<(), switchyard_fleet::InventoryError>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_route::{CoverageZones, CzfError, FleetSpec, GeoError, GeoIp};

/// What the routing table is built from, apart from health.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// Nodes, zones and services.
    pub spec: Arc<FleetSpec>,
    /// Coverage zones (empty when no file is configured).
    pub coverage: Arc<CoverageZones>,
    /// GeoIP database, when configured.
    pub geo: Option<GeoIp>,
    /// How long loading the files took.
    pub load_duration: Duration,
}

/// The files an inventory is read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryFiles {
    /// Coverage zone file: Traffic Router CZF JSON, or CSV `cidr,zone` when the name ends in
    /// `.csv` (case-insensitive).
    pub coverage_zones: Option<PathBuf>,
    /// MaxMind DB with coordinates.
    pub geoip: Option<PathBuf>,
}

/// Why an inventory could not be loaded. Each variant names the file.
///
/// Displayed as `file: line L, column C: what is wrong` (or `file: what is wrong` when there
/// is no position). The display already says everything the
/// inner error does, so [`std::error::Error::source`] is `None`: an error chain printer that
/// follows sources would otherwise print the same message again after it.
#[derive(Debug)]
#[non_exhaustive]
pub enum InventoryError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The coverage zone file is malformed (the error carries line and column).
    CoverageZones {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        source: CzfError,
    },
    /// The GeoIP database could not be opened.
    GeoIp {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: GeoError,
    },
}

impl InventoryError {
    /// The file the error is in.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::CoverageZones { path, .. }
            | Self::GeoIp { path, .. } => path,
        }
    }

    /// 1-based line and column in [`Self::path`], when the error has a position.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            Self::CoverageZones {
                source: CzfError::Json { line, column, .. } | CzfError::Csv { line, column, .. },
                ..
            } => Some((*line, *column)),
            _ => None,
        }
    }

    /// What is wrong, without the file and position.
    pub fn detail(&self) -> String {
        match self {
            Self::Read { source, .. } => format!("cannot read the file: {source}"),
            Self::CoverageZones {
                source: CzfError::Json { message, .. } | CzfError::Csv { message, .. },
                ..
            } => message.clone(),
            Self::CoverageZones { source, .. } => source.to_string(),
            Self::GeoIp { source, .. } => source.to_string(),
        }
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.path().display())?;
        if let Some((line, column)) = self.location() {
            write!(f, "line {line}, column {column}: ")?;
        }
        write!(f, "{}", self.detail())
    }
}

impl std::error::Error for InventoryError {}

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
            for c in czf.conflicts().iter().take(20) {
                tracing::warn!(
                    file = %path.display(),
                    prefix = %c.prefix,
                    kept = %c.kept,
                    dropped = %c.dropped,
                    "coverage zone conflict: prefix listed for two zones, the first is kept"
                );
            }
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
        load_duration: started.elapsed(),
    })
}

#[cfg(test)]
mod tests;
