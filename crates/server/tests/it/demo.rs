//! `switchyard demo` runs the whole product on its simulated fleet.

use std::time::{Duration, Instant};

use crate::common::{Switchyard, get};

#[test]
fn demo_serves_routes_over_http_and_dns_and_injects_faults() {
    let mut sy = Switchyard::demo(&["--chaos-period-seconds", "10", "--nodes-per-zone", "2"]);
    let http = sy.listener("http");
    let dns = sy.listener("dns");
    sy.wait_status("/readyz", 200, Duration::from_secs(30));

    let r = get(http, "/v1/route?host=video.demo.example&ip=10.3.0.1&path=/movies/a/seg1.ts", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["client"]["zone"], "lon", "{v}");

    let out = std::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &dns.port().to_string(), "video.demo.example", "A", "+short"])
        .output()
        .expect("dig (bind9-dnsutils) must be installed: run scripts/setup.sh");
    let answers = String::from_utf8_lossy(&out.stdout);
    assert_eq!(answers.lines().count(), 2, "two answers expected: {answers}");
    assert!(answers.lines().all(|l| l.starts_with("127.0.100.")), "{answers}");

    // The chaos task makes a node fail within a period; the prober takes that node down.
    let line = sy.log.wait_for("demo: injecting faults", Duration::from_secs(30));
    let failing = crate::common::json_field(&line, "failing");
    let failing_ip = failing.split(':').next().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, fleet) = sy.json("/api/v1/fleet");
        let nodes = fleet["nodes"].as_array().unwrap();
        let node = nodes.iter().find(|n| n["ipv4"] == failing_ip.as_str());
        let node = node.unwrap_or_else(|| panic!("no node at {failing}: {fleet}"));
        if node["health"] == "down" {
            break;
        }
        assert!(Instant::now() < deadline, "the failing node {failing} never went down: {fleet}");
        std::thread::sleep(Duration::from_millis(100));
    }
    sy.signal("TERM");
    let status = sy.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    assert!(sy.log.all().contains("demo: injecting faults"));
}

/// The ports a demo logged for its simulated fleet: (HTTP nodes, SNMP agents).
fn fleet_ports(sy: &Switchyard) -> (u64, u64) {
    let line = sy.log.wait_for("demo: simulated fleet started", Duration::from_secs(20));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let port = |f: &str| v[f].as_u64().unwrap_or_else(|| panic!("no {f} in {line}"));
    (port("http_port"), port("snmp_port"))
}

#[test]
fn two_demos_run_side_by_side() {
    // Every listener on port 0: only the simulated fleet could collide.
    let a = Switchyard::demo(&["--nodes-per-zone", "1"]);
    let b = Switchyard::demo(&["--nodes-per-zone", "1"]);
    let (ports_a, ports_b) = (fleet_ports(&a), fleet_ports(&b));
    assert_ne!(ports_a.0, ports_b.0, "HTTP node ports");
    assert_ne!(ports_a.1, ports_b.1, "SNMP agent ports");
    for sy in [&a, &b] {
        sy.wait_status("/readyz", 200, Duration::from_secs(30));
        let r = get(sy.listener("http"), "/v1/route?host=video.demo.example&ip=10.1.0.1", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["client"]["zone"], "ams", "{v}");
    }
    // Each demo polls its own agents: the SNMP-polled node of `ams` gets a utilization.
    for sy in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, node) = sy.json("/admin/nodes/ams-1");
            if node["probe"]["utilization"].is_number() {
                break;
            }
            assert!(Instant::now() < deadline, "no SNMP reading: {node}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
