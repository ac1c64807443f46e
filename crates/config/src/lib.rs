//! Configuration problems that say what is wrong and where, for every crate of Switchyard
//! that owns a configuration section.
//!
//! A [`Problem`] names the dotted key path it concerns (`probe.default.check.path`,
//! `inventory.nodes[2].zone`) and, once the source text is known, its line and column. Each
//! section's `validate` returns every problem at once, collected with a [`Problems`]
//! builder under the section's path; a [`ConfigError`] lists them for one file. The
//! [`document`] module reads TOML one section at a time so one bad key does not hide
//! the others, and places every problem at its `file:line:col`.
//!
//! ```
//! use switchyard_config::{Problem, Problems};
//!
//! struct Limits { max_in_flight: usize }
//!
//! impl Limits {
//!     fn validate(&self, at: &str) -> Vec<Problem> {
//!         let mut p = Problems::new(at);
//!         if self.max_in_flight == 0 {
//!             p.push("max_in_flight", "must be at least 1");
//!         }
//!         p.into_vec()
//!     }
//! }
//!
//! let problems = Limits { max_in_flight: 0 }.validate("probe.engine");
//! assert_eq!(problems[0].to_string(), "probe.engine.max_in_flight: must be at least 1");
//! ```

pub mod document;
pub mod secret;

use std::fmt;

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
    /// A problem at a key path; its location is filled in once the source is known.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into(), location: None }
    }

    /// The same problem under `prefix` (`nodes[2].zone` under `inventory` is
    /// `inventory.nodes[2].zone`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = join(prefix, &self.path);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Problem {}

/// Collects problems under a path prefix, so a section's checks name only their own keys.
#[derive(Debug, Default)]
pub struct Problems {
    at: String,
    list: Vec<Problem>,
}

impl Problems {
    /// An empty collection for the section at `at` (`""` for the top level).
    pub fn new(at: &str) -> Self {
        Self { at: at.to_owned(), list: Vec::new() }
    }

    /// The path of `field` under this collection's prefix.
    pub fn path(&self, field: &str) -> String {
        join(&self.at, field)
    }

    /// Records a problem at `field` (a key, `key[3]` or `key.sub`), relative to the prefix.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        let path = self.path(field);
        self.list.push(Problem::at(path, message));
    }

    /// An empty collection for the sub-section `field`; hand it back with [`Problems::merge`].
    pub fn section(&self, field: &str) -> Problems {
        Problems::new(&self.path(field))
    }

    /// Takes in the problems of a sub-section collection.
    pub fn merge(&mut self, section: Problems) {
        self.list.extend(section.list);
    }

    /// Adds problems whose paths are already complete.
    pub fn extend(&mut self, problems: impl IntoIterator<Item = Problem>) {
        self.list.extend(problems);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The problems found, in the order they were pushed.
    pub fn into_vec(self) -> Vec<Problem> {
        self.list
    }
}

/// Joins a path prefix and a relative path: `a` + `b` is `a.b`, `a` + `[1]` is `a[1]`.
pub fn join(prefix: &str, inner: &str) -> String {
    match (prefix.is_empty(), inner.is_empty()) {
        (true, _) => inner.to_owned(),
        (false, true) => prefix.to_owned(),
        _ if inner.starts_with('[') => format!("{prefix}{inner}"),
        _ => format!("{prefix}.{inner}"),
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

impl ConfigError {
    /// A single problem of the whole file (it cannot be read, say).
    pub fn file(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Self { origin: origin.into(), problems: vec![Problem::at("", message)] }
    }
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
            write!(f, ": {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests;
