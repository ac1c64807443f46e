//! Probe configuration: what to check on a node and how often. Embedded by the server in its
//! TOML config, so every struct denies unknown fields and [`ProbeSpec::validate`] reports every
//! problem at once with its path.

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_config::{Problem, Problems};

pub use crate::kind::agent::AgentCheck;
pub use crate::kind::dns::DnsCheck;
pub use crate::kind::grpc::GrpcCheck;
pub use crate::kind::http::{HttpCheck, StatusRange};
use crate::kind::regex_problem;
pub use crate::kind::snmp::SnmpCheck;
pub use crate::kind::tcp::TcpCheck;
pub use crate::kind::tls::{TlsCheck, TlsClient};

/// Starting state of a node before its first probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum InitialState {
    /// Unknown until the first probe: the first result decides, like Envoy for new hosts.
    #[default]
    Unknown,
    /// Assumed up; `fall` failures take it down (HAProxy's default for configured servers).
    Up,
    /// Assumed down; `rise` successes bring it up.
    Down,
}

/// How one node is probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSpec {
    /// The check: `kind` plus its settings.
    pub check: Check,
    /// Optional HAProxy-style agent check run with every round; its reply can mark the node
    /// down, drain or maint and set a weight (see `health` for the precedence). Its `port` is
    /// required, as the node's port belongs to the main check. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentCheck>,
    /// An SNMP reading beside the main check (same fields as the `snmp` kind): interface
    /// utilization and load average feed load-aware routing, and their thresholds make the
    /// node degraded or down, while the main check decides whether the node answers. An agent
    /// that gives no reading by the deadline changes nothing, as an unreachable agent-check
    /// does. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpCheck>,
    /// Interval between probe starts while the node is stably up or degraded, ms. Default 2000.
    #[serde(default = "d_interval")]
    pub interval_ms: u64,
    /// Interval while the node is down, ms (HAProxy `downinter`). Default: `interval_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_interval_ms: Option<u64>,
    /// Interval while a transition is pending (some but not enough rise/fall results, or state
    /// unknown), ms (HAProxy `fastinter`). Default: `interval_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_interval_ms: Option<u64>,
    /// Total time budget of one probe, ms; must be below every interval. Default 1000.
    #[serde(default = "d_timeout")]
    pub timeout_ms: u64,
    /// Budget for the TCP connect alone, ms; at most `timeout_ms`. Default 500.
    #[serde(default = "d_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Consecutive successes that bring a down node up. Default 2.
    #[serde(default = "d_rise")]
    pub rise: u32,
    /// Consecutive failures that take an up node down. Default 3.
    #[serde(default = "d_fall")]
    pub fall: u32,
    /// State before the first probe. Default `unknown`.
    #[serde(default)]
    pub initial_state: InitialState,
    /// Random spread of each interval, percent (+/-), and of the first probe over one interval.
    /// Default 10.
    #[serde(default = "d_jitter")]
    pub jitter_percent: u8,
    /// Weight of the newest sample in the latency EWMA, 0 < w <= 1. Default 0.3.
    #[serde(default = "d_ewma")]
    pub latency_ewma_weight: f64,
    /// Latency charged to the EWMA for a failed probe, ms. Default: `timeout_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_penalty_ms: Option<u64>,
    /// Recent results kept per node for `/debug`. Default 10.
    #[serde(default = "d_history")]
    pub history_len: usize,
}

fn d_interval() -> u64 {
    2000
}
fn d_timeout() -> u64 {
    1000
}
fn d_connect_timeout() -> u64 {
    500
}
fn d_rise() -> u32 {
    2
}
fn d_fall() -> u32 {
    3
}
fn d_jitter() -> u8 {
    10
}
fn d_ewma() -> f64 {
    0.3
}
fn d_history() -> usize {
    10
}

impl ProbeSpec {
    /// A spec with every default around `check`.
    pub fn new(check: Check) -> Self {
        ProbeSpec {
            check,
            agent: None,
            snmp: None,
            interval_ms: d_interval(),
            down_interval_ms: None,
            transition_interval_ms: None,
            timeout_ms: d_timeout(),
            connect_timeout_ms: d_connect_timeout(),
            rise: d_rise(),
            fall: d_fall(),
            initial_state: InitialState::Unknown,
            jitter_percent: d_jitter(),
            latency_ewma_weight: d_ewma(),
            failure_penalty_ms: None,
            history_len: d_history(),
        }
    }

    /// Every problem in this spec, paths prefixed with `at` (e.g. `"services.web.probe"`).
    pub fn problems(&self, at: &str) -> Vec<Problem> {
        let mut p = Problems::new(at);
        for (name, v) in [
            ("interval_ms", Some(self.interval_ms)),
            ("down_interval_ms", self.down_interval_ms),
            ("transition_interval_ms", self.transition_interval_ms),
        ] {
            match v {
                Some(0) => p.push(name, "must be greater than 0"),
                Some(v) if v <= self.timeout_ms => p.push(
                    name,
                    format!("{v} ms must be greater than timeout_ms ({} ms)", self.timeout_ms),
                ),
                _ => {}
            }
        }
        if self.timeout_ms == 0 {
            p.push("timeout_ms", "must be greater than 0");
        }
        if self.connect_timeout_ms == 0 || self.connect_timeout_ms > self.timeout_ms {
            p.push("connect_timeout_ms", "must be between 1 and timeout_ms");
        }
        if self.rise == 0 {
            p.push("rise", "must be at least 1");
        }
        if self.fall == 0 {
            p.push("fall", "must be at least 1");
        }
        if self.jitter_percent > 50 {
            p.push("jitter_percent", "must be at most 50");
        }
        if !(self.latency_ewma_weight > 0.0 && self.latency_ewma_weight <= 1.0) {
            p.push("latency_ewma_weight", "must be in (0, 1]");
        }
        if self.history_len > 1000 {
            p.push("history_len", "must be at most 1000");
        }
        let mut cp = p.section("check");
        self.check.problems(&mut cp);
        p.merge(cp);
        if let Some(agent) = &self.agent {
            let mut ap = p.section("agent");
            agent.problems(&mut ap);
            // Only the agent-only kind may share the node's port with its agent; beside any
            // other check that port answers the main check, not the agent.
            if agent.port.is_none() && !matches!(self.check, Check::Agent(_)) {
                ap.push(
                    "port",
                    format!(
                        "is required beside a {} check: the agent listens on its own port, like \
                         HAProxy's agent-port, and the node's port serves the main check",
                        self.check.kind_str()
                    ),
                );
            }
            p.merge(ap);
        }
        if let Some(snmp) = &self.snmp {
            if matches!(self.check, Check::Snmp(_)) {
                p.push("snmp", "the main check already reads SNMP: drop one of the two");
            }
            let mut sp = p.section("snmp");
            snmp.problems(&mut sp);
            p.merge(sp);
        }
        p.into_vec()
    }

    /// Checks the spec; every problem is reported, not only the first.
    pub fn validate(&self) -> Result<(), crate::error::ProbeError> {
        let problems = self.problems("");
        if problems.is_empty() { Ok(()) } else { Err(crate::error::ProbeError::Invalid(problems)) }
    }

    /// Interval while stably up or degraded.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Interval while down.
    pub fn down_interval(&self) -> Duration {
        Duration::from_millis(self.down_interval_ms.unwrap_or(self.interval_ms))
    }

    /// Interval while a transition is pending.
    pub fn transition_interval(&self) -> Duration {
        Duration::from_millis(self.transition_interval_ms.unwrap_or(self.interval_ms))
    }

    /// Total probe budget.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// TCP connect budget.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// Latency charged for a failure.
    pub fn failure_penalty(&self) -> Duration {
        Duration::from_millis(self.failure_penalty_ms.unwrap_or(self.timeout_ms))
    }
}

/// What to check, selected by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
// Built once per configured service and shared behind `Arc<ProbeSpec>`: size does not matter,
// plain variants keep TOML-to-struct construction simple.
#[allow(clippy::large_enum_variant)]
pub enum Check {
    /// TCP connect, optionally send a line and match the reply.
    Tcp(TcpCheck),
    /// TLS handshake with SNI/ALPN and certificate expiry thresholds.
    Tls(TlsCheck),
    /// HTTP/1.1 request, plain or over TLS.
    Http(HttpCheck),
    /// DNS query over UDP.
    Dns(DnsCheck),
    /// `grpc.health.v1.Health/Check` over HTTP/2, cleartext or TLS.
    Grpc(GrpcCheck),
    /// HAProxy agent-check as the only check.
    Agent(AgentCheck),
    /// SNMP interface utilization and load average.
    Snmp(SnmpCheck),
}

impl Check {
    /// Label value for metrics.
    pub fn kind_str(&self) -> &'static str {
        match self {
            Check::Tcp(_) => "tcp",
            Check::Tls(_) => "tls",
            Check::Http(h) if h.tls.is_some() => "https",
            Check::Http(_) => "http",
            Check::Dns(_) => "dns",
            Check::Grpc(g) if g.tls.is_some() => "grpcs",
            Check::Grpc(_) => "grpc",
            Check::Agent(_) => "agent",
            Check::Snmp(_) => "snmp",
        }
    }

    pub(crate) fn problems(&self, p: &mut Problems) {
        match self {
            Check::Tcp(c) => {
                if let Some(e) = &c.expect {
                    regex_problem(p, "expect", e);
                }
            }
            Check::Tls(c) => c.problems(p),
            Check::Http(c) => c.problems(p),
            Check::Dns(c) => c.problems(p),
            Check::Grpc(c) => c.problems(p),
            Check::Agent(c) => c.problems(p),
            Check::Snmp(c) => c.problems(p),
        }
    }
}
