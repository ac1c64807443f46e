//! What one probe found: verdict, tier reached, failure cause and per-phase latency.

use std::time::Duration;

/// The verdict of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The service answered as expected.
    Pass,
    /// The service answered but flagged itself degraded (header, certificate close to expiry).
    Degraded,
    /// The probe failed; see [`ProbeOutcome::cause`].
    Fail,
}

impl Verdict {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Degraded => "degraded",
            Verdict::Fail => "fail",
        }
    }
}

/// How far up the stack a probe got: L1 = TCP reachable, L2 = protocol handshake (TLS, HTTP
/// response head, DNS reply, HTTP/2 session), L3 = the service's answer was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Tier {
    /// Nothing reached.
    #[default]
    None,
    /// TCP connection established (or UDP datagram sent).
    L1Tcp,
    /// Protocol handshake completed.
    L2Handshake,
    /// The service answer was received and evaluated.
    L3Service,
}

impl Tier {
    /// The name used in the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::None => "None",
            Tier::L1Tcp => "L1Tcp",
            Tier::L2Handshake => "L2Handshake",
            Tier::L3Service => "L3Service",
        }
    }
}

/// Why a probe failed. Values the caller acts on, never error strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCause {
    /// The total probe timeout elapsed.
    Timeout,
    /// The connect timeout elapsed before TCP was established.
    ConnectTimeout,
    /// The connection was refused (nothing listening; ICMP port unreachable for UDP).
    Refused,
    /// The peer reset the connection.
    Reset,
    /// The peer closed the connection before answering.
    Closed,
    /// No route / network unreachable / address not available locally.
    Unreachable,
    /// Another socket error.
    Io,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The certificate expires within `expiry_down_days`.
    CertExpiring,
    /// The HTTP status (or DNS RCODE, gRPC status) was not an expected one.
    BadStatus,
    /// A body rule did not hold.
    BodyMismatch,
    /// A header rule did not hold.
    HeaderMismatch,
    /// The peer did not speak the protocol (unparsable answer).
    Protocol,
    /// gRPC health said NOT_SERVING / SERVICE_UNKNOWN.
    NotServing,
    /// The DNS answer section did not hold the expected records.
    DnsAnswer,
    /// The TCP banner did not match `expect`.
    ExpectMismatch,
    /// The agent check itself reported the node down (only for `kind = "agent"` targets).
    AgentDown,
    /// A measured value (SNMP utilization or load) crossed its down threshold.
    Threshold,
    /// Authentication or community rejected (SNMPv3 USM failures).
    Auth,
}

impl FailureCause {
    /// Number of causes; [`FailureCause::index`] is below it.
    pub(crate) const COUNT: usize = FailureCause::Auth as usize + 1;

    /// Dense index of the cause, for per-cause tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Label value for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::Timeout => "timeout",
            FailureCause::ConnectTimeout => "connect_timeout",
            FailureCause::Refused => "refused",
            FailureCause::Reset => "reset",
            FailureCause::Closed => "closed",
            FailureCause::Unreachable => "unreachable",
            FailureCause::Io => "io",
            FailureCause::Tls => "tls",
            FailureCause::CertExpiring => "cert_expiring",
            FailureCause::BadStatus => "bad_status",
            FailureCause::BodyMismatch => "body_mismatch",
            FailureCause::HeaderMismatch => "header_mismatch",
            FailureCause::Protocol => "protocol",
            FailureCause::NotServing => "not_serving",
            FailureCause::DnsAnswer => "dns_answer",
            FailureCause::ExpectMismatch => "expect_mismatch",
            FailureCause::AgentDown => "agent_down",
            FailureCause::Threshold => "threshold",
            FailureCause::Auth => "auth",
        }
    }

    /// Classifies a socket error.
    pub fn from_io(e: &std::io::Error) -> FailureCause {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => FailureCause::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => FailureCause::Reset,
            K::UnexpectedEof => FailureCause::Closed,
            K::TimedOut => FailureCause::Timeout,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
                FailureCause::Unreachable
            }
            K::InvalidData => FailureCause::Protocol,
            _ => FailureCause::Io,
        }
    }
}

/// Latency of each phase, measured from the probe start; `None` when the phase was not reached
/// or does not exist for the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Phases {
    /// TCP connect (zero for a reused keep-alive connection).
    pub connect: Option<Duration>,
    /// TLS handshake.
    pub tls: Option<Duration>,
    /// Time to the first byte of the answer.
    pub first_byte: Option<Duration>,
    /// Whole probe.
    pub total: Duration,
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// Pass, degraded or fail.
    pub verdict: Verdict,
    /// Highest tier reached.
    pub tier: Tier,
    /// Why it failed (`None` unless the verdict is [`Verdict::Fail`]).
    pub cause: Option<FailureCause>,
    /// Latency by phase.
    pub phases: Phases,
    /// HTTP status, DNS RCODE or gRPC serving status, when one was received.
    pub status: Option<u16>,
    /// The status is configured to mark the node down at once, bypassing `fall`.
    pub immediate_down: bool,
    /// Whole days until the peer certificate expires (TLS and HTTPS).
    pub cert_days_left: Option<i64>,
    /// An agent-check reply received with this probe.
    pub agent: Option<AgentReply>,
    /// A keep-alive connection was reused.
    pub reused_connection: bool,
    /// Interface utilization, max(in, out) / speed (SNMP).
    pub utilization: Option<f64>,
    /// 1-minute load average (SNMP laLoad).
    pub load_average: Option<f64>,
    /// Why the verdict is degraded (`None` unless it is [`Verdict::Degraded`]).
    pub degraded_by: Option<DegradedCause>,
    /// SNMP replies the probe's client dropped since the last probe of the same spec
    /// reported, by reason (forged or damaged v3 replies among them). Counted into
    /// `switchyard_snmp_replies_dropped_total`.
    pub snmp_dropped: SnmpDrops,
}

/// SNMP replies dropped by the client, by reason: the manager's side of an agent's
/// usmStatsWrongDigests, usmStatsDecryptionErrors and snmpInASNParseErrs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnmpDrops {
    /// v3 replies whose digest (HMAC) did not verify: forged, damaged, or keyed with another
    /// authentication pass phrase.
    pub wrong_digest: u64,
    /// v3 replies that authenticated but did not decrypt.
    pub decryption: u64,
    /// Other v3 replies refused by security processing (level, user, time window).
    pub security: u64,
    /// Replies that were not a decodable SNMP message.
    pub parse: u64,
}

impl SnmpDrops {
    /// Label values of `switchyard_snmp_replies_dropped_total{reason}`, with the counts.
    pub fn by_reason(&self) -> [(&'static str, u64); 4] {
        [
            ("wrong_digest", self.wrong_digest),
            ("decryption", self.decryption),
            ("security", self.security),
            ("parse", self.parse),
        ]
    }

    /// Whether nothing was dropped.
    pub fn is_empty(&self) -> bool {
        self.by_reason().iter().all(|(_, n)| *n == 0)
    }
}

/// Why a probe that passed judged its node degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DegradedCause {
    /// The HTTP degraded header (`x-switchyard-degraded` by default) was set.
    Header,
    /// The certificate expires within the degraded threshold.
    CertExpiring,
    /// Interface utilization at or above `utilization_degraded`.
    Utilization,
    /// Load average at or above `load_degraded`.
    Load,
}

impl DegradedCause {
    /// Label value for logs and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            DegradedCause::Header => "degraded_header",
            DegradedCause::CertExpiring => "cert_expiring",
            DegradedCause::Utilization => "utilization",
            DegradedCause::Load => "load",
        }
    }
}

impl ProbeOutcome {
    pub(crate) fn new() -> Self {
        ProbeOutcome {
            verdict: Verdict::Fail,
            tier: Tier::None,
            cause: None,
            phases: Phases::default(),
            status: None,
            immediate_down: false,
            cert_days_left: None,
            agent: None,
            reused_connection: false,
            utilization: None,
            load_average: None,
            degraded_by: None,
            snmp_dropped: SnmpDrops::default(),
        }
    }

    /// Marks the outcome failed with `cause`.
    pub(crate) fn fail(&mut self, cause: FailureCause) {
        self.verdict = Verdict::Fail;
        self.cause = Some(cause);
    }

    /// Marks the outcome passed at L3, degraded when `degraded_by` says why.
    pub(crate) fn pass(&mut self, degraded_by: Option<DegradedCause>) {
        self.tier = Tier::L3Service;
        self.verdict = if degraded_by.is_some() { Verdict::Degraded } else { Verdict::Pass };
        self.degraded_by = degraded_by;
        self.cause = None;
    }

    /// True for pass and degraded.
    pub fn is_success(&self) -> bool {
        self.verdict != Verdict::Fail
    }
}

/// Administrative or operational state an agent can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AgentState {
    /// `up` / `ready`: clears a previous agent down, drain or maint.
    Up,
    /// `down` / `fail` / `stopped`: the node is down whatever the main check says.
    Down,
    /// `drain`: keep serving existing clients, send no new ones (weight 0).
    Drain,
    /// `maint`: the node is in maintenance (down, and not counted as failed).
    Maint,
}

/// A parsed agent reply. Absent fields were not in the reply and leave the previous value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentReply {
    /// State word, if any.
    pub state: Option<AgentState>,
    /// `N%` or `weight:N%`: weight relative to the configured one, percent.
    pub weight_percent: Option<u16>,
    /// `maxconn:N`.
    pub maxconn: Option<u32>,
    /// Text after `#`, trimmed, at most 64 bytes.
    pub reason: Option<String>,
}
