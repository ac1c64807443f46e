//! `snmp`: interface utilization (IF-MIB octet counters over two probes, through the
//! `switchyard-snmp` interface-counter helper) and the 1-minute load average (UCD-SNMP-MIB
//! laLoad), judged against degraded/down thresholds, over v1, v2c or v3 (USM). The first probe
//! of a node only takes the counter baseline; utilization is known from the second probe on.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use switchyard_snmp::ifmib::{InterfacePoller, InterfaceSelector, RateCalculator, RateObservation};
use switchyard_snmp::{Client, RequestOptions, Security};

use crate::ProbeError;
use crate::outcome::{DegradedCause, FailureCause, ProbeOutcome, Tier};
use crate::spec::SnmpCheck;

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
}

impl std::fmt::Debug for CompiledSnmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSnmp").field("check", &self.check).finish()
    }
}

fn cause(e: &switchyard_snmp::Error) -> FailureCause {
    use switchyard_snmp::Error as E;
    match e {
        E::Timeout => FailureCause::Timeout,
        E::AuthFailure
        | E::DecryptFailure
        | E::UnknownUser
        | E::UnsupportedSecurityLevel
        | E::UnknownEngine
        | E::NotInTimeWindow => FailureCause::Auth,
        E::Io(io) => FailureCause::from_io(io),
        _ => FailureCause::Protocol,
    }
}

impl CompiledSnmp {
    pub(crate) fn new(check: &SnmpCheck) -> Result<Self, ProbeError> {
        let security = check.security().map_err(ProbeError::Snmp)?;
        Ok(CompiledSnmp { check: check.clone(), security, client: OnceLock::new() })
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
            if let RateObservation::Rates(r) = conn.rates.observe(sample) {
                out.utilization = r.utilization;
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
