//! HTTP conformance found by outside test suites, through real listeners and the real
//! binary: invalid `Host` values are a 400 (RFC 9112 §3.2) on the fast path and on hyper;
//! a request head must arrive within `http.request_header_timeout_ms` however slowly it
//! trickles; traffic connections cannot take the descriptors the health endpoints need; the
//! health endpoints answer with the apiserver's headers and its trailing-slash rule.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use switchyard::traffic::TrafficConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{BIN, Switchyard, get, request};
use crate::dns_common::metric_value;
use crate::traffic_common::{Conn, Server};
use crate::traffic_edges::{PAD, both};

const VIDEO: &str = "video.cdn.example.com";

// --- Host (RFC 9112 §3.2) ---------------------------------------------------------------

#[tokio::test]
async fn invalid_host_values_are_a_400_on_both_paths() {
    let server = Server::start(TrafficConfig::default()).await;
    let cases: [&[(&str, &str)]; 6] = [
        &[("Host", "a b")],
        &[("Host", "exa mple.com")],
        &[("Host", VIDEO), ("Host", VIDEO)],
        &[("Host", "")],
        &[("Host", "video.cdn.example.com:80x")],
        &[("Host", "video.cdn.example.com/seg.ts")],
    ];
    for headers in cases {
        // The route API with host= (the Host is not even needed) and a redirect path.
        for target in [&*format!("/v1/route?host={VIDEO}"), "/seg.ts"] {
            let r = both(&server, "GET", target, headers).await;
            let what = format!("{target} {headers:?}: {r:?}");
            assert_eq!(r.status, 400, "{what}");
            let e = &r.json()["error"];
            assert_eq!(e["code"], "bad_parameter", "{what}");
            assert!(e["message"].as_str().unwrap().contains("Host header"), "{what}");
        }
    }
    let text = server.metrics.encode();
    let refused = metric_value(
        &text,
        "switchyard_http_admission_rejections_total",
        &["reason=\"invalid_host\""],
    );
    assert_eq!(refused, 24.0, "{text}");

    // Valid forms still route: a port, an IPv6 literal, HTTP/1.0 with an empty Host (where
    // Host is optional), and the same connection goes on after a 400.
    let mut c = Conn::open(server.addr).await;
    assert_eq!(c.get("/seg.ts", &[("Host", "a b")]).await.status, 400);
    let r = c.get("/seg.ts", &[("Host", "video.cdn.example.com:8080")]).await;
    assert_eq!(r.status, 302, "{r:?}");
    let r = c.get(&format!("/v1/route?host={VIDEO}"), &[("Host", "[::1]:80")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut c = Conn::open(server.addr).await;
    c.send_raw(format!("GET /v1/route?host={VIDEO} HTTP/1.0\r\nHost: \r\n\r\n").as_bytes()).await;
    assert_eq!(c.read(false).await.status, 200);
    server.shutdown().await;
}

// --- Slow request heads -----------------------------------------------------------------

const HEAD_TIMEOUT_MS: u64 = 500;

fn head_timeouts(server: &Server) -> f64 {
    metric_value(&server.metrics.encode(), "switchyard_http_request_header_timeouts_total", &[])
}

/// Sends `prefix`, then one byte of a header value every 100 ms, until the server closes
/// the connection; returns how long that took from the first trickled byte. Fails after
/// five seconds.
async fn trickle_until_closed(mut stream: TcpStream, prefix: &[u8]) -> Duration {
    stream.write_all(prefix).await.unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return start.elapsed(),
                Ok(n) => panic!("answered a head that never ended: {:?}", &buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                if stream.write_all(b"a").await.is_err() {
                    return start.elapsed();
                }
                assert!(start.elapsed() < Duration::from_secs(5), "still open after 5 s");
            }
        }
    }
}

/// Sends one whole request on `stream` and reads the answer (Content-Length framed).
async fn exchange(stream: &mut TcpStream, req: &str) -> String {
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before answering");
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    return text.into_owned();
                }
            }
        }
    })
    .await
    .expect("answer within 5 s")
}

fn assert_cut_in_time(took: Duration, what: &str) {
    let limit = Duration::from_millis(HEAD_TIMEOUT_MS);
    assert!(took >= limit - Duration::from_millis(150), "{what}: closed after {took:?}");
    assert!(took < limit + Duration::from_millis(1500), "{what}: closed after {took:?}");
}

#[tokio::test]
async fn a_request_head_trickling_in_is_cut_off_at_the_header_timeout() {
    let config = TrafficConfig { request_header_timeout_ms: HEAD_TIMEOUT_MS, ..Default::default() };
    let server = Server::start(config).await;
    let line = format!("GET /v1/route?host={VIDEO} HTTP/1.1\r\nHost: x\r\nX-Slow: ");

    // Fast path, first request of a connection.
    let s = TcpStream::connect(server.addr).await.unwrap();
    assert_cut_in_time(trickle_until_closed(s, line.as_bytes()).await, "first head");
    assert_eq!(head_timeouts(&server), 1.0);

    // Fast path, a later request: its clock starts at its own first byte.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let ok = format!("GET /v1/route?host={VIDEO} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(exchange(&mut s, &ok).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(2 * HEAD_TIMEOUT_MS)).await;
    assert_cut_in_time(trickle_until_closed(s, line.as_bytes()).await, "later head");
    assert_eq!(head_timeouts(&server), 2.0);

    // Handed to hyper in the middle of a head (more header lines than the fast path
    // parses): the deadline of the head already begun still holds.
    let s = TcpStream::connect(server.addr).await.unwrap();
    let mut padded = format!("GET /v1/route?host={VIDEO} HTTP/1.1\r\nHost: x\r\n");
    for i in 0..PAD {
        padded.push_str(&format!("X-Pad-{i}: 1\r\n"));
    }
    padded.push_str("X-Slow: ");
    assert_cut_in_time(trickle_until_closed(s, padded.as_bytes()).await, "handed-over head");
    assert_eq!(head_timeouts(&server), 3.0);

    // A connection hyper serves (a POST), its next head trickling: hyper's own timeout.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let post =
        format!("POST /v1/route?host={VIDEO} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert!(exchange(&mut s, &post).await.starts_with("HTTP/1.1 405"));
    assert_cut_in_time(trickle_until_closed(s, line.as_bytes()).await, "hyper head");
    assert_eq!(head_timeouts(&server), 4.0);

    // Connected, nothing sent: closed at the same deadline, counted.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let start = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut [0u8; 16])).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    assert_cut_in_time(start.elapsed(), "silent connection");
    assert_eq!(head_timeouts(&server), 5.0);

    // An idle hyper connection closed by the same timer is not a slow head.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    assert!(exchange(&mut s, &post).await.starts_with("HTTP/1.1 405"));
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut [0u8; 16])).await;
    assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    assert_eq!(head_timeouts(&server), 5.0);

    // A head that trickles but ends in time is answered.
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    for chunk in ok.as_bytes().chunks(ok.len() / 3 + 1) {
        s.write_all(chunk).await.unwrap();
        tokio::time::sleep(Duration::from_millis(HEAD_TIMEOUT_MS / 5)).await;
    }
    assert!(exchange(&mut s, "").await.starts_with("HTTP/1.1 200"));
    server.shutdown().await;
}

// --- Descriptors ------------------------------------------------------------------------

/// `switchyard serve` started under `prlimit --nofile=SOFT:HARD`, its JSON log collected.
struct Limited {
    child: Child,
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
    _dir: tempfile::TempDir,
}

impl Limited {
    fn start(nofile: &str, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new("prlimit")
            .arg(format!("--nofile={nofile}"))
            .arg("--")
            .arg(BIN)
            .args(["--log-format", "json", "serve", "--config"])
            .arg(&path)
            .args(["--admin-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env_remove("SWITCHYARD_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prlimit (util-linux) must be installed");
        let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.0.lock().unwrap().push(line);
                sink.1.notify_all();
            }
        });
        Self { child, log, _dir: dir }
    }

    /// The first log line containing `needle`, parsed; fails after ten seconds.
    fn wait_for(&self, needle: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = self.log.0.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| l.contains(needle)) {
                return serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {needle:?} in the log:\n{}", lines.join("\n"));
            lines = self.log.1.wait_timeout(lines, left).unwrap().0;
        }
    }

    fn listener(&self, name: &str) -> SocketAddr {
        let line = self.wait_for(&format!("{name} listener ready"));
        line["addr"].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const LIMITED_CONFIG: &str =
    "[lifecycle]\nshutdown_delay_seconds = 0\n\n[http]\nrequest_header_timeout_ms = 60000\n";

#[test]
fn idle_traffic_connections_cannot_starve_the_health_endpoints() {
    let sy = Limited::start("256:256", LIMITED_CONFIG);
    let limit = sy.wait_for("open-file limit");
    assert_eq!((limit["soft"].as_u64(), limit["hard"].as_u64()), (Some(256), Some(256)));
    let (admin, http) = (sy.listener("admin"), sy.listener("http"));
    // Ready first: what is checked below is that readiness survives the idle connections.
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(admin, "/readyz", &[]).status != 200 {
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }

    // More idle connections than the process has descriptors. One reset by the server
    // before `connect` returned is one refused.
    let held: Vec<std::net::TcpStream> = (0..300)
        .filter_map(|_| match std::net::TcpStream::connect_timeout(&http, Duration::from_secs(5)) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("connect {http}: {e}"),
        })
        .collect();
    let scrape = || get(admin, "/metrics", &[]).body;
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = scrape();
        let refused = metric_value(&text, "switchyard_http_connections_refused_total", &[]);
        if refused >= 172.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "refused {refused}:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    // Traffic keeps half of the 256 descriptors at most; the rest were reset at accept.
    assert_eq!(metric_value(&text, "switchyard_http_open_connections", &[]), 128.0, "{text}");
    assert_eq!(metric_value(&text, "switchyard_http_connections_refused_total", &[]), 172.0);
    for path in ["/livez", "/readyz"] {
        let r = get(admin, path, &[]);
        assert_eq!((r.status, &*r.body), (200, "ok"), "{path}");
    }
    drop(held);
}

#[test]
fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
    let sy = Limited::start("256:1024", LIMITED_CONFIG);
    let line = sy.wait_for("open-file limit raised");
    let field = |f: &str| line[f].as_u64();
    assert_eq!((field("was"), field("soft"), field("hard")), (Some(256), Some(1024), Some(1024)));
    let admin = sy.listener("admin");
    assert_eq!(get(admin, "/livez", &[]).status, 200);
}

// --- Health endpoints -------------------------------------------------------------------

#[test]
fn health_answers_are_uncached_and_a_trailing_slash_is_not_the_endpoint() {
    let sy = Switchyard::start("[lifecycle]\nshutdown_delay_seconds = 0\n", &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let cases = [
        ("GET", "/livez", 200, "ok"),
        ("GET", "/readyz", 200, "ok"),
        ("GET", "/healthz", 200, "ok"),
        ("GET", "/livez/ping", 200, "ok"),
        ("GET", "/livez/", 404, "404 page not found\n"),
        ("GET", "/readyz/", 404, "404 page not found\n"),
        ("GET", "/healthz/", 404, "404 page not found\n"),
        ("GET", "/livez/nope", 404, "404 page not found\n"),
    ];
    for (method, path, status, body) in cases {
        let r = request(sy.admin, method, path, &[], "");
        assert_eq!((r.status, &*r.body), (status, body), "{method} {path}");
        assert_eq!(r.header("cache-control"), Some("no-cache, private"), "{path}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
    let r = get(sy.admin, "/readyz?verbose", &[]);
    assert!(r.body.ends_with("readyz check passed\n"), "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-cache, private"));
    let r = request(sy.admin, "POST", "/livez", &[], "");
    assert_eq!((r.status, r.header("cache-control")), (405, Some("no-cache, private")));
}
