//! TOML read the way an operator wants it reported: every problem at once, each at its
//! `file:line:col`.
//!
//! serde stops at the first error, which is a poor experience for a file with several
//! mistakes. A [`Document`] keeps two parses of the text: the span-preserving
//! `toml::de::DeTable` (byte span of every key and value) and a `toml::Table` to deserialize
//! from. Callers deserialize each section on its own with [`section`] (and each element of an
//! array of tables with [`elements`]), collecting the problems; [`Document::locate_all`] then
//! turns every problem's key path into a line and column.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};

use crate::{Problem, join, secret};

/// A TOML text parsed twice: for values and for the position of every key.
pub struct Document<'s> {
    source: &'s str,
    spans: DeTable<'s>,
}

impl<'s> Document<'s> {
    /// Parses `source`. A syntax error is returned as a problem with its location.
    pub fn parse(source: &'s str) -> Result<(Self, toml::Table), Problem> {
        let spans = match DeTable::parse(source) {
            Ok(t) => t.into_inner(),
            Err(e) => {
                let location = e.span().map(|s| line_col(source, s.start));
                let message = format!("TOML syntax: {}", e.message().trim());
                return Err(Problem { path: String::new(), message, location });
            }
        };
        match toml::from_str(source) {
            Ok(t) => Ok((Self { source, spans }, t)),
            Err(e) => {
                let location = e.span().map(|s| line_col(source, s.start));
                let message = e.message().trim().to_string();
                Err(Problem { path: String::new(), message, location })
            }
        }
    }

    /// Fills in the location of every problem that has none and sorts them in file order
    /// (problems without a location last).
    pub fn locate_all(&self, problems: &mut [Problem]) {
        for p in problems.iter_mut() {
            if p.location.is_none() {
                p.location = locate(&self.spans, &p.path).map(|s| line_col(self.source, s.start));
            }
        }
        problems.sort_by_key(|p| p.location.unwrap_or((usize::MAX, 0)));
    }
}

/// Deserializes one value, recording a located problem on failure. Arrays of tables inside
/// the value are not split here; callers that want per-element errors use [`elements`]. A
/// message about the value of a secret key ([`crate::secret`]) gives its kind, never the
/// value: problems end up on terminals, in reload answers and in logs.
///
/// serde stops at the first error, so after one the offending key is removed and the value
/// is deserialized again, until it succeeds or the next error cannot be trusted: one at a
/// table that contains a removed key (a "missing field" the removal itself caused, or a
/// check across fields that no longer sees them all). The value is returned when the only
/// keys removed were unknown ones, so the section's own semantic checks still run; a value
/// with a key of the wrong type removed would be checked against a default that is not in
/// the file, so the section then keeps its defaults.
pub fn section<T: DeserializeOwned>(
    value: toml::Value,
    base: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    /// Enough for any hand-written section; bounds the work on a pathological one.
    const MAX_ERRORS: usize = 64;
    let mut value = value;
    let mut removed_bad_values: Vec<Vec<Step>> = Vec::new();
    let mut reported = 0;
    // Taken before any key is removed, and only once something failed.
    let mut secrets: Option<Vec<String>> = None;
    loop {
        let e = match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(v) => return removed_bad_values.is_empty().then_some(v),
            Err(e) => e,
        };
        let steps = steps(e.path());
        let inner = e.path().to_string();
        let secrets = secrets.get_or_insert_with(|| secret::quoted_secrets(&value));
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
        let message = if secret::is_secret_path(&path) || secret::quotes_any(&message, secrets) {
            secret::hide_value(&message)
        } else {
            message
        };
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
pub fn elements<T: DeserializeOwned>(
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
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, source[line_start..offset].chars().count() + 1)
}
