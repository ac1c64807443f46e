//! Traffic front-end metrics. Label values come from small fixed sets or from the
//! operator-configured service names; never client addresses, hosts or paths.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use crate::metrics::Metrics;

/// `switchyard_http_decisions_total{service,method,result}`: routing answers by service,
/// localization method (`coverage_zone`, `geoip`, `default`, `none`) and result (`ok` or an
/// error code).
pub const DECISIONS: &str = "http_decisions";
/// `switchyard_http_admission_rejections_total{reason}`: requests refused before routing
/// (`overloaded`, `rate_limited`, `payload_too_large`, `headers_too_large`, `invalid_host`).
pub const ADMISSION_REJECTIONS: &str = "http_admission_rejections";
/// `switchyard_http_request_duration_seconds{endpoint}`: handling time by endpoint kind
/// (`route`, `httpdns`, `redirect`), measured inside the handler (admission excluded).
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";
/// `switchyard_http_read_wait_seconds`: per stamped read of a traffic connection (the first
/// of each connection and one in eight of the rest), how long its bytes had waited in the
/// kernel (receive timestamps): queue delay wherever it was spent.
pub const READ_WAIT: &str = "http_read_wait_seconds";

/// `switchyard_http_connections_refused_total`: traffic connections closed at accept because
/// `http.max_connections` (or the descriptor share) were already open.
pub const CONNECTIONS_REFUSED: &str = "http_connections_refused";
/// `switchyard_http_open_connections`: traffic connections open now.
pub const OPEN_CONNECTIONS: &str = "http_open_connections";
/// `switchyard_http_connections_allowed`: traffic connections allowed open now:
/// `http.max_connections`, less while shedding on queue delay.
pub const CONNECTIONS_ALLOWED: &str = "http_connections_allowed";
/// `switchyard_http_request_header_timeouts_total`: connections closed because a request head
/// did not arrive in full within `http.request_header_timeout_ms`.
pub const HEADER_TIMEOUTS: &str = "http_request_header_timeouts";

/// `switchyard_http_client_address_headers_invalid_total{header}`: values of a header that
/// names the client (`x-mm-client-ip`, `forwarded`, `x-forwarded-for`), sent by a trusted
/// proxy, that could not be read; the walk stopped at the last address vouched for.
pub const CLIENT_ADDRESS_HEADERS_INVALID: &str = "http_client_address_headers_invalid";

/// Longest service name kept in a label; longer names are cut at a character boundary.
const LABEL_CAP: usize = 48;

/// A service name held inline so that building the label set for a lookup allocates nothing.
/// Equal labels have equal bytes past `len` (zeros), so hashing the name alone agrees with
/// the derived equality, and a lookup hashes the name's bytes rather than all 48.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ServiceLabel {
    len: u8,
    bytes: [u8; LABEL_CAP],
}

impl ServiceLabel {
    /// The label for `name`, or the empty label when no service was found.
    pub fn new(name: &str) -> Self {
        let mut end = name.len().min(LABEL_CAP);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; LABEL_CAP];
        bytes[..end].copy_from_slice(&name.as_bytes()[..end]);
        Self { len: end as u8, bytes }
    }

    fn as_str(&self) -> &str {
        // Built from a str cut at a char boundary.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl std::hash::Hash for ServiceLabel {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Debug for ServiceLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EncodeLabelValue for ServiceLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    service: ServiceLabel,
    method: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HeaderLabels {
    header: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

/// Endpoint kinds for the duration histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/route`.
    Route,
    /// `/d`.
    Httpdns,
    /// Any other path: the 302.
    Redirect,
}

/// Handles created once at start-up; the admission reasons and endpoint histograms are
/// resolved up front so the hot path does no label lookup for them.
#[derive(Clone)]
pub struct TrafficMetrics {
    decisions: Family<DecisionLabels, Counter>,
    pub(crate) overloaded: Counter,
    pub(crate) rate_limited: Counter,
    pub(crate) payload_too_large: Counter,
    pub(crate) headers_too_large: Counter,
    pub(crate) invalid_host: Counter,
    pub(crate) connections_refused: Counter,
    pub(crate) open_connections: Gauge,
    pub(crate) connections_allowed: Gauge,
    pub(crate) header_timeouts: Counter,
    durations: [Histogram; 3],
    pub(crate) read_waits: Histogram,
    /// By `Header` order: `x-mm-client-ip`, `forwarded`, `x-forwarded-for`.
    invalid_headers: [Counter; 3],
}

impl TrafficMetrics {
    /// Registers the metrics in `registry` (under its `switchyard_` prefix).
    pub fn register(registry: &Metrics) -> Self {
        let decisions = Family::<DecisionLabels, Counter>::default();
        let rejections = Family::<ReasonLabels, Counter>::default();
        let connections_refused = Counter::default();
        let open_connections = Gauge::default();
        let connections_allowed = Gauge::default();
        let header_timeouts = Counter::default();
        let invalid_headers = Family::<HeaderLabels, Counter>::default();
        let durations = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            // 10 µs .. ~0.6 s: decisions take microseconds, the tail shows queueing.
            Histogram::new(exponential_buckets(1e-5, 3.0, 11))
        });
        // 10 µs .. ~0.6 s, as the durations.
        let read_waits = Histogram::new(exponential_buckets(1e-5, 3.0, 11));
        registry.register(|r| {
            r.register(
                DECISIONS,
                "HTTP routing decisions by service, method and result",
                decisions.clone(),
            );
            r.register(
                ADMISSION_REJECTIONS,
                "HTTP requests refused by admission control, by reason",
                rejections.clone(),
            );
            r.register(
                CONNECTIONS_REFUSED,
                "HTTP traffic connections closed at accept: the connection limit was reached",
                connections_refused.clone(),
            );
            r.register(OPEN_CONNECTIONS, "HTTP traffic connections open", open_connections.clone());
            r.register(
                CONNECTIONS_ALLOWED,
                "HTTP traffic connections allowed open: the limit, less while shedding on queue \
                 delay",
                connections_allowed.clone(),
            );
            r.register(
                HEADER_TIMEOUTS,
                "HTTP traffic connections closed because a request head arrived too slowly",
                header_timeouts.clone(),
            );
            r.register(
                CLIENT_ADDRESS_HEADERS_INVALID,
                "Client address header values from trusted proxies that could not be read, by \
                 header",
                invalid_headers.clone(),
            );
            r.register(
                REQUEST_DURATION,
                "HTTP traffic request handling time in seconds, by endpoint kind",
                durations.clone(),
            );
            r.register(
                READ_WAIT,
                "Time bytes from HTTP traffic clients waited in the kernel before being read, in \
                 seconds, per stamped read (each connection's first, one in eight after): \
                 the queue delay the shedding decision is taken on",
                read_waits.clone(),
            );
        });
        let reason = |r: &'static str| rejections.get_or_create_owned(&ReasonLabels { reason: r });
        let endpoint =
            |e: &'static str| durations.get_or_create_owned(&EndpointLabels { endpoint: e });
        Self {
            decisions,
            overloaded: reason("overloaded"),
            rate_limited: reason("rate_limited"),
            payload_too_large: reason("payload_too_large"),
            headers_too_large: reason("headers_too_large"),
            invalid_host: reason("invalid_host"),
            connections_refused,
            open_connections,
            connections_allowed,
            header_timeouts,
            durations: [endpoint("route"), endpoint("httpdns"), endpoint("redirect")],
            read_waits,
            invalid_headers: [Header::MmClientIp, Header::Forwarded, Header::ForwardedFor]
                .map(|h| invalid_headers.get_or_create_owned(&HeaderLabels { header: h.as_str() })),
        }
    }

    /// Counts one decision. `service` is the configured name, or `""` when none matched.
    pub fn decision(&self, service: &str, method: &'static str, result: &'static str) {
        let labels = DecisionLabels { service: ServiceLabel::new(service), method, result };
        self.decisions.get_or_create(&labels).inc();
    }

    /// Counts a client address header value that could not be read.
    pub fn invalid_client_address_header(&self, header: Header) {
        self.invalid_headers[header as usize].inc();
    }

    /// Records the handling time of one request.
    pub fn observe(&self, endpoint: Endpoint, seconds: f64) {
        self.durations[endpoint as usize].observe(seconds);
    }
}

/// A header that can name the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// `X-MM-Client-IP`.
    MmClientIp,
    /// `Forwarded`.
    Forwarded,
    /// `X-Forwarded-For`.
    ForwardedFor,
}

impl Header {
    /// The metric label value: the header's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MmClientIp => "x-mm-client-ip",
            Self::Forwarded => "forwarded",
            Self::ForwardedFor => "x-forwarded-for",
        }
    }
}
