//! The foundation through the real binary: readiness gating at start-up, maintenance via the
//! admin API, SIGTERM drain, `check-config` and start-up refusals.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{BIN, Switchyard, get, read_response, request};

const QUICK_SHUTDOWN: &str = "[lifecycle]\nshutdown_delay_seconds = 0\ndrain_timeout_seconds = 5\n";

#[test]
fn livez_answers_while_slow_startup_keeps_readyz_failing() {
    let sy = Switchyard::start(QUICK_SHUTDOWN, &["--startup-delay-ms", "3000"], &[]);
    let livez = get(sy.admin, "/livez", &[]);
    assert_eq!(livez.status, 200, "{}", livez.body);
    assert_eq!(livez.body, "ok");
    let readyz = get(sy.admin, "/readyz?verbose", &[]);
    assert_eq!(readyz.status, 500, "{}", readyz.body);
    assert!(readyz.body.contains("[-]inventory failed: reason withheld"), "{}", readyz.body);
    assert!(readyz.body.contains("[+]ping ok"), "{}", readyz.body);
    assert!(readyz.body.ends_with("readyz check failed\n"), "{:?}", readyz.body);
    let ready = sy.wait_status("/readyz", 200, Duration::from_secs(30));
    assert_eq!(ready.body, "ok");
    assert_eq!(ready.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn maintenance_through_the_admin_api_needs_the_token() {
    let token = "s3cret-token";
    let sy = Switchyard::start(QUICK_SHUTDOWN, &[], &[("SWITCHYARD_ADMIN_TOKEN", token)]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let on = r#"{"enabled": true, "reason": "kernel upgrade"}"#;

    let r = request(sy.admin, "POST", "/admin/maintenance", &[], on);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").is_some());
    let r = request(
        sy.admin,
        "POST",
        "/admin/maintenance",
        &[("Authorization", "Bearer wrong-token!")],
        on,
    );
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        get(sy.admin, "/readyz", &[]).status,
        200,
        "a rejected request must not change state"
    );

    let auth = format!("Bearer {token}");
    let r = request(
        sy.admin,
        "POST",
        "/admin/maintenance",
        &[("Authorization", &auth)],
        r#"{"enabled": true, "colour": 1}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("unknown field `colour`"), "{}", r.body);

    let r = request(sy.admin, "POST", "/admin/maintenance", &[("Authorization", &auth)], on);
    assert_eq!(r.status, 200, "{}", r.body);
    let ready = get(sy.admin, "/readyz", &[]);
    assert_eq!(ready.status, 500, "readyz must fail at once: {}", ready.body);
    let one = get(sy.admin, "/readyz/maintenance", &[]);
    assert_eq!(one.status, 500);
    assert!(one.body.contains("kernel upgrade"), "{}", one.body);
    assert_eq!(get(sy.admin, "/livez", &[]).status, 200, "maintenance never fails livez");

    let state = get(sy.admin, "/admin/maintenance", &[("Authorization", &auth)]);
    assert_eq!(state.status, 200);
    let v: serde_json::Value = serde_json::from_str(&state.body).unwrap();
    assert_eq!(v["enabled"], true);
    assert_eq!(v["reason"], "kernel upgrade");
    assert_eq!(v["source"], "admin");

    let r = request(
        sy.admin,
        "POST",
        "/admin/maintenance",
        &[("Authorization", &auth)],
        r#"{"enabled": false}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(sy.admin, "/readyz", &[]).status, 200);
    assert!(!sy.log.all().contains(token), "the token must never be logged");
}

#[test]
fn maintenance_from_the_config_file_fails_readyz_from_the_start() {
    let config = format!("{QUICK_SHUTDOWN}[maintenance]\nenabled = true\nreason = \"rack move\"\n");
    let sy = Switchyard::start(&config, &[], &[]);
    sy.wait_status("/livez", 200, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    let r = get(sy.admin, "/readyz/maintenance", &[]);
    assert_eq!(r.status, 500);
    assert!(r.body.contains("rack move"), "{}", r.body);
}

#[test]
fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let config = "[lifecycle]\nshutdown_delay_seconds = 1\ndrain_timeout_seconds = 10\n";
    let mut sy = Switchyard::start(config, &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));

    // An in-flight request: headers sent, body still arriving.
    let body = r#"{"enabled": false, "reason": "drain test"}"#;
    let mut slow = TcpStream::connect(sy.admin).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        slow,
        "POST /admin/maintenance HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    slow.write_all(&body.as_bytes()[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let signalled = Instant::now();
    sy.signal("TERM");
    let r = sy.wait_status("/readyz", 500, Duration::from_secs(5));
    assert!(signalled.elapsed() < Duration::from_secs(1), "readyz must fail at once");
    assert!(!r.body.is_empty());
    // Still serving during the shutdown delay.
    assert_eq!(get(sy.admin, "/livez", &[]).status, 200);
    sy.log.wait_for("listeners stop accepting", Duration::from_secs(10));
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "listeners closed before the shutdown delay"
    );
    // New connections are refused now; the in-flight request completes.
    std::thread::sleep(Duration::from_millis(100));
    assert!(TcpStream::connect(sy.admin).is_err(), "the listener should be closed");
    slow.write_all(&body.as_bytes()[5..]).unwrap();
    let resp = read_response(&mut slow);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let status = sy.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}; log:\n{}", sy.log.all());
}

#[test]
fn second_signal_exits_at_once() {
    let config = "[lifecycle]\nshutdown_delay_seconds = 60\ndrain_timeout_seconds = 60\n";
    let mut sy = Switchyard::start(config, &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    sy.signal("TERM");
    sy.wait_status("/readyz", 500, Duration::from_secs(5));
    let t = Instant::now();
    sy.signal("INT");
    let status = sy.wait_exit(Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
}

#[test]
fn check_config_reports_three_mistakes_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[listen]\nadmin = \"127.0.0.1:9090\"\nhttp = \"localhost\"\n\n[lifecycle]\ndrain_timeout_seconds = 0\n\n[health]\ncheck_timeout_ms = 100\nbogus = true\n",
    )
    .unwrap();
    let out = Command::new(BIN).arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    assert!(err.contains(&format!("{p}:3:1: listen.http:")), "{err}");
    assert!(err.contains(&format!("{p}:10:1: health.bogus: unknown field `bogus`")), "{err}");
    assert!(err.contains("3 problem(s) found"), "{err}");

    std::fs::write(&path, "[lifecycle]\ndrain_timeout_seconds = 0\nshutdown_delay_seconds = -2\n")
        .unwrap();
    let out = Command::new(BIN).arg("check-config").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{p}:2:1: lifecycle.drain_timeout_seconds")), "{err}");
    assert!(err.contains(&format!("{p}:3:1: lifecycle.shutdown_delay_seconds")), "{err}");

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/switchyard.toml");
    let out = Command::new(BIN).arg("check-config").arg(example).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `dig` one name over UDP; returns its output.
fn dig(server: std::net::SocketAddr, name: &str) -> String {
    let out = Command::new("dig")
        .args([format!("@{}", server.ip()), "-p".into(), server.port().to_string()])
        .args([name, "A", "+tries=1", "+time=2"])
        .output()
        .expect("dig (bind9-dnsutils) must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const DNS_ZONE: &str = "[listen]\ndns = \"127.0.0.1:0\"\n[dns]\nzones = [\"cdn.test\"]\n";

#[test]
fn dns_answers_servfail_not_nxdomain_before_the_inventory_is_loaded() {
    let config = format!("{QUICK_SHUTDOWN}{DNS_ZONE}");
    let sy = Switchyard::start(&config, &["--startup-delay-ms", "5000"], &[]);
    let dns = sy.listener("dns");
    let out = dig(dns, "video.cdn.test");
    assert!(out.contains("status: SERVFAIL"), "a name may exist: not NXDOMAIN yet\n{out}");
}

#[test]
fn a_failed_start_up_stops_every_listener_and_exits_1() {
    let config =
        format!("{QUICK_SHUTDOWN}{DNS_ZONE}[inventory]\ncoverage_zones_file = \"cz.json\"\n");
    // Valid TOML, but the coverage zones cannot be read: start-up fails after bind.
    let files = [("cz.json", "{\"coverageZones\": {\"a\": {\"network\": [\"300.1.0.0/16\"]}}}")];
    let mut sy = Switchyard::start_with_files(&config, &files, &[], &[]);
    let status = sy.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{}", sy.log.all());
    assert!(sy.log.all().contains("300.1.0.0/16"), "{}", sy.log.all());
}

#[test]
fn check_config_refuses_a_probe_whose_ca_file_is_not_pem() {
    let dir = tempfile::tempdir().unwrap();
    // Exists and is readable; only reading it as PEM finds the fault.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n")
        .unwrap();
    let path = dir.path().join("c.toml");
    let text = format!(
        "[probe.by_tag.tls]\ncheck = {{ kind = \"tls\", ca_file = \"{}\" }}\n",
        ca.display()
    );
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN).arg("check-config").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("probe.by_tag.tls.check"), "{err}");
    assert!(err.contains("ca.pem"), "names the file: {err}");
}

#[test]
fn serve_refuses_a_bad_config_and_an_exposed_tokenless_admin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[listen]\nadmin = 12\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":2:1: listen.admin"));

    std::fs::write(&path, "").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--admin-listen", "0.0.0.0:0"])
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no admin token is set"));

    let out = Command::new(BIN).args(["serve", "--config", "/nonexistent.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the file"));
}

#[test]
fn metrics_are_openmetrics_when_asked_with_process_and_health_metrics() {
    let sy = Switchyard::start(QUICK_SHUTDOWN, &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let m = get(sy.admin, "/metrics", &[("Accept", "application/openmetrics-text")]);
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("application/openmetrics-text"));
    assert!(m.body.contains("process_resident_memory_bytes"), "{}", m.body);
    assert!(m.body.contains("switchyard_health_check"), "{}", m.body);
    assert!(m.body.trim_end().ends_with("# EOF"));
    // Without asking, the Prometheus text format (what curl and promtool expect).
    let m = get(sy.admin, "/metrics", &[]);
    assert!(m.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    assert!(m.body.contains("\n# TYPE process_cpu_seconds_total counter\n"), "{}", m.body);
    assert!(!m.body.contains("# EOF"), "{}", m.body);
}

#[test]
fn version_prints_the_crate_version() {
    let out = Command::new(BIN).arg("version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("switchyard {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn grpc_health_mirrors_readiness() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let sy = Switchyard::start(
        "[listen]\ngrpc_health = \"127.0.0.1:0\"\n[lifecycle]\nshutdown_delay_seconds = 0\n",
        &[],
        &[],
    );
    let addr = sy.listener("grpc-health");
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = |sy: &Switchyard| {
        let _ = sy;
        rt.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client = HealthClient::new(channel);
            let r = client.check(HealthCheckRequest { service: String::new() }).await.unwrap();
            r.into_inner().status()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&sy) != ServingStatus::Serving {
        assert!(Instant::now() < deadline, "grpc health never reported SERVING");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r =
        request(sy.admin, "POST", "/admin/maintenance", &[], r#"{"enabled": true, "reason": "x"}"#);
    assert_eq!(r.status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&sy) != ServingStatus::NotServing {
        assert!(Instant::now() < deadline, "grpc health never followed readyz to NOT_SERVING");
        std::thread::sleep(Duration::from_millis(50));
    }
}
