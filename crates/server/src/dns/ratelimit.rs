//! Per-source query rate limit for UDP: a GCRA token bucket per hashed source network, held
//! in a fixed array of atomics so the hot path neither allocates nor locks, with BIND's RRL
//! `slip` so that legitimate resolvers caught in a flood still get through over TCP.
//!
//! `governor`'s keyed limiter keeps one map entry per source, which grows with every
//! spoofed address and needs periodic sweeping; under a random-source flood that is the
//! attack's goal. Here memory is fixed ([`SLOTS`] x 12 bytes) and sources that hash to the
//! same slot share a budget, the same trade-off BIND's response rate limiting makes with
//! its bounded table.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

/// Number of buckets (a power of two).
pub const SLOTS: usize = 1 << 16;

/// What the limiter enforces; see the `rate_limit_*` settings of the DNS configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Steady queries per second per source network; 0 turns limiting off.
    pub qps: u32,
    /// Burst above the steady rate, in queries; 0 means `qps`.
    pub burst: u32,
    /// Every this-many-th query over the limit slips through as a truncated reply; 0 never.
    pub slip: u32,
    /// IPv4 sources are grouped by this many leading bits.
    pub ipv4_prefix_len: u8,
    /// IPv6 sources are grouped by this many leading bits.
    pub ipv6_prefix_len: u8,
}

impl Default for Policy {
    /// Off; when turned on, BIND's RRL defaults for the rest (slip 2, /24, /56).
    fn default() -> Self {
        Self { qps: 0, burst: 0, slip: 2, ipv4_prefix_len: 24, ipv6_prefix_len: 56 }
    }
}

/// What to do with a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget: answer it.
    Allow,
    /// Over the budget: send nothing.
    Drop,
    /// Over the budget, but its turn to slip: send an empty reply with TC set.
    Slip,
}

/// Generic cell rate algorithm limiter keyed by source network.
#[derive(Debug)]
pub struct RateLimiter {
    /// Theoretical arrival time per slot, in nanoseconds since `origin`.
    slots: Box<[AtomicU64]>,
    /// Queries over the limit per slot, to slip every `slip`-th (as BIND counts per entry).
    over: Box<[AtomicU32]>,
    interval_ns: u64,
    tolerance_ns: u64,
    slip: u32,
    v4_mask: u32,
    v6_mask: u128,
    origin: Instant,
}

impl RateLimiter {
    /// A limiter enforcing `policy`; `None` when `policy.qps` is 0 (limiting off).
    pub fn new(policy: Policy, origin: Instant) -> Option<Self> {
        if policy.qps == 0 {
            return None;
        }
        let burst = if policy.burst == 0 { policy.qps } else { policy.burst };
        let interval_ns = (1_000_000_000 / u64::from(policy.qps)).max(1);
        Some(Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            over: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst - 1),
            slip: policy.slip,
            v4_mask: u32::MAX
                .checked_shl(32 - u32::from(policy.ipv4_prefix_len.min(32)))
                .unwrap_or(0),
            v6_mask: u128::MAX
                .checked_shl(128 - u32::from(policy.ipv6_prefix_len.min(128)))
                .unwrap_or(0),
            origin,
        })
    }

    /// The verdict on a query from `ip` arriving at `now`; consumes one unit of the source
    /// network's budget when it is allowed.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Verdict {
        let t = now.saturating_duration_since(self.origin).as_nanos() as u64;
        let i = slot_of(self.network(ip));
        let slot = &self.slots[i];
        let mut tat = slot.load(Ordering::Relaxed);
        loop {
            if tat > t + self.tolerance_ns {
                return self.over_limit(i);
            }
            let next = tat.max(t) + self.interval_ns;
            match slot.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Verdict::Allow,
                Err(actual) => tat = actual,
            }
        }
    }

    /// Every `slip`-th query over the limit in a slot slips; the others are dropped. With
    /// slip 2 the first is dropped and the second slips, as in BIND.
    fn over_limit(&self, slot: usize) -> Verdict {
        if self.slip == 0 {
            return Verdict::Drop;
        }
        let n = self.over[slot].fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if n.is_multiple_of(self.slip) { Verdict::Slip } else { Verdict::Drop }
    }

    /// The source network `ip` is limited under: its address cut to the configured prefix
    /// (v4-mapped v6 counted as v4).
    fn network(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & self.v4_mask).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & self.v6_mask).into()),
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
