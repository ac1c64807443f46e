//! The DNS listener against what outside conformance suites check, through real loopback
//! sockets with `dig` (BIND) and `kdig` (Knot): the zone's own name servers, zone
//! transfers, ANY at the apex, the DO bit, unknown opcodes, NSID and the CHAOS identity,
//! rate limiting that lets real resolvers through over TCP, and TCP at its connection limit.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::dns_common::{Server, flags, section, status};
use switchyard::dns::{DnsConfig, NameServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `[dns]` with one name server inside the zone, with glue of both families.
fn with_name_server() -> DnsConfig {
    DnsConfig {
        name_servers: vec![NameServer {
            name: "ns1.cdn.example.com".into(),
            ipv4: vec!["192.0.2.53".parse().unwrap()],
            ipv6: vec!["2001:db8::53".parse().unwrap()],
        }],
        ..DnsConfig::default()
    }
}

/// A query for `name` (type `qtype`, class IN, no EDNS) with message id `id`.
fn query_bytes(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// A UDP client on loopback address `from` (any of 127.0.0.0/8 works on Linux).
fn udp_client(server: &Server, from: &str) -> UdpSocket {
    let sock = UdpSocket::bind((from, 0)).unwrap();
    sock.connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock
}

fn rcode(reply: &[u8]) -> u8 {
    reply[3] & 0xf
}

fn ancount(reply: &[u8]) -> u16 {
    u16::from_be_bytes([reply[6], reply[7]])
}

fn answers(out: &str) -> Vec<(&str, &str)> {
    section(out, "ANSWER").into_iter().map(|r| (r.2, r.3)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zones_own_name_servers_resolve() {
    let s = Server::start(with_name_server()).await;
    let _guard = s.stop_on_panic();
    let a = s.dig(&["ns1.cdn.example.com", "A"]).await;
    assert_eq!(status(&a), "NOERROR", "{a}");
    assert!(flags(&a).contains(&"aa"), "{a}");
    assert_eq!(answers(&a), [("A", "192.0.2.53")], "{a}");
    let aaaa = s.kdig(&["ns1.cdn.example.com", "AAAA"]).await;
    assert!(aaaa.contains("status: NOERROR"), "{aaaa}");
    assert!(aaaa.contains("AAAA\t2001:db8::53"), "{aaaa}");
    // The address a resolver is told in the NS answer's glue is the one it finds here.
    let ns = s.dig(&["cdn.example.com", "NS"]).await;
    assert!(section(&ns, "ADDITIONAL").iter().any(|r| r.3 == "192.0.2.53"), "{ns}");
    s.shutdown().await;

    // The default name server, ns1.<apex>, has no addresses but exists: NODATA.
    let s = Server::start(DnsConfig::default()).await;
    let _guard = s.stop_on_panic();
    let a = s.dig(&["ns1.cdn.example.com", "A"]).await;
    assert_eq!(status(&a), "NOERROR", "{a}");
    assert!(flags(&a).contains(&"aa"), "{a}");
    assert!(section(&a, "ANSWER").is_empty(), "{a}");
    assert_eq!(section(&a, "AUTHORITY")[0].2, "SOA", "{a}");
    assert_eq!(status(&s.dig(&["ns2.cdn.example.com", "A"]).await), "NXDOMAIN");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_transfers_are_refused_over_udp_and_tcp() {
    let s = Server::start(DnsConfig::default()).await;
    let _guard = s.stop_on_panic();
    // Over TCP, as secondaries ask (dig and kdig use TCP for transfers).
    let axfr = s.kdig(&["cdn.example.com", "AXFR"]).await;
    assert!(axfr.contains("server replied with error 'REFUSED'"), "{axfr}");
    for qtype in ["AXFR", "IXFR=1"] {
        let out = s.dig(&["cdn.example.com", qtype]).await;
        assert!(out.contains("; Transfer failed."), "{qtype}:\n{out}");
        assert!(section(&out, "ANSWER").is_empty(), "{qtype}:\n{out}");
    }
    // A name that is no apex of ours: NOTAUTH.
    let other = s.kdig(&["video.cdn.example.com", "AXFR"]).await;
    assert!(other.contains("server replied with error 'NOTAUTH'"), "{other}");

    // Over UDP, from a raw client (dig prints no header for a UDP IXFR).
    let sock = udp_client(&s, "127.0.0.1");
    let mut buf = [0u8; 512];
    for (id, name, qtype, want) in [
        (1, "cdn.example.com", 252, 5),
        (2, "cdn.example.com", 251, 5),
        (3, "example.org", 252, 9),
        (4, "video.cdn.example.com", 251, 9),
    ] {
        sock.send(&query_bytes(id, name, qtype)).unwrap();
        let n = sock.recv(&mut buf).expect("a reply");
        assert_eq!(buf[..2], id.to_be_bytes());
        assert_eq!((rcode(&buf[..n]), ancount(&buf[..n])), (want, 0), "{name} {qtype}");
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_at_the_apex_returns_soa_and_ns() {
    let s = Server::start(with_name_server()).await;
    let _guard = s.stop_on_panic();
    for transport in ["+notcp", "+tcp"] {
        let out = s.dig(&[transport, "cdn.example.com", "ANY"]).await;
        assert_eq!(status(&out), "NOERROR", "{out}");
        let types: Vec<&str> = answers(&out).iter().map(|r| r.0).collect();
        assert_eq!(types, ["SOA", "NS"], "{transport}:\n{out}");
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_do_bit_is_copied_into_the_opt_record() {
    let s = Server::start(DnsConfig::default()).await;
    let _guard = s.stop_on_panic();
    let with = s.dig(&["+dnssec", "video.cdn.example.com", "A"]).await;
    assert!(with.contains("; EDNS: version: 0, flags: do;"), "{with}");
    let kwith = s.kdig(&["+dnssec", "nope.cdn.example.com", "A"]).await;
    assert!(kwith.contains("flags: do;"), "{kwith}");
    let without = s.dig(&["video.cdn.example.com", "A"]).await;
    assert!(without.contains("; EDNS: version: 0, flags:;"), "{without}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_opcodes_get_notimp_as_the_compliance_tests_expect() {
    let s = Server::start(DnsConfig::default()).await;
    let _guard = s.stop_on_panic();
    // ISC's `opcode` and `opcodeflg` tests and RFC 8906 §8.1.4, with RD set.
    let plain = s.dig(&["+noedns", "+rec", "+header-only", "+opcode=15"]).await;
    assert_eq!(status(&plain), "NOTIMP", "{plain}");
    assert!(plain.contains("opcode: RESERVED15"), "{plain}");
    assert_eq!(flags(&plain), ["qr"], "nothing echoed but QR:\n{plain}");
    assert!(!plain.contains("OPT PSEUDOSECTION"), "{plain}");
    let flagged = s
        .dig(&["+noedns", "+header-only", "+opcode=15", "+tcflag", "+rec", "+raflag", "+cd"])
        .await;
    assert_eq!(flags(&flagged), ["qr"], "{flagged}");
    // With EDNS, the reply carries OPT (RFC 6891 §6.1.1) with the DO bit.
    let edns = s.dig(&["+dnssec", "+rec", "+header-only", "+opcode=15"]).await;
    assert_eq!(status(&edns), "NOTIMP", "{edns}");
    assert_eq!(flags(&edns), ["qr"], "{edns}");
    assert!(edns.contains("; EDNS: version: 0, flags: do;"), "{edns}");
    // With a question, it is echoed.
    let asked = s.dig(&["+rec", "+opcode=9", "video.cdn.example.com", "A"]).await;
    assert_eq!(status(&asked), "NOTIMP", "{asked}");
    assert_eq!(flags(&asked), ["qr"], "{asked}");
    assert!(asked.contains(";; QUESTION SECTION:\n;video.cdn.example.com."), "{asked}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_identity_over_nsid_and_chaos_when_configured() {
    let config = DnsConfig { server_id: Some("edge-7.ams".into()), ..DnsConfig::default() };
    let s = Server::start(config).await;
    let _guard = s.stop_on_panic();
    let nsid = s.dig(&["+nsid", "video.cdn.example.com", "A"]).await;
    assert!(nsid.contains("(\"edge-7.ams\")"), "{nsid}");
    let knsid = s.kdig(&["+nsid", "video.cdn.example.com", "A"]).await;
    assert!(knsid.contains("\"edge-7.ams\""), "{knsid}");
    let plain = s.dig(&["video.cdn.example.com", "A"]).await;
    assert!(!plain.contains("NSID"), "only when asked:\n{plain}");
    for name in ["id.server", "hostname.bind"] {
        let out = s.dig(&["CH", "TXT", name]).await;
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert_eq!(answers(&out), [("TXT", "\"edge-7.ams\"")], "{out}");
    }
    let kout = s.kdig(&["CH", "TXT", "id.server"]).await;
    assert!(kout.contains("CH\tTXT\t\"edge-7.ams\""), "{kout}");
    s.shutdown().await;

    let s = Server::start(DnsConfig::default()).await;
    let _guard = s.stop_on_panic();
    let nsid = s.dig(&["+nsid", "video.cdn.example.com", "A"]).await;
    assert_eq!(status(&nsid), "NOERROR", "{nsid}");
    assert!(!nsid.contains("NSID"), "{nsid}");
    assert_eq!(status(&s.dig(&["CH", "TXT", "id.server"]).await), "REFUSED");
    s.shutdown().await;
}

/// Waits until the listener has handled `n` UDP packets from rate-limited or answered
/// sources, so the replies sent are all in the client's socket buffer.
async fn handled(s: &Server, n: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let total = s.metric("switchyard_dns_queries_total", &["transport=\"udp\""])
            + s.metric("switchyard_dns_dropped_total", &["reason=\"rate_limited\""])
            + s.metric("switchyard_dns_rate_limit_slipped_total", &[]);
        if total >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {total} of {n} handled");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Replies waiting in `sock`: (id, TC set, ANCOUNT).
fn replies(sock: &UdpSocket) -> Vec<(u16, bool, u16)> {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1232];
    let mut got = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        got.push((u16::from_be_bytes([buf[0], buf[1]]), buf[2] & 0x02 != 0, ancount(&buf[..n])));
    }
    got
}

/// Over the limit, every second query gets an empty TC reply and the others nothing; the
/// budget is shared by a /24, and the next /24 has its own. One token accrues per second,
/// so everything limited happens well inside a second of the burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_drops_and_slips_per_source_prefix() {
    let config = DnsConfig {
        udp_sockets: 1,
        rate_limit_per_source_qps: 1,
        rate_limit_burst: 2,
        ..DnsConfig::default()
    };
    let s = Server::start(config).await;
    let _guard = s.stop_on_panic();
    let first = udp_client(&s, "127.0.0.2");
    for id in 0..10 {
        first.send(&query_bytes(id, "video.cdn.example.com", 1)).unwrap();
    }
    handled(&s, 10.0).await;
    let got = replies(&first);
    assert_eq!(got[..2], [(0, false, 2), (1, false, 2)], "the burst is answered: {got:?}");
    assert_eq!(got[2..], [(3, true, 0), (5, true, 0), (7, true, 0), (9, true, 0)], "{got:?}");
    assert_eq!(s.metric("switchyard_dns_dropped_total", &["reason=\"rate_limited\""]), 4.0);
    assert_eq!(s.metric("switchyard_dns_rate_limit_slipped_total", &[]), 4.0);
    assert_eq!(s.metric("switchyard_dns_truncated_total", &[]), 0.0, "slips are not answers");

    // Same /24: the same budget, already spent.
    let neighbour = udp_client(&s, "127.0.0.3");
    for id in 10..12 {
        neighbour.send(&query_bytes(id, "video.cdn.example.com", 1)).unwrap();
    }
    handled(&s, 12.0).await;
    assert_eq!(replies(&neighbour), [(11, true, 0)]);
    // Another /24: its own budget.
    let other = udp_client(&s, "127.0.1.3");
    other.send(&query_bytes(12, "video.cdn.example.com", 1)).unwrap();
    handled(&s, 13.0).await;
    assert_eq!(replies(&other), [(12, false, 2)]);
    s.shutdown().await;
}

/// A resolver whose address is being flooded still gets its answer: the slipped reply
/// sends it to TCP, which is not limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_resolver_retries_over_tcp_and_is_answered() {
    let config = DnsConfig {
        udp_sockets: 1,
        rate_limit_per_source_qps: 1,
        rate_limit_burst: 1,
        rate_limit_slip: 1,
        ..DnsConfig::default()
    };
    let s = Server::start(config).await;
    let _guard = s.stop_on_panic();
    let flood = udp_client(&s, "127.0.0.1");
    for id in 0..5 {
        flood.send(&query_bytes(id, "video.cdn.example.com", 1)).unwrap();
    }
    handled(&s, 5.0).await;
    let out = s.dig(&["video.cdn.example.com", "A"]).await;
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert_eq!(section(&out, "ANSWER").len(), 2, "{out}");
    assert!(s.metric("switchyard_dns_rate_limit_slipped_total", &[]) >= 5.0);
    s.shutdown().await;
}

/// Sends one framed query on `conn` and returns the reply's id, or `None` when the server
/// closed the connection.
async fn tcp_ask(conn: &mut TcpStream, id: u16) -> Option<u16> {
    let q = query_bytes(id, "video.cdn.example.com", 1);
    let mut frame = (q.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&q);
    conn.write_all(&frame).await.ok()?;
    let len = conn.read_u16().await.ok()?;
    let mut msg = vec![0u8; usize::from(len)];
    conn.read_exact(&mut msg).await.ok()?;
    Some(u16::from_be_bytes([msg[0], msg[1]]))
}

async fn closed(conn: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), conn.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_at_its_limit_closes_the_idlest_connection() {
    let config =
        DnsConfig { tcp_max_connections: 3, tcp_idle_timeout_ms: 60_000, ..DnsConfig::default() };
    let s = Server::start(config).await;
    let _guard = s.stop_on_panic();
    let addr: SocketAddr = s.addr;
    let mut conns = Vec::new();
    for id in 1..=3u16 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        assert_eq!(tcp_ask(&mut c, id).await, Some(id));
        conns.push(c);
    }
    // The first asks again: the second is now the one idle the longest.
    assert_eq!(tcp_ask(&mut conns[0], 4).await, Some(4));

    let started = Instant::now();
    let out = s.dig(&["+tcp", "+time=2", "video.cdn.example.com", "A"]).await;
    assert_eq!(status(&out), "NOERROR", "{out}");
    assert!(started.elapsed() < Duration::from_secs(2), "answered promptly: {out}");
    assert_eq!(s.metric("switchyard_dns_tcp_evicted_total", &[]), 1.0);

    assert!(closed(&mut conns[1]).await, "the idlest connection was closed");
    assert_eq!(tcp_ask(&mut conns[0], 5).await, Some(5), "the others stay open");
    assert_eq!(tcp_ask(&mut conns[2], 6).await, Some(6));
    s.shutdown().await;
}
