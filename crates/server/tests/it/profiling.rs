//! `/debug/pprof/profile` through the real binary: a CPU profile taken while traffic runs
//! decodes as gzipped pprof protobuf with samples in it, the flamegraph is SVG, and the
//! endpoint needs the admin token (the other `/debug/*` reads do not), bounds `seconds` and
//! runs one profile at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pprof::protos::Message;

use crate::common::{Switchyard, get};

const TOKEN: &str = "profiling-t0ken";

pub const CZF: &str = r#"{"coverageZones": {
  "ams": {"network": ["10.1.0.0/16", "127.0.0.0/8"]},
  "fra": {"network": ["10.2.0.0/16"]}
}}"#;

pub const CONFIG: &str = r#"[lifecycle]
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
id = "ams-2"
zone = "ams"
ipv4 = "127.0.10.2"

[[inventory.nodes]]
id = "fra-1"
zone = "fra"
ipv4 = "127.0.20.1"

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
"#;

fn start(token: Option<&str>) -> (Switchyard, SocketAddr) {
    let env: Vec<(&str, &str)> = token.map(|t| ("SWITCHYARD_ADMIN_TOKEN", t)).into_iter().collect();
    let sy = Switchyard::start_with_files(
        CONFIG,
        &[("czf.json", CZF)],
        &["--http-listen", "127.0.0.1:0"],
        &env,
    );
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let http = sy.listener("http");
    (sy, http)
}

/// A response with its body as bytes (the profile is binary).
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// `GET path` on the admin listener, waiting long enough for a profile to be taken and
/// symbolized (an unoptimized build reads its own debug information slowly).
fn fetch(addr: SocketAddr, path: &str, token: Option<&str>) -> Raw {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8(raw[..end].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Raw { status, head, body: raw[end + 4..].to_vec() }
}

/// Sends `/v1/route` requests on keep-alive connections from two threads until dropped, so
/// the server has CPU work for the sampler to see.
struct Traffic {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Traffic {
    fn start(http: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..2)
            .map(|t| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut conn = TcpStream::connect(http).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut sent = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let req = format!(
                            "GET /v1/route?host=video.example&ip=10.1.{t}.{}&path=/v/{sent}.ts \
                             HTTP/1.1\r\nHost: video.example\r\n\r\n",
                            sent % 250
                        );
                        conn.write_all(req.as_bytes()).unwrap();
                        // One small JSON answer per request; read until its end.
                        let mut got = Vec::new();
                        while !complete(&got) {
                            let n = conn.read(&mut buf).unwrap();
                            assert!(n > 0, "traffic connection closed");
                            got.extend_from_slice(&buf[..n]);
                        }
                        sent += 1;
                    }
                    sent
                })
            })
            .collect();
        Self { stop, threads }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}

/// Whether `got` holds one whole Content-Length framed response.
fn complete(got: &[u8]) -> bool {
    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    got.len() >= end + 4 + len
}

#[test]
fn a_profile_under_traffic_is_gzipped_pprof_with_samples() {
    let (sy, http) = start(Some(TOKEN));
    let traffic = Traffic::start(http);
    let r = fetch(sy.admin, "/debug/pprof/profile?seconds=1", Some(TOKEN));
    let sent = traffic.finish();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(sent > 0, "the traffic threads sent nothing");
    assert_eq!(&r.body[..2], &[0x1f, 0x8b], "gzip magic");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut decoded).unwrap();
    let profile = pprof::protos::Profile::decode(&decoded[..]).expect("a pprof Profile");
    assert!(profile.string_table.iter().any(|s| s == "cpu"), "{:?}", profile.string_table);
    assert!(!profile.sample.is_empty(), "no samples while {sent} requests ran");
    assert!(profile.duration_nanos >= 900_000_000, "{}", profile.duration_nanos);
    assert!(!profile.function.is_empty());
}

#[test]
fn the_flamegraph_is_svg() {
    let (sy, http) = start(Some(TOKEN));
    let traffic = Traffic::start(http);
    let r = fetch(sy.admin, "/debug/pprof/profile?seconds=1&format=svg", Some(TOKEN));
    traffic.finish();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    let text = String::from_utf8(r.body).unwrap();
    assert!(text.starts_with("<?xml") || text.starts_with("<svg"), "{}", &text[..80]);
    assert!(text.contains("<svg"));
}

#[test]
fn the_profile_needs_the_token_and_bounded_seconds() {
    let (sy, _http) = start(Some(TOKEN));
    let r = fetch(sy.admin, "/debug/pprof/profile?seconds=1", None);
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")));
    let r = fetch(sy.admin, "/debug/pprof/profile?seconds=1", Some("not-the-token"));
    assert_eq!(r.status, 401);
    // The other debug reads still need none.
    assert_eq!(get(sy.admin, "/debug/localize?ip=10.1.0.1", &[]).status, 200);
    for bad in ["0", "1000", "x"] {
        let r = fetch(sy.admin, &format!("/debug/pprof/profile?seconds={bad}"), Some(TOKEN));
        assert_eq!(r.status, 400, "seconds={bad}");
        let body = String::from_utf8(r.body).unwrap();
        assert!(body.contains("bad_parameter") && body.contains("`seconds`"), "{body}");
    }
    let r = fetch(sy.admin, "/debug/pprof/profile?seconds=1&format=png", Some(TOKEN));
    assert_eq!(r.status, 400);
}

#[test]
fn one_profile_runs_at_a_time() {
    let (sy, _http) = start(Some(TOKEN));
    let admin = sy.admin;
    let first =
        std::thread::spawn(move || fetch(admin, "/debug/pprof/profile?seconds=3", Some(TOKEN)));
    sy.log.wait_for("CPU profile started", Duration::from_secs(10));
    let second = fetch(admin, "/debug/pprof/profile?seconds=1", Some(TOKEN));
    assert_eq!(second.status, 409);
    assert!(String::from_utf8_lossy(&second.body).contains("profile_in_progress"));
    assert_eq!(first.join().unwrap().status, 200);
    // Free again once the first has finished.
    let third = fetch(admin, "/debug/pprof/profile?seconds=1", Some(TOKEN));
    assert_eq!(third.status, 200);
}

/// Without a token configured the profile answers loopback peers (the exposure rule's own
/// test: only a loopback admin listener may run without one when mutations are on).
#[test]
fn without_a_token_loopback_peers_may_profile() {
    let (sy, _http) = start(None);
    let r = fetch(sy.admin, "/debug/pprof/profile?seconds=1", None);
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..2], &[0x1f, 0x8b]);
}
