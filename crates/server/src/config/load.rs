//! Loading `switchyard.toml`: syntax, types and validation, every problem located as
//! `file:line:col`.
//!
//! serde stops at the first error, which is a poor experience for a file with several
//! mistakes, so each top-level section (and each element of an array of tables) is
//! deserialized on its own and the problems are collected. Paths of failing keys come from
//! `serde_path_to_error`; their positions come from the span-preserving `toml::de::DeTable`.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use switchyard_route::FleetSpec;
use toml::de::{DeTable, DeValue};

use super::{
    AdminConfig, Config, HealthConfig, InventoryConfig, LifecycleConfig, ListenConfig,
    MaintenanceConfig,
};

/// One thing wrong with a configuration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `inventory.nodes[2].zone`; empty for file-level problems.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line and column, when the key could be found in the source.
    pub location: Option<(usize, usize)>,
}

impl Problem {
    /// A problem at a key path, location filled in later by [`load_str`].
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), location: None }
    }
}

/// Everything wrong with one configuration file.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The file the problems are in (as given by the caller).
    pub origin: String,
    /// Every problem found, in file order where locations are known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.origin)?;
            if let Some((line, col)) = p.location {
                write!(f, ":{line}:{col}")?;
            }
            if p.path.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": {}: {}", p.path, p.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

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
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        origin: origin.clone(),
        problems: vec![Problem::at("", format!("cannot read the file: {e}"))],
    })?;
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
    let (spans, table) = parse_twice(source).map_err(|p| fail(vec![p]))?;
    let mut problems = Vec::new();
    // Sections that failed to deserialize keep their defaults, so the remaining sections are
    // still validated and every problem is reported in one pass.
    let config = assemble(table, &mut problems);
    problems.extend(config.validate(base_dir));
    let more = extra(&config, base_dir, &problems);
    problems.extend(more);
    locate_all(&mut problems, &spans, source);
    Ok(Loaded { config, error: fail(problems) })
}

const SECTIONS: &[&str] =
    &["listen", "admin", "lifecycle", "health", "maintenance", "inventory", "probe", "http", "dns"];

/// Deserializes each section independently so one bad section does not hide the others.
fn assemble(table: toml::Table, problems: &mut Vec<Problem>) -> Config {
    let mut config = Config::default();
    for (key, value) in table {
        match key.as_str() {
            "listen" => set(&mut config.listen, section::<ListenConfig>(value, &key, problems)),
            "admin" => set(&mut config.admin, section::<AdminConfig>(value, &key, problems)),
            "lifecycle" => {
                set(&mut config.lifecycle, section::<LifecycleConfig>(value, &key, problems))
            }
            "health" => set(&mut config.health, section::<HealthConfig>(value, &key, problems)),
            "maintenance" => {
                set(&mut config.maintenance, section::<MaintenanceConfig>(value, &key, problems))
            }
            "inventory" => set(&mut config.inventory, inventory(value, problems)),
            "probe" => set(&mut config.probe, section(value, &key, problems)),
            "http" => set(&mut config.http, section(value, &key, problems)),
            "dns" => set(&mut config.dns, section(value, &key, problems)),
            _ => problems.push(Problem::at(
                key.clone(),
                format!("unknown section `{key}`, expected one of: {}", SECTIONS.join(", ")),
            )),
        }
    }
    config
}

/// `[inventory]`: the fleet arrays are deserialized element by element so every bad node,
/// zone or service is reported, not only the first.
fn inventory(value: toml::Value, problems: &mut Vec<Problem>) -> Option<InventoryConfig> {
    let toml::Value::Table(mut table) = value else {
        return section::<InventoryConfig>(value, "inventory", problems);
    };
    let fleet = take_fleet(&mut table, "inventory.", problems);
    let mut inv = section::<InventoryConfig>(toml::Value::Table(table), "inventory", problems);
    if let (Some(inv), Some(fleet)) = (&mut inv, fleet) {
        inv.fleet = fleet;
    }
    inv
}

/// Removes the `nodes`, `zones` and `services` arrays from `table` and deserializes them
/// element by element (paths prefixed with `prefix`).
fn take_fleet(
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
    let nodes = elements(nodes, &format!("{prefix}nodes"), problems);
    let zones = elements(zones, &format!("{prefix}zones"), problems);
    let services = elements(services, &format!("{prefix}services"), problems);
    Some(FleetSpec { nodes: nodes?, zones: zones?, services: services? })
}

/// Reads a fleet file: `[[nodes]]`, `[[zones]]` and `[[services]]` at the top level, as in
/// `[inventory]`. Large fleets (tens of thousands of nodes) live in such a file so the main
/// configuration stays small and the listeners bind before the fleet is parsed.
///
/// The common case, a valid file, takes one serde pass; only a file with problems is parsed
/// again the slow way that locates every problem.
pub fn load_fleet_file(path: &Path) -> Result<FleetSpec, ConfigError> {
    let origin = path.display().to_string();
    let source = std::fs::read_to_string(path).map_err(|e| ConfigError {
        origin: origin.clone(),
        problems: vec![Problem::at("", format!("cannot read the fleet file: {e}"))],
    })?;
    if let Ok(fleet) = toml::from_str::<FleetSpec>(&source)
        && fleet.validate().is_ok()
    {
        return Ok(fleet);
    }
    let fail = |problems: Vec<Problem>| ConfigError { origin: origin.clone(), problems };
    let (spans, mut table) = parse_twice(&source).map_err(|p| fail(vec![p]))?;
    let mut problems = Vec::new();
    let fleet = take_fleet(&mut table, "", &mut problems);
    for key in table.keys() {
        problems.push(Problem::at(
            key.clone(),
            format!("unknown key `{key}`, expected one of: nodes, zones, services"),
        ));
    }
    if let Some(Err(errors)) = fleet.as_ref().map(FleetSpec::validate) {
        problems.extend(errors.into_iter().map(|e| Problem::at(e.path, e.message)));
    }
    locate_all(&mut problems, &spans, &source);
    match fleet {
        Some(f) if problems.is_empty() => Ok(f),
        _ => Err(fail(problems)),
    }
}

/// Parses the text into the span table and the value table, or the located syntax error.
fn parse_twice(source: &str) -> Result<(DeTable<'_>, toml::Table), Problem> {
    let spans = match DeTable::parse(source) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let location = e.span().map(|s| line_col(source, s.start));
            let message = format!("TOML syntax: {}", e.message().trim());
            return Err(Problem { path: String::new(), message, location });
        }
    };
    match toml::from_str(source) {
        Ok(t) => Ok((spans, t)),
        Err(e) => {
            let location = e.span().map(|s| line_col(source, s.start));
            Err(Problem { path: String::new(), message: e.message().trim().to_string(), location })
        }
    }
}

/// Fills in the location of every problem and sorts them in file order.
fn locate_all(problems: &mut [Problem], spans: &DeTable<'_>, source: &str) {
    for p in problems.iter_mut() {
        if p.location.is_none() {
            p.location = locate(spans, &p.path).map(|s| line_col(source, s.start));
        }
    }
    problems.sort_by_key(|p| p.location.unwrap_or((usize::MAX, 0)));
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Deserializes one value, recording a located problem on failure. Arrays of tables inside
/// the value are not split here; callers that want per-element errors use [`elements`].
///
/// serde stops at the first error, so after one the offending key is removed and the value
/// is deserialized again, until it succeeds or the next error cannot be trusted: one at a
/// table that contains a removed key (a "missing field" the removal itself caused, or a
/// check across fields that no longer sees them all). The value is returned when the only
/// keys removed were unknown ones, so the section's own semantic checks still run; a value
/// with a key of the wrong type removed would be checked against a default that is not in
/// the file, so the section then keeps its defaults.
pub(crate) fn section<T: DeserializeOwned>(
    value: toml::Value,
    base: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    /// Enough for any hand-written section; bounds the work on a pathological one.
    const MAX_ERRORS: usize = 64;
    let mut value = value;
    let mut removed_bad_values: Vec<Vec<Step>> = Vec::new();
    let mut reported = 0;
    loop {
        let e = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(v) => return removed_bad_values.is_empty().then_some(v),
            Err(e) => e,
        };
        let steps = steps(e.path());
        let inner = e.path().to_string();
        let message = e.into_inner().message().trim().to_string();
        if !removed_bad_values.is_empty() {
            let Some(steps) = &steps else { return None };
            if removed_bad_values.iter().any(|r| r.len() > steps.len() && r.starts_with(steps)) {
                return None;
            }
        }
        let path =
            if inner == "." || inner.is_empty() { base.to_string() } else { join(base, &inner) };
        let unknown_key = message.starts_with("unknown field `");
        problems.push(Problem::at(path, message));
        reported += 1;
        let steps = steps?;
        if reported >= MAX_ERRORS || !remove(&mut value, &steps) {
            return None;
        }
        if !unknown_key {
            removed_bad_values.push(steps);
        }
    }
}

/// One step of a path into a TOML value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of a serde error path, or `None` when it passes through something that is not
/// a plain table key or array index (an enum variant, or a position serde could not name).
fn steps(path: &serde_path_to_error::Path) -> Option<Vec<Step>> {
    path.iter()
        .map(|seg| match seg {
            serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
            _ => None,
        })
        .collect()
}

/// Removes the key `steps` leads to. Only a table key can go: removing an array element
/// would shift the indices of the elements after it. Returns whether a key was removed.
fn remove(value: &mut toml::Value, steps: &[Step]) -> bool {
    let Some((Step::Key(last), parents)) = steps.split_last() else { return false };
    let mut at = value;
    for step in parents {
        let next = match (step, at) {
            (Step::Key(k), toml::Value::Table(t)) => t.get_mut(k),
            (Step::Index(i), toml::Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        let Some(next) = next else { return false };
        at = next;
    }
    match at {
        toml::Value::Table(t) => t.remove(last).is_some(),
        _ => false,
    }
}

/// Deserializes every element of an array on its own, so each bad element is reported.
pub(crate) fn elements<T: DeserializeOwned>(
    values: Vec<toml::Value>,
    base: &str,
    problems: &mut Vec<Problem>,
) -> Option<Vec<T>> {
    let before = problems.len();
    let out: Vec<T> = values
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| section::<T>(v, &format!("{base}[{i}]"), problems))
        .collect();
    (problems.len() == before).then_some(out)
}

fn join(base: &str, inner: &str) -> String {
    if inner.starts_with('[') { format!("{base}{inner}") } else { format!("{base}.{inner}") }
}

/// Finds the source span of a dotted path such as `inventory.nodes[2].zone`. When a key on
/// the path is absent (a "missing field" problem, or a check on a setting left at its
/// default) the span of the nearest enclosing key or element that is present is returned.
pub(crate) fn locate(root: &DeTable<'_>, path: &str) -> Option<Range<usize>> {
    enum Seg<'a> {
        Key(&'a str),
        Index(usize),
    }
    let mut segs = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            segs.push(Seg::Key(key));
        }
        while let Some(end) = rest.find(']') {
            segs.push(Seg::Index(rest[1..end].parse().ok()?));
            rest = &rest[end + 1..];
        }
    }

    let mut best = None;
    let mut table = Some(root);
    let mut array: Option<&toml::de::DeArray<'_>> = None;
    for seg in segs {
        let value = match seg {
            Seg::Key(k) => {
                let Some((key, value)) = table.and_then(|t| t.get_key_value(k)) else { break };
                best = Some(key.span());
                value
            }
            Seg::Index(i) => {
                let Some(value) = array.and_then(|a| a.get(i)) else { break };
                best = Some(value.span());
                value
            }
        };
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(a),
            _ => {}
        }
    }
    best
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, source[line_start..offset].chars().count() + 1)
}
