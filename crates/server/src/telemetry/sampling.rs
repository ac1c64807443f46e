//! Which units of work are traced, decided before any span is built: W3C `traceparent`
//! parsing and the ratio sampler. Both cost a few nanoseconds and allocate nothing, so a
//! decision that is not traced pays only for them.

use std::cell::Cell;

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The caller's span, from a `traceparent` header (W3C Trace Context, level 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    /// The trace the caller is part of; never zero.
    pub trace_id: u128,
    /// The caller's span; never zero.
    pub span_id: u64,
    /// The caller's sampled flag.
    pub sampled: bool,
}

impl Parent {
    /// Parses a `traceparent` value: `VV-TTTT...(32)-SSSS...(16)-FF`, lower-case hex.
    /// Version `ff` and all-zero ids are invalid (the header is then ignored, as the
    /// specification asks); a later version may append fields after a `-`.
    pub fn parse(value: &[u8]) -> Option<Self> {
        let value = value.trim_ascii();
        if value.len() < 55 || value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let version = hex(&value[..2])? as u8;
        if version == 0xff || (version == 0 && value.len() != 55) {
            return None;
        }
        if value.len() > 55 && value[55] != b'-' {
            return None;
        }
        let trace_id = hex(&value[3..35])?;
        let span_id = hex(&value[36..52])? as u64;
        let flags = hex(&value[53..55])? as u8;
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        Some(Self { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    /// The caller's span as a remote parent.
    pub fn span_context(&self) -> SpanContext {
        let flags = if self.sampled { TraceFlags::SAMPLED } else { TraceFlags::default() };
        SpanContext::new(
            TraceId::from(self.trace_id),
            SpanId::from(self.span_id),
            flags,
            true,
            TraceState::default(),
        )
    }
}

/// Lower-case hex digits to a number (at most 32 digits).
fn hex(digits: &[u8]) -> Option<u128> {
    let mut n = 0u128;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        n = (n << 4) | u128::from(v);
    }
    Some(n)
}

/// The sampling policy: OpenTelemetry's `parentbased_traceidratio`, or the ratio alone.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    /// A uniformly drawn 64-bit number below this is sampled; `u64::MAX` with `all`.
    threshold: u64,
    /// Ratio 1: everything (`threshold` cannot express it).
    all: bool,
    /// Follow a caller's sampled flag.
    parent_based: bool,
}

impl Sampler {
    /// Samples `ratio` (0..=1) of the roots; `parent_based` follows a caller's decision.
    pub fn new(ratio: f64, parent_based: bool) -> Self {
        let ratio = if ratio.is_finite() { ratio.clamp(0.0, 1.0) } else { 0.0 };
        // 2^64 as a float; the cast saturates just below it.
        let threshold = (ratio * 18_446_744_073_709_551_616.0) as u64;
        Self { threshold, all: ratio >= 1.0, parent_based }
    }

    /// Whether a unit of work with no caller is traced.
    #[inline]
    pub fn root(&self) -> bool {
        self.all || (self.threshold != 0 && next_random() < self.threshold)
    }

    /// Whether a request whose caller sent `parent` is traced: the caller's flag, or the
    /// ratio applied to the low 64 bits of its trace id (as `TraceIdRatioBased` does), so
    /// that every service sampling by one ratio takes the same traces.
    #[inline]
    pub fn child_of(&self, parent: &Parent) -> bool {
        if self.parent_based {
            return parent.sampled;
        }
        self.all || (parent.trace_id as u64) < self.threshold
    }
}

thread_local! {
    /// A per-thread xorshift state; seeded from the thread-local CSPRNG on first use.
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A uniformly distributed 64-bit number from a per-thread xorshift64* generator: a few
/// instructions, no lock, no system call. Not for secrets; only for the sampling draw.
#[inline]
fn next_random() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        if x == 0 {
            x = rand::random::<u64>() | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::{Parent, Sampler};

    const GOOD: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_parses_as_the_specification_says() {
        let p = Parent::parse(GOOD).unwrap();
        assert_eq!(p.trace_id, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(p.span_id, 0x00f067aa0ba902b7);
        assert!(p.sampled);
        let unsampled = Parent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(!unsampled.unwrap().sampled);
        // Surrounding whitespace is optional whitespace of the field.
        assert!(
            Parent::parse(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ").is_some()
        );
        // A later version may carry more fields.
        assert!(
            Parent::parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-cafe")
                .is_some()
        );
        for bad in [
            &b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"[..],
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"",
        ] {
            assert_eq!(Parent::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_ratio_takes_about_its_share() {
        let none = Sampler::new(0.0, true);
        let all = Sampler::new(1.0, true);
        let some = Sampler::new(0.1, true);
        let n = 100_000;
        assert_eq!((0..n).filter(|_| none.root()).count(), 0);
        assert_eq!((0..n).filter(|_| all.root()).count(), n);
        let taken = (0..n).filter(|_| some.root()).count();
        assert!((9_000..=11_000).contains(&taken), "{taken} of {n}");
    }

    #[test]
    fn a_caller_decides_unless_told_otherwise() {
        let p = Parent::parse(GOOD).unwrap();
        let unsampled = Parent { sampled: false, ..p };
        assert!(Sampler::new(0.0, true).child_of(&p));
        assert!(!Sampler::new(1.0, true).child_of(&unsampled));
        // By trace id: the same answer every time, and the low bits decide.
        let ratio = Sampler::new(0.5, false);
        let low = Parent { trace_id: 1, ..unsampled };
        let high = Parent { trace_id: u128::from(u64::MAX), ..p };
        assert!(ratio.child_of(&low) && ratio.child_of(&low));
        assert!(!ratio.child_of(&high));
        assert!(Sampler::new(1.0, false).child_of(&high));
        assert!(!Sampler::new(0.0, false).child_of(&low));
    }
}
