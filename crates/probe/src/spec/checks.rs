//! Per-kind check settings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Problems;

/// What to check, selected by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
// Built once per configured service and shared behind `Arc<ProbeSpec>`: size does not matter,
// plain variants keep TOML-to-struct construction simple.
#[allow(clippy::large_enum_variant)]
pub enum Check {
    /// TCP connect, optionally send a line and match the reply.
    Tcp(TcpCheck),
    /// TLS handshake with SNI/ALPN and certificate expiry thresholds.
    Tls(TlsCheck),
    /// HTTP/1.1 request, plain or over TLS.
    Http(HttpCheck),
    /// DNS query over UDP.
    Dns(DnsCheck),
    /// `grpc.health.v1.Health/Check` over HTTP/2, cleartext or TLS.
    Grpc(GrpcCheck),
    /// HAProxy agent-check as the only check.
    Agent(AgentCheck),
    /// SNMP interface utilization and load average.
    Snmp(SnmpCheck),
}

impl Check {
    /// Label value for metrics.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Check::Tcp(_) => "tcp",
            Check::Tls(_) => "tls",
            Check::Http(h) if h.tls.is_some() => "https",
            Check::Http(_) => "http",
            Check::Dns(_) => "dns",
            Check::Grpc(g) if g.tls.is_some() => "grpcs",
            Check::Grpc(_) => "grpc",
            Check::Agent(_) => "agent",
            Check::Snmp(_) => "snmp",
        }
    }

    pub(crate) fn problems(&self, p: &mut Problems<'_>) {
        match self {
            Check::Tcp(c) => {
                if let Some(e) = &c.expect {
                    regex_problem(p, "expect", e);
                }
            }
            Check::Tls(c) => c.problems(p),
            Check::Http(c) => c.problems(p),
            Check::Dns(c) => c.problems(p),
            Check::Grpc(c) => c.problems(p),
            Check::Agent(c) => c.problems(p),
            Check::Snmp(c) => c.problems(p),
        }
    }
}

fn regex_problem(p: &mut Problems<'_>, field: &str, re: &str) {
    if let Err(e) = regex::Regex::new(re) {
        p.push(field, format!("invalid regex: {e}"));
    }
}

/// `kind = "tcp"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    /// Bytes to send after connecting (escape sequences are not interpreted). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Regex the first data received must match; without it a connect is enough. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
}

/// TLS client settings shared by `tls` and `https` checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsClient {
    /// Server name sent in SNI and verified against the certificate. Default: the `host` of an
    /// HTTP check, else `localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// ALPN protocols to offer, e.g. `["h2", "http/1.1"]`. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// PEM file of trust anchors. Default: `/etc/ssl/certs/ca-certificates.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Skip chain and name verification (expiry is still measured and judged). Default false.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `kind = "tls"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCheck {
    /// Client settings.
    #[serde(flatten)]
    pub client: TlsClient,
    /// ALPN protocol the server must select, if set. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_alpn: Option<String>,
    /// Degraded when the certificate expires in fewer days than this. Default 14.
    #[serde(default = "d_degraded_days")]
    pub expiry_degraded_days: i64,
    /// Down when the certificate expires in fewer days than this. Default 2.
    #[serde(default = "d_down_days")]
    pub expiry_down_days: i64,
}

fn d_degraded_days() -> i64 {
    14
}
fn d_down_days() -> i64 {
    2
}

impl Default for TlsCheck {
    fn default() -> Self {
        TlsCheck {
            client: TlsClient::default(),
            expect_alpn: None,
            expiry_degraded_days: d_degraded_days(),
            expiry_down_days: d_down_days(),
        }
    }
}

impl TlsClient {
    /// Problems the TLS setup would otherwise only meet when the probe is compiled, where they
    /// carry no field path. `default_name` is the field and value the server name is taken from
    /// when `sni` is not set (the `host` of an HTTP check, the `authority` host of a gRPC one).
    pub(crate) fn problems(&self, p: &mut Problems<'_>, default_name: Option<(&str, &str)>) {
        match (&self.sni, default_name) {
            (Some(name), _) if !is_server_name(name) => p.push(
                "sni",
                format!(
                    "`{name}` is not a valid server name: use a DNS name such as \
                     `api.example.com` or an IP address, without port, scheme or spaces"
                ),
            ),
            (None, Some((field, name))) if !is_server_name(name) => p.push(
                "sni",
                format!(
                    "is not set, so the server name is taken from `{field}` (`{name}`), which is \
                     not a valid server name: set `sni` to a DNS name or IP address"
                ),
            ),
            _ => {}
        }
        for (i, proto) in self.alpn.iter().enumerate() {
            if proto.is_empty() || proto.len() > 255 {
                p.push(
                    &format!("alpn[{i}]"),
                    format!(
                        "is {} bytes long; an ALPN protocol name is 1 to 255 bytes, e.g. `h2` or \
                         `http/1.1`",
                        proto.len()
                    ),
                );
            }
        }
        if let Some(path) = &self.ca_file
            && let Err(why) = ca_file_problem(path)
        {
            p.push("ca_file", format!("`{}` {why}", path.display()));
        }
    }
}

/// Whether rustls accepts `name` for SNI and certificate verification: a DNS name or an IP
/// address, as the compile step in `kind::tls` demands.
fn is_server_name(name: &str) -> bool {
    rustls::pki_types::ServerName::try_from(name).is_ok()
}

/// Why `path` cannot serve as trust anchors. Read here so a typo is reported with its field
/// when the config is checked, not when the probe is built.
fn ca_file_problem(path: &std::path::Path) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file: name a PEM file of CA certificates".to_owned());
    }
    let mut certs = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("cannot be read: {e}"))? {
        cert.map_err(|e| format!("is not a valid PEM file: {e}"))?;
        certs += 1;
    }
    if certs == 0 {
        return Err("holds no PEM certificate (`-----BEGIN CERTIFICATE-----`), so no server \
                    could be verified"
            .to_owned());
    }
    Ok(())
}

/// Runs `client.problems` with paths under `field` of `p` (e.g. `check.tls.sni`).
fn tls_client_problems(
    p: &mut Problems<'_>,
    field: &str,
    client: &TlsClient,
    default_name: Option<(&str, &str)>,
) {
    let at = super::join(p.at, field);
    client.problems(&mut Problems { at: &at, list: p.list }, default_name);
}

impl TlsCheck {
    fn problems(&self, p: &mut Problems<'_>) {
        if self.expiry_down_days > self.expiry_degraded_days {
            p.push("expiry_down_days", "must not exceed expiry_degraded_days");
        }
        // The client is flattened into the check, so its fields sit beside the check's own.
        self.client.problems(p, None);
        if let Some(want) = &self.expect_alpn
            && !self.client.alpn.contains(want)
        {
            p.push(
                "expect_alpn",
                format!(
                    "`{want}` is not offered in `alpn` ({:?}); a server can only select a \
                     protocol the probe offers, so add it to `alpn`",
                    self.client.alpn
                ),
            );
        }
    }
}

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
    fn problems(&self, p: &mut Problems<'_>) {
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

/// `kind = "dns"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsCheck {
    /// Name to query.
    pub qname: String,
    /// Record type, e.g. `A`, `AAAA`, `SOA`. Default `A`.
    #[serde(default = "d_qtype")]
    pub qtype: String,
    /// Expected response code, e.g. `NOERROR`, `NXDOMAIN`. Default `NOERROR`.
    #[serde(default = "d_rcode")]
    pub expected_rcode: String,
    /// Minimum number of answer records of `qtype`. Default 1 when the RCODE is NOERROR, else 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_answers: Option<usize>,
    /// Values (in presentation form, e.g. `192.0.2.1`) that must all be in the answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_answers: Vec<String>,
}

fn d_qtype() -> String {
    "A".to_owned()
}
fn d_rcode() -> String {
    "NOERROR".to_owned()
}

impl DnsCheck {
    fn problems(&self, p: &mut Problems<'_>) {
        if hickory_proto::rr::Name::from_ascii(&self.qname).is_err() {
            p.push("qname", "is not a valid domain name");
        }
        if self.qtype.parse::<hickory_proto::rr::RecordType>().is_err() {
            p.push("qtype", "is not a known record type");
        }
        if crate::kind::dns::parse_rcode(&self.expected_rcode).is_none() {
            p.push("expected_rcode", "is not a known RCODE name or number");
        }
    }
}

/// `kind = "grpc"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GrpcCheck {
    /// Service name in `HealthCheckRequest.service`; empty asks about the whole server.
    #[serde(default)]
    pub service: String,
    /// `:authority` sent. Default: the node address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Use TLS with these settings. ALPN defaults to `["h2"]`, and the server name to the
    /// `authority` host, else `localhost`. Default: cleartext HTTP/2 (h2c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsClient>,
}

impl GrpcCheck {
    fn problems(&self, p: &mut Problems<'_>) {
        let host = match self.authority.as_deref().map(authority_host) {
            Some(Err(why)) => {
                let a = self.authority.as_deref().unwrap_or_default();
                p.push("authority", format!("`{a}` {why}; use host, host:port or [v6]:port"));
                None
            }
            Some(Ok(host)) => Some(host),
            None => None,
        };
        if let Some(t) = &self.tls {
            tls_client_problems(p, "tls", t, host.map(|h| ("authority", h)));
            if !t.alpn.is_empty() && !t.alpn.iter().any(|a| a == "h2") {
                p.push(
                    "tls.alpn",
                    format!(
                        "{:?} lacks `h2`: gRPC runs over HTTP/2, and a TLS server only speaks it \
                         when h2 is negotiated; add \"h2\" or leave `alpn` empty (offers h2)",
                        t.alpn
                    ),
                );
            }
        }
    }
}

/// The host of a URI authority (`host`, `host:port`, `[v6]` or `[v6]:port`), without brackets:
/// the name TLS presents when `sni` is not set. Errors say what is wrong with `a`.
fn authority_host(a: &str) -> Result<&str, String> {
    if let Err(e) = a.parse::<hyper::http::uri::Authority>() {
        if !a.starts_with('[') && a.parse::<std::net::Ipv6Addr>().is_ok() {
            return Err(format!("is an IPv6 address without brackets: write `[{a}]`"));
        }
        return Err(format!("is not a valid URI authority ({e})"));
    }
    if a.contains('@') {
        return Err("carries user info (`user@`), which an :authority must not".to_owned());
    }
    let (host, port) = match a.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']').unwrap_or((rest, ""));
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("has `[{v6}]`, which is not an IPv6 address"));
            }
            (v6, after.strip_prefix(':'))
        }
        None => match a.split_once(':') {
            Some((h, port)) => (h, Some(port)),
            None => (a, None),
        },
    };
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(format!("has port `{port}`, which is not a number from 1 to 65535"));
    }
    Ok(host)
}

/// HAProxy agent-check (`agent-check`, `agent-port`, `agent-send`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AgentCheck {
    /// Agent port. Required when the agent runs beside another check (`ProbeSpec::agent`):
    /// the agent listens on a port of its own, like HAProxy's `agent-port`, and the node's port
    /// serves the main check, where the agent's read would only time out. Default, for
    /// `kind = "agent"` alone: the node's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// String sent after connecting (HAProxy `agent-send`). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
}

impl AgentCheck {
    pub(crate) fn problems(&self, p: &mut Problems<'_>) {
        if self.port == Some(0) {
            p.push("port", "must not be 0");
        }
    }
}

/// `kind = "snmp"`: interface utilization and load average through SNMP v2c (IF-MIB octet
/// counters, UCD-SNMP-MIB laLoad).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpCheck {
    /// SNMP port on the node. Default 161.
    #[serde(default = "d_snmp_port")]
    pub port: u16,
    /// SNMP version: `"2c"`, `"3"` (USM) or `"1"`. Default `"2c"`.
    #[serde(default = "d_snmp_version")]
    pub version: String,
    /// v1/v2c community. Default `public`. Never printed.
    #[serde(default = "d_community")]
    pub community: String,
    /// v3 security name (USM user), required with version 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// v3 authentication protocol, net-snmp names: `MD5`, `SHA`, `SHA-224`, `SHA-256`,
    /// `SHA-384`, `SHA-512`. Default `SHA`.
    #[serde(default = "d_auth_protocol")]
    pub auth_protocol: String,
    /// v3 authentication pass phrase (at least 8 characters); without it the user is
    /// noAuthNoPriv. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    /// v3 privacy protocol, net-snmp names: `DES`, `AES` (128), `AES192`, `AES256`, `AES192C`,
    /// `AES256C`. Default `AES`.
    #[serde(default = "d_priv_protocol")]
    pub priv_protocol: String,
    /// v3 privacy pass phrase (at least 8 characters); with `auth_password` the user is
    /// authPriv. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_password: Option<String>,
    /// Interface to measure, by ifName (e.g. `eth0`). Default none (load only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Interface to measure, by ifIndex; used when `interface` is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_index: Option<u32>,
    /// Utilization (max(in, out) / speed, 0..1) at which the node is degraded. Default 0.85.
    #[serde(default = "d_util_degraded")]
    pub utilization_degraded: f64,
    /// Utilization at which the node is down. Default 0.98.
    #[serde(default = "d_util_down")]
    pub utilization_down: f64,
    /// 1-minute load average at which the node is degraded. Default none (not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_degraded: Option<f64>,
    /// 1-minute load average at which the node is down. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_down: Option<f64>,
    /// Retransmissions within the probe timeout. Default 1.
    #[serde(default = "d_snmp_retries")]
    pub retries: u32,
}

impl std::fmt::Debug for SnmpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnmpCheck")
            .field("port", &self.port)
            .field("version", &self.version)
            .field("community", &"<redacted>")
            .field("user", &self.user)
            .field("auth_protocol", &self.auth_protocol)
            .field("auth_password", &self.auth_password.as_ref().map(|_| "<redacted>"))
            .field("priv_protocol", &self.priv_protocol)
            .field("priv_password", &self.priv_password.as_ref().map(|_| "<redacted>"))
            .field("interface", &self.interface)
            .field("if_index", &self.if_index)
            .field("utilization_degraded", &self.utilization_degraded)
            .field("utilization_down", &self.utilization_down)
            .field("load_degraded", &self.load_degraded)
            .field("load_down", &self.load_down)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Default for SnmpCheck {
    fn default() -> Self {
        SnmpCheck {
            port: d_snmp_port(),
            version: d_snmp_version(),
            community: d_community(),
            user: None,
            auth_protocol: d_auth_protocol(),
            auth_password: None,
            priv_protocol: d_priv_protocol(),
            priv_password: None,
            interface: None,
            if_index: None,
            utilization_degraded: d_util_degraded(),
            utilization_down: d_util_down(),
            load_degraded: None,
            load_down: None,
            retries: d_snmp_retries(),
        }
    }
}

fn d_snmp_port() -> u16 {
    161
}
fn d_community() -> String {
    "public".to_owned()
}
fn d_snmp_version() -> String {
    "2c".to_owned()
}
fn d_auth_protocol() -> String {
    "SHA".to_owned()
}
fn d_priv_protocol() -> String {
    "AES".to_owned()
}
fn d_util_degraded() -> f64 {
    0.85
}
fn d_util_down() -> f64 {
    0.98
}
fn d_snmp_retries() -> u32 {
    1
}

impl SnmpCheck {
    pub(crate) fn problems(&self, p: &mut Problems<'_>) {
        if !(0.0..=1.0).contains(&self.utilization_degraded) {
            p.push("utilization_degraded", "must be in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.utilization_down)
            || self.utilization_down < self.utilization_degraded
        {
            p.push("utilization_down", "must be in [utilization_degraded, 1]");
        }
        if let (Some(d), Some(x)) = (self.load_degraded, self.load_down)
            && x < d
        {
            p.push("load_down", "must not be below load_degraded");
        }
        if self.port == 0 {
            p.push("port", "must not be 0");
        }
        if self.interface.is_none()
            && self.if_index.is_none()
            && self.load_down.is_none()
            && self.load_degraded.is_none()
        {
            p.push(
                "interface",
                "set `interface`, `if_index` or a load threshold: nothing to measure",
            );
        }
        if self.retries > 5 {
            p.push("retries", "must be at most 5");
        }
        self.security_problems(p);
    }

    fn security_problems(&self, p: &mut Problems<'_>) {
        use switchyard_snmp::usm::{AuthProtocol, PrivProtocol};
        let v3 = match self.version.as_str() {
            "3" => true,
            "1" | "2c" => false,
            _ => {
                p.push("version", "must be \"1\", \"2c\" or \"3\"");
                return;
            }
        };
        if !v3 {
            for (field, set) in [
                ("user", self.user.is_some()),
                ("auth_password", self.auth_password.is_some()),
                ("priv_password", self.priv_password.is_some()),
            ] {
                if set {
                    p.push(field, "is a version 3 setting; set version = \"3\"");
                }
            }
            return;
        }
        match self.user.as_deref() {
            None => p.push("user", "is required with version 3"),
            Some(u) if u.is_empty() || u.len() > 32 => p.push("user", "must be 1 to 32 bytes"),
            Some(_) => {}
        }
        if AuthProtocol::from_name(&self.auth_protocol).is_none() {
            p.push("auth_protocol", "must be MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512");
        }
        if PrivProtocol::from_name(&self.priv_protocol).is_none() {
            p.push("priv_protocol", "must be DES, AES, AES192, AES256, AES192C or AES256C");
        }
        for (field, pass) in
            [("auth_password", &self.auth_password), ("priv_password", &self.priv_password)]
        {
            if pass.as_ref().is_some_and(|x| x.len() < 8) {
                p.push(field, "must be at least 8 characters (RFC 3414 section 11.2)");
            }
        }
        if self.priv_password.is_some() && self.auth_password.is_none() {
            p.push("priv_password", "privacy needs authentication: set auth_password too");
        }
    }

    /// The security the checks use; call on a validated check (errors name the field anyway).
    pub(crate) fn security(&self) -> Result<switchyard_snmp::Security, String> {
        use switchyard_snmp::Security;
        use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
        match self.version.as_str() {
            "1" => return Ok(Security::v1(self.community.as_bytes())),
            "2c" => return Ok(Security::v2c(self.community.as_bytes())),
            _ => {}
        }
        let name = self.user.as_deref().ok_or("user: is required with version 3")?;
        let mut user = UsmUser::no_auth(name).map_err(|e| format!("user: {e}"))?;
        if let Some(pass) = &self.auth_password {
            let proto = AuthProtocol::from_name(&self.auth_protocol)
                .ok_or_else(|| format!("auth_protocol: unknown `{}`", self.auth_protocol))?;
            user = user.with_auth(proto, pass.as_bytes()).map_err(|e| format!("auth: {e}"))?;
        }
        if let Some(pass) = &self.priv_password {
            let proto = PrivProtocol::from_name(&self.priv_protocol)
                .ok_or_else(|| format!("priv_protocol: unknown `{}`", self.priv_protocol))?;
            user = user.with_privacy(proto, pass.as_bytes()).map_err(|e| format!("priv: {e}"))?;
        }
        Ok(Security::v3(user))
    }
}
