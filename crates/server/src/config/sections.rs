//! The typed sections of `switchyard.toml` and the [`Config`] that composes them: the
//! server's own (listeners, admin access, lifecycle, maintenance) beside the sections each
//! crate owns (`[health]`, `[inventory]`, `[probe]`) and the front ends' (`[http]`, `[dns]`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use serde::{Deserialize, Serialize};
use switchyard_config::{Problem, Problems};
use switchyard_fleet::InventoryConfig;
use switchyard_fleet::etcd::EtcdConfig;
use switchyard_health::HealthConfig;
use switchyard_probe::ProbeConfig;

use super::telemetry::TelemetryConfig;
use crate::dns::DnsConfig;
use crate::tls::TlsConfig;
use crate::traffic::TrafficConfig;

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
    pub probe: ProbeConfig,
    /// The HTTP traffic front end (route API, HTTPDNS, redirects, admission control).
    #[serde(default)]
    pub http: TrafficConfig,
    /// The authoritative DNS front end.
    #[serde(default)]
    pub dns: DnsConfig,
    /// Traces exported over OTLP (off unless an endpoint is set).
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

/// Listener overrides given on the command line (`serve`, `demo`); they win over the file's
/// values at start and on every reload.
#[derive(Debug, Clone, Default, Args)]
pub struct ListenOverrides {
    /// Admin listener address (overrides `listen.admin`).
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// HTTP traffic listener address (overrides `listen.http`).
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// HTTPS traffic listener address (overrides `listen.https`; needs `[http.tls]`).
    #[arg(long, value_name = "ADDR")]
    pub https_listen: Option<SocketAddr>,
    /// DNS listener address, UDP and TCP (overrides `listen.dns`).
    #[arg(long, value_name = "ADDR")]
    pub dns_listen: Option<SocketAddr>,
}

impl ListenOverrides {
    /// Applies the overrides over the file's values.
    pub fn apply(&self, config: &mut Config) {
        if let Some(a) = self.admin_listen {
            config.listen.admin = a;
        }
        if let Some(a) = self.http_listen {
            config.listen.http = Some(a);
        }
        if let Some(a) = self.https_listen {
            config.listen.https = Some(a);
        }
        if let Some(a) = self.dns_listen {
            config.listen.dns = Some(a);
        }
    }
}

/// Distributed-mode flags of `serve`: take the inventory from etcd without editing the
/// file. They win over `[inventory.etcd]` at start and on every reload.
#[derive(Debug, Clone, Default, Args)]
pub struct EtcdOverrides {
    /// etcd client URLs, comma-separated: the inventory, operator states and health verdicts
    /// are shared through this etcd cluster (sets `inventory.etcd.endpoints`).
    #[arg(long, value_name = "URL[,URL]", value_delimiter = ',')]
    pub etcd: Option<Vec<String>>,
    /// Key prefix in etcd (sets `inventory.etcd.prefix`; default `/switchyard/`).
    #[arg(long, value_name = "PREFIX", requires = "etcd")]
    pub etcd_prefix: Option<String>,
    /// This instance's id among the members (sets `inventory.etcd.instance_id`; default the
    /// host name).
    #[arg(long, value_name = "ID")]
    pub instance_id: Option<String>,
}

impl EtcdOverrides {
    /// Whether any flag is given.
    pub fn is_set(&self) -> bool {
        self.etcd.is_some() || self.etcd_prefix.is_some() || self.instance_id.is_some()
    }

    /// Applies the flags over the file's `[inventory.etcd]` (creating it for `--etcd`).
    pub fn apply(&self, config: &mut Config) {
        if let Some(urls) = &self.etcd {
            match &mut config.inventory.etcd {
                Some(etcd) => etcd.endpoints = urls.clone(),
                None => config.inventory.etcd = Some(EtcdConfig::new(urls.clone())),
            }
        }
        if let Some(etcd) = &mut config.inventory.etcd {
            if let Some(prefix) = &self.etcd_prefix {
                etcd.prefix = prefix.clone();
            }
            if let Some(id) = &self.instance_id {
                etcd.instance_id = Some(id.clone());
            }
        }
    }
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
    /// HTTPS traffic listener: the same front end over TLS, with the certificates of
    /// `[http.tls]` (required with it). Default: not started.
    #[serde(default)]
    pub https: Option<SocketAddr>,
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
        Self {
            admin: default_admin_listen(),
            http: None,
            https: None,
            dns: None,
            grpc_health: None,
        }
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
    /// File every admin mutation is appended to as one JSON object per line (besides the log
    /// event with target `switchyard::audit`). Opened in append mode at start; a path that
    /// cannot be opened stops the start. Read at start only. Default: none.
    #[serde(default)]
    pub audit_file: Option<PathBuf>,
    /// TLS on the admin listener: with it, the admin listener speaks HTTPS only (health
    /// endpoints, metrics and the API alike). Certificates reload with the configuration.
    /// Default: none (plain HTTP).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { token_file: None, mutations_enabled: true, audit_file: None, tls: None }
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

/// Maintenance mode as configured. The admin API can change it at run time.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Start in maintenance: `/readyz` fails with the reason. Default `false`.
    #[serde(default)]
    pub enabled: bool,
    /// Reason reported by `/readyz/maintenance` and the admin API. Default empty.
    #[serde(default)]
    pub reason: String,
}

impl Config {
    /// Checks everything serde cannot: ranges, cross-references, files that must exist. Every
    /// problem is reported, each with the dotted path of the key it concerns.
    pub fn validate(&self, base_dir: &std::path::Path) -> Vec<Problem> {
        let mut p = Problems::new("");
        let lc = &self.lifecycle;
        if !lc.shutdown_delay_seconds.is_finite() || lc.shutdown_delay_seconds < 0.0 {
            p.push("lifecycle.shutdown_delay_seconds", "must be a number of seconds >= 0");
        }
        if !lc.drain_timeout_seconds.is_finite() || lc.drain_timeout_seconds <= 0.0 {
            p.push("lifecycle.drain_timeout_seconds", "must be a number of seconds > 0");
        }
        p.extend(self.health.validate("health"));

        let l = &self.listen;
        let listeners = [
            ("listen.admin", Some(l.admin)),
            ("listen.http", l.http),
            ("listen.https", l.https),
            ("listen.dns", l.dns),
            ("listen.grpc_health", l.grpc_health),
        ];
        for (i, (name, addr)) in listeners.iter().enumerate() {
            let Some(addr) = addr else { continue };
            let clash = listeners[..i].iter().find(|(_, other)| *other == Some(*addr));
            if let (Some((other, _)), true) = (clash, addr.port() != 0) {
                p.push(name, format!("{addr} is already used by {other}"));
            }
        }

        if let Some(file) = &self.admin.token_file {
            let path = base_dir.join(file);
            if !path.is_file() {
                p.push(
                    "admin.token_file",
                    format!("{} does not exist or is not a file", path.display()),
                );
            }
        }
        if let Some(file) = &self.admin.audit_file {
            p.extend(audit_file_problems(&base_dir.join(file)));
        }
        if let Some(tls) = &self.admin.tls {
            p.extend(crate::tls::validate(tls, "admin.tls", base_dir, false));
        }
        if l.https.is_some() && self.http.tls.is_none() {
            p.push("listen.https", "needs [http.tls]: the certificates to serve");
        }
        if let Some(tls) = &self.http.tls {
            p.extend(crate::tls::validate(tls, "http.tls", base_dir, true));
        }
        let mut problems = p.into_vec();
        let inventory = self.inventory.validate("inventory", base_dir);
        // The inline fleet's cross-references come last, as they always have.
        let (files, fleet): (Vec<_>, Vec<_>) =
            inventory.into_iter().partition(|p| !is_fleet_path(&p.path));
        problems.extend(files);
        problems.extend(self.probe.validate("probe"));
        problems.extend(self.http.validate("http"));
        problems.extend(self.dns.validate("dns"));
        problems.extend(self.telemetry.validate("telemetry"));
        problems.extend(fleet);
        problems
    }
}

/// What keeps `admin.audit_file` from being opened for appending, short of opening it
/// (`check-config` creates no file; `serve` opens it and reports the error it gets).
fn audit_file_problems(path: &std::path::Path) -> Vec<Problem> {
    const KEY: &str = "admin.audit_file";
    let mut p = Problems::new("");
    if path.is_dir() {
        p.push(KEY, format!("{} is a folder, not a file", path.display()));
        return p.into_vec();
    }
    let parent = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        p.push(KEY, format!("the folder {} does not exist", parent.display()));
        return p.into_vec();
    }
    let (target, what) = if path.exists() { (path, "file") } else { (parent, "folder") };
    if !writable(target) {
        p.push(KEY, format!("the {what} {} is not writable", target.display()));
    }
    p.into_vec()
}

/// Whether this process may write `path`, as the kernel judges it (`access(2)`, W_OK).
fn writable(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Whether `path` is inside the inline fleet arrays.
fn is_fleet_path(path: &str) -> bool {
    ["inventory.nodes", "inventory.zones", "inventory.services"]
        .iter()
        .any(|a| path.strip_prefix(a).is_some_and(|r| r.is_empty() || r.starts_with(['.', '['])))
}
