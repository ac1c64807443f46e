//! `switchyard demo`: the whole product on a built-in simulated fleet. It starts HTTP edge
//! nodes in three zones on loopback addresses, one SNMP-polled node per zone whose simulated
//! agent's counters move, a few nodes that fail and recover over time,
//! writes a configuration and coverage-zone file into a temporary folder (and nowhere
//! else), and serves exactly as `switchyard serve` would.
//!
//! The nodes and agents share loopback addresses across runs but take free ports, chosen at
//! start and printed, so two demos (with their own listener ports), or a demo and the test
//! suite, run side by side.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use switchyard_testkit::fleet::{Addressing, Behavior, FleetPlan, Protocol, SimFleet};
use switchyard_testkit::snmp_agent::{AgentSpec, InterfaceSpec, SimAgent};

use crate::config::ListenOverrides;
use crate::serve::ServeArgs;

/// Arguments of `demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub listen: ListenOverrides,
    /// Simulated nodes per zone (three zones).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub nodes_per_zone: u16,
    /// Seconds between fault injections (a node fails, another turns degraded, then both
    /// recover).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(2..))]
    pub chaos_period_seconds: u64,
}

/// Zones of the demo: name, coordinates, client network.
const ZONES: [(&str, f64, f64, &str); 3] = [
    ("ams", 52.37, 4.90, "10.1.0.0/16"),
    ("fra", 50.11, 8.68, "10.2.0.0/16"),
    ("lon", 51.51, -0.13, "10.3.0.0/16"),
];

/// First node address; node `i` is this plus `i`.
const FIRST_NODE: Ipv4Addr = Ipv4Addr::new(127, 0, 100, 1);

/// Tries at finding one UDP port free on the address of every zone's SNMP-polled node.
const SNMP_PORT_TRIES: usize = 8;

/// The SNMPv3 user (authPriv) the simulated agents accept and the demo's SNMP probe uses;
/// the agents answer v3 only.
const SNMP_USER: &str = "switchyard-demo";
const SNMP_AUTH_PASS: &str = "demo-auth-pass";
const SNMP_PRIV_PASS: &str = "demo-priv-pass";

/// Interface speed of the simulated agents; the chaos task drives one of them past the
/// overload threshold.
const SNMP_SPEED_MBPS: u64 = 1000;

/// Runs the demo until SIGTERM/SIGINT.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new().prefix("switchyard-demo-").tempdir()?;
    let per_zone = usize::from(args.nodes_per_zone);
    let plan = FleetPlan::new(Protocol::Http, per_zone * ZONES.len())
        .with_addressing(Addressing::Loopback { first: FIRST_NODE, port: 0 });
    let fleet = SimFleet::start(plan).await.context("starting the simulated fleet")?;
    let agents = start_agents(&fleet.addrs(), per_zone).await?;
    let snmp_port = agents[0].addr().port();

    let config_path = dir.path().join("switchyard.toml");
    std::fs::write(dir.path().join("coverage-zones.json"), coverage_zones())?;
    std::fs::write(&config_path, config(&fleet.addrs(), per_zone, snmp_port))?;

    let addrs = fleet.addrs();
    let nodes = format!("{}-{}", addrs[0].ip(), addrs[addrs.len() - 1].ip());
    let http_port = addrs[0].port();
    tracing::info!(nodes, http_port, snmp_port, "demo: simulated fleet started");
    let listen = effective_listen(&args.listen);
    println!("{}", banner(&listen, dir.path(), &nodes, http_port, snmp_port));

    let chaos = tokio::spawn(chaos(
        fleet,
        agents,
        per_zone,
        Duration::from_secs(args.chaos_period_seconds),
    ));
    let result = crate::serve::run(ServeArgs {
        config: config_path,
        listen: args.listen,
        etcd: Default::default(),
        startup_delay_ms: 0,
    })
    .await;
    chaos.abort();
    result
}

/// Listener addresses after the command-line overrides.
fn effective_listen(o: &ListenOverrides) -> (SocketAddr, SocketAddr, SocketAddr) {
    (
        o.admin_listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 9090))),
        o.http_listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
        o.dns_listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5353))),
    )
}

fn coverage_zones() -> String {
    let zones: Vec<String> = ZONES
        .iter()
        .map(|(name, lat, lon, net)| {
            format!(
                r#""{name}": {{"network": ["{net}"], "coordinates": {{"latitude": {lat}, "longitude": {lon}}}}}"#
            )
        })
        .collect();
    format!("{{\"coverageZones\": {{{}}}}}\n", zones.join(",\n"))
}

fn config(addrs: &[SocketAddr], per_zone: usize, snmp_port: u16) -> String {
    let mut c = String::from(
        r#"# Written by `switchyard demo`.
[listen]
admin = "127.0.0.1:9090"
http = "127.0.0.1:8080"
dns = "127.0.0.1:5353"

[lifecycle]
shutdown_delay_seconds = 0
drain_timeout_seconds = 5

[probe.default]
check = { kind = "http", path = "/health" }
interval_ms = 1000
down_interval_ms = 2000
transition_interval_ms = 500
timeout_ms = 400
connect_timeout_ms = 200
history_len = 60

# Nodes tagged `snmp`: the same HTTP check, plus their uplink load read over SNMPv3.
[probe.by_tag.snmp]
check = { kind = "http", path = "/health" }
snmp = { port = {snmp_port}, version = "3", user = "{snmp_user}", auth_protocol = "SHA-256", auth_password = "{snmp_auth}", priv_protocol = "AES", priv_password = "{snmp_priv}", interface = "eth0" }
interval_ms = 1000
down_interval_ms = 2000
transition_interval_ms = 500
timeout_ms = 400
connect_timeout_ms = 200
history_len = 60

[dns]
zones = ["demo.example"]

[inventory]
coverage_zones_file = "coverage-zones.json"

[[inventory.services]]
name = "video"
hostnames = ["video.demo.example"]
hash_key = { path_regex = "^(/[^/]+/[^/]+)" }
dns_answers = 2
ttl_seconds = 20
default_zone = "ams"

[[inventory.services]]
name = "static"
hostnames = ["static.demo.example", "*.static.demo.example"]
policy = "weighted_random"
dns_answers = 1
ttl_seconds = 60
default_zone = "fra"
"#,
    )
    .replace("{snmp_port}", &snmp_port.to_string())
    .replace("{snmp_user}", SNMP_USER)
    .replace("{snmp_auth}", SNMP_AUTH_PASS)
    .replace("{snmp_priv}", SNMP_PRIV_PASS);
    for (z, (name, lat, lon, _)) in ZONES.iter().enumerate() {
        let backups: Vec<String> =
            ZONES.iter().filter(|(n, ..)| n != name).map(|(n, ..)| format!("\"{n}\"")).collect();
        let _ = write!(
            c,
            "\n[[inventory.zones]]\nname = \"{name}\"\nlatitude = {lat}\nlongitude = {lon}\nbackups = [{}]\n",
            backups.join(", ")
        );
        for i in 0..per_zone {
            let a = addrs[z * per_zone + i];
            let tags = if i == 0 { "[\"snmp\"]" } else { "[]" };
            let _ = write!(
                c,
                "\n[[inventory.nodes]]\nid = \"{name}-{}\"\nzone = \"{name}\"\nipv4 = \"{}\"\nport = {}\ncapacity_mbps = {}\ntags = {tags}\n",
                i + 1,
                a.ip(),
                a.port(),
                10_000 * (1 + i % 2)
            );
        }
    }
    c
}

fn banner(
    listen: &(SocketAddr, SocketAddr, SocketAddr),
    dir: &std::path::Path,
    nodes: &str,
    http_port: u16,
    snmp_port: u16,
) -> String {
    let (admin, http, dns) = listen;
    let dns_port = dns.port();
    format!(
        "\
Switchyard demo: simulated edge nodes in zones ams, fra, lon, config in {dir}
  nodes {nodes}, HTTP port {http_port}; SNMP agents (first node of each zone) on UDP port {snmp_port}
Every few seconds a node fails, another turns degraded and an SNMP-polled node runs at 95%
of its interface speed (overloaded); then all recover.

  status page         http://{admin}/
  status and health   curl http://{admin}/readyz?verbose
                      curl http://{admin}/api/v1/fleet
  routing decision    curl 'http://{http}/v1/route?host=video.demo.example&ip=10.2.0.1&path=/movies/a/seg1.ts'
  302 redirect        curl -i -H 'Host: video.demo.example' http://{http}/movies/a/seg1.ts
  HTTPDNS             curl 'http://{http}/d?host=video.demo.example&ip=10.3.0.1'
  why this node       curl 'http://{admin}/debug/pick?host=video.demo.example&ip=10.1.0.1&path=/movies/a/seg1.ts'
  DNS with ECS        dig @{dns_ip} -p {dns_port} video.demo.example A +subnet=10.3.0.0/24
  metrics             curl http://{admin}/metrics

Stop with Ctrl-C.",
        dir = dir.display(),
        dns_ip = dns.ip(),
    )
}

/// One simulated SNMP agent per zone, on the address of the zone's first node, with an
/// interface whose counters move at 20-40% of its speed. The agents share one port (the
/// probe's `snmp.port` is per tag): a free one on the first address, tried on the others,
/// and another one if it is taken there.
async fn start_agents(addrs: &[SocketAddr], per_zone: usize) -> anyhow::Result<Vec<SimAgent>> {
    let mut last = None;
    for _ in 0..SNMP_PORT_TRIES {
        match try_start_agents(addrs, per_zone).await {
            Ok(agents) => return Ok(agents),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e).context("starting the simulated SNMP agents"),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no free port"));
    Err(e).context("no UDP port free on every SNMP-polled node address")
}

async fn try_start_agents(addrs: &[SocketAddr], per_zone: usize) -> std::io::Result<Vec<SimAgent>> {
    let mut agents: Vec<SimAgent> = Vec::new();
    for z in 0..ZONES.len() {
        let ip = addrs[z * per_zone].ip();
        let port = agents.first().map_or(0, |a| a.addr().port());
        let bps = SNMP_SPEED_MBPS * 1_000_000 / 10 * (2 + z as u64);
        let user = UsmUser::no_auth(SNMP_USER)
            .and_then(|u| u.with_auth(AuthProtocol::Sha256, SNMP_AUTH_PASS.as_bytes()))
            .and_then(|u| u.with_privacy(PrivProtocol::Aes128, SNMP_PRIV_PASS.as_bytes()))
            .map_err(|e| std::io::Error::other(format!("demo SNMPv3 user: {e}")))?;
        let spec = AgentSpec {
            community: None,
            users: vec![user],
            sys_name: format!("{}-1", ZONES[z].0),
            interfaces: vec![InterfaceSpec::new("eth0", SNMP_SPEED_MBPS, bps / 2, bps)],
            ..AgentSpec::default()
        };
        agents.push(SimAgent::start_on(SocketAddr::new(ip, port), spec).await?);
    }
    Ok(agents)
}

/// Injects faults forever: one node of a rotating zone fails, another answers degraded, and
/// one SNMP agent reports its interface at 95% (overloaded); all recover half a period later.
async fn chaos(fleet: SimFleet, agents: Vec<SimAgent>, per_zone: usize, period: Duration) {
    let total = fleet.nodes().len();
    let busy = SNMP_SPEED_MBPS * 1_000_000 * 95 / 100;
    let calm = SNMP_SPEED_MBPS * 1_000_000 * 3 / 10;
    for round in 0usize.. {
        tokio::time::sleep(period / 2).await;
        let failing = (round * per_zone + round) % total;
        let degraded = (failing + per_zone + 1) % total;
        let agent = &agents[round % agents.len()];
        agent.set_rates(0, calm / 2, busy);
        fleet.node(failing).set_behavior(Behavior::Status(503));
        if degraded != failing {
            fleet.node(degraded).set_behavior(Behavior::Degraded);
        }
        tracing::info!(
            failing = %fleet.node(failing).addr(),
            degraded = %fleet.node(degraded).addr(),
            overloaded = %agent.addr(),
            "demo: injecting faults"
        );
        tokio::time::sleep(period / 2).await;
        fleet.node(failing).set_behavior(Behavior::Healthy);
        fleet.node(degraded).set_behavior(Behavior::Healthy);
        agent.set_rates(0, calm / 2, calm);
        tracing::info!("demo: faults cleared");
    }
}
