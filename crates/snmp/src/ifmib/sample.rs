//! One reading of an interface's counters, what the rate calculator works on.

use std::time::Instant;

/// Width of the octet counters a sample was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CounterWidth {
    Bits32,
    Bits64,
}

impl CounterWidth {
    pub fn modulus(self) -> u128 {
        match self {
            CounterWidth::Bits32 => 1 << 32,
            CounterWidth::Bits64 => 1 << 64,
        }
    }
}

/// One reading of an interface.
#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceSample {
    pub if_index: u32,
    pub in_octets: u64,
    pub out_octets: u64,
    pub width: CounterWidth,
    /// Interface speed in bit/s: ifHighSpeed x 10^6 when present and non-zero, else ifSpeed.
    pub speed_bps: Option<u64>,
    /// ifOperStatus (1 = up).
    pub oper_status: Option<i32>,
    /// sysUpTime in hundredths of a second.
    pub sys_uptime: u32,
    /// ifCounterDiscontinuityTime, when the agent has it.
    pub discontinuity_time: Option<u32>,
    /// Local monotonic time the reply arrived.
    pub taken_at: Instant,
}
