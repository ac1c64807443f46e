//! Interface counters and load for health probes: IF-MIB (RFC 2863) octet counters with the
//! 64-bit ifXTable counters preferred and the 32-bit ifTable ones as fallback, interface speed,
//! sysUpTime, rates with wrap and restart detection, and UCD-SNMP-MIB load averages.
//!
//! ```no_run
//! use switchyard_snmp::{Client, Security};
//! use switchyard_snmp::ifmib::{InterfacePoller, InterfaceSelector, RateCalculator, RateObservation};
//!
//! # async fn demo() -> Result<(), switchyard_snmp::Error> {
//! let client = Client::new()?;
//! let target = client.target("192.0.2.10:161".parse().unwrap(), Security::v2c("public"));
//! let mut poller = InterfacePoller::new(target, InterfaceSelector::Name("eth0".into()));
//! let mut rates = RateCalculator::default();
//! loop {
//!     let sample = poller.poll().await?;
//!     if let RateObservation::Rates(r) = rates.observe(sample) {
//!         println!("in {:.0} bit/s, out {:.0} bit/s, utilization {:?}", r.in_bps, r.out_bps, r.utilization);
//!     }
//!     tokio::time::sleep(std::time::Duration::from_secs(10)).await;
//! }
//! # }
//! ```

mod rates;
mod sample;

#[cfg(test)]
mod tests;

pub use rates::{
    PLAUSIBLE_LINE_RATE_FACTOR, RateCalculator, RateError, RateObservation, Rates, compute_rates,
};
pub use sample::{CounterWidth, InterfaceSample};

use std::time::Instant;

use crate::client::{Error, Target};
use crate::codec::{Oid, Value, Version};

/// IF-MIB and UCD-SNMP-MIB object identifiers used here.
pub mod oids {
    pub const SYS_UPTIME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 3, 0];
    pub const IF_DESCR: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
    pub const IF_SPEED: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 5];
    pub const IF_OPER_STATUS: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 8];
    pub const IF_IN_OCTETS: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 10];
    pub const IF_OUT_OCTETS: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 16];
    pub const IF_NAME: [u32; 11] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1];
    pub const IF_HC_IN_OCTETS: [u32; 11] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6];
    pub const IF_HC_OUT_OCTETS: [u32; 11] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10];
    pub const IF_HIGH_SPEED: [u32; 11] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15];
    pub const IF_COUNTER_DISCONTINUITY_TIME: [u32; 11] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 19];
    /// UCD-SNMP-MIB laLoad (DisplayString "0.42"), rows 1, 2, 3 = 1, 5, 15 minutes.
    pub const LA_LOAD: [u32; 10] = [1, 3, 6, 1, 4, 1, 2021, 10, 1, 3];
}

/// Which interface to poll.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InterfaceSelector {
    /// ifIndex.
    Index(u32),
    /// Exact ifName (ifXTable), e.g. `eth0`, `Gi0/1`.
    Name(String),
    /// Exact ifDescr (ifTable).
    Descr(String),
}

/// UCD-SNMP-MIB load averages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadAverage {
    pub one: f64,
    pub five: f64,
    pub fifteen: f64,
}

/// Resolves a selector to an ifIndex by walking ifName or ifDescr.
pub async fn resolve_interface(
    target: &Target,
    selector: &InterfaceSelector,
) -> Result<u32, Error> {
    let (column, want) = match selector {
        InterfaceSelector::Index(i) => return Ok(*i),
        InterfaceSelector::Name(n) => (Oid::from_static(&oids::IF_NAME), n),
        InterfaceSelector::Descr(d) => (Oid::from_static(&oids::IF_DESCR), d),
    };
    let rows = target.bulk_walk(&column).await?;
    rows.iter()
        .find(|vb| vb.value.as_bytes() == Some(want.as_bytes()))
        .and_then(|vb| vb.oid.suffix_after(&column).and_then(|s| (s.len() == 1).then(|| s[0])))
        .ok_or(Error::NoSuchInterface)
}

/// Reads one sample of interface `if_index` with a single GET (two on SNMPv1, which has no
/// Counter64).
pub async fn poll_interface(target: &Target, if_index: u32) -> Result<InterfaceSample, Error> {
    let i = [if_index];
    let mut req = vec![
        Oid::from_static(&oids::SYS_UPTIME),
        Oid::from_static(&oids::IF_IN_OCTETS).join(&i),
        Oid::from_static(&oids::IF_OUT_OCTETS).join(&i),
        Oid::from_static(&oids::IF_SPEED).join(&i),
        Oid::from_static(&oids::IF_OPER_STATUS).join(&i),
    ];
    let v1 = target.security().version() == Version::V1;
    if !v1 {
        req.extend([
            Oid::from_static(&oids::IF_HC_IN_OCTETS).join(&i),
            Oid::from_static(&oids::IF_HC_OUT_OCTETS).join(&i),
            Oid::from_static(&oids::IF_HIGH_SPEED).join(&i),
            Oid::from_static(&oids::IF_COUNTER_DISCONTINUITY_TIME).join(&i),
        ]);
    }
    let vbs = target.get(&req).await?;
    let taken_at = Instant::now();
    let val = |k: usize| vbs.get(k).map(|v| &v.value).filter(|v| !v.is_exception());
    let sys_uptime = match val(0) {
        Some(Value::TimeTicks(t)) => *t,
        _ => return Err(Error::InvalidRequest("agent has no sysUpTime")),
    };
    let c32 = |k: usize| match val(k) {
        Some(Value::Counter32(c)) => Some(*c as u64),
        _ => None,
    };
    let c64 = |k: usize| match val(k) {
        Some(Value::Counter64(c)) => Some(*c),
        _ => None,
    };
    let (in_octets, out_octets, width) = match (c64(5), c64(6)) {
        (Some(a), Some(b)) => (a, b, CounterWidth::Bits64),
        _ => match (c32(1), c32(2)) {
            (Some(a), Some(b)) => (a, b, CounterWidth::Bits32),
            _ => return Err(Error::NoSuchInterface),
        },
    };
    let high = val(7).and_then(Value::as_u64).filter(|&s| s > 0).map(|s| s * 1_000_000);
    let speed_bps = high.or_else(|| val(3).and_then(Value::as_u64).filter(|&s| s > 0));
    let oper_status = match val(4) {
        Some(Value::Integer(s)) => Some(*s),
        _ => None,
    };
    let discontinuity_time = match val(8) {
        Some(Value::TimeTicks(t)) => Some(*t),
        _ => None,
    };
    Ok(InterfaceSample {
        if_index,
        in_octets,
        out_octets,
        width,
        speed_bps,
        oper_status,
        sys_uptime,
        discontinuity_time,
        taken_at,
    })
}

/// Reads UCD-SNMP-MIB laLoad 1/5/15; `None` when the agent does not implement it.
pub async fn load_average(target: &Target) -> Result<Option<LoadAverage>, Error> {
    let base = Oid::from_static(&oids::LA_LOAD);
    let req = [base.join(&[1]), base.join(&[2]), base.join(&[3])];
    let vbs = match target.get(&req).await {
        Ok(v) => v,
        // SNMPv1 agents answer noSuchName instead of an exception value.
        Err(Error::Agent { status: crate::codec::ErrorStatus::NoSuchName, .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let parse = |k: usize| -> Option<f64> {
        let b = vbs.get(k)?.value.as_bytes()?;
        std::str::from_utf8(b).ok()?.trim().parse().ok()
    };
    Ok(match (parse(0), parse(1), parse(2)) {
        (Some(one), Some(five), Some(fifteen)) => Some(LoadAverage { one, five, fifteen }),
        _ => None,
    })
}

/// Polls one interface repeatedly, resolving the selector once and again when the interface
/// disappears (ifIndex renumbering after a reboot).
#[derive(Debug, Clone)]
pub struct InterfacePoller {
    target: Target,
    selector: InterfaceSelector,
    if_index: Option<u32>,
}

impl InterfacePoller {
    pub fn new(target: Target, selector: InterfaceSelector) -> Self {
        Self { target, selector, if_index: None }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn selector(&self) -> &InterfaceSelector {
        &self.selector
    }

    pub async fn poll(&mut self) -> Result<InterfaceSample, Error> {
        let cached = self.if_index.is_some();
        let idx = match self.if_index {
            Some(i) => i,
            None => resolve_interface(&self.target, &self.selector).await?,
        };
        match poll_interface(&self.target, idx).await {
            Ok(s) => {
                self.if_index = Some(idx);
                Ok(s)
            }
            Err(e) if cached && !matches!(self.selector, InterfaceSelector::Index(_)) => {
                self.if_index = None;
                let idx = resolve_interface(&self.target, &self.selector).await.map_err(|_| e)?;
                let s = poll_interface(&self.target, idx).await?;
                self.if_index = Some(idx);
                Ok(s)
            }
            Err(e) => Err(e),
        }
    }

    /// The load average of the same agent.
    pub async fn load_average(&self) -> Result<Option<LoadAverage>, Error> {
        load_average(&self.target).await
    }
}
