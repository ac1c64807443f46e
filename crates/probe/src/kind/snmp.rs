//! `snmp`: interface utilization (IF-MIB octet counters over two probes, through the
//! `switchyard-snmp` interface-counter helper) and the 1-minute load average (UCD-SNMP-MIB
//! laLoad), judged against degraded/down thresholds, over v1, v2c or v3 (USM). The first probe
//! of a node only takes the counter baseline; utilization is known from the second probe on.

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use switchyard_snmp::client::ClientStats;
use switchyard_snmp::ifmib::{
    InterfacePoller, InterfaceSelector, RateCalculator, RateError, RateObservation,
};
use switchyard_snmp::{Client, RequestOptions, Security};

use crate::error::ProbeError;
use crate::outcome::{DegradedCause, FailureCause, ProbeOutcome, SnmpDrops, Tier};
use serde::{Deserialize, Serialize};
use switchyard_config::Problems;

/// `kind = "snmp"`: interface utilization and load average through SNMP v1, v2c or v3
/// (IF-MIB octet counters, UCD-SNMP-MIB laLoad).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpCheck {
    /// SNMP port on the node. Default 161.
    #[serde(default = "d_snmp_port")]
    pub port: u16,
    /// SNMP version: `"2c"`, `"3"` (USM) or `"1"`. Default `"2c"`.
    #[serde(default = "d_snmp_version")]
    pub version: String,
    /// v1/v2c community. Default `public`. Never printed.
    #[serde(default = "d_community")]
    pub community: String,
    /// v3 security name (USM user), required with version 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// v3 authentication protocol, net-snmp names: `MD5`, `SHA`, `SHA-224`, `SHA-256`,
    /// `SHA-384`, `SHA-512`. Default `SHA`.
    #[serde(default = "d_auth_protocol")]
    pub auth_protocol: String,
    /// v3 authentication pass phrase (at least 8 characters); without it the user is
    /// noAuthNoPriv. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    /// v3 privacy protocol, net-snmp names: `DES`, `AES` (128), `AES192`, `AES256`, `AES192C`,
    /// `AES256C`. Default `AES`.
    #[serde(default = "d_priv_protocol")]
    pub priv_protocol: String,
    /// v3 privacy pass phrase (at least 8 characters); with `auth_password` the user is
    /// authPriv. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_password: Option<String>,
    /// v3 context name (RFC 3411 contextName, at most 32 bytes), for agents that keep one MIB
    /// instance per context: a VRF, a bridge domain, a virtual device. Default none (the
    /// default context). net-snmp's `-n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_name: Option<String>,
    /// Interface to measure, by ifName (e.g. `eth0`). Default none (load only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    /// Interface to measure, by ifIndex; used when `interface` is not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_index: Option<u32>,
    /// Utilization (max(in, out) / speed, 0..1) at which the node is degraded. Default 0.85.
    #[serde(default = "d_util_degraded")]
    pub utilization_degraded: f64,
    /// Utilization at which the node is down. Default 0.98.
    #[serde(default = "d_util_down")]
    pub utilization_down: f64,
    /// 1-minute load average at which the node is degraded. Default none (not read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_degraded: Option<f64>,
    /// 1-minute load average at which the node is down. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_down: Option<f64>,
    /// Retransmissions within the probe timeout. Default 1.
    #[serde(default = "d_snmp_retries")]
    pub retries: u32,
}

impl std::fmt::Debug for SnmpCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnmpCheck")
            .field("port", &self.port)
            .field("version", &self.version)
            .field("community", &"<redacted>")
            .field("user", &self.user)
            .field("auth_protocol", &self.auth_protocol)
            .field("auth_password", &self.auth_password.as_ref().map(|_| "<redacted>"))
            .field("priv_protocol", &self.priv_protocol)
            .field("priv_password", &self.priv_password.as_ref().map(|_| "<redacted>"))
            .field("context_name", &self.context_name)
            .field("interface", &self.interface)
            .field("if_index", &self.if_index)
            .field("utilization_degraded", &self.utilization_degraded)
            .field("utilization_down", &self.utilization_down)
            .field("load_degraded", &self.load_degraded)
            .field("load_down", &self.load_down)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Default for SnmpCheck {
    fn default() -> Self {
        SnmpCheck {
            port: d_snmp_port(),
            version: d_snmp_version(),
            community: d_community(),
            user: None,
            auth_protocol: d_auth_protocol(),
            auth_password: None,
            priv_protocol: d_priv_protocol(),
            priv_password: None,
            context_name: None,
            interface: None,
            if_index: None,
            utilization_degraded: d_util_degraded(),
            utilization_down: d_util_down(),
            load_degraded: None,
            load_down: None,
            retries: d_snmp_retries(),
        }
    }
}

fn d_snmp_port() -> u16 {
    161
}
fn d_community() -> String {
    "public".to_owned()
}
fn d_snmp_version() -> String {
    "2c".to_owned()
}
fn d_auth_protocol() -> String {
    "SHA".to_owned()
}
fn d_priv_protocol() -> String {
    "AES".to_owned()
}
fn d_util_degraded() -> f64 {
    0.85
}
fn d_util_down() -> f64 {
    0.98
}
fn d_snmp_retries() -> u32 {
    1
}

impl SnmpCheck {
    pub(crate) fn problems(&self, p: &mut Problems) {
        if !(0.0..=1.0).contains(&self.utilization_degraded) {
            p.push("utilization_degraded", "must be in [0, 1]");
        }
        if !(0.0..=1.0).contains(&self.utilization_down)
            || self.utilization_down < self.utilization_degraded
        {
            p.push("utilization_down", "must be in [utilization_degraded, 1]");
        }
        if let (Some(d), Some(x)) = (self.load_degraded, self.load_down)
            && x < d
        {
            p.push("load_down", "must not be below load_degraded");
        }
        if self.port == 0 {
            p.push("port", "must not be 0");
        }
        if self.interface.is_none()
            && self.if_index.is_none()
            && self.load_down.is_none()
            && self.load_degraded.is_none()
        {
            p.push(
                "interface",
                "set `interface`, `if_index` or a load threshold: nothing to measure",
            );
        }
        if self.retries > 5 {
            p.push("retries", "must be at most 5");
        }
        self.security_problems(p);
    }

    fn security_problems(&self, p: &mut Problems) {
        use switchyard_snmp::usm::{AuthProtocol, PrivProtocol};
        let v3 = match self.version.as_str() {
            "3" => true,
            "1" | "2c" => false,
            _ => {
                p.push("version", "must be \"1\", \"2c\" or \"3\"");
                return;
            }
        };
        if !v3 {
            for (field, set) in [
                ("user", self.user.is_some()),
                ("auth_password", self.auth_password.is_some()),
                ("priv_password", self.priv_password.is_some()),
                ("context_name", self.context_name.is_some()),
            ] {
                if set {
                    p.push(field, "is a version 3 setting; set version = \"3\"");
                }
            }
            return;
        }
        match self.user.as_deref() {
            None => p.push("user", "is required with version 3"),
            Some(u) if u.is_empty() || u.len() > 32 => p.push("user", "must be 1 to 32 bytes"),
            Some(_) => {}
        }
        if AuthProtocol::from_name(&self.auth_protocol).is_none() {
            p.push("auth_protocol", "must be MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512");
        }
        if PrivProtocol::from_name(&self.priv_protocol).is_none() {
            p.push("priv_protocol", "must be DES, AES, AES192, AES256, AES192C or AES256C");
        }
        for (field, pass) in
            [("auth_password", &self.auth_password), ("priv_password", &self.priv_password)]
        {
            if pass.as_ref().is_some_and(|x| x.len() < 8) {
                p.push(field, "must be at least 8 characters (RFC 3414 section 11.2)");
            }
        }
        if self.priv_password.is_some() && self.auth_password.is_none() {
            p.push("priv_password", "privacy needs authentication: set auth_password too");
        }
        if self.context_name.as_ref().is_some_and(|c| c.len() > 32) {
            p.push("context_name", "must be at most 32 bytes (RFC 3411 SnmpAdminString)");
        }
    }

    /// The security the checks use; call on a validated check (errors name the field anyway).
    pub(crate) fn security(&self) -> Result<Security, String> {
        use switchyard_snmp::Security;
        use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
        match self.version.as_str() {
            "1" => return Ok(Security::v1(self.community.as_bytes())),
            "2c" => return Ok(Security::v2c(self.community.as_bytes())),
            _ => {}
        }
        let name = self.user.as_deref().ok_or("user: is required with version 3")?;
        let mut user = UsmUser::no_auth(name).map_err(|e| format!("user: {e}"))?;
        if let Some(pass) = &self.auth_password {
            let proto = AuthProtocol::from_name(&self.auth_protocol)
                .ok_or_else(|| format!("auth_protocol: unknown `{}`", self.auth_protocol))?;
            user = user.with_auth(proto, pass.as_bytes()).map_err(|e| format!("auth: {e}"))?;
        }
        if let Some(pass) = &self.priv_password {
            let proto = PrivProtocol::from_name(&self.priv_protocol)
                .ok_or_else(|| format!("priv_protocol: unknown `{}`", self.priv_protocol))?;
            user = user.with_privacy(proto, pass.as_bytes()).map_err(|e| format!("priv: {e}"))?;
        }
        Ok(Security::v3_in_context(user, self.context_name.as_deref().unwrap_or_default()))
    }
}

/// Per-node SNMP state kept between probes: the target (cached ifIndex) and the last sample.
pub(crate) struct Conn {
    target: switchyard_snmp::Target,
    poller: Option<InterfacePoller>,
    rates: RateCalculator,
}

pub(crate) struct CompiledSnmp {
    check: SnmpCheck,
    /// Community or USM user; v3 pass phrases are hashed into keys once, here.
    security: Security,
    /// One client (one UDP socket, one receive task) per spec, created on first use inside the
    /// runtime and shared by every node using the spec.
    client: OnceLock<Result<Client, FailureCause>>,
    /// The client's drop counters as last reported in an outcome: each probe reports what
    /// was dropped since, so every drop is counted once however many nodes share the client.
    reported: Mutex<ClientStats>,
}

impl std::fmt::Debug for CompiledSnmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSnmp").field("check", &self.check).finish()
    }
}

/// An agent that answers wrongly (an error-status, an error-index past the bindings, OIDs
/// that do not advance or are not the ones asked for) is a `protocol` failure from the
/// first such answer; only silence is a `timeout`.
fn cause(e: &switchyard_snmp::Error) -> FailureCause {
    use switchyard_snmp::Error as E;
    match e {
        E::Timeout => FailureCause::Timeout,
        E::AuthFailure
        | E::DecryptFailure
        | E::UnknownUser
        | E::UnsupportedSecurityLevel
        | E::UnknownEngine
        | E::NotInTimeWindow
        | E::UnknownContext => FailureCause::Auth,
        E::Io(io) => FailureCause::from_io(io),
        _ => FailureCause::Protocol,
    }
}

impl CompiledSnmp {
    pub(crate) fn new(check: &SnmpCheck) -> Result<Self, ProbeError> {
        let security = check.security().map_err(ProbeError::Snmp)?;
        Ok(CompiledSnmp {
            check: check.clone(),
            security,
            client: OnceLock::new(),
            reported: Mutex::new(ClientStats::default()),
        })
    }

    fn conn(&self, addr: SocketAddr, timeout: Duration) -> Result<Conn, FailureCause> {
        let client = self.client.get_or_init(|| Client::new().map_err(|e| cause(&e))).clone()?;
        let attempts = self.check.retries + 1;
        let opts = RequestOptions {
            timeout: timeout / attempts,
            retries: self.check.retries,
            backoff: 1.0,
            deadline: Some(timeout),
            ..RequestOptions::default()
        };
        let target = client.target_with(
            SocketAddr::new(addr.ip(), self.check.port),
            self.security.clone(),
            opts,
        );
        let selector = match (&self.check.interface, self.check.if_index) {
            (Some(name), _) => Some(InterfaceSelector::Name(name.clone())),
            (None, Some(i)) => Some(InterfaceSelector::Index(i)),
            (None, None) => None,
        };
        let poller = selector.map(|s| InterfacePoller::new(target.clone(), s));
        Ok(Conn { target, poller, rates: RateCalculator::default() })
    }

    pub(crate) async fn run(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        state: &mut Option<Conn>,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        self.read(addr, timeout, state, out, start).await;
        out.snmp_dropped = self.dropped_since_last_report();
    }

    /// The client's drops since the last report, by reason; the report moves forward.
    fn dropped_since_last_report(&self) -> SnmpDrops {
        let Some(Ok(client)) = self.client.get() else { return SnmpDrops::default() };
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        let now = client.stats();
        let drops = SnmpDrops {
            wrong_digest: now.wrong_digests.saturating_sub(reported.wrong_digests),
            decryption: now.decryption_errors.saturating_sub(reported.decryption_errors),
            security: now.security_drops.saturating_sub(reported.security_drops),
            parse: now.parse_errors.saturating_sub(reported.parse_errors),
        };
        *reported = now;
        drops
    }

    async fn read(
        &self,
        addr: SocketAddr,
        timeout: Duration,
        state: &mut Option<Conn>,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        if state.is_none() {
            match self.conn(addr, timeout) {
                Ok(c) => *state = Some(c),
                Err(c) => return out.fail(c),
            }
        }
        let Some(conn) = state.as_mut() else { return };
        let mut degraded = None;
        if let Some(poller) = conn.poller.as_mut() {
            let sample = match poller.poll().await {
                Ok(s) => s,
                Err(e) => return out.fail(cause(&e)),
            };
            out.phases.first_byte = Some(start.elapsed());
            out.tier = Tier::L2Handshake;
            if let Some(status) = sample.oper_status.filter(|s| *s != 1) {
                // ifOperStatus other than up(1): the measured interface is not passing traffic.
                out.tier = Tier::L3Service;
                out.status = Some(u16::try_from(status).unwrap_or(u16::MAX));
                return out.fail(FailureCause::BadStatus);
            }
            match conn.rates.observe(sample) {
                RateObservation::Rates(r) => out.utilization = r.utilization,
                // A counter jump above line rate is no reading (the calculator counts it),
                // never a utilization of 10 that downs a healthy node.
                RateObservation::Reset(RateError::Implausible) => tracing::debug!(
                    node.addr = %addr,
                    dropped = conn.rates.implausible_intervals(),
                    "SNMP counter delta above line rate ignored"
                ),
                RateObservation::Reset(_) | RateObservation::Baseline => {}
            }
            if let Some(u) = out.utilization {
                if u >= self.check.utilization_down {
                    out.tier = Tier::L3Service;
                    return out.fail(FailureCause::Threshold);
                }
                if u >= self.check.utilization_degraded {
                    degraded = Some(DegradedCause::Utilization);
                }
            }
        }
        if self.check.load_degraded.is_some() || self.check.load_down.is_some() {
            let la = match switchyard_snmp::ifmib::load_average(&conn.target).await {
                Ok(la) => la,
                Err(e) => return out.fail(cause(&e)),
            };
            out.phases.first_byte.get_or_insert(start.elapsed());
            out.tier = Tier::L2Handshake;
            let Some(la) = la else {
                // The agent has no UCD-SNMP-MIB: thresholds on load cannot be judged.
                out.tier = Tier::L3Service;
                return out.fail(FailureCause::Protocol);
            };
            out.load_average = Some(la.one);
            if self.check.load_down.is_some_and(|d| la.one >= d) {
                out.tier = Tier::L3Service;
                return out.fail(FailureCause::Threshold);
            }
            if self.check.load_degraded.is_some_and(|d| la.one >= d) {
                degraded.get_or_insert(DegradedCause::Load);
            }
        }
        out.pass(degraded);
    }
}

#[cfg(test)]
mod tests {
    //! The kind's reading and failure causes against the testkit's simulated agent, through
    //! `CompiledSnmp::run` (the integration tests in tests/it/snmp.rs cover the public path).

    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use switchyard_snmp::codec::{ErrorStatus, Oid};
    use switchyard_snmp::usm::{AuthProtocol, UsmUser};
    use switchyard_testkit::snmp_agent::{AgentSpec, Faults, Misbehavior, SimAgent};

    use super::{CompiledSnmp, Conn, SnmpCheck};
    use crate::outcome::{FailureCause, ProbeOutcome, Verdict};
    use crate::spec::{Check, ProbeSpec};

    const TIMEOUT: Duration = Duration::from_millis(1500);

    fn check(agent: &SimAgent) -> SnmpCheck {
        SnmpCheck {
            port: agent.addr().port(),
            interface: Some("eth0".into()),
            ..SnmpCheck::default()
        }
    }

    async fn run(p: &CompiledSnmp, addr: SocketAddr, state: &mut Option<Conn>) -> ProbeOutcome {
        let mut out = ProbeOutcome::new();
        p.run(addr, TIMEOUT, state, &mut out, Instant::now()).await;
        out
    }

    /// sysUpTime counts hundredths: a third of a second keeps tick rounding near 3%.
    async fn counters_advance() {
        tokio::time::sleep(Duration::from_millis(330)).await;
    }

    #[tokio::test]
    async fn a_64bit_counter_jump_is_no_reading_and_does_not_down_the_node() {
        let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
        let p = CompiledSnmp::new(&check(&agent)).unwrap();
        let mut state = None;
        assert_eq!(run(&p, agent.addr(), &mut state).await.utilization, None, "baseline");
        counters_advance().await;
        let o = run(&p, agent.addr(), &mut state).await;
        assert!(o.utilization.is_some_and(|u| (u - 0.1).abs() < 0.03), "{o:?}");
        // 10 GB at once on a 1 Gbit/s link: a utilization of about 240 before the fix.
        agent.add_octets(0, 10_000_000_000, 0);
        counters_advance().await;
        let o = run(&p, agent.addr(), &mut state).await;
        assert_eq!((o.verdict, o.utilization, o.cause), (Verdict::Pass, None, None), "{o:?}");
        let conn = state.as_ref().expect("state kept");
        assert_eq!(conn.rates.implausible_intervals(), 1, "the dropped interval is counted");
        counters_advance().await;
        let o = run(&p, agent.addr(), &mut state).await;
        assert!(o.utilization.is_some_and(|u| (u - 0.1).abs() < 0.03), "reads again: {o:?}");
    }

    #[tokio::test]
    async fn agents_that_answer_wrongly_fail_as_protocol_at_once() {
        let if_name = Oid::from_static(&[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1]);
        for m in [
            // The interface GET is answered with other OIDs.
            Misbehavior::RenameOids,
            // Every answer points its error past the bindings.
            Misbehavior::ErrorIndexOutOfRange,
            // The ifName walk does not advance.
            Misbehavior::RepeatFrom(if_name.clone()),
            Misbehavior::ErrorFrom(if_name.clone(), ErrorStatus::GenErr),
        ] {
            let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
            agent.set_faults(Faults { misbehavior: Some(m.clone()), ..Faults::default() });
            let p = CompiledSnmp::new(&check(&agent)).unwrap();
            let started = Instant::now();
            let o = run(&p, agent.addr(), &mut None).await;
            assert_eq!(o.cause, Some(FailureCause::Protocol), "{m:?}: {o:?}");
            assert!(started.elapsed() < TIMEOUT / 3, "{m:?} waited {:?}", started.elapsed());
        }
    }

    #[tokio::test]
    async fn v3_context_name_selects_the_context() {
        let user = UsmUser::no_auth("ctx-user")
            .unwrap()
            .with_auth(AuthProtocol::Sha256, b"ctx-auth-phrase")
            .unwrap();
        let spec = AgentSpec {
            users: vec![user],
            context_names: vec!["vrf-blue".into()],
            ..AgentSpec::default()
        };
        let agent = SimAgent::start(spec).await.unwrap();
        let v3 = SnmpCheck {
            version: "3".into(),
            user: Some("ctx-user".into()),
            auth_protocol: "SHA-256".into(),
            auth_password: Some("ctx-auth-phrase".into()),
            context_name: Some("vrf-blue".into()),
            ..check(&agent)
        };
        let p = CompiledSnmp::new(&v3).unwrap();
        assert_eq!(run(&p, agent.addr(), &mut None).await.verdict, Verdict::Pass);
        // The default context is not served: the agent reports snmpUnknownContexts.
        let p = CompiledSnmp::new(&SnmpCheck { context_name: None, ..v3 }).unwrap();
        let o = run(&p, agent.addr(), &mut None).await;
        assert_eq!(o.cause, Some(FailureCause::Auth), "{o:?}");
    }

    /// A v3 reply whose HMAC does not verify is dropped, the genuine one that follows is
    /// the answer, and the outcome counts the drop once, however many probes read it.
    #[tokio::test]
    async fn forged_v3_replies_are_rejected_and_counted_once() {
        let user = UsmUser::no_auth("mac-user")
            .unwrap()
            .with_auth(AuthProtocol::Sha256, b"mac-auth-phrase")
            .unwrap();
        let agent =
            SimAgent::start(AgentSpec { users: vec![user], ..AgentSpec::default() }).await.unwrap();
        let v3 = SnmpCheck {
            version: "3".into(),
            user: Some("mac-user".into()),
            auth_protocol: "SHA-256".into(),
            auth_password: Some("mac-auth-phrase".into()),
            ..check(&agent)
        };
        let p = CompiledSnmp::new(&v3).unwrap();
        let mut state = None;
        let clean = run(&p, agent.addr(), &mut state).await;
        assert_eq!(clean.verdict, Verdict::Pass, "{clean:?}");
        assert!(clean.snmp_dropped.is_empty(), "{clean:?}");

        agent.set_faults(Faults { damaged_copy_first: true, ..Faults::default() });
        let forged = run(&p, agent.addr(), &mut state).await;
        assert_eq!(forged.verdict, Verdict::Pass, "the genuine reply answers: {forged:?}");
        assert!(forged.snmp_dropped.wrong_digest >= 1, "{forged:?}");
        assert_eq!(forged.snmp_dropped.decryption, 0, "{forged:?}");

        agent.set_faults(Faults::default());
        let after = run(&p, agent.addr(), &mut state).await;
        assert!(after.snmp_dropped.is_empty(), "already reported: {after:?}");
    }

    #[test]
    fn context_name_is_a_v3_setting_of_at_most_32_bytes() {
        let problems = |c: SnmpCheck| -> Vec<String> {
            let c = SnmpCheck { interface: Some("eth0".into()), ..c };
            let spec = ProbeSpec::new(Check::Snmp(c));
            spec.problems("").into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect()
        };
        let v3 =
            SnmpCheck { version: "3".into(), user: Some("monitor".into()), ..SnmpCheck::default() };
        assert!(
            problems(SnmpCheck { context_name: Some("vrf-red".into()), ..v3.clone() }).is_empty()
        );
        assert_eq!(
            problems(SnmpCheck { context_name: Some("x".repeat(33)), ..v3 }),
            ["check.context_name: must be at most 32 bytes (RFC 3411 SnmpAdminString)"]
        );
        assert_eq!(
            problems(SnmpCheck { context_name: Some("vrf-red".into()), ..SnmpCheck::default() }),
            ["check.context_name: is a version 3 setting; set version = \"3\""]
        );
        let parsed: SnmpCheck =
            toml::from_str("version = \"3\"\nuser = \"u\"\ncontext_name = \"vrf-red\"").unwrap();
        assert_eq!(parsed.context_name.as_deref(), Some("vrf-red"));
    }
}
