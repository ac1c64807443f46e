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
//!
//! The scheme the client used, for redirects that follow the request's scheme: a proxy that
//! terminates TLS talks to the router over plain HTTP, so from a trusted peer the `proto=` of
//! the `Forwarded` element that named the client is believed, else the left-most
//! `X-Forwarded-Proto` entry (the scheme the first proxy saw). At worst a client so names the
//! scheme of its own redirect, which it could as well have used.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::{FORWARDED, HeaderName};
use ipnet::IpNet;

use super::forwarded::{self, Node};
pub use super::metrics::Header;
use super::metrics::TrafficMetrics;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_MM_CLIENT_IP: HeaderName = HeaderName::from_static("x-mm-client-ip");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

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
    /// Whether the client's request was made over `https`, as a trusted proxy states it
    /// (`Forwarded` `proto=`, else `X-Forwarded-Proto`); `None` when none said.
    pub https: Option<bool>,
}

impl ClientAddr {
    /// `ip` from `source`, with no word on the scheme.
    pub fn new(ip: IpAddr, source: AddrSource) -> Self {
        Self { ip, source, https: None }
    }
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
        return ClientAddr::new(peer.to_canonical(), AddrSource::Peer);
    }
    let proxied = Proxied {
        forwarded_for: headers.get_all(&X_FORWARDED_FOR).iter().map(|v| v.as_bytes()),
        forwarded: headers.get_all(&FORWARDED).iter().map(|v| v.as_bytes()),
        mm_client_ip: headers.get(&X_MM_CLIENT_IP).map(|v| v.as_bytes()),
        forwarded_proto: headers.get(&X_FORWARDED_PROTO).map(|v| v.as_bytes()),
    };
    resolve_lines(peer, proxied, trust)
}

/// The raw values of the headers a proxy sets: the `X-Forwarded-For` and `Forwarded` lines,
/// each in request order, and the first `X-MM-Client-IP` and `X-Forwarded-Proto` lines.
pub struct Proxied<'a, F, G>
where
    F: DoubleEndedIterator<Item = &'a [u8]>,
    G: DoubleEndedIterator<Item = &'a [u8]>,
{
    pub forwarded_for: F,
    pub forwarded: G,
    pub mm_client_ip: Option<&'a [u8]>,
    pub forwarded_proto: Option<&'a [u8]>,
}

/// [`resolve_with`] over the raw header values. An `X-MM-Client-IP` that is not an address
/// is passed over (the walk or the peer decides), as a malformed hop is.
pub fn resolve_lines<'a, F, G>(
    peer: IpAddr,
    proxied: Proxied<'a, F, G>,
    trust: Trust<'_>,
) -> ClientAddr
where
    F: DoubleEndedIterator<Item = &'a [u8]>,
    G: DoubleEndedIterator<Item = &'a [u8]>,
{
    let peer = peer.to_canonical();
    let here = ClientAddr::new(peer, AddrSource::Peer);
    let proxies = trust.proxies;
    if proxies.is_empty() || !trusted(peer, proxies) {
        return here;
    }
    let stated = proxied.forwarded_proto.and_then(left_most_proto);
    let mut client = resolve_trusted(
        here,
        proxied.forwarded_for,
        proxied.forwarded,
        proxied.mm_client_ip,
        trust,
    );
    client.https = client.https.or(stated);
    client
}

/// The left-most `X-Forwarded-Proto` entry as a scheme, when it is `http` or `https`.
fn left_most_proto(value: &[u8]) -> Option<bool> {
    let first = value.split(|&b| b == b',').next()?.trim_ascii();
    forwarded::Proto::of(first).https()
}

/// The client named by a trusted peer's headers.
fn resolve_trusted<'a>(
    here: ClientAddr,
    lines: impl DoubleEndedIterator<Item = &'a [u8]>,
    forwarded: impl DoubleEndedIterator<Item = &'a [u8]>,
    mm_client_ip: Option<&[u8]>,
    trust: Trust<'_>,
) -> ClientAddr {
    let proxies = trust.proxies;
    if let Some(v) = mm_client_ip {
        match std::str::from_utf8(v).ok().and_then(parse_hop) {
            Some(ip) => return ClientAddr::new(ip, AddrSource::MmClientIp),
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
            client = ClientAddr::new(ip, AddrSource::ForwardedFor);
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
                    // The element that names the client also says how it connected.
                    let https = element.proto.and_then(forwarded::Proto::https);
                    client = ClientAddr { ip, source: AddrSource::Forwarded, https };
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
