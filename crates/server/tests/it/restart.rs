//! Restarts and reloads under load, through the real binary.
//!
//! A restart: instance A serves fixed HTTP and DNS ports under a bounded load (keep-alive and
//! new HTTP connections, DNS over TCP and UDP, from tokio clients here); instance B starts
//! with the same configuration and binds the same ports (`SO_REUSEPORT`); A gets SIGTERM and
//! drains while the load goes on, then exits. No HTTP request may fail and no DNS-over-TCP
//! query may go unanswered. UDP datagrams queued in A's sockets when they close are lost:
//! they are counted and printed, not asserted.
//!
//! A reload: SIGHUP after SIGHUP, each with a changed fleet, under the same load: no error.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Switchyard, get};

/// The load of the restart and reload tests: a few hundred requests a second per client
/// (each pauses 4 ms between two), at most 20,000 per client whatever the timing.
const MIX: Mix = Mix {
    keep_alive: 4,
    new_connections: 2,
    dns_tcp: 2,
    dns_udp: 1,
    pace: Duration::from_millis(4),
    max_per_client: 20_000,
};
/// Time limit of one HTTP exchange or DNS query before it counts as failed.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(5);
/// Time a UDP query waits for its answer before it counts as lost.
const UDP_WAIT: Duration = Duration::from_millis(500);

/// A TCP port with its UDP twin free on 127.0.0.1, for listeners two processes share.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The configuration both instances run: fixed ports, a short shutdown delay, two zones, no
/// shedding on queue delay.
pub fn config(http: u16, dns: u16, nodes: usize) -> String {
    let mut c = format!(
        r#"[listen]
http = "127.0.0.1:{http}"
dns = "127.0.0.1:{dns}"

[lifecycle]
shutdown_delay_seconds = 1
drain_timeout_seconds = 20

# The hand-over is what is measured. On a machine busy with the rest of the suite, shedding
# on queue delay (a deliberate refusal, tested in overload.rs) would count as failures.
[http]
shed_queue_delay_ms = 0

[[inventory.zones]]
name = "ams"
backups = ["fra"]

[[inventory.zones]]
name = "fra"

[[inventory.services]]
name = "video"
hostnames = ["video.cdn.test"]
default_zone = "ams"
"#
    );
    for i in 0..nodes {
        let zone = if i % 2 == 0 { "ams" } else { "fra" };
        c.push_str(&format!(
            "\n[[inventory.nodes]]\nid = \"{zone}-{i}\"\nzone = \"{zone}\"\nipv4 = \"192.0.2.{}\"\n",
            i + 1
        ));
    }
    c
}

/// How many load clients of each kind, how fast, how many requests at most.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// HTTP clients on keep-alive connections.
    pub keep_alive: u64,
    /// HTTP clients opening a connection per request.
    pub new_connections: u64,
    /// DNS-over-TCP clients on long-lived connections.
    pub dns_tcp: u16,
    /// DNS-over-UDP clients, one query at a time.
    pub dns_udp: u16,
    /// Pause of each client between two requests.
    pub pace: Duration,
    /// Requests of each client at most.
    pub max_per_client: u64,
}

/// What the load clients count.
#[derive(Default)]
pub struct Tally {
    pub http_ok: AtomicU64,
    pub http_failed: AtomicU64,
    /// Keep-alive connections the server closed with `Connection: close`.
    pub http_closed_by_server: AtomicU64,
    pub dns_tcp_ok: AtomicU64,
    pub dns_tcp_lost: AtomicU64,
    /// Queries sent again on a new connection because the server had ended the stream
    /// without answering (RFC 7766 §6.2.3: the client retries elsewhere).
    pub dns_tcp_resent: AtomicU64,
    pub udp_ok: AtomicU64,
    pub udp_lost: AtomicU64,
    /// The first few failures, for the assertion message.
    pub errors: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, counter: &AtomicU64, what: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        let mut e = self.errors.lock().unwrap();
        if e.len() < 10 {
            e.push(what);
        }
    }

    pub fn http(&self) -> u64 {
        self.http_ok.load(Ordering::Relaxed) + self.http_failed.load(Ordering::Relaxed)
    }

    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "http ok {} failed {} (keep-alive closed by server {}); dns tcp ok {} lost {} \
             (resent after end of stream {}); dns udp ok {} lost {}; first errors: {:?}",
            g(&self.http_ok),
            g(&self.http_failed),
            g(&self.http_closed_by_server),
            g(&self.dns_tcp_ok),
            g(&self.dns_tcp_lost),
            g(&self.dns_tcp_resent),
            g(&self.udp_ok),
            g(&self.udp_lost),
            self.errors.lock().unwrap()
        )
    }
}

/// The bounded load, running on its own runtime until [`Load::finish`].
pub struct Load {
    rt: tokio::runtime::Runtime,
    stop: Arc<AtomicBool>,
    pub tally: Arc<Tally>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(http: SocketAddr, dns: SocketAddr, mix: Mix) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let mut tasks = Vec::new();
        for i in 0..mix.keep_alive {
            tasks.push(rt.spawn(http_keep_alive(http, i, mix, stop.clone(), tally.clone())));
        }
        for i in 0..mix.new_connections {
            let task = http_new_connections(http, i, mix, stop.clone(), tally.clone());
            tasks.push(rt.spawn(task));
        }
        for i in 0..mix.dns_tcp {
            tasks.push(rt.spawn(dns_tcp(dns, i, mix, stop.clone(), tally.clone())));
        }
        for _ in 0..mix.dns_udp {
            tasks.push(rt.spawn(dns_udp(dns, mix, stop.clone(), tally.clone())));
        }
        Self { rt, stop, tally, tasks }
    }

    /// Waits until `n` more HTTP requests have been answered or failed.
    pub fn wait_for_requests(&self, n: u64) {
        let target = self.tally.http() + n;
        while self.tally.http() < target && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn finish(self) -> Arc<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            self.rt.block_on(t).unwrap();
        }
        self.tally
    }
}

fn route_request(i: u64, close: bool) -> String {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "GET /v1/route?host=video.cdn.test&ip=10.{}.{}.1 HTTP/1.1\r\nHost: x\r\n{connection}\r\n",
        (i >> 8) & 0xff,
        i & 0xff
    )
}

/// One HTTP/1.1 response: its status and whether it closes the connection. `Err` for a
/// connection that ended or failed before the whole response arrived.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, bool), String> {
    buf.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = resp.parse(buf) {
            let status = resp.code.unwrap_or(0);
            let mut length = 0usize;
            let mut close = false;
            for h in resp.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value).unwrap().trim().parse().unwrap();
                } else if h.name.eq_ignore_ascii_case("connection") {
                    close = h.value.eq_ignore_ascii_case(b"close");
                }
            }
            while buf.len() < head + length {
                let mut chunk = [0u8; 4096];
                match s.read(&mut chunk).await {
                    Ok(0) => return Err("end of stream inside a body".into()),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) => return Err(format!("reading a body: {e}")),
                }
            }
            return Ok((status, close));
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(0) => return Err(format!("end of stream after {} bytes of a response", buf.len())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("reading a response: {e}")),
        }
    }
}

/// Requests on a keep-alive connection, opening a new one when the server closes it.
async fn http_keep_alive(
    addr: SocketAddr,
    id: u64,
    mix: Mix,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(4096);
    for i in 0..mix.max_per_client {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let exchange = async {
            let s = match conn.as_mut() {
                Some(s) => s,
                None => conn
                    .insert(TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?),
            };
            s.write_all(route_request(id << 12 | i, false).as_bytes())
                .await
                .map_err(|e| format!("write: {e}"))?;
            read_response(s, &mut buf).await
        };
        match tokio::time::timeout(EXCHANGE_LIMIT, exchange).await {
            Ok(Ok((200, close))) => {
                tally.http_ok.fetch_add(1, Ordering::Relaxed);
                if close {
                    tally.http_closed_by_server.fetch_add(1, Ordering::Relaxed);
                    conn = None;
                }
            }
            Ok(Ok((status, _))) => {
                tally.fail(&tally.http_failed, format!("keep-alive: status {status}"));
                conn = None;
            }
            Ok(Err(e)) => {
                tally.fail(&tally.http_failed, format!("keep-alive: {e}"));
                conn = None;
            }
            Err(_) => {
                tally.fail(&tally.http_failed, "keep-alive: no answer in time".into());
                conn = None;
            }
        }
        tokio::time::sleep(mix.pace).await;
    }
}

/// One request per connection.
async fn http_new_connections(
    addr: SocketAddr,
    id: u64,
    mix: Mix,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let mut buf = Vec::with_capacity(4096);
    for i in 0..mix.max_per_client {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let exchange = async {
            let mut s = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
            s.write_all(route_request((id + 8) << 12 | i, true).as_bytes())
                .await
                .map_err(|e| format!("write: {e}"))?;
            read_response(&mut s, &mut buf).await
        };
        match tokio::time::timeout(EXCHANGE_LIMIT, exchange).await {
            Ok(Ok((200, _))) => {
                tally.http_ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Ok((status, _))) => tally.fail(&tally.http_failed, format!("new: status {status}")),
            Ok(Err(e)) => tally.fail(&tally.http_failed, format!("new: {e}")),
            Err(_) => tally.fail(&tally.http_failed, "new: no answer in time".into()),
        }
        tokio::time::sleep(mix.pace).await;
    }
}

/// An A query for `video.cdn.test` with message id `id`.
pub fn dns_query(id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in ["video", "cdn", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Whether `reply` answers query `id` with NOERROR and at least one record.
fn good_reply(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12
        && reply[..2] == id.to_be_bytes()
        && reply[3] & 0x0f == 0
        && u16::from_be_bytes([reply[6], reply[7]]) > 0
}

enum TcpOutcome {
    Answered,
    /// The server ended the stream before any byte of the answer.
    EndOfStream,
    Failed(String),
}

async fn tcp_exchange(s: &mut TcpStream, id: u16) -> TcpOutcome {
    let q = dns_query(id);
    let mut frame = (q.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&q);
    if let Err(e) = s.write_all(&frame).await {
        return TcpOutcome::Failed(format!("write: {e}"));
    }
    let len = match s.read_u16().await {
        Ok(l) => usize::from(l),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return TcpOutcome::EndOfStream,
        Err(e) => return TcpOutcome::Failed(format!("read length: {e}")),
    };
    let mut reply = vec![0u8; len];
    if let Err(e) = s.read_exact(&mut reply).await {
        return TcpOutcome::Failed(format!("read answer: {e}"));
    }
    if good_reply(&reply, id) {
        TcpOutcome::Answered
    } else {
        TcpOutcome::Failed(format!("bad answer {reply:?}"))
    }
}

/// Queries over one TCP connection after another, as RFC 7766 clients do: a connection the
/// server ended (end of stream, no answer) is replaced and the query sent once more.
async fn dns_tcp(addr: SocketAddr, id: u16, mix: Mix, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut conn: Option<TcpStream> = None;
    for i in 0..mix.max_per_client {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let qid = (id << 14) | (i as u16 & 0x3fff);
        let attempt = async {
            for round in 0..2 {
                let s = match conn.as_mut() {
                    Some(s) => s,
                    None => match TcpStream::connect(addr).await {
                        Ok(s) => conn.insert(s),
                        Err(e) => return Err(format!("connect: {e}")),
                    },
                };
                match tcp_exchange(s, qid).await {
                    TcpOutcome::Answered => return Ok(round),
                    TcpOutcome::EndOfStream => conn = None,
                    TcpOutcome::Failed(e) => {
                        conn = None;
                        return Err(e);
                    }
                }
            }
            Err("end of stream twice".into())
        };
        match tokio::time::timeout(EXCHANGE_LIMIT, attempt).await {
            Ok(Ok(round)) => {
                tally.dns_tcp_ok.fetch_add(1, Ordering::Relaxed);
                tally.dns_tcp_resent.fetch_add(round, Ordering::Relaxed);
            }
            Ok(Err(e)) => tally.fail(&tally.dns_tcp_lost, format!("dns tcp: {e}")),
            Err(_) => {
                conn = None;
                tally.fail(&tally.dns_tcp_lost, "dns tcp: no answer in time".into());
            }
        }
        tokio::time::sleep(mix.pace).await;
    }
}

/// One UDP query at a time; an answer not back within [`UDP_WAIT`] is lost.
async fn dns_udp(addr: SocketAddr, mix: Mix, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(addr).await.unwrap();
    let mut buf = [0u8; 1500];
    for i in 0..mix.max_per_client {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let id = i as u16;
        let _ = sock.send(&dns_query(id)).await;
        let answered = tokio::time::timeout(UDP_WAIT, async {
            loop {
                match sock.recv(&mut buf).await {
                    Ok(n) if good_reply(&buf[..n], id) => return true,
                    // A late answer to an earlier query, or an error: keep waiting.
                    _ => continue,
                }
            }
        })
        .await
        .unwrap_or(false);
        let counter = if answered { &tally.udp_ok } else { &tally.udp_lost };
        counter.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(mix.pace).await;
    }
}

/// The sum of the samples of `metric` whose line contains every label.
pub fn metric(sy: &switchyard_testkit::process::Switchyard, metric: &str, labels: &[&str]) -> f64 {
    let text = get(sy.admin, "/metrics", &[]).body;
    text.lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|lb| l.contains(lb)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_new_process_takes_over_the_ports_under_load_without_a_failed_request() {
    let (http_port, dns_port) = (free_port(), free_port());
    let text = config(http_port, dns_port, 4);
    take_over_under_load(http_port, dns_port, |_| Switchyard::start(&text, &[], &[]));
}

/// The same hand-over in distributed mode: the inventory is in a real etcd, and each
/// instance reads it from there and registers as a member of the cluster.
#[test]
fn in_etcd_mode_a_new_process_takes_over_the_ports_without_a_failed_request() {
    let etcd = switchyard_testkit::etcd::Etcd::start();
    let endpoint = etcd.endpoint();
    let (http_port, dns_port) = (free_port(), free_port());
    let text = config(http_port, dns_port, 4);
    let (serve, inventory) = text.split_at(text.find("[[inventory.zones]]").unwrap());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), inventory).unwrap();
    let out = std::process::Command::new(crate::common::BIN)
        .current_dir(dir.path())
        .args(["etcd", "import", "fleet.toml", "--etcd", &endpoint])
        .output()
        .unwrap();
    assert!(out.status.success(), "etcd import: {}", String::from_utf8_lossy(&out.stderr));
    take_over_under_load(http_port, dns_port, |id| {
        Switchyard::start(serve, &["--etcd", &endpoint, "--instance-id", id], &[])
    });
}

/// Instance A (`start("a")`) serves the ports under load; B (`start("b")`) joins them, A
/// gets SIGTERM and drains. Asserts that no HTTP request failed, no DNS-over-TCP query was
/// lost, B answered everything after A left, and neither logged an error.
fn take_over_under_load(http_port: u16, dns_port: u16, start: impl Fn(&str) -> Switchyard) {
    let mut a = start("a");
    a.wait_status("/readyz", 200, Duration::from_secs(30));
    let http: SocketAddr = ([127, 0, 0, 1], http_port).into();
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();

    let load = Load::start(http, dns, MIX);
    load.wait_for_requests(500);

    // B binds the same ports beside A.
    let b = start("b");
    b.wait_status("/readyz", 200, Duration::from_secs(30));
    load.wait_for_requests(500);

    // A drains: readiness fails, it serves through the shutdown delay, then stops accepting
    // (taking its accept queue first) and closes its keep-alive connections.
    a.signal("TERM");
    let status = a.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "A exit status {status:?}; log:\n{}", a.log.all());
    let served_by_b = metric(&b, "switchyard_http_decisions_total", &[]);
    load.wait_for_requests(1000);
    let tally = load.finish();

    let summary = tally.summary();
    println!("restart under load: {summary}");
    assert_eq!(tally.http_failed.load(Ordering::Relaxed), 0, "{summary}");
    assert_eq!(tally.dns_tcp_lost.load(Ordering::Relaxed), 0, "{summary}");
    assert!(tally.http_ok.load(Ordering::Relaxed) >= 2000, "{summary}");
    assert!(tally.dns_tcp_ok.load(Ordering::Relaxed) > 0, "{summary}");
    // After A left, B answered everything.
    let after = metric(&b, "switchyard_http_decisions_total", &[]);
    assert!(after >= served_by_b + 900.0, "B answered {served_by_b} then {after}; {summary}");
    assert!(tally.http_closed_by_server.load(Ordering::Relaxed) > 0, "{summary}");
    assert!(!a.log.all().contains("\"level\":\"ERROR\""), "A logged errors:\n{}", a.log.all());
    assert!(!b.log.all().contains("\"level\":\"ERROR\""), "B logged errors:\n{}", b.log.all());
}

#[test]
fn sighup_reloads_under_load_without_an_error() {
    let (http_port, dns_port) = (free_port(), free_port());
    let sy = Switchyard::start(&config(http_port, dns_port, 4), &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    let (http, dns) = (([127, 0, 0, 1], http_port).into(), ([127, 0, 0, 1], dns_port).into());
    let load = Load::start(http, dns, MIX);
    load.wait_for_requests(300);

    const RELOADS: u64 = 12;
    for i in 0..RELOADS {
        // Nodes come and go: 2 to 7 of them.
        sy.write_config(&config(http_port, dns_port, 2 + (i as usize * 5) % 6));
        let before = metric(&sy, "switchyard_config_reloads_total", &["result=\"ok\""]);
        sy.signal("HUP");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while metric(&sy, "switchyard_config_reloads_total", &["result=\"ok\""]) <= before {
            assert!(std::time::Instant::now() < deadline, "reload {i} not applied");
            std::thread::sleep(Duration::from_millis(20));
        }
        load.wait_for_requests(150);
    }
    let tally = load.finish();
    let summary = tally.summary();
    println!("reloads under load: {summary}");
    assert_eq!(tally.http_failed.load(Ordering::Relaxed), 0, "{summary}");
    assert_eq!(tally.dns_tcp_lost.load(Ordering::Relaxed), 0, "{summary}");
    assert_eq!(tally.dns_tcp_resent.load(Ordering::Relaxed), 0, "{summary}");
    let errors = metric(&sy, "switchyard_config_reloads_total", &["result=\"error\""]);
    assert_eq!(errors, 0.0, "{summary}");
    assert!(!sy.log.all().contains("\"level\":\"ERROR\""), "errors logged:\n{}", sy.log.all());
}
