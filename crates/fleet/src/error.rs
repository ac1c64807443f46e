//! Why an inventory could not be loaded from its files.

use std::fmt;
use std::path::{Path, PathBuf};

use switchyard_config::{ConfigError, Problem};
use switchyard_route::{CzfError, GeoError};

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
    /// The fleet file does not parse or validate; every problem is listed, each located.
    FleetFile(ConfigError),
}

impl InventoryError {
    /// The file the error is in.
    pub fn path(&self) -> &Path {
        match self {
            Self::Read { path, .. }
            | Self::CoverageZones { path, .. }
            | Self::GeoIp { path, .. } => path,
            Self::FleetFile(e) => Path::new(&e.origin),
        }
    }

    /// Every problem, as a configuration error of the file it is in.
    pub fn to_config_error(&self) -> ConfigError {
        match self {
            Self::FleetFile(e) => e.clone(),
            _ => ConfigError {
                origin: self.path().display().to_string(),
                problems: vec![Problem {
                    path: String::new(),
                    message: self.detail(),
                    location: self.location(),
                }],
            },
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
            Self::FleetFile(e) => e.to_string(),
        }
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Self::FleetFile(e) = self {
            // Already `file:line:col: ...` for every problem.
            return write!(f, "{e}");
        }
        write!(f, "{}: ", self.path().display())?;
        if let Some((line, column)) = self.location() {
            write!(f, "line {line}, column {column}: ")?;
        }
        write!(f, "{}", self.detail())
    }
}

impl std::error::Error for InventoryError {}
