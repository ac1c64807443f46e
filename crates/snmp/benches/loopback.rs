//! Loopback throughput against the testkit's simulated agents: v2c GET requests/s with the
//! client on one core (a current-thread runtime; the agents run on another thread), decoded
//! varbinds/s for bulk walks, and 10,000 agents polled through one socket with every reply
//! checked. Prints a table; run with `cargo bench -p switchyard-snmp --bench loopback`
//! (`SNMP_BENCH_SECS` sets each phase's duration, `SNMP_BENCH_PHASES=get,bulk,farm` picks
//! phases, `SNMP_BENCH_GET_TASKS` the GETs in flight, default 256, `SNMP_BENCH_WALKERS` the
//! concurrent bulk walks, default 4). The client thread is pinned to CPU 0 and the agents' thread to CPU 1.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchyard_snmp::client::{Client, ClientConfig, RequestOptions, Security};
use switchyard_snmp::codec::{Oid, Value};
use switchyard_testkit::snmp_agent::{AgentFarm, AgentSpec, InterfaceSpec, SimAgent};

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    Duration::new(ru.ru_utime.tv_sec as u64, ru.ru_utime.tv_usec as u32 * 1000)
        + Duration::new(ru.ru_stime.tv_sec as u64, ru.ru_stime.tv_usec as u32 * 1000)
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let duration = env_secs("SNMP_BENCH_SECS", 3);
    // GETs in flight (each task one at a time, over four agents).
    let get_tasks: usize =
        std::env::var("SNMP_BENCH_GET_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    // Concurrent bulk walks (over two agents).
    let walkers: usize =
        std::env::var("SNMP_BENCH_WALKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    // SNMP_BENCH_PHASES=get,bulk,farm (default all) picks what to run.
    let phases = std::env::var("SNMP_BENCH_PHASES").unwrap_or_default();
    let phase = |name: &str| phases.is_empty() || phases.split(',').any(|p| p.trim() == name);
    raise_fd_limit();
    // The client runs on this thread, pinned to CPU 0; the agents on one worker pinned to CPU 1.
    let agents_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(|| pin_to_cpu(1))
        .enable_all()
        .build()
        .unwrap();
    pin_to_cpu(0);
    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sys_name: Oid = "1.3.6.1.2.1.1.5.0".parse().unwrap();

    let agent_cpu =
        || agents_rt.block_on(async { tokio::spawn(async { thread_cpu() }).await.unwrap() });

    if phase("get") {
        // 1. GET requests/s.
        let agents: Vec<SimAgent> = agents_rt.block_on(async { futures_agents(4).await });
        let agent_cpu0 = agent_cpu();
        let (reqs, wall, cpu) = client_rt.block_on(async {
            let client =
                Client::with_config(ClientConfig { max_in_flight: 4096, ..Default::default() })
                    .unwrap();
            let done = Arc::new(AtomicU64::new(0));
            let stop = Instant::now() + duration;
            let cpu0 = thread_cpu();
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for k in 0..get_tasks {
                let opts = RequestOptions { max_in_flight: 64, ..Default::default() };
                let t = client.target_with(
                    agents[k % agents.len()].addr(),
                    Security::v2c("public"),
                    opts,
                );
                let (done, oid) = (done.clone(), sys_name.clone());
                set.spawn(async move {
                    while Instant::now() < stop {
                        if t.get(std::slice::from_ref(&oid)).await.is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            while set.join_next().await.is_some() {}
            (done.load(Ordering::Relaxed), t0.elapsed(), thread_cpu() - cpu0)
        });
        let agents_used = agent_cpu() - agent_cpu0;
        drop(agents);
        println!(
            "| v2c GET, client on one core        | {:>10.0} req/s | {:>6.2} us CPU/req | agents {:>5.2} us CPU/req |",
            reqs as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / reqs as f64,
            agents_used.as_secs_f64() * 1e6 / reqs as f64
        );
    }

    if phase("bulk") {
        // 2. Bulk-walk varbinds/s.
        let spec = AgentSpec {
            interfaces: (0..500)
                .map(|i| InterfaceSpec::new(&format!("eth{i}"), 10_000, 1_000_000, 1_000_000))
                .collect(),
            max_bulk_varbinds: 500,
            ..Default::default()
        };
        let bulk_agents: Vec<SimAgent> = agents_rt.block_on(async {
            let mut v = Vec::new();
            for _ in 0..2 {
                v.push(SimAgent::start(spec.clone()).await.unwrap());
            }
            v
        });
        let agent_cpu0 = agent_cpu();
        let (vbs, wall, cpu) = client_rt.block_on(async {
            let client = Client::new().unwrap();
            let root: Oid = "1.3.6.1.2.1.2.2".parse().unwrap();
            let stop = Instant::now() + duration;
            let done = Arc::new(AtomicU64::new(0));
            let cpu0 = thread_cpu();
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for k in 0..walkers {
                let opts = RequestOptions { max_repetitions: 250, ..Default::default() };
                let t =
                    client.target_with(bulk_agents[k % 2].addr(), Security::v2c("public"), opts);
                let (done, root) = (done.clone(), root.clone());
                set.spawn(async move {
                    while Instant::now() < stop {
                        let n = t.bulk_walk(&root).await.map(|v| v.len()).unwrap_or(0);
                        done.fetch_add(n as u64, Ordering::Relaxed);
                    }
                });
            }
            while set.join_next().await.is_some() {}
            (done.load(Ordering::Relaxed), t0.elapsed(), thread_cpu() - cpu0)
        });
        let agents_used = agent_cpu() - agent_cpu0;
        drop(bulk_agents);
        println!(
            "| v2c bulk walk, decoded varbinds    | {:>10.0} vb/s  | {:>6.3} us CPU/vb  | agents {:>5.3} us CPU/vb  |",
            vbs as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / vbs as f64,
            agents_used.as_secs_f64() * 1e6 / vbs as f64
        );
    }

    if phase("farm") {
        // 3. 10,000 agents through one socket.
        let n = 10_000;
        let farm = agents_rt
            .block_on(AgentFarm::start(n, |i| AgentSpec {
                sys_name: format!("agent-{i}"),
                interfaces: vec![],
                load: None,
                ..Default::default()
            }))
            .unwrap();
        let addrs = farm.addrs();
        let (ok, bad, wall) = client_rt.block_on(async {
            let client =
                Client::with_config(ClientConfig { max_in_flight: 2048, ..Default::default() })
                    .unwrap();
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for (i, addr) in addrs.into_iter().enumerate() {
                let opts = RequestOptions {
                    timeout: Duration::from_secs(2),
                    retries: 3,
                    ..Default::default()
                };
                let t = client.target_with(addr, Security::v2c("public"), opts);
                let oid = sys_name.clone();
                set.spawn(async move {
                    match t.get(&[oid]).await {
                        Ok(v) => {
                            v[0].value == Value::OctetString(format!("agent-{i}").into_bytes())
                        }
                        Err(_) => false,
                    }
                });
            }
            let (mut ok, mut bad) = (0, 0);
            while let Some(r) = set.join_next().await {
                if r.unwrap_or(false) { ok += 1 } else { bad += 1 }
            }
            (ok, bad, t0.elapsed())
        });
        drop(farm);
        println!(
            "| {n} agents, one socket          | {ok:>6} ok {bad:>3} lost/mismatched | {:>8.1} ms |",
            wall.as_secs_f64() * 1e3
        );
    }
}

/// Pins the calling thread to one CPU (best effort: a machine with one CPU keeps both).
fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is a plain bit set; sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// 10,000 agents need 10,000 sockets: lift the soft open-files limit to the hard one.
fn raise_fd_limit() {
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

async fn futures_agents(n: usize) -> Vec<SimAgent> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(SimAgent::start(AgentSpec::default()).await.unwrap());
    }
    v
}
