//! Edges of the traffic front end through a real listener on loopback: request targets that
//! name no resource (`OPTIONS *`, `GET *`, authority-form, absolute URIs), the control
//! parameters `format=json` and `trred=false` kept out of the locations, and one rule for a
//! missing `host` on `/v1/route` and `/d`. Each request is sent twice where it can be: as the
//! fast path takes it and padded past its header limit so hyper serves it, and the two
//! answers must agree.

use crate::traffic_common::{Conn, Reply, Server};
use switchyard::traffic::TrafficConfig;

const VIDEO: &str = "video.cdn.example.com";
/// Where a loopback client (zone `west`) is sent.
const WEST: &str = "http://west-1.cdn.example.net:8080";

/// Header lines that push a request past the fast path's 64 parsed headers (under the
/// default `max_headers` of 100), so hyper and the axum router answer it.
pub(crate) const PAD: usize = 66;

/// Which stack answers a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via {
    /// As sent: the fast path for origin-form GET/HEAD, hyper for anything else.
    AsSent,
    /// Padded with header lines the fast path does not take.
    Hyper,
}

/// Sends one request on a fresh connection and reads the answer (`HEAD`: no body).
pub(crate) async fn send(
    server: &Server,
    via: Via,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if matches!(via, Via::Hyper) {
        for i in 0..PAD {
            req.push_str(&format!("X-Pad-{i}: 1\r\n"));
        }
    }
    req.push_str("\r\n");
    let mut c = Conn::open(server.addr).await;
    c.send_raw(req.as_bytes()).await;
    c.read(method == "HEAD").await
}

/// `send` through both stacks; the two answers must agree on status, `Location`, `Allow`
/// and body (the decision JSON is compared by the caller where it may vary).
pub(crate) async fn both(
    server: &Server,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let fast = send(server, Via::AsSent, method, target, headers).await;
    let hyper = send(server, Via::Hyper, method, target, headers).await;
    let what = format!("{method} {target}: {fast:?} vs {hyper:?}");
    assert_eq!(fast.status, hyper.status, "{what}");
    for name in ["location", "allow", "content-type", "cache-control"] {
        assert_eq!(fast.header(name), hyper.header(name), "{name} of {what}");
    }
    fast
}

fn body(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[tokio::test]
async fn options_asterisk_is_answered_with_allow_and_never_redirected() {
    let server = Server::start(TrafficConfig::default()).await;
    for host in [VIDEO, "unknown.example.org"] {
        let r = both(&server, "OPTIONS", "*", &[("Host", host)]).await;
        assert_eq!(r.status, 204, "{host}: {r:?}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"), "{r:?}");
        assert_eq!(r.header("location"), None, "{r:?}");
        assert_eq!(r.header("content-length"), None, "RFC 9110 §8.6: no length on 204");
        assert!(r.body.is_empty());
    }

    // The connection goes on after it: the next request is a redirect built from its path.
    let mut c = Conn::open(server.addr).await;
    c.send_raw(format!("OPTIONS * HTTP/1.1\r\nHost: {VIDEO}\r\n\r\n").as_bytes()).await;
    assert_eq!(c.read(false).await.status, 204);
    let r = c.get("/seg.ts", &[("Host", VIDEO)]).await;
    assert_eq!((r.status, r.header("location")), (302, Some(&*format!("{WEST}/seg.ts"))));
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn targets_naming_no_resource_are_400_not_redirects() {
    let server = Server::start(TrafficConfig::default()).await;
    let cases = [
        ("GET", "*"),
        ("HEAD", "*"),
        ("GET", "video.cdn.example.com:80"),
        ("CONNECT", "video.cdn.example.com:443"),
        ("GET", "ftp://video.cdn.example.com/seg.ts"),
    ];
    for (method, target) in cases {
        let r = both(&server, method, target, &[("Host", VIDEO)]).await;
        let what = format!("{method} {target}: {r:?}");
        assert_eq!(r.status, 400, "{what}");
        assert_eq!(r.header("location"), None, "{what}");
        if method != "HEAD" {
            let j = r.json();
            assert_eq!(j["error"]["code"], "bad_request_target", "{what}");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn absolute_form_is_routed_by_its_own_host_and_path() {
    let server = Server::start(TrafficConfig::default()).await;
    // RFC 9112 §3.2.2: the target's authority wins over the Host header.
    let absolute = format!("http://{VIDEO}/live/a.ts?x=1&y=%2F");
    let r = both(&server, "GET", &absolute, &[("Host", "other.example.org")]).await;
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("location"), Some(&*format!("{WEST}/live/a.ts?x=1&y=%2F")));
    // The same answer as the origin-form request on the fast path.
    let origin = send(&server, Via::AsSent, "GET", "/live/a.ts?x=1&y=%2F", &[("Host", VIDEO)]);
    assert_eq!(origin.await.header("location"), r.header("location"));
    // An absolute URI of the route API is the route API.
    let r = both(&server, "GET", &format!("http://{VIDEO}/v1/route"), &[]).await;
    assert_eq!((r.status, r.json()["node"]["id"].as_str()), (200, Some("west-1")), "{r:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn format_json_carries_the_route_api_decision_and_a_clean_location() {
    let server = Server::start(TrafficConfig::default()).await;
    let host = [("Host", VIDEO)];
    let r = both(&server, "GET", "/movies/a/seg1.ts?a=1&format=json&b=2&b=3", &host).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    let j = r.json();
    assert_eq!(j["location"], format!("{WEST}/movies/a/seg1.ts?a=1&b=2&b=3"), "{j}");
    assert_eq!(j["panic"], false, "{j}");
    assert_eq!(j["degraded"], false, "{j}");

    // The same fields as `/v1/route` for the same request, plus the location.
    let path = "/movies/a/seg1.ts%3Fa%3D1%26b%3D2%26b%3D3";
    let route = both(&server, "GET", &format!("/v1/route?host={VIDEO}&path={path}"), &[]).await;
    let route = route.json();
    let mut keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    let mut want: Vec<&String> = route.as_object().unwrap().keys().collect();
    keys.retain(|k| *k != "location");
    keys.sort();
    want.sort();
    assert_eq!(keys, want, "{j} vs {route}");
    for field in ["service", "node", "zone", "zone_source", "client", "ttl_seconds"] {
        assert_eq!(j[field], route[field], "{field}: {j} vs {route}");
    }

    // Alone it leaves no `?`; a value other than json is content and redirects as sent.
    let r = both(&server, "GET", "/seg.ts?format=json", &host).await;
    assert_eq!(r.json()["location"], format!("{WEST}/seg.ts"));
    let r = both(&server, "GET", "/seg.ts?format=mp4&k=v", &host).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some(&*format!("{WEST}/seg.ts?format=mp4&k=v")));
    server.shutdown().await;
}

#[tokio::test]
async fn trred_false_lists_locations_without_the_control_parameters() {
    let server = Server::start(TrafficConfig::default()).await;
    let host = [("Host", VIDEO)];
    let r = both(&server, "GET", "/seg.ts?trred=false&sig=ab%2Fc&format=json", &host).await;
    assert_eq!(r.status, 200, "{}", body(&r));
    let j = r.json();
    let all = j["locations"].as_array().expect("locations");
    assert_eq!(all[0], format!("{WEST}/seg.ts?sig=ab%2Fc"), "{j}");
    for l in all {
        let l = l.as_str().unwrap();
        assert!(!l.contains("trred") && !l.contains("format"), "{l}");
    }
    // Equal to the plain redirect of the same content.
    let plain = both(&server, "GET", "/seg.ts?sig=ab%2Fc", &host).await;
    assert_eq!(plain.header("location"), all[0].as_str());
    server.shutdown().await;
}

#[tokio::test]
async fn a_missing_host_is_a_400_on_route_and_httpdns() {
    let server = Server::start(TrafficConfig::default()).await;
    let loopback = [("Host", "127.0.0.1")];
    let cases = [
        ("/v1/route?ip=10.1.0.1", &loopback[..], "give host= (the Host header \"127.0.0.1\""),
        ("/v1/route?host=&ip=10.1.0.1", &loopback[..], "the Host header"),
        ("/v1/route?ip=10.1.0.1", &[][..], "give host= or a Host header naming a service"),
        ("/d?ip=10.1.0.1", &loopback[..], "give host= or hosts="),
        ("/d?host=&ip=10.1.0.1", &loopback[..], "give host= or hosts="),
    ];
    for (target, headers, hint) in cases {
        let r = both(&server, "GET", target, headers).await;
        assert_eq!(r.status, 400, "{target}: {}", body(&r));
        assert_eq!(r.body, send(&server, Via::Hyper, "GET", target, headers).await.body);
        let e = &r.json()["error"];
        assert_eq!(e["code"], "bad_parameter", "{target}: {e}");
        let message = e["message"].as_str().unwrap();
        assert!(message.starts_with("parameter host: missing: "), "{target}: {message}");
        assert!(message.contains(hint), "{target}: {message}");
    }

    // A Host that names a service stands in for host= on /v1/route.
    let r = both(&server, "GET", "/v1/route?ip=198.51.100.3", &[("Host", VIDEO)]).await;
    assert_eq!((r.status, r.json()["node"]["id"].as_str()), (200, Some("east-1")), "{r:?}");

    // A host= no service serves: the same 404 and message on both endpoints.
    for target in ["/v1/route?host=nope.example.org", "/d?host=nope.example.org"] {
        let r = both(&server, "GET", target, &[("Host", VIDEO)]).await;
        assert_eq!(r.status, 404, "{target}: {}", body(&r));
        let e = &r.json()["error"];
        assert_eq!(e["code"], "unknown_host");
        assert_eq!(e["message"], "no service serves host \"nope.example.org\"");
    }
    server.shutdown().await;
}
