//! The traffic front end through a real TCP listener on loopback: peer addresses from the
//! socket, keep-alive, pipelining, HTTP/1.0, requests handed to the full hyper stack,
//! limits enforced on the wire, a bounded concurrent load, and drain.

use crate::traffic_common::{Conn, Server};
use switchyard::traffic::TrafficConfig;

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

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(TrafficConfig::default()).await;
    let mut c = Conn::open(server.addr).await;
    // Three requests in one write, the last split across a second write.
    c.send_raw(
        b"GET /v1/route?host=video.cdn.example.com HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /d?host=video.cdn.example.com HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /seg.ts HTTP/1.1\r\nHost: video.cdn",
    )
    .await;
    let first = c.read(false).await;
    assert_eq!((first.status, first.json()["node"]["id"].as_str()), (200, Some("west-1")));
    let second = c.read(false).await;
    assert_eq!(second.json()["ips"], serde_json::json!(["192.0.2.2"]));
    c.send_raw(b".example.com\r\n\r\n").await;
    let third = c.read(false).await;
    assert_eq!(third.status, 302);
    assert_eq!(third.header("location"), Some("http://west-1.cdn.example.net:8080/seg.ts"));
    assert!(third.header("date").is_some_and(|d| d.ends_with(" GMT")), "{third:?}");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn head_http10_and_connection_close() {
    let server = Server::start(TrafficConfig::default()).await;
    let mut c = Conn::open(server.addr).await;
    c.send_raw(b"HEAD /v1/route?host=video.cdn.example.com HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let head = c.read(true).await;
    assert_eq!(head.status, 200);
    let length: usize = head.header("content-length").unwrap().parse().unwrap();
    assert!(length > 100, "HEAD keeps the GET length: {head:?}");
    // The connection is still usable: no body bytes were sent for HEAD.
    c.send_raw(b"GET /v1/route?host=video.cdn.example.com HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let last = c.read(false).await;
    assert_eq!((last.status, last.body.len()), (200, length));
    assert_eq!(last.header("connection"), Some("close"));
    assert!(c.closed().await, "closed after Connection: close");

    // HTTP/1.0 closes unless asked to keep the connection.
    let mut c = Conn::open(server.addr).await;
    c.send_raw(b"GET /d?host=video.cdn.example.com HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await;
    let r = c.read(false).await;
    assert_eq!((r.status, r.header("connection")), (200, Some("keep-alive")));
    c.send_raw(b"GET /d?host=video.cdn.example.com HTTP/1.0\r\n\r\n").await;
    let r = c.read(false).await;
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert!(c.closed().await, "HTTP/1.0 without keep-alive is closed");
    server.shutdown().await;
}

#[tokio::test]
async fn other_requests_are_served_by_the_full_stack_on_the_same_connection() {
    let config =
        TrafficConfig { max_request_body_bytes: 16, max_headers: 70, ..Default::default() };
    let server = Server::start(config).await;
    let mut c = Conn::open(server.addr).await;
    // A body: handed to hyper, which answers 405 with Allow, and keeps serving after.
    c.send_raw(b"POST /v1/route?host=video.cdn.example.com HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello").await;
    let r = c.read(false).await;
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
    let r = c.get("/v1/route?host=video.cdn.example.com", &[("Host", "x")]).await;
    assert_eq!(r.status, 200);
    // A body over the limit is refused before it is read.
    let r =
        c.get("/v1/route", &[("Host", "video.cdn.example.com"), ("Content-Length", "17")]).await;
    assert_eq!(r.status, 413);
    drop(c);

    // A malformed head gets hyper's 400.
    let mut c = Conn::open(server.addr).await;
    c.send_raw(b"GET /v1/route HTTP/1.1\r\nBad Header Line\r\n\r\n").await;
    assert_eq!(c.read(false).await.status, 400);
    drop(c);

    // More header lines than the fast path parses (64): the full stack applies max_headers.
    let mut c = Conn::open(server.addr).await;
    let many: Vec<(String, String)> = (0..80).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let mut headers: Vec<(&str, &str)> =
        many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    headers.push(("Host", "video.cdn.example.com"));
    let r = c.get("/v1/route", &headers).await;
    assert_eq!(r.status, 431);
    assert_eq!(r.json()["error"]["code"], "headers_too_large");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn at_stop_idle_connections_close_and_a_request_in_flight_is_answered() {
    let server = Server::start(TrafficConfig::default()).await;
    let mut idle = Conn::open(server.addr).await;
    let mut busy = Conn::open(server.addr).await;
    // Both connections are accepted and served once.
    assert_eq!(idle.get("/d?host=video.cdn.example.com", &[("Host", "x")]).await.status, 200);
    assert_eq!(busy.get("/d?host=video.cdn.example.com", &[("Host", "x")]).await.status, 200);
    // Half a request head is in flight when the stop comes.
    busy.send_raw(b"GET /v1/route?host=video.cdn.example.com HTTP/1.1\r\nHost:").await;
    server.stop();
    assert!(idle.closed().await, "an idle keep-alive connection closes at stop");
    busy.send_raw(b" x\r\n\r\n").await;
    let r = busy.read(false).await;
    assert_eq!((r.status, r.json()["node"]["id"].as_str()), (200, Some("west-1")));
    assert!(busy.closed().await, "closed once the request in flight is answered");
    server.shutdown().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let config = TrafficConfig { idle_timeout_ms: 200, ..Default::default() };
    let server = Server::start(config).await;
    let mut c = Conn::open(server.addr).await;
    assert_eq!(c.get("/d?host=video.cdn.example.com", &[("Host", "x")]).await.status, 200);
    // `closed` waits up to 10 s for the server to close; nothing else is sent.
    assert!(c.closed().await, "closed after 200 ms idle");
    server.shutdown().await;
}
