//! Per-source query rate limit: a GCRA token bucket per hashed source address, held in a
//! fixed array of atomics so the hot path neither allocates nor locks.
//!
//! `governor`'s keyed limiter keeps one map entry per source, which grows with every
//! spoofed address and needs periodic sweeping; under a random-source flood that is the
//! attack's goal. Here memory is fixed ([`SLOTS`] x 8 bytes) and sources that hash to the
//! same slot share a budget, the same trade-off BIND's response rate limiting makes with
//! its bounded table.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Number of buckets (a power of two).
pub const SLOTS: usize = 1 << 16;

/// Generic cell rate algorithm limiter keyed by source address.
#[derive(Debug)]
pub struct RateLimiter {
    /// Theoretical arrival time per slot, in nanoseconds since `origin`.
    slots: Box<[AtomicU64]>,
    interval_ns: u64,
    tolerance_ns: u64,
    origin: Instant,
}

impl RateLimiter {
    /// `qps` queries per second per source, bursts of `burst` (0 means `qps`). `None` when
    /// `qps` is 0 (limiting off).
    pub fn new(qps: u32, burst: u32, origin: Instant) -> Option<Self> {
        if qps == 0 {
            return None;
        }
        let burst = if burst == 0 { qps } else { burst };
        let interval_ns = (1_000_000_000 / u64::from(qps)).max(1);
        Some(Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst - 1),
            origin,
        })
    }

    /// Whether a query from `ip` arriving at `now` is within its budget; consumes one unit
    /// when it is.
    pub fn check(&self, ip: IpAddr, now: Instant) -> bool {
        let t = now.saturating_duration_since(self.origin).as_nanos() as u64;
        let slot = &self.slots[slot_of(ip)];
        let mut tat = slot.load(Ordering::Relaxed);
        loop {
            if tat > t + self.tolerance_ns {
                return false;
            }
            let next = tat.max(t) + self.interval_ns;
            match slot.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => tat = actual,
            }
        }
    }
}

/// Slot index: a multiplicative hash of the address (v4-mapped v6 folded to v4).
pub(crate) fn slot_of(ip: IpAddr) -> usize {
    let key: u128 = match ip.to_canonical() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a) ^ (1 << 127),
    };
    let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    let h = folded.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - SLOTS.trailing_zeros())) as usize
}
