//! A faulty fleet: the real binary probing a simulated fleet of which half the nodes hang,
//! reset, drip a byte a second, answer garbage or flap every few seconds, the other half
//! healthy in a zone of their own. Asserted: no healthy node is ever marked anything but up
//! (polled through the zone summary every second, and every healthy node's state changes
//! read at the end), the faulty nodes are found out, `/livez` answers 200 throughout, the
//! runtime's task count and the open descriptors stay bounded by the fleet size while the
//! faults last and return to their baseline once they stop, and nothing is logged at ERROR.
//!
//! The suite runs 1,000 nodes for 25 s of faults; schedule lateness (p99 of
//! `switchyard_probe_schedule_lateness_seconds` over the fault phase) is printed, not asserted:
//! it is a speed figure. `scripts/faulty-fleet.sh` runs the same test at full size (10,000
//! nodes) on a release build. Environment: `SWITCHYARD_FAULTY_NODES`,
//! `SWITCHYARD_FAULTY_SECONDS` (fault phase), `SWITCHYARD_FAULTY_BIN` (another build of the
//! binary), `SWITCHYARD_FAULTY_OUT` (a folder for the summary and the log).
//!
//! The same run in distributed mode takes its inventory from a real etcd and writes a
//! verdict per node there as the faults come and go (flapping nodes change theirs every few
//! seconds); the zone summary is then the merge of those verdicts. Asserted besides: the
//! verdicts were written without an etcd error, and etcd holds a failing node as down while
//! the faults last and as up again after.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchyard_testkit::etcd::Etcd;
use switchyard_testkit::fleet::{Addressing, Behavior, FleetPlan, Protocol, SimFleet};
use switchyard_testkit::process::{Switchyard, get};

use crate::restart::metric;

/// Probe interval; the faults' timings are set against it.
const INTERVAL_MS: u64 = 1000;
const LATENESS: &str = "switchyard_probe_schedule_lateness_seconds";

/// The configuration; in file mode it names the fleet file, in etcd mode the inventory comes
/// from etcd.
fn main_config(fleet_file: bool) -> String {
    let inventory = if fleet_file { "\n[inventory]\nfleet_file = \"fleet.toml\"\n" } else { "" };
    format!(
        r#"[lifecycle]
shutdown_delay_seconds = 0
drain_timeout_seconds = 5

[probe.default]
check = {{ kind = "http", path = "/health" }}
interval_ms = {INTERVAL_MS}
timeout_ms = 500
connect_timeout_ms = 250
rise = 2
fall = 2

[probe.warm]
fraction = 1.0
{inventory}"#
    )
}

/// Node `i` is faulty when `i % 10 < 5`, with the fault `fault(i)`.
fn faulty(i: usize) -> bool {
    i % 10 < 5
}

/// The fault of faulty node `i`: a hang, a reset at accept, the body dripped a byte a second,
/// the whole answer trickled a byte a second, garbage, or a flap (healthy and failing in
/// turns of 2 to 4 s: `503`, hanging, or resetting).
fn fault(i: usize) -> Behavior {
    let second = Duration::from_secs(1);
    match (i % 10, (i / 10) % 3) {
        (0, 0) => Behavior::Hang,
        (0, _) => Behavior::Reset,
        (1, 0 | 1) => Behavior::SlowDrip { chunk_delay: second },
        (1, _) => Behavior::Trickle { byte_delay: second },
        (2, _) => Behavior::Garbage,
        (3, 0) => Behavior::flap(2 * second, Behavior::Status(503)),
        (3, 1) => Behavior::flap(3 * second, Behavior::Hang),
        (3, _) => Behavior::flap(4 * second, Behavior::Reset),
        (_, 0) => Behavior::Trickle { byte_delay: second },
        (_, 1) => Behavior::Hang,
        (_, _) => Behavior::flap(3 * second, Behavior::Garbage),
    }
}

/// Whether `fault(i)` fails every probe (not a flap).
fn always_failing(i: usize) -> bool {
    !matches!(fault(i), Behavior::Flap { .. })
}

fn id(i: usize) -> String {
    if faulty(i) { format!("bad-{i}") } else { format!("good-{i}") }
}

fn fleet_file(addrs: &[SocketAddr]) -> String {
    let mut f = String::from(
        r#"[[zones]]
name = "good"

[[zones]]
name = "bad"

[[services]]
name = "video"
hostnames = ["video.cdn.test"]
default_zone = "good"
"#,
    );
    for (i, a) in addrs.iter().enumerate() {
        let zone = if faulty(i) { "bad" } else { "good" };
        let _ = write!(
            f,
            "\n[[nodes]]\nid = \"{}\"\nzone = \"{zone}\"\nipv4 = \"{}\"\nport = {}\n",
            id(i),
            a.ip(),
            a.port()
        );
    }
    f
}

/// Open descriptors, threads, resident memory (KiB) from `/proc`, and the runtime's tasks
/// from `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    fds: u64,
    threads: u64,
    rss_kib: u64,
    tasks: u64,
}

fn sample(sy: &Switchyard) -> Sample {
    let pid = sy.child.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    Sample {
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as u64,
        threads: field("Threads:"),
        rss_kib: field("VmRSS:"),
        tasks: metric(sy, "switchyard_runtime_tasks", &[]) as u64,
    }
}

/// The cumulative lateness histogram: `(upper bound in seconds, count)` per bucket.
fn lateness(sy: &Switchyard) -> Vec<(f64, f64)> {
    let text = get(sy.admin, "/metrics", &[]).body;
    text.lines()
        .filter(|l| l.starts_with(&format!("{LATENESS}_bucket")))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// Upper bound of the bucket holding quantile `q` of the probes started between two scrapes
/// of the histogram, and how many started.
fn lateness_quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> (f64, f64) {
    let count = |h: &[(f64, f64)], le: f64| h.iter().find(|b| b.0 == le).map_or(0.0, |b| b.1);
    let total = count(after, f64::INFINITY) - count(before, f64::INFINITY);
    let rank = (q * total).ceil();
    let le = after
        .iter()
        .find(|(le, n)| n - count(before, *le) >= rank)
        .map_or(f64::INFINITY, |(le, _)| *le);
    (le, total)
}

/// Health counts of zone `zone` from the fleet summary.
fn zone_health(sy: &Switchyard, zone: &str) -> serde_json::Value {
    let (status, v) = sy.json("/api/v1/fleet?summary");
    assert_eq!(status, 200, "{v}");
    v["zones"]
        .as_array()
        .and_then(|zones| zones.iter().find(|z| z["name"] == zone))
        .map(|z| z["summary"]["health"].clone())
        .unwrap_or_else(|| panic!("zone {zone} missing: {v}"))
}

fn count(health: &serde_json::Value, state: &str) -> u64 {
    health[state].as_u64().unwrap_or(0)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Raises this process's soft descriptor limit to the hard one: the simulator holds a
/// listener and a connection per node.
fn raise_fd_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct they are given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[test]
fn a_faulty_fleet_costs_no_healthy_node_and_leaks_nothing() {
    faulty_fleet(None);
}

/// The same faults in distributed mode, with the inventory and the verdicts in a real etcd.
#[test]
fn in_etcd_mode_a_faulty_fleet_costs_no_healthy_node_and_leaks_nothing() {
    faulty_fleet(Some((Etcd::start(), tempfile::tempdir().unwrap())));
}

/// The instance's verdict on node `i` as etcd holds it (under the default prefix).
fn verdict_in_etcd(etcd: &Etcd, i: usize) -> String {
    let key = format!("/switchyard/health/{}/{INSTANCE}", id(i));
    etcd.get(&key).map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default()
}

/// The instance id in etcd mode.
const INSTANCE: &str = "faulty";

/// Runs the faulty fleet, in etcd mode when given an etcd and a folder for the import.
fn faulty_fleet(etcd: Option<(Etcd, tempfile::TempDir)>) {
    let env = |name: &str| std::env::var(name).ok();
    let nodes: usize = env("SWITCHYARD_FAULTY_NODES").and_then(|n| n.parse().ok()).unwrap_or(1000);
    let fault_secs: u64 =
        env("SWITCHYARD_FAULTY_SECONDS").and_then(|n| n.parse().ok()).unwrap_or(25);
    let bin = env("SWITCHYARD_FAULTY_BIN").unwrap_or_else(|| crate::common::BIN.into());
    let out = env("SWITCHYARD_FAULTY_OUT").map(PathBuf::from);
    raise_fd_limit();

    let workers = if nodes > 2000 { 2 } else { 1 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    // One listener for the whole fleet: 10,000 nodes and their connections then fit under a
    // 20,000 open-file limit.
    let plan = FleetPlan::new(Protocol::Http, nodes).with_addressing(Addressing::SharedLoopback {
        first: Ipv4Addr::new(127, 40, 0, 1),
        port: 0,
    });
    let fleet = rt.block_on(SimFleet::start(plan)).unwrap();
    let addrs = fleet.addrs();
    let mut args = Vec::new();
    let endpoint;
    if let Some((etcd, dir)) = &etcd {
        crate::soak::etcd_import(&bin, etcd, dir.path(), &fleet_file(&addrs));
        endpoint = etcd.endpoint();
        args.extend(["--etcd", &endpoint, "--instance-id", INSTANCE]);
    }
    let sy = Switchyard::start_with_files(
        &bin,
        &main_config(etcd.is_none()),
        &[("fleet.toml", &fleet_file(&addrs))],
        &args,
        &[],
    );
    // Every node probed once (`probe.warm.fraction = 1`), then a few rounds to settle.
    sy.wait_status("/readyz", 200, Duration::from_secs(120));
    let good = nodes - (0..nodes).filter(|&i| faulty(i)).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&zone_health(&sy, "good"), "up") < good as u64
        || count(&zone_health(&sy, "bad"), "up") < (nodes - good) as u64
    {
        assert!(Instant::now() < deadline, "the healthy fleet never came up");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(3 * INTERVAL_MS));
    let mut base = Vec::new();
    for _ in 0..5 {
        base.push(sample(&sy));
        std::thread::sleep(Duration::from_millis(INTERVAL_MS / 2));
    }
    let baseline = Sample {
        fds: median(base.iter().map(|s| s.fds).collect()),
        threads: median(base.iter().map(|s| s.threads).collect()),
        rss_kib: median(base.iter().map(|s| s.rss_kib).collect()),
        tasks: median(base.iter().map(|s| s.tasks).collect()),
    };

    // The faults.
    let hist_before = lateness(&sy);
    let overruns_before = metric(&sy, "switchyard_probe_overruns_total", &[]);
    for (i, node) in fleet.nodes().iter().enumerate() {
        if faulty(i) {
            node.set_behavior(fault(i));
        }
    }
    let started = Instant::now();
    let mut peak = Sample::default();
    let (mut polls, mut livez_failed, mut good_not_up) = (0u64, 0u64, Vec::new());
    let mut bad_down_max = 0;
    while started.elapsed() < Duration::from_secs(fault_secs) {
        let tick = Instant::now();
        polls += 1;
        if get(sy.admin, "/livez", &[]).status != 200 {
            livez_failed += 1;
        }
        let g = zone_health(&sy, "good");
        if count(&g, "up") != good as u64 {
            good_not_up.push(format!("{:.1} s: {g}", started.elapsed().as_secs_f64()));
        }
        bad_down_max = bad_down_max.max(count(&zone_health(&sy, "bad"), "down"));
        let s = sample(&sy);
        peak = Sample {
            fds: peak.fds.max(s.fds),
            threads: peak.threads.max(s.threads),
            rss_kib: peak.rss_kib.max(s.rss_kib),
            tasks: peak.tasks.max(s.tasks),
        };
        std::thread::sleep(Duration::from_secs(1).saturating_sub(tick.elapsed()));
    }
    let hist_after = lateness(&sy);
    let overruns = metric(&sy, "switchyard_probe_overruns_total", &[]) - overruns_before;
    // Node 0 hangs throughout; node 5 is healthy.
    let in_etcd_during = etcd.as_ref().map(|(e, _)| (verdict_in_etcd(e, 0), verdict_in_etcd(e, 5)));
    let (p50, probes) = lateness_quantile(&hist_before, &hist_after, 0.50);
    let (p99, _) = lateness_quantile(&hist_before, &hist_after, 0.99);
    let (p999, _) = lateness_quantile(&hist_before, &hist_after, 0.999);

    // The faults stop: every node comes back, and the counts return to their baseline.
    fleet.set_all(Behavior::Healthy);
    let healed = Instant::now();
    while count(&zone_health(&sy, "bad"), "up") < (nodes - good) as u64 {
        assert!(healed.elapsed() < Duration::from_secs(60), "the faulty nodes never recovered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let recovered_in = healed.elapsed();
    let mut in_etcd_after = String::new();
    if let Some((e, _)) = &etcd {
        while !verdict_in_etcd(e, 0).contains("\"up\"")
            && healed.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        in_etcd_after = verdict_in_etcd(e, 0);
    }
    let fds_slack = (nodes / 50) as u64 + 16;
    let tasks_slack = (nodes / 50) as u64 + 16;
    let mut after = sample(&sy);
    while after.fds > baseline.fds + fds_slack
        || after.tasks > baseline.tasks + tasks_slack
        || after.threads > baseline.threads + 2
    {
        if healed.elapsed() > Duration::from_secs(90) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        after = sample(&sy);
    }
    let settled_in = healed.elapsed();

    // Every healthy node's own history: never anything but up.
    let mut flipped = Vec::new();
    for i in (0..nodes).filter(|&i| !faulty(i)) {
        let (status, v) = sy.json(&format!("/api/v1/nodes/{}", id(i)));
        assert_eq!(status, 200, "{v}");
        let changes = v["state_changes"].as_array().cloned().unwrap_or_default();
        if changes.iter().any(|c| c["to"] != "up") {
            flipped.push(format!("{}: {}", id(i), v["state_changes"]));
        }
    }
    let log = sy.log.all();
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("\"level\":\"ERROR\"")).collect();
    let always = (0..nodes).filter(|&i| faulty(i) && always_failing(i)).count() as u64;
    let verdicts_written = metric(&sy, "switchyard_etcd_writes_total", &["kind=\"verdict\""]);
    let etcd_errors = metric(&sy, "switchyard_etcd_errors_total", &[]);
    let etcd_line = match &in_etcd_during {
        Some((bad, good)) => format!(
            "etcd: {} verdict writes, {} errors; {} while faulty: {bad}, after: \
             {in_etcd_after}; {}: {good}\n",
            verdicts_written as u64,
            etcd_errors as u64,
            id(0),
            id(5)
        ),
        None => String::new(),
    };

    let summary = format!(
        "faulty fleet: {nodes} nodes ({} faulty, {always} failing every probe), {fault_secs} s \
         of faults, probe interval {INTERVAL_MS} ms\n\
         schedule lateness over the fault phase ({probes} probes started): p50 <= {} ms, \
         p99 <= {} ms, p99.9 <= {} ms; {overruns} rounds skipped (overruns)\n\
         faulty nodes down at most {bad_down_max}; recovered {:.1} s after the faults stopped\n\
         healthy nodes ever not up: {} of {polls} polls, {} with a state change\n\
         /livez failed {livez_failed} of {polls} polls\n\
         descriptors: baseline {}, peak {}, after {}\n\
         runtime tasks: baseline {}, peak {}, after {}\n\
         threads: baseline {}, peak {}, after {}\n\
         resident memory (MiB): baseline {:.1}, peak {:.1}, after {:.1}\n\
         counts back within the slack {:.1} s after the faults stopped\n\
         ERROR log lines: {}\n{etcd_line}",
        nodes - good,
        p50 * 1000.0,
        p99 * 1000.0,
        p999 * 1000.0,
        recovered_in.as_secs_f64(),
        good_not_up.len(),
        flipped.len(),
        baseline.fds,
        peak.fds,
        after.fds,
        baseline.tasks,
        peak.tasks,
        after.tasks,
        baseline.threads,
        peak.threads,
        after.threads,
        baseline.rss_kib as f64 / 1024.0,
        peak.rss_kib as f64 / 1024.0,
        after.rss_kib as f64 / 1024.0,
        settled_in.as_secs_f64(),
        errors.len(),
    );
    println!("{summary}");
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("faulty-fleet-summary.txt"), &summary).unwrap();
        std::fs::write(dir.join("switchyard.log"), &log).unwrap();
    }
    drop(fleet);

    assert!(good_not_up.is_empty(), "healthy nodes not up:\n{}\n{summary}", good_not_up.join("\n"));
    assert!(flipped.is_empty(), "healthy nodes changed state:\n{}\n{summary}", flipped.join("\n"));
    assert_eq!(livez_failed, 0, "{summary}");
    assert!(bad_down_max >= always, "faulty nodes were not found out:\n{summary}");
    assert!(probes > nodes as f64 * (fault_secs as f64 - 5.0), "too few probes:\n{summary}");
    // While the faults last, at most one probe (a task and a connection) per node.
    assert!(peak.fds <= baseline.fds + nodes as u64 + 64, "descriptors unbounded:\n{summary}");
    assert!(peak.tasks <= baseline.tasks + nodes as u64 + 64, "tasks unbounded:\n{summary}");
    assert!(after.fds <= baseline.fds + fds_slack, "descriptors not back:\n{summary}");
    assert!(after.tasks <= baseline.tasks + tasks_slack, "tasks not back:\n{summary}");
    assert!(after.threads <= baseline.threads + 2, "threads not back:\n{summary}");
    assert!(errors.is_empty(), "ERROR log lines:\n{}", errors.join("\n"));
    if let Some((bad, good)) = in_etcd_during {
        assert!(bad.contains("\"down\""), "etcd's verdict on a hanging node: {bad}\n{summary}");
        assert!(good.contains("\"up\""), "etcd's verdict on a healthy node: {good}\n{summary}");
        assert!(in_etcd_after.contains("\"up\""), "not up again in etcd:\n{summary}");
        // Every node's first verdict, and at least the faulty nodes' turn to down.
        assert!(verdicts_written >= (nodes + nodes / 2) as f64, "{summary}");
        assert_eq!(etcd_errors, 0.0, "{summary}");
    }
}
