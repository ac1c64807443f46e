//! The admin listener's fleet, debug, node-state and reload endpoints through the real binary.

use std::time::Duration;

use crate::common::{Switchyard, request};

const CZF: &str = r#"{"coverageZones": {
  "ams": {"network": ["10.1.0.0/16"], "network6": ["2001:db8:1::/48"], "coordinates": {"latitude": 52.37, "longitude": 4.90}},
  "fra": {"network": ["10.2.0.0/16", "10.2.3.0/24"], "coordinates": {"latitude": 50.11, "longitude": 8.68}}
}}"#;

fn config(extra_node: bool) -> String {
    let mut c = String::from(
        r#"[lifecycle]
shutdown_delay_seconds = 0

[inventory]
coverage_zones_file = "czf.json"

[[inventory.zones]]
name = "ams"
backups = ["fra"]

[[inventory.zones]]
name = "fra"

[[inventory.nodes]]
id = "ams-1"
zone = "ams"
ipv4 = "127.0.10.1"

[[inventory.nodes]]
id = "fra-1"
zone = "fra"
ipv4 = "127.0.20.1"

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
"#,
    );
    if extra_node {
        c.push_str(
            "\n[[inventory.nodes]]\nid = \"ams-2\"\nzone = \"ams\"\nipv4 = \"127.0.10.2\"\n",
        );
    }
    c
}

fn start() -> Switchyard {
    let sy = Switchyard::start_with_files(&config(false), &[("czf.json", CZF)], &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    sy
}

#[test]
fn localize_reports_zone_method_and_prefix() {
    let sy = start();
    let (status, v) = sy.json("/debug/localize?ip=10.2.3.4");
    assert_eq!(status, 200);
    assert_eq!(v["zone"], "fra");
    assert_eq!(v["localization"], "coverage_zone");
    assert_eq!(v["source"], "parameter");
    assert_eq!(v["matched_prefix_len"], 24);
    let (_, v) = sy.json("/debug/localize?ip=2001:db8:1::7");
    assert_eq!(v["zone"], "ams");
    assert_eq!(v["matched_prefix_len"], 48);
    let (status, v) = sy.json("/debug/localize?ip=banana");
    assert_eq!(status, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("`ip`"), "{v}");
}

#[test]
fn pick_explains_skipped_candidates_and_node_states_apply() {
    let sy = start();
    let (status, v) = sy.json("/debug/pick?host=video.example&ip=10.1.0.9&path=/a.ts");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["nodes"][0]["id"], "ams-1");
    assert_eq!(v["zone_source"], "localized");

    let r = request(sy.admin, "POST", "/admin/nodes/ams-1", &[], r#"{"admin": "drain"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, v) = sy.json("/debug/pick?host=video.example&ip=10.1.0.9&path=/a.ts");
    assert_eq!(v["nodes"][0]["id"], "fra-1", "a drained node's zone falls back to its backup: {v}");
    assert_eq!(v["zone_source"], "backup");
    let skipped = v["skipped"].as_array().unwrap();
    assert!(skipped.iter().any(|s| s["node"] == "ams-1" && s["reason"] == "draining"), "{v}");

    let (_, fleet) = sy.json("/api/v1/fleet");
    let ams1 =
        fleet["nodes"].as_array().unwrap().iter().find(|n| n["id"] == "ams-1").unwrap().clone();
    assert_eq!(ams1["admin"], "drain");
    assert_eq!(ams1["admin_overridden"], true);
    assert_eq!(fleet["zones"][0]["nodes"][0], "ams-1");
    assert_eq!(fleet["services"][0]["name"], "video");

    let r = request(sy.admin, "POST", "/admin/nodes/ams-1", &[], r#"{"admin": "enabled"}"#);
    assert_eq!(r.status, 200);
    let (_, v) = sy.json("/debug/pick?host=video.example&ip=10.1.0.9&path=/a.ts");
    assert_eq!(v["nodes"][0]["id"], "ams-1");

    let r = request(sy.admin, "POST", "/admin/nodes/nope", &[], r#"{"admin": "drain"}"#);
    assert_eq!(r.status, 404);
    let r = request(sy.admin, "POST", "/admin/nodes/ams-1", &[], r#"{"admin": "sleepy"}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    let (status, _) = sy.json("/debug/pick?host=unknown.example&ip=10.1.0.9");
    assert_eq!(status, 404);
}

#[test]
fn reload_applies_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let sy = start();
    let (_, fleet) = sy.json("/api/v1/fleet");
    assert_eq!(fleet["nodes"].as_array().unwrap().len(), 2);

    sy.write_config(&config(true));
    let r = request(sy.admin, "POST", "/admin/reload", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let (_, fleet) = sy.json("/api/v1/fleet");
    assert_eq!(fleet["nodes"].as_array().unwrap().len(), 3);

    // A changed front-end setting is applied at the next start, and the answer says so.
    let with_http =
        config(true).replace("[inventory]\n", "[http]\nidle_timeout_ms = 1000\n\n[inventory]\n");
    sy.write_config(&with_http);
    let r = request(sy.admin, "POST", "/admin/reload", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(v["restart_required"].as_array().unwrap().iter().any(|x| x == "http"), "{}", r.body);

    // Broken: an unknown zone reference. The running inventory must stay.
    sy.write_config(&config(true).replace("zone = \"fra\"\nipv4", "zone = \"mars\"\nipv4"));
    let r = request(sy.admin, "POST", "/admin/reload", &[], "");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("inventory.nodes[1].zone"), "{}", r.body);
    assert!(
        r.body.contains("switchyard.toml:"),
        "the error must name the file and line: {}",
        r.body
    );
    let (_, fleet) = sy.json("/api/v1/fleet");
    assert_eq!(fleet["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(crate::common::get(sy.admin, "/readyz", &[]).status, 200);
    let m = crate::common::get(sy.admin, "/metrics", &[]).body;
    assert!(m.contains("switchyard_config_reloads_total{result=\"error\"} 1"), "{m}");
    assert!(m.contains("switchyard_config_last_reload_successful 0"), "{m}");

    // SIGHUP reloads too.
    sy.write_config(&config(false));
    sy.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, fleet) = sy.json("/api/v1/fleet");
        if fleet["nodes"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_bad_coverage_file_at_startup_is_a_clear_failure() {
    let mut sy = Switchyard::start_with_files(
        &config(false),
        &[("czf.json", "{\"coverageZones\": {\"ams\": {\"network\": [\"10.1.0.0/33\"]}}}")],
        &[],
        &[],
    );
    let status = sy.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1));
    let log = sy.log.all();
    assert!(log.contains("czf.json") && log.contains("line 1"), "{log}");
}

#[test]
fn a_fleet_file_is_loaded_after_bind_and_reloaded() {
    let fleet = config(false).split_once("[[inventory.zones]]").unwrap().1.to_string();
    let fleet = format!("[[inventory.zones]]{fleet}").replace("[[inventory.", "[[");
    let main = "[lifecycle]\nshutdown_delay_seconds = 0\n\n[inventory]\ncoverage_zones_file = \"czf.json\"\nfleet_file = \"fleet.toml\"\n";
    let sy =
        Switchyard::start_with_files(main, &[("czf.json", CZF), ("fleet.toml", &fleet)], &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let (_, v) = sy.json("/debug/pick?host=video.example&ip=10.1.0.9&path=/a");
    assert_eq!(v["nodes"][0]["id"], "ams-1", "{v}");

    // A broken fleet file is refused on reload with its own file name and line.
    std::fs::write(sy.path("fleet.toml"), fleet.replace("zone = \"fra\"", "zone = \"mars\""))
        .unwrap();
    let r = request(sy.admin, "POST", "/admin/reload", &[], "");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("fleet.toml:") && r.body.contains("nodes[1].zone"), "{}", r.body);
    let (_, fleet_json) = sy.json("/api/v1/fleet");
    assert_eq!(fleet_json["nodes"].as_array().unwrap().len(), 2);
}

/// GETs `/api/v1/fleet` + `query` until two answers in a row carry the same body, and
/// returns that answer.
fn settled_fleet(sy: &Switchyard, query: &str) -> switchyard_testkit::process::Response {
    let path = format!("/api/v1/fleet{query}");
    let mut last = crate::common::get(sy.admin, &path, &[]);
    for _ in 0..50 {
        let next = crate::common::get(sy.admin, &path, &[]);
        if next.body == last.body {
            return next;
        }
        last = next;
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the fleet view never held still: {}", last.body);
}

#[test]
fn fleet_lists_zone_summaries_filters_by_zone_and_answers_304_when_unchanged() {
    let sy = start();
    let r = request(sy.admin, "POST", "/admin/nodes/ams-1", &[], r#"{"admin": "drain"}"#);
    assert_eq!(r.status, 200, "{}", r.body);

    let (status, v) = sy.json("/api/v1/fleet?summary");
    assert_eq!(status, 200, "{v}");
    assert!(v.get("nodes").is_none(), "no node list with ?summary: {v}");
    assert!(v["zones"][0].get("nodes").is_none(), "{v}");
    let ams = &v["zones"][0]["summary"];
    assert_eq!(ams["total"], 1, "{v}");
    assert_eq!(ams["admin"]["drain"], 1, "{v}");
    assert_eq!(ams["admin"]["enabled"], 0, "{v}");
    let fra = &v["zones"][1]["summary"];
    assert_eq!(fra["admin"]["enabled"], 1, "{v}");
    let health = &fra["health"];
    let counted: u64 =
        ["up", "degraded", "down", "unknown"].iter().map(|k| health[k].as_u64().unwrap()).sum();
    assert_eq!(counted, 1, "every node is counted once: {v}");

    // The nodes of one zone; the summaries still cover every zone.
    let (status, v) = sy.json("/api/v1/fleet?zone=fra");
    assert_eq!(status, 200, "{v}");
    let ids: Vec<&str> =
        v["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["fra-1"]);
    assert_eq!(v["zones"][1]["nodes"], serde_json::json!(["fra-1"]));
    assert!(v["zones"][0].get("nodes").is_none(), "{v}");
    assert_eq!(v["zones"][0]["summary"]["total"], 1);
    let (_, v) = sy.json("/api/v1/fleet?zone=fra&zone=ams");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 2, "{v}");
    let (status, v) = sy.json("/api/v1/fleet?zone=mars");
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("mars"), "{v}");
    let (status, _) = sy.json("/api/v1/fleet?zone=ams&summary");
    assert_eq!(status, 400);

    // Conditional GET: the same body keeps its tag; a change gives a new one.
    let r = settled_fleet(&sy, "");
    let etag = r.header("etag").expect("an ETag").to_string();
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let again = crate::common::get(sy.admin, "/api/v1/fleet", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304, "{}", again.body);
    assert_eq!(again.body, "");
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let r = request(sy.admin, "POST", "/admin/nodes/ams-1", &[], r#"{"admin": "enabled"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let changed = crate::common::get(sy.admin, "/api/v1/fleet", &[("If-None-Match", &etag)]);
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
}

#[test]
fn a_node_reads_without_the_token_and_changes_only_with_it() {
    let sy = Switchyard::start_with_files(
        &config(false),
        &[("czf.json", CZF)],
        &[],
        &[("SWITCHYARD_ADMIN_TOKEN", "s3cret")],
    );
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let (status, v) = sy.json("/api/v1/nodes/ams-1");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], "ams-1");
    assert_eq!(v["admin"], "enabled");
    let (status, _) = sy.json("/api/v1/nodes/nope");
    assert_eq!(status, 404);
    assert_eq!(crate::common::get(sy.admin, "/admin/nodes/ams-1", &[]).status, 401);
    let r = request(sy.admin, "POST", "/api/v1/nodes/ams-1", &[], r#"{"admin": "drain"}"#);
    assert_eq!(r.status, 405, "the read-only path takes no change: {}", r.body);
    let auth = [("Authorization", "Bearer s3cret")];
    let r = request(sy.admin, "POST", "/admin/nodes/ams-1", &auth, r#"{"admin": "drain"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(sy.json("/api/v1/nodes/ams-1").1["admin"], "drain");
}
