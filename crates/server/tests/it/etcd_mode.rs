//! Distributed mode through the real binary and a real etcd: the inventory, operator states
//! and maintenance written in etcd reach every instance's HTTP and DNS answers; instances
//! share the probing and answer alike; an etcd outage costs no answer.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{BIN, Switchyard, get};
use switchyard_testkit::etcd::Etcd;
use switchyard_testkit::fleet::{Addressing, Behavior, FleetPlan, Protocol, SimFleet};
use switchyard_testkit::proxy::FaultProxy;

const PREFIX: &str = "/switchyard/";

/// Settings of every instance: fast probes, a short membership lease.
fn serve_config(extra: &str) -> String {
    format!(
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
trusted_proxies = ["127.0.0.1"]
rate_limit_per_client_rps = 0

{extra}
"#
    )
}

/// A fleet file for `etcd import`: zones `ams` (backup `fra`) and `fra`, service `video`,
/// the nodes given as (zone, address).
fn fleet_file(nodes: &[(&str, SocketAddr)]) -> String {
    let mut c = String::from(
        r#"[inventory]
coverage_zones_file = "czf.json"

[[inventory.zones]]
name = "ams"
backups = ["fra"]
latitude = 52.37
longitude = 4.9

[[inventory.zones]]
name = "fra"
latitude = 50.11
longitude = 8.68

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
ttl_seconds = 20
dns_answers = 1
"#,
    );
    for (i, (zone, a)) in nodes.iter().enumerate() {
        c.push_str(&format!(
            "\n[[inventory.nodes]]\nid = \"{zone}-{i}\"\nzone = \"{zone}\"\nipv4 = \"{}\"\nport = {}\n",
            a.ip(),
            a.port()
        ));
    }
    c
}

const CZF_AMS: &str = r#"{"coverageZones": {"ams": {"network": ["127.0.0.0/8"]}}}"#;
const CZF_FRA: &str = r#"{"coverageZones": {"fra": {"network": ["127.0.0.0/8"]}}}"#;

/// Runs `switchyard etcd ARGS --etcd ENDPOINT` in `dir`, returning stdout; fails on error.
fn etcd_cli(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .current_dir(dir)
        .arg("etcd")
        .args(args)
        .args(["--etcd", endpoint])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "switchyard etcd {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Imports the fleet file (and the ams coverage zones) into etcd with the CLI.
fn import(etcd: &Etcd, nodes: &[(&str, SocketAddr)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), fleet_file(nodes)).unwrap();
    std::fs::write(dir.path().join("czf.json"), CZF_AMS).unwrap();
    let out = etcd_cli(dir.path(), &etcd.endpoint(), &["import", "fleet.toml"]);
    assert!(out.contains(&format!("{} written", nodes.len() + 4)), "{out}");
    // Idempotent: a second import writes nothing.
    let out = etcd_cli(dir.path(), &etcd.endpoint(), &["import", "fleet.toml"]);
    assert!(out.starts_with("0 written"), "{out}");
    dir
}

fn start_instance(etcd: &Etcd, id: &str, extra: &str, more_args: &[&str]) -> Switchyard {
    let endpoint = etcd.endpoint();
    let mut args = vec!["--etcd", &endpoint, "--instance-id", id, "--http-listen", "127.0.0.1:0"];
    args.extend_from_slice(more_args);
    Switchyard::start(&serve_config(extra), &args, &[])
}

/// The node `/v1/route` picks for a client of `127.0.0.1` (or `ip` through the trusted
/// loopback proxy).
fn routed(http: SocketAddr, ip: Option<&str>) -> (u16, serde_json::Value) {
    let mut headers = vec![("Host", "video.example")];
    if let Some(ip) = ip {
        headers.push(("X-Forwarded-For", ip));
    }
    let r = get(http, "/v1/route?path=/a.ts", &headers);
    let v = serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

fn routed_node(http: SocketAddr) -> String {
    let (status, v) = routed(http, None);
    assert_eq!(status, 200, "{v}");
    v["node"]["id"].as_str().unwrap().to_owned()
}

/// A routing request to `http` every 5 ms on a thread of its own, counting answers by
/// whether they were 200.
struct RequestLoop {
    stop: Arc<AtomicBool>,
    counts: Arc<[AtomicU64; 2]>,
    thread: std::thread::JoinHandle<()>,
}

impl RequestLoop {
    fn start(http: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let (s, c) = (stop.clone(), counts.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let (status, _) = routed(http, None);
                c[usize::from(status != 200)].fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Self { stop, counts, thread }
    }

    /// Stops the loop; returns (answered 200, failed).
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        (self.counts[0].load(Ordering::Relaxed), self.counts[1].load(Ordering::Relaxed))
    }
}

/// Polls `f` until it returns true, failing with `what` after `timeout`.
#[track_caller]
fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

fn dig(dns: SocketAddr, name: &str) -> String {
    let out = Command::new("dig")
        .args([&format!("@{}", dns.ip()), "-p", &dns.port().to_string(), name, "A", "+short"])
        .args(["+time=1", "+tries=1"])
        .output()
        .expect("dig (bind9-dnsutils) must be installed by scripts/setup.sh");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn metric(sy: &Switchyard, name: &str) -> f64 {
    let text = get(sy.admin, "/metrics", &[]).body;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

#[test]
fn inventory_operator_states_and_coverage_in_etcd_drive_http_and_dns() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 3)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 0, 80, 1), port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let a = fleet.addrs();
    let etcd = Etcd::start();
    let files = import(&etcd, &[("ams", a[0]), ("fra", a[1])]);

    let sy = start_instance(&etcd, "solo", "", &["--dns-listen", "127.0.0.1:0"]);
    let http = sy.listener("http");
    let dns = sy.listener("dns");
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    assert_eq!(routed_node(http), "ams-0");
    assert_eq!(dig(dns, "video.example"), a[0].ip().to_string());

    // An operator state written in etcd: both front ends follow.
    etcd.put(format!("{PREFIX}admin/nodes/ams-0"), r#"{"admin": "drain"}"#);
    wait_until("drain from etcd reaches HTTP", Duration::from_secs(5), || {
        routed_node(http) == "fra-1"
    });
    assert_eq!(dig(dns, "video.example"), a[1].ip().to_string());
    etcd.delete(format!("{PREFIX}admin/nodes/ams-0"));
    wait_until("undrain", Duration::from_secs(5), || routed_node(http) == "ams-0");

    // Coverage zones in etcd: 127/8 now belongs to fra.
    etcd.put(format!("{PREFIX}coverage"), CZF_FRA);
    wait_until("coverage from etcd", Duration::from_secs(5), || {
        routed(http, None).1["client"]["zone"] == "fra"
    });
    assert_eq!(routed_node(http), "fra-1");
    etcd.put(format!("{PREFIX}coverage"), CZF_AMS);

    // A new node in etcd is probed and served; a deleted one is gone.
    let node = format!(
        r#"{{"zone": "ams", "ipv4": "{}", "port": {}, "weight": 1000}}"#,
        a[2].ip(),
        a[2].port()
    );
    etcd.put(format!("{PREFIX}nodes/ams-new"), &node);
    etcd.put(format!("{PREFIX}admin/nodes/ams-0"), r#"{"admin": "drain"}"#);
    wait_until("new node from etcd serves", Duration::from_secs(10), || {
        routed_node(http) == "ams-new"
    });
    assert_eq!(dig(dns, "video.example"), a[2].ip().to_string());

    // A malformed value: reported with its key, the last good value stays, nothing else moves.
    etcd.put(format!("{PREFIX}nodes/ams-new"), r#"{"zone": 5}"#);
    etcd.put(format!("{PREFIX}zones/broken"), "not json");
    wait_until("malformed values reported", Duration::from_secs(5), || {
        let (_, v) = sy.json("/api/v1/fleet");
        v["errors"].as_array().is_some_and(|e| e.len() == 2)
    });
    let (_, fleet_view) = sy.json("/api/v1/fleet");
    let errors = fleet_view["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["key"] == "/switchyard/zones/broken"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e["key"] == "/switchyard/nodes/ams-new"
            && e["problem"].as_str().unwrap().contains("zone:")),
        "{errors:?}"
    );
    assert_eq!(routed_node(http), "ams-new", "the last good value stays in force");
    assert_eq!(metric(&sy, "switchyard_etcd_invalid_keys"), 2.0);
    assert!(sy.log.all().contains("/switchyard/zones/broken"), "the bad key is logged");

    // Export gives a configuration `check-config` accepts, with what etcd holds (a fresh
    // reader has no last good value of a malformed key: repair them first).
    etcd.put(format!("{PREFIX}nodes/ams-new"), &node);
    etcd.delete(format!("{PREFIX}zones/broken"));
    let out = etcd_cli(
        files.path(),
        &etcd.endpoint(),
        &["export", "--coverage-out", "exported-czf.json"],
    );
    std::fs::write(files.path().join("exported.toml"), &out).unwrap();
    assert!(out.contains("id = \"ams-new\""), "{out}");
    assert!(out.contains("admin = \"drain\""), "operator states are exported: {out}");
    let check = Command::new(BIN)
        .current_dir(files.path())
        .args(["check-config", "exported.toml"])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert_eq!(std::fs::read_to_string(files.path().join("exported-czf.json")).unwrap(), CZF_AMS);

    // POST /admin/nodes/ID writes to etcd: the key is there and the answer follows.
    let r = crate::common::request(
        sy.admin,
        "POST",
        "/admin/nodes/ams-0",
        &[("Content-Type", "application/json")],
        r#"{"admin": "enabled"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let stored = etcd.get(format!("{PREFIX}admin/nodes/ams-0")).unwrap();
    assert_eq!(String::from_utf8(stored).unwrap(), r#"{"admin":"enabled"}"#);
}

#[test]
fn three_instances_share_probing_agree_and_follow_each_other() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 6)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 0, 81, 1), port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let a = fleet.addrs();
    let nodes: Vec<(&str, SocketAddr)> =
        a.iter().enumerate().map(|(i, &addr)| (if i < 3 { "ams" } else { "fra" }, addr)).collect();
    let ids: Vec<String> = nodes.iter().enumerate().map(|(i, (z, _))| format!("{z}-{i}")).collect();
    let etcd = Etcd::start();
    let _files = import(&etcd, &nodes);
    let extra =
        "[inventory.etcd]\nendpoints = [\"unused:1\"]\nmember_ttl_seconds = 2\nreplicas = 2\n";
    let mut instances: Vec<Switchyard> =
        ["a", "b", "c"].iter().map(|id| start_instance(&etcd, id, extra, &[])).collect();
    let https: Vec<SocketAddr> = instances.iter().map(|s| s.listener("http")).collect();
    for sy in &instances {
        sy.wait_status("/readyz", 200, Duration::from_secs(30));
    }

    // Shares: every node probed by exactly two members, all three members probing.
    wait_until("three members, every node merged up", Duration::from_secs(15), || {
        instances.iter().all(|sy| {
            let (_, v) = sy.json("/api/v1/cluster");
            v["members"].as_array().unwrap().len() == 3
                && v["nodes"].as_array().unwrap().iter().all(|n| n["merged"]["state"] == "up")
        })
    });
    let (_, view) = instances[0].json("/api/v1/cluster");
    let mut probed = 0;
    for n in view["nodes"].as_array().unwrap() {
        assert_eq!(n["probers"].as_array().unwrap().len(), 2, "{n}");
        probed += 2;
    }
    let shares: u64 =
        view["members"].as_array().unwrap().iter().map(|m| m["probes"].as_u64().unwrap()).sum();
    assert_eq!(shares, probed);
    assert_eq!(probed, 12);
    for sy in &instances {
        let (_, v) = sy.json("/api/v1/cluster");
        assert!(!v["probing_everything"].as_bool().unwrap(), "{v}");
        assert!(v["probing"].as_u64().unwrap() < 6, "each probes a share, not all: {v}");
    }

    // A path whose answer is ams-0 while it is healthy.
    let pick = |sy: &Switchyard, path: &str| -> String {
        let q = format!("/debug/pick?host=video.example&ip=127.0.0.1&path={path}");
        let v: serde_json::Value = serde_json::from_str(&get(sy.admin, &q, &[]).body).unwrap();
        v["node"]["id"].as_str().unwrap_or("none").to_owned()
    };
    let path = (0..1000)
        .map(|k| format!("/v/{k}.ts"))
        .find(|p| pick(&instances[0], p) == "ams-0")
        .expect("some path hashes to ams-0");
    let on_ams0 = |want: bool| instances.iter().all(|sy| (pick(sy, &path) == "ams-0") == want);

    // Same inventory and merged health: the same answer to the same request everywhere.
    let identical = |count: u32| {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for i in 0..count {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let ip = Ipv4Addr::from((rng as u32) | 0x0100_0000);
            let path = format!("/v/{}.ts", rng % 9973);
            let q = format!("/debug/pick?host=video.example&ip={ip}&path={path}");
            let answers: Vec<String> = instances
                .iter()
                .map(|sy| {
                    let r = get(sy.admin, &q, &[]);
                    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
                    v["node"]["id"].to_string()
                })
                .collect();
            assert!(answers.iter().all(|x| x == &answers[0]), "request {i} {q}: {answers:?}");
        }
    };
    identical(10_000);

    // A node its probers see down is routed around by all three.
    fleet.node(0).set_behavior(Behavior::Status(503));
    wait_until("ams-0 down everywhere", Duration::from_secs(10), || {
        on_ams0(false)
            && instances.iter().all(|sy| {
                let (_, v) = sy.json("/api/v1/cluster?node=ams-0");
                v["nodes"][0]["merged"]["state"] == "down"
            })
    });
    identical(1000);
    fleet.node(0).set_behavior(Behavior::Healthy);
    wait_until("ams-0 back", Duration::from_secs(10), || on_ams0(true));

    // A drain posted to one instance stops traffic to the node on all three.
    let r = crate::common::request(
        instances[1].admin,
        "POST",
        "/admin/nodes/ams-0",
        &[("Content-Type", "application/json")],
        r#"{"admin": "drain"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_ne!(pick(&instances[1], &path), "ams-0", "read-your-writes where it was posted");
    wait_until("drain on all three", Duration::from_secs(3), || on_ams0(false));
    for &h in &https {
        let r = get(h, &format!("/v1/route?path={path}"), &[("Host", "video.example")]);
        assert!(r.status == 200 && !r.body.contains("\"ams-0\""), "{}", r.body);
    }

    // The maintenance key fails every /readyz.
    etcd.put(format!("{PREFIX}maintenance"), r#"{"enabled": true, "reason": "upgrade"}"#);
    let took = wait_until("maintenance everywhere", Duration::from_secs(3), || {
        instances.iter().all(|sy| get(sy.admin, "/readyz", &[]).status != 200)
    });
    eprintln!("maintenance key failed every /readyz after {took:?}");
    let body = get(instances[2].admin, "/readyz/maintenance", &[]).body;
    assert!(body.contains("upgrade"), "{body}");
    etcd.delete(format!("{PREFIX}maintenance"));
    for sy in &instances {
        sy.wait_status("/readyz", 200, Duration::from_secs(3));
    }

    // kill -9 of one member: its share moves within the lease TTL plus 2 s.
    let mut c = instances.pop().unwrap();
    c.signal("KILL");
    c.wait_exit(Duration::from_secs(5));
    let killed = Instant::now();
    let moved = wait_until("share of c moved", Duration::from_secs(8), || {
        instances.iter().all(|sy| {
            let (_, v) = sy.json("/api/v1/cluster");
            let members: BTreeSet<&str> = v["members"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            members == BTreeSet::from(["a", "b"])
                && v["nodes"].as_array().unwrap().iter().all(|n| {
                    n["probers"].as_array().unwrap().len() == 2
                        && n["verdicts"].as_object().unwrap().keys().all(|k| k != "c")
                })
        })
    });
    eprintln!("share moved {moved:?} after kill -9 (lease TTL 2 s)");
    assert!(killed.elapsed() < Duration::from_secs(4) + Duration::from_millis(500) + moved);
    for id in &ids {
        let (_, v) = instances[0].json(&format!("/api/v1/cluster?node={id}"));
        let verdicts = v["nodes"][0]["verdicts"].as_object().unwrap().len();
        assert!(verdicts >= 1, "{id} has a live prober's verdict: {v}");
    }
}

#[test]
fn an_etcd_outage_costs_no_answer_and_a_restart_serves_from_the_cache() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 2)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 0, 82, 1), port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let a = fleet.addrs();
    let mut etcd = Etcd::start();
    let _files = import(&etcd, &[("ams", a[0]), ("fra", a[1])]);
    let extra = "[inventory.etcd]\nendpoints = [\"unused:1\"]\ncache_file = \"cache.json\"\n\
                 stale_after_seconds = 2\ndial_timeout_ms = 500\nrequest_timeout_ms = 1000\n";
    let sy = start_instance(&etcd, "one", extra, &[]);
    let http = sy.listener("http");
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    wait_until("cache written", Duration::from_secs(5), || sy.path("cache.json").is_file());
    assert_eq!(routed_node(http), "ams-0");

    // A request loop runs throughout.
    let looper = RequestLoop::start(http);

    etcd.stop();
    let outage = Instant::now();
    wait_until("stale shown", Duration::from_secs(10), || {
        sy.json("/api/v1/cluster").1["stale"] == true
    });
    assert_eq!(get(sy.admin, "/readyz", &[]).status, 200, "etcd blinking never fails readiness");
    assert_eq!(metric(&sy, "switchyard_inventory_stale"), 1.0);
    let verbose = get(sy.admin, "/readyz?verbose", &[]);
    assert_eq!(verbose.status, 200, "{}", verbose.body);
    assert!(verbose.body.contains("[+]etcd-inventory ok\n"), "{}", verbose.body);
    assert!(
        verbose.body.contains("warn: etcd-inventory: inventory stale: no contact with etcd for "),
        "staleness is said on the passing readiness: {}",
        verbose.body
    );

    // An instance started during the outage serves from its cache file.
    let cache = std::fs::read(sy.path("cache.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cache.json"), cache).unwrap();
    std::fs::write(dir.path().join("switchyard.toml"), serve_config(extra)).unwrap();
    let mut cmd = Command::new(BIN);
    let endpoint = etcd.endpoint();
    cmd.args(["--log-format", "json", "serve", "--config"])
        .arg(dir.path().join("switchyard.toml"))
        .args(["--admin-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .args(["--etcd", &endpoint, "--instance-id", "two"]);
    let second = Switchyard::spawn(cmd, dir);
    let http2 = second.listener("http");
    second.wait_status("/readyz", 200, Duration::from_secs(30));
    assert_eq!(routed_node(http2), "ams-0");
    wait_until("the second instance says it serves from the cache", Duration::from_secs(5), || {
        second.json("/api/v1/cluster").1["from_cache"] == true
    });

    // The rest of the 30 s outage.
    std::thread::sleep(Duration::from_secs(30).saturating_sub(outage.elapsed()));
    etcd.restart();
    etcd.put(format!("{PREFIX}admin/nodes/ams-0"), r#"{"admin": "drain"}"#);
    for h in [http, http2] {
        wait_until("converged after the outage", Duration::from_secs(15), || {
            routed_node(h) == "fra-1"
        });
    }
    let (ok, failed) = looper.stop();
    eprintln!("requests during the outage: {ok} answered, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 1000, "the loop ran throughout: {ok}");
    assert_eq!(sy.json("/api/v1/cluster").1["stale"], false);
    let verbose = get(sy.admin, "/readyz?verbose", &[]).body;
    assert!(!verbose.contains("warn:"), "no warning once etcd answers again: {verbose}");
}

/// etcd slowed, stalled and cut off behind a loopback proxy, with a compaction while the
/// instance cannot see it: every routing answer succeeds throughout, readiness holds, and
/// every change made meanwhile arrives (the one made during the cut through a new listing).
#[test]
fn a_slow_stalled_or_compacted_etcd_costs_no_answer() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plan = FleetPlan::new(Protocol::Http, 2)
        .with_addressing(Addressing::Loopback { first: Ipv4Addr::new(127, 0, 83, 1), port: 0 });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let a = fleet.addrs();
    let etcd = Etcd::start();
    let _files = import(&etcd, &[("ams", a[0]), ("fra", a[1])]);
    let proxy = FaultProxy::start(etcd.client_addr()).unwrap();
    let through = format!("http://{}", proxy.listen_addr());
    let extra = "[inventory.etcd]\nendpoints = [\"unused:1\"]\ndial_timeout_ms = 500\n\
                 request_timeout_ms = 1000\n";
    let args = ["--etcd", &through, "--instance-id", "one", "--http-listen", "127.0.0.1:0"];
    let sy = Switchyard::start(&serve_config(extra), &args, &[]);
    let http = sy.listener("http");
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    assert_eq!(routed_node(http), "ams-0");

    let looper = RequestLoop::start(http);
    let drain = format!("{PREFIX}admin/nodes/ams-0");
    let ready = |when: &str| {
        let r = get(sy.admin, "/readyz?verbose", &[]);
        assert_eq!(r.status, 200, "{when}: {}", r.body);
    };

    // Slow: every chunk held for 400 ms each way, a request's round trip most of its
    // timeout. A drain still arrives.
    proxy.set_delay(Duration::from_millis(400));
    etcd.put(&drain, r#"{"admin": "drain"}"#);
    let took = wait_until("a drain through a slow link", Duration::from_secs(20), || {
        routed_node(http) == "fra-1"
    });
    eprintln!("drain applied {took:?} after the write, through 400 ms each way");
    ready("slow etcd");
    proxy.set_delay(Duration::ZERO);

    // Stalled: connections open, nothing moves. A change made meanwhile arrives on resume.
    proxy.pause();
    etcd.put(&drain, r#"{"admin": "enabled"}"#);
    std::thread::sleep(Duration::from_secs(3));
    ready("stalled etcd");
    assert_eq!(routed_node(http), "fra-1", "the last known state serves meanwhile");
    proxy.resume();
    wait_until("the change made during the stall", Duration::from_secs(20), || {
        routed_node(http) == "ams-0"
    });

    // Cut off, while a change is made and the history compacted past it: the watch cannot
    // resume from its revision, so the instance lists again and finds the change.
    // Listings of the prefix, by reason (start, reconnect, compacted).
    let resyncs = || -> Vec<String> {
        let text = get(sy.admin, "/metrics", &[]).body;
        text.lines()
            .filter(|l| l.starts_with("switchyard_etcd_resyncs_total{"))
            .map(String::from)
            .collect()
    };
    let total = |lines: &[String]| -> f64 {
        lines.iter().filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    let before = resyncs();
    proxy.cut();
    wait_until("the instance sees etcd gone", Duration::from_secs(10), || {
        sy.json("/api/v1/cluster").1["connected"] == false
    });
    etcd.put(&drain, r#"{"admin": "drain"}"#);
    // A later write, so that the compaction passes the drain's revision: a watch resumed
    // from the drain would start inside the compacted history.
    etcd.put(format!("{PREFIX}admin/nodes/fra-1"), r#"{"admin": "enabled"}"#);
    let compacted = etcd.compact();
    std::thread::sleep(Duration::from_secs(2));
    ready("etcd cut off");
    proxy.resume();
    wait_until("the change hidden by the compaction", Duration::from_secs(30), || {
        routed_node(http) == "fra-1"
    });
    let after = resyncs();
    assert!(
        total(&after) > total(&before),
        "listed again after the compaction to revision {compacted}: {before:?} then {after:?}"
    );
    eprintln!("listings of the prefix: {after:?}");

    let (ok, failed) = looper.stop();
    eprintln!("requests while etcd was slow, stalled and cut off: {ok} answered, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 500, "the loop ran throughout: {ok}");
    ready("afterwards");
}
