//! DNS listener metrics. Every labelled counter handle is created once at start-up and
//! indexed by small enums, so the hot path is one atomic add per query and no label lookup.

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Unit;

use super::codes::{QType, Rcode, Transport};

/// `switchyard_dns_queries_total{qtype,rcode,transport}`: answered queries.
pub const QUERIES: &str = "dns_queries";
/// `switchyard_dns_dropped_total{reason}`: packets not answered (`malformed`, `rate_limited`).
pub const DROPPED: &str = "dns_dropped";
/// `switchyard_dns_truncated_total`: UDP answers sent with TC set.
pub const TRUNCATED: &str = "dns_truncated";
/// `switchyard_dns_rate_limit_slipped_total`: UDP queries over the rate limit answered with
/// an empty truncated reply instead of being dropped (those dropped count under
/// `switchyard_dns_dropped_total{reason="rate_limited"}`). Not in the other counters.
pub const SLIPPED: &str = "dns_rate_limit_slipped";
/// `switchyard_dns_tcp_evicted_total`: idle TCP connections closed to make room for a new
/// one at `tcp_max_connections`.
pub const TCP_EVICTED: &str = "dns_tcp_evicted";
/// `switchyard_dns_response_duration_seconds`: UDP receive-to-send time of answered queries,
/// chosen per socket by [`DurationSampler`].
pub const DURATION: &str = "dns_response_duration";
/// Length of a sampling window of the duration histogram.
pub const SAMPLE_WINDOW: Duration = Duration::from_millis(100);
/// Answers a socket records in full per [`SAMPLE_WINDOW`]: every answer at up to 1000 per
/// second per socket, which covers any traffic where one histogram update per answer is
/// noticeable neither in CPU nor in lock contention between the socket threads.
pub const SAMPLE_ALL_UP_TO: u32 = 100;
/// Beyond [`SAMPLE_ALL_UP_TO`] in a window, one answer in this many is recorded.
pub const SAMPLE_EVERY: u64 = 64;
/// HELP of the duration histogram; states exactly which answers it holds.
const DURATION_HELP: &str = "Time from receiving a DNS query over UDP to sending its answer. \
Each UDP socket records every answer it sends up to 100 per 100 ms window, then one in 64 \
until the window ends; TCP answers and unanswered packets are not recorded";

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
    /// A UDP query that waited in the socket buffer longer than `dns.shed_queue_delay_ms`
    /// while a standing queue lasted.
    QueueDelay,
    /// Dropped by the kernel: the UDP socket's receive buffer was full.
    QueueOverflow,
    /// Shed while resident memory is over the high watermark (`health.memory_limit_bytes`):
    /// a UDP query dropped, or a TCP query read and its connection closed unanswered.
    Memory,
}

/// Handles of every DNS metric.
#[derive(Debug, Clone)]
pub struct DnsMetrics {
    queries: Box<[Counter]>,
    malformed: Counter,
    rate_limited: Counter,
    queue_delay: Counter,
    queue_overflow: Counter,
    memory: Counter,
    slipped: Counter,
    truncated: Counter,
    tcp_evicted: Counter,
    duration: Histogram,
}

impl DnsMetrics {
    /// Creates the metrics and registers them in `registry` (under `switchyard_`).
    pub fn register(registry: &crate::metrics::Metrics) -> Self {
        let queries = Family::<Labels3, Counter>::default();
        let dropped = Family::<Labels1, Counter>::default();
        let truncated = Counter::default();
        let slipped = Counter::default();
        let tcp_evicted = Counter::default();
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
        let queue_delay = dropped.get_or_create(&[("reason", "queue_delay")]).clone();
        let queue_overflow = dropped.get_or_create(&[("reason", "queue_overflow")]).clone();
        let memory = dropped.get_or_create(&[("reason", "memory")]).clone();
        registry.register(|r| {
            r.register(
                QUERIES,
                "DNS queries answered, by query type, response code and transport",
                queries,
            );
            r.register(DROPPED, "DNS packets dropped without an answer, by reason", dropped);
            r.register(TRUNCATED, "DNS UDP responses sent truncated (TC set)", truncated.clone());
            r.register(
                SLIPPED,
                "DNS UDP queries over the per-source rate limit answered with an empty \
                 truncated reply (TC set) instead of being dropped",
                slipped.clone(),
            );
            r.register(
                TCP_EVICTED,
                "DNS TCP connections idle the longest closed to make room for a new one at \
                 the connection limit",
                tcp_evicted.clone(),
            );
            r.register_with_unit(DURATION, DURATION_HELP, Unit::Seconds, duration.clone());
        });
        Self {
            queries: handles.into(),
            malformed,
            rate_limited,
            queue_delay,
            queue_overflow,
            memory,
            slipped,
            truncated,
            tcp_evicted,
            duration,
        }
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
            DropReason::QueueDelay => self.queue_delay.inc(),
            DropReason::QueueOverflow => self.queue_overflow.inc(),
            DropReason::Memory => self.memory.inc(),
        };
    }

    /// Counts a query over the rate limit answered with a truncated reply.
    pub fn slipped(&self) {
        self.slipped.inc();
    }

    /// Counts a TCP connection closed to make room for a new one.
    pub fn tcp_evicted(&self) {
        self.tcp_evicted.inc();
    }

    /// Records one sampled response duration.
    pub fn observe_duration(&self, seconds: f64) {
        self.duration.observe(seconds);
    }
}

/// Chooses, for one UDP socket, which answers the duration histogram records: all of them
/// while the socket sends at most [`SAMPLE_ALL_UP_TO`] in a [`SAMPLE_WINDOW`], then one in
/// [`SAMPLE_EVERY`] until the window ends. A pure count-based sample (one in N) records
/// nothing at all at the low rates where a slow answer is most visible to a user, while
/// this keeps the histogram complete there and bounded at line rate. Owned by the socket's
/// thread, so deciding costs no atomic operation.
#[derive(Debug, Clone)]
pub struct DurationSampler {
    /// When the current window began: the first answer after the previous window ended.
    window_start: Instant,
    /// Answers sent in the current window.
    in_window: u32,
    /// Answers beyond the full-recording budget, across windows.
    beyond: u64,
}

impl DurationSampler {
    /// A sampler whose first window starts at `now`.
    pub fn new(now: Instant) -> Self {
        Self { window_start: now, in_window: 0, beyond: 0 }
    }

    /// Whether the answer to the query received at `received` is recorded. Call once per
    /// answer sent, in the order the queries were received.
    #[inline]
    pub fn take(&mut self, received: Instant) -> bool {
        if received.saturating_duration_since(self.window_start) >= SAMPLE_WINDOW {
            self.window_start = received;
            self.in_window = 0;
        }
        if self.in_window < SAMPLE_ALL_UP_TO {
            self.in_window += 1;
            return true;
        }
        self.beyond = self.beyond.wrapping_add(1);
        self.beyond.is_multiple_of(SAMPLE_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(sampler: &mut DurationSampler, at: Instant, n: u64) -> u64 {
        (0..n).map(|_| u64::from(sampler.take(at))).sum()
    }

    #[test]
    fn records_every_answer_at_low_rates() {
        let t0 = Instant::now();
        let mut s = DurationSampler::new(t0);
        // One answer every 10 ms for ten seconds: 100 per second, all recorded.
        let recorded: u64 =
            (0..1000u32).map(|i| u64::from(s.take(t0 + Duration::from_millis(10) * i))).sum();
        assert_eq!(recorded, 1000);
    }

    #[test]
    fn samples_one_in_n_beyond_the_budget_of_a_window() {
        let t0 = Instant::now();
        let mut s = DurationSampler::new(t0);
        let budget = u64::from(SAMPLE_ALL_UP_TO);
        // A burst inside one window: the budget in full, then one in SAMPLE_EVERY.
        assert_eq!(taken(&mut s, t0, budget), budget);
        assert_eq!(taken(&mut s, t0 + Duration::from_millis(50), 10 * SAMPLE_EVERY), 10);
        // The next window records in full again.
        let next = t0 + SAMPLE_WINDOW;
        assert_eq!(taken(&mut s, next, budget), budget);
        assert_eq!(taken(&mut s, next, SAMPLE_EVERY), 1);
    }

    /// Every (transport, qtype, rcode) lands on the one series carrying those labels.
    #[test]
    fn answered_counts_under_its_own_labels() {
        let registry = crate::metrics::Metrics::new();
        let m = DnsMetrics::register(&registry);
        let mut expected = Vec::new();
        for (n, t) in TRANSPORTS.into_iter().enumerate() {
            for (i, q) in QType::ALL.into_iter().enumerate() {
                for (j, r) in Rcode::ALL.into_iter().enumerate() {
                    // A distinct count per combination, so a swapped index shows.
                    let times = 1 + n * 100 + i * 10 + j;
                    for _ in 0..times {
                        m.answered(t, q, r, false);
                    }
                    expected.push(format!(
                        "switchyard_dns_queries_total{{qtype=\"{}\",rcode=\"{}\",transport=\"{}\"}} {times}",
                        q.as_str(),
                        r.as_str(),
                        t.as_str()
                    ));
                }
            }
        }
        let text = registry.encode();
        for line in &expected {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn help_text_states_the_constants() {
        assert!(DURATION_HELP.contains(&format!("up to {SAMPLE_ALL_UP_TO} per")));
        assert!(DURATION_HELP.contains(&format!("{} ms window", SAMPLE_WINDOW.as_millis())));
        assert!(DURATION_HELP.contains(&format!("one in {SAMPLE_EVERY} ")));
    }
}
