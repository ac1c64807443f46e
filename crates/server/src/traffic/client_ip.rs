//! The client address of a request: the TCP peer, or, when the peer is a trusted proxy, the
//! address it names in `X-MM-Client-IP` (Traffic Router's header), else (with
//! `http.trust_forwarded`) the right-most untrusted `for=` of RFC 7239 `Forwarded`, else the
//! right-most untrusted `X-Forwarded-For` entry (nginx `real_ip_recursive on`).
//!
//! Only entries appended by proxies we trust are believed: walking from the right, each hop
//! that is a trusted proxy vouches for the entry to its left; the first untrusted entry is
//! the client. Anything further left was written by the client itself and is ignored. A
//! malformed entry (or a `Forwarded` node that is `unknown` or obfuscated) ends the walk:
//! the last address vouched for is the client. Malformed values are counted in
//! `switchyard_http_client_address_headers_invalid_total{header}`.
//!
//! Precedence. `X-MM-Client-IP` is a single address set by the proxy the router talks to, so
//! it is believed from a trusted peer only and, being the most explicit, wins. `Forwarded`
//! comes next: it is the standard form, and a proxy that writes it states each hop as a
//! typed node, where `X-Forwarded-For` is an informal list. When a request has `Forwarded`
//! lines, `X-Forwarded-For` is not read, so a proxy that writes `Forwarded` decides alone.
//! `Forwarded` is read only when `http.trust_forwarded` is on: a proxy that appends
//! `X-Forwarded-For` but passes a client's `Forwarded` through untouched (nginx's usual
//! configuration) would otherwise let any client name its own address.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::{FORWARDED, HeaderName};
use ipnet::IpNet;

use super::forwarded::{self, Node};
pub use super::metrics::Header;
use super::metrics::TrafficMetrics;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_MM_CLIENT_IP: HeaderName = HeaderName::from_static("x-mm-client-ip");

/// Where the client address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSource {
    /// The TCP peer.
    Peer,
    /// `X-Forwarded-For`, vouched for by trusted proxies.
    ForwardedFor,
    /// RFC 7239 `Forwarded`, vouched for by trusted proxies.
    Forwarded,
    /// The `ip=` query parameter.
    Parameter,
    /// `X-MM-Client-IP`, set by a trusted proxy (Traffic Router's header).
    MmClientIp,
    /// The `fakeClientIpAddress` query parameter, when `http.allow_fake_client_ip` is on.
    FakeClientIp,
}

impl AddrSource {
    /// Stable name for JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Peer => "peer",
            Self::ForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
            Self::Parameter => "parameter",
            Self::MmClientIp => "x-mm-client-ip",
            Self::FakeClientIp => "fake-client-ip",
        }
    }
}

/// The resolved client address, stored in request extensions by the admission layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// Address used for rate limiting and (unless `ip=` is given) localization.
    pub ip: IpAddr,
    /// Where it came from.
    pub source: AddrSource,
}

/// Whom and what to believe: the trusted proxies, whether their `Forwarded` counts, and
/// where to count malformed values.
#[derive(Clone, Copy, Default)]
pub struct Trust<'a> {
    /// `http.trusted_proxies`.
    pub proxies: &'a [IpNet],
    /// `http.trust_forwarded`.
    pub forwarded: bool,
    /// Counts malformed header values, when given.
    pub metrics: Option<&'a TrafficMetrics>,
}

impl<'a> Trust<'a> {
    /// `proxies`' `X-MM-Client-IP` and `X-Forwarded-For`, not `Forwarded`; nothing counted.
    pub fn proxies(proxies: &'a [IpNet]) -> Self {
        Self { proxies, forwarded: false, metrics: None }
    }

    fn invalid(&self, header: Header) {
        if let Some(m) = self.metrics {
            m.invalid_client_address_header(header);
        }
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// Parses one `X-Forwarded-For` element: an address, optionally with a port or in brackets
/// (`198.51.100.1:4711`, `[2001:db8::1]:80`), as some proxies write them.
fn parse_hop(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip().to_canonical());
    }
    s.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// The client of a request from `peer`. `X-MM-Client-IP` and `X-Forwarded-For` are read
/// only when `peer` is in `proxies`; several `X-Forwarded-For` lines count as one list in
/// order (RFC 9110 §5.3). `Forwarded` is not read: see [`resolve_with`].
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> ClientAddr {
    resolve_with(peer, headers, Trust::proxies(proxies))
}

/// [`resolve`] under `trust`, which may also believe `Forwarded`.
pub fn resolve_with(peer: IpAddr, headers: &HeaderMap, trust: Trust<'_>) -> ClientAddr {
    if trust.proxies.is_empty() {
        // The common case: no header lookup at all.
        return ClientAddr { ip: peer.to_canonical(), source: AddrSource::Peer };
    }
    let lines = headers.get_all(&X_FORWARDED_FOR).iter().map(|v| v.as_bytes());
    let forwarded = headers.get_all(&FORWARDED).iter().map(|v| v.as_bytes());
    let mm = headers.get(&X_MM_CLIENT_IP).map(|v| v.as_bytes());
    resolve_lines(peer, lines, forwarded, mm, trust)
}

/// [`resolve_with`] over the raw `X-Forwarded-For` and `Forwarded` header lines, each in
/// request order, and the raw `X-MM-Client-IP` value. An `X-MM-Client-IP` that is not an
/// address is passed over (the walk or the peer decides), as a malformed hop is.
pub fn resolve_lines<'a>(
    peer: IpAddr,
    lines: impl DoubleEndedIterator<Item = &'a [u8]>,
    forwarded: impl DoubleEndedIterator<Item = &'a [u8]>,
    mm_client_ip: Option<&[u8]>,
    trust: Trust<'_>,
) -> ClientAddr {
    let peer = peer.to_canonical();
    let here = ClientAddr { ip: peer, source: AddrSource::Peer };
    let proxies = trust.proxies;
    if proxies.is_empty() || !trusted(peer, proxies) {
        return here;
    }
    if let Some(v) = mm_client_ip {
        match std::str::from_utf8(v).ok().and_then(parse_hop) {
            Some(ip) => return ClientAddr { ip, source: AddrSource::MmClientIp },
            None => trust.invalid(Header::MmClientIp),
        }
    }
    if trust.forwarded {
        let mut forwarded = forwarded.rev().peekable();
        if forwarded.peek().is_some() {
            return walk_forwarded(here, forwarded, trust);
        }
    }
    let mut client = here;
    for line in lines.rev() {
        let Ok(line) = std::str::from_utf8(line) else {
            trust.invalid(Header::ForwardedFor);
            return client;
        };
        for hop in line.rsplit(',') {
            // A malformed hop ends the walk: the last address vouched for is the client.
            let Some(ip) = parse_hop(hop) else {
                trust.invalid(Header::ForwardedFor);
                return client;
            };
            client = ClientAddr { ip, source: AddrSource::ForwardedFor };
            if !trusted(ip, proxies) {
                return client;
            }
        }
    }
    client
}

/// The walk over `Forwarded` lines given right-most first: each element's `for` address,
/// while the previous one was a trusted proxy. A line that does not parse, an element
/// without `for`, and a `for` that is `unknown`, obfuscated or invalid end the walk.
fn walk_forwarded<'a>(
    mut client: ClientAddr,
    lines: impl Iterator<Item = &'a [u8]>,
    trust: Trust<'_>,
) -> ClientAddr {
    for line in lines {
        let Ok(elements) = forwarded::parse(line) else {
            trust.invalid(Header::Forwarded);
            return client;
        };
        for element in elements.iter().rev() {
            match element.node {
                Some(Node::Addr(ip)) => {
                    client = ClientAddr { ip, source: AddrSource::Forwarded };
                    if !trusted(ip, trust.proxies) {
                        return client;
                    }
                }
                Some(Node::Invalid) => {
                    trust.invalid(Header::Forwarded);
                    return client;
                }
                Some(Node::Unknown | Node::Obfuscated) | None => return client,
            }
        }
    }
    client
}
