//! The DNS listener over real loopback sockets, driven by `dig` (bind9-dnsutils) and raw
//! UDP/TCP clients: answer kinds, ECS, truncation with TCP fallback, case, malformed
//! packets, rate limiting, metrics and shutdown.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Duration;

use crate::dns_common::{MANY, Server, flags, section, status};
use arc_swap::ArcSwap;
use switchyard::dns::DnsConfig;
use switchyard::metrics::Metrics;
use switchyard_route::{CoverageZones, FleetSpec, HealthView, RoutingTable};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

fn query_bytes(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0]);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

fn client(server: &Server) -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_localized_by_client_subnet_with_scope() {
    let s = Server::start(DnsConfig { udp_sockets: 2, ..DnsConfig::default() }).await;

    let east = s.dig(&["video.cdn.example.com", "A", "+subnet=10.1.2.0/24"]).await;
    assert_eq!(status(&east), "NOERROR", "{east}");
    assert!(flags(&east).contains(&"aa"), "{east}");
    assert!(east.contains("CLIENT-SUBNET: 10.1.2.0/24/16"), "scope = /16 network:\n{east}");
    let east_ips: Vec<_> = section(&east, "ANSWER").iter().map(|r| r.3.to_string()).collect();
    assert_eq!(east_ips.len(), 2, "{east}");
    assert!(east_ips.iter().all(|ip| ip == "192.0.2.1" || ip == "192.0.2.2"), "{east}");
    assert!(section(&east, "ANSWER").iter().all(|r| r.1 == 45), "{east}");

    let west = s.dig(&["video.cdn.example.com", "A", "+subnet=10.2.2.0/24"]).await;
    assert!(west.contains("CLIENT-SUBNET: 10.2.2.0/24/24"), "{west}");
    let west_ips: Vec<_> = section(&west, "ANSWER").iter().map(|r| r.3.to_string()).collect();
    assert!(west_ips.iter().all(|ip| ip == "192.0.2.11" || ip == "192.0.2.12"), "{west}");
    assert_eq!(west_ips.len(), 2);

    let cased = s.dig(&["ViDeO.cdn.EXAMPLE.com", "A"]).await;
    let answers = section(&cased, "ANSWER");
    assert!(
        !answers.is_empty() && answers.iter().all(|r| r.0 == "ViDeO.cdn.EXAMPLE.com."),
        "{cased}"
    );

    let tcp = s.dig(&["+tcp", "video.cdn.example.com", "A", "+subnet=10.1.2.0/24"]).await;
    assert_eq!(section(&tcp, "ANSWER").len(), 2, "{tcp}");

    assert!(
        s.metric(
            "switchyard_dns_queries_total",
            &["qtype=\"A\"", "rcode=\"NOERROR\"", "transport=\"udp\""]
        ) >= 3.0
    );
    assert!(s.metric("switchyard_dns_queries_total", &["transport=\"tcp\""]) >= 1.0);
    assert!(s.metric("switchyard_dns_response_duration_seconds_count", &[]) >= 0.0);
    s.shutdown().await;
}

/// Zones a, b, c on 10.1.0.0/16, 10.2.0.0/16 (and 10.1.5.0/24, inside a's network) and
/// 10.3.0.0/16, default zone d; node N of zone N answers 192.0.2.N.
fn nested_coverage_table() -> RoutingTable {
    let mut fleet = String::new();
    for (i, zone) in ["a", "b", "c", "d"].iter().enumerate() {
        fleet.push_str(&format!(
            "[[zones]]\nname = \"{zone}\"\n[[nodes]]\nid = \"{zone}1\"\nzone = \"{zone}\"\nipv4 = \"192.0.2.{}\"\n",
            i + 1
        ));
    }
    fleet.push_str(
        "[[services]]\nname = \"svc\"\nhostnames = [\"svc.cdn.example.com\"]\n\
         zones = [\"a\", \"b\", \"c\", \"d\"]\ndns_answers = 1\ndefault_zone = \"d\"\n",
    );
    let spec: FleetSpec = toml::from_str(&fleet).unwrap();
    let czf = CoverageZones::from_czf_json(
        r#"{"coverageZones": {
            "a": {"network": ["10.1.0.0/16"]},
            "b": {"network": ["10.2.0.0/16", "10.1.5.0/24"]},
            "c": {"network": ["10.3.0.0/16"]}
        }}"#,
    )
    .unwrap();
    RoutingTable::build(&spec, &czf, None, &HealthView::new(1)).unwrap()
}

/// The reported defect through `dig`: a /8 client subnet outside every coverage network
/// got zone d's answer with scope /8, which resolvers then reused for the /16s of a, b and
/// c. The scope must leave out every more specific network that places clients elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_subnet_scope_leaves_out_nested_coverage_networks() {
    let metrics = Metrics::new();
    let stop = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let table = Arc::new(ArcSwap::from_pointee(nested_coverage_table()));
    let addr = switchyard::dns::spawn(
        &mut tasks,
        "127.0.0.1:0".parse().unwrap(),
        &DnsConfig::default(),
        table,
        &metrics,
        stop.clone(),
        // Port 0: served at once, readiness does not apply.
        CancellationToken::new(),
    )
    .await
    .expect("dns listener binds");
    let s = Server { addr, metrics, stop, tasks };

    // (client subnet, expected answer, expected "address/source/scope" from dig)
    let cases = [
        ("10.0.0.0/8", "192.0.2.4", "10.0.0.0/8/16"),
        ("10.1.0.0/16", "192.0.2.1", "10.1.0.0/16/22"),
        ("10.1.5.0/24", "192.0.2.2", "10.1.5.0/24/24"),
        ("10.1.200.0/24", "192.0.2.1", "10.1.200.0/24/17"),
        ("10.2.0.0/16", "192.0.2.2", "10.2.0.0/16/16"),
        ("10.3.7.0/24", "192.0.2.3", "10.3.7.0/24/16"),
        ("10.128.0.0/9", "192.0.2.4", "10.128.0.0/9/9"),
    ];
    for (subnet, answer, ecs) in cases {
        let out = s.dig(&["svc.cdn.example.com", "A", &format!("+subnet={subnet}")]).await;
        assert_eq!(status(&out), "NOERROR", "{subnet}:\n{out}");
        let ips: Vec<&str> = section(&out, "ANSWER").iter().map(|r| r.3).collect();
        assert_eq!(ips, [answer], "{subnet}:\n{out}");
        assert!(out.contains(&format!("CLIENT-SUBNET: {ecs}\n")), "{subnet}: want {ecs}:\n{out}");
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_answers_and_apex_records() {
    let config: DnsConfig = toml::from_str(
        r#"
        negative_ttl_seconds = 30
        [[name_servers]]
        name = "ns1.cdn.example.com"
        ipv4 = ["192.0.2.53"]
        "#,
    )
    .unwrap();
    let s = Server::start(config).await;

    let nx = s.dig(&["nope.cdn.example.com", "A"]).await;
    assert_eq!(status(&nx), "NXDOMAIN", "{nx}");
    assert!(flags(&nx).contains(&"aa"));
    let auth = section(&nx, "AUTHORITY");
    assert_eq!(auth.len(), 1, "{nx}");
    assert_eq!((auth[0].0, auth[0].1, auth[0].2), ("cdn.example.com.", 30, "SOA"), "{nx}");

    let nodata = s.dig(&["static.cdn.example.com", "AAAA"]).await;
    assert_eq!(status(&nodata), "NOERROR", "{nodata}");
    assert!(section(&nodata, "ANSWER").is_empty(), "{nodata}");
    assert_eq!(section(&nodata, "AUTHORITY")[0].2, "SOA", "{nodata}");

    let mx = s.dig(&["video.cdn.example.com", "MX"]).await;
    assert_eq!(status(&mx), "NOERROR", "{mx}");
    assert!(section(&mx, "ANSWER").is_empty());

    let refused = s.dig(&["www.example.org", "A"]).await;
    assert_eq!(status(&refused), "REFUSED", "{refused}");
    assert!(!flags(&refused).contains(&"aa"));

    let soa = s.dig(&["cdn.example.com", "SOA"]).await;
    let rec = section(&soa, "ANSWER");
    assert_eq!(rec.len(), 1, "{soa}");
    assert!(
        rec[0]
            .3
            .starts_with("ns1.cdn.example.com. hostmaster.cdn.example.com. 1 3600 600 604800 30"),
        "{soa}"
    );

    let ns = s.dig(&["cdn.example.com", "NS"]).await;
    assert_eq!(section(&ns, "ANSWER")[0].3, "ns1.cdn.example.com.", "{ns}");
    let glue = section(&ns, "ADDITIONAL");
    assert!(glue.iter().any(|r| r.0 == "ns1.cdn.example.com." && r.3 == "192.0.2.53"), "{ns}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_client_subnet_is_formerr() {
    let s = Server::start(DnsConfig::default()).await;
    // FAMILY 3; source /24 with a non-zero bit past it; address one byte short.
    for opt in ["8:000318000a0102", "8:000118000a010201", "8:000118000a01"] {
        let out = s.dig(&["video.cdn.example.com", "A", &format!("+ednsopt={opt}")]).await;
        assert_eq!(status(&out), "FORMERR", "{opt}:\n{out}");
    }
    let ok = s.dig(&["video.cdn.example.com", "A", "+ednsopt=8:000118000a0102"]).await;
    assert_eq!(status(&ok), "NOERROR", "{ok}");
    assert!(s.metric("switchyard_dns_queries_total", &["rcode=\"FORMERR\""]) >= 3.0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_then_tcp_fallback() {
    let s = Server::start(DnsConfig::default()).await;
    let cut = s.dig(&["+noedns", "+ignore", MANY, "AAAA"]).await;
    assert!(flags(&cut).contains(&"tc"), "{cut}");
    assert!(section(&cut, "ANSWER").is_empty(), "{cut}");

    let retried = s.dig(&["+noedns", MANY, "AAAA"]).await;
    assert!(retried.contains("retrying in TCP mode"), "{retried}");
    assert_eq!(section(&retried, "ANSWER").len(), 16, "{retried}");

    let small = s.dig(&["+bufsize=512", "+ignore", MANY, "AAAA"]).await;
    assert!(flags(&small).contains(&"tc"), "{small}");
    let big = s.dig(&["+bufsize=1232", MANY, "AAAA"]).await;
    assert!(!flags(&big).contains(&"tc"), "{big}");
    assert_eq!(section(&big, "ANSWER").len(), 16, "{big}");
    assert!(s.metric("switchyard_dns_truncated_total", &[]) >= 3.0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_are_dropped_and_counted() {
    let s = Server::start(DnsConfig { udp_sockets: 1, ..DnsConfig::default() }).await;
    let sock = client(&s);
    let mut response = query_bytes(1, "video.cdn.example.com", 1);
    response[2] |= 0x80;
    for garbage in [&[1u8, 2, 3, 4, 5][..], &[0u8; 11][..], &response[..]] {
        sock.send(garbage).unwrap();
    }
    // A header with QDCOUNT 1 and no question: FORMERR.
    sock.send(&[0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("FORMERR reply");
    assert_eq!((buf[0], buf[1]), (0, 9), "only the FORMERR is answered");
    assert_eq!(buf[3] & 0xf, 1, "FORMERR");
    assert!(n >= 12);
    // Same 4-tuple, same socket, processed in order: all three drops are counted by now.
    let dropped =
        s.wait_metric("switchyard_dns_dropped_total", &["reason=\"malformed\""], 3.0).await;
    assert_eq!(dropped, 3.0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_source_rate_limit_drops_excess() {
    // Slip 0: everything over the limit is dropped (slipped replies are covered in
    // dns_conformance).
    let config = DnsConfig {
        udp_sockets: 1,
        rate_limit_per_source_qps: 5,
        rate_limit_burst: 5,
        rate_limit_slip: 0,
        ..DnsConfig::default()
    };
    let s = Server::start(config).await;
    let sock = client(&s);
    const SENT: u16 = 60;
    for id in 0..SENT {
        sock.send(&query_bytes(id, "video.cdn.example.com", 1)).unwrap();
    }
    let limited = "reason=\"rate_limited\"";
    let total = |s: &Server| {
        s.metric("switchyard_dns_dropped_total", &[limited])
            + s.metric("switchyard_dns_queries_total", &["transport=\"udp\""])
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while total(&s) < f64::from(SENT) {
        assert!(std::time::Instant::now() < deadline, "only {} of {SENT} handled", total(&s));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let answered = s.metric("switchyard_dns_queries_total", &["transport=\"udp\""]);
    let dropped = s.metric("switchyard_dns_dropped_total", &[limited]);
    assert!((5.0..=10.0).contains(&answered), "burst of 5 plus what accrued: {answered}");
    assert_eq!(answered + dropped, f64::from(SENT));
    // Every answer received is one of the first ids (the burst), in order.
    sock.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0u8; 512];
    let mut ids = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        assert!(n > 12);
        ids.push(u16::from_be_bytes([buf[0], buf[1]]));
    }
    assert_eq!(ids.len() as f64, answered);
    assert_eq!(&ids[..5], &[0, 1, 2, 3, 4]);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pipelined_queries_and_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start(DnsConfig::default()).await;
    let mut conn = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut frames = Vec::new();
    for id in [7u16, 8] {
        let q = query_bytes(id, "video.cdn.example.com", 1);
        frames.extend_from_slice(&(q.len() as u16).to_be_bytes());
        frames.extend_from_slice(&q);
    }
    conn.write_all(&frames).await.unwrap();
    for id in [7u16, 8] {
        let len = conn.read_u16().await.unwrap();
        let mut msg = vec![0u8; usize::from(len)];
        conn.read_exact(&mut msg).await.unwrap();
        assert_eq!(u16::from_be_bytes([msg[0], msg[1]]), id);
        assert_eq!(u16::from_be_bytes([msg[6], msg[7]]), 2, "two answers");
    }
    // An idle open connection does not hold up shutdown; afterwards nothing listens.
    let addr = s.addr;
    s.shutdown().await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut rest)).await;
    assert!(matches!(closed, Ok(Ok(0))), "server closed the idle connection");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "listener closed");
}
