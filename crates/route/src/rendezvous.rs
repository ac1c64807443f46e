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
#[inline]
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
        for (d, s) in buf.iter_mut().zip(chunk) {
            *d = s.to_ascii_lowercase();
        }
        h = fold_mul(h ^ u64::from_le_bytes(buf), K1);
    }
    mix64(h)
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
/// division: `ln(u) * (1 / w)`, negative, closer to zero for the winner.
#[inline]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn score(key: u64, node_seed: u64, inv_weight: f64) -> f64 {
    ln_fast(unit(mix64(key ^ node_seed))) * inv_weight
}

/// 53 random bits of `h` -> u in (0, 1), never 0 or 1.
#[inline]
fn unit(h: u64) -> f64 {
    // Through i64: the same exact value (it fits in 53 bits), one conversion instruction.
    (((h >> 11) as i64) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Binary exponent `e` of a positive normal `x`, so that `2^e <= x < 2^(e+1)`.
#[inline]
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
#[inline]
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

/// The `K` best (score, item) pairs seen, best first. A fixed-size insertion list: zones
/// are small and `K` is a handful, so this beats sorting.
#[derive(Debug, Clone)]
pub(crate) struct TopK<const K: usize> {
    items: [(f64, u32); K],
    len: usize,
    limit: usize,
}

impl<const K: usize> TopK<K> {
    /// Keeps at most `limit` (clamped to `K`, at least 1) items.
    pub(crate) fn new(limit: usize) -> Self {
        Self { items: [(0.0, 0); K], len: 0, limit: limit.clamp(1, K) }
    }

    /// Empties the list, keeping its limit.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Offers `item` with its HRW [`score`] for `key`; exactly `offer(score(..), item)`.
    ///
    /// Once the list is full, most candidates cannot enter it, and the logarithm is the
    /// costly part of a score. `ln(u) <= u - 1`, tight near 1 where the winners are, so a
    /// candidate whose bound `(u - 1) / weight` (padded far beyond [`ln_fast`]'s error) does not
    /// beat the last kept score is passed over without computing it; rounding is monotonic,
    /// so the skip never drops a candidate `offer` would have kept.
    #[inline(always)]
    pub(crate) fn offer_hrw(&mut self, key: u64, node_seed: u64, inv_weight: f32, item: u32) {
        let u = unit(mix64(key ^ node_seed));
        let w = f64::from(inv_weight);
        if self.len == self.limit && (u - 1.0 + 1e-9) * w <= self.items[self.len - 1].0 {
            return;
        }
        self.offer(ln_fast(u) * w, item);
    }

    /// Offers an item; ties keep the earlier one ahead.
    #[inline]
    pub(crate) fn offer(&mut self, score: f64, item: u32) {
        if self.len == self.limit && score <= self.items[self.len - 1].0 {
            return;
        }
        let mut i = if self.len < self.limit {
            self.len += 1;
            self.len - 1
        } else {
            self.limit - 1
        };
        while i > 0 && self.items[i - 1].0 < score {
            self.items[i] = self.items[i - 1];
            i -= 1;
        }
        self.items[i] = (score, item);
    }

    /// Items, best first.
    pub(crate) fn items(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.items[..self.len].iter().map(|&(_, i)| i)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn get(&self, i: usize) -> Option<u32> {
        (i < self.len).then(|| self.items[i].1)
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
    fn top_k_keeps_best_in_order() {
        let mut t = TopK::<4>::new(3);
        for (s, i) in [(1.0, 1), (5.0, 5), (3.0, 3), (4.0, 4), (2.0, 2), (4.0, 9)] {
            t.offer(s, i);
        }
        assert_eq!(t.items().collect::<Vec<_>>(), vec![5, 4, 9]);
        assert_eq!(t.get(1), Some(4));
        assert_eq!(t.get(3), None);
    }

    #[test]
    fn offer_hrw_matches_scored_offer() {
        // Skewed weights and full lists exercise the bound skip; the kept items and scores
        // must equal plain offers of the full score.
        let weights = [1e-30f32, 0.05, 0.3, 1.0, 1.7, 20.0, 1e6, f32::MAX];
        for limit in [1, 2, 3, 5] {
            for k in 0..2_000u64 {
                let key = mix64(k);
                let (mut fast, mut slow) = (TopK::<8>::new(limit), TopK::<8>::new(limit));
                for item in 0..24u32 {
                    let seed = node_seed(&format!("n{item}"));
                    let w = weights[(item as usize + k as usize) % weights.len()];
                    fast.offer_hrw(key, seed, w, item);
                    slow.offer(score(key, seed, f64::from(w)), item);
                }
                assert_eq!(fast.items().collect::<Vec<_>>(), slow.items().collect::<Vec<_>>());
                assert_eq!(fast.items[..fast.len], slow.items[..slow.len]);
            }
        }
    }
}
