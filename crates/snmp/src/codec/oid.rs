//! Object identifiers: an owned [`Oid`] and a borrowed, validated [`OidRef`] that decodes its
//! sub-identifiers lazily from the BER content.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use super::error::DecodeError;

/// RFC 2578 section 3.5: at most 128 sub-identifiers, each at most 2^32-1.
pub const MAX_OID_LEN: usize = 128;

/// An owned object identifier.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Oid(Arcs);

/// Sub-identifiers up to this count are stored inline: table instances (ifTable is 11 arcs)
/// then cost no allocation when decoded.
const INLINE_ARCS: usize = 15;

/// The sub-identifiers of an [`Oid`], inline when short.
#[derive(Clone)]
enum Arcs {
    Inline(u8, [u32; INLINE_ARCS]),
    Heap(Box<[u32]>),
}

impl Arcs {
    fn from_slice(a: &[u32]) -> Self {
        if a.len() <= INLINE_ARCS {
            let mut arcs = [0; INLINE_ARCS];
            arcs[..a.len()].copy_from_slice(a);
            Arcs::Inline(a.len() as u8, arcs)
        } else {
            Arcs::Heap(a.into())
        }
    }

    fn from_iter_exact(it: impl Iterator<Item = u32>, count: usize) -> Self {
        if count <= INLINE_ARCS {
            let mut arcs = [0; INLINE_ARCS];
            let mut n = 0;
            for (slot, a) in arcs.iter_mut().zip(it) {
                *slot = a;
                n += 1;
            }
            Arcs::Inline(n as u8, arcs)
        } else {
            let mut v = Vec::with_capacity(count);
            v.extend(it);
            Arcs::Heap(v.into_boxed_slice())
        }
    }

    fn from_vec(v: Vec<u32>) -> Self {
        if v.len() <= INLINE_ARCS { Self::from_slice(&v) } else { Arcs::Heap(v.into_boxed_slice()) }
    }
}

impl Default for Arcs {
    fn default() -> Self {
        Arcs::Inline(0, [0; INLINE_ARCS])
    }
}

impl std::ops::Deref for Arcs {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match self {
            Arcs::Inline(n, a) => &a[..*n as usize],
            Arcs::Heap(b) => b,
        }
    }
}

impl PartialEq for Arcs {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Arcs {}

impl std::hash::Hash for Arcs {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

/// Why a textual or numeric OID was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OidError {
    #[error("an OID needs at least one sub-identifier")]
    TooShort,
    #[error("an OID has at most 128 sub-identifiers")]
    TooLong,
    #[error(
        "the first sub-identifier must be 0, 1 or 2, and the second below 40 unless the first is 2"
    )]
    BadPrefix,
    #[error("not a numeric OID")]
    Syntax,
}

impl Oid {
    /// Builds an OID, checking the encodability rules of X.690 section 8.19. A single arc
    /// (`.1`, the usual root of a whole-agent walk) is allowed although BER cannot carry it:
    /// it is sent as `N.0`, as net-snmp's `asn_build_objid` sends it, and sorts before every
    /// OID below it.
    pub fn new(arcs: impl Into<Vec<u32>>) -> Result<Self, OidError> {
        let arcs = arcs.into();
        let Some(&first) = arcs.first() else { return Err(OidError::TooShort) };
        if arcs.len() > MAX_OID_LEN {
            return Err(OidError::TooLong);
        }
        let second = arcs.get(1).copied().unwrap_or(0);
        if first > 2 || (first < 2 && second >= 40) || (first == 2 && second > u32::MAX - 80) {
            return Err(OidError::BadPrefix);
        }
        Ok(Self(Arcs::from_vec(arcs)))
    }

    /// Builds an OID from a constant the caller knows is valid (MIB definitions).
    ///
    /// # Panics
    /// When `arcs` is not a valid OID; only use with literals.
    pub fn from_static(arcs: &[u32]) -> Self {
        match Self::new(arcs.to_vec()) {
            Ok(o) => o,
            Err(e) => panic!("invalid OID literal {arcs:?}: {e}"),
        }
    }

    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// This OID followed by `suffix` (a table column plus an index).
    pub fn join(&self, suffix: &[u32]) -> Oid {
        let mut v = self.0.to_vec();
        v.extend_from_slice(suffix);
        Oid(Arcs::from_vec(v))
    }

    /// The arcs after `prefix`, if this OID starts with it.
    pub fn suffix_after(&self, prefix: &Oid) -> Option<&[u32]> {
        self.0.strip_prefix(&*prefix.0)
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        let a = &self.0;
        let first = a.first().map_or(0, |&x| x * 40) + a.get(1).copied().unwrap_or(0);
        push_subid(out, first);
        for &s in a.get(2..).unwrap_or_default() {
            push_subid(out, s);
        }
    }
}

fn push_subid(out: &mut Vec<u8>, v: u32) {
    let mut n = 1;
    while n < 5 && v >> (7 * n) != 0 {
        n += 1;
    }
    for i in (0..n).rev() {
        let b = ((v >> (7 * i)) & 0x7f) as u8;
        out.push(if i == 0 { b } else { b | 0x80 });
    }
}

impl FromStr for Oid {
    type Err = OidError;
    fn from_str(s: &str) -> Result<Self, OidError> {
        let s = s.strip_prefix('.').unwrap_or(s);
        let arcs = s
            .split('.')
            .map(|p| p.parse::<u32>().map_err(|_| OidError::Syntax))
            .collect::<Result<Vec<_>, _>>()?;
        Oid::new(arcs)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl PartialOrd for Oid {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Lexicographic by sub-identifier, the order GETNEXT walks in (RFC 3416 section 4.2.2).
impl Ord for Oid {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

impl AsRef<[u32]> for Oid {
    fn as_ref(&self) -> &[u32] {
        &self.0
    }
}

/// A decoded OID that still points into the message buffer. Its content was validated when
/// it was decoded, so iterating cannot fail.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OidRef<'a>(&'a [u8]);

impl<'a> OidRef<'a> {
    /// Validates BER OID content: non-empty, every sub-identifier terminated, minimal, within
    /// 32 bits, and at most [`MAX_OID_LEN`] arcs.
    pub fn parse(c: &'a [u8]) -> Result<Self, DecodeError> {
        if c.is_empty() {
            return Err(DecodeError::BadOid);
        }
        let mut arcs = 1usize;
        let mut cur: u64 = 0;
        let mut start = true;
        for &b in c {
            if start && b == 0x80 {
                return Err(DecodeError::BadOid);
            }
            cur = (cur << 7) | (b & 0x7f) as u64;
            if cur > u32::MAX as u64 {
                return Err(DecodeError::BadOid);
            }
            start = b & 0x80 == 0;
            if start {
                arcs += 1;
                cur = 0;
            }
        }
        if !start || arcs > MAX_OID_LEN {
            return Err(DecodeError::BadOid);
        }
        Ok(Self(c))
    }

    /// The BER content bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    pub fn iter(&self) -> OidIter<'a> {
        OidIter { rest: self.0, first: true, pending: None }
    }

    pub fn to_oid(&self) -> Oid {
        // Every arc ends with a byte below 0x80; the first byte holds two arcs.
        let arcs = self.0.iter().filter(|b| **b & 0x80 == 0).count() + 1;
        Oid(Arcs::from_iter_exact(self.iter(), arcs))
    }

    pub fn starts_with(&self, prefix: &Oid) -> bool {
        let mut it = self.iter();
        prefix.0.iter().all(|p| it.next() == Some(*p))
    }

    /// Compares with an owned OID in GETNEXT order without allocating.
    pub fn cmp_oid(&self, other: &Oid) -> Ordering {
        self.iter().cmp(other.0.iter().copied())
    }
}

impl fmt::Display for OidRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for OidRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OidRef({self})")
    }
}

impl PartialEq<Oid> for OidRef<'_> {
    fn eq(&self, other: &Oid) -> bool {
        self.cmp_oid(other) == Ordering::Equal
    }
}

/// Iterator over the sub-identifiers of an [`OidRef`].
#[derive(Clone, Debug)]
pub struct OidIter<'a> {
    rest: &'a [u8],
    first: bool,
    pending: Option<u32>,
}

impl Iterator for OidIter<'_> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        if self.rest.is_empty() {
            return None;
        }
        let mut v: u32 = 0;
        let mut i = 0;
        while i < self.rest.len() {
            let b = self.rest[i];
            v = (v << 7) | (b & 0x7f) as u32;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        self.rest = &self.rest[i..];
        if self.first {
            self.first = false;
            let (x, y) = match v {
                0..=39 => (0, v),
                40..=79 => (1, v - 40),
                _ => (2, v - 80),
            };
            self.pending = Some(y);
            return Some(x);
        }
        Some(v)
    }
}
