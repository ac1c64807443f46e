//! The etcd launcher against the real binary: health, the v3 HTTP gateway, outages staged by
//! kill, stop, pause and restart, and instances side by side.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use switchyard_testkit::etcd::{AutoCompaction, Etcd, EtcdOptions};
use switchyard_testkit::process::{get, request};

const GUARD: Duration = Duration::from_secs(10);

#[test]
fn answers_health_and_version_on_its_endpoint() {
    let etcd = Etcd::start();
    assert_eq!(etcd.endpoint(), format!("http://127.0.0.1:{}", etcd.client_addr().port()));
    assert_ne!(etcd.client_addr(), etcd.peer_addr());

    let health = get(etcd.client_addr(), "/health", &[]);
    assert_eq!(health.status, 200, "{}", health.body);
    let v: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(v["health"], "true", "{}", health.body);

    let version = get(etcd.client_addr(), "/version", &[]);
    let v: serde_json::Value = serde_json::from_str(&version.body).unwrap();
    assert!(v["etcdserver"].as_str().is_some_and(|s| s.starts_with("3.")), "{}", version.body);
    // The Debian 3.4 binary takes the experimental flag; the launcher found it in --help.
    assert_eq!(etcd.watch_progress_notify(), Some(Duration::from_secs(1)));
}

#[test]
fn a_key_put_through_the_v3_gateway_reads_back() {
    let etcd = Etcd::start();
    let body = format!(
        r#"{{"key":"{}","value":"{}"}}"#,
        BASE64.encode("/switchyard/nodes/a"),
        BASE64.encode("10.0.0.1:443")
    );
    let json = [("Content-Type", "application/json")];
    let put = request(etcd.client_addr(), "POST", "/v3/kv/put", &json, &body);
    assert_eq!(put.status, 200, "{}", put.body);

    let range = format!(r#"{{"key":"{}"}}"#, BASE64.encode("/switchyard/nodes/a"));
    let got = request(etcd.client_addr(), "POST", "/v3/kv/range", &json, &range);
    let v: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    let value = v["kvs"][0]["value"].as_str().unwrap_or_else(|| panic!("{}", got.body));
    assert_eq!(BASE64.decode(value).unwrap(), b"10.0.0.1:443");

    // The helpers speak the same gateway.
    assert_eq!(etcd.get("/switchyard/nodes/a").as_deref(), Some(&b"10.0.0.1:443"[..]));
    etcd.put("/switchyard/empty", "");
    assert_eq!(etcd.get("/switchyard/empty"), Some(Vec::new()));
    assert_eq!(etcd.get("/switchyard/missing"), None);
}

#[test]
fn kill_and_stop_then_restart_keep_the_data_and_the_ports() {
    let mut etcd = Etcd::start();
    let (client, peer) = (etcd.client_addr(), etcd.peer_addr());
    etcd.put("k", "before the crash");

    etcd.kill();
    assert!(!etcd.is_healthy(), "a killed etcd still answers");
    etcd.restart();
    assert_eq!((etcd.client_addr(), etcd.peer_addr()), (client, peer));
    assert_eq!(etcd.get("k").as_deref(), Some(&b"before the crash"[..]));

    etcd.put("k", "before the stop");
    etcd.stop();
    assert!(!etcd.is_healthy(), "a stopped etcd still answers");
    etcd.restart();
    assert_eq!(etcd.get("k").as_deref(), Some(&b"before the stop"[..]));

    // Restarting a running etcd stops it first.
    etcd.restart();
    assert!(etcd.is_healthy());
    assert_eq!(etcd.client_addr(), client);
}

#[test]
fn pause_hangs_and_resume_answers_again() {
    let mut etcd = Etcd::start();
    etcd.pause();
    // The kernel still accepts connections; nothing answers within the probe's 500 ms.
    assert!(!etcd.is_healthy(), "a stopped process answered");
    etcd.resume();
    etcd.wait_healthy(GUARD);
    etcd.put("after", "resume");
    // Stopping a paused etcd does not hang on the SIGTERM it cannot see.
    etcd.pause();
    etcd.stop();
    assert!(!etcd.is_healthy());
}

#[test]
fn two_at_once_get_their_own_ports_and_data() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(Etcd::start);
        let b = s.spawn(Etcd::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    let ports = [a.client_addr(), a.peer_addr(), b.client_addr(), b.peer_addr()];
    for (i, p) in ports.iter().enumerate() {
        assert!(!ports[i + 1..].contains(p), "port shared: {ports:?}");
    }
    assert_ne!(a.data_dir(), b.data_dir());
    a.put("owner", "a");
    assert_eq!(b.get("owner"), None);
    b.put("owner", "b");
    assert_eq!(a.get("owner").as_deref(), Some(&b"a"[..]));
}

#[test]
fn options_reach_the_command_line() {
    let opts = EtcdOptions {
        name: "member-one".into(),
        auto_compaction: Some(AutoCompaction::Revisions(1000)),
        watch_progress_notify: None,
        ..EtcdOptions::default()
    };
    let etcd = Etcd::start_with(opts);
    assert_eq!(etcd.watch_progress_notify(), None);
    let log = etcd.log_tail(usize::MAX);
    let cmdline = log.lines().find(|l| l.starts_with("### ")).expect("command line in the log");
    assert!(cmdline.contains("--name=member-one"), "{cmdline}");
    assert!(cmdline.contains("--auto-compaction-mode=revision"), "{cmdline}");
    assert!(!cmdline.contains("progress-notify"), "{cmdline}");

    let bad = EtcdOptions {
        heartbeat: Duration::from_millis(50),
        election_timeout: Duration::from_millis(100),
        ..EtcdOptions::default()
    };
    let err = Etcd::try_start_with(bad).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}
