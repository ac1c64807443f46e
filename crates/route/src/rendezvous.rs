//! Weighted rendezvous (highest random weight) hashing and the stable hash it runs on.
//!
//! Why HRW rather than a ring or Maglev: picks are confined to one zone (tens of nodes), so
//! scoring every member is cheap (O(zone size), a few nanoseconds each) and needs no per-zone
//! table to rebuild when a weight or health changes. HRW moves the minimum: when a node joins,
//! leaves or is skipped, only the keys whose top-scoring node changed move, about 1/N of them;
//! when one node's weight changes, keys move only to or from that node. Weights follow the
//! logarithmic method (Schindelhauer & Schomaker, "Weighted distributed hash tables"):
//! `score = w / -ln(u)` (computed as `ln(u) / w`, see [`score`]) with `u` uniform in (0, 1) from `hash(key, node)`, which gives node `i`
//! the share `w_i / sum(w)` of keys exactly. The same scores with a random key draw a
//! weighted sample without replacement (Efraimidis & Spirakis), which serves the DNS
//! `weighted_random` policy with the same code.
//!
//! The hash is defined here, not taken from `std` or `ahash`, because several router instances
//! must agree on every key across processes, versions and CPUs.

const K0: u64 = 0x9E37_79B9_7F4A_7C15;
const K1: u64 = 0xBF58_476D_1CE4_E5B9;
const K2: u64 = 0x94D0_49BB_1331_11EB;

/// Folded 64x64->128 multiply: the mixing step of wyhash-style hashes.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// SplitMix64 finalizer: a bijective avalanche on 64 bits.
#[inline(always)]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(K1);
    x = (x ^ (x >> 27)).wrapping_mul(K2);
    x ^ (x >> 31)
}

/// Stable 64-bit hash of `bytes` under `seed`.
#[inline]
pub(crate) fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ K0.wrapping_mul(bytes.len() as u64 + 1);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = fold_mul(h ^ w, K1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = fold_mul(h ^ u64::from_le_bytes(buf), K2);
    }
    mix64(h)
}

/// Stable hash of an ASCII string, case-insensitively (for DNS names), one trailing dot
/// ignored.
pub(crate) fn hash_name(name: &str) -> u64 {
    let name = name.strip_suffix('.').unwrap_or(name).as_bytes();
    let mut h = K0 ^ name.len() as u64;
    for chunk in name.chunks(8) {
        let mut buf = [0u8; 8];
        buf[..chunk.len()].copy_from_slice(chunk);
        h = fold_mul(h ^ ascii_lower8(u64::from_le_bytes(buf)), K1);
    }
    mix64(h)
}

/// ASCII lower-case of eight bytes at once: adds 0x20 to each byte in `A..=Z`, leaves every
/// other byte (including non-ASCII) alone.
#[inline]
fn ascii_lower8(w: u64) -> u64 {
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low = w & LOW7;
    // High bit of each byte set where the low seven bits are >= 'A', and where > 'Z'; no
    // carry crosses a byte because each sum stays below 0x100.
    let ge_a = low + 0x3F3F_3F3F_3F3F_3F3F;
    let gt_z = low + 0x2525_2525_2525_2525;
    let upper = ge_a & !gt_z & !w & HIGH;
    w | (upper >> 2)
}

/// Combines a running key hash with the hash of one more key part.
#[inline]
pub(crate) fn combine(h: u64, part: u64) -> u64 {
    mix64(h.rotate_left(23) ^ part)
}

/// Per-node seed derived from its id, so scores survive re-ordering of the spec.
pub(crate) fn node_seed(id: &str) -> u64 {
    hash_bytes(0x5157_4954_4348_5944, id.as_bytes())
}

/// HRW score of a node for `key`, given the reciprocal of its weight. Larger wins.
///
/// This is `-1 / score` of the textbook `w / -ln(u)` form, the same order without a
/// division: `ln(u) * (1 / w)`, negative, closer to zero for the winner. Picks use the
/// integer form, [`rank`]; this is the reference the tests hold it to.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn score(key: u64, node_seed: u64, inv_weight: f64) -> f64 {
    ln_fast(unit(mix64(key ^ node_seed))) * inv_weight
}

/// The `count` members that win `key` by unweighted rendezvous hashing, best first: every
/// instance that knows the same members picks the same ones, and when a member joins or
/// leaves only the keys it wins or held move. Ties (equal hashes) go to the smaller name.
/// Used to share work among several instances (each node is probed by the members that win
/// its id).
pub fn top_members<'m>(key: &str, members: &[&'m str], count: usize) -> Vec<&'m str> {
    let k = hash_bytes(0x7368_6172_6573_0001, key.as_bytes());
    let mut scored: Vec<(u64, &'m str)> =
        members.iter().map(|m| (mix64(k ^ node_seed(m)), *m)).collect();
    scored.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    scored.into_iter().take(count).map(|(_, m)| m).collect()
}

/// Bits of a rank that hold the candidate's offset in its zone.
const OFFSET_BITS: u32 = 20;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;
/// Most members a zone may have: offsets must fit [`OFFSET_BITS`].
pub(crate) const MAX_ZONE_MEMBERS: usize = OFFSET_MASK as usize;
/// Set in the rank of a degraded candidate, so every healthy one ranks ahead of it.
pub(crate) const DEGRADED_RANK: u64 = 1 << 63;
/// "No candidate": worse than every real rank.
pub(crate) const NO_RANK: u64 = u64::MAX;

/// HRW [`score`] as an integer where lower wins, unique per zone member.
///
/// `-score` is a non-negative double, and the bit patterns of non-negative doubles order
/// like their values, so the rank is those bits with the low [`OFFSET_BITS`] (below a
/// relative 2^-32 of the value) replaced by the member's offset. Ranks then compare as
/// plain `u64`s, which lets a pick keep its best few with branch-free `min`/`max` instead
/// of data-dependent branches, and equal scores keep the earlier member ahead. Bit 63 is
/// free (the sign) and carries [`DEGRADED_RANK`].
#[inline(always)]
pub(crate) fn rank(key: u64, node_seed: u64, inv_weight: f32, offset: u32) -> u64 {
    let cost = -ln_fast(unit(mix64(key ^ node_seed))) * f64::from(inv_weight);
    (cost.to_bits() & !OFFSET_MASK) | u64::from(offset)
}

/// 53 random bits of `h` -> u in (0, 1), never 0 or 1.
#[inline(always)]
fn unit(h: u64) -> f64 {
    // Through i64: the same exact value (it fits in 53 bits), one conversion instruction.
    (((h >> 11) as i64) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Binary exponent `e` of a positive normal `x`, so that `2^e <= x < 2^(e+1)`.
#[inline(always)]
fn exponent(x: f64) -> i64 {
    ((x.to_bits() >> 52) & 0x7FF) as i64 - 1023
}

/// Mantissa bits used to index [`LN_TABLE`].
const TABLE_BITS: u32 = 7;
const TABLE_LEN: usize = 1 << TABLE_BITS;

/// `(ln c, 1 / c)` for the midpoints `c` of `TABLE_LEN` equal slices of [1, 2), computed at
/// compile time with the atanh series (converges fast for `c < 2`).
static LN_TABLE: [(f64, f64); TABLE_LEN] = {
    let mut t = [(0.0, 0.0); TABLE_LEN];
    let mut i = 0;
    while i < TABLE_LEN {
        let c = 1.0 + (i as f64 + 0.5) / TABLE_LEN as f64;
        let x = (c - 1.0) / (c + 1.0);
        let x2 = x * x;
        let (mut term, mut sum, mut k) = (x, 0.0, 0);
        while k < 40 {
            sum += term / (2 * k + 1) as f64;
            term *= x2;
            k += 1;
        }
        t[i] = (2.0 * sum, 1.0 / c);
        i += 1;
    }
    t
};

/// Natural logarithm of a positive normal `x`, to within 2e-15 absolute error, with no
/// division and no libm call: `x = m * 2^e`, `m = c * (1 + r)` with `c` from a 128-entry
/// table and `|r| < 1/256`, then five terms of the series of `ln(1 + r)`. A pick computes one
/// per candidate, so this is the inner loop of every decision.
#[inline(always)]
pub(crate) fn ln_fast(x: f64) -> f64 {
    const LN2: f64 = std::f64::consts::LN_2;
    let bits = x.to_bits();
    let e = exponent(x);
    let m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000);
    let idx = ((bits >> (52 - TABLE_BITS)) as usize) & (TABLE_LEN - 1);
    let (ln_c, inv_c) = LN_TABLE[idx];
    let r = m * inv_c - 1.0;
    let r2 = r * r;
    let series = r - r2 * (0.5 - r * (1.0 / 3.0 - r * (0.25 - r * 0.2)));
    e as f64 * LN2 + ln_c + series
}

/// The `limit` lowest ranks offered for one zone, best first, kept sorted by a
/// compare-exchange pass per offer (no data-dependent branch: every member of a zone is
/// offered, and which ones win is unpredictable).
#[derive(Debug, Clone)]
pub(crate) struct Best<const K: usize> {
    ranks: [u64; K],
    limit: usize,
    /// Slot of the zone's first member: offsets in ranks are relative to it.
    base: u32,
}

impl<const K: usize> Best<K> {
    /// Keeps at most `limit` (clamped to 1..=`K`) ranks.
    pub(crate) fn new(limit: usize) -> Self {
        Self { ranks: [NO_RANK; K], limit: limit.clamp(1, K), base: 0 }
    }

    /// Empties the list for a zone whose members start at slot `base`.
    #[inline]
    pub(crate) fn clear(&mut self, base: u32) {
        self.ranks[..self.limit].fill(NO_RANK);
        self.base = base;
    }

    /// Offers a batch of ranks; [`NO_RANK`]s change nothing. The common sizes keep the list
    /// in registers, so the only dependency from one rank to the next is a `min`.
    #[inline]
    pub(crate) fn offer_all(&mut self, ranks: &[u64]) {
        match self.limit {
            1 => {
                let mut a = self.ranks[0];
                for &r in ranks {
                    a = a.min(r);
                }
                self.ranks[0] = a;
            }
            2 => {
                let [mut a, mut b] = [self.ranks[0], self.ranks[1]];
                for &r in ranks {
                    b = b.min(a.max(r));
                    a = a.min(r);
                }
                self.ranks[..2].copy_from_slice(&[a, b]);
            }
            3 => {
                let [mut a, mut b, mut c] = [self.ranks[0], self.ranks[1], self.ranks[2]];
                for &r in ranks {
                    c = c.min(b.max(r));
                    b = b.min(a.max(r));
                    a = a.min(r);
                }
                self.ranks[..3].copy_from_slice(&[a, b, c]);
            }
            _ => ranks.iter().for_each(|&r| self.offer(r)),
        }
    }

    /// Offers one rank; [`NO_RANK`] changes nothing.
    #[inline]
    pub(crate) fn offer(&mut self, mut rank: u64) {
        for kept in &mut self.ranks[..self.limit] {
            let low = (*kept).min(rank);
            rank = (*kept).max(rank);
            *kept = low;
        }
    }

    /// Drops degraded candidates when a healthy one leads: the degraded tier is used only
    /// when the healthy tier is empty.
    #[inline]
    pub(crate) fn keep_best_tier(&mut self) {
        if self.ranks[0] & DEGRADED_RANK == 0 {
            for kept in &mut self.ranks[..self.limit] {
                if *kept & DEGRADED_RANK != 0 {
                    *kept = NO_RANK;
                }
            }
        }
    }

    /// Whether the leader is from the degraded tier.
    pub(crate) fn degraded(&self) -> bool {
        self.ranks[0] != NO_RANK && self.ranks[0] & DEGRADED_RANK != 0
    }

    /// Slots kept, best first.
    pub(crate) fn items(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.ranks[..self.len()].iter().map(|&r| self.base + (r & OFFSET_MASK) as u32)
    }

    /// Number of ranks kept.
    pub(crate) fn len(&self) -> usize {
        self.ranks[..self.limit].iter().take_while(|&&r| r != NO_RANK).count()
    }

    /// Slot at position `i`, best first.
    pub(crate) fn get(&self, i: usize) -> Option<u32> {
        self.items().nth(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_PATH: u64 = 16_429_349_550_914_000_070;
    const PINNED_NAME: u64 = 1_744_564_568_867_192_142;

    #[test]
    fn hash_is_stable_across_builds() {
        // Pinned values: a change here reshuffles every deployed key.
        assert_ne!(hash_bytes(0, b"a"), hash_bytes(0, b"b"));
        assert_ne!(hash_bytes(0, b"abcdefgh1"), hash_bytes(0, b"abcdefgh2"));
        assert_eq!(hash_name("Video.Example.COM."), hash_name("video.example.com"));
        assert_eq!(node_seed("edge-1"), 390_158_186_291_012_176);
        assert_eq!(hash_bytes(7, b"/videos/movie/seg-0001.ts"), PINNED_PATH);
        assert_eq!(hash_name("video.cdn.example.com"), PINNED_NAME);
    }

    #[test]
    fn ascii_lower8_matches_bytewise() {
        let mut h = 3u64;
        for _ in 0..100_000 {
            h = mix64(h);
            let want = u64::from_le_bytes(h.to_le_bytes().map(|b| b.to_ascii_lowercase()));
            assert_eq!(ascii_lower8(h), want, "{h:#x}");
        }
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b; 8]);
            assert_eq!(ascii_lower8(w), u64::from_le_bytes([b.to_ascii_lowercase(); 8]));
        }
    }

    #[test]
    fn ln_fast_is_accurate() {
        let mut h = 1u64;
        for _ in 0..100_000 {
            h = mix64(h);
            let u = ((h >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
            let (want, got) = (u.ln(), ln_fast(u));
            assert!((got - want).abs() <= 1e-12 * want.abs() + 2e-15, "{u}: {got} vs {want}");
        }
        for u in [f64::MIN_POSITIVE, 1e-300, 0.5, 0.999_999_999, 1.0 - f64::EPSILON] {
            let (want, got) = (u.ln(), ln_fast(u));
            assert!((got - want).abs() <= 1e-12 * want.abs() + 2e-15, "{u}: {got} vs {want}");
        }
    }

    #[test]
    fn best_keeps_lowest_ranks_in_order() {
        let mut t = Best::<4>::new(3);
        t.clear(100);
        for r in [5u64, 1, NO_RANK, 4, 2, 3] {
            t.offer(r);
        }
        assert_eq!(t.items().collect::<Vec<_>>(), vec![101, 102, 103]);
        assert_eq!(t.get(1), Some(102));
        assert_eq!(t.get(3), None);
        t.clear(0);
        assert_eq!(t.len(), 0);
        t.offer(7 | DEGRADED_RANK);
        t.offer(9);
        assert!(!t.degraded());
        t.keep_best_tier();
        assert_eq!(t.items().collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn ranks_order_like_scores() {
        // Skewed weights: the kept members and their order must equal a sort by the
        // floating-point score (ties impossible at these values).
        let weights = [1e-30f32, 0.05, 0.3, 1.0, 1.7, 20.0, 1e6, f32::MAX];
        for limit in [1, 2, 3, 4, 5] {
            for k in 0..2_000u64 {
                let key = mix64(k);
                let mut best = Best::<8>::new(limit);
                best.clear(0);
                let mut reference: Vec<(f64, u32)> = Vec::new();
                let mut ranks = Vec::new();
                for item in 0..24u32 {
                    let seed = node_seed(&format!("n{item}"));
                    let w = weights[(item as usize + k as usize) % weights.len()];
                    ranks.push(rank(key, seed, w, item));
                    reference.push((score(key, seed, f64::from(w)), item));
                }
                // Two batches, as a zone larger than one chunk is offered.
                best.offer_all(&ranks[..10]);
                best.offer_all(&ranks[10..]);
                reference.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                let want: Vec<u32> = reference.iter().take(limit).map(|&(_, i)| i).collect();
                assert_eq!(best.items().collect::<Vec<_>>(), want);
            }
        }
    }

    #[test]
    fn members_share_keys_evenly_and_a_leaver_moves_only_its_own() {
        let three = ["a", "b", "c"];
        let two = ["a", "b"];
        let mut wins = std::collections::HashMap::new();
        let mut moved = 0;
        for i in 0..6000 {
            let key = format!("node-{i}");
            let pair = top_members(&key, &three, 2);
            assert_eq!(pair.len(), 2);
            assert_ne!(pair[0], pair[1]);
            for m in &pair {
                *wins.entry(*m).or_insert(0) += 1;
            }
            let before = pair.clone();
            let after = top_members(&key, &two, 2);
            // Keys that did not involve the leaver keep their members, in order.
            if !before.contains(&"c") {
                assert_eq!(before, after);
            } else {
                moved += 1;
            }
            assert_eq!(top_members(&key, &["c", "b", "a"], 2), before, "order of members");
        }
        for m in three {
            let share = wins[m] as f64 / 12000.0;
            assert!((share - 1.0 / 3.0).abs() < 0.03, "{m}: {share}");
        }
        assert!((moved as f64 / 6000.0 - 2.0 / 3.0).abs() < 0.03, "{moved}");
    }
}
