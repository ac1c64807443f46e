//! The `switchyard.toml` configuration: typed sections, defaults, and the `validate()` pass.
//!
//! Every section rejects unknown keys; every duration or size names its unit in the key. Loading
//! (with file:line:col locations for every problem) lives in [`load`].

mod check;
mod load;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use switchyard_route::FleetSpec;

pub use check::{CheckReport, check_file};
pub use load::{ConfigError, Problem, load_file, load_fleet_file, load_str};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener addresses.
    #[serde(default)]
    pub listen: ListenConfig,
    /// Admin API access.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Start-up, shutdown and drain timing.
    #[serde(default)]
    pub lifecycle: LifecycleConfig,
    /// Self-health checks (`/livez`, `/readyz`, `/healthz`).
    #[serde(default)]
    pub health: HealthConfig,
    /// Maintenance mode at start-up.
    #[serde(default)]
    pub maintenance: MaintenanceConfig,
    /// Where nodes, zones and services come from.
    #[serde(default)]
    pub inventory: InventoryConfig,
    /// How nodes are probed.
    #[serde(default)]
    pub probe: crate::prober::ProbeConfig,
    /// The HTTP traffic front end (route API, HTTPDNS, redirects, admission control).
    #[serde(default)]
    pub http: crate::traffic::TrafficConfig,
    /// The authoritative DNS front end.
    #[serde(default)]
    pub dns: crate::dns::DnsConfig,
}

/// Listener addresses. The traffic listeners are optional; the admin listener always runs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// Admin listener: health endpoints, metrics, status, admin API. Default `127.0.0.1:9090`.
    #[serde(default = "default_admin_listen")]
    pub admin: SocketAddr,
    /// HTTP traffic listener (route API, 302, HTTPDNS). Default: not started.
    #[serde(default)]
    pub http: Option<SocketAddr>,
    /// DNS listener, UDP and TCP on the same address. Default: not started.
    #[serde(default)]
    pub dns: Option<SocketAddr>,
    /// gRPC listener serving `grpc.health.v1.Health`, whose overall status (service `""`)
    /// mirrors `/readyz`. Default: not started.
    #[serde(default)]
    pub grpc_health: Option<SocketAddr>,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9090))
}

impl Default for ListenConfig {
    fn default() -> Self {
        Self { admin: default_admin_listen(), http: None, dns: None, grpc_health: None }
    }
}

/// Admin API access control.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// File holding the bearer token for `/admin/*` (surrounding whitespace is trimmed). The
    /// `SWITCHYARD_ADMIN_TOKEN` environment variable takes precedence. Default: none.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Whether the mutating `/admin/*` endpoints are served at all. Default `true`. Switchyard
    /// refuses to start with mutations enabled on a non-loopback admin address and no token.
    #[serde(default = "yes")]
    pub mutations_enabled: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { token_file: None, mutations_enabled: true }
    }
}

fn yes() -> bool {
    true
}

/// Shutdown and drain timing (SIGTERM / SIGINT).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleConfig {
    /// After the first signal, `/readyz` fails at once but traffic keeps being served for this
    /// long, so load balancers notice before listeners close. Seconds, default 5, may be 0.
    #[serde(default = "default_shutdown_delay")]
    pub shutdown_delay_seconds: f64,
    /// After listeners close, in-flight requests get this long to finish before the process
    /// exits anyway. Seconds, default 30, must be > 0.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_seconds: f64,
}

fn default_shutdown_delay() -> f64 {
    5.0
}
fn default_drain_timeout() -> f64 {
    30.0
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            shutdown_delay_seconds: default_shutdown_delay(),
            drain_timeout_seconds: default_drain_timeout(),
        }
    }
}

/// Self-health check settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Time limit for each health check run. Milliseconds, default 2000, 1..=2000 (a probe of
    /// `/readyz` by a kubelet times out at 1-2 s, so a check may never take longer).
    #[serde(default = "default_check_timeout")]
    pub check_timeout_ms: u64,
    /// Liveness checks report ok for this long after start even when failing (the k8s
    /// `--livez-grace-period`). Seconds, default 0.
    #[serde(default)]
    pub livez_grace_period_seconds: f64,
    /// The event-loop heartbeat fails `/livez` when the runtime has not run it for this long.
    /// Milliseconds, default 5000, must exceed `heartbeat_interval_ms`.
    #[serde(default = "default_stall_threshold")]
    pub event_loop_stall_threshold_ms: u64,
    /// How often the heartbeat task ticks. Milliseconds, default 100.
    #[serde(default = "default_heartbeat_interval")]
    pub heartbeat_interval_ms: u64,
}

fn default_check_timeout() -> u64 {
    2000
}
fn default_stall_threshold() -> u64 {
    5000
}
fn default_heartbeat_interval() -> u64 {
    100
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            check_timeout_ms: default_check_timeout(),
            livez_grace_period_seconds: 0.0,
            event_loop_stall_threshold_ms: default_stall_threshold(),
            heartbeat_interval_ms: default_heartbeat_interval(),
        }
    }
}

/// Maintenance mode as configured. The admin API can change it at run time.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Start in maintenance: `/readyz` fails with the reason. Default `false`.
    #[serde(default)]
    pub enabled: bool,
    /// Reason reported by `/readyz/maintenance` and the admin API. Default empty.
    #[serde(default)]
    pub reason: String,
}

/// Where the fleet inventory comes from. For now the nodes, zones and services live in this
/// file as arrays of tables (`[[inventory.nodes]]`, `[[inventory.zones]]`,
/// `[[inventory.services]]`, each element as documented on `switchyard_route::NodeSpec`,
/// `ZoneSpec` and `ServiceSpec`); the coverage zones live in a Traffic Router coverage-zone
/// JSON or a `cidr,zone` CSV.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryConfig {
    /// Coverage zone file (Traffic Router CZF JSON, or CSV `cidr,zone` when the name ends in
    /// `.csv`). Relative paths are resolved against the config file's folder. Default: none.
    #[serde(default)]
    pub coverage_zones_file: Option<PathBuf>,
    /// A separate fleet file with `[[nodes]]`, `[[zones]]` and `[[services]]` at its top
    /// level, for fleets too large to keep in this file: it is read after the listeners are
    /// bound, so `/livez` answers at once however large it is. Relative to this file's
    /// folder. Use it or the inline arrays, not both. Default: none.
    #[serde(default)]
    pub fleet_file: Option<PathBuf>,
    /// MaxMind GeoIP2/GeoLite2 City database used when the coverage zones do not match a
    /// client. Relative to the config file's folder. Default: none.
    #[serde(default)]
    pub geoip_file: Option<PathBuf>,
    /// Nodes, zones and services, read from the arrays of tables named above.
    #[serde(skip)]
    pub fleet: FleetSpec,
}

impl Config {
    /// Checks everything serde cannot: ranges, cross-references, files that must exist. Every
    /// problem is reported, each with the dotted path of the key it concerns.
    pub fn validate(&self, base_dir: &std::path::Path) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut bad = |path: &str, message: String| problems.push(Problem::at(path, message));

        let lc = &self.lifecycle;
        if !lc.shutdown_delay_seconds.is_finite() || lc.shutdown_delay_seconds < 0.0 {
            bad("lifecycle.shutdown_delay_seconds", "must be a number of seconds >= 0".into());
        }
        if !lc.drain_timeout_seconds.is_finite() || lc.drain_timeout_seconds <= 0.0 {
            bad("lifecycle.drain_timeout_seconds", "must be a number of seconds > 0".into());
        }

        let h = &self.health;
        if h.check_timeout_ms == 0 || h.check_timeout_ms > 2000 {
            bad(
                "health.check_timeout_ms",
                format!("{} is out of range 1..=2000", h.check_timeout_ms),
            );
        }
        if !h.livez_grace_period_seconds.is_finite() || h.livez_grace_period_seconds < 0.0 {
            bad("health.livez_grace_period_seconds", "must be a number of seconds >= 0".into());
        }
        if h.heartbeat_interval_ms == 0 {
            bad("health.heartbeat_interval_ms", "must be > 0".into());
        }
        if h.event_loop_stall_threshold_ms <= h.heartbeat_interval_ms {
            bad(
                "health.event_loop_stall_threshold_ms",
                format!(
                    "{} must be greater than health.heartbeat_interval_ms ({})",
                    h.event_loop_stall_threshold_ms, h.heartbeat_interval_ms
                ),
            );
        }

        let l = &self.listen;
        let listeners = [
            ("listen.admin", Some(l.admin)),
            ("listen.http", l.http),
            ("listen.dns", l.dns),
            ("listen.grpc_health", l.grpc_health),
        ];
        for (i, (name, addr)) in listeners.iter().enumerate() {
            let Some(addr) = addr else { continue };
            let clash = listeners[..i].iter().find(|(_, other)| *other == Some(*addr));
            if let (Some((other, _)), true) = (clash, addr.port() != 0) {
                bad(name, format!("{addr} is already used by {other}"));
            }
        }

        if let Some(file) = &self.admin.token_file {
            let path = base_dir.join(file);
            if !path.is_file() {
                bad(
                    "admin.token_file",
                    format!("{} does not exist or is not a file", path.display()),
                );
            }
        }
        let inv = &self.inventory;
        let inline = !(inv.fleet.nodes.is_empty()
            && inv.fleet.zones.is_empty()
            && inv.fleet.services.is_empty());
        if inv.fleet_file.is_some() && inline {
            bad(
                "inventory.fleet_file",
                "set, but [[inventory.nodes]], zones or services are also given: use one".into(),
            );
        }
        for (key, file) in [
            ("inventory.fleet_file", &self.inventory.fleet_file),
            ("inventory.coverage_zones_file", &self.inventory.coverage_zones_file),
            ("inventory.geoip_file", &self.inventory.geoip_file),
        ] {
            if let Some(file) = file {
                let path = base_dir.join(file);
                if !path.is_file() {
                    bad(key, format!("{} does not exist or is not a file", path.display()));
                }
            }
        }
        problems.extend(self.probe.validate());
        problems.extend(self.http.validate("http"));
        problems.extend(self.dns.validate("dns"));
        if let Err(errors) = self.inventory.fleet.validate() {
            for e in errors {
                problems.push(Problem::at(format!("inventory.{}", e.path), e.message));
            }
        }
        problems
    }
}
