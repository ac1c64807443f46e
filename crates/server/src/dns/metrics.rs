//! DNS listener metrics. Every labelled counter handle is created once at start-up and
//! indexed by small enums, so the hot path is one atomic add per query and no label lookup.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Unit;

use super::answer::{QType, Rcode, Transport};

/// `switchyard_dns_queries_total{qtype,rcode,transport}`: answered queries.
pub const QUERIES: &str = "dns_queries";
/// `switchyard_dns_dropped_total{reason}`: packets not answered (`malformed`, `rate_limited`).
pub const DROPPED: &str = "dns_dropped";
/// `switchyard_dns_truncated_total`: UDP answers sent with TC set.
pub const TRUNCATED: &str = "dns_truncated";
/// `switchyard_dns_response_duration_seconds`: UDP receive-to-send time, recorded for one
/// query in every [`SAMPLE_EVERY`] per socket so the clock is read rarely.
pub const DURATION: &str = "dns_response_duration";
/// Sampling period of the duration histogram.
pub const SAMPLE_EVERY: u64 = 64;

type Labels3 = [(&'static str, &'static str); 3];
type Labels1 = [(&'static str, &'static str); 1];

const TRANSPORTS: [Transport; 2] = [Transport::Udp, Transport::Tcp];

/// Why a packet got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// No header, a response, or a broken TCP frame.
    Malformed,
    /// Over the per-source rate limit.
    RateLimited,
}

/// Handles of every DNS metric.
#[derive(Debug, Clone)]
pub struct DnsMetrics {
    queries: Box<[Counter]>,
    malformed: Counter,
    rate_limited: Counter,
    truncated: Counter,
    duration: Histogram,
}

impl DnsMetrics {
    /// Creates the metrics and registers them in `registry` (under `switchyard_`).
    pub fn register(registry: &crate::metrics::Metrics) -> Self {
        let queries = Family::<Labels3, Counter>::default();
        let dropped = Family::<Labels1, Counter>::default();
        let truncated = Counter::default();
        let duration = Histogram::new(exponential_buckets(2e-6, 2.0, 16));
        let mut handles =
            Vec::with_capacity(TRANSPORTS.len() * QType::ALL.len() * Rcode::ALL.len());
        for t in TRANSPORTS {
            for q in QType::ALL {
                for r in Rcode::ALL {
                    let labels =
                        [("qtype", q.as_str()), ("rcode", r.as_str()), ("transport", t.as_str())];
                    handles.push(queries.get_or_create(&labels).clone());
                }
            }
        }
        let malformed = dropped.get_or_create(&[("reason", "malformed")]).clone();
        let rate_limited = dropped.get_or_create(&[("reason", "rate_limited")]).clone();
        registry.register(|r| {
            r.register(
                QUERIES,
                "DNS queries answered, by query type, response code and transport",
                queries,
            );
            r.register(DROPPED, "DNS packets dropped without an answer, by reason", dropped);
            r.register(TRUNCATED, "DNS UDP responses sent truncated (TC set)", truncated.clone());
            r.register_with_unit(
                DURATION,
                "Time from receiving a DNS query to sending its answer (sampled)",
                Unit::Seconds,
                duration.clone(),
            );
        });
        Self { queries: handles.into(), malformed, rate_limited, truncated, duration }
    }

    /// Counts an answered query.
    #[inline]
    pub fn answered(&self, t: Transport, q: QType, r: Rcode, truncated: bool) {
        let ti = TRANSPORTS.iter().position(|&x| x == t).unwrap_or(0);
        let qi = QType::ALL.iter().position(|&x| x == q).unwrap_or(0);
        let ri = Rcode::ALL.iter().position(|&x| x == r).unwrap_or(0);
        let i = (ti * QType::ALL.len() + qi) * Rcode::ALL.len() + ri;
        if let Some(c) = self.queries.get(i) {
            c.inc();
        }
        if truncated {
            self.truncated.inc();
        }
    }

    /// Counts a dropped packet.
    #[inline]
    pub fn dropped(&self, reason: DropReason) {
        match reason {
            DropReason::Malformed => self.malformed.inc(),
            DropReason::RateLimited => self.rate_limited.inc(),
        };
    }

    /// Records one sampled response duration.
    pub fn observe_duration(&self, seconds: f64) {
        self.duration.observe(seconds);
    }
}
