//! The `[dns]` configuration section: zone apexes, SOA and NS data, the server identity,
//! sockets, EDNS payload, per-source rate limit and TCP limits.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use switchyard_config::Problem;

/// Settings of the authoritative DNS listener. Every field has a default, so an empty
/// `[dns]` section (or none) is valid.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsConfig {
    /// Apex names (zones) this server is authoritative for, e.g. `cdn.example.com`. SOA and
    /// NS are answered at an apex; names under an apex that are no service get NXDOMAIN;
    /// names under no apex get REFUSED. Default: empty, meaning the apexes the routing table
    /// derives from the services' host names (the parent of each exact name, the base of each
    /// `*.` wildcard). Service names are answered even when they lie under no listed apex.
    pub zones: Vec<String>,
    /// SOA MNAME, the primary name server (RFC 1035 §3.3.13). Default: the first entry of
    /// `name_servers`, else `ns1.<apex>`.
    pub soa_mname: Option<String>,
    /// SOA RNAME, the responsible mailbox in name form (`hostmaster.example.com`).
    /// Default: `hostmaster.<apex>`.
    pub soa_rname: Option<String>,
    /// SOA SERIAL. The zone content is computed per query, so it only matters to tools that
    /// compare serials. Default: 1.
    pub soa_serial: u32,
    /// SOA REFRESH in seconds. Default: 3600.
    pub soa_refresh_seconds: u32,
    /// SOA RETRY in seconds. Default: 600.
    pub soa_retry_seconds: u32,
    /// SOA EXPIRE in seconds. Default: 604800 (one week).
    pub soa_expire_seconds: u32,
    /// TTL of the SOA and NS records answered at the apex, in seconds. Default: 3600.
    pub soa_ttl_seconds: u32,
    /// Negative-caching TTL in seconds: the SOA MINIMUM field and the TTL of the SOA put in
    /// the authority section of NXDOMAIN and NODATA answers (RFC 2308 §3, §5). Default: 60.
    pub negative_ttl_seconds: u32,
    /// Name servers answered for `NS` at every apex, with optional glue addresses put in the
    /// additional section. A name server whose name lies inside a served zone also answers
    /// A/AAAA queries for that name with the same addresses (NODATA for a family without
    /// any), so resolvers keep reaching it after the parent's glue expires. Default: empty,
    /// meaning one name server `ns1.<apex>` without glue, which exists in the zone and so
    /// answers NODATA rather than NXDOMAIN.
    pub name_servers: Vec<NameServer>,
    /// Identifier of this server instance, sent in answer to NSID requests (RFC 5001) and to
    /// CHAOS-class TXT queries for `id.server` and `hostname.bind`, so an operator can tell
    /// which instance behind a shared address answered. 1 to 255 printable ASCII
    /// characters. Default: none: no NSID is sent and those CHAOS queries are REFUSED, as
    /// Knot and PowerDNS do without a configured identity.
    pub server_id: Option<String>,
    /// Number of UDP sockets bound to the address with `SO_REUSEPORT`, each served by its own
    /// task, so the kernel spreads queries across cores. 0 means one per available core.
    /// Default: 0.
    pub udp_sockets: usize,
    /// Largest UDP response in bytes, also advertised in our OPT record (RFC 6891 §6.2.5).
    /// A client's EDNS payload size is honoured up to this; clients without EDNS get 512
    /// (RFC 1035 §4.2.1). 512..=65535. Default: 1232 (the DNS flag day 2020 value, which
    /// avoids IP fragmentation).
    pub max_udp_payload_bytes: u16,
    /// Wait in a UDP socket's receive buffer above which queries are dropped unanswered,
    /// while the least wait over a 100 ms window stays above it (CoDel's standing-queue test,
    /// RFC 8289; measured with the kernel's receive timestamps). Under overload this keeps
    /// the queries answered fresh and drains the buffer (a drop costs one system call, an
    /// answer two); dropped queries are counted in `switchyard_dns_dropped_total` with
    /// `reason="queue_delay"`, those the kernel drops from a full buffer with
    /// `reason="queue_overflow"`. 0 turns it off. Milliseconds, default 5, at most 10000.
    pub shed_queue_delay_ms: u64,
    /// Queries per second allowed from one source network over UDP (see the prefix lengths
    /// below); excess queries are dropped, except those `rate_limit_slip` lets through as
    /// truncated replies, and counted. TCP is not limited. 0 turns rate limiting off.
    /// Default: 0.
    pub rate_limit_per_source_qps: u32,
    /// Burst allowed above the steady per-source rate, in queries. 0 means equal to
    /// `rate_limit_per_source_qps`. Default: 0.
    pub rate_limit_burst: u32,
    /// Of the queries over the limit, every this-many-th gets an empty truncated reply (TC
    /// set) instead of nothing, so a real resolver whose address a flood is spoofing retries
    /// over TCP and is answered there (BIND's RRL `slip`). 1 answers every one that way, 0
    /// drops them all. 0..=10. Default: 2.
    pub rate_limit_slip: u32,
    /// IPv4 sources share one budget per network of this prefix length, so a flood spread
    /// over neighbouring addresses is limited as one source (RRL's `ipv4-prefix-length`).
    /// 8..=32. Default: 24.
    pub rate_limit_ipv4_prefix_len: u8,
    /// The same for IPv6 sources (RRL's `ipv6-prefix-length`). 16..=128. Default: 56.
    pub rate_limit_ipv6_prefix_len: u8,
    /// A TCP connection with no complete query for this long is closed, in milliseconds
    /// (RFC 7766 §6.2.3). Default: 10000.
    pub tcp_idle_timeout_ms: u64,
    /// Concurrent TCP connections. A client connecting while this many are open makes the
    /// connection idle the longest close to make room, so it is answered at once instead of
    /// waiting for an idle timeout. Default: 1024.
    pub tcp_max_connections: usize,
}

/// One name server of the zone, with glue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NameServer {
    /// Host name of the name server, e.g. `ns1.cdn.example.com`. Required.
    pub name: String,
    /// IPv4 glue addresses (A records in the additional section). Default: none.
    #[serde(default)]
    pub ipv4: Vec<Ipv4Addr>,
    /// IPv6 glue addresses (AAAA records in the additional section). Default: none.
    #[serde(default)]
    pub ipv6: Vec<Ipv6Addr>,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            soa_mname: None,
            soa_rname: None,
            soa_serial: 1,
            soa_refresh_seconds: 3600,
            soa_retry_seconds: 600,
            soa_expire_seconds: 604_800,
            soa_ttl_seconds: 3600,
            negative_ttl_seconds: 60,
            name_servers: Vec::new(),
            server_id: None,
            udp_sockets: 0,
            max_udp_payload_bytes: 1232,
            shed_queue_delay_ms: 5,
            rate_limit_per_source_qps: 0,
            rate_limit_burst: 0,
            rate_limit_slip: 2,
            rate_limit_ipv4_prefix_len: 24,
            rate_limit_ipv6_prefix_len: 56,
            tcp_idle_timeout_ms: 10_000,
            tcp_max_connections: 1024,
        }
    }
}

/// Upper bound on `udp_sockets`: more sockets than this only add memory.
pub const MAX_UDP_SOCKETS: usize = 256;
/// Longest `server_id`: one TXT character-string (RFC 1035 §3.3).
pub const MAX_SERVER_ID_BYTES: usize = 255;
/// Largest `rate_limit_slip`, as in BIND.
pub const MAX_RATE_LIMIT_SLIP: u32 = 10;
/// Allowed `rate_limit_ipv4_prefix_len` values, as in BIND.
pub const RATE_LIMIT_IPV4_PREFIX: std::ops::RangeInclusive<u8> = 8..=32;
/// Allowed `rate_limit_ipv6_prefix_len` values.
pub const RATE_LIMIT_IPV6_PREFIX: std::ops::RangeInclusive<u8> = 16..=128;

impl DnsConfig {
    /// Every problem in the section at once; `path` is where the section sits (`dns`).
    pub fn validate(&self, path: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        for (i, z) in self.zones.iter().enumerate() {
            if let Err(m) = check_name(z) {
                out.push(Problem::at(format!("{path}.zones[{i}]"), m));
            }
        }
        for (key, v) in [("soa_mname", &self.soa_mname), ("soa_rname", &self.soa_rname)] {
            if let Some(name) = v
                && let Err(m) = check_name(name)
            {
                out.push(Problem::at(format!("{path}.{key}"), m));
            }
        }
        for (i, ns) in self.name_servers.iter().enumerate() {
            if let Err(m) = check_name(&ns.name) {
                out.push(Problem::at(format!("{path}.name_servers[{i}].name"), m));
            }
        }
        if let Some(id) = &self.server_id
            && let Err(m) = check_server_id(id)
        {
            out.push(Problem::at(format!("{path}.server_id"), m));
        }
        if self.max_udp_payload_bytes < 512 {
            out.push(Problem::at(
                format!("{path}.max_udp_payload_bytes"),
                "must be at least 512 (RFC 1035 §4.2.1)",
            ));
        }
        if self.udp_sockets > MAX_UDP_SOCKETS {
            out.push(Problem::at(
                format!("{path}.udp_sockets"),
                format!("must be at most {MAX_UDP_SOCKETS} (0 means one per core)"),
            ));
        }
        if self.tcp_idle_timeout_ms == 0 {
            out.push(Problem::at(format!("{path}.tcp_idle_timeout_ms"), "must be positive"));
        }
        if self.tcp_max_connections == 0 {
            out.push(Problem::at(format!("{path}.tcp_max_connections"), "must be positive"));
        }
        if self.shed_queue_delay_ms > 10_000 {
            out.push(Problem::at(
                format!("{path}.shed_queue_delay_ms"),
                format!("{} is out of range 0..=10000", self.shed_queue_delay_ms),
            ));
        }
        if self.rate_limit_per_source_qps == 0 && self.rate_limit_burst > 0 {
            out.push(Problem::at(
                format!("{path}.rate_limit_burst"),
                "has no effect while rate_limit_per_source_qps is 0",
            ));
        }
        if self.rate_limit_slip > MAX_RATE_LIMIT_SLIP {
            out.push(Problem::at(
                format!("{path}.rate_limit_slip"),
                format!(
                    "must be 0 to {MAX_RATE_LIMIT_SLIP} (0 drops every limited query, N sends \
                     every Nth a truncated reply)"
                ),
            ));
        }
        for (key, len, range) in [
            ("rate_limit_ipv4_prefix_len", self.rate_limit_ipv4_prefix_len, RATE_LIMIT_IPV4_PREFIX),
            ("rate_limit_ipv6_prefix_len", self.rate_limit_ipv6_prefix_len, RATE_LIMIT_IPV6_PREFIX),
        ] {
            if !range.contains(&len) {
                out.push(Problem::at(
                    format!("{path}.{key}"),
                    format!("must be {} to {}, not {len}", range.start(), range.end()),
                ));
            }
        }
        out
    }

    /// `udp_sockets` with 0 resolved to the number of available cores.
    pub fn effective_udp_sockets(&self) -> usize {
        match self.udp_sockets {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n.min(MAX_UDP_SOCKETS),
        }
    }
}

/// Checks a server identifier: it must fit one TXT character-string and print as it is.
fn check_server_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("must not be empty; leave it out to send no identity".into());
    }
    if id.len() > MAX_SERVER_ID_BYTES {
        return Err(format!(
            "is {} bytes long; at most {MAX_SERVER_ID_BYTES} fit in a TXT record",
            id.len()
        ));
    }
    if !id.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err("may hold only printable ASCII characters (space to '~')".into());
    }
    Ok(())
}

/// Checks a domain name in presentation form: labels of 1..=63 letters, digits, `-` or `_`,
/// at most 253 characters without the optional trailing dot (RFC 1035 §2.3.4).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("must be a domain name, not empty or the root".into());
    }
    if bare.len() > 253 {
        return Err(format!("{name:?} is longer than 253 characters"));
    }
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name:?} has a label that is empty or over 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(format!("{name:?} may hold only letters, digits, '-' and '_'"));
        }
    }
    Ok(())
}
