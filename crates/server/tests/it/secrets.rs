//! No secret leaves the process: the real binary runs with every kind of secret set to a
//! marker of its own (the admin token from a file, an SNMP v2c community, SNMPv3
//! authentication and privacy pass phrases, right and wrong, and in distributed mode the etcd
//! password), is exercised through every read endpoint, admin mutations with no, a wrong and
//! the right token, a refused and an accepted reload, `check-config` on good and bad files and
//! `switchyard snmp`; then its logs (every crate of the project at trace level), every answer
//! and every command's output are searched for the markers. The parsed configuration's and
//! the compiled probes' `Debug` output is searched too. The same run checks that forged SNMPv3
//! replies (a bad HMAC) are rejected and counted in `/metrics`.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{BIN, Switchyard, get, request};
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use switchyard_testkit::etcd::Etcd;
use switchyard_testkit::snmp_agent::{AgentSpec, Faults, SimAgent};

const ADMIN_TOKEN: &str = "mkr-admin-token-4f1c9a";
const WRONG_TOKEN: &str = "mkr-wrong-token-2b7e13";
const COMMUNITY: &str = "mkr-community-8d02c6";
const WRONG_COMMUNITY: &str = "mkr-wrong-community-5a9e";
const AUTH_PASS: &str = "mkr-auth-pass-71c3be";
const PRIV_PASS: &str = "mkr-priv-pass-e6094f";
const WRONG_AUTH_PASS: &str = "mkr-wrong-auth-pass-3310";
const WRONG_PRIV_PASS: &str = "mkr-wrong-priv-pass-9c2d";
/// A community given as a number by mistake (a secret of the wrong type).
const NUMERIC_COMMUNITY: &str = "8675309421";
const ETCD_PASSWORD: &str = "mkr-etcd-password-0d5b27";
const WRONG_ETCD_PASSWORD: &str = "mkr-wrong-etcd-password-61fa";
const ETCD_ROOT_PASSWORD: &str = "mkr-etcd-root-password-a4e8";

const MARKERS: &[&str] = &[
    ADMIN_TOKEN,
    WRONG_TOKEN,
    COMMUNITY,
    WRONG_COMMUNITY,
    AUTH_PASS,
    PRIV_PASS,
    WRONG_AUTH_PASS,
    WRONG_PRIV_PASS,
    NUMERIC_COMMUNITY,
    ETCD_PASSWORD,
    WRONG_ETCD_PASSWORD,
    ETCD_ROOT_PASSWORD,
];

/// Every crate of the project at trace level; dependencies at info.
const LOG_FILTER: &str = "info,switchyard=trace,switchyard_probe=trace,switchyard_snmp=trace,\
                          switchyard_fleet=trace,switchyard_health=trace,switchyard_route=trace,\
                          switchyard_config=trace";

/// What was seen, labelled, to be searched at the end.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    fn response(&mut self, what: &str, r: &switchyard_testkit::process::Response) {
        let headers: Vec<String> = r.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        self.add(what, format!("{} {}\n{}\n{}", r.status, what, headers.join("\n"), r.body));
    }

    fn output(&mut self, what: &str, o: &Output) {
        self.add(format!("{what} (stdout)"), String::from_utf8_lossy(&o.stdout));
        self.add(format!("{what} (stderr)"), String::from_utf8_lossy(&o.stderr));
    }

    /// Fails naming every marker found and where.
    fn assert_no_marker(&self) {
        let found = self.leaks();
        assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
        assert!(self.0.len() > 20, "too little was searched: {} texts", self.0.len());
    }

    /// Every marker found, with where and its surroundings.
    fn leaks(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (what, text) in &self.0 {
            for m in MARKERS {
                if let Some(at) = text.find(m) {
                    let from = text[..at].char_indices().rev().nth(80).map_or(0, |(i, _)| i);
                    let to = (at + m.len() + 80).min(text.len());
                    let to = (to..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap();
                    found.push(format!("{m} in {what}: ...{}...", &text[from..to]));
                }
            }
        }
        found
    }
}

fn v3_user(auth: &str, privacy: &str) -> UsmUser {
    UsmUser::no_auth("mon")
        .unwrap()
        .with_auth(AuthProtocol::Sha256, auth.as_bytes())
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, privacy.as_bytes())
        .unwrap()
}

/// The configuration: a v2c tag and a v3 (authPriv) tag with the right secrets, and one of
/// each with wrong ones, on two simulated agents; the admin token from a file.
fn config(v2: SocketAddr, v3: SocketAddr, extra: &str) -> String {
    let snmp = |port: u16, security: &str| {
        format!(
            "check = {{ kind = \"snmp\", port = {port}, {security}, interface = \"eth0\", \
             retries = 0 }}\ninterval_ms = 300\ntimeout_ms = 250\nconnect_timeout_ms = 200\nrise = 1\n\
             fall = 1\n"
        )
    };
    let v2c = |community: &str| format!("version = \"2c\", community = \"{community}\"");
    let usm = |auth: &str, privacy: &str| {
        format!(
            "version = \"3\", user = \"mon\", auth_protocol = \"SHA-256\", \
             auth_password = \"{auth}\", priv_protocol = \"AES\", priv_password = \"{privacy}\""
        )
    };
    let node = |id: &str, ip: std::net::IpAddr, port: u16, tag: &str| {
        format!(
            "\n[[inventory.nodes]]\nid = \"{id}\"\nzone = \"ams\"\nipv4 = \"{ip}\"\nport = {port}\n\
             tags = [\"{tag}\"]\n"
        )
    };
    let mut c = format!(
        r#"[admin]
token_file = "admin-token"

[lifecycle]
shutdown_delay_seconds = 0
drain_timeout_seconds = 5

[probe.default]
check = {{ kind = "tcp" }}
interval_ms = 300
timeout_ms = 250
connect_timeout_ms = 200

[probe.warm]
fraction = 1.0
deadline_ms = 5000

[probe.by_tag.v2]
{v2_ok}
[probe.by_tag.v2bad]
{v2_bad}
[probe.by_tag.v3]
{v3_ok}
[probe.by_tag.v3bad]
{v3_bad}
{extra}
[[inventory.zones]]
name = "ams"

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
default_zone = "ams"
"#,
        v2_ok = snmp(v2.port(), &v2c(COMMUNITY)),
        v2_bad = snmp(v2.port(), &v2c(WRONG_COMMUNITY)),
        v3_ok = snmp(v3.port(), &usm(AUTH_PASS, PRIV_PASS)),
        v3_bad = snmp(v3.port(), &usm(WRONG_AUTH_PASS, WRONG_PRIV_PASS)),
    );
    c.push_str(&node("v2-ok", v2.ip(), 8001, "v2"));
    c.push_str(&node("v2-bad", v2.ip(), 8002, "v2bad"));
    c.push_str(&node("v3-ok", v3.ip(), 8003, "v3"));
    c.push_str(&node("v3-bad", v3.ip(), 8004, "v3bad"));
    c
}

fn fleet_health(sy: &Switchyard) -> serde_json::Value {
    let (status, v) = sy.json("/api/v1/fleet");
    assert_eq!(status, 200, "{v}");
    v
}

fn node_health(fleet: &serde_json::Value, id: &str) -> String {
    let nodes = fleet["nodes"].as_array().expect("nodes in the fleet view");
    let node = nodes.iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("{id} in {fleet}"));
    node["health"].as_str().unwrap_or_default().to_owned()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the first sample of `series` (a name with its labels) in a text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

const WRONG_DIGEST: &str = "switchyard_snmp_replies_dropped_total{reason=\"wrong_digest\"}";

#[test]
fn no_secret_reaches_logs_answers_metrics_or_command_output() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let v2_spec = AgentSpec { community: Some(COMMUNITY.into()), ..AgentSpec::default() };
    let v2 = rt.block_on(SimAgent::start_on("127.0.91.1:0".parse().unwrap(), v2_spec)).unwrap();
    let v3_spec = AgentSpec {
        community: None,
        users: vec![v3_user(AUTH_PASS, PRIV_PASS)],
        ..AgentSpec::default()
    };
    let v3 = rt.block_on(SimAgent::start_on("127.0.91.2:0".parse().unwrap(), v3_spec)).unwrap();
    // Every reply of the v3 agent is preceded by a forged copy (its last byte flipped).
    v3.set_faults(Faults { damaged_copy_first: true, ..Faults::default() });

    let good = config(v2.addr(), v3.addr(), "");
    let token_file = ("admin-token", &*format!("{ADMIN_TOKEN}\n"));
    let mut seen = Seen::default();
    // The search finds what it looks for: the configuration holds six of the markers.
    let mut control = Seen::default();
    control.add("the configuration file", &*good);
    control.add("the token file", token_file.1);
    assert_eq!(control.leaks().len(), 7, "{:?}", control.leaks());

    // The configuration and the compiled probes, as `Debug` shows them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(token_file.0), token_file.1).unwrap();
    let parsed = switchyard::config::load_str(&good, "switchyard.toml", dir.path())
        .unwrap_or_else(|e| panic!("the test configuration is valid: {e}"));
    seen.add("Debug of the configuration", format!("{parsed:?}"));
    seen.add("Debug of the configuration (pretty)", format!("{parsed:#?}"));
    for spec in parsed.probe.by_tag.values() {
        let compiled = switchyard_probe::CompiledProbe::new(Arc::new(spec.clone())).unwrap();
        seen.add("Debug of a compiled probe", format!("{compiled:?} {spec:?}"));
    }
    assert!(format!("{parsed:?}").contains("v3bad"), "the probes are in the Debug output");

    let mut sy = Switchyard::start_with_files(
        &good,
        &[token_file],
        &["--log-filter", LOG_FILTER, "--http-listen", "127.0.0.1:0"],
        &[],
    );
    let http = sy.listener("http");
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    // The secrets are in use: the right ones bring their nodes up, the wrong ones down.
    wait_until("right credentials up, wrong ones down", Duration::from_secs(20), || {
        let f = fleet_health(&sy);
        node_health(&f, "v2-ok") == "up"
            && node_health(&f, "v3-ok") == "up"
            && node_health(&f, "v2-bad") == "down"
            && node_health(&f, "v3-bad") == "down"
    });

    // Forged v3 replies: dropped (v3-ok stays up, answered by the genuine reply) and counted.
    wait_until("wrong digests counted", Duration::from_secs(10), || {
        sample(&get(sy.admin, "/metrics", &[]).body, WRONG_DIGEST).is_some_and(|n| n >= 2.0)
    });
    let fleet = fleet_health(&sy);
    assert_eq!(node_health(&fleet, "v3-ok"), "up", "{fleet}");

    // Every read endpoint.
    let nodes = ["v2-ok", "v2-bad", "v3-ok", "v3-bad"];
    let mut paths: Vec<String> = [
        "/",
        "/ui/app.js",
        "/ui/app.css",
        "/api/v1/fleet",
        "/api/v1/fleet?summary",
        "/api/v1/cluster",
        "/metrics",
        "/livez?verbose",
        "/readyz?verbose",
        "/healthz?verbose",
        "/readyz?format=json",
        "/debug/localize?ip=127.0.0.1",
        "/debug/pick?host=video.example&ip=127.0.0.1&path=/a.ts",
        "/crs/stats",
        "/crs/locations/caches",
    ]
    .map(String::from)
    .to_vec();
    paths.extend(nodes.iter().map(|n| format!("/api/v1/nodes/{n}")));
    for path in &paths {
        let r = get(sy.admin, path, &[]);
        assert!(r.status < 500 || path.starts_with("/readyz"), "GET {path}: {}", r.body);
        seen.response(&format!("GET {path}"), &r);
    }
    let om = [("Accept", "application/openmetrics-text; version=1.0.0")];
    seen.response("GET /metrics (OpenMetrics)", &get(sy.admin, "/metrics", &om));
    let r = get(http, "/v1/route?path=/a.ts", &[("Host", "video.example")]);
    seen.response("GET /v1/route", &r);

    // Admin calls: no token, a wrong one, the right one.
    let right = format!("Bearer {ADMIN_TOKEN}");
    let wrong = format!("Bearer {WRONG_TOKEN}");
    let drain = r#"{"admin": "drain"}"#;
    let r = request(sy.admin, "POST", "/admin/nodes/v2-ok", &[], drain);
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"switchyard-admin\""));
    seen.response("POST /admin/nodes without a token", &r);
    let r = request(sy.admin, "POST", "/admin/nodes/v2-ok", &[("Authorization", &wrong)], drain);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").is_some_and(|h| h.contains("invalid_token")));
    seen.response("POST /admin/nodes with a wrong token", &r);
    let r = get(sy.admin, "/admin/maintenance", &[("Authorization", &wrong)]);
    assert_eq!(r.status, 401, "reads need the token too: {}", r.body);
    let r = request(sy.admin, "POST", "/admin/nodes/v2-ok", &[("Authorization", &right)], drain);
    assert_eq!(r.status, 200, "{}", r.body);
    seen.response("POST /admin/nodes", &r);
    for n in nodes {
        let r = get(sy.admin, &format!("/admin/nodes/{n}"), &[("Authorization", &right)]);
        assert_eq!(r.status, 200, "{}", r.body);
        seen.response(&format!("GET /admin/nodes/{n}"), &r);
    }
    let on = r#"{"enabled": true, "reason": "leak test"}"#;
    let r = request(sy.admin, "POST", "/admin/maintenance", &[("Authorization", &right)], on);
    assert_eq!(r.status, 200, "{}", r.body);
    seen.response("POST /admin/maintenance", &r);
    let r = request(sy.admin, "POST", "/admin/maintenance", &[("Authorization", &right)], "{");
    assert_eq!(r.status, 400, "{}", r.body);
    seen.response("POST /admin/maintenance (bad body)", &r);

    // A reload refused: a numeric community, a misspelt key, a short pass phrase.
    let bad = config(v2.addr(), v3.addr(), "")
        .replace(
            &format!("community = \"{WRONG_COMMUNITY}\""),
            &format!("community = {NUMERIC_COMMUNITY}"),
        )
        .replace(
            "connect_timeout_ms = 200\n\n[probe.warm]",
            "connect_timeout_ms = 200\ncolour = 1\n\n[probe.warm]",
        )
        .replace(&format!("priv_password = \"{WRONG_PRIV_PASS}\""), "priv_password = \"short\"");
    assert_ne!(bad, good);
    sy.write_config(&bad);
    let r = request(sy.admin, "POST", "/admin/reload", &[("Authorization", &right)], "");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("probe."), "the refusal names the keys: {}", r.body);
    seen.response("POST /admin/reload (refused)", &r);
    let checked = check_config(&sy.path("switchyard.toml"), None);
    assert!(!checked.status.success());
    seen.output("check-config on the bad file", &checked);
    // The same file, the token given in the environment (check-config reads it there).
    seen.output(
        "check-config on the bad file, token in the environment",
        &check_config(&sy.path("switchyard.toml"), Some(ADMIN_TOKEN)),
    );

    // Accepted: through the API and through SIGHUP.
    sy.write_config(&good);
    let r = request(sy.admin, "POST", "/admin/reload", &[("Authorization", &right)], "");
    assert_eq!(r.status, 200, "{}", r.body);
    seen.response("POST /admin/reload", &r);
    sy.signal("HUP");
    sy.log.wait_for("reload", Duration::from_secs(10));
    let checked = check_config(&sy.path("switchyard.toml"), None);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    seen.output("check-config on the good file", &checked);

    // `switchyard snmp` with right and wrong secrets.
    let v2a = v2.addr().to_string();
    let v3a = v3.addr().to_string();
    let (v2a, v3a) = (v2a.as_str(), v3a.as_str());
    let sys_name = "1.3.6.1.2.1.1.5.0";
    for (what, args) in [
        ("v2c", vec!["-v", "2c", "-c", COMMUNITY, "-t", "1", "-r", "0", v2a, sys_name]),
        (
            "v2c wrong",
            vec!["-v", "2c", "-c", WRONG_COMMUNITY, "-t", "0.3", "-r", "0", v2a, sys_name],
        ),
        (
            "v3",
            vec![
                "-v", "3", "-u", "mon", "-l", "authPriv", "-a", "SHA-256", "-A", AUTH_PASS, "-x",
                "AES", "-X", PRIV_PASS, "-t", "1", "-r", "1", v3a, sys_name,
            ],
        ),
        (
            "v3 wrong",
            vec![
                "-v",
                "3",
                "-u",
                "mon",
                "-l",
                "authPriv",
                "-a",
                "SHA-256",
                "-A",
                WRONG_AUTH_PASS,
                "-x",
                "AES",
                "-X",
                WRONG_PRIV_PASS,
                "-t",
                "1",
                "-r",
                "0",
                v3a,
                sys_name,
            ],
        ),
    ] {
        let o = Command::new(BIN).args(["snmp", "get"]).args(&args).output().unwrap();
        if !what.contains("wrong") {
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(out.contains("sim"), "switchyard snmp get ({what}): {out}");
        }
        seen.output(&format!("switchyard snmp get ({what})"), &o);
    }

    // After all of that: metrics once more, then a clean stop and the whole log.
    seen.response("GET /metrics (end)", &get(sy.admin, "/metrics", &[]));
    seen.response("GET /api/v1/fleet (end)", &get(sy.admin, "/api/v1/fleet", &[]));
    sy.signal("TERM");
    let status = sy.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let log = sy.log.all();
    assert!(log.contains("admin listener ready"), "the log was captured");
    seen.add("the log (stderr)", log);
    seen.assert_no_marker();
}

fn check_config(path: &std::path::Path, token: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("check-config").arg(path).env_remove("SWITCHYARD_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("SWITCHYARD_ADMIN_TOKEN", t);
    }
    cmd.output().unwrap()
}

/// Turns etcd's authentication on through its v3 HTTP gateway: a root user with the root
/// role, and a `switchyard` user with read and write access to everything.
fn enable_etcd_auth(etcd: &Etcd) {
    let call = |path: &str, body: serde_json::Value| {
        let headers = [("Content-Type", "application/json")];
        let r = request(etcd.client_addr(), "POST", path, &headers, &body.to_string());
        assert_eq!(r.status, 200, "POST {path}: {}", r.body);
    };
    use serde_json::json;
    call("/v3/auth/user/add", json!({"name": "root", "password": ETCD_ROOT_PASSWORD}));
    call("/v3/auth/role/add", json!({"name": "root"}));
    call("/v3/auth/user/grant", json!({"user": "root", "role": "root"}));
    call("/v3/auth/user/add", json!({"name": "switchyard", "password": ETCD_PASSWORD}));
    call("/v3/auth/role/add", json!({"name": "rw"}));
    // Key "\0" to range end "\0" is every key (READWRITE = 2).
    let all = json!({"name": "rw", "perm": {"permType": 2, "key": "AA==", "range_end": "AA=="}});
    call("/v3/auth/role/grant", all);
    call("/v3/auth/user/grant", json!({"user": "switchyard", "role": "rw"}));
    call("/v3/auth/enable", json!({}));
}

fn etcd_config(etcd: &Etcd) -> String {
    format!(
        r#"[lifecycle]
shutdown_delay_seconds = 0

[probe.default]
check = {{ kind = "tcp" }}
interval_ms = 200
timeout_ms = 150
connect_timeout_ms = 100

[probe.warm]
fraction = 0.0
deadline_ms = 1000

[inventory.etcd]
endpoints = ["{}"]
username = "switchyard"
dial_timeout_ms = 1000
request_timeout_ms = 2000
"#,
        etcd.endpoint()
    )
}

#[test]
fn the_etcd_password_reaches_no_log_answer_or_command_output() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fleet.toml"),
        "[inventory]\n\n[[inventory.zones]]\nname = \"ams\"\n\n[[inventory.services]]\n\
         name = \"video\"\nhostnames = [\"video.example\"]\ndefault_zone = \"ams\"\n\n\
         [[inventory.nodes]]\nid = \"ams-1\"\nzone = \"ams\"\nipv4 = \"127.0.92.1\"\nport = 9\n",
    )
    .unwrap();
    let imported = Command::new(BIN)
        .current_dir(dir.path())
        .args(["etcd", "import", "fleet.toml", "--etcd", &etcd.endpoint()])
        .output()
        .unwrap();
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    enable_etcd_auth(&etcd);
    let config = etcd_config(&etcd);
    let mut seen = Seen::default();

    let parsed = switchyard::config::load_str(&config, "switchyard.toml", dir.path()).unwrap();
    let etcd_section = parsed.inventory.etcd.clone().expect("[inventory.etcd]");
    let password = switchyard_fleet::etcd::Password::load(
        &etcd_section,
        dir.path(),
        Some(ETCD_PASSWORD.to_owned()),
    )
    .unwrap();
    seen.add("Debug of the configuration", format!("{parsed:#?}"));
    seen.add("Debug of the etcd password", format!("{password:?}"));

    // The right password: the instance reads the inventory and serves it.
    let env = [("SWITCHYARD_ETCD_PASSWORD", ETCD_PASSWORD)];
    let args = ["--log-filter", LOG_FILTER, "--instance-id", "leak-test"];
    let mut sy = Switchyard::start(&config, &args, &env);
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    for path in [
        "/api/v1/fleet",
        "/api/v1/cluster",
        "/api/v1/nodes/ams-1",
        "/metrics",
        "/readyz?verbose",
        "/healthz?verbose",
        "/",
    ] {
        let r = get(sy.admin, path, &[]);
        assert!(r.status < 500, "GET {path}: {}", r.body);
        seen.response(&format!("GET {path}"), &r);
    }
    let fleet = get(sy.admin, "/api/v1/fleet", &[]).body;
    assert!(fleet.contains("ams-1"), "the inventory came from etcd: {fleet}");
    let drain = r#"{"admin": "drain"}"#;
    let r = request(sy.admin, "POST", "/admin/nodes/ams-1", &[], drain);
    assert_eq!(r.status, 200, "loopback, no token: {}", r.body);
    seen.response("POST /admin/nodes/ams-1", &r);
    sy.signal("TERM");
    sy.wait_exit(Duration::from_secs(20));
    seen.add("the log (right password)", sy.log.all());

    // A wrong password: the instance starts, cannot read etcd and says why.
    let env = [("SWITCHYARD_ETCD_PASSWORD", WRONG_ETCD_PASSWORD)];
    let sy = Switchyard::start(&config, &args, &env);
    std::thread::sleep(Duration::from_secs(3));
    let r = get(sy.admin, "/readyz?verbose", &[]);
    assert_eq!(r.status, 500, "etcd refuses the wrong password: {}", r.body);
    for path in ["/readyz?verbose", "/api/v1/cluster", "/metrics"] {
        seen.response(&format!("GET {path} (wrong password)"), &get(sy.admin, path, &[]));
    }
    let log = sy.log.clone();
    drop(sy);
    seen.add("the log (wrong password)", log.all());

    // The one-shot tools, with the right and the wrong password.
    let config_path = dir.path().join("switchyard.toml");
    std::fs::write(&config_path, &config).unwrap();
    for (what, pw) in [("right", ETCD_PASSWORD), ("wrong", WRONG_ETCD_PASSWORD)] {
        let o = Command::new(BIN)
            .current_dir(dir.path())
            .args(["etcd", "status", "--etcd", &etcd.endpoint(), "--username", "switchyard"])
            .env("SWITCHYARD_ETCD_PASSWORD", pw)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.success(), what == "right", "etcd status, {what} password: {out}");
        seen.output(&format!("switchyard etcd status ({what} password)"), &o);
        let o = Command::new(BIN)
            .args(["check-config"])
            .arg(&config_path)
            .env("SWITCHYARD_ETCD_PASSWORD", pw)
            .output()
            .unwrap();
        seen.output(&format!("check-config ({what} password)"), &o);
    }
    seen.assert_no_marker();
}
