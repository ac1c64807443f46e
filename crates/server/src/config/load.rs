//! Loading `switchyard.toml`: syntax, types and validation, every problem located as
//! `file:line:col`.
//!
//! Each top-level section (and each element of an array of tables) is deserialized on its own
//! through `switchyard_config::document`, so one bad section does not hide the others, and
//! the problems of all of them are reported together.

use std::path::{Path, PathBuf};

use switchyard_config::document::{Document, section};
use switchyard_config::{ConfigError, Problem};
use switchyard_fleet::InventoryConfig;

use super::sections::{AdminConfig, Config, LifecycleConfig, ListenConfig, MaintenanceConfig};

/// Reads, parses and validates a configuration file. Relative paths inside it are resolved
/// against the file's folder.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let loaded = load_file_with(path, |_, _, _| Vec::new())?;
    loaded.into_result()
}

/// Parses and validates configuration text. `origin` names it in messages.
pub fn load_str(source: &str, origin: &str, base_dir: &Path) -> Result<Config, ConfigError> {
    load_str_with(source, origin, base_dir, |_, _, _| Vec::new())?.into_result()
}

/// A configuration read as far as it could be, with every problem found in it, located.
/// Sections that failed to deserialize keep their defaults.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// The configuration, defaults standing in for what could not be read.
    pub config: Config,
    /// Every problem, located and in file order; empty when the file is good.
    pub error: ConfigError,
}

impl Loaded {
    fn into_result(self) -> Result<Config, ConfigError> {
        if self.error.problems.is_empty() { Ok(self.config) } else { Err(self.error) }
    }
}

/// [`load_file`] that keeps what it could read and runs `extra` checks whose problems are
/// located in this file like the others. `extra` is given the configuration, the folder
/// relative paths resolve against, and the problems found so far (so a key already reported
/// is not reported again). Fails only when the file cannot be read or is not TOML.
pub(crate) fn load_file_with(
    path: &Path,
    extra: impl FnOnce(&Config, &Path, &[Problem]) -> Vec<Problem>,
) -> Result<Loaded, ConfigError> {
    let origin = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::file(&origin, format!("cannot read the file: {e}")))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    load_str_with(&source, &origin, &base, extra)
}

fn load_str_with(
    source: &str,
    origin: &str,
    base_dir: &Path,
    extra: impl FnOnce(&Config, &Path, &[Problem]) -> Vec<Problem>,
) -> Result<Loaded, ConfigError> {
    let fail = |problems: Vec<Problem>| ConfigError { origin: origin.to_string(), problems };
    let (doc, table) = Document::parse(source).map_err(|p| fail(vec![p]))?;
    let mut problems = Vec::new();
    // Sections that failed to deserialize keep their defaults, so the remaining sections are
    // still validated and every problem is reported in one pass.
    let config = assemble(table, &mut problems);
    problems.extend(config.validate(base_dir));
    let more = extra(&config, base_dir, &problems);
    problems.extend(more);
    doc.locate_all(&mut problems);
    Ok(Loaded { config, error: fail(problems) })
}

const SECTIONS: &[&str] = &[
    "listen",
    "admin",
    "lifecycle",
    "health",
    "maintenance",
    "inventory",
    "probe",
    "http",
    "dns",
    "telemetry",
];

/// Deserializes each section independently so one bad section does not hide the others.
/// Each crate's section type is read here; the sections validate themselves afterwards.
fn assemble(table: toml::Table, problems: &mut Vec<Problem>) -> Config {
    let mut config = Config::default();
    for (key, value) in table {
        match key.as_str() {
            "listen" => set(&mut config.listen, section::<ListenConfig>(value, &key, problems)),
            "admin" => set(&mut config.admin, section::<AdminConfig>(value, &key, problems)),
            "lifecycle" => {
                set(&mut config.lifecycle, section::<LifecycleConfig>(value, &key, problems))
            }
            "health" => set(&mut config.health, section(value, &key, problems)),
            "maintenance" => {
                set(&mut config.maintenance, section::<MaintenanceConfig>(value, &key, problems))
            }
            "inventory" => {
                set(&mut config.inventory, InventoryConfig::read_section(value, problems))
            }
            "probe" => set(&mut config.probe, section(value, &key, problems)),
            "http" => set(&mut config.http, section(value, &key, problems)),
            "dns" => set(&mut config.dns, section(value, &key, problems)),
            "telemetry" => set(&mut config.telemetry, section(value, &key, problems)),
            _ => problems.push(Problem::at(
                key.clone(),
                format!("unknown section `{key}`, expected one of: {}", SECTIONS.join(", ")),
            )),
        }
    }
    config
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}
