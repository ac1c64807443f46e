//! End to end through the real binary: a simulated fleet on loopback, the prober marking
//! nodes down and up, and the routing table following (observed through `/debug/pick`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::Switchyard;
use switchyard_testkit::fleet::{Addressing, Behavior, FleetPlan, Protocol, SimFleet};

const CZF: &str = r#"{"coverageZones": {
  "ams": {"network": ["10.1.0.0/16"]},
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
rise = 2
fall = 2
jitter_percent = 0

[probe.warm]
fraction = 1.0

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
default_zone = "fra"
"#,
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

/// Waits until `/debug/pick` for an ams client satisfies `pred`; returns the decision.
fn wait_pick(
    sy: &Switchyard,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, v) = sy.json("/debug/pick?host=video.example&ip=10.1.0.9&path=/movie.ts");
        if pred(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "routing never reached: {what}; last decision {v}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn routing_follows_probe_verdicts_down_backup_and_back() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 4).with_addressing(Addressing::Loopback {
        first: std::net::Ipv4Addr::new(127, 0, 61, 1),
        port: 0,
    });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let sy = Switchyard::start_with_files(&config(&fleet.addrs()), &[("czf.json", CZF)], &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let verbose = crate::common::get(sy.admin, "/readyz?verbose", &[]).body;
    assert!(verbose.contains("[+]probes-warm ok"), "{verbose}");

    let first = wait_pick(&sy, "an ams node", |v| v["zone"] == "ams");
    let chosen = first["nodes"][0]["id"].as_str().unwrap().to_string();
    let idx: usize = chosen.rsplit('-').next().unwrap().parse().unwrap();

    // The chosen node fails: the key moves to the other ams node.
    fleet.node(idx).set_behavior(Behavior::Status(500));
    let moved = wait_pick(&sy, "the other ams node", |v| v["nodes"][0]["id"] != chosen.as_str());
    assert_eq!(moved["zone"], "ams", "{moved}");
    assert!(
        moved["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["node"] == chosen.as_str() && s["reason"] == "down"),
        "{moved}"
    );

    // The whole zone fails: the backup zone serves.
    fleet.node(1 - idx).set_behavior(Behavior::Hang);
    let backup = wait_pick(&sy, "the backup zone", |v| v["zone"] == "fra");
    assert_eq!(backup["zone_source"], "backup", "{backup}");

    // Recovery: traffic returns to the original node.
    fleet.node(idx).set_behavior(Behavior::Healthy);
    fleet.node(1 - idx).set_behavior(Behavior::Healthy);
    wait_pick(&sy, "the original node again", |v| v["nodes"][0]["id"] == chosen.as_str());

    // The other node recovers on its own schedule (rise successes): wait for both.
    let deadline = Instant::now() + Duration::from_secs(20);
    let fleet_json = loop {
        let (_, f) = sy.json("/api/v1/fleet");
        if f["nodes"].as_array().unwrap().iter().all(|n| n["health"] == "up") {
            break f;
        }
        assert!(Instant::now() < deadline, "not every node came back up: {f}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let nodes = fleet_json["nodes"].as_array().unwrap();
    let failed = nodes.iter().find(|n| n["id"] == chosen.as_str()).unwrap();
    assert_eq!(failed["probe"]["probed"], true, "{failed}");
    let (status, detail) = sy.json(&format!("/admin/nodes/{chosen}"));
    assert_eq!(status, 200);
    let history = detail["history"].as_array().unwrap();
    assert!(history.iter().any(|h| h["cause"] == "bad_status" && h["status"] == 500), "{detail}");
    assert!(detail["transitions"].as_u64().unwrap() >= 2, "{detail}");
    let metrics = crate::common::get(sy.admin, "/metrics", &[]).body;
    assert!(
        metrics.contains("\nswitchyard_probes_total{kind=\"http\",result=\"pass\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("\nswitchyard_health_check_status{"), "{metrics}");
    assert!(!metrics.contains("switchyard_switchyard_"), "one prefix only: {metrics}");
    drop(fleet);
}

#[test]
fn http_and_dns_front_ends_answer_from_the_live_table() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 4).with_addressing(Addressing::Loopback {
        first: std::net::Ipv4Addr::new(127, 0, 62, 1),
        port: 0,
    });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let config = config(&fleet.addrs()) + "\n[dns]\nzones = [\"example\"]\n";
    let sy = Switchyard::start_with_files(
        &config,
        &[("czf.json", CZF)],
        &["--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0"],
        &[],
    );
    let http = sy.listener("http");
    let dns = sy.listener("dns");
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let verbose = crate::common::get(sy.admin, "/readyz?verbose", &[]).body;
    assert!(verbose.contains("[+]overloaded ok"), "{verbose}");

    let r = crate::common::get(http, "/v1/route?host=video.example&ip=10.2.0.7&path=/a.ts", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["node"]["zone"], "fra", "{v}");

    let r = crate::common::get(http, "/movies/a.ts?token=1", &[("X-Forwarded-For", "10.1.2.3")]);
    assert_eq!(r.status, 404, "an unknown Host is a 404: {}", r.body);
    let mut s = std::net::TcpStream::connect(http).unwrap();
    use std::io::Write;
    write!(
        s,
        "GET /movies/a.ts?token=1 HTTP/1.1\r\nHost: video.example\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let r = crate::common::read_response(&mut s);
    assert_eq!(r.status, 302, "{}", r.body);
    let location = r.header("location").unwrap();
    assert!(location.ends_with("/movies/a.ts?token=1"), "{location}");
    assert!(location.starts_with("http://127.0.62."), "{location}");

    let out = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "video.example",
            "A",
            "+norec",
            "+subnet=10.2.0.0/24",
        ])
        .output()
        .expect("dig (bind9-dnsutils) must be installed: run scripts/setup.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: NOERROR"), "{text}");
    assert!(
        text.contains("127.0.62.3") || text.contains("127.0.62.4"),
        "fra nodes expected: {text}"
    );
    assert!(
        text.contains("CLIENT-SUBNET: 10.2.0.0/24/16"),
        "scope must be the matched /16: {text}"
    );
    drop(fleet);
}
