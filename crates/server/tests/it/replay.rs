//! `switchyard replay` through the real binary: `record` samples an instance's HTTP and DNS
//! decisions into the documented file format, and `run` replays a file at a fixed rate,
//! finding no difference between two instances of one configuration and the changed
//! answers of an instance with a node drained.

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{BIN, Switchyard, get};
use crate::profiling::{CONFIG, CZF};

const TOKEN: &str = "replay-t0ken";

struct Instance {
    sy: Switchyard,
    http: SocketAddr,
    dns: SocketAddr,
}

impl Instance {
    fn start(config: &str, token: Option<&str>) -> Self {
        let env: Vec<(&str, &str)> =
            token.map(|t| ("SWITCHYARD_ADMIN_TOKEN", t)).into_iter().collect();
        let sy = Switchyard::start_with_files(
            config,
            &[("czf.json", CZF)],
            &["--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0"],
            &env,
        );
        sy.wait_status("/readyz", 200, Duration::from_secs(20));
        let (http, dns) = (sy.listener("http"), sy.listener("dns"));
        Self { sy, http, dns }
    }

    fn target(&self) -> String {
        format!("http={},dns={}", self.http, self.dns)
    }
}

/// The configuration with `ams-1` drained.
fn drained() -> String {
    let c = CONFIG.replace(
        "id = \"ams-1\"\nzone = \"ams\"\nipv4 = \"127.0.10.1\"\n",
        "id = \"ams-1\"\nzone = \"ams\"\nipv4 = \"127.0.10.1\"\nadmin = \"drain\"\n",
    );
    assert_ne!(c, CONFIG);
    c
}

fn dig(dns: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", dns.ip()))
        .args(["-p", &dns.port().to_string(), "+tries=1", "+time=2"])
        .args(args)
        .output()
        .expect("dig runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn replay(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["replay", "run"])
        .args(args)
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .output()
        .unwrap()
}

/// A replay file written by hand: `n` HTTP decisions over varied clients and paths, and
/// DNS decisions with and without a client subnet.
fn replay_file(dir: &std::path::Path, n: usize) -> String {
    let mut text = String::from("# written by the test\n");
    for i in 0..n {
        let zone = if i % 3 == 0 { 2 } else { 1 };
        text.push_str(&format!(
            "{{\"protocol\":\"http\",\"host\":\"video.example\",\"client\":\"10.{zone}.0.{i}\",\
             \"path\":\"/v/{i}.ts?q={i}\"}}\n"
        ));
    }
    for client in ["10.1.0.0/24", "10.2.0.0/24", "10.1.9.9", "127.0.0.1"] {
        text.push_str(&format!(
            "{{\"protocol\":\"dns\",\"host\":\"video.example\",\"client\":\"{client}\",\"qtype\":\"A\"}}\n"
        ));
    }
    let path = dir.join("decisions.jsonl");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("{e}: {text} / {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn record_writes_the_documented_format() {
    let a = Instance::start(CONFIG, Some(TOKEN));
    // The samples are the instance's client addresses: the token guards them.
    let r = get(a.sy.admin, "/debug/replay/samples?count=1&seconds=1", &[]);
    assert_eq!(r.status, 401);
    let out = a.sy.dir.path().join("recorded.jsonl");
    let mut record = Command::new(BIN)
        .args(["replay", "record", "--server", &a.sy.admin.to_string(), "--count", "16"])
        .args(["--seconds", "30", "--out", out.to_str().unwrap()])
        .env("SWITCHYARD_ADMIN_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    a.sy.log.wait_for("sampling decisions", Duration::from_secs(10));
    for i in 0..10 {
        let path = format!("/v1/route?host=video.example&ip=10.1.0.{i}&path=/v/{i}.ts%3Fx%3D{i}");
        assert_eq!(get(a.http, &path, &[]).status, 200);
    }
    let r = get(a.http, "/movies/r.ts", &[("Host", "video.example")]);
    assert_eq!(r.status, 302);
    for subnet in ["10.2.0.0/24", "10.1.0.0/16"] {
        let answer = dig(a.dns, &["video.example", "A", &format!("+subnet={subnet}")]);
        assert!(answer.contains("NOERROR"), "{answer}");
    }
    dig(a.dns, &["video.example", "A"]);
    // Not decisions: no sample.
    dig(a.dns, &["video.example", "SOA"]);
    let r = get(a.http, "/d?host=video.example&ip=10.2.0.7&query=4", &[]);
    assert_eq!(r.status, 200);
    // One more than needed, in case a sample was missed.
    get(a.http, "/v1/route?host=video.example&ip=10.1.0.99&path=/last", &[]);
    let status = record.wait().unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().starts_with("# switchyard replay file: 16 decision(s)"),
        "{text}"
    );
    let samples: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(samples.len(), 16, "{text}");
    assert_eq!(
        samples[0],
        serde_json::json!({"protocol": "http", "host": "video.example", "service": "video",
                           "client": "10.1.0.0", "path": "/v/0.ts?x=0"})
    );
    assert_eq!(samples[10]["path"], "/movies/r.ts");
    assert_eq!(samples[10]["client"], "127.0.0.1");
    assert_eq!(
        samples[11],
        serde_json::json!({"protocol": "dns", "host": "video.example", "service": "video",
                           "client": "10.2.0.0/24", "qtype": "A"})
    );
    assert_eq!(samples[12]["client"], "10.1.0.0/16");
    assert_eq!(samples[13]["client"], "127.0.0.1");
    assert_eq!(samples[14]["protocol"], "dns", "HTTPDNS is a DNS decision");
    assert_eq!(samples[14]["client"], "10.2.0.7");
    assert_eq!(samples[15]["path"], "/last");
    for s in &samples {
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        let allowed = ["protocol", "host", "service", "client", "path", "qtype"];
        assert!(keys.iter().all(|k| allowed.contains(k)), "{s}");
    }

    // The recorded file replays against the instance it came from.
    let run = replay(&[out.to_str().unwrap(), "--target", &a.target(), "--rate", "100", "--json"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report = json(&run);
    assert_eq!(report["targets"][0]["answered"], 16, "{report}");
    assert_eq!(report["targets"][0]["errors"], 0, "{report}");
}

#[test]
fn two_instances_of_one_configuration_agree() {
    let (a, b) = (Instance::start(CONFIG, None), Instance::start(CONFIG, None));
    let file = replay_file(a.sy.dir.path(), 40);
    let out = replay(&[
        &file,
        "--target",
        &a.target(),
        "--target",
        &b.target(),
        "--rate",
        "200",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let report = json(&out);
    assert_eq!(report["compared"], 44, "{report}");
    assert_eq!(report["differences"], 0, "{report}");
    for t in report["targets"].as_array().unwrap() {
        assert_eq!(t["answered"], 44, "{report}");
        assert_eq!(t["errors"], 0, "{report}");
        assert!(t["latency_ms"]["max"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn a_drained_node_shows_as_differences() {
    let (a, b) = (Instance::start(CONFIG, None), Instance::start(&drained(), None));
    let file = replay_file(a.sy.dir.path(), 40);
    let out = replay(&[&file, "--target", &a.target(), "--target", &b.target(), "--rate", "200"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    let line = text.lines().find(|l| l.starts_with("differences: ")).expect("a differences line");
    let count: u64 = line["differences: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(count > 0 && count <= 44, "{text}");
    // Every difference shown names ams-1 on the first target only.
    assert!(text.contains("200 ams-1"), "{text}");
}

#[test]
fn the_open_loop_rate_is_kept() {
    let a = Instance::start(CONFIG, None);
    let file = replay_file(a.sy.dir.path(), 10);
    let started = std::time::Instant::now();
    let out = replay(&[
        &file,
        "--target",
        &a.http.to_string(),
        "--rate",
        "50",
        "--seconds",
        "2",
        "--json",
    ]);
    let wall = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    assert_eq!(report["scheduled"], 100, "{report}");
    let sent = report["sent"].as_u64().unwrap();
    assert!((90..=100).contains(&sent), "{report}");
    let rate = report["send_rate"].as_f64().unwrap();
    assert!((40.0..=60.0).contains(&rate), "{report}");
    // Two seconds of schedule, not faster, and not stretched by waiting on answers.
    assert!(wall >= Duration::from_millis(1900) && wall < Duration::from_secs(10), "{wall:?}");
    // The DNS samples have no target here: skipped, not errors.
    let t = &report["targets"][0];
    assert_eq!(t["errors"], 0, "{report}");
    assert!(t["skipped"].as_u64().unwrap() > 0, "{report}");
}
