//! The traffic router through a real TCP listener on loopback: peer addresses from the
//! socket, keep-alive, limits enforced on the wire, a bounded concurrent load, and drain.

mod traffic_common;

use switchyard::traffic::TrafficConfig;
use traffic_common::{Conn, Server};

#[tokio::test]
async fn route_api_localizes_the_socket_peer() {
    let server = Server::start(TrafficConfig::default()).await;
    let mut c = Conn::open(server.addr).await;
    let r = c.get("/v1/route", &[("Host", "video.cdn.example.com")]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["client"]["ip"], "127.0.0.1");
    assert_eq!(j["client"]["source"], "peer");
    assert_eq!(j["node"]["id"], "west-1");
    // Same connection, explicit client.
    let r = c.get("/v1/route?host=video.cdn.example.com&ip=198.51.100.3", &[("Host", "x")]).await;
    assert_eq!(r.json()["node"]["id"], "east-1");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn redirects_and_httpdns_over_tcp() {
    let server = Server::start(TrafficConfig::default()).await;
    let mut c = Conn::open(server.addr).await;
    let r = c.get("/live/seg-7.ts?sig=ab%2Fc", &[("Host", "video.cdn.example.com")]).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://west-1.cdn.example.net:8080/live/seg-7.ts?sig=ab%2Fc")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let r = c.get("/d?host=video.cdn.example.com&query=4,6", &[("Host", "x")]).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(j["ips"], serde_json::json!(["192.0.2.2"]));
    assert_eq!(j["client_ip"], "127.0.0.1");
    let r = c.get("/x", &[("Host", "unknown.example.org")]).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "unknown_host");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_loopback_proxy() {
    let config = TrafficConfig { trusted_proxies: vec!["127.0.0.1".into()], ..Default::default() };
    let server = Server::start(config).await;
    let mut c = Conn::open(server.addr).await;
    let r = c
        .get(
            "/v1/route",
            &[("Host", "video.cdn.example.com"), ("X-Forwarded-For", "198.51.100.40")],
        )
        .await;
    let j = r.json();
    assert_eq!(j["client"]["ip"], "198.51.100.40");
    assert_eq!(j["node"]["id"], "east-1");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_get_431_on_the_wire() {
    let config = TrafficConfig { max_header_bytes: 4096, ..Default::default() };
    let server = Server::start(config).await;
    let mut c = Conn::open(server.addr).await;
    let big = "v".repeat(8000);
    let r = c.get("/v1/route", &[("Host", "video.cdn.example.com"), ("X-Big", &big)]).await;
    assert_eq!(r.status, 431);
    assert_eq!(r.json()["error"]["code"], "headers_too_large");
    drop(c);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_concurrent_load_is_answered_in_full() {
    let server = Server::start(TrafficConfig::default()).await;
    let addr = server.addr;
    let mut clients = Vec::new();
    for i in 0..8 {
        clients.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await;
            let mut ok = 0;
            for j in 0..50 {
                let target = format!("/v1/route?host=video.cdn.example.com&path=/obj/{i}/{j}");
                if c.get(&target, &[("Host", "x")]).await.status == 200 {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut total = 0;
    for c in clients {
        total += c.await.unwrap();
    }
    assert_eq!(total, 400);
    assert_eq!(server.overload.in_flight(), 0);
    let text = server.metrics.encode();
    assert!(text.contains(r#"switchyard_http_decisions_total{service="video",method="coverage_zone",result="ok"} 400"#), "{text}");
    server.shutdown().await;
}
