//! The client address of a request: the TCP peer, or the right-most untrusted
//! `X-Forwarded-For` entry when the peer is a trusted proxy (nginx `real_ip_recursive on`).
//!
//! Only entries appended by proxies we trust are believed: walking from the right, each hop
//! that is a trusted proxy vouches for the entry to its left; the first untrusted entry is
//! the client. Anything further left was written by the client itself and is ignored.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use axum::http::header::HeaderName;
use ipnet::IpNet;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Where the client address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSource {
    /// The TCP peer.
    Peer,
    /// `X-Forwarded-For`, vouched for by trusted proxies.
    ForwardedFor,
    /// The `ip=` query parameter.
    Parameter,
}

impl AddrSource {
    /// Stable name for JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Peer => "peer",
            Self::ForwardedFor => "x-forwarded-for",
            Self::Parameter => "parameter",
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

/// The client of a request from `peer`. `X-Forwarded-For` is read only when `peer` is in
/// `proxies`; several header lines count as one list in order (RFC 9110 §5.3).
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet]) -> ClientAddr {
    let lines = headers.get_all(&X_FORWARDED_FOR).iter().map(|v| v.as_bytes());
    resolve_lines(peer, lines, proxies)
}

/// [`resolve`] over the raw `X-Forwarded-For` header lines, in request order.
pub fn resolve_lines<'a>(
    peer: IpAddr,
    lines: impl DoubleEndedIterator<Item = &'a [u8]>,
    proxies: &[IpNet],
) -> ClientAddr {
    let peer = peer.to_canonical();
    let here = ClientAddr { ip: peer, source: AddrSource::Peer };
    if proxies.is_empty() || !trusted(peer, proxies) {
        return here;
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
