//! `kind = "http"` settings: the request, what the answer must look like, and their checks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_config::Problems;

use super::super::regex_problem;
use super::super::tls::{TlsClient, tls_client_problems};

/// An inclusive range of acceptable status codes, written `"200"`, `"2xx"` or `"200-399"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StatusRange {
    /// Lowest accepted status.
    pub low: u16,
    /// Highest accepted status.
    pub high: u16,
}

impl StatusRange {
    /// True when `status` is inside the range.
    pub fn contains(&self, status: u16) -> bool {
        (self.low..=self.high).contains(&status)
    }
}

impl TryFrom<String> for StatusRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let s = s.trim();
        let bad = || format!("`{s}` is not a status, `Nxx` or `low-high`");
        if let Some(d) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            let d: u16 = d.parse().map_err(|_| bad())?;
            if !(1..=5).contains(&d) {
                return Err(bad());
            }
            return Ok(StatusRange { low: d * 100, high: d * 100 + 99 });
        }
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        let low: u16 = a.trim().parse().map_err(|_| bad())?;
        let high: u16 = b.trim().parse().map_err(|_| bad())?;
        if low > high || !(100..=599).contains(&low) || high > 599 {
            return Err(bad());
        }
        Ok(StatusRange { low, high })
    }
}

impl From<StatusRange> for String {
    fn from(r: StatusRange) -> String {
        if r.low == r.high { r.low.to_string() } else { format!("{}-{}", r.low, r.high) }
    }
}

/// `kind = "http"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    /// Request method. Default `GET`.
    #[serde(default = "d_method")]
    pub method: String,
    /// Request target (path and query). Default `/`.
    #[serde(default = "d_path")]
    pub path: String,
    /// `Host` header. Default: the node address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Use TLS (https) with these settings. Default: plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsClient>,
    /// Accepted statuses. Default `["200-399"]`.
    #[serde(default = "d_statuses")]
    pub expected_status: Vec<StatusRange>,
    /// Statuses that mark the node down at once, bypassing `fall` (Envoy treats a 503 this
    /// way). Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub immediate_down_status: Vec<u16>,
    /// Regex the body must match. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_must_match: Option<String>,
    /// Regex the body must not match. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_must_not_match: Option<String>,
    /// Header name -> regex its value must match (a missing header fails).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_must_match: BTreeMap<String, String>,
    /// Header name -> regex its value must not match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_must_not_match: BTreeMap<String, String>,
    /// Response header whose presence (with a value other than `0`/`false`) marks the node
    /// degraded. Default `x-switchyard-degraded`; empty string disables.
    #[serde(default = "d_degraded_header")]
    pub degraded_header: String,
    /// Reuse one pooled connection per node across probes (the cheap way, and what real
    /// clients do); false opens a fresh connection per probe. Default true.
    #[serde(default = "d_true")]
    pub keep_alive: bool,
    /// Body bytes read at most; the rest is not read. Default 65536.
    #[serde(default = "d_max_body")]
    pub max_body_bytes: usize,
}

fn d_method() -> String {
    "GET".to_owned()
}
fn d_path() -> String {
    "/".to_owned()
}
fn d_statuses() -> Vec<StatusRange> {
    vec![StatusRange { low: 200, high: 399 }]
}
fn d_degraded_header() -> String {
    "x-switchyard-degraded".to_owned()
}
fn d_true() -> bool {
    true
}
fn d_max_body() -> usize {
    65536
}

impl Default for HttpCheck {
    fn default() -> Self {
        HttpCheck {
            method: d_method(),
            path: d_path(),
            host: None,
            headers: BTreeMap::new(),
            tls: None,
            expected_status: d_statuses(),
            immediate_down_status: Vec::new(),
            body_must_match: None,
            body_must_not_match: None,
            header_must_match: BTreeMap::new(),
            header_must_not_match: BTreeMap::new(),
            degraded_header: d_degraded_header(),
            keep_alive: true,
            max_body_bytes: d_max_body(),
        }
    }
}

impl HttpCheck {
    pub(crate) fn problems(&self, p: &mut Problems) {
        if self.method.is_empty() || !self.method.bytes().all(|b| b.is_ascii_uppercase()) {
            p.push("method", "must be an upper-case token such as GET or HEAD");
        }
        if !self.path.starts_with('/') || self.path.bytes().any(|b| b <= b' ') {
            p.push("path", "must start with `/` and contain no spaces or control bytes");
        }
        if self.expected_status.is_empty() {
            p.push("expected_status", "must list at least one status range");
        }
        for (name, value) in &self.headers {
            let field = format!("headers.{name}");
            if !is_token(name) {
                p.push(
                    &field,
                    "is not a valid header name: use letters, digits and !#$%&'*+-.^_`|~ only",
                );
            } else if let Some(why) = probe_written_header(name) {
                p.push(&field, why);
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n') {
                p.push(&field, "value must not contain CR or LF");
            } else if value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f) {
                p.push(&field, "value must not contain control bytes (tab is allowed)");
            }
        }
        for (field, map) in [
            ("header_must_match", &self.header_must_match),
            ("header_must_not_match", &self.header_must_not_match),
        ] {
            for name in map.keys().filter(|n| !is_token(n)) {
                p.push(
                    &format!("{field}.{name}"),
                    "is not a valid header name, so no response header can have it: use \
                     letters, digits and !#$%&'*+-.^_`|~ only",
                );
            }
        }
        if self.method == "HEAD" {
            for (field, set) in [
                ("body_must_match", self.body_must_match.is_some()),
                ("body_must_not_match", self.body_must_not_match.is_some()),
            ] {
                if set {
                    p.push(
                        field,
                        "cannot be checked with method = \"HEAD\": a HEAD reply has no body; \
                         use GET or drop this rule",
                    );
                }
            }
        }
        for (i, &status) in self.immediate_down_status.iter().enumerate() {
            let field = format!("immediate_down_status[{i}]");
            if !(100..=599).contains(&status) {
                p.push(&field, format!("{status} is not an HTTP status: must be 100 to 599"));
            } else if let Some(r) = self.expected_status.iter().find(|r| r.contains(status)) {
                p.push(
                    &field,
                    format!(
                        "{status} is also accepted by expected_status (`{}`), so it can never \
                         take effect: only a status outside expected_status marks the node down",
                        String::from(*r)
                    ),
                );
            }
        }
        if let Some(t) = &self.tls {
            tls_client_problems(p, "tls", t, self.host.as_deref().map(|h| ("host", h)));
            for (i, proto) in t.alpn.iter().enumerate() {
                if proto == "h2" {
                    p.push(
                        &format!("tls.alpn[{i}]"),
                        "the HTTP check speaks HTTP/1.1 only, and a server that selects h2 \
                         would not understand its request: offer `http/1.1` or no ALPN",
                    );
                }
            }
        }
        if let Some(h) = &self.host
            && h.bytes().any(|b| b <= b' ')
        {
            p.push("host", "must not contain spaces or control bytes");
        }
        for (field, re) in [
            ("body_must_match", &self.body_must_match),
            ("body_must_not_match", &self.body_must_not_match),
        ] {
            if let Some(re) = re {
                regex_problem(p, field, re);
            }
        }
        for (field, map) in [
            ("header_must_match", &self.header_must_match),
            ("header_must_not_match", &self.header_must_not_match),
        ] {
            for (name, re) in map {
                regex_problem(p, &format!("{field}.{name}"), re);
            }
        }
        if self.max_body_bytes > 16 * 1024 * 1024 {
            p.push("max_body_bytes", "must be at most 16 MiB");
        }
    }
}

/// RFC 9110 `token`, the syntax of header names.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Why `name` may not be set in `headers`: the probe writes it itself, or it announces a
/// request body the probe never sends.
fn probe_written_header(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "host" => "is written by the probe: set the `host` field instead",
        "connection" => {
            "is written by the probe from `keep_alive` (keep-alive or close): set `keep_alive` \
             instead"
        }
        "content-length" | "transfer-encoding" => {
            "must not be set: the probe sends no request body, and this header would make the \
             server wait for one or misread the next request on the connection"
        }
        _ => return None,
    })
}
