//! The `[http]` configuration section: admission-control limits (connections, request
//! heads, requests), trusted proxies and client-address overrides, and the HTTPDNS batch cap
//! of the traffic listener.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use switchyard_config::Problem;

use crate::tls::TlsConfig;

/// Settings of the HTTP traffic front end (`/v1/route`, `/d`, 302 redirects).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// Proxies whose `X-MM-Client-IP` and `X-Forwarded-For` are believed, as CIDRs or bare
    /// addresses (`10.0.0.0/8`, `::1`). When the TCP peer is one of them, the client is the
    /// address in `X-MM-Client-IP` (Traffic Router's header), else the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (nginx's
    /// `real_ip_recursive on`). Default: empty, so neither header is ever believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Whether the trusted proxies' RFC 7239 `Forwarded` header names the client
    /// (`for=`, walked from the right past trusted proxies like `X-Forwarded-For`). When on,
    /// a request with `Forwarded` lines is judged by them alone, `X-MM-Client-IP` still
    /// winning; without them `X-Forwarded-For` is read as before. Turn it on only when every
    /// trusted proxy writes `Forwarded` (or strips the client's): a proxy that passes it
    /// through untouched lets clients name any address. Default false.
    #[serde(default)]
    pub trust_forwarded: bool,
    /// Whether the `fakeClientIpAddress=` query parameter names the client to route for,
    /// on redirects, `/v1/route` and `/d` (Traffic Router's test aid). Anyone can send it,
    /// so it is for test and staging routers; rate limiting still keys on the real client.
    /// `X-MM-Client-IP` from a trusted proxy and the `ip=` parameter of `/v1/route` and `/d`
    /// win over it. Default false.
    #[serde(default)]
    pub allow_fake_client_ip: bool,
    /// Requests handled at once across all connections. A request over the limit is shed at
    /// once with `503 overloaded`, never queued. Count, default 4096, must be >= 1.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent_requests: u32,
    /// Fraction (0..=1] of `max_concurrent_requests` in flight above which the `overloaded`
    /// readiness check fails, so load balancers steer new clients away before requests are
    /// shed. `/livez` never fails because of load. Default 0.9.
    #[serde(default = "default_watermark")]
    pub overload_watermark: f64,
    /// Queue delay above which the traffic listener sheds: when more than 1 in 100 stamped
    /// reads (each connection's first, one in eight after) of a 100 ms window found bytes that
    /// had waited longer than this in the kernel (the receive timestamp to the read: the 99th
    /// percentile of the wait is over it) while the runtime's workers were busy, the open
    /// connections allowed are cut to nine tenths of those open; requests on connections beyond
    /// that get `503 overloaded` with `Connection: close`, new ones are reset at accept, and
    /// the `overloaded` readiness check fails. Each window under the target raises the
    /// allowance by a fiftieth again, up to `max_connections`. Requests wait unread in socket
    /// buffers and the accept queue under overload, where `max_concurrent_requests` cannot
    /// count them; this holds the 99th percentile of the wait of the requests served near the
    /// target. 0 turns it off. Milliseconds, default 4: above the 3 ms a quarter-core CPU quota
    /// can stall a request, and at 3x in `scripts/overload.sh` (every read stamped) the answers
    /// kept came at p99 7.9 ms with 4 against 9.2-10.3 ms with 5. At most 10000.
    #[serde(default = "default_shed_queue_delay")]
    pub shed_queue_delay_ms: u64,
    /// Sustained requests per second allowed per client address (GCRA, keyed by the client
    /// address after `trusted_proxies`). Fractions allowed. 0 turns per-client limiting off.
    /// Over it: `429 rate_limited` with `Retry-After`. Requests per second, default 0.
    #[serde(default)]
    pub rate_limit_per_client_rps: f64,
    /// Requests a client may send back to back before `rate_limit_per_client_rps` applies.
    /// Count, default 100, must be >= 1 when rate limiting is on.
    #[serde(default = "default_burst")]
    pub rate_limit_burst: u32,
    /// Largest request body accepted, judged by `Content-Length`; larger gets
    /// `413 payload_too_large`. The endpoints read no body. Bytes, default 65536.
    #[serde(default = "default_body")]
    pub max_request_body_bytes: u64,
    /// Largest total size of header names and values; larger gets
    /// `431 headers_too_large`. Bytes, default 16384, must be >= 1024.
    #[serde(default = "default_header_bytes")]
    pub max_header_bytes: u32,
    /// Most header lines accepted; more gets `431 headers_too_large`. Count, default 100
    /// (hyper's own parse limit), 1..=100.
    #[serde(default = "default_headers")]
    pub max_headers: u32,
    /// Most host names in one HTTPDNS batch (`/d?hosts=a,b`). Count, default 5, 1..=100.
    #[serde(default = "default_max_hosts")]
    pub httpdns_max_hosts: u32,
    /// `Retry-After` sent with `503 no_eligible_node` (and the other routing 503s): about
    /// how long health takes to change. Seconds, default 5, must be >= 1.
    #[serde(default = "default_retry_after")]
    pub no_node_retry_after_seconds: u32,
    /// Threads of the runtime that serves traffic when it runs on its own runtime (the
    /// benchmark server pins one). 0 means the default: one per core. Default 0.
    #[serde(default)]
    pub worker_threads: u32,
    /// How long a keep-alive connection may sit idle between requests before it is closed
    /// (nginx's `keepalive_timeout`), so idle clients cannot hold descriptors forever. 0
    /// keeps idle connections open. Milliseconds, default 75000.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// How long a request head (request line and headers) may take to arrive in full,
    /// however slowly it trickles in (nginx's `client_header_timeout`, hyper's
    /// `header_read_timeout`); a connection whose head is late is closed and counted in
    /// `switchyard_http_request_header_timeouts_total`. The clock starts at accept for a
    /// connection's first request and at the first byte of each later one. On a connection
    /// served by hyper (bodies, other methods, HTTP/2) it also bounds the wait for the next
    /// request, since hyper starts the clock when it starts waiting. Milliseconds, default
    /// 10000, 1..=3600000.
    #[serde(default = "default_request_header_timeout")]
    pub request_header_timeout_ms: u64,
    /// Traffic connections open at once. A connection accepted beyond it is closed at once
    /// (reset) and counted in `switchyard_http_connections_refused_total`. Whatever is set,
    /// traffic never holds more than half of the process's open-file limit, so the admin
    /// listener (health, metrics), DNS and the prober keep descriptors when clients hold
    /// many. 0 means that half. Count, default 0.
    #[serde(default)]
    pub max_connections: u32,
    /// TLS of the HTTPS listener (`listen.https`): its certificates, chosen by SNI, and the
    /// lowest version offered. Certificates reload with the configuration. Default: none.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

fn default_max_concurrent() -> u32 {
    4096
}
fn default_watermark() -> f64 {
    0.9
}
fn default_shed_queue_delay() -> u64 {
    4
}
fn default_burst() -> u32 {
    100
}
fn default_body() -> u64 {
    64 * 1024
}
fn default_header_bytes() -> u32 {
    16 * 1024
}
fn default_headers() -> u32 {
    100
}
fn default_idle_timeout() -> u64 {
    75_000
}
fn default_request_header_timeout() -> u64 {
    10_000
}
fn default_max_hosts() -> u32 {
    5
}
fn default_retry_after() -> u32 {
    5
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            trust_forwarded: false,
            allow_fake_client_ip: false,
            max_concurrent_requests: default_max_concurrent(),
            overload_watermark: default_watermark(),
            shed_queue_delay_ms: default_shed_queue_delay(),
            rate_limit_per_client_rps: 0.0,
            rate_limit_burst: default_burst(),
            max_request_body_bytes: default_body(),
            max_header_bytes: default_header_bytes(),
            max_headers: default_headers(),
            httpdns_max_hosts: default_max_hosts(),
            no_node_retry_after_seconds: default_retry_after(),
            worker_threads: 0,
            idle_timeout_ms: default_idle_timeout(),
            request_header_timeout_ms: default_request_header_timeout(),
            max_connections: 0,
            tls: None,
        }
    }
}

/// Parses one `trusted_proxies` entry: a CIDR, or a bare address meaning a single host.
pub fn parse_proxy(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    if let Ok(net) = entry.parse::<IpNet>() {
        return Some(net.trunc());
    }
    entry.parse::<IpAddr>().ok().map(IpNet::from)
}

impl TrafficConfig {
    /// Checks ranges and CIDRs; every problem is reported with its key under `path`
    /// (the section's own dotted path, e.g. `http`).
    pub fn validate(&self, path: &str) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad =
            |key: &str, msg: String| problems.push(Problem::at(format!("{path}.{key}"), msg));
        for (i, entry) in self.trusted_proxies.iter().enumerate() {
            if parse_proxy(entry).is_none() {
                bad(
                    &format!("trusted_proxies[{i}]"),
                    format!("{entry:?} is not a CIDR (10.0.0.0/8) or an IP address"),
                );
            }
        }
        if self.max_concurrent_requests == 0 {
            bad("max_concurrent_requests", "must be >= 1".into());
        }
        let w = self.overload_watermark;
        if !w.is_finite() || w <= 0.0 || w > 1.0 {
            bad("overload_watermark", format!("{w} is out of range (0, 1]"));
        }
        if self.shed_queue_delay_ms > 10_000 {
            bad(
                "shed_queue_delay_ms",
                format!("{} is out of range 0..=10000", self.shed_queue_delay_ms),
            );
        }
        let rps = self.rate_limit_per_client_rps;
        if !rps.is_finite() || rps < 0.0 {
            bad("rate_limit_per_client_rps", "must be a number of requests per second >= 0".into());
        } else if rps > 0.0 && rps < 1e-6 {
            bad("rate_limit_per_client_rps", format!("{rps} is below the smallest rate 1e-6"));
        }
        if rps > 0.0 && self.rate_limit_burst == 0 {
            bad("rate_limit_burst", "must be >= 1 when rate_limit_per_client_rps is set".into());
        }
        if self.max_header_bytes < 1024 {
            bad("max_header_bytes", format!("{} is below the minimum 1024", self.max_header_bytes));
        }
        if !(1..=100).contains(&self.max_headers) {
            bad("max_headers", format!("{} is out of range 1..=100", self.max_headers));
        }
        if !(1..=100).contains(&self.httpdns_max_hosts) {
            bad("httpdns_max_hosts", format!("{} is out of range 1..=100", self.httpdns_max_hosts));
        }
        if self.no_node_retry_after_seconds == 0 {
            bad("no_node_retry_after_seconds", "must be >= 1".into());
        }
        if self.idle_timeout_ms > 86_400_000 {
            bad(
                "idle_timeout_ms",
                format!("{} is out of range 0..=86400000 (one day)", self.idle_timeout_ms),
            );
        }
        if !(1..=3_600_000).contains(&self.request_header_timeout_ms) {
            bad(
                "request_header_timeout_ms",
                format!(
                    "{} is out of range 1..=3600000 (one hour)",
                    self.request_header_timeout_ms
                ),
            );
        }
        if self.worker_threads > 1024 {
            bad("worker_threads", format!("{} is out of range 0..=1024", self.worker_threads));
        }
        problems
    }

    /// The trusted proxy networks; entries that do not parse are left out (`validate`
    /// reports them).
    pub fn trusted_networks(&self) -> Vec<IpNet> {
        self.trusted_proxies.iter().filter_map(|e| parse_proxy(e)).collect()
    }
}
