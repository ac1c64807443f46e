//! End to end through the real binary: `switchyard serve` with an `[http]` section and a
//! simulated fleet on loopback; the traffic listener answers route, redirect and HTTPDNS
//! requests, `/readyz` carries the `overloaded` check and `/metrics` the traffic metrics.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use crate::common::Switchyard;
use crate::traffic_common::Conn;
use switchyard_testkit::fleet::{Addressing, FleetPlan, Protocol, SimFleet};

const CZF: &str = r#"{"coverageZones": {
  "ams": {"network": ["127.0.0.0/8"]},
  "fra": {"network": ["10.2.0.0/16"]}
}}"#;

fn config(addrs: &[SocketAddr]) -> String {
    let mut c = String::from(
        r#"[lifecycle]
shutdown_delay_seconds = 0

[probe.default]
check = { kind = "http", path = "/health" }
interval_ms = 100
timeout_ms = 80
connect_timeout_ms = 50
rise = 1
fall = 2
jitter_percent = 0

[probe.warm]
fraction = 1.0

[http]
trusted_proxies = ["127.0.0.1"]
max_concurrent_requests = 64
rate_limit_per_client_rps = 0.001
rate_limit_burst = 5

[inventory]
coverage_zones_file = "czf.json"

[[inventory.zones]]
name = "ams"
backups = ["fra"]

[[inventory.zones]]
name = "fra"

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
ttl_seconds = 20
"#,
    );
    for (i, a) in addrs.iter().enumerate() {
        let zone = if i == 0 { "ams" } else { "fra" };
        c.push_str(&format!(
            "\n[[inventory.nodes]]\nid = \"{zone}-{i}\"\nzone = \"{zone}\"\nipv4 = \"{}\"\nport = {}\n",
            a.ip(),
            a.port()
        ));
    }
    c
}

#[test]
fn traffic_listener_serves_routes_redirects_and_httpdns() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 2)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 0, 63, 1), port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let addrs = fleet.addrs();
    let sy = Switchyard::start_with_files(
        &config(&addrs),
        &[("czf.json", CZF)],
        &["--http-listen", "127.0.0.1:0"],
        &[],
    );
    let http = sy.listener("http");
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let verbose = crate::common::get(sy.admin, "/readyz?verbose", &[]).body;
    assert!(verbose.contains("[+]overloaded ok"), "{verbose}");

    let mut c = rt.block_on(Conn::open(http));
    let mut get = |target: &str, headers: &[(&str, &str)]| rt.block_on(c.get(target, headers));
    let host = [("Host", "video.example")];
    let r = get("/v1/route?path=/movie.ts", &host);
    assert_eq!(r.status, 200, "{:?}", r);
    let j = r.json();
    assert_eq!(j["node"]["id"], "ams-0", "{j}");
    assert_eq!(j["client"]["ip"], "127.0.0.1");
    assert_eq!(j["ttl_seconds"], 20);

    let r = get("/movie.ts?t=1", &host);
    assert_eq!(r.status, 302, "{:?}", r);
    let want = format!("http://{}:{}/movie.ts?t=1", addrs[0].ip(), addrs[0].port());
    assert_eq!(r.header("location"), Some(want.as_str()));

    // A client behind the trusted loopback proxy, localized to fra.
    let xff = [("Host", "video.example"), ("X-Forwarded-For", "10.2.3.4")];
    let r = get("/d?host=video.example", &xff);
    assert_eq!(r.status, 200, "{:?}", r);
    let j = r.json();
    assert_eq!(j["ips"], serde_json::json!([addrs[1].ip().to_string()]), "{j}");
    assert_eq!(j["client_ip"], "10.2.3.4");

    let r = get("/x", &[("Host", "other.example")]);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "unknown_host");

    // 127.0.0.1 has used 3 of its burst of 5: two more pass, then 429.
    for _ in 0..2 {
        assert_eq!(get("/v1/route", &host).status, 200);
    }
    let r = get("/v1/route", &host);
    assert_eq!(r.status, 429, "{:?}", r);
    assert!(r.header("retry-after").is_some());

    let metrics = crate::common::get(sy.admin, "/metrics", &[]).body;
    for needle in [
        r#"switchyard_http_decisions_total{service="video",method="coverage_zone",result="ok"}"#,
        r#"switchyard_http_admission_rejections_total{reason="rate_limited"} 1"#,
        r#"switchyard_http_request_duration_seconds_count{endpoint="redirect"}"#,
    ] {
        assert!(metrics.contains(needle), "missing {needle}");
    }
}

/// `/v1/route`, the redirect's `?format=json` and `/debug/pick` show one decision in one
/// shape: the same node, client and zone fields under the same names.
#[test]
fn route_format_json_and_debug_pick_share_one_decision_view() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 2)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 0, 64, 1), port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let addrs = fleet.addrs();
    let sy = Switchyard::start_with_files(
        &config(&addrs),
        &[("czf.json", CZF)],
        &["--http-listen", "127.0.0.1:0"],
        &[],
    );
    let http = sy.listener("http");
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let mut c = rt.block_on(Conn::open(http));
    let host = [("Host", "video.example")];
    let route = rt.block_on(c.get("/v1/route?ip=127.0.0.1&path=/m.ts", &host)).json();
    let format = rt.block_on(c.get("/m.ts?format=json", &host));
    assert_eq!(format.status, 200, "{format:?}");
    let format = format.json();
    let (status, pick) = sy.json("/debug/pick?host=video.example&ip=127.0.0.1&path=/m.ts");
    assert_eq!(status, 200, "{pick}");

    for v in [&route, &format, &pick] {
        assert_eq!(v["service"], "video", "{v}");
        assert_eq!(v["node"]["id"], "ams-0", "{v}");
        assert_eq!(v["node"], v["nodes"][0], "{v}");
        let fields: Vec<&str> = v["node"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(fields, ["address", "hostname", "id", "ipv4", "ipv6", "port", "zone"], "{v}");
        assert_eq!(v["client"]["ip"], "127.0.0.1", "{v}");
        assert_eq!(v["client"]["localization"], "coverage_zone", "{v}");
        assert_eq!(v["zone"], "ams", "{v}");
        assert_eq!(v["zone_source"], "localized", "{v}");
        assert!(v["health_version"].is_u64(), "{v}");
    }
    assert_eq!(route["node"], pick["node"]);
    assert!(format["location"].as_str().unwrap().starts_with("http://"), "{format}");
    assert!(pick["skipped"].is_array(), "the debug view explains: {pick}");
    assert!(route.get("skipped").is_none(), "{route}");
}

/// With resident memory over `health.memory_limit_bytes` × `memory_high_ratio`, readiness
/// fails with the `memory` check and the traffic listeners shed (HTTP with `503`, DNS by
/// dropping UDP queries and closing TCP connections unanswered), while `/livez` stays 200.
#[test]
fn over_the_memory_watermark_readiness_fails_and_traffic_is_shed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 2)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 0, 64, 1), port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    // A limit any running process is above: 4 MiB.
    let config = format!("[health]\nmemory_limit_bytes = 4194304\n\n{}", config(&fleet.addrs()));
    let sy = Switchyard::start_with_files(
        &config,
        &[("czf.json", CZF)],
        &["--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0"],
        &[],
    );
    let (http, dns) = (sy.listener("http"), sy.listener("dns"));
    let memory = sy.wait_status("/readyz/memory", 500, Duration::from_secs(20));
    assert!(memory.body.contains("above the high mark 3 MiB (limit 4 MiB)"), "{}", memory.body);
    assert_eq!(crate::common::get(sy.admin, "/livez", &[]).status, 200);

    let mut c = rt.block_on(Conn::open(http));
    let r = rt.block_on(c.get("/v1/route?path=/a.ts", &[("Host", "video.example")]));
    assert_eq!(r.status, 503, "{:?}", r);
    assert_eq!(r.json()["error"]["code"], "overloaded");

    let query = crate::metrics_audit::query_bytes(7, "video.example", 1);
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    udp.send_to(&query, dns).unwrap();
    let mut buf = [0u8; 512];
    assert!(udp.recv_from(&mut buf).is_err(), "a UDP query was answered over the watermark");
    let mut tcp = TcpStream::connect(dns).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(&[(query.len() >> 8) as u8, query.len() as u8]).unwrap();
    tcp.write_all(&query).unwrap();
    assert_eq!(tcp.read(&mut buf).unwrap(), 0, "the TCP query was answered: {buf:?}");
    let shed = crate::restart::metric(&sy, "switchyard_dns_dropped_total", &["reason=\"memory\""]);
    assert_eq!(shed, 2.0, "one UDP query and one TCP connection shed");
}
