//! Overload: the real binary's HTTP and DNS front ends driven at three times the capacity
//! measured just before (closed loop), open loop, with latency measured from each request's
//! scheduled time (no coordinated omission). Traffic runs on one thread of its own
//! (`http.worker_threads = 1`) and DNS on one UDP socket, so the capacity is one core's and
//! the load generator has the other.
//!
//! Asserted: every HTTP request is answered `200` or refused (`503 overloaded`, or a
//! connection reset at accept while shedding) and every refusal is counted by the server;
//! every DNS query is answered or counted as dropped (`queue_delay`, `queue_overflow`); some
//! excess was refused on both; `/livez` answers 200 throughout; resident memory stays within
//! 256 MiB of its start; afterwards, without a restart, requests and queries are answered
//! normally, `/readyz` is 200 and descriptors are back at their baseline. Latency figures are
//! printed, not asserted (speed is for `scripts/overload.sh`, which runs this test on a
//! release build; environment: `SWITCHYARD_OVERLOAD_SECONDS` per phase, default 8,
//! `SWITCHYARD_OVERLOAD_FACTOR`, default 3, `SWITCHYARD_OVERLOAD_BIN`, `SWITCHYARD_OVERLOAD_OUT`).
//!
//! The same run in distributed mode takes the inventory from a real etcd and keeps its
//! membership lease there while it is driven (its configuration has no inventory, so every
//! answer comes from what it read from etcd). Asserted besides: the lease is held and the
//! member key is in etcd at the end. How often the lease was seen lost, and the etcd
//! errors, are printed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use switchyard_testkit::etcd::Etcd;
use switchyard_testkit::process::{Switchyard, get};

use crate::restart::{dns_query, metric};

/// Connections the HTTP generator opens at most (clients in the open-loop schedule).
const MAX_CONNECTIONS: usize = 1024;
/// Requests and queries due this long after a phase began count towards its steady state
/// too: the start is the onset of the overload, which the shedding needs a window or two of
/// its 100 ms to answer.
const ONSET: Duration = Duration::from_secs(1);
/// UDP sockets (sources) of the DNS generator.
const DNS_SOURCES: usize = 16;
const REQUEST: &[u8] =
    b"GET /v1/route?host=video.cdn.test&ip=10.1.0.9&path=/a.ts HTTP/1.1\r\nHost: video.cdn.test\r\n\r\n";

fn config() -> String {
    let mut c = String::from(
        r#"[lifecycle]
shutdown_delay_seconds = 0

[http]
worker_threads = 1

[dns]
udp_sockets = 1

[[inventory.zones]]
name = "ams"

[[inventory.services]]
name = "video"
hostnames = ["video.cdn.test"]
default_zone = "ams"
"#,
    );
    for i in 0..4 {
        c.push_str(&format!(
            "\n[[inventory.nodes]]\nid = \"ams-{i}\"\nzone = \"ams\"\nipv4 = \"192.0.2.{}\"\n",
            i + 1
        ));
    }
    c
}

/// Latencies (from the scheduled time) and outcomes of one load phase.
#[derive(Default)]
struct Tally {
    ok: Mutex<Vec<Duration>>,
    /// Of `ok`, those that were the first request on a new connection (their latency
    /// includes the wait in the server's accept queue).
    ok_new: Mutex<Vec<Duration>>,
    /// Of `ok`, those due after the [`ONSET`].
    ok_steady: Mutex<Vec<Duration>>,
    refused: Mutex<Vec<Duration>>,
    /// Connections reset before an answer (at accept while shedding).
    resets: AtomicU64,
    /// How long each reset took to come, from the request's scheduled time.
    reset_after: Mutex<Vec<Duration>>,
    /// Anything else: another status, a broken answer, no answer in time.
    other: AtomicU64,
    other_examples: Mutex<Vec<String>>,
    /// Due but not sent: every generator connection busy.
    not_sent: AtomicU64,
    sent: AtomicU64,
    /// How late the generator sent (one request in 16): its own share of the latency.
    send_late: Mutex<Vec<Duration>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.other.fetch_add(1, Ordering::Relaxed);
        let mut ex = self.other_examples.lock().unwrap();
        if ex.len() < 5 {
            ex.push(what);
        }
    }
}

/// `(p50, p99, p99.9)` in ms and the count.
fn quantiles(v: &Mutex<Vec<Duration>>) -> (f64, f64, f64, usize) {
    let mut v = v.lock().unwrap().clone();
    v.sort_unstable();
    let at = |q: f64| {
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99), at(0.999), v.len())
}

/// Reads one answer: its status and whether the server closes the connection after it.
async fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<(u16, bool)> {
    buf.clear();
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(head)) = resp.parse(buf) {
            let mut length = 0usize;
            let mut close = false;
            for h in resp.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length =
                        std::str::from_utf8(h.value).unwrap_or("0").trim().parse().unwrap_or(0);
                } else if h.name.eq_ignore_ascii_case("connection") {
                    close = h.value.eq_ignore_ascii_case(b"close");
                }
            }
            let status = resp.code.unwrap_or(0);
            while buf.len() < head + length {
                if s.read_buf(buf).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            return Ok((status, close));
        }
        if s.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::BrokenPipe
    )
}

/// Closed loop: `clients` keep-alive connections, each sending its next request when the
/// previous one is answered, for `time`. Returns answers per second and their round trips
/// (the latency floor of the machine as it is, for comparison with the open loop's).
async fn http_capacity(
    addr: SocketAddr,
    clients: usize,
    time: Duration,
) -> (f64, Mutex<Vec<Duration>>) {
    let trips = Arc::new(Mutex::new(Vec::new()));
    let end = Instant::now() + time;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let trips = trips.clone();
        set.spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = Vec::with_capacity(1024);
            let mut mine = Vec::new();
            while Instant::now() < end {
                let sent = Instant::now();
                s.write_all(REQUEST).await.unwrap();
                let (status, _) = read_answer(&mut s, &mut buf).await.unwrap();
                assert_eq!(status, 200);
                mine.push(sent.elapsed());
            }
            trips.lock().unwrap().extend(mine);
        });
    }
    while set.join_next().await.is_some() {}
    let trips = std::mem::take(&mut *trips.lock().unwrap());
    (trips.len() as f64 / time.as_secs_f64(), Mutex::new(trips))
}

/// One request due at `due` on `conn` (a new connection when `None`); the connection goes
/// back to `pool` unless the server closed it.
async fn http_one(
    addr: SocketAddr,
    conn: Option<TcpStream>,
    (due, steady): (Instant, bool),
    pool: Arc<Mutex<Vec<TcpStream>>>,
    open: Arc<AtomicUsize>,
    tally: Arc<Tally>,
) {
    let new = conn.is_none();
    let attempt = async {
        let mut s = match conn {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                s
            }
        };
        s.write_all(REQUEST).await?;
        let mut buf = Vec::with_capacity(512);
        let (status, close) = read_answer(&mut s, &mut buf).await?;
        std::io::Result::Ok((status, close, s))
    };
    let result = tokio::time::timeout(Duration::from_secs(5), attempt).await;
    let latency = due.elapsed();
    match result {
        Ok(Ok((status, close, s))) => {
            match status {
                200 => {
                    tally.ok.lock().unwrap().push(latency);
                    if steady {
                        tally.ok_steady.lock().unwrap().push(latency);
                    }
                    if new {
                        tally.ok_new.lock().unwrap().push(latency);
                    }
                }
                503 | 429 => tally.refused.lock().unwrap().push(latency),
                other => tally.fail(format!("status {other}")),
            }
            if close {
                open.fetch_sub(1, Ordering::Relaxed);
            } else {
                pool.lock().unwrap().push(s);
            }
        }
        Ok(Err(e)) => {
            open.fetch_sub(1, Ordering::Relaxed);
            if is_reset(&e) {
                tally.resets.fetch_add(1, Ordering::Relaxed);
                tally.reset_after.lock().unwrap().push(latency);
            } else {
                tally.fail(format!("{e}"));
            }
        }
        Err(_) => {
            open.fetch_sub(1, Ordering::Relaxed);
            tally.fail("no answer within 5 s".into());
        }
    }
}

/// Open loop: `rate` requests a second for `time`, each on an idle keep-alive connection or a
/// new one, at most [`MAX_CONNECTIONS`].
async fn http_open_loop(addr: SocketAddr, rate: f64, time: Duration) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let pool = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
    let open = Arc::new(AtomicUsize::new(0));
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let total = (rate * time.as_secs_f64()) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + period.mul_f64(i as f64);
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        while tasks.try_join_next().is_some() {}
        let conn = pool.lock().unwrap().pop();
        if conn.is_none() {
            if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                tally.not_sent.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            open.fetch_add(1, Ordering::Relaxed);
        }
        if i % 16 == 0 {
            tally.send_late.lock().unwrap().push(due.elapsed());
        }
        tally.sent.fetch_add(1, Ordering::Relaxed);
        let when = (due, due >= start + ONSET);
        tasks.spawn(http_one(addr, conn, when, pool.clone(), open.clone(), tally.clone()));
    }
    while tasks.join_next().await.is_some() {}
    tally
}

/// Closed loop over [`DNS_SOURCES`] sockets, one query in flight each. Answers per second
/// and their round trips.
async fn dns_capacity(addr: SocketAddr, time: Duration) -> (f64, Mutex<Vec<Duration>>) {
    let trips = Arc::new(Mutex::new(Vec::new()));
    let end = Instant::now() + time;
    let mut set = tokio::task::JoinSet::new();
    for k in 0..DNS_SOURCES {
        let trips = trips.clone();
        set.spawn(async move {
            let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = [0u8; 1500];
            let mut id = (k as u16) << 12;
            let mut mine = Vec::new();
            while Instant::now() < end {
                id = id.wrapping_add(1);
                let sent = Instant::now();
                s.send_to(&dns_query(id), addr).await.unwrap();
                let r = tokio::time::timeout(Duration::from_secs(1), s.recv(&mut buf)).await;
                if let Ok(Ok(n)) = r
                    && n >= 2
                    && buf[..2] == id.to_be_bytes()
                {
                    mine.push(sent.elapsed());
                }
            }
            trips.lock().unwrap().extend(mine);
        });
    }
    while set.join_next().await.is_some() {}
    let trips = std::mem::take(&mut *trips.lock().unwrap());
    (trips.len() as f64 / time.as_secs_f64(), Mutex::new(trips))
}

/// What the DNS open loop saw.
#[derive(Default)]
struct DnsTally {
    answered: Mutex<Vec<Duration>>,
    /// Of `answered`, those due after the [`ONSET`].
    answered_steady: Mutex<Vec<Duration>>,
    /// How late the generator sent (one query in 16): its own share of the latency.
    send_late: Mutex<Vec<Duration>>,
    sent: AtomicU64,
}

/// Open loop: `rate` queries a second for `time` over [`DNS_SOURCES`] sockets. An answer's
/// latency runs from its query's scheduled time (found by message id) to the kernel's
/// receive timestamp of the answer (`SO_TIMESTAMPNS`), so answers waiting in the generator's
/// own buffers while it is busy sending do not count against the server.
async fn dns_open_loop(addr: SocketAddr, rate: f64, time: Duration) -> Arc<DnsTally> {
    let tally = Arc::new(DnsTally::default());
    let start = Instant::now();
    let mut sockets = Vec::new();
    let mut receivers = Vec::new();
    let stop = Arc::new(AtomicBool::new(false));
    for _ in 0..DNS_SOURCES {
        let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket2::SockRef::from(&std).set_recv_buffer_size(4 << 20).unwrap();
        switchyard::dns::sojourn::enable(&std);
        std.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        // One blocking socket for both: the receiving thread blocks on it, and a send to a
        // loopback address does not block (the kernel delivers it at once).
        let s = Arc::new(std);
        let rx = s.clone();
        // Scheduled time of each message id, as nanoseconds after `start` plus one (0: none).
        let due: Arc<Vec<AtomicU64>> = Arc::new((0..65536).map(|_| AtomicU64::new(0)).collect());
        let (tally, due2, stop) = (tally.clone(), due.clone(), stop.clone());
        let start = start.into_std();
        receivers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                let Ok(r) = switchyard::dns::sojourn::recv(&rx, &mut buf) else { continue };
                let arrived = std::time::Instant::now() - r.waited.unwrap_or_default();
                if r.len < 12 {
                    continue;
                }
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                let at = due2[id as usize].swap(0, Ordering::Relaxed);
                if at > 0 {
                    let scheduled = start + Duration::from_nanos(at - 1);
                    let latency = arrived.saturating_duration_since(scheduled);
                    tally.answered.lock().unwrap().push(latency);
                    if at > ONSET.as_nanos() as u64 {
                        tally.answered_steady.lock().unwrap().push(latency);
                    }
                }
            }
        }));
        sockets.push((s, due));
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * time.as_secs_f64()) as u64;
    let queries: Vec<Vec<u8>> = (0..=u16::MAX).map(dns_query).collect();
    for i in 0..total {
        let at = period.mul_f64(i as f64);
        let due = start + at;
        if due > Instant::now() {
            tokio::time::sleep_until(due).await;
        }
        let (s, table) = &sockets[i as usize % DNS_SOURCES];
        let id = ((i / DNS_SOURCES as u64) % 65536) as u16;
        table[id as usize].store(at.as_nanos() as u64 + 1, Ordering::Relaxed);
        if s.send_to(&queries[id as usize], addr).is_ok() {
            tally.sent.fetch_add(1, Ordering::Relaxed);
        }
        if i % 16 == 0 {
            tally.send_late.lock().unwrap().push(due.elapsed());
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for r in receivers {
        r.join().unwrap();
    }
    tally
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as u64
}

#[test]
fn three_times_capacity_is_refused_fast_and_counted_and_leaves_no_trace() {
    overload(None);
}

/// The same overload in distributed mode, the inventory and the membership in a real etcd.
#[test]
fn in_etcd_mode_three_times_capacity_is_refused_fast_and_counted_and_leaves_no_trace() {
    overload(Some(Etcd::start()));
}

/// The instance id in etcd mode.
const INSTANCE: &str = "overload";

/// Runs the overload, in etcd mode when given an etcd.
fn overload(etcd: Option<Etcd>) {
    let env = |name: &str| std::env::var(name).ok();
    let secs: f64 = env("SWITCHYARD_OVERLOAD_SECONDS").and_then(|s| s.parse().ok()).unwrap_or(8.0);
    let factor: f64 = env("SWITCHYARD_OVERLOAD_FACTOR").and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let bin = env("SWITCHYARD_OVERLOAD_BIN").unwrap_or_else(|| crate::common::BIN.into());
    let out = env("SWITCHYARD_OVERLOAD_OUT").map(std::path::PathBuf::from);
    let phase = Duration::from_secs_f64(secs);

    let mut args = vec!["--http-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0"];
    let text = config();
    let endpoint;
    let serve = match &etcd {
        None => text.as_str(),
        Some(etcd) => {
            // The inventory goes into etcd; the instance is started without it.
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("import.toml"), &text).unwrap();
            endpoint = etcd.endpoint();
            let out = std::process::Command::new(&bin)
                .current_dir(dir.path())
                .args(["etcd", "import", "import.toml", "--etcd", &endpoint])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "switchyard etcd import: {err}");
            args.extend(["--etcd", &endpoint, "--instance-id", INSTANCE]);
            &text[..text.find("[[inventory.zones]]").unwrap()]
        }
    };
    let sy = Switchyard::start(&bin, serve, &args, &[]);
    let (http, dns) = (sy.listener("http"), sy.listener("dns"));
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    let pid = sy.child.id();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Warm up, then the baseline.
    rt.block_on(http_capacity(http, 4, Duration::from_millis(500)));
    let (rss_start, fds_start) = (rss_kib(pid), fds(pid));

    // /livez and resident memory, sampled every 100 ms throughout.
    // While `sampling`, the connections allowed and open, every 100 ms too.
    let watching = Arc::new(AtomicBool::new(true));
    let sampling = Arc::new(AtomicBool::new(false));
    let (livez_ok, livez_failed, rss_peak) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let connections = Arc::new(Mutex::new(Vec::<(f64, f64)>::new()));
    // In etcd mode, samples of the membership lease every 100 ms: held, not held.
    let lease = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let watcher = {
        let (watching, sampling, ok, failed, peak, connections, lease) = (
            watching.clone(),
            sampling.clone(),
            livez_ok.clone(),
            livez_failed.clone(),
            rss_peak.clone(),
            connections.clone(),
            lease.clone(),
        );
        let admin = sy.admin;
        let etcd_mode = etcd.is_some();
        std::thread::spawn(move || {
            while watching.load(Ordering::Relaxed) {
                let status = get(admin, "/livez", &[]).status;
                if status == 200 { &ok } else { &failed }.fetch_add(1, Ordering::Relaxed);
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                let driven = sampling.load(Ordering::Relaxed);
                if driven || etcd_mode {
                    let text = get(admin, "/metrics", &[]).body;
                    let gauge = |name: &str| {
                        text.lines()
                            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                            .unwrap_or(f64::NAN)
                    };
                    if driven {
                        connections.lock().unwrap().push((
                            gauge("switchyard_http_connections_allowed"),
                            gauge("switchyard_http_open_connections"),
                        ));
                    }
                    if etcd_mode {
                        let held = gauge("switchyard_etcd_lease_held") == 1.0;
                        if held { &lease.0 } else { &lease.1 }.fetch_add(1, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let measure = Duration::from_secs_f64((secs / 4.0).clamp(1.0, 5.0));
    let (http_cap, http_trips) = rt.block_on(http_capacity(http, 32, measure));
    let rejected_before =
        metric(&sy, "switchyard_http_admission_rejections_total", &["reason=\"overloaded\""]);
    let refused_before = metric(&sy, "switchyard_http_connections_refused_total", &[]);
    let started = std::time::Instant::now();
    sampling.store(true, Ordering::Relaxed);
    let h = rt.block_on(http_open_loop(http, http_cap * factor, phase));
    sampling.store(false, Ordering::Relaxed);
    let http_secs = started.elapsed().as_secs_f64();
    let rejected =
        metric(&sy, "switchyard_http_admission_rejections_total", &["reason=\"overloaded\""])
            - rejected_before;
    let conn_refused =
        metric(&sy, "switchyard_http_connections_refused_total", &[]) - refused_before;

    let (dns_cap, dns_trips) = rt.block_on(dns_capacity(dns, measure));
    let dropped = |reason: &str| {
        metric(&sy, "switchyard_dns_dropped_total", &[&format!("reason=\"{reason}\"")])
    };
    let (delay_before, overflow_before) = (dropped("queue_delay"), dropped("queue_overflow"));
    let d = rt.block_on(dns_open_loop(dns, dns_cap * factor, phase));
    let dns_delay = dropped("queue_delay") - delay_before;
    let dns_overflow = dropped("queue_overflow") - overflow_before;

    // Afterwards: normal, without a restart.
    std::thread::sleep(Duration::from_millis(500));
    let after_http = rt.block_on(http_open_loop(http, 200.0, Duration::from_secs(1)));
    let after_dns = rt.block_on(dns_open_loop(dns, 200.0, Duration::from_secs(1)));
    let readyz = sy.wait_status("/readyz", 200, Duration::from_secs(10)).status;
    let mut fds_after = fds(pid);
    let settle = std::time::Instant::now();
    while fds_after > fds_start + 8 && settle.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(200));
        fds_after = fds(pid);
    }
    watching.store(false, Ordering::Relaxed);
    watcher.join().unwrap();
    let rss_after = rss_kib(pid);
    let mut etcd_line = String::new();
    let mut member_after = None;
    if let Some(etcd) = &etcd {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while metric(&sy, "switchyard_etcd_lease_held", &[]) != 1.0
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        member_after = Some(etcd.get(format!("/switchyard/members/{INSTANCE}")).is_some());
        etcd_line = format!(
            "etcd: membership lease held in {} of {} samples (every 100 ms), member key in \
             etcd after: {}; {} etcd errors ({:?}), {} resyncs\n",
            lease.0.load(Ordering::Relaxed),
            lease.0.load(Ordering::Relaxed) + lease.1.load(Ordering::Relaxed),
            member_after == Some(true),
            metric(&sy, "switchyard_etcd_errors_total", &[]) as u64,
            get(sy.admin, "/metrics", &[])
                .body
                .lines()
                .filter(|l| l.starts_with("switchyard_etcd_errors_total{"))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
            metric(&sy, "switchyard_etcd_resyncs_total", &[]) as u64,
        );
    }
    let log = sy.log.all();

    let (ok50, ok99, ok999, oks) = quantiles(&h.ok);
    let (new50, new99, _, news) = quantiles(&h.ok_new);
    let (st50, st99, st999, _) = quantiles(&h.ok_steady);
    let (dst50, dst99, dst999, _) = quantiles(&d.answered_steady);
    let (re50, re99, _, refused) = quantiles(&h.refused);
    let (d50, d99, d999, answered) = quantiles(&d.answered);
    let (late50, late99, _, _) = quantiles(&d.send_late);
    let (hlate50, hlate99, _, _) = quantiles(&h.send_late);
    let h_sent = h.sent.load(Ordering::Relaxed);
    let resets = h.resets.load(Ordering::Relaxed);
    let (rs50, rs99, _, _) = quantiles(&h.reset_after);
    let other = h.other.load(Ordering::Relaxed);
    let d_sent = d.sent.load(Ordering::Relaxed);
    let median = |pick: fn(&(f64, f64)) -> f64| {
        let mut v: Vec<f64> = connections.lock().unwrap().iter().map(pick).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (allowed50, open50) = (median(|c| c.0), median(|c| c.1));
    let (cap50, cap99, _, _) = quantiles(&http_trips);
    let (dcap50, dcap99, _, _) = quantiles(&dns_trips);
    let summary = format!(
        "overload: {factor}x capacity for {secs} s per front end (traffic on one thread, DNS on \
         one socket)\n\
         HTTP capacity (closed loop, 32 keep-alive connections): {http_cap:.0}/s, round trip \
         p50 {cap50:.2} ms, p99 {cap99:.2} ms; offered \
         {:.0}/s, sent {h_sent} in {http_secs:.1} s ({} not sent: all {MAX_CONNECTIONS} \
         generator connections busy)\n\
         HTTP admitted {oks}: p50 {ok50:.2} ms, p99 {ok99:.2} ms, p99.9 {ok999:.2} ms (the \
         generator itself spawned requests late by p50 {hlate50:.2} ms, p99 {hlate99:.2} ms); \
         {news} of them on a new connection: p50 {new50:.2} ms, p99 {new99:.2} ms; after the \
         first {onset:?}: p50 {st50:.2} ms, p99 {st99:.2} ms, p99.9 {st999:.2} ms\n\
         HTTP refused {refused} with 503/429 (server counted {rejected}): p50 {re50:.2} ms, \
         p99 {re99:.2} ms; {resets} connections reset at accept (server counted {conn_refused}), \
         p50 {rs50:.2} ms, p99 {rs99:.2} ms after their request was due; \
         {other} other failures {:?}\n\
         HTTP connections while driven (median of samples every 100 ms): {allowed50:.0} \
         allowed, {open50:.0} open\n\
         DNS capacity (closed loop, {DNS_SOURCES} sources): {dns_cap:.0}/s, round trip p50 \
         {dcap50:.2} ms, p99 {dcap99:.2} ms; offered {:.0}/s, \
         sent {d_sent}\n\
         DNS answered {answered}: p50 {d50:.2} ms, p99 {d99:.2} ms, p99.9 {d999:.2} ms (after \
         the first {onset:?}: p50 {dst50:.2} ms, p99 {dst99:.2} ms, p99.9 {dst999:.2} ms); dropped \
         {dns_delay} for queue delay, {dns_overflow} by the kernel (full buffer); unaccounted \
         {}; the generator itself sent late by p50 {late50:.2} ms, p99 {late99:.2} ms\n\
         /livez: {} answered 200, {} not\n\
         resident memory (MiB): start {:.1}, peak {:.1}, after {:.1}; descriptors: start \
         {fds_start}, after {fds_after}\n\
         after: HTTP {} of {} answered 200, DNS {} of {} answered, /readyz {readyz}\n\
         {etcd_line}",
        http_cap * factor,
        h.not_sent.load(Ordering::Relaxed),
        h.other_examples.lock().unwrap(),
        dns_cap * factor,
        d_sent as i64 - answered as i64 - (dns_delay + dns_overflow) as i64,
        livez_ok.load(Ordering::Relaxed),
        livez_failed.load(Ordering::Relaxed),
        rss_start as f64 / 1024.0,
        rss_peak.load(Ordering::Relaxed) as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        after_http.ok.lock().unwrap().len(),
        after_http.sent.load(Ordering::Relaxed),
        after_dns.answered.lock().unwrap().len(),
        after_dns.sent.load(Ordering::Relaxed),
        onset = ONSET,
    );
    println!("{summary}");
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("overload-summary.txt"), &summary).unwrap();
        std::fs::write(dir.join("switchyard.log"), &log).unwrap();
    }

    assert_eq!(other, 0, "HTTP answers other than 200, 503, 429 or a reset:\n{summary}");
    assert!(refused + resets as usize > 0, "no HTTP request was refused:\n{summary}");
    assert!(rejected >= refused as f64, "refusals not counted:\n{summary}");
    assert!(conn_refused >= 1.0 || resets == 0, "resets not counted:\n{summary}");
    assert!(dns_delay + dns_overflow > 0.0, "no DNS query was dropped:\n{summary}");
    // Loopback loses nothing else: what was not answered was counted as dropped (a query
    // answered after the generator stopped listening is the only slack).
    assert!(
        answered as f64 + dns_delay + dns_overflow >= d_sent as f64 * 0.99,
        "DNS queries lost without being counted:\n{summary}"
    );
    assert_eq!(livez_failed.load(Ordering::Relaxed), 0, "{summary}");
    assert!(
        rss_peak.load(Ordering::Relaxed) <= rss_start + 256 * 1024,
        "resident memory grew:\n{summary}"
    );
    assert_eq!(after_http.ok.lock().unwrap().len() as u64, after_http.sent.load(Ordering::Relaxed));
    assert_eq!(
        after_dns.answered.lock().unwrap().len() as u64,
        after_dns.sent.load(Ordering::Relaxed),
        "{summary}"
    );
    assert!(fds_after <= fds_start + 8, "descriptors not back:\n{summary}");
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("\"level\":\"ERROR\"")).collect();
    assert!(errors.is_empty(), "ERROR log lines:\n{}", errors.join("\n"));
    if etcd.is_some() {
        assert_eq!(metric(&sy, "switchyard_etcd_lease_held", &[]), 1.0, "{summary}");
        assert_eq!(member_after, Some(true), "no member key in etcd:\n{summary}");
    }
}
