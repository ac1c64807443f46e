//! Shared setup for the DNS listener tests: a routing table, an in-process listener on a
//! loopback ephemeral port, `dig` and `kdig` (required: the suite fails when they are
//! missing), and metric reads.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use switchyard::dns::DnsConfig;
use switchyard::metrics::Metrics;
use switchyard_route::{CoverageZones, FleetSpec, HealthView, RoutingTable};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A name whose 16 AAAA answers do not fit in 512 bytes.
pub const MANY: &str = "a-rather-long-service-name-to-force-truncation.cdn.example.com";

/// Fleet: `east` (10.1.0.0/16) and `west` (10.2.2.0/24) serve `video.cdn.example.com`
/// (two answers, TTL 45) and `west` alone serves `static.cdn.example.com` (IPv4 only);
/// zone `big` has 16 dual-stack nodes serving [`MANY`] with 16 answers.
pub fn table() -> RoutingTable {
    let mut toml_src = String::from(
        r#"
[[zones]]
name = "east"
backups = ["west"]
[[zones]]
name = "west"
[[zones]]
name = "big"
[[nodes]]
id = "e1"
zone = "east"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
[[nodes]]
id = "e2"
zone = "east"
ipv4 = "192.0.2.2"
[[nodes]]
id = "w1"
zone = "west"
ipv4 = "192.0.2.11"
[[nodes]]
id = "w2"
zone = "west"
ipv4 = "192.0.2.12"
[[services]]
name = "video"
hostnames = ["video.cdn.example.com"]
zones = ["east", "west"]
dns_answers = 2
ttl_seconds = 45
default_zone = "west"
[[services]]
name = "static"
hostnames = ["static.cdn.example.com"]
zones = ["west"]
default_zone = "west"
"#,
    );
    for i in 0..16 {
        toml_src.push_str(&format!(
            "[[nodes]]\nid = \"big-{i}\"\nzone = \"big\"\nipv4 = \"198.51.100.{i}\"\nipv6 = \"2001:db8:b::{i:x}\"\n"
        ));
    }
    toml_src.push_str(&format!(
        "[[services]]\nname = \"many\"\nhostnames = [\"{MANY}\"]\nzones = [\"big\"]\ndns_answers = 16\ndefault_zone = \"big\"\n"
    ));
    let spec: FleetSpec = toml::from_str(&toml_src).unwrap();
    let czf = CoverageZones::from_czf_json(
        r#"{"coverageZones": {
            "east": {"network": ["10.1.0.0/16"]},
            "west": {"network": ["10.2.2.0/24"]}
        }}"#,
    )
    .unwrap();
    RoutingTable::build(&spec, &czf, None, &HealthView::new(1)).unwrap()
}

/// A running listener.
pub struct Server {
    pub addr: SocketAddr,
    pub metrics: Metrics,
    pub stop: CancellationToken,
    pub tasks: JoinSet<()>,
}

impl Server {
    /// Starts the listener on `127.0.0.1:0` with `config`.
    pub async fn start(config: DnsConfig) -> Self {
        let metrics = Metrics::new();
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let table = Arc::new(ArcSwap::from_pointee(table()));
        let addr = switchyard::dns::spawn(
            &mut tasks,
            "127.0.0.1:0".parse().unwrap(),
            &config,
            table,
            &metrics,
            stop.clone(),
            // Port 0: served at once, readiness does not apply.
            CancellationToken::new(),
        )
        .await
        .expect("dns listener binds");
        Self { addr, metrics, stop, tasks }
    }

    /// Runs `dig @addr -p port <args>` and returns its output.
    pub async fn dig(&self, args: &[&str]) -> String {
        let port = self.addr.port().to_string();
        let mut cmd = tokio::process::Command::new("dig");
        cmd.args(["@127.0.0.1", "-p", &port, "+norec", "+time=5", "+tries=1"]).args(args);
        let out = match cmd.output().await {
            Ok(o) => o,
            Err(e) => panic!("`dig` could not run ({e}): install Debian package bind9-dnsutils"),
        };
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `kdig @addr -p port <args>` (Knot's client, a second opinion on the wire format)
    /// and returns its output, errors included (kdig reports a failed transfer on stderr).
    pub async fn kdig(&self, args: &[&str]) -> String {
        let port = self.addr.port().to_string();
        let mut cmd = tokio::process::Command::new("kdig");
        cmd.args(["@127.0.0.1", "-p", &port, "+norec", "+time=5", "+retry=0"]).args(args);
        let out = match cmd.output().await {
            Ok(o) => o,
            Err(e) => panic!("`kdig` could not run ({e}): install Debian package knot-dnsutils"),
        };
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        text
    }

    /// Sum of every sample of `metric` whose line contains all of `labels`.
    pub fn metric(&self, metric: &str, labels: &[&str]) -> f64 {
        metric_value(&self.metrics.encode(), metric, labels)
    }

    /// Waits (bounded) until `metric` reaches `at_least`.
    pub async fn wait_metric(&self, metric: &str, labels: &[&str], at_least: f64) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.metric(metric, labels);
            if v >= at_least {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{metric}{labels:?} stuck at {v}, wanted {at_least}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the listener when dropped, so a failing assertion does not leave the UDP
    /// threads running and the test waiting on them.
    pub fn stop_on_panic(&self) -> tokio_util::sync::DropGuard {
        self.stop.clone().drop_guard()
    }

    /// Cancels and waits for every task to end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        tokio::time::timeout(Duration::from_secs(10), all).await.expect("dns tasks stop");
    }
}

pub fn metric_value(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(metric) && labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The `status:` of a dig answer.
pub fn status(out: &str) -> &str {
    out.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("<none>")
}

/// The header flags dig prints (`qr aa rd`).
pub fn flags(out: &str) -> Vec<&str> {
    out.split("flags: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or("")
        .split_whitespace()
        .collect()
}

/// Resource records of one section as (owner, ttl, type, rdata).
pub fn section<'a>(out: &'a str, name: &str) -> Vec<(&'a str, u32, &'a str, &'a str)> {
    let marker = format!(";; {name} SECTION:");
    let Some(start) = out.find(&marker) else { return Vec::new() };
    out[start + marker.len()..]
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let owner = f.next()?;
            let ttl = f.next()?.parse().ok()?;
            let _class = f.next()?;
            let t = f.next()?;
            let rdata = l.rsplit('\t').next()?;
            Some((owner, ttl, t, rdata))
        })
        .collect()
}
