//! Shared by the traffic tests: a small fleet, and the traffic router served on a loopback
//! listener exactly as `switchyard serve` serves it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use switchyard::metrics::Metrics;
use switchyard::traffic::{self, Overload, TrafficConfig, TrafficContext};
use switchyard_route::{CoverageZones, FleetSpec, HealthView, RoutingTable};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub const FLEET: &str = r#"
[[zones]]
name = "east"
backups = ["west"]
[[zones]]
name = "west"

[[nodes]]
id = "east-1"
zone = "east"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
[[nodes]]
id = "west-1"
zone = "west"
ipv4 = "192.0.2.2"
hostname = "west-1.cdn.example.net"
port = 8080

[[services]]
name = "video"
hostnames = ["video.cdn.example.com"]
ttl_seconds = 60
"#;

/// Loopback clients land in `west`.
pub const CZF: &str = r#"{"coverageZones": {
    "east": {"network": ["198.51.100.0/24"], "network6": ["2001:db8:e::/48"]},
    "west": {"network": ["127.0.0.0/8"], "network6": ["::1/128"]}
}}"#;

pub fn table() -> RoutingTable {
    let spec: FleetSpec = toml::from_str(FLEET).unwrap();
    let czf = CoverageZones::from_czf_json(CZF).unwrap();
    RoutingTable::build(&spec, &czf, None, &HealthView::new(1)).unwrap()
}

/// A traffic listener on an ephemeral loopback port; stops and drains on drop.
pub struct Server {
    pub addr: SocketAddr,
    pub overload: Overload,
    pub metrics: Metrics,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(config: TrafficConfig) -> Self {
        let table = Arc::new(ArcSwap::from_pointee(table()));
        let metrics = Metrics::new();
        let (front, overload) = traffic::front_end(TrafficContext::new(table), &config, &metrics);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(front.serve(listener, stop.clone()));
        Self { addr, overload, metrics, stop, task: Some(task) }
    }

    /// Signals the stop (as SIGTERM's `stop_accepting` does) without waiting.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stops accepting and waits for the server task to finish.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t).await.unwrap().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One HTTP/1.1 response read off a connection.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A minimal keep-alive HTTP/1.1 client over one TCP connection.
pub struct Conn {
    io: BufReader<TcpStream>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Self {
        Self { io: BufReader::new(TcpStream::connect(addr).await.unwrap()) }
    }

    /// Sends `GET target` with `headers` and reads the response (Content-Length framed).
    pub async fn get(&mut self, target: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = format!("GET {target} HTTP/1.1\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.io.get_mut().write_all(req.as_bytes()).await.unwrap();
        let fut = self.read_reply();
        tokio::time::timeout(Duration::from_secs(10), fut).await.expect("reply within 10 s")
    }

    /// Writes raw bytes (several requests, a partial one, ...).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
    }

    /// Reads one response; `head` for an answer to `HEAD` (no body whatever its length).
    pub async fn read(&mut self, head: bool) -> Reply {
        let fut = async {
            let mut r = self.read_head().await;
            if !head {
                self.read_body(&mut r).await;
            }
            r
        };
        tokio::time::timeout(Duration::from_secs(10), fut).await.expect("reply within 10 s")
    }

    /// Whether the server closed the connection (EOF before any byte).
    pub async fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(10), self.io.read(&mut b))
            .await
            .expect("EOF or data within 10 s");
        matches!(n, Ok(0) | Err(_))
    }

    async fn read_reply(&mut self) -> Reply {
        let mut r = self.read_head().await;
        self.read_body(&mut r).await;
        r
    }

    async fn read_head(&mut self) -> Reply {
        let mut line = String::new();
        self.io.read_line(&mut line).await.unwrap();
        let status: u16 = line.split(' ').nth(1).expect("status line").parse().unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.io.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        Reply { status, headers, body: Vec::new() }
    }

    async fn read_body(&mut self, r: &mut Reply) {
        let len: usize = r.header("content-length").map_or(0, |v| v.parse().unwrap());
        r.body = vec![0; len];
        self.io.read_exact(&mut r.body).await.unwrap();
    }
}
