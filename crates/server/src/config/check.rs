//! `check-config`: everything `serve` reads before it binds its listeners, checked without
//! binding anything.
//!
//! `serve` loads the configuration, then the admin token and the exposure rule, and after
//! binding the inventory files (fleet file, coverage zones, GeoIP database). A file that
//! passes [`check_file`] passes all of those with the same code, so an operator can trust
//! `check-config` to predict whether `serve` starts.

use std::fmt;
use std::path::{Path, PathBuf};

use switchyard_config::{ConfigError, Problem};
use switchyard_fleet::{InventoryFiles, load_fleet_file};
use switchyard_route::FleetSpec;

use super::load::load_file_with;
use super::sections::Config;
use super::token;

/// Every problem [`check_file`] found, grouped by the file each one is in.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// One entry per file with problems: the configuration first, then the inventory files
    /// it names, in the order `serve` reads them.
    pub files: Vec<ConfigError>,
}

impl CheckReport {
    /// How many problems there are in all the files.
    pub fn problem_count(&self) -> usize {
        self.files.iter().map(|f| f.problems.len()).sum()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, file) in self.files.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{file}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CheckReport {}

/// Checks a configuration file and everything it names the way `serve` reads them, and
/// reports every problem found, each with its file and, where it has one, line and column.
///
/// `admin_token_env` is the value of `SWITCHYARD_ADMIN_TOKEN` (which `serve` prefers over
/// `admin.token_file`), so the exposure rule is judged as `serve` would judge it in the same
/// environment. Nothing is bound and nothing is started.
pub fn check_file(path: &Path, admin_token_env: Option<String>) -> Result<Config, CheckReport> {
    let loaded = load_file_with(path, |config, base, found| {
        admin_problems(config, base, admin_token_env, found)
    })
    .map_err(|e| CheckReport { files: vec![e] })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let inventory = inventory_problems(&loaded.config, &base, &loaded.error.problems);
    let mut report = CheckReport::default();
    if !loaded.error.problems.is_empty() {
        report.files.push(loaded.error);
    }
    report.files.extend(inventory);
    if report.files.is_empty() { Ok(loaded.config) } else { Err(report) }
}

/// Whether a problem was already reported at `key` or inside it.
fn reported(found: &[Problem], key: &str) -> bool {
    found.iter().any(|p| {
        p.path.strip_prefix(key).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    })
}

/// The admin token `serve` would load and the exposure rule it enforces with it.
fn admin_problems(
    config: &Config,
    base: &Path,
    env: Option<String>,
    found: &[Problem],
) -> Vec<Problem> {
    const TOKEN_FILE: &str = "admin.token_file";
    if env.is_none() && reported(found, TOKEN_FILE) {
        // Already reported missing; reading it would only say so again.
        return Vec::new();
    }
    let from_env = env.is_some();
    let token_file = config.admin.token_file.as_ref().map(|f| base.join(f));
    let token = match token::load_token(env, token_file.as_deref()) {
        Ok(token) => token,
        Err(e) if from_env => return vec![Problem::at("", e.to_string())],
        Err(e) => {
            // The loader names the key for `serve`'s one-line error; here the problem's
            // path already does.
            let text = e.to_string();
            let message = text.strip_prefix(TOKEN_FILE).map_or(text.as_str(), str::trim_start);
            return vec![Problem::at(TOKEN_FILE, message)];
        }
    };
    match token::check_exposure(config.listen.admin, config.admin.mutations_enabled, token.as_ref())
    {
        Ok(()) => Vec::new(),
        Err(e) => vec![Problem::at("listen.admin", e.to_string())],
    }
}

/// Loads each inventory file the configuration names with the loaders `serve` uses, one at
/// a time so a bad coverage zone file does not hide a bad GeoIP database. A file whose key
/// already has a problem (it does not exist, say) is not read again.
fn inventory_problems(config: &Config, base: &Path, found: &[Problem]) -> Vec<ConfigError> {
    let inv = &config.inventory;
    let mut out = Vec::new();
    if let Some(file) = &inv.fleet_file
        && !reported(found, "inventory.fleet_file")
        && let Err(e) = load_fleet_file(&base.join(file))
    {
        out.push(e);
    }
    let coverage = inv
        .coverage_zones_file
        .as_ref()
        .map(|f| InventoryFiles { coverage_zones: Some(base.join(f)), geoip: None });
    let geoip = inv
        .geoip_file
        .as_ref()
        .map(|f| InventoryFiles { coverage_zones: None, geoip: Some(base.join(f)) });
    for (key, files) in
        [("inventory.coverage_zones_file", coverage), ("inventory.geoip_file", geoip)]
    {
        let Some(files) = files else { continue };
        if reported(found, key) {
            continue;
        }
        if let Err(e) = switchyard_fleet::load_files(FleetSpec::default(), &files) {
            out.push(e.to_config_error());
        }
    }
    if !reported(found, "inventory.deep_coverage_zones_file")
        && let Err(e) = inv.load_deep_coverage_zones(base)
    {
        out.push(e.to_config_error());
    }
    out
}
