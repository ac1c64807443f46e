//! Traffic Router compatibility through the real binary: the `/crs` API on the admin
//! listener answers in Traffic Router's shapes and agrees with the traffic listener's own
//! decisions, and the traffic listener takes the client address from `X-MM-Client-IP` (from
//! trusted proxies only) and `fakeClientIpAddress` (only when allowed), on both the fast
//! path and the hyper path.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_testkit::fleet::{Addressing, FleetPlan, Protocol, SimFleet};
use tokio::runtime::Runtime;

use crate::common::{Switchyard, get};
use crate::traffic_common::{Conn, Reply};

const CZF: &str = r#"{"coverageZones": {
  "ams": {"network": ["10.1.0.0/16", "127.0.0.0/8"], "network6": ["2001:db8:1::/48"]},
  "fra": {"network": ["10.2.0.0/16"]}
}}"#;

const DEEP_CZF: &str = r#"{"deepCoverageZones": {
  "tower": {"network": ["10.1.5.0/24"], "caches": ["ams-1"]}
}}"#;

/// Three simulated nodes (`ams-0`, `ams-1`, `fra-2`) and one service `video`, with `http`
/// appended as the `[http]` section.
fn config(addrs: &[SocketAddr], http: &str) -> String {
    let mut c = format!(
        r#"[lifecycle]
shutdown_delay_seconds = 0

[probe.default]
check = {{ kind = "http", path = "/health" }}
interval_ms = 100
timeout_ms = 80
connect_timeout_ms = 50
rise = 1
fall = 2
jitter_percent = 0

[probe.warm]
fraction = 1.0

[http]
{http}

[inventory]
coverage_zones_file = "czf.json"
deep_coverage_zones_file = "dczf.json"

[[inventory.zones]]
name = "ams"
latitude = 52.37
longitude = 4.9
backups = ["fra"]

[[inventory.zones]]
name = "fra"
latitude = 50.11
longitude = 8.68

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
fallback_to_nearest = false
"#
    );
    for (i, a) in addrs.iter().enumerate() {
        let zone = if i < 2 { "ams" } else { "fra" };
        c.push_str(&format!(
            "\n[[inventory.nodes]]\nid = \"{zone}-{i}\"\nzone = \"{zone}\"\nipv4 = \"{}\"\nport = {}\n",
            a.ip(),
            a.port()
        ));
    }
    c
}

/// A simulated fleet of three on loopback addresses from `first`, and the binary serving it
/// with `http` as its `[http]` section, ready.
fn start(rt: &Runtime, first: Ipv4Addr, http: &str) -> (SimFleet, Vec<SocketAddr>, Switchyard) {
    let plan =
        FleetPlan::new(Protocol::Http, 3).with_addressing(Addressing::Loopback { first, port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let addrs = fleet.addrs();
    let sy = Switchyard::start_with_files(
        &config(&addrs, http),
        &[("czf.json", CZF), ("dczf.json", DEEP_CZF)],
        &["--http-listen", "127.0.0.1:0"],
        &[],
    );
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    (fleet, addrs, sy)
}

/// `GET path` on the admin listener: status and body.
fn admin(sy: &Switchyard, path: &str) -> (u16, String) {
    let r = get(sy.admin, path, &[]);
    (r.status, r.body)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Asserts an admin API error: `status` and `{"error": {"code": code, ..}}`.
fn assert_error(sy: &Switchyard, path: &str, status: u16, code: &str) -> String {
    let (got, body) = admin(sy, path);
    assert_eq!(got, status, "{path}: {body}");
    let j = json(&body);
    assert_eq!(j["error"]["code"], code, "{path}: {body}");
    j["error"]["message"].as_str().unwrap().to_owned()
}

#[test]
fn crs_api_answers_in_traffic_router_shapes() {
    let rt = Runtime::new().unwrap();
    let (_fleet, addrs, sy) = start(&rt, Ipv4Addr::new(127, 0, 71, 1), "");

    // Locations: the zones, sorted; their caches as `CacheModel`s.
    assert_eq!(json(&admin(&sy, "/crs/locations").1), json!({"locations": ["ams", "fra"]}));
    let (status, body) = admin(&sy, "/crs/locations/ams/caches");
    assert_eq!(status, 200, "{body}");
    let caches = json(&body)["caches"].as_array().unwrap().clone();
    let ids: Vec<&str> = caches.iter().map(|c| c["cacheId"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ams-0", "ams-1"]);
    assert_eq!(caches[0]["ipAddresses"], json!([addrs[0].ip().to_string()]));
    assert_eq!(caches[0]["cacheOnline"], true);
    for key in ["fqdn", "port", "adminStatus", "lastUpdateHealthy", "currentBW", "availBW"] {
        assert!(caches[0].get(key).is_some(), "{key} in {}", caches[0]);
    }
    let all = json(&admin(&sy, "/crs/locations/caches").1);
    assert_eq!(all["locations"]["fra"][0]["cacheId"], "fra-2", "{all}");
    let msg = assert_error(&sy, "/crs/locations/nowhere/caches", 404, "unknown_location");
    assert!(msg.contains("nowhere"), "{msg}");

    // Coverage zone caches, by location or by client address.
    let (status, body) =
        admin(&sy, "/crs/coveragezone/caches?deliveryServiceId=video&cacheLocationId=fra");
    assert_eq!(status, 200, "{body}");
    let fra = json(&body);
    assert_eq!(fra[0]["id"], "fra-2", "{fra}");
    assert_eq!(fra[0]["ip4"], addrs[2].ip().to_string());
    assert_eq!(fra[0]["port"], addrs[2].port());
    assert_eq!(fra[0]["available"], true);
    assert_eq!(fra[0]["deliveryServices"][0]["deliveryServiceId"], "video");
    assert_eq!(fra[0]["geolocation"]["latitude"], 50.11);
    assert_eq!(fra[0]["geolocation"]["properties"]["longitude"], "8.68");
    let by_ip = json(&admin(&sy, "/crs/coveragezone/caches?deliveryServiceId=video&ip=10.2.9.9").1);
    assert_eq!(by_ip, fra);
    // Outside every coverage zone: Traffic Router's empty 404.
    let (status, body) =
        admin(&sy, "/crs/coveragezone/caches?deliveryServiceId=video&ip=192.0.2.1");
    assert_eq!((status, body.as_str()), (404, ""));
    let msg = assert_error(
        &sy,
        "/crs/coveragezone/caches?deliveryServiceId=audio&cacheLocationId=fra",
        404,
        "unknown_service",
    );
    assert!(msg.contains("audio"), "{msg}");
    assert_error(
        &sy,
        "/crs/coveragezone/caches?deliveryServiceId=video&ip=10.2",
        400,
        "bad_parameter",
    );
    assert_error(&sy, "/crs/coveragezone/caches?cacheLocationId=fra", 400, "bad_parameter");

    // The cache location of a client, with its caches and backups.
    let (status, body) =
        admin(&sy, "/crs/coveragezone/cachelocation?ip=10.1.2.3&deliveryServiceId=video");
    assert_eq!(status, 200, "{body}");
    let loc = json(&body);
    assert_eq!(loc["id"], "ams");
    assert_eq!(loc["backupCacheGroups"], json!(["fra"]));
    assert_eq!(
        loc["properties"],
        json!({
            "id": "ams", "latitude": "52.37", "longitude": "4.9",
            "postalCode": null, "city": null, "countryCode": null, "countryName": null,
        })
    );
    assert_eq!(loc["caches"].as_array().unwrap().len(), 2);
    let (status, body) =
        admin(&sy, "/crs/deepcoveragezone/cachelocation?ip=10.1.5.7&deliveryServiceId=video");
    assert_eq!(status, 200, "{body}");
    let deep = json(&body);
    assert_eq!(deep["id"], "deep.tower");
    assert_eq!(deep["caches"][0]["id"], "ams-1", "{deep}");
    let (status, _) =
        admin(&sy, "/crs/deepcoveragezone/cachelocation?ip=10.1.6.7&deliveryServiceId=video");
    assert_eq!(status, 404);

    // Consistent hash: the very node the traffic listener picks for the same client and
    // path, whatever the path.
    let mut c = rt.block_on(Conn::open(sy.listener("http")));
    let host = [("Host", "video.example")];
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..24 {
        let path = format!("/movie/{k}.ts");
        let routed = rt.block_on(c.get(&format!("/v1/route?ip=10.1.2.3&path={path}"), &host));
        assert_eq!(routed.status, 200, "{routed:?}");
        let routed = routed.json()["node"]["id"].as_str().unwrap().to_owned();
        let crs = format!(
            "/crs/consistenthash/cache/coveragezone?ip=10.1.2.3&deliveryServiceId=video&requestPath={}",
            path.replace('/', "%2F")
        );
        let (status, body) = admin(&sy, &crs);
        assert_eq!(status, 200, "{body}");
        assert_eq!(json(&body)["id"], routed.as_str(), "{path}");
        seen.insert(routed);
    }
    assert_eq!(seen.len(), 2, "both ams nodes take keys: {seen:?}");
    let (status, body) = admin(
        &sy,
        "/crs/consistenthash/cache/deep/coveragezone?ip=10.1.5.7&deliveryServiceId=video&requestPath=/a.ts",
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["id"], "ams-1");
    let (status, body) = admin(
        &sy,
        "/crs/consistenthash/cache/coveragezone?ip=192.0.2.1&deliveryServiceId=video&requestPath=/a.ts",
    );
    assert_eq!((status, body.as_str()), (404, "{}"));
    assert_error(
        &sy,
        "/crs/consistenthash/cache/coveragezone?ip=10.1.2.3&deliveryServiceId=video",
        400,
        "bad_parameter",
    );
    assert_error(
        &sy,
        "/crs/consistenthash/cache/coveragezone?ip=10.1.2.3&deliveryServiceId=nope&requestPath=/",
        404,
        "unknown_service",
    );

    // Where each method places an address.
    let (status, body) = admin(&sy, "/crs/stats/ip/10.1.5.7");
    assert_eq!(status, 200, "{body}");
    let placed = json(&body);
    assert_eq!(placed["requestIp"], "10.1.5.7");
    assert_eq!(placed["locationByCoverageZone"]["id"], "ams", "{placed}");
    assert_eq!(placed["locationByGeo"], "not found");
    assert_eq!(placed["locationByFederation"], "not found");
    assert_eq!(placed["locationByDeepCoverageZone"]["properties"]["id"], "deep.tower");
    assert_eq!(placed["locationByDeepCoverageZone"]["caches"], json!(["ams-1"]));
    let v6 = json(&admin(&sy, "/crs/stats/ip/2001:db8:1::9").1);
    assert_eq!(v6["locationByCoverageZone"]["id"], "ams", "{v6}");
    assert_error(&sy, "/crs/stats/ip/not-an-ip", 400, "bad_parameter");

    // Stats: the 24 coverage zone answers above, one miss and one unknown host.
    let unplaced = rt.block_on(c.get("/v1/route?ip=192.0.2.1", &host));
    assert_eq!(unplaced.status, 503, "{unplaced:?}");
    let unknown = rt.block_on(c.get("/x", &[("Host", "other.example")]));
    assert_eq!(unknown.status, 404);
    let (status, body) = admin(&sy, "/crs/stats");
    assert_eq!(status, 200, "{body}");
    let stats = json(&body);
    assert_eq!(stats["app"]["name"], "switchyard");
    let video = &stats["stats"]["httpMap"]["video.example"];
    assert_eq!(video["czCount"], 24, "{stats}");
    assert_eq!(video["missCount"], 1, "{stats}");
    assert_eq!(video["geoCount"], 0);
    assert_eq!(stats["stats"]["totalHttpCount"], 25, "{stats}");
    assert_eq!(stats["stats"]["totalDsMissCount"], 1, "{stats}");
    assert!(stats["stats"]["appStartTime"].as_u64().unwrap() > 1_600_000_000_000, "{stats}");
    assert_eq!(stats["stats"]["dnsMap"], json!({}));
}

/// One GET through the fast path (a fresh keep-alive connection).
fn fast(rt: &Runtime, http: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut c = rt.block_on(Conn::open(http));
    rt.block_on(c.get(target, headers))
}

/// One GET handed over to hyper: a request body keeps it off the fast path.
fn handed_over(rt: &Runtime, http: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut c = rt.block_on(Conn::open(http));
    let mut req = format!("GET {target} HTTP/1.1\r\ncontent-length: 2\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n{}");
    rt.block_on(async {
        c.send_raw(req.as_bytes()).await;
        c.read(false).await
    })
}

#[test]
fn x_mm_client_ip_and_fake_client_ip_are_honoured_only_where_configured() {
    let rt = Runtime::new().unwrap();
    let http_section = "trusted_proxies = [\"127.0.0.1/32\"]\nallow_fake_client_ip = true";
    let (_fleet, addrs, sy) = start(&rt, Ipv4Addr::new(127, 0, 72, 1), http_section);
    let http = sy.listener("http");
    let fra = format!("http://{}:{}/m.ts", addrs[2].ip(), addrs[2].port());
    let mm = [("Host", "video.example"), ("X-MM-Client-IP", "10.2.3.4")];
    let host = [("Host", "video.example")];

    for send in [fast, handed_over] {
        // The trusted proxy's X-MM-Client-IP names the client: route, redirect, HTTPDNS.
        let r = send(&rt, http, "/v1/route?path=/m.ts", &mm);
        assert_eq!(r.status, 200, "{r:?}");
        let j = r.json();
        assert_eq!(j["client"]["ip"], "10.2.3.4", "{j}");
        assert_eq!(j["client"]["source"], "x-mm-client-ip", "{j}");
        assert_eq!(j["node"]["id"], "fra-2", "{j}");
        let r = send(&rt, http, "/m.ts", &mm);
        assert_eq!((r.status, r.header("location")), (302, Some(fra.as_str())), "{r:?}");
        let r = send(&rt, http, "/d?host=video.example", &mm);
        assert_eq!(r.json()["ips"], json!([addrs[2].ip().to_string()]), "{r:?}");
        assert_eq!(r.json()["client_ip"], "10.2.3.4");

        // fakeClientIpAddress is allowed here: it routes, and it is not passed on.
        let r = send(&rt, http, "/m.ts?fakeClientIpAddress=10.2.3.4", &host);
        assert_eq!((r.status, r.header("location")), (302, Some(fra.as_str())), "{r:?}");
        let r = send(&rt, http, "/m.ts?a=1&fakeClientIpAddress=10.2.3.4&format=json", &host);
        let j = r.json();
        assert_eq!(j["client"]["source"], "fake-client-ip", "{j}");
        assert_eq!(j["location"], format!("{fra}?a=1"), "{j}");
        let r = send(&rt, http, "/d?host=video.example&fakeClientIpAddress=10.2.3.4", &host);
        assert_eq!(r.json()["client_ip"], "10.2.3.4", "{r:?}");
        // The header wins over the parameter, as in Traffic Router; `ip=` wins over both.
        let r = send(&rt, http, "/v1/route?fakeClientIpAddress=10.1.1.1", &mm);
        assert_eq!(r.json()["client"]["ip"], "10.2.3.4", "{r:?}");
        let r = send(&rt, http, "/v1/route?ip=10.1.1.1&fakeClientIpAddress=10.2.3.4", &mm);
        assert_eq!(r.json()["client"]["source"], "parameter", "{r:?}");
        // A malformed parameter is named; a malformed header is passed over.
        let r = send(&rt, http, "/m.ts?fakeClientIpAddress=10.2.3", &host);
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(r.json()["error"]["code"], "bad_parameter");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("fakeClientIpAddress"));
        let junk = [("Host", "video.example"), ("X-MM-Client-IP", "10.2.3.4, 10.1.1.1")];
        let r = send(&rt, http, "/v1/route", &junk);
        assert_eq!(r.json()["client"]["source"], "peer", "{r:?}");
    }
    drop(sy);

    // The defaults: neither the header nor the parameter is believed, and the parameter is
    // content like any other.
    let (_fleet, addrs, sy) = start(&rt, Ipv4Addr::new(127, 0, 73, 1), "");
    let http = sy.listener("http");
    for send in [fast, handed_over] {
        let r = send(&rt, http, "/v1/route", &mm);
        assert_eq!(r.json()["client"]["source"], "peer", "{r:?}");
        assert_eq!(r.json()["client"]["ip"], "127.0.0.1");
        let r = send(&rt, http, "/v1/route?fakeClientIpAddress=10.2.3.4", &host);
        assert_eq!(r.json()["client"]["source"], "peer", "{r:?}");
        let r = send(&rt, http, "/m.ts?fakeClientIpAddress=10.2.3.4&format=json", &host);
        let location = r.json()["location"].as_str().unwrap().to_owned();
        assert!(location.ends_with("/m.ts?fakeClientIpAddress=10.2.3.4"), "{location}");
        assert!(!location.contains(&addrs[2].ip().to_string()), "{location}");
    }
}

#[test]
fn check_config_names_a_bad_trusted_proxy_by_key_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    let text = "[http]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/33\"]\n\
                allow_fake_client_ip = \"yes\"\n";
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .arg("check-config")
        .arg(&file)
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("allow_fake_client_ip"), "{err}");

    std::fs::write(&file, "[http]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/33\"]\n")
        .unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .arg("check-config")
        .arg(&file)
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("http.trusted_proxies[1]"), "{err}");
    assert!(err.contains("10.0.0.0/33"), "{err}");
    assert!(err.contains("1 problem(s) found"), "{err}");
}

#[test]
fn check_config_reads_the_deep_coverage_zone_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[inventory]\ndeep_coverage_zones_file = \"dczf.json\"\n").unwrap();
    let check = || {
        std::process::Command::new(crate::common::BIN)
            .arg("check-config")
            .arg(&file)
            .env_remove("SWITCHYARD_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("inventory.deep_coverage_zones_file"), "missing file named: {err}");

    // A coverage zone file where the deep one belongs: named at its file.
    std::fs::write(dir.path().join("dczf.json"), CZF).unwrap();
    let out = check();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("dczf.json") && err.contains("deepCoverageZones"), "{err}");

    std::fs::write(dir.path().join("dczf.json"), DEEP_CZF).unwrap();
    let out = check();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
