//! Rates between two interface samples with counter wrap and agent restart detection.
//!
//! The interval is taken from the agent's sysUpTime (the clock the counters advance with),
//! checked against the local monotonic clock. sysUpTime going backwards, a changed
//! ifCounterDiscontinuityTime (RFC 2863 section 3.1.5) or a change of counter width is a
//! discontinuity: no rate is reported for that pair. Nor is one for a delta implying more
//! than [`PLAUSIBLE_LINE_RATE_FACTOR`] times the interface speed, whatever the counter width.

use std::time::Duration;

use super::sample::{CounterWidth, InterfaceSample};

/// Bit rates over one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rates {
    pub in_bps: f64,
    pub out_bps: f64,
    pub interval: Duration,
    /// max(in, out) / speed, when the speed is known.
    pub utilization: Option<f64>,
}

/// Why no rate can be computed from a pair of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    #[error("the agent restarted (sysUpTime went backwards)")]
    Restarted,
    #[error("counter discontinuity")]
    Discontinuity,
    #[error("samples are of different interfaces")]
    DifferentInterface,
    #[error("no time elapsed between samples")]
    ZeroInterval,
    /// The counters moved more than the interface can carry in the interval: several 32-bit
    /// wraps, or a 64-bit counter that jumped (an agent that reset or re-based it without
    /// touching ifCounterDiscontinuityTime, or a glitch).
    #[error("counter delta above the plausible line rate")]
    Implausible,
}

/// A delta implying more than this multiple of the interface speed is not a reading.
/// Bursts above line rate do not exist, but counters are read at slightly different instants
/// than sysUpTime, so short intervals can overshoot a little; half again is well clear of
/// that and well below what a wrap or a reset produces.
pub const PLAUSIBLE_LINE_RATE_FACTOR: f64 = 1.5;

const TICKS_WRAP: u64 = 1 << 32;

/// sysUpTime wraps after 497 days; a backwards step is a wrap only if the local clock agrees.
fn uptime_delta(prev: &InterfaceSample, cur: &InterfaceSample) -> Result<u64, RateError> {
    let local_cs = cur.taken_at.saturating_duration_since(prev.taken_at).as_millis() as u64 / 10;
    if cur.sys_uptime >= prev.sys_uptime {
        let d = (cur.sys_uptime - prev.sys_uptime) as u64;
        // A restart followed by a long uptime could still move forward; the agent cannot
        // have advanced far less than real time without restarting.
        if local_cs > 1000 && d + d / 2 + 500 < local_cs / 2 {
            return Err(RateError::Restarted);
        }
        return Ok(d);
    }
    let wrapped = cur.sys_uptime as u64 + TICKS_WRAP - prev.sys_uptime as u64;
    if wrapped <= local_cs + local_cs / 2 + 500 { Ok(wrapped) } else { Err(RateError::Restarted) }
}

fn counter_delta(prev: u64, cur: u64, width: CounterWidth) -> Result<u64, RateError> {
    if cur >= prev {
        return Ok(cur - prev);
    }
    match width {
        // RFC 2863: a 32-bit counter wraps at 2^32.
        CounterWidth::Bits32 => Ok(((1u64 << 32) - prev) + cur),
        // A 64-bit counter does not wrap in practice: it was reset.
        CounterWidth::Bits64 => Err(RateError::Discontinuity),
    }
}

/// Rates between two samples of the same interface.
pub fn compute_rates(prev: &InterfaceSample, cur: &InterfaceSample) -> Result<Rates, RateError> {
    if prev.if_index != cur.if_index {
        return Err(RateError::DifferentInterface);
    }
    let ticks = uptime_delta(prev, cur)?;
    if prev.width != cur.width || prev.discontinuity_time != cur.discontinuity_time {
        return Err(RateError::Discontinuity);
    }
    if ticks == 0 {
        return Err(RateError::ZeroInterval);
    }
    let din = counter_delta(prev.in_octets, cur.in_octets, cur.width)?;
    let dout = counter_delta(prev.out_octets, cur.out_octets, cur.width)?;
    let secs = ticks as f64 / 100.0;
    let in_bps = din as f64 * 8.0 / secs;
    let out_bps = dout as f64 * 8.0 / secs;
    let speed = cur.speed_bps.filter(|&s| s > 0);
    if let Some(s) = speed
        && in_bps.max(out_bps) > s as f64 * PLAUSIBLE_LINE_RATE_FACTOR
    {
        // 32-bit: more than one wrap. 64-bit: a jump no link produces. Either way a
        // utilization far above 1 would down a healthy node.
        return Err(RateError::Implausible);
    }
    Ok(Rates {
        in_bps,
        out_bps,
        interval: Duration::from_millis(ticks * 10),
        utilization: speed.map(|s| in_bps.max(out_bps) / s as f64),
    })
}

/// What one new sample yields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateObservation {
    /// First sample, or the first after a discontinuity: nothing to compare with yet.
    Baseline,
    Rates(Rates),
    /// The pair straddles a restart or counter reset; the new sample is the new baseline.
    Reset(RateError),
}

/// Keeps the previous sample and turns each new one into rates.
#[derive(Clone, Debug, Default)]
pub struct RateCalculator {
    prev: Option<InterfaceSample>,
    implausible: u64,
}

impl RateCalculator {
    pub fn observe(&mut self, sample: InterfaceSample) -> RateObservation {
        let out = match &self.prev {
            None => RateObservation::Baseline,
            Some(p) => match compute_rates(p, &sample) {
                Ok(r) => RateObservation::Rates(r),
                Err(e) => {
                    if e == RateError::Implausible {
                        self.implausible += 1;
                    }
                    RateObservation::Reset(e)
                }
            },
        };
        self.prev = Some(sample);
        out
    }

    /// Intervals dropped so far because their delta was above the plausible line rate.
    pub fn implausible_intervals(&self) -> u64 {
        self.implausible
    }

    pub fn previous(&self) -> Option<&InterfaceSample> {
        self.prev.as_ref()
    }
}
