//! Observability through the real binary: the log filter changed at run time, the audit log of
//! admin mutations (log events and `admin.audit_file`), `/debug/startup` and its metrics, a
//! closed log pipe, a second SIGTERM close behind the first, the kernel's accept-queue
//! refusals in `/metrics`, and how long traffic requests waited in the kernel.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{BIN, Switchyard, get, request};

const TOKEN: &str = "obs-audit-token-9c1f2e";
/// `printf obs-audit-token-9c1f2e | sha256sum | cut -c1-8`
const TOKEN_FINGERPRINT: &str = "3132f9eb";
const AUTH: (&str, &str) = ("Authorization", "Bearer obs-audit-token-9c1f2e");

/// A loopback port nothing listens on: probes to it are refused at once.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Start-up, shutdown and probe settings: TCP probes, first probes at once.
const SETTINGS: &str = r#"[lifecycle]
shutdown_delay_seconds = 0

[probe.default]
check = { kind = "tcp" }
interval_ms = 1000
timeout_ms = 500
connect_timeout_ms = 300

[probe.engine]
first_probe_spread_ms = 0
"#;

/// Zone `ams` with nodes `ams-1` and `ams-2` on a refused port, service `video`.
fn fleet() -> String {
    let port = closed_port();
    format!(
        r#"
[[inventory.zones]]
name = "ams"

[[inventory.nodes]]
id = "ams-1"
zone = "ams"
ipv4 = "127.0.0.1"
port = {port}

[[inventory.nodes]]
id = "ams-2"
zone = "ams"
ipv4 = "127.0.0.1"
port = {port}

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
"#
    )
}

/// [`SETTINGS`], the [`fleet`], and `extra` appended.
fn config(extra: &str) -> String {
    format!("{SETTINGS}{}{extra}", fleet())
}

fn post(sy: &Switchyard, path: &str, body: &str) -> (u16, serde_json::Value) {
    let r = request(sy.admin, "POST", path, &[AUTH], body);
    let v = serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

#[test]
fn the_log_filter_changes_at_run_time_and_a_bad_one_is_refused() {
    let sy = Switchyard::start(&config(""), &[], &[("SWITCHYARD_ADMIN_TOKEN", TOKEN)]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));

    // Behind the token, reads included.
    assert_eq!(get(sy.admin, "/admin/log-level", &[]).status, 401);
    let r = request(sy.admin, "POST", "/admin/log-level", &[], r#"{"filter": "debug"}"#);
    assert_eq!(r.status, 401);
    let r = get(sy.admin, "/admin/log-level", &[AUTH]);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v, serde_json::json!({"filter": "info"}), "the test kit runs with RUST_LOG=info");

    let (status, v) = post(&sy, "/admin/log-level", r#"{"filter": "warn", "reason": "quiet"}"#);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["filter"], "warn");
    assert_eq!(v["previous"], "info");

    // An info event is filtered out now; the warn event after it is written.
    let (status, _) = post(&sy, "/admin/maintenance", r#"{"enabled": false}"#);
    assert_eq!(status, 200);
    let (status, _) = post(&sy, "/admin/maintenance", r#"{"enabled": true, "reason": "m1"}"#);
    assert_eq!(status, 200);
    sy.log.wait_for("maintenance mode on", Duration::from_secs(10));
    let log = sy.log.all();
    assert!(!log.contains("maintenance mode off"), "an info line passed the warn filter:\n{log}");

    // Bad filters: 400 naming the problem, the filter in force unchanged.
    for (body, names) in [
        (r#"{"filter": "info,switchyard_probe=loud"}"#, "switchyard_probe=loud"),
        (r#"{"filter": "  "}"#, "empty"),
        (r#"{"filter": "info", "level": "debug"}"#, "level"),
        (r#"{"filtre": "info"}"#, "filtre"),
    ] {
        let (status, v) = post(&sy, "/admin/log-level", body);
        assert_eq!(status, 400, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{body}: the error should name {names:?}: {v}");
    }
    let (_, v) = post(&sy, "/admin/log-level", r#"{"filter": "info,switchyard_probe=loud"}"#);
    assert_eq!(v["error"]["code"], "bad_filter", "{v}");
    let r = get(sy.admin, "/admin/log-level", &[AUTH]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["filter"], "warn");

    // Back to info: info events are written again.
    let (status, _) = post(&sy, "/admin/log-level", r#"{"filter": "info"}"#);
    assert_eq!(status, 200);
    post(&sy, "/admin/maintenance", r#"{"enabled": false}"#);
    sy.log.wait_for("maintenance mode off", Duration::from_secs(10));
}

#[test]
fn every_admin_mutation_is_audited_once_without_the_token() {
    let sy = Switchyard::start(
        &config("\n[admin]\naudit_file = \"admin-audit.log\"\n"),
        &[],
        &[("SWITCHYARD_ADMIN_TOKEN", TOKEN)],
    );
    sy.wait_status("/readyz", 200, Duration::from_secs(20));

    let calls = [
        ("/admin/maintenance", r#"{"enabled": true, "reason": "rack move"}"#, 200),
        ("/admin/maintenance", r#"{"enabled": false}"#, 200),
        ("/admin/nodes/ams-1", r#"{"admin": "drain", "reason": "disk swap"}"#, 200),
        ("/admin/nodes/nope", r#"{"admin": "drain"}"#, 404),
        ("/admin/reload", r#"{"reason": "probe tuning"}"#, 200),
        ("/admin/log-level", r#"{"filter": "info,switchyard_probe=debug"}"#, 200),
        ("/admin/log-level", r#"{"filter": "info,x=loud", "reason": "last one"}"#, 400),
    ];
    for (path, body, want) in calls {
        let (status, v) = post(&sy, path, body);
        assert_eq!(status, want, "POST {path} {body}: {v}");
    }
    // Not audited: refused before the handler (no token) or an unreadable body.
    let r = request(sy.admin, "POST", "/admin/maintenance", &[], r#"{"enabled": true}"#);
    assert_eq!(r.status, 401);
    let (status, _) = post(&sy, "/admin/maintenance", r#"{"enabled": "yes"}"#);
    assert_eq!(status, 400);

    sy.log.wait_for("last one", Duration::from_secs(10));
    let text = std::fs::read_to_string(sy.path("admin-audit.log")).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(records.len(), calls.len(), "one record per mutation:\n{text}");
    for r in &records {
        let client: SocketAddr = r["client"].as_str().unwrap().parse().unwrap();
        assert!(client.ip().is_loopback(), "{r}");
        assert_ne!(client.port(), sy.admin.port(), "the peer, not the listener: {r}");
        assert_eq!(r["token_fingerprint"], TOKEN_FINGERPRINT, "{r}");
        let time = r["time"].as_str().unwrap();
        assert!(time.len() >= 20 && time.as_bytes()[10] == b'T' && time.ends_with('Z'), "{r}");
    }
    let [on, off, drain, unknown, reload, level, bad_level] = &records[..] else { unreachable!() };

    assert_eq!(on["action"], "maintenance");
    assert_eq!(on["before"]["enabled"], false, "{on}");
    assert_eq!(on["after"]["enabled"], true, "{on}");
    assert_eq!(on["after"]["reason"], "rack move", "{on}");
    assert_eq!(on["reason"], "rack move");
    assert_eq!(on["outcome"], "ok");
    assert_eq!(off["before"]["enabled"], true, "{off}");
    assert_eq!(off["after"]["enabled"], false, "{off}");
    assert!(off.get("reason").is_none(), "no reason given: {off}");

    assert_eq!(drain["action"], "node-state");
    assert_eq!(drain["node"], "ams-1");
    assert_eq!(drain["before"], serde_json::json!({"admin": "enabled"}));
    assert_eq!(drain["after"], serde_json::json!({"admin": "drain"}));
    assert_eq!(drain["reason"], "disk swap");
    assert_eq!(unknown["node"], "nope");
    assert_eq!(unknown["outcome"], "unknown_node", "{unknown}");
    assert_eq!(unknown["before"], serde_json::Value::Null);

    assert_eq!(reload["action"], "reload");
    assert_eq!(reload["reason"], "probe tuning");
    assert_eq!(reload["outcome"], "ok");
    assert_eq!(reload["after"]["nodes"], 2, "{reload}");
    assert_eq!(reload["before"], reload["after"], "the file did not change: {reload}");
    assert_eq!(reload["after"]["config_sha256"].as_str().unwrap().len(), 8, "{reload}");

    assert_eq!(level["action"], "log-level");
    assert_eq!(level["before"], "info");
    assert_eq!(level["after"], "info,switchyard_probe=debug");
    assert_eq!(bad_level["outcome"], "bad_filter");
    assert_eq!(bad_level["after"], "info,switchyard_probe=debug", "unchanged: {bad_level}");

    // The same records as log events, one each.
    let log = sy.log.all();
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "switchyard::audit")
        .collect();
    assert_eq!(events.len(), calls.len(), "{log}");
    for (event, record) in events.iter().zip(&records) {
        for field in ["time", "client", "token_fingerprint", "action", "outcome"] {
            assert_eq!(event[field], record[field], "{field}: {event} vs {record}");
        }
    }
    assert!(!text.contains(TOKEN), "the token is in the audit file:\n{text}");
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
}

#[test]
fn an_audit_file_that_cannot_be_opened_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    for (value, says) in
        [("no-such-folder/audit.log", "does not exist"), (".", "is a folder, not a file")]
    {
        std::fs::write(&file, config(&format!("\n[admin]\naudit_file = \"{value}\"\n"))).unwrap();
        for args in [&["check-config"][..], &["serve", "--admin-listen", "127.0.0.1:0", "--config"]]
        {
            let out = Command::new(BIN)
                .args(args)
                .arg(&file)
                .env_remove("SWITCHYARD_ADMIN_TOKEN")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?} {value}: {err}");
            assert!(err.contains("switchyard.toml:") && err.contains("admin.audit_file"), "{err}");
            assert!(err.contains(says), "{args:?} {value}: {err}");
        }
    }
}

/// The phases of `/debug/startup` by name: (started, duration).
fn phases(v: &serde_json::Value) -> Vec<(String, Option<f64>, Option<f64>)> {
    v["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["phase"].as_str().unwrap().to_owned(),
                p["started_seconds"].as_f64(),
                p["duration_seconds"].as_f64(),
            )
        })
        .collect()
}

const PHASES: [&str; 5] = ["config", "bind", "inventory", "routing-table", "first-probes"];

/// `switchyard_startup_phase_duration_seconds` samples by phase.
fn phase_gauges(sy: &Switchyard) -> Vec<(String, f64)> {
    let text = get(sy.admin, "/metrics", &[]).body;
    text.lines()
        .filter_map(|l| l.strip_prefix("switchyard_startup_phase_duration_seconds{phase=\""))
        .map(|rest| {
            let (phase, value) = rest.split_once("\"} ").unwrap();
            (phase.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn startup_phases_are_timed_until_the_first_probe_round() {
    let sy = Switchyard::start(&config(""), &[], &[]);
    sy.log.wait_for("first probe round done", Duration::from_secs(20));
    let (status, v) = sy.json("/debug/startup");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["complete"], true, "{v}");
    let phases = phases(&v);
    assert_eq!(phases.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(), PHASES, "{v}");
    let mut end = 0.0;
    for (name, started, duration) in &phases {
        let (started, duration) = (started.unwrap(), duration.unwrap());
        assert!(duration >= 0.0, "{name}: {v}");
        assert!(started + 1e-9 >= end, "{name} starts before the previous phase ends: {v}");
        end = started + duration;
    }
    let total = v["total_seconds"].as_f64().unwrap();
    assert!((total - end).abs() < 1e-6, "total is the end of first-probes: {v}");
    // Both nodes were probed (and refused) before the round counted as done.
    let (_, fleet) = sy.json("/api/v1/fleet");
    for node in fleet["nodes"].as_array().unwrap() {
        assert_eq!(node["health"], "down", "{node}");
    }

    let gauges = phase_gauges(&sy);
    let mut names: Vec<&str> = gauges.iter().map(|(p, _)| p.as_str()).collect();
    names.sort();
    let mut want = PHASES.to_vec();
    want.sort();
    assert_eq!(names, want, "{gauges:?}");
    for (name, value) in &gauges {
        let json = phases.iter().find(|p| &p.0 == name).unwrap().2.unwrap();
        assert!((json - value).abs() < 1e-6, "{name}: metric {value} vs JSON {json}");
    }
    let text = get(sy.admin, "/metrics", &[]).body;
    assert!(text.contains(&format!("switchyard_startup_duration_seconds {total}")), "{text}");
}

#[test]
fn unfinished_startup_phases_are_null_and_absent_from_the_metric() {
    let sy = Switchyard::start(&config(""), &["--startup-delay-ms", "600000"], &[]);
    // The admin listener answers while the later listeners are still being bound, so wait
    // for `bind` to end; the delay then holds every later phase back.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let v = loop {
        let (status, v) = sy.json("/debug/startup");
        assert_eq!(status, 200, "{v}");
        if phases(&v)[1].2.is_some() {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "bind never ended: {v}");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(v["complete"], false, "{v}");
    assert_eq!(v["total_seconds"], serde_json::Value::Null, "{v}");
    let done: Vec<bool> = phases(&v).iter().map(|p| p.2.is_some()).collect();
    assert_eq!(done, [true, true, false, false, false], "{v}");
    let gauges: Vec<String> = phase_gauges(&sy).into_iter().map(|(p, _)| p).collect();
    assert_eq!(gauges.len(), 2, "{gauges:?}");
    assert!(gauges.contains(&"config".to_owned()) && gauges.contains(&"bind".to_owned()));
}

/// The signal mask of `field` (`SigIgn`, `ShdPnd`, ...) in `/proc/<pid>/status`.
fn signal_mask(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix(&format!("{field}:"))).unwrap();
    u64::from_str_radix(line.trim(), 16).unwrap()
}

fn bit(signal: i32) -> u64 {
    1 << (signal - 1)
}

/// The value of the unlabelled counter `series` in the server's `/metrics`.
fn counter(admin: SocketAddr, series: &str) -> u64 {
    let text = get(admin, "/metrics", &[]).body;
    let line = text
        .lines()
        .find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')))
        .unwrap_or_else(|| panic!("no {series}:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// `switchyard_log_lines_dropped_total`'s value.
fn dropped_lines(admin: SocketAddr) -> u64 {
    counter(admin, "switchyard_log_lines_dropped_total")
}

#[test]
fn a_closed_log_pipe_neither_stops_nor_wedges_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, config("")).unwrap();
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "serve", "--admin-listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .env("RUST_LOG", "info")
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    // Read two lines, as `| head -2` does, then close the pipe.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut admin = None;
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        if line.contains("admin listener ready") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            admin = Some(v["addr"].as_str().unwrap().parse::<SocketAddr>().unwrap());
        }
    }
    drop(lines);
    let admin = admin.expect("the admin listener is announced within the first two lines");
    assert_ne!(signal_mask(child.id(), "SigIgn") & bit(libc::SIGPIPE), 0, "SIGPIPE is ignored");

    // Start-up logs on into the closed pipe; the server becomes ready and keeps answering.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while get(admin, "/readyz", &[]).status != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        assert!(child.try_wait().unwrap().is_none(), "exited: {:?}", child.try_wait());
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = dropped_lines(admin);
    assert!(before > 0, "the start-up lines after the first two were dropped");
    let r = request(admin, "POST", "/admin/maintenance", &[], r#"{"enabled": true}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(dropped_lines(admin) > before, "the maintenance log line was dropped and counted");
    assert_eq!(get(admin, "/livez", &[]).status, 200);
    assert!(child.try_wait().unwrap().is_none());

    // SIGTERM still drains and exits cleanly (shutdown_delay_seconds = 0).
    // SAFETY: kill has no memory effects; the pid is our child's.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{status:?}");
    drop(guard);
}

#[test]
fn a_second_sigterm_right_behind_the_first_exits_at_once() {
    let config = config("").replace("shutdown_delay_seconds = 0", "shutdown_delay_seconds = 120");
    let mut sy = Switchyard::start(&config, &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let pid = sy.child.id();
    // SAFETY: kill has no memory effects; the pid is our child's.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    // Once the first is delivered (no longer pending), the kernel will not merge the second
    // into it; the second then arrives while the process is still handling the first.
    while signal_mask(pid, "ShdPnd") & bit(libc::SIGTERM) != 0 {
        std::thread::yield_now();
    }
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
    // The shutdown delay is 120 s: only the second signal ends the process within the limit.
    let status = sy.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(130), "{status:?}; log:\n{}", sy.log.all());
}

struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: as above; the process may be gone already.
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "no exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_operator_write_to_etcd_is_audited_with_its_revision() {
    let etcd = switchyard_testkit::etcd::Etcd::start();
    let endpoint = etcd.endpoint();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), fleet()).unwrap();
    let out = Command::new(BIN)
        .current_dir(dir.path())
        .args(["etcd", "import", "fleet.toml", "--etcd", &endpoint])
        .output()
        .unwrap();
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));

    let config = format!("{SETTINGS}\n[admin]\naudit_file = \"audit.log\"\n");
    let sy = Switchyard::start(
        &config,
        &["--etcd", &endpoint, "--instance-id", "solo"],
        &[("SWITCHYARD_ADMIN_TOKEN", TOKEN)],
    );
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    let body = r#"{"admin": "drain", "reason": "fleet-wide drain"}"#;
    let (status, v) = post(&sy, "/admin/nodes/ams-1", body);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["admin"], "drain", "{v}");
    let (status, _) = post(&sy, "/admin/nodes/nope", r#"{"admin": "drain"}"#);
    assert_eq!(status, 404);

    sy.log.wait_for("unknown_node", Duration::from_secs(10));
    let text = std::fs::read_to_string(sy.path("audit.log")).unwrap();
    let records: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 2, "{text}");
    let written = &records[0];
    assert_eq!(written["action"], "node-state");
    assert_eq!(written["node"], "ams-1");
    assert_eq!(written["before"], serde_json::json!({"admin": "enabled"}), "{written}");
    assert_eq!(written["after"]["admin"], "drain", "{written}");
    assert!(written["after"]["etcd_revision"].as_i64().unwrap() > 0, "{written}");
    assert_eq!(written["reason"], "fleet-wide drain");
    assert_eq!(written["outcome"], "ok");
    assert_eq!(written["token_fingerprint"], TOKEN_FINGERPRINT);
    assert_eq!(records[1]["outcome"], "unknown_node", "{}", records[1]);
    assert_eq!(records[1]["after"], serde_json::Value::Null, "nothing written: {}", records[1]);
    assert!(!text.contains(TOKEN) && !sy.log.all().contains(TOKEN));
}

/// `switchyard_tcp_listen_overflows_total`'s value, as the server exports it.
fn listen_overflows(admin: SocketAddr) -> u64 {
    counter(admin, "switchyard_tcp_listen_overflows_total")
}

/// The kernel's own count, read by the test in the same network namespace.
fn kernel_listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/self/net/netstat").unwrap();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let at = names.split_whitespace().position(|n| n == "ListenOverflows").unwrap();
    values.split_whitespace().nth(at).unwrap().parse().unwrap()
}

/// Connection attempts a full accept queue turns away never reach a process, so only the
/// kernel counts them; the server exports that count. The test fills the accept queue of a
/// listener of its own (backlog 1, never accepted) and sees the exported counter rise to at
/// least the kernel's count taken after.
#[test]
fn accept_queue_overflows_the_kernel_counts_are_exported() {
    let sy = Switchyard::start(&config(""), &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let admin = sy.admin;
    let before = listen_overflows(admin);
    let listener =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    listener.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let attempts: Vec<socket2::Socket> = (0..8)
        .map(|_| {
            let s =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            s.set_nonblocking(true).unwrap();
            // In progress: the handshake completes only for the two the queue holds.
            let _ = s.connect(&addr);
            s
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let kernel = loop {
        let now = kernel_listen_overflows();
        if now >= before + 3 {
            break now;
        }
        assert!(std::time::Instant::now() < deadline, "the kernel counted no overflow: {now}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let exported = listen_overflows(admin);
    assert!(exported >= kernel, "exported {exported}, the kernel had counted {kernel}");
    drop((attempts, listener));
}

/// `switchyard_http_read_wait_seconds_sum`: the seconds read bytes waited, all summed.
fn read_wait_sum(admin: SocketAddr) -> f64 {
    let text = get(admin, "/metrics", &[]).body;
    let line = text
        .lines()
        .find(|l| l.starts_with("switchyard_http_read_wait_seconds_sum "))
        .unwrap_or_else(|| panic!("no read wait histogram:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A new connection and its request that sit in the kernel while the server cannot run
/// (stopped for 300 ms) are counted in `switchyard_http_read_wait_seconds` with at least that wait: the
/// wait runs from the kernel's receive timestamp, not from when the process got to it.
#[test]
fn a_request_held_in_the_kernel_is_counted_with_its_whole_wait() {
    use std::io::Write;
    let sy = Switchyard::start(&config(""), &["--http-listen", "127.0.0.1:0"], &[]);
    let http = sy.listener("http");
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let before = read_wait_sum(sy.admin);
    // The connection is made and its request sent while the process is stopped: both wait
    // in the kernel (the accept queue, the socket buffer), and a connection's first read is
    // always stamped.
    sy.signal("STOP");
    let mut conn = std::net::TcpStream::connect(http).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = "GET /v1/route HTTP/1.1\r\nHost: video.example\r\nConnection: close\r\n\r\n";
    conn.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    sy.signal("CONT");
    let mut answers = String::new();
    std::io::Read::read_to_string(&mut conn, &mut answers).unwrap();
    assert_eq!(answers.matches("HTTP/1.1 ").count(), 1, "{answers}");
    let waited = read_wait_sum(sy.admin) - before;
    assert!(waited >= 0.3, "the held request counted {waited} s of waiting");
}
