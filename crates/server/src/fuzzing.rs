//! Entry points of the fuzz targets in `fuzz/` and of the corpus replay test
//! (`tests::corpora_replay_without_failure` below): one function per target from arbitrary
//! bytes to nothing, which panics when the code under test panics or answers something
//! malformed. Both call the same functions, so every input the fuzzer kept is replayed by
//! `cargo nextest run`.
//!
//! This module is public only so that the out-of-workspace fuzz crate can reach the HTTP
//! fast path and the traffic handlers, which are crate-private; it is not an API. Fixtures
//! (routing table, DNS authority, traffic front end) are built once per process.
//!
//! Targets ([`TARGETS`]): `decode_message` (SNMP), `dns_query`, `coverage_zones`, `config`,
//! `http_fast_path`, `traffic_query` and `client_address`. Run one with
//! `cd fuzz && cargo +nightly fuzz run -O -s none dns_query`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use bytes::BytesMut;
use switchyard_route::coverage::DeepCoverageZones;
use switchyard_route::{
    CoverageZones, FleetSpec, HealthState, HealthView, HttpRequest, NodeHealth, RoutingTable,
};
use switchyard_snmp::codec::{
    CommunityMessage, HeaderData, PduHeader, ScopedData, ScopedOut, UsmParamsOut, V3Message,
    encode_community, encode_scoped_pdu, encode_v3, peek_route,
};

use crate::dns::{Authority, DnsConfig, NameServer, Outcome, Transport};
use crate::metrics::Metrics;
use crate::traffic::fast::FrontEnd;
use crate::traffic::request::{Incoming, Target as RequestTarget};
use crate::traffic::{AddrSource, ClientAddr, TrafficConfig, TrafficContext};

/// A fuzz target: the name of its `fuzz/fuzz_targets/<name>.rs` and corpus directory
/// `fuzz/corpus/<name>/`, and the function both the target and the replay test call.
pub struct Target {
    /// Target and corpus directory name.
    pub name: &'static str,
    /// Feeds one input through the code under test; panics on a failure.
    pub run: fn(&[u8]),
}

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    Target { name: "decode_message", run: decode_message },
    Target { name: "dns_query", run: dns_query },
    Target { name: "coverage_zones", run: coverage_zones },
    Target { name: "config", run: config },
    Target { name: "http_fast_path", run: http_fast_path },
    Target { name: "traffic_query", run: traffic_query },
    Target { name: "client_address", run: client_address },
];

/// The fleet every fixture routes over: two zones with a backup, dual-stack and IPv4-only
/// nodes, a node observed down, a zone of many nodes (truncated DNS answers), exact and
/// wildcard host names, both policies, a regex content key and query parameters in it.
const FLEET: &str = r#"
[[zones]]
name = "east"
backups = ["west"]
latitude = 40.7
longitude = -74.0
[[zones]]
name = "west"
latitude = 37.7
longitude = -122.4
[[zones]]
name = "south"

[[nodes]]
id = "e1"
zone = "east"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
[[nodes]]
id = "e2"
zone = "east"
ipv4 = "192.0.2.2"
[[nodes]]
id = "w1"
zone = "west"
ipv4 = "192.0.2.11"
hostname = "w1.cdn.example.net"
port = 8080
[[nodes]]
id = "w2"
zone = "west"
ipv6 = "2001:db8::12"
[[nodes]]
id = "s1"
zone = "south"
ipv4 = "192.0.2.21"

[[services]]
name = "video"
hostnames = ["video.cdn.example.com", "*.edge.cdn.example.com"]
zones = ["east", "west"]
dns_answers = 2
ttl_seconds = 45
default_zone = "west"
dispersion = 2
hash_key = { path_regex = "^/([^/]+)/", query_params = ["v", "q"] }

[[services]]
name = "static"
hostnames = ["static.cdn.example.com"]
zones = ["west"]
policy = "weighted_random"
default_zone = "west"

[[services]]
name = "dead"
hostnames = ["dead.cdn.example.com"]
zones = ["south"]
default_zone = "south"
panic_threshold = 0.5
panic_mode = "closed"
"#;

/// Coverage zones of the fixture: IPv4 and IPv6 networks, one nested in another.
const CZF: &str = r#"{"coverageZones": {
    "east": {"network": ["10.1.0.0/16", "198.51.100.0/24"], "network6": ["2001:db8:e::/48"]},
    "west": {"network": ["10.2.2.0/24", "10.1.7.0/24"], "coordinates": {"latitude": 37.7, "longitude": -122.4}}
}}"#;

/// Sixteen dual-stack nodes in a zone `big` serving one long name, so that a DNS answer
/// overflows 512 bytes and is truncated.
fn fleet() -> FleetSpec {
    let mut text = String::from(FLEET);
    text.push_str("[[zones]]\nname = \"big\"\n");
    for i in 0..16 {
        text.push_str(&format!(
            "[[nodes]]\nid = \"big-{i}\"\nzone = \"big\"\nipv4 = \"198.18.0.{i}\"\nipv6 = \"2001:db8:b::{i:x}\"\n"
        ));
    }
    text.push_str(
        "[[services]]\nname = \"many\"\nhostnames = [\"a-rather-long-service-name-to-force-truncation.cdn.example.com\"]\nzones = [\"big\"]\ndns_answers = 16\ndefault_zone = \"big\"\n",
    );
    toml::from_str(&text).expect("the fuzz fixture fleet parses")
}

fn table() -> RoutingTable {
    let czf = CoverageZones::from_czf_json(CZF).expect("the fuzz fixture coverage zones parse");
    let health = HealthView::new(1).with("s1", NodeHealth::state(HealthState::Down));
    RoutingTable::build(&fleet(), &czf, None, &health).expect("the fuzz fixture table builds")
}

/// Client addresses a selector byte picks from: localized in `east` (v4 and v6), in
/// `west`, unmatched, and an IPv4-mapped IPv6 address.
const SOURCES: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xe, 0, 0, 0, 0, 9)),
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a02, 0x0203)),
];

// ---------------------------------------------------------------------------------------
// SNMP

/// Decodes `data` as an SNMP message (v1/v2c and v3) and checks that whatever decodes
/// re-encodes to a message that decodes to the same thing.
pub fn decode_message(data: &[u8]) {
    let _ = peek_route(data);
    if let Ok(m) = CommunityMessage::decode(data) {
        let vbs = m.pdu.varbinds.to_vec();
        let h = PduHeader {
            pdu_type: m.pdu.pdu_type,
            request_id: m.pdu.request_id,
            error_status: m.pdu.error_status,
            error_index: m.pdu.error_index,
        };
        let mut out = Vec::new();
        encode_community(&mut out, m.version, m.community, &h, &vbs[..]);
        let again = CommunityMessage::decode(&out).expect("re-encoded message decodes");
        assert_eq!(again.pdu.varbinds.to_vec(), vbs);
        assert_eq!((again.version, again.community), (m.version, m.community));
    }
    if let Ok(m) = V3Message::decode(data) {
        let mut scoped = Vec::new();
        let data_out = match m.data {
            ScopedData::Plain(s) => {
                let h = PduHeader {
                    pdu_type: s.pdu.pdu_type,
                    request_id: s.pdu.request_id,
                    error_status: s.pdu.error_status,
                    error_index: s.pdu.error_index,
                };
                encode_scoped_pdu(
                    &mut scoped,
                    s.context_engine_id,
                    s.context_name,
                    &h,
                    &s.pdu.varbinds.to_vec()[..],
                );
                ScopedOut::Plain(&scoped)
            }
            ScopedData::Encrypted(e) => ScopedOut::Encrypted(e),
        };
        let h: HeaderData = m.header;
        let usm = UsmParamsOut {
            engine_id: m.usm.engine_id,
            boots: m.usm.boots,
            time: m.usm.time,
            user: m.usm.user,
            auth_len: m.usm.auth_params.len(),
            priv_params: m.usm.priv_params,
        };
        let mut out = Vec::new();
        let off = encode_v3(&mut out, &h, &usm, data_out);
        out[off..off + usm.auth_len].copy_from_slice(m.usm.auth_params);
        let again = V3Message::decode(&out).expect("re-encoded v3 message decodes");
        assert_eq!(again.header, m.header);
        assert_eq!(again.usm.auth_params, m.usm.auth_params);
    }
}

// ---------------------------------------------------------------------------------------
// DNS

struct DnsFixture {
    auth: Authority,
    table: RoutingTable,
    max_udp: usize,
}

static DNS: LazyLock<DnsFixture> = LazyLock::new(|| {
    let config = DnsConfig {
        name_servers: vec![
            NameServer {
                name: "ns1.cdn.example.com".into(),
                ipv4: vec![Ipv4Addr::new(192, 0, 2, 53)],
                ipv6: vec![Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x53)],
            },
            NameServer { name: "ns2.example.net".into(), ipv4: vec![], ipv6: vec![] },
        ],
        server_id: Some("fuzz-1".into()),
        ..DnsConfig::default()
    };
    let max_udp = usize::from(config.max_udp_payload_bytes.max(512));
    DnsFixture { auth: Authority::new(&config), table: table(), max_udp }
});

/// Answers a DNS query from the fixed routing table. The first byte selects the transport
/// (bit 0: TCP), the source address (bits 1-2) and whether the query is answered as a
/// rate-limited slip (bit 3); the rest is the query message. Checks that a reply echoes the
/// id, has QR set and fits the transport's size limit.
pub fn dns_query(data: &[u8]) {
    let Some((&sel, query)) = data.split_first() else { return };
    let fx = &*DNS;
    let transport = if sel & 1 == 0 { Transport::Udp } else { Transport::Tcp };
    let src = SOURCES[usize::from(sel >> 1) & 3];
    let mut out = vec![0u8; usize::from(u16::MAX)];
    let (outcome, limit) = if sel & 8 != 0 {
        (crate::dns::slip(&fx.auth, query, &mut out), 512)
    } else {
        let limit = match transport {
            Transport::Udp => fx.max_udp,
            Transport::Tcp => out.len(),
        };
        (crate::dns::answer(&fx.auth, &fx.table, query, src, transport, 7, &mut out), limit)
    };
    if let Outcome::Reply { len, .. } = outcome {
        assert!(len >= 12, "a {len}-byte reply is shorter than a DNS header");
        assert!(len <= limit, "a {len}-byte reply exceeds the {limit}-byte limit");
        assert_eq!(out[..2], query[..2], "the reply does not echo the query id");
        assert_ne!(out[2] & 0x80, 0, "the reply does not have QR set");
    }
}

// ---------------------------------------------------------------------------------------
// Coverage zones

static FLEET_SPEC: LazyLock<FleetSpec> = LazyLock::new(fleet);

/// Addresses looked up in every coverage zone file that parses.
const PROBES: [IpAddr; 6] = [
    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
    IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)),
    IpAddr::V4(Ipv4Addr::new(255, 255, 255, 255)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xe, 0, 0, 0, 0, 9)),
    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0)),
    IpAddr::V6(Ipv6Addr::new(0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff)),
];

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

/// Parses a coverage zone file. The first byte selects the format (0: coverage zone JSON,
/// 1: CSV, 2: deep coverage zone JSON, 3: coverage zone JSON with the fixture's deep
/// zones); the rest is the file (UTF-8). What parses is looked up, and a routing table is
/// built over it and asked for a decision and its ECS scope.
pub fn coverage_zones(data: &[u8]) {
    let Some((&sel, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    let czf = match sel & 3 {
        0 => CoverageZones::from_czf_json(text),
        1 => CoverageZones::from_csv(text),
        2 => {
            let Ok(deep) = DeepCoverageZones::from_dczf_json(text) else { return };
            for ip in PROBES {
                if let Some((_, len)) = deep.lookup(ip) {
                    assert!(len <= max_prefix(ip), "deep match /{len} for {ip}");
                }
            }
            let _ = (deep.conflicts(), deep.misfiled(), deep.memory_bytes());
            CoverageZones::from_czf_json(CZF).map(|c| c.with_deep(deep))
        }
        _ => CoverageZones::from_czf_json(text).map(|c| {
            let deep = DeepCoverageZones::from_dczf_json(
                r#"{"deepCoverageZones": {"deep-east": {"network": ["10.1.2.0/24"], "caches": ["e1"]}}}"#,
            )
            .expect("the fixture deep coverage zones parse");
            c.with_deep(deep)
        }),
    };
    let Ok(czf) = czf else { return };
    for ip in PROBES {
        if let Some((_, len)) = czf.lookup(ip) {
            assert!(len <= max_prefix(ip), "match /{len} for {ip}");
        }
        for zone in czf.zones() {
            let _ = czf.coordinates(&zone.name);
        }
    }
    let _ = (czf.conflicts(), czf.misfiled(), czf.memory_bytes());
    let Ok(table) = RoutingTable::build(&FLEET_SPEC, &czf, None, &HealthView::new(1)) else {
        return;
    };
    let Some(service) = table.service_for_host("video.cdn.example.com") else {
        panic!("the fixture service is not in a table built over a parsed coverage file");
    };
    for ip in PROBES {
        let req = HttpRequest { service, client_ip: ip, path: "/a/b.ts", query: "", seed: 7 };
        if let Ok(d) = table.route_http(&req, true) {
            let depth = table.scope_prefix_len(ip, &d.localization);
            assert!(depth <= max_prefix(ip), "scope /{depth} for {ip}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration

/// Loads `data` (UTF-8) as `switchyard.toml` and renders its problems, as `check-config`
/// and `serve` do, then parses it as a fleet file. Relative paths resolve against a folder
/// that does not exist, so nothing outside the input is read.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let base = Path::new("/nonexistent/switchyard-fuzz");
    match crate::config::load_str(text, "fuzz.toml", base) {
        Ok(config) => {
            let _ = RoutingTable::build(
                &config.inventory.fleet,
                &CoverageZones::default(),
                None,
                &HealthView::new(1),
            );
        }
        Err(e) => {
            assert!(!e.problems.is_empty(), "a configuration error without a problem");
            let _ = e.to_string();
        }
    }
    if let Ok(fleet) = toml::from_str::<FleetSpec>(text) {
        let _ = fleet.validate();
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

static FRONT: LazyLock<Arc<FrontEnd>> = LazyLock::new(|| {
    let config = TrafficConfig {
        // The peer below is a trusted proxy, so `X-Forwarded-For` and `X-MM-Client-IP` count.
        trusted_proxies: vec!["127.0.0.0/8".into(), "::1/128".into()],
        allow_fake_client_ip: true,
        httpdns_max_hosts: 4,
        ..TrafficConfig::default()
    };
    let ctx = TrafficContext::new(Arc::new(ArcSwap::from_pointee(table())));
    crate::traffic::front_end(ctx, &config, &Metrics::new()).0
});

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Feeds `data` to the HTTP fast path as the bytes one read delivered on a connection from
/// a trusted proxy, and checks what it writes: a sequence of complete HTTP/1.1 responses
/// whose `Content-Length` covers their JSON bodies (or is a `HEAD` answer's, without
/// body). A request handed over to hyper must still be in the buffer.
pub fn http_fast_path(data: &[u8]) {
    let front = &*FRONT;
    let mut buf = BytesMut::from(data);
    let mut out = Vec::new();
    let (step, _) = front.answer_buffered(&mut buf, PEER, false, false, &mut out, &mut Vec::new());
    if step == crate::traffic::fast::Step::HandOver {
        assert!(!buf.is_empty(), "handed over without the request");
    }
    check_responses(&out);
}

fn check_responses(mut out: &[u8]) {
    while !out.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut headers);
        let head = match resp.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => {
                panic!("malformed response head ({other:?}): {:?}", String::from_utf8_lossy(out))
            }
        };
        assert_eq!(resp.version, Some(1), "not an HTTP/1.1 response");
        let length = resp
            .headers
            .iter()
            .find(|h| h.name == "content-length")
            .map(|h| {
                std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.parse::<usize>().ok())
                    .expect("a numeric content-length")
            })
            .unwrap_or(0);
        out = &out[head..];
        // A body is JSON; a `HEAD` answer has none: the next response follows at once, or
        // nothing when it was the last.
        if length > 0 && !out.is_empty() && !out.starts_with(b"HTTP/1.1 ") {
            assert!(out.len() >= length, "body shorter than its content-length");
            let body = &out[..length];
            serde_json::from_slice::<serde_json::Value>(body).expect("the body is JSON");
            out = &out[length..];
        }
    }
}

/// Paths a selector picks: the two APIs and a content path (a redirect).
const PATHS: [&str; 3] = ["/v1/route", "/d", "/video/seg-1.ts"];

/// Hosts a selector picks: none, a service, a wildcard service, an unknown host.
const HOSTS: [Option<&str>; 4] =
    [None, Some("video.cdn.example.com"), Some("x.edge.cdn.example.com"), Some("example.org")];

/// Answers a request with the query string `data[1..]` (UTF-8) through the handlers the
/// fast path and the router share. The first byte selects the path (`/v1/route`, `/d`, a
/// redirect), the `Host` and the client address. Checks that the body is JSON and that a
/// `Location` is an absolute http(s) URL that cannot break the response head.
pub fn traffic_query(data: &[u8]) {
    let Some((&sel, query)) = data.split_first() else { return };
    let Ok(query) = std::str::from_utf8(query) else { return };
    let front = &*FRONT;
    let incoming = Incoming {
        readable: true,
        options: false,
        target: RequestTarget::Resource,
        path: PATHS[usize::from(sel & 3) % PATHS.len()],
        query,
        host: HOSTS[usize::from(sel >> 2) & 3],
        client: ClientAddr::new(SOURCES[usize::from(sel >> 4) & 3], AddrSource::Peer),
        tls: sel & 0x40 != 0,
        trace: None,
    };
    let reply = crate::traffic::dispatch::dispatch(&front.shared, &incoming);
    if !reply.body.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&reply.body).expect("the body is JSON");
    }
    if let Some(location) = &reply.location {
        let l = location.as_bytes();
        assert!(
            l.starts_with(b"http://") || l.starts_with(b"https://"),
            "Location {:?} is not an absolute http(s) URL",
            String::from_utf8_lossy(l)
        );
        assert!(
            !l.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)),
            "Location {l:?} would break the response head"
        );
    }
}

/// The proxies the client-address target trusts: 10.0.0.0/8 and 2001:db8:f::/48.
static PROXIES: LazyLock<Vec<ipnet::IpNet>> = LazyLock::new(|| {
    ["10.0.0.0/8", "2001:db8:f::/48"]
        .iter()
        .map(|p| crate::traffic::config::parse_proxy(p).expect("a proxy range"))
        .collect()
});

/// Resolves the client of a request whose proxy headers are the lines of `data[1..]`: each
/// line's first byte picks the header (`X-Forwarded-For`, `Forwarded`, `X-MM-Client-IP`,
/// `X-Forwarded-Proto`), the rest is its value; `data[0]` picks the peer (trusted or not)
/// and whether `Forwarded` is believed. Checks that the fast path's resolution (raw header
/// values) and hyper's (a `HeaderMap`) agree whenever the values are valid header values,
/// that an untrusted peer's headers are never read, and that `Forwarded` lines parse to at
/// most one element per list member.
pub fn client_address(data: &[u8]) {
    use axum::http::{HeaderMap, HeaderName, HeaderValue};

    use crate::traffic::client_ip::{self, Proxied, Trust};

    const NAMES: [&str; 4] =
        ["x-forwarded-for", "forwarded", "x-mm-client-ip", "x-forwarded-proto"];
    const PEERS: [IpAddr; 4] = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 5)),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0002)),
    ];
    let Some((&sel, rest)) = data.split_first() else { return };
    let peer = PEERS[usize::from(sel & 3)];
    let trust = Trust { proxies: &PROXIES, forwarded: sel & 4 != 0, metrics: None };
    let lines: Vec<(&str, &[u8])> = rest
        .split(|&b| b == b'\n')
        .filter_map(|l| l.split_first())
        .map(|(&which, value)| (NAMES[usize::from(which & 3)], value))
        .collect();
    let values = |name: &'static str| lines.iter().filter(move |l| l.0 == name).map(|l| l.1);
    let first = |name: &'static str| values(name).next();
    let proxied = Proxied {
        forwarded_for: values(NAMES[0]),
        forwarded: values(NAMES[1]),
        mm_client_ip: first(NAMES[2]),
        forwarded_proto: first(NAMES[3]),
    };
    let fast = client_ip::resolve_lines(peer, proxied, trust);

    if !PROXIES.iter().any(|n| n.contains(&peer.to_canonical())) {
        assert_eq!(fast, ClientAddr::new(peer.to_canonical(), AddrSource::Peer), "untrusted peer");
    }
    for line in values(NAMES[1]) {
        if let Ok(elements) = crate::traffic::forwarded::parse(line) {
            let members = line.iter().filter(|&&b| b == b',').count() + 1;
            assert!(elements.len() <= members, "{} elements in {line:?}", elements.len());
        }
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &lines {
        let Ok(value) = HeaderValue::from_bytes(value) else { return };
        headers.append(HeaderName::from_static(name), value);
    }
    let hyper = client_ip::resolve_with(peer, &headers, trust);
    assert_eq!(fast, hyper, "the two paths disagree on {lines:?}");
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn corpus_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
    }

    /// Every input kept in `fuzz/corpus/<target>/` (the minimized corpora and the inputs of
    /// fixed crashes) goes through the function its fuzz target calls, without a panic.
    #[test]
    fn corpora_replay_without_failure() {
        for target in TARGETS {
            let dir = corpus_root().join(target.name);
            let entries = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
            let mut count = 0;
            for entry in entries {
                let path = entry.unwrap().path();
                if !path.is_file() {
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                let run = std::panic::catch_unwind(|| (target.run)(&data));
                assert!(run.is_ok(), "{}: {} fails", target.name, path.display());
                count += 1;
            }
            assert!(count > 0, "corpus {} is empty", dir.display());
        }
    }

    /// Every corpus directory belongs to a target, so none is silently left out.
    #[test]
    fn every_corpus_has_a_target() {
        for entry in std::fs::read_dir(corpus_root()).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(TARGETS.iter().any(|t| t.name == name), "fuzz/corpus/{name} has no target");
        }
    }

    /// The DNS fixture answers a service name with addresses, so the target exercises the
    /// answer path and not only the parser.
    #[test]
    fn dns_fixture_answers_a_service() {
        // Query id 0x4242, RD, one question: video.cdn.example.com A IN.
        let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["video", "cdn", "example", "com"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let mut out = vec![0u8; 512];
        let outcome =
            crate::dns::answer(&DNS.auth, &DNS.table, &q, SOURCES[0], Transport::Udp, 7, &mut out);
        let Outcome::Reply { len, rcode, .. } = outcome else { panic!("dropped: {outcome:?}") };
        assert_eq!(rcode, crate::dns::Rcode::NoError);
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 2, "two A records");
        assert!(len > q.len());
        dns_query(&[&[0u8][..], &q].concat());
    }

    /// The HTTP fixture routes through the fast path, and the response check accepts it.
    #[test]
    fn fast_path_fixture_routes() {
        let req =
            b"GET /v1/route?host=video.cdn.example.com&ip=10.1.2.3 HTTP/1.1\r\nHost: a\r\n\r\n\
                    HEAD /d?host=video.cdn.example.com HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut buf = BytesMut::from(&req[..]);
        let mut out = Vec::new();
        let (step, complete) =
            FRONT.answer_buffered(&mut buf, PEER, false, false, &mut out, &mut Vec::new());
        assert_eq!(step, crate::traffic::fast::Step::KeepAlive);
        assert!(complete && buf.is_empty());
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("\"e1\"") || text.contains("\"e2\""), "{text}");
        assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
        check_responses(&out);
    }

    /// The response check rejects a body that is not what `Content-Length` says.
    #[test]
    #[should_panic(expected = "the body is JSON")]
    fn response_check_rejects_a_broken_body() {
        check_responses(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n{x}");
    }

    /// A redirect through the query target carries the query into `Location`.
    #[test]
    fn query_fixture_redirects() {
        let incoming = Incoming {
            readable: true,
            options: false,
            target: RequestTarget::Resource,
            path: "/video/seg-1.ts",
            query: "v=1",
            host: Some("video.cdn.example.com"),
            client: ClientAddr::new(SOURCES[0], AddrSource::Peer),
            tls: false,
            trace: None,
        };
        let reply = crate::traffic::dispatch::dispatch(&FRONT.shared, &incoming);
        let location = reply.location.expect("a redirect");
        assert!(location.to_str().unwrap().ends_with("/video/seg-1.ts?v=1"), "{location:?}");
        // Selector 2: the redirect path, no host; 6: the redirect path with the service host.
        traffic_query(b"\x06v=1&format=json");
    }
}
