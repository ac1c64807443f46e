//! Prober load generator for `bench/probe/run.sh`.
//!
//! `probe_bench sim --nodes N --first 127.20.0.1` serves N simulated HTTP nodes and prints
//! `READY <port>`; `probe_bench probe ...` probes N targets spread over M of those addresses
//! for a while and prints probes/s, failed probes, start lateness, CPU seconds and RSS of its
//! own process; `probe_bench floor` measures the kernel floor of a fresh-connection probe.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_probe::spec::{Check, HttpCheck, ProbeSpec};
use switchyard_probe::{EngineConfig, ProbeEngine, Target};
use switchyard_testkit::fleet::{Addressing, FleetPlan, Protocol, SimFleet};
use tokio_util::sync::CancellationToken;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User+system CPU seconds of this process (/proc/self/stat fields 14 and 15).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let workers = arg(&args, "--workers", 2usize);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    match args.get(1).map(String::as_str) {
        Some("sim") => rt.block_on(sim(&args)),
        Some("probe") => rt.block_on(probe(&args)),
        Some("floor") => floor(&args),
        _ => eprintln!("usage: probe_bench sim|probe [options]"),
    }
}

async fn sim(args: &[String]) {
    let nodes = arg(args, "--nodes", 100usize);
    let first: Ipv4Addr = arg(args, "--first", Ipv4Addr::new(127, 20, 0, 1));
    let port = arg(args, "--port", 0u16);
    let plan =
        FleetPlan::new(Protocol::Http, nodes).with_addressing(Addressing::Loopback { first, port });
    let fleet = SimFleet::start(plan).await.expect("start simulator");
    println!("READY {}", fleet.addrs()[0].port());
    // Serve until killed.
    std::future::pending::<()>().await;
}

async fn probe(args: &[String]) {
    let nodes = arg(args, "--nodes", 1000usize);
    let addrs = arg(args, "--addrs", 100usize).max(1);
    let first: Ipv4Addr = arg(args, "--first", Ipv4Addr::new(127, 20, 0, 1));
    let port = arg(args, "--port", 8080u16);
    let interval_ms = arg(args, "--interval-ms", 1000u64);
    let warmup = Duration::from_secs(arg(args, "--warmup-s", 5u64));
    let seconds = Duration::from_secs(arg(args, "--seconds", 10u64));
    let fresh = args.iter().any(|a| a == "--fresh");
    let max_in_flight = arg(args, "--max-in-flight", 4096usize);

    let mut spec = ProbeSpec::new(Check::Http(HttpCheck {
        path: "/health".into(),
        keep_alive: !fresh,
        ..HttpCheck::default()
    }));
    spec.interval_ms = interval_ms;
    spec.timeout_ms = arg(args, "--timeout-ms", (interval_ms / 2).min(2000));
    spec.connect_timeout_ms = spec.timeout_ms.min(1000);
    let spec = Arc::new(spec);
    let base = u32::from(first);
    let targets: Vec<Target> = (0..nodes)
        .map(|i| {
            let ip = Ipv4Addr::from(base + (i % addrs) as u32);
            Target::new(format!("n{i}"), SocketAddr::new(IpAddr::V4(ip), port), spec.clone())
        })
        .collect();
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = switchyard_probe::metrics::register_metrics(&mut registry);
    let config = EngineConfig { max_in_flight, metrics, ..EngineConfig::default() };
    let engine = ProbeEngine::start(config, targets, CancellationToken::new()).expect("engine");
    tokio::time::sleep(warmup).await;
    let p0 = passed(&registry);
    let s0 = engine.stats();
    let c0 = cpu_seconds();
    let t0 = Instant::now();
    tokio::time::sleep(seconds).await;
    let s1 = engine.stats();
    let p1 = passed(&registry);
    let cpu = cpu_seconds() - c0;
    let wall = t0.elapsed().as_secs_f64();
    let mut delta = s1;
    for (d, a) in delta.lateness.iter_mut().zip(s0.lateness) {
        *d -= a;
    }
    let probes = (s1.probes_finished - s0.probes_finished) as f64;
    let snap = engine.snapshot();
    let up = snap.nodes.values().filter(|n| n.state == switchyard_probe::HealthState::Up).count();
    println!(
        "nodes={nodes} addrs={addrs} interval_ms={interval_ms} mode={} probes_per_s={:.0} \
         failed={} overruns={} lateness_p50_ms<={} lateness_p99_ms<={} cpu_cores={:.3} \
         probes_per_cpu_s={:.0} rss_mib={:.1} peak_rss_mib={:.1} up={up}",
        if fresh { "fresh" } else { "keepalive" },
        probes / wall,
        probes as u64 - (p1 - p0).min(probes as u64),
        s1.overruns - s0.overruns,
        fmt_q(delta.lateness_quantile_ms(0.5)),
        fmt_q(delta.lateness_quantile_ms(0.99)),
        cpu / wall,
        probes / cpu.max(0.01),
        status_kib("VmRSS:") as f64 / 1024.0,
        status_kib("VmHWM:") as f64 / 1024.0,
    );
    let failures: Vec<String> = results(&registry)
        .into_iter()
        .filter(|(r, _)| r != "pass")
        .map(|(r, n)| format!("{r}:{n}"))
        .collect();
    if !failures.is_empty() {
        println!("  results other than pass since start: {}", failures.join(" "));
    }
    engine.shutdown().await;
}

/// The kernel floor of a fresh-connection HTTP probe: one thread, blocking sockets, no runtime,
/// the fewest syscalls a probe can make (socket, setsockopt SO_LINGER 0, connect, write, read,
/// close). Its probes per CPU-second bound what any prober can reach against this target.
fn floor(args: &[String]) {
    use std::io::{Read, Write};
    let ip: Ipv4Addr = arg(args, "--first", Ipv4Addr::new(127, 22, 0, 1));
    let port = arg(args, "--port", 8080u16);
    let seconds = arg(args, "--seconds", 10u64);
    let addr = SocketAddr::new(IpAddr::V4(ip), port);
    let request = format!(
        "GET /health HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
         user-agent: switchyard-probe\r\naccept: */*\r\n\r\n"
    );
    let mut buf = [0u8; 4096];
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let mut probes = 0u64;
    let mut failed = 0u64;
    while t0.elapsed() < Duration::from_secs(seconds) {
        let ok = (|| -> std::io::Result<bool> {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            s.set_linger(Some(Duration::ZERO))?;
            // As the engine does for client-speaks-first probes: the handshake's last ACK
            // rides on the request.
            s.set_tcp_quickack(false)?;
            s.connect(&addr.into())?;
            let mut s = std::net::TcpStream::from(s);
            s.write_all(request.as_bytes())?;
            let n = s.read(&mut buf)?;
            Ok(buf[..n].starts_with(b"HTTP/1.1 200"))
        })();
        match ok {
            Ok(true) => probes += 1,
            _ => failed += 1,
        }
    }
    let cpu = cpu_seconds() - c0;
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "floor: probes_per_s={:.0} failed={failed} cpu_cores={:.3} probes_per_cpu_s={:.0}",
        probes as f64 / wall,
        cpu / wall,
        probes as f64 / cpu.max(0.01)
    );
}

/// Probes that passed so far, read from the engine's own `switchyard_probes_total` series.
fn passed(registry: &prometheus_client::registry::Registry) -> u64 {
    results(registry).iter().filter(|(r, _)| r == "pass").map(|(_, n)| n).sum()
}

/// `(result, count)` of every `switchyard_probes_total` series.
fn results(registry: &prometheus_client::registry::Registry) -> Vec<(String, u64)> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode metrics");
    text.lines()
        .filter(|l| l.starts_with("switchyard_probes_total{"))
        .filter_map(|l| {
            let result = l.split(r#"result=""#).nth(1)?.split('"').next()?.to_owned();
            Some((result, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

fn fmt_q(q: Option<u64>) -> String {
    q.map(|v| v.to_string()).unwrap_or_else(|| ">5000".into())
}
