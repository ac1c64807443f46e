//! Every endpoint and error through the router, in process.

use std::sync::Arc;

use axum::http::StatusCode;

use switchyard_route::{
    CoverageZones, FleetSpec, HealthState, HealthView, NodeHealth, RoutingTable,
};

use super::{CZF, FLEET, app, get, send, table_with};
use crate::traffic::TrafficConfig;

const EAST_PEER: &str = "198.51.100.7:40000";
const WEST_PEER: &str = "203.0.113.5:40000";
const VIDEO: &str = "video.cdn.example.com";

#[tokio::test]
async fn route_api_answers_the_decision_as_json() {
    let a = app(TrafficConfig::default());
    let r = get(
        &a.router,
        "/v1/route?host=video.cdn.example.com&ip=198.51.100.7&path=%2Fa%2Fb.ts",
        WEST_PEER,
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.header("cache-control"), "no-store");
    let j = r.json();
    assert_eq!(j["service"], "video");
    assert_eq!(j["client"]["ip"], "198.51.100.7");
    assert_eq!(j["client"]["source"], "parameter");
    assert_eq!(j["client"]["zone"], "east");
    assert_eq!(j["client"]["localization"], "coverage_zone");
    assert_eq!(j["client"]["matched_prefix_len"], 24);
    assert_eq!(j["node"]["id"], "east-1");
    assert_eq!(j["node"]["address"], "192.0.2.1");
    assert_eq!(j["node"]["zone"], "east");
    assert_eq!(j["node"]["port"], 80);
    assert_eq!(j["zone_source"], "localized");
    assert_eq!(j["ttl_seconds"], 60);
    assert!(j["alternates"].is_array());
    assert!(j.get("skipped").is_none());
}

#[tokio::test]
async fn route_api_defaults_host_to_the_header_and_ip_to_the_peer() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/v1/route", WEST_PEER, &[("host", "Video.CDN.example.com:8080")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["client"]["ip"], "203.0.113.5");
    assert_eq!(j["client"]["source"], "peer");
    assert_eq!(j["node"]["id"], "west-1");
    assert_eq!(j["node"]["hostname"], "west-1.cdn.example.net");
    assert_eq!(j["node"]["port"], 8080);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let config = TrafficConfig { trusted_proxies: vec!["10.0.0.0/8".into()], ..Default::default() };
    let a = app(config);
    let xff = [("x-forwarded-for", "198.51.100.99, 203.0.113.9, 10.2.2.2")];
    // From a trusted proxy: the right-most untrusted hop (the client-written one is ignored).
    let r = get(&a.router, "/v1/route?host=video.cdn.example.com", "10.1.1.1:5000", &xff).await;
    let j = r.json();
    assert_eq!(j["client"]["ip"], "203.0.113.9");
    assert_eq!(j["client"]["source"], "x-forwarded-for");
    assert_eq!(j["node"]["id"], "west-1");
    // From anyone else the header is ignored.
    let r = get(&a.router, "/v1/route?host=video.cdn.example.com", EAST_PEER, &xff).await;
    let j = r.json();
    assert_eq!(j["client"]["ip"], "198.51.100.7");
    assert_eq!(j["client"]["source"], "peer");
    assert_eq!(j["node"]["id"], "east-1");
}

#[tokio::test]
async fn x_mm_client_ip_is_believed_only_from_trusted_proxies_and_wins_over_forwarded_for() {
    let config = TrafficConfig { trusted_proxies: vec!["10.0.0.0/8".into()], ..Default::default() };
    let a = app(config);
    let uri = "/v1/route?host=video.cdn.example.com";
    let mm = [("x-mm-client-ip", "203.0.113.9"), ("x-forwarded-for", "198.51.100.1")];
    let r = get(&a.router, uri, "10.1.1.1:5000", &mm).await;
    let j = r.json();
    assert_eq!(j["client"]["ip"], "203.0.113.9");
    assert_eq!(j["client"]["source"], "x-mm-client-ip");
    assert_eq!(j["node"]["id"], "west-1");
    // From anyone else the header is ignored.
    let j = get(&a.router, uri, EAST_PEER, &mm).await.json();
    assert_eq!((&j["client"]["source"], &j["node"]["id"]), (&"peer".into(), &"east-1".into()));
    // Not an address: passed over, X-Forwarded-For decides.
    let junk = [("x-mm-client-ip", "unknown"), ("x-forwarded-for", "198.51.100.1")];
    let j = get(&a.router, uri, "10.1.1.1:5000", &junk).await.json();
    assert_eq!(j["client"]["source"], "x-forwarded-for");
    // The redirect follows it too.
    let r = get(&a.router, "/a.ts", "10.1.1.1:5000", &[("host", VIDEO), mm[0]]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "http://west-1.cdn.example.net:8080/a.ts");
}

#[tokio::test]
async fn fake_client_ip_is_honoured_only_when_allowed() {
    let uri = "/a.ts?x=1&fakeClientIpAddress=203.0.113.9";
    let host = [("host", VIDEO)];
    // Off by default: the parameter is content, the peer is the client.
    let a = app(TrafficConfig::default());
    let r = get(&a.router, uri, EAST_PEER, &host).await;
    assert_eq!(r.header("location"), "http://192.0.2.1/a.ts?x=1&fakeClientIpAddress=203.0.113.9");

    let a = app(TrafficConfig { allow_fake_client_ip: true, ..Default::default() });
    let r = get(&a.router, uri, EAST_PEER, &host).await;
    assert_eq!(r.header("location"), "http://west-1.cdn.example.net:8080/a.ts?x=1");
    let j =
        get(&a.router, "/v1/route?fakeClientIpAddress=203.0.113.9", EAST_PEER, &host).await.json();
    assert_eq!(
        (&j["client"]["source"], &j["node"]["id"]),
        (&"fake-client-ip".into(), &"west-1".into())
    );
    let j = get(
        &a.router,
        "/d?host=video.cdn.example.com&fakeClientIpAddress=203.0.113.9",
        EAST_PEER,
        &[],
    )
    .await
    .json();
    assert_eq!(j["client_ip"], "203.0.113.9");
    let r = get(&a.router, "/a.ts?fakeClientIpAddress=banana", EAST_PEER, &host).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("fakeClientIpAddress") && msg.contains("banana"), "{msg}");
}

#[tokio::test]
async fn bad_parameters_name_the_parameter() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/v1/route?host=video.cdn.example.com&ip=banana", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "bad_parameter");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("ip") && msg.contains("banana"), "{msg}");
    let r = get(&a.router, "/v1/route?host=video.cdn.example.com&path=%zz", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("path"));
    let r = get(&a.router, "/v1/route", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("host"));
}

#[tokio::test]
async fn unknown_host_is_404_and_exhausted_service_is_503_with_retry_after() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/v1/route?host=nope.example.org", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "unknown_host");
    let r = get(&a.router, "/v1/route?host=dead.cdn.example.com", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "no_eligible_node");
    assert_eq!(r.header("retry-after"), "5");
    // Not in the coverage zones and no default zone.
    let r =
        get(&a.router, "/v1/route?host=video.cdn.example.com&ip=192.0.2.200", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "not_localized");
    assert_eq!(r.header("retry-after"), "5");
    let r = send(&a.router, "POST", "/v1/route?host=video.cdn.example.com", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
}

#[tokio::test]
async fn explain_lists_skipped_candidates() {
    let a = app(TrafficConfig::default());
    a.table.store(Arc::new(table_with(&["east-1"])));
    let r = get(&a.router, "/v1/route?host=video.cdn.example.com&explain=1", EAST_PEER, &[]).await;
    let j = r.json();
    assert_eq!(j["node"]["id"], "west-1", "east-1 is down, so its backup zone answers");
    assert_eq!(j["zone_source"], "backup");
    let skipped = j["skipped"].as_array().unwrap();
    assert!(skipped.iter().any(|s| s["node"] == "east-1" && s["reason"] == "down"), "{j}");
}

/// Node objects are kept per inventory build: a new inventory shows in the very next answer,
/// a health change keeps them.
#[tokio::test]
async fn decision_json_follows_an_inventory_change_at_once() {
    let a = app(TrafficConfig::default());
    let route = "/v1/route?host=video.cdn.example.com";
    let r = get(&a.router, route, EAST_PEER, &[]).await;
    assert_eq!(r.json()["node"]["ipv4"], "192.0.2.1");
    // Same inventory, new health: west-1 answers, and east-1's object is still right.
    a.table.store(Arc::new(
        a.table
            .load()
            .with_health(&HealthView::new(5).with("east-1", NodeHealth::state(HealthState::Down))),
    ));
    assert_eq!(get(&a.router, route, EAST_PEER, &[]).await.json()["node"]["id"], "west-1");
    // A new inventory build whose east-1 moved.
    let spec: FleetSpec = toml::from_str(&FLEET.replace("192.0.2.1", "192.0.2.77")).unwrap();
    let czf = CoverageZones::from_czf_json(CZF).unwrap();
    let moved = RoutingTable::build(&spec, &czf, None, &HealthView::new(6)).unwrap();
    a.table.store(Arc::new(moved));
    let j = get(&a.router, route, EAST_PEER, &[]).await.json();
    assert_eq!(j["node"]["ipv4"], "192.0.2.77", "{j}");
    assert_eq!(j["nodes"][0]["address"], "192.0.2.77", "{j}");
}

#[tokio::test]
async fn redirect_keeps_path_and_query() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/movies/a%20b.ts?token=abc&x=1", EAST_PEER, &[("host", VIDEO)]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "http://192.0.2.1/movies/a%20b.ts?token=abc&x=1");
    assert_eq!(r.header("cache-control"), "no-store");
    assert!(r.body.is_empty());
    // Wildcard host, host name and non-default port.
    let r = get(&a.router, "/p", WEST_PEER, &[("host", "a.b.img.example.com")]).await;
    assert_eq!(r.header("location"), "http://west-1.cdn.example.net:8080/p");
}

#[tokio::test]
async fn redirect_to_ipv6_uses_a_bracketed_literal() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/x?y", "[2001:db8:e::5]:4000", &[("host", VIDEO)]).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "http://[2001:db8::1]/x?y");
}

#[tokio::test]
async fn redirect_errors_are_json() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/x", EAST_PEER, &[("host", "other.example.org")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "unknown_host");
    let two = [("host", VIDEO), ("host", "other.example.org")];
    let r = get(&a.router, "/x", EAST_PEER, &two).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "RFC 9112 §3.2: one Host only");
    assert_eq!(r.error_code(), "bad_parameter");
    let r = get(&a.router, "/x", EAST_PEER, &[("host", "dead.cdn.example.com")]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header("retry-after"), "5");
}

#[tokio::test]
async fn format_json_and_trred_false_answer_like_traffic_router() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/seg/1.ts?format=json", EAST_PEER, &[("host", VIDEO)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["location"], "http://192.0.2.1/seg/1.ts", "control parameters stay here");
    assert_eq!(j["node"]["id"], "east-1");
    assert_eq!(j["service"], "video");
    let r = get(&a.router, "/seg/1.ts?trred=false", EAST_PEER, &[("host", VIDEO)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["locations"][0], "http://192.0.2.1/seg/1.ts");
}

#[tokio::test]
async fn httpdns_answers_the_wanted_families() {
    let a = app(TrafficConfig::default());
    let r = get(&a.router, "/d?host=video.cdn.example.com&ip=198.51.100.7", WEST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    assert_eq!(j["host"], "video.cdn.example.com");
    assert_eq!(j["ips"], serde_json::json!(["192.0.2.1"]));
    assert_eq!(j["ipsv6"], serde_json::json!([]));
    assert_eq!(j["ttl"], 60);
    assert_eq!(j["client_ip"], "198.51.100.7");
    let r = get(&a.router, "/d?host=video.cdn.example.com&query=4,6", EAST_PEER, &[]).await;
    let j = r.json();
    assert_eq!(j["ips"], serde_json::json!(["192.0.2.1"]));
    assert_eq!(j["ipsv6"], serde_json::json!(["2001:db8::1"]));
    let r = get(&a.router, "/d?host=video.cdn.example.com&query=5", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("query"));
    let r = get(&a.router, "/d?host=nope.example.org", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = get(&a.router, "/d?host=dead.cdn.example.com", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.error_code(), "no_eligible_node");
}

#[tokio::test]
async fn httpdns_batch_answers_each_host_and_caps_the_list() {
    let a = app(TrafficConfig { httpdns_max_hosts: 3, ..Default::default() });
    let uri = "/d?hosts=video.cdn.example.com,nope.example.org,dead.cdn.example.com";
    let r = get(&a.router, uri, EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let j = r.json();
    let dns = j["dns"].as_array().unwrap();
    assert_eq!(dns.len(), 3);
    assert_eq!(dns[0]["ips"], serde_json::json!(["192.0.2.1"]));
    assert_eq!(dns[1]["host"], "nope.example.org");
    assert_eq!(dns[1]["error"]["code"], "unknown_host");
    assert_eq!(dns[2]["error"]["code"], "no_eligible_node");
    let r =
        get(&a.router, "/d?hosts=a.example,b.example,c.example,d.example", EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("hosts") && msg.contains("at most 3"), "{msg}");
}

#[tokio::test]
async fn health_changes_take_effect_on_the_next_request() {
    let a = app(TrafficConfig::default());
    let uri = "/v1/route?host=video.cdn.example.com";
    assert_eq!(get(&a.router, uri, EAST_PEER, &[]).await.json()["node"]["id"], "east-1");
    a.table.store(Arc::new(table_with(&["east-1"])));
    assert_eq!(get(&a.router, uri, EAST_PEER, &[]).await.json()["node"]["id"], "west-1");
    a.table.store(Arc::new(table_with(&["east-1", "west-1"])));
    let r = get(&a.router, uri, EAST_PEER, &[]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn metrics_count_decisions_without_client_data() {
    let a = app(TrafficConfig::default());
    get(&a.router, "/v1/route?host=video.cdn.example.com", EAST_PEER, &[]).await;
    get(&a.router, "/x", EAST_PEER, &[("host", VIDEO)]).await;
    get(&a.router, "/x", EAST_PEER, &[("host", "secret-client-host.example")]).await;
    get(&a.router, "/d?host=dead.cdn.example.com", EAST_PEER, &[]).await;
    let text = a.metrics.encode();
    let has = |needle: &str| assert!(text.contains(needle), "missing {needle} in\n{text}");
    has(r#"switchyard_http_decisions_total{service="video",method="coverage_zone",result="ok"} 2"#);
    has(r#"switchyard_http_decisions_total{service="",method="none",result="unknown_host"} 1"#);
    has(
        r#"switchyard_http_decisions_total{service="dead",method="none",result="no_eligible_node"} 1"#,
    );
    has(r#"switchyard_http_request_duration_seconds_count{endpoint="route"} 1"#);
    has(r#"switchyard_http_request_duration_seconds_count{endpoint="redirect"} 2"#);
    has(r#"switchyard_http_request_duration_seconds_count{endpoint="httpdns"} 1"#);
    assert!(!text.contains("198.51.100.7") && !text.contains("secret-client-host"), "{text}");
    assert_eq!(a.overload.in_flight(), 0);
    assert!(a.overload.check().is_ok());
}
