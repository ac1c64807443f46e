//! Longest-prefix-match index for IPv4 and IPv6, flattened into disjoint ranges.
//!
//! Overlapping prefixes are resolved once, at build time, into a sorted list of disjoint
//! address ranges, each carrying the value of the longest prefix covering it. A direct-indexed
//! first level on the top 16 address bits then narrows a lookup to one small bucket, searched
//! by binary search. For IPv4 an entry is one `u32` (the low 16 bits of the range start and a
//! 16-bit value id), so the index costs about 4 bytes per range plus a fixed 256 KiB table,
//! and a lookup touches two or three cache lines. This is the "flattened disjoint ranges with
//! a direct-indexed first level" layout; a poptrie would be smaller but slower to rebuild.
//!
//! The same ranges answer a second question, the *decision depth* of an address (see
//! [`PrefixIndex::decision_depth`]): how many leading bits of it fix the lookup result. That
//! is what a DNS answer may announce as its EDNS Client Subnet scope. Ranges that run across
//! a /16 bucket edge are also kept whole in a short sorted list, so the depth never needs to
//! walk neighbouring buckets.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Value id meaning "no prefix covers this range".
const NONE: u32 = u32::MAX;
/// Largest value id an IPv4 entry can hold (16 bits, `0xFFFF` is "none").
const MAX_V4_VALUES: usize = 0xFFFF;
const BUCKETS: usize = 1 << 16;

/// What a lookup found: the value stored with the longest matching prefix, and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrefixHit {
    /// Value given when the prefix was inserted (a zone index for coverage zones).
    pub value: u32,
    /// Length in bits of the longest matching prefix. Not by itself a safe DNS ECS scope:
    /// more specific prefixes inside it may map elsewhere ([`PrefixIndex::decision_depth`]).
    pub prefix_len: u8,
}

/// Two inserts of the same prefix with different values; the first one is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixConflict {
    /// The prefix, e.g. `192.0.2.0/24`.
    pub prefix: ipnet::IpNet,
    /// Value that was kept (inserted first).
    pub kept: u32,
    /// Value that was dropped.
    pub dropped: u32,
}

/// Errors building an index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// More distinct (value, prefix length) pairs than an entry can address.
    #[error("too many distinct (zone, prefix length) pairs: {0} (at most 65535)")]
    TooManyValues(usize),
}

/// Collects prefixes, then builds a [`PrefixIndex`].
#[derive(Debug, Default)]
pub struct PrefixIndexBuilder {
    v4: Vec<(u32, u8, u32)>,
    v6: Vec<(u128, u8, u32)>,
}

impl PrefixIndexBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `addr/len` (host bits are ignored; `len` is clamped to 32) with `value`.
    pub fn insert_v4(&mut self, addr: Ipv4Addr, len: u8, value: u32) {
        let len = len.min(32);
        let start = u32::from(addr) & mask_v4(len);
        self.v4.push((start, len, value));
    }

    /// Adds `addr/len` (host bits are ignored; `len` is clamped to 128) with `value`.
    pub fn insert_v6(&mut self, addr: Ipv6Addr, len: u8, value: u32) {
        let len = len.min(128);
        let start = u128::from(addr) & mask_v6(len);
        self.v6.push((start, len, value));
    }

    /// Adds a prefix of either family.
    pub fn insert(&mut self, net: ipnet::IpNet, value: u32) {
        match net {
            ipnet::IpNet::V4(n) => self.insert_v4(n.addr(), n.prefix_len(), value),
            ipnet::IpNet::V6(n) => self.insert_v6(n.addr(), n.prefix_len(), value),
        }
    }

    /// Number of prefixes inserted so far, (IPv4, IPv6).
    pub fn len(&self) -> (usize, usize) {
        (self.v4.len(), self.v6.len())
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Builds the index. Exact duplicates with equal values merge silently; with different
    /// values the first insert wins and the pair is returned as a conflict.
    pub fn build(self) -> Result<(PrefixIndex, Vec<PrefixConflict>), IndexError> {
        let mut hits: Vec<PrefixHit> = Vec::new();
        let mut ids: HashMap<PrefixHit, u32> = HashMap::new();
        let mut conflicts = Vec::new();

        let mut v4: Vec<(u128, u8, u32)> =
            self.v4.into_iter().map(|(s, l, v)| (u128::from(s), l, v)).collect();
        let v4_prefixes = v4.len();
        dedup(&mut v4, 32, &mut conflicts);
        intern(&mut v4, &mut hits, &mut ids);
        if hits.len() > MAX_V4_VALUES {
            return Err(IndexError::TooManyValues(hits.len()));
        }
        let ranges = flatten(&v4, 32);
        let (v4_first, v4_entries) = bucketize_v4(&ranges);
        let v4_runs: Box<[(u32, u32)]> =
            crossing_runs(&ranges, 32).into_iter().map(|(s, e)| (s as u32, e as u32)).collect();
        drop(ranges);

        let mut v6 = self.v6;
        let v6_prefixes = v6.len();
        dedup(&mut v6, 128, &mut conflicts);
        intern(&mut v6, &mut hits, &mut ids);
        if hits.len() > MAX_V4_VALUES {
            return Err(IndexError::TooManyValues(hits.len()));
        }
        let ranges = flatten(&v6, 128);
        let (v6_first, v6_starts, v6_values) = bucketize_v6(&ranges);
        let v6_runs = crossing_runs(&ranges, 128).into_boxed_slice();

        Ok((
            PrefixIndex {
                v4_first,
                v4_entries,
                v4_runs,
                v6_first,
                v6_starts,
                v6_values,
                v6_runs,
                hits: hits.into_boxed_slice(),
                v4_prefixes,
                v6_prefixes,
            },
            conflicts,
        ))
    }
}

/// The immutable index. See the module doc for the layout.
#[derive(Debug, Clone)]
pub struct PrefixIndex {
    /// `BUCKETS + 1` offsets into `v4_entries`, one bucket per /16.
    v4_first: Box<[u32]>,
    /// `(low 16 bits of range start) << 16 | value id`, sorted within each bucket; every
    /// bucket starts with an entry at low bits 0.
    v4_entries: Box<[u32]>,
    /// Ranges of one lookup result that cross a /16 bucket edge, as (first, last) address,
    /// sorted and disjoint: a bucket holds only its own part of such a range.
    v4_runs: Box<[(u32, u32)]>,
    v6_first: Box<[u32]>,
    v6_starts: Box<[u128]>,
    v6_values: Box<[u16]>,
    /// Same as `v4_runs` for the IPv6 buckets (top 16 bits).
    v6_runs: Box<[(u128, u128)]>,
    hits: Box<[PrefixHit]>,
    v4_prefixes: usize,
    v6_prefixes: usize,
}

impl Default for PrefixIndex {
    fn default() -> Self {
        PrefixIndexBuilder::new()
            .build()
            .map(|(index, _)| index)
            .unwrap_or_else(|_| unreachable!("an empty index has no values"))
    }
}

impl PrefixIndex {
    /// Longest-prefix match for either family.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<PrefixHit> {
        match ip {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => self.lookup_v4(v4),
                None => self.lookup_v6(a),
            },
        }
    }

    /// Longest-prefix match for an IPv4 address.
    #[inline]
    pub fn lookup_v4(&self, ip: Ipv4Addr) -> Option<PrefixHit> {
        let ip = u32::from(ip);
        let bucket = (ip >> 16) as usize;
        let lo = self.v4_first[bucket] as usize;
        let hi = self.v4_first[bucket + 1] as usize;
        let slice = &self.v4_entries[lo..hi];
        let probe = (ip << 16) | 0xFFFF;
        let pos = slice.partition_point(|&e| e <= probe);
        let value = slice[pos.checked_sub(1)?] & 0xFFFF;
        self.hit(value)
    }

    /// Longest-prefix match for an IPv6 address (IPv4-mapped addresses are not translated
    /// here; [`PrefixIndex::lookup`] does that).
    #[inline]
    pub fn lookup_v6(&self, ip: Ipv6Addr) -> Option<PrefixHit> {
        let ip = u128::from(ip);
        let bucket = (ip >> 112) as usize;
        let lo = self.v6_first[bucket] as usize;
        let hi = self.v6_first[bucket + 1] as usize;
        let pos = self.v6_starts[lo..hi].partition_point(|&s| s <= ip);
        let value = self.v6_values[lo + pos.checked_sub(1)?];
        self.hit(u32::from(value))
    }

    /// Decision depth of `ip` under [`PrefixIndex::lookup`]: the length of the shortest
    /// prefix of `ip` whose every address gets the same lookup result as `ip` (the same
    /// [`PrefixHit`], or no match). A DNS answer chosen from that result holds for the whole
    /// prefix, so this is the largest network an EDNS Client Subnet scope may announce.
    ///
    /// It can be longer than the matched prefix (a more specific prefix inside the match, or
    /// near an unmatched address, maps elsewhere) or shorter (neighbouring prefixes with the
    /// same value and length tile a wider block). IPv4-mapped IPv6 addresses are looked up as
    /// IPv4, so their depth is 96 plus the IPv4 depth; for any other IPv6 address the
    /// IPv4-mapped block `::ffff:0:0/96` counts as a block with another result, since its
    /// lookups go to the IPv4 side.
    pub fn decision_depth(&self, ip: IpAddr) -> u8 {
        match ip {
            IpAddr::V4(a) => self.decision_depth_v4(a),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => 96 + self.decision_depth_v4(v4),
                None => {
                    let depth = self.decision_depth_v6(a);
                    // `a` is outside the mapped /96, so they differ within the first 96
                    // bits and the block of `depth` bits excludes the mapped block exactly
                    // when `depth` exceeds their common prefix.
                    let mapped = u128::from(Ipv4Addr::UNSPECIFIED.to_ipv6_mapped());
                    depth.max(1 + common_prefix_v6(u128::from(a), mapped))
                }
            },
        }
    }

    /// [`PrefixIndex::decision_depth`] over the IPv4 prefixes alone.
    pub fn decision_depth_v4(&self, ip: Ipv4Addr) -> u8 {
        let ip = u32::from(ip);
        let bucket = (ip >> 16) as usize;
        let lo = self.v4_first[bucket] as usize;
        let hi = self.v4_first[bucket + 1] as usize;
        let slice = &self.v4_entries[lo..hi];
        let probe = (ip << 16) | 0xFFFF;
        // At least 1: every bucket starts with an entry at low bits 0, which is <= probe.
        let pos = slice.partition_point(|&e| e <= probe);
        let base = ip & 0xFFFF_0000;
        let mut first = base | (slice[pos - 1] >> 16);
        let mut last = match slice.get(pos) {
            Some(&next) => (base | (next >> 16)) - 1,
            None => base | 0xFFFF,
        };
        if (pos == 1 || pos == slice.len())
            && let Some(&(f, l)) = run_containing(&self.v4_runs, ip)
        {
            (first, last) = (f, l);
        }
        depth_in_run(u128::from(ip), u128::from(first), u128::from(last), 32)
    }

    /// [`PrefixIndex::decision_depth`] over the IPv6 prefixes alone (an IPv4-mapped address
    /// is not translated, as in [`PrefixIndex::lookup_v6`]).
    pub fn decision_depth_v6(&self, ip: Ipv6Addr) -> u8 {
        let ip = u128::from(ip);
        let bucket = (ip >> 112) as usize;
        let lo = self.v6_first[bucket] as usize;
        let hi = self.v6_first[bucket + 1] as usize;
        let starts = &self.v6_starts[lo..hi];
        // At least 1: every bucket starts with its base address.
        let pos = starts.partition_point(|&s| s <= ip);
        let mut first = starts[pos - 1];
        let mut last = match starts.get(pos) {
            Some(&next) => next - 1,
            None => ip | ((1u128 << 112) - 1),
        };
        if (pos == 1 || pos == starts.len())
            && let Some(&(f, l)) = run_containing(&self.v6_runs, ip)
        {
            (first, last) = (f, l);
        }
        depth_in_run(ip, first, last, 128)
    }

    #[inline]
    fn hit(&self, value: u32) -> Option<PrefixHit> {
        if value == 0xFFFF { None } else { self.hits.get(value as usize).copied() }
    }

    /// Number of prefixes inserted, (IPv4, IPv6), before duplicate removal.
    pub fn prefix_counts(&self) -> (usize, usize) {
        (self.v4_prefixes, self.v6_prefixes)
    }

    /// Number of disjoint ranges stored, (IPv4, IPv6).
    pub fn range_counts(&self) -> (usize, usize) {
        (self.v4_entries.len(), self.v6_starts.len())
    }

    /// Heap bytes held by the index.
    pub fn memory_bytes(&self) -> usize {
        self.memory_bytes_v4()
            + size_of_val(&*self.v6_first)
            + size_of_val(&*self.v6_starts)
            + size_of_val(&*self.v6_values)
            + size_of_val(&*self.v6_runs)
            + size_of_val(&*self.hits)
    }

    /// Heap bytes of the IPv4 half alone.
    pub fn memory_bytes_v4(&self) -> usize {
        size_of_val(&*self.v4_first) + size_of_val(&*self.v4_entries) + size_of_val(&*self.v4_runs)
    }
}

fn mask_v4(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
}

fn mask_v6(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len)) }
}

/// Number of leading bits two IPv6 addresses share.
fn common_prefix_v6(a: u128, b: u128) -> u8 {
    (a ^ b).leading_zeros() as u8
}

/// The run in `runs` (sorted, disjoint `(first, last)` pairs) that contains `ip`.
fn run_containing<T: Copy + Ord>(runs: &[(T, T)], ip: T) -> Option<&(T, T)> {
    let i = runs.partition_point(|r| r.0 <= ip);
    runs[..i].last().filter(|r| r.1 >= ip)
}

/// Decision depth of `ip` given `[first, last]`, the maximal address range around it with
/// one lookup result, in a `bits`-wide family (addresses held in the low `bits` of a u128).
///
/// Why this is exact: the addresses sharing the first `k` bits of `ip` form an aligned
/// interval containing `ip`. It has one result exactly when it lies inside `[first, last]`:
/// if it reached past either end it would contain `first - 1` or `last + 1`, whose results
/// differ because the range is maximal. Being an interval around `ip`, it stays inside
/// exactly when it contains neither neighbour, that is when `k` exceeds the number of
/// leading bits `ip` shares with each neighbour that exists. The smallest such `k` is one
/// more than the larger of those two counts, or 0 when the range is the whole space. Each
/// count is below `bits` since a neighbour differs from `ip`, so the depth is at most
/// `bits`.
///
/// The per-prefix form of the same number, for a match M of length m (0 with no match):
/// max(m, 1 + the most leading bits `ip` shares with a prefix E longer than m). For k >= m
/// the block of `ip`'s first k bits lies in M, and an address of it gets another result only
/// if a prefix E longer than m covers it (a prefix no longer than m that meets M contains M
/// and loses to it). Such an E does not contain `ip` (it would be the match), so it meets
/// the block only by lying inside it, which takes len(E) >= k and E sharing k bits with
/// `ip`; and `ip` shares fewer than len(E) bits with E, so capping at len(E) - 1 changes
/// nothing. For k < m the block leaves M and holds addresses M cannot match. Nesting needs
/// no special care: an E inside a longer-than-m E' (which cannot contain `ip` either)
/// shares exactly as many bits with `ip` as E' does, since both differ from `ip` within
/// E''s bits. The range form reaches the same maximum through the two nearest range edges
/// in address order. It can only come out shorter than m, where adjacent prefixes with the
/// same value and length merged into one range: the lookup result is the same across them,
/// so that depth is still exact for it.
fn depth_in_run(ip: u128, first: u128, last: u128, bits: u32) -> u8 {
    let max = last_addr(0, 0, bits);
    // Addresses sit in the low `bits`, so the top `128 - bits` bits of the XOR are zero.
    let shared = |other: u128| ((ip ^ other).leading_zeros() - (128 - bits)) as u8;
    let below = if first > 0 { 1 + shared(first - 1) } else { 0 };
    let above = if last < max { 1 + shared(last + 1) } else { 0 };
    below.max(above)
}

/// Ranges of `ranges` (global boundaries, each range running to the next start) that
/// begin and end in different buckets of the top 16 bits, as `(first, last)` addresses.
fn crossing_runs(ranges: &[(u128, u32)], bits: u32) -> Vec<(u128, u128)> {
    let shift = bits - 16;
    let max = last_addr(0, 0, bits);
    let mut out = Vec::new();
    for (i, &(first, _)) in ranges.iter().enumerate() {
        let last = ranges.get(i + 1).map_or(max, |n| n.0 - 1);
        if first >> shift != last >> shift {
            out.push((first, last));
        }
    }
    out
}

/// Last address covered by `start/len` in a `bits`-wide family.
fn last_addr(start: u128, len: u8, bits: u32) -> u128 {
    let host_bits = bits - u32::from(len);
    let host = if host_bits == 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
    start | host
}

/// Sorts by (start, len) keeping insertion order among equals, then drops repeats.
fn dedup(v: &mut Vec<(u128, u8, u32)>, bits: u32, conflicts: &mut Vec<PrefixConflict>) {
    v.sort_by_key(|&(s, l, _)| (s, l));
    v.dedup_by(|later, first| {
        if later.0 != first.0 || later.1 != first.1 {
            return false;
        }
        if later.2 != first.2 {
            conflicts.push(PrefixConflict {
                prefix: to_net(first.0, first.1, bits),
                kept: first.2,
                dropped: later.2,
            });
        }
        true
    });
}

fn to_net(start: u128, len: u8, bits: u32) -> ipnet::IpNet {
    if bits == 32 {
        let addr = Ipv4Addr::from(start as u32);
        ipnet::IpNet::V4(ipnet::Ipv4Net::new_assert(addr, len))
    } else {
        ipnet::IpNet::V6(ipnet::Ipv6Net::new_assert(Ipv6Addr::from(start), len))
    }
}

/// Replaces each entry's value by the id of its (value, length) pair.
fn intern(v: &mut [(u128, u8, u32)], hits: &mut Vec<PrefixHit>, ids: &mut HashMap<PrefixHit, u32>) {
    for e in v {
        let hit = PrefixHit { value: e.2, prefix_len: e.1 };
        e.2 = *ids.entry(hit).or_insert_with(|| {
            hits.push(hit);
            (hits.len() - 1) as u32
        });
    }
}

/// Turns sorted, nested-or-disjoint prefixes into `(range start, value id)` boundaries: each
/// range runs to the next start, and carries the id of the innermost prefix covering it.
fn flatten(sorted: &[(u128, u8, u32)], bits: u32) -> Vec<(u128, u32)> {
    let mut out: Vec<(u128, u32)> = Vec::with_capacity(sorted.len() * 2 + 1);
    let emit = |out: &mut Vec<(u128, u32)>, pos: u128, val: u32| {
        if let Some(last) = out.last_mut()
            && last.0 == pos
        {
            last.1 = val;
            let n = out.len();
            if n >= 2 && out[n - 2].1 == val {
                out.pop();
            }
            return;
        }
        if out.last().is_some_and(|l| l.1 == val) {
            return;
        }
        out.push((pos, val));
    };
    emit(&mut out, 0, NONE);
    // Open prefixes, outermost first: (last address, value id).
    let mut stack: Vec<(u128, u32)> = Vec::with_capacity(bits as usize + 1);
    for &(start, len, val) in sorted {
        while let Some(&(end, _)) = stack.last() {
            if end >= start {
                break;
            }
            stack.pop();
            let parent = stack.last().map_or(NONE, |p| p.1);
            emit(&mut out, end + 1, parent);
        }
        stack.push((last_addr(start, len, bits), val));
        emit(&mut out, start, val);
    }
    let max = last_addr(0, 0, bits);
    while let Some((end, _)) = stack.pop() {
        if end < max {
            let parent = stack.last().map_or(NONE, |p| p.1);
            emit(&mut out, end + 1, parent);
        }
    }
    out
}

/// Splits global IPv4 boundaries into /16 buckets, each starting with an entry at its base.
fn bucketize_v4(ranges: &[(u128, u32)]) -> (Box<[u32]>, Box<[u32]>) {
    let mut first = Vec::with_capacity(BUCKETS + 1);
    let mut entries: Vec<u32> = Vec::with_capacity(ranges.len() + BUCKETS);
    let mut i = 0;
    let mut cur = NONE;
    for b in 0..BUCKETS as u128 {
        first.push(entries.len() as u32);
        let base = b << 16;
        let next = base + (1 << 16);
        while i < ranges.len() && ranges[i].0 <= base {
            cur = ranges[i].1;
            i += 1;
        }
        entries.push(cur & 0xFFFF);
        while i < ranges.len() && ranges[i].0 < next {
            cur = ranges[i].1;
            entries.push((((ranges[i].0 - base) as u32) << 16) | (cur & 0xFFFF));
            i += 1;
        }
    }
    first.push(entries.len() as u32);
    (first.into_boxed_slice(), entries.into_boxed_slice())
}

/// Splits global IPv6 boundaries into buckets on the top 16 bits.
/// IPv6 bucket offsets, range starts and value ids.
type V6Buckets = (Box<[u32]>, Box<[u128]>, Box<[u16]>);

fn bucketize_v6(ranges: &[(u128, u32)]) -> V6Buckets {
    let mut first = Vec::with_capacity(BUCKETS + 1);
    let mut starts: Vec<u128> = Vec::with_capacity(ranges.len() + BUCKETS);
    let mut values: Vec<u16> = Vec::with_capacity(ranges.len() + BUCKETS);
    let mut i = 0;
    let mut cur = NONE;
    for b in 0..BUCKETS as u128 {
        first.push(starts.len() as u32);
        let base = b << 112;
        let next = if b + 1 == BUCKETS as u128 { None } else { Some((b + 1) << 112) };
        while i < ranges.len() && ranges[i].0 <= base {
            cur = ranges[i].1;
            i += 1;
        }
        starts.push(base);
        values.push((cur & 0xFFFF) as u16);
        while i < ranges.len() && next.is_none_or(|n| ranges[i].0 < n) {
            cur = ranges[i].1;
            starts.push(ranges[i].0);
            values.push((cur & 0xFFFF) as u16);
            i += 1;
        }
    }
    first.push(starts.len() as u32);
    (first.into_boxed_slice(), starts.into_boxed_slice(), values.into_boxed_slice())
}
