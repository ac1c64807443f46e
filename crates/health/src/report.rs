//! The result of evaluating an endpoint, and its rendering in the apiserver's text format or
//! as JSON.
//!
//! The text follows `k8s.io/apiserver/pkg/server/healthz` byte for byte: `ok` when passing,
//! `[+]name ok` lines under `?verbose`, failures always listed with the reason withheld, and
//! the body of a failed response ending in `<endpoint> check failed` plus the newline Go's
//! `http.Error` appends.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::check::Endpoint;
use crate::error::CheckError;

/// `Content-Type` of text bodies.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";
/// `Content-Type` of JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// What the aggregated endpoints print instead of a failed check's error.
pub const REASON_WITHHELD: &str = "reason withheld";

/// The output format asked for with `?format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The apiserver's plain text.
    #[default]
    Text,
    /// `?format=json`.
    Json,
}

/// The query parameters the endpoints understand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `?verbose` (any value, as in k8s, where only the key's presence counts).
    pub verbose: bool,
    /// `?exclude=name`, repeatable: these checks are skipped and shown as `excluded: ok`.
    pub exclude: Vec<String>,
    /// `?format=json` for JSON, text otherwise.
    pub format: Format,
}

impl Query {
    /// Parses a raw, percent-encoded query string (without the `?`). Unknown keys are ignored.
    pub fn parse(raw: &str) -> Query {
        let mut query = Query::default();
        if raw.is_empty() {
            return query;
        }
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            match &*key {
                "verbose" => query.verbose = true,
                "exclude" => query.exclude.push(value.into_owned()),
                "format" => {
                    query.format = if value == "json" { Format::Json } else { Format::Text }
                }
                _ => {}
            }
        }
        query
    }

    pub(crate) fn excludes(&self, name: &str) -> bool {
        self.exclude.iter().any(|excluded| excluded == name)
    }
}

/// How one check fared in an evaluation.
#[derive(Debug, Clone)]
pub enum CheckStatus {
    /// The check passed (or is inside the livez grace period).
    Passed,
    /// The check failed; the error is shown only on the single-check endpoint.
    Failed(CheckError),
    /// Skipped through `?exclude=`.
    Excluded,
    /// A conditional check whose toggle is off: not run, counts as passed.
    Inactive,
}

/// One line of a report.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The check's name.
    pub name: Arc<str>,
    /// Its status.
    pub status: CheckStatus,
    /// How long the run that produced the status took (zero when excluded or not run).
    pub duration: Duration,
    /// What a passing check warns of ([`Check::warn_when`](crate::Check::warn_when)).
    pub warning: Option<String>,
}

/// Whether a report covers a whole endpoint or one check of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/readyz`: every check of the endpoint.
    Endpoint,
    /// `/readyz/<name>`: one check, with its real error.
    Single,
}

/// The outcome of evaluating an endpoint.
#[derive(Debug, Clone)]
pub struct Report {
    pub(crate) endpoint: Endpoint,
    pub(crate) scope: Scope,
    pub(crate) verbose: bool,
    pub(crate) format: Format,
    /// Show failed checks' errors on the aggregated endpoints too.
    pub(crate) show_reasons: bool,
    pub(crate) checks: Vec<CheckReport>,
    /// Sorted, deduplicated names from `?exclude=` that matched no check.
    pub(crate) unmatched_excludes: Vec<String>,
}

/// A rendered response: what any HTTP framework needs to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// HTTP status code: 200, 500, or 404 for an unknown check.
    pub status: u16,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The body; static for the common `ok`, so the hot path allocates no body.
    pub body: Cow<'static, str>,
}

impl Rendered {
    /// The answer for a path that names no endpoint or check, like Go's `http.NotFound`.
    pub fn not_found() -> Rendered {
        Rendered {
            status: 404,
            content_type: TEXT_CONTENT_TYPE,
            body: Cow::Borrowed("404 page not found\n"),
        }
    }
}

impl Report {
    /// The endpoint evaluated.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// Whole endpoint or single check.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// True when no check that ran failed.
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(|check| matches!(check.status, CheckStatus::Failed(_)))
    }

    /// Every check of the endpoint, in registration order.
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// Names from `?exclude=` that matched no check, sorted.
    pub fn unmatched_excludes(&self) -> &[String] {
        &self.unmatched_excludes
    }

    /// Renders in the format the query asked for.
    pub fn render(&self) -> Rendered {
        match self.format {
            Format::Text => self.render_text(),
            Format::Json => self.render_json(),
        }
    }

    /// The apiserver's text format.
    pub fn render_text(&self) -> Rendered {
        let passed = self.passed();
        let status = if passed { 200 } else { 500 };
        if self.scope == Scope::Single {
            let body = match self.checks.iter().find_map(|check| match &check.status {
                CheckStatus::Failed(err) => Some(err),
                _ => None,
            }) {
                None => Cow::Borrowed("ok"),
                Some(err) => Cow::Owned(format!("internal server error: {err}\n")),
            };
            return Rendered { status, content_type: TEXT_CONTENT_TYPE, body };
        }
        if passed && !self.verbose {
            return Rendered { status, content_type: TEXT_CONTENT_TYPE, body: Cow::Borrowed("ok") };
        }
        let mut body = String::with_capacity(32 * (self.checks.len() + 2));
        for check in &self.checks {
            // Writing to a String cannot fail.
            let _ = match &check.status {
                CheckStatus::Passed => writeln!(body, "[+]{} ok", check.name),
                CheckStatus::Excluded => writeln!(body, "[+]{} excluded: ok", check.name),
                CheckStatus::Inactive => writeln!(body, "[+]{} inactive: ok", check.name),
                CheckStatus::Failed(err) if self.show_reasons => {
                    writeln!(body, "[-]{} failed: {err}", check.name)
                }
                CheckStatus::Failed(_) => {
                    writeln!(body, "[-]{} failed: {REASON_WITHHELD}", check.name)
                }
            };
        }
        if !self.unmatched_excludes.is_empty() {
            body.push_str("warn: ");
            self.write_exclude_warning(&mut body);
            body.push('\n');
        }
        for (name, warning) in self.check_warnings() {
            let _ = writeln!(body, "warn: {name}: {warning}");
        }
        let _ =
            writeln!(body, "{} check {}", self.endpoint, if passed { "passed" } else { "failed" });
        Rendered { status, content_type: TEXT_CONTENT_TYPE, body: Cow::Owned(body) }
    }

    /// The same content as JSON: every check with its status, error (withheld unless this is
    /// a single-check report) and duration in seconds.
    pub fn render_json(&self) -> Rendered {
        let passed = self.passed();
        let mut warnings = Vec::new();
        if !self.unmatched_excludes.is_empty() {
            let mut warning = String::new();
            self.write_exclude_warning(&mut warning);
            warnings.push(warning);
        }
        warnings.extend(self.check_warnings().map(|(name, warning)| format!("{name}: {warning}")));
        let checks = self
            .checks
            .iter()
            .map(|check| {
                let (status, error) = match &check.status {
                    CheckStatus::Passed => ("ok", None),
                    CheckStatus::Excluded => ("excluded", None),
                    CheckStatus::Inactive => ("inactive", None),
                    CheckStatus::Failed(err) => (
                        "failed",
                        Some(if self.scope == Scope::Single || self.show_reasons {
                            Cow::Owned(err.to_string())
                        } else {
                            Cow::Borrowed(REASON_WITHHELD)
                        }),
                    ),
                };
                JsonCheck {
                    name: &check.name,
                    status,
                    error,
                    warning: check.warning.as_deref(),
                    duration_seconds: check.duration.as_secs_f64(),
                }
            })
            .collect();
        let json = JsonReport {
            endpoint: self.endpoint.as_str(),
            status: if passed { "passed" } else { "failed" },
            checks,
            warnings,
        };
        let body = serde_json::to_string(&json).unwrap_or_else(|_| String::from("{}"));
        Rendered {
            status: if passed { 200 } else { 500 },
            content_type: JSON_CONTENT_TYPE,
            body: Cow::Owned(body),
        }
    }

    /// `some health checks cannot be excluded: no matches for "a","b"` (Go's `%q`, joined by
    /// a comma as k8s `formatQuoted` does).
    /// The passing checks' warnings, by check name.
    fn check_warnings(&self) -> impl Iterator<Item = (&str, &str)> {
        self.checks.iter().filter_map(|c| Some((&*c.name, c.warning.as_deref()?)))
    }

    fn write_exclude_warning(&self, out: &mut String) {
        out.push_str("some health checks cannot be excluded: no matches for ");
        for (i, name) in self.unmatched_excludes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_go_quoted(out, name);
        }
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    endpoint: &'static str,
    status: &'static str,
    checks: Vec<JsonCheck<'a>>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct JsonCheck<'a> {
    name: &'a str,
    status: &'static str,
    error: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<&'a str>,
    duration_seconds: f64,
}

/// Quotes like Go's `%q`: backslash escapes for `"`, `\` and control characters, printable
/// Unicode kept as is. The names come from the client, so nothing it sends can break a line.
pub(crate) fn write_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
