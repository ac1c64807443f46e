//! `[inventory.etcd]`: where the etcd cluster is, how to authenticate, and how the instances
//! share the work.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_config::{Problem, Problems};

use crate::cluster::MergePolicy;

/// The environment variable that carries the etcd password; it wins over `password_file`.
pub const PASSWORD_ENV: &str = "SWITCHYARD_ETCD_PASSWORD";

/// Settings of the etcd inventory source. Only `endpoints` is required.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// Client URLs of the etcd cluster, e.g. `["http://10.0.0.1:2379"]`; `https://` when
    /// `ca_file` is set. Required.
    pub endpoints: Vec<String>,
    /// Key prefix everything lives under. Must start and end with `/`. Default
    /// `/switchyard/`.
    #[serde(default = "d_prefix")]
    pub prefix: String,
    /// This instance's id among the members (`members/<id>`, `health/<node>/<id>`). Default:
    /// the host name. `serve --instance-id` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// User name for etcd authentication. Default: none (no authentication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// File holding the password (surrounding whitespace trimmed); `SWITCHYARD_ETCD_PASSWORD`
    /// wins over it. Never printed. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA certificates that sign the etcd servers' certificates; turns TLS
    /// on. Default: none (plain HTTP/2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with `key_file`). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Time to establish a connection, ms. Default 2000.
    #[serde(default = "d_dial")]
    pub dial_timeout_ms: u64,
    /// Time limit of each request (reads, writes, lease grants), ms. Default 5000.
    #[serde(default = "d_request")]
    pub request_timeout_ms: u64,
    /// File where the last inventory read from etcd is kept, so an instance started while
    /// etcd is unreachable serves what it last knew. Relative to the configuration file.
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_file: Option<PathBuf>,
    /// Readiness shows the inventory as stale after this long without contact with etcd,
    /// seconds. Default 30.
    #[serde(default = "d_stale")]
    pub stale_after_seconds: u64,
    /// Fail readiness (rather than only show it) when the inventory is stale. Default
    /// false: an instance never leaves rotation because etcd blinked.
    #[serde(default)]
    pub fail_readiness_when_stale: bool,
    /// A burst of changes is applied as one routing-table rebuild once no change has come
    /// for this long, ms. Default 100.
    #[serde(default = "d_debounce")]
    pub debounce_ms: u64,
    /// ... but never later than this after the first change of the burst, ms. Default 1000.
    #[serde(default = "d_max_delay")]
    pub max_delay_ms: u64,
    /// Watch responses queued between the stream and the applier; a full queue slows the
    /// stream down (etcd keeps the events), it never drops them. Default 1024.
    #[serde(default = "d_queue")]
    pub queue_capacity: usize,
    /// Time to live of this instance's membership lease, seconds: a member that stops is
    /// gone, and its share of the probing moves, this long after. Default 10.
    #[serde(default = "d_ttl")]
    pub member_ttl_seconds: u64,
    /// How many live members probe each node (rendezvous hashing of the node id over the
    /// members); 0 = every instance probes every node. Default 2.
    #[serde(default = "d_replicas")]
    pub replicas: usize,
    /// How the verdicts of a node's probers combine: `majority`, `optimistic` (up if any
    /// prober says up, like Traffic Monitor) or `pessimistic`. Default `majority`.
    #[serde(default)]
    pub merge: MergePolicy,
}

fn d_prefix() -> String {
    "/switchyard/".to_owned()
}
fn d_dial() -> u64 {
    2000
}
fn d_request() -> u64 {
    5000
}
fn d_stale() -> u64 {
    30
}
fn d_debounce() -> u64 {
    100
}
fn d_max_delay() -> u64 {
    1000
}
fn d_queue() -> usize {
    1024
}
fn d_ttl() -> u64 {
    10
}
fn d_replicas() -> usize {
    2
}

impl EtcdConfig {
    /// Settings for `endpoints` with every default.
    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            prefix: d_prefix(),
            instance_id: None,
            username: None,
            password_file: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            dial_timeout_ms: d_dial(),
            request_timeout_ms: d_request(),
            cache_file: None,
            stale_after_seconds: d_stale(),
            fail_readiness_when_stale: false,
            debounce_ms: d_debounce(),
            max_delay_ms: d_max_delay(),
            queue_capacity: d_queue(),
            member_ttl_seconds: d_ttl(),
            replicas: d_replicas(),
            merge: MergePolicy::default(),
        }
    }

    /// Every problem, paths under `at` (`inventory.etcd`); files resolve against `base_dir`.
    pub fn validate(&self, at: &str, base_dir: &Path) -> Vec<Problem> {
        let mut p = Problems::new(at);
        if self.endpoints.is_empty() {
            p.push("endpoints", "at least one etcd client URL is required");
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            if let Err(why) = check_endpoint(e, self.ca_file.is_some()) {
                p.push(&format!("endpoints[{i}]"), format!("{e:?} {why}"));
            }
        }
        if !self.prefix.starts_with('/') || !self.prefix.ends_with('/') || self.prefix.len() < 2 {
            p.push(
                "prefix",
                format!("{:?} must start and end with `/`, e.g. /switchyard/", self.prefix),
            );
        }
        if let Some(id) = &self.instance_id
            && let Err(why) = check_instance_id(id)
        {
            p.push("instance_id", why);
        }
        for (key, file) in [
            ("password_file", &self.password_file),
            ("ca_file", &self.ca_file),
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
        ] {
            if let Some(f) = file
                && !base_dir.join(f).is_file()
            {
                p.push(
                    key,
                    format!("{} does not exist or is not a file", base_dir.join(f).display()),
                );
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            p.push("cert_file", "cert_file and key_file go together: set both or neither");
        }
        if self.password_file.is_some() && self.username.is_none() {
            p.push("username", "a password is given but no user name");
        }
        if self.dial_timeout_ms == 0 || self.dial_timeout_ms > 60_000 {
            p.push("dial_timeout_ms", "must be between 1 and 60000");
        }
        if self.request_timeout_ms == 0 || self.request_timeout_ms > 60_000 {
            p.push("request_timeout_ms", "must be between 1 and 60000");
        }
        if self.stale_after_seconds == 0 {
            p.push("stale_after_seconds", "must be at least 1");
        }
        if self.debounce_ms > 10_000 {
            p.push("debounce_ms", "must be at most 10000");
        }
        if self.max_delay_ms < self.debounce_ms {
            p.push("max_delay_ms", "must be at least debounce_ms");
        }
        if self.queue_capacity == 0 || self.queue_capacity > 1 << 20 {
            p.push("queue_capacity", "must be between 1 and 1048576");
        }
        if !(2..=3600).contains(&self.member_ttl_seconds) {
            p.push("member_ttl_seconds", "must be between 2 and 3600");
        }
        p.into_vec()
    }

    /// The instance id: the configured one, else the host name.
    pub fn instance(&self) -> String {
        self.instance_id.clone().unwrap_or_else(hostname)
    }

    /// Dial timeout.
    pub fn dial_timeout(&self) -> Duration {
        Duration::from_millis(self.dial_timeout_ms)
    }

    /// Request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Why an instance id cannot be used as a key segment.
pub fn check_instance_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err("must be 1 to 128 characters".to_owned());
    }
    if id.contains('/') || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{id:?} must not contain `/`, spaces or control characters"));
    }
    Ok(())
}

fn check_endpoint(e: &str, tls: bool) -> Result<(), String> {
    let (scheme, rest) = match e.split_once("://") {
        Some(x) => x,
        None => ("", e),
    };
    match scheme {
        "" | "http" | "https" => {}
        other => return Err(format!("has scheme {other:?}; use http:// or https://")),
    }
    if scheme == "https" && !tls {
        return Err("is https but no ca_file is set".to_owned());
    }
    let hostport = rest.trim_end_matches('/');
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return Err("needs a port, e.g. http://127.0.0.1:2379".to_owned());
    };
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err("is not host:port with a port from 1 to 65535".to_owned());
    }
    Ok(())
}

/// The host name, or `switchyard` if it cannot be read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "switchyard".to_owned())
}

/// The etcd password: the environment variable, else the file. Never printed.
#[derive(Clone)]
pub struct Password(pub(crate) String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// Loads the password as configured; `None` without one.
    pub fn load(
        config: &EtcdConfig,
        base_dir: &Path,
        env: Option<String>,
    ) -> Result<Option<Self>, String> {
        if let Some(v) = env {
            let v = v.trim().to_owned();
            return if v.is_empty() {
                Err(format!("{PASSWORD_ENV} is set but empty"))
            } else {
                Ok(Some(Self(v)))
            };
        }
        let Some(file) = &config.password_file else { return Ok(None) };
        let path = base_dir.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("inventory.etcd.password_file {}: {e}", path.display()))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(format!("inventory.etcd.password_file {} is empty", path.display()));
        }
        Ok(Some(Self(text.to_owned())))
    }
}
