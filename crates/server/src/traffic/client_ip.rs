//! The client address of a request: the TCP peer, or, when the peer is a trusted proxy, the
//! address it names in `X-MM-Client-IP` (Traffic Router's header) or else the right-most
//! untrusted `X-Forwarded-For` entry (nginx `real_ip_recursive on`).
//!
//! Only entries appended by proxies we trust are believed: walking from the right, each hop
//! that is a trusted proxy vouches for the entry to its left; the first untrusted entry is
//! the client. Anything further left was written by the client itself and is ignored.
//! `X-MM-Client-IP` is a single address set by the proxy the router talks to, so it is
//! believed from a trusted peer only and, being the more explicit, wins over
//! `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::HeaderName;
use ipnet::IpNet;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_MM_CLIENT_IP: HeaderName = HeaderName::from_static("x-mm-client-ip");

/// Where the client address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSource {
    /// The TCP peer.
    Peer,
    /// `X-Forwarded-For`, vouched for by trusted proxies.
    ForwardedFor,
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
/// order (RFC 9110 §5.3).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> ClientAddr {
    if proxies.is_empty() {
        // The common case: no header lookup at all.
        return ClientAddr { ip: peer.to_canonical(), source: AddrSource::Peer };
    }
    let lines = headers.get_all(&X_FORWARDED_FOR).iter().map(|v| v.as_bytes());
    let mm = headers.get(&X_MM_CLIENT_IP).map(|v| v.as_bytes());
    resolve_lines(peer, lines, mm, proxies)
}

/// [`resolve`] over the raw `X-Forwarded-For` header lines, in request order, and the raw
/// `X-MM-Client-IP` value. An `X-MM-Client-IP` that is not an address is passed over (the
/// `X-Forwarded-For` walk or the peer decides), as a malformed forwarded hop is.
pub fn resolve_lines<'a>(
    peer: IpAddr,
    lines: impl DoubleEndedIterator<Item = &'a [u8]>,
    mm_client_ip: Option<&[u8]>,
    proxies: &[IpNet],
) -> ClientAddr {
    let peer = peer.to_canonical();
    let here = ClientAddr { ip: peer, source: AddrSource::Peer };
    if proxies.is_empty() || !trusted(peer, proxies) {
        return here;
    }
    if let Some(ip) = mm_client_ip.and_then(|v| parse_hop(std::str::from_utf8(v).ok()?)) {
        return ClientAddr { ip, source: AddrSource::MmClientIp };
    }
    let mut client = here;
    for line in lines.rev() {
        let Ok(line) = std::str::from_utf8(line) else { return client };
        for hop in line.rsplit(',') {
            // A malformed hop ends the walk: the last address vouched for is the client.
            let Some(ip) = parse_hop(hop) else { return client };
            client = ClientAddr { ip, source: AddrSource::ForwardedFor };
            if !trusted(ip, proxies) {
                return client;
            }
        }
    }
    client
}
