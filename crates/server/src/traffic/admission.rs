//! Admission control as one tower layer: a valid `Host`, header and body limits, a global
//! concurrency limit that sheds (never queues) and a per-client GCRA rate limit, each decided
//! in microseconds before any routing work. Connections are admitted here too: a cap on
//! open traffic connections, checked at accept, and the time a request head may take.
//!
//! Queue delay is watched too ([`AdmissionLayer::watch_queue_delay`]): the fast path answers in
//! microseconds, so under overload requests do not pile up in flight but wait unread in socket
//! buffers, the accept queue and the runtime's run queue, where the concurrency count cannot
//! see them. A sample of the reads of traffic connections reports how long their bytes waited
//! in the kernel ([`super::stamped`], receive timestamps). When more than one read in
//! [`LATE_READS_PER`] over a 100 ms window waited longer than `http.shed_queue_delay_ms` while
//! the workers are busy ([`BUSY_SHARE`] to start, [`KEEP_BUSY_SHARE`] to go on), the number of
//! open connections allowed is cut to nine tenths of those open (at least [`MIN_CONNECTIONS`]);
//! requests on connections beyond it are shed as over the concurrency limit with their
//! connections closed, and new connections beyond it are reset at accept. Each window under the
//! target raises the allowance again by a fiftieth (AIMD, as TCP and Netflix's concurrency
//! limits do), so it settles where the 99th percentile of the wait is near the target: the
//! connections kept are served within it, the excess is refused at once.
//!
//! Why a percentile and not CoDel's least wait (RFC 8289), which the DNS front end uses: a
//! UDP socket is one FIFO queue, so the least wait of a window is the standing queue. Here
//! every connection has a queue of its own, served in the runtime's order, and some read
//! finds fresh bytes in almost every window however long the others waited: on a quarter
//! core at 3x, the least wait kept the allowance at about 310 connections and answers at p99
//! 26 ms. With too few reads in a window to take a percentile ([`MIN_READS`]), a timer task
//! decides as before: its least lateness over the window against the target. Busy is measured
//! over the time the process could run: time throttled by a CPU quota (a container's CPU
//! limit) is left out ([`super::throttling`]), or a quota would look like idle workers on a
//! crowded machine and shedding would never start. While the listeners are idle (no
//! connection open, nothing read in the last window, nothing cut) the watch parks, and the
//! next connection to open wakes it.
//!
//! The concurrency limit is a single atomic counter (like `tower::load_shed` over
//! `ConcurrencyLimit`, without the semaphore and its waker bookkeeping): a request over the
//! limit gets `503 overloaded` at once. Above `overload_watermark` of the limit the
//! [`Overload`] readiness check fails, so balancers move new clients away before shedding
//! starts, while `/livez` stays unaffected.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, header};
use futures::future::BoxFuture;
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;
use prometheus_client::metrics::gauge::Gauge;
use switchyard_health::MemoryWatermark;
use tower::{Layer, Service};

use super::client_ip::{self, ClientAddr};
use super::config::TrafficConfig;
use super::errors::ApiError;
use super::metrics::TrafficMetrics;
use super::respond::{self, BadHost};

/// Every this many rate-limited admissions, keys whose state is back to fresh are dropped,
/// bounding the limiter's memory by the clients seen within about one burst period.
const HOUSEKEEPING_EVERY: u64 = 1 << 14;

struct State {
    in_flight: AtomicUsize,
    max: usize,
    watermark: usize,
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    admitted: AtomicU64,
    trusted: Arc<[IpNet]>,
    trust_forwarded: bool,
    max_body: u64,
    max_header_bytes: usize,
    max_headers: usize,
    max_connections: usize,
    head_timeout: Duration,
    metrics: TrafficMetrics,
    /// Above its high mark every request is shed as over the concurrency limit.
    memory: OnceLock<MemoryWatermark>,
    /// Queue delay above which requests are shed; `None`: not watched.
    shed_delay: Option<Duration>,
    /// Set while the queue delay is above `shed_delay`.
    shedding: AtomicBool,
    /// Set while a watcher runs: the HTTP and HTTPS listeners share one admission and one
    /// runtime, and only one of them watches.
    watched: AtomicBool,
    /// Open connections allowed now: `max_connections`, less while the queue delay was high.
    allowed: AtomicUsize,
    /// Requests let through the concurrency limit so far.
    let_through: AtomicU64,
    /// Reads with a kernel timestamp in this window, and those of them whose bytes had
    /// waited longer than `shed_delay`.
    reads: AtomicU64,
    late_reads: AtomicU64,
    /// Notified when a connection opens with none open before: wakes the queue-delay watch
    /// parked while the listeners were idle.
    opened: tokio::sync::Notify,
}

/// The fewest connections the queue-delay allowance cuts to.
const MIN_CONNECTIONS: usize = 32;

/// How often the queue-delay watch ticks.
const DELAY_TICK: Duration = Duration::from_millis(5);
/// The window over which the least late tick decides (CoDel's interval).
const DELAY_WINDOW: Duration = Duration::from_millis(100);
/// Reads a window needs for their waits to decide; with fewer, the timer's lateness does.
const MIN_READS: u64 = 100;
/// Shedding starts when more than one read in this many waited longer than the target: the
/// 99th percentile of the waits is held near it.
const LATE_READS_PER: u64 = 100;
/// Share of the window the runtime's workers must have been busy for the delay to count as
/// queueing rather than the process being descheduled on a crowded machine.
const BUSY_SHARE: f64 = 0.9;
/// The busy share that keeps shedding on once it is. Shedding itself idles the workers a
/// little (refusals are paced, fewer connections have requests ready, the I/O driver's
/// polling counts as idle), so with one threshold a quarter core at 3x flipped between
/// shedding and admitting every window on the busy share alone, the waits far over the
/// target throughout, and kept 108 connections at p99 10.8 ms instead of 60 at 7.9 ms.
const KEEP_BUSY_SHARE: f64 = 0.5;

/// The admission layer; wrap the traffic router with it (`Router::layer`).
#[derive(Clone)]
pub struct AdmissionLayer {
    state: Arc<State>,
}

/// The `overloaded` readiness check: fails while more than `overload_watermark` of
/// `max_concurrent_requests` are in flight.
#[derive(Clone)]
pub struct Overload {
    state: Arc<State>,
}

impl Overload {
    /// From now on, requests are shed (`503 overloaded`, counted as over the limit) while
    /// `memory` is over its watermark. Set once; later calls are ignored.
    pub fn shed_above(&self, memory: MemoryWatermark) {
        let _ = self.state.memory.set(memory);
    }

    /// `Err` with the counts while above the watermark, or while shedding on queue delay.
    pub fn check(&self) -> Result<(), String> {
        if self.state.shedding.load(Ordering::Relaxed) {
            return Err(format!(
                "requests wait longer than {} ms to be read; shedding",
                self.state.shed_delay.unwrap_or_default().as_millis()
            ));
        }
        let n = self.in_flight();
        if n > self.state.watermark {
            Err(format!(
                "{n} of {} requests in flight, above the watermark of {}",
                self.state.max, self.state.watermark
            ))
        } else {
            Ok(())
        }
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::Relaxed)
    }
}

/// The GCRA quota for a per-client rate in requests per second and a burst size.
fn quota(rps: f64, burst: u32) -> Option<Quota> {
    if !(rps.is_finite() && rps > 0.0) {
        return None;
    }
    let period = Duration::from_secs_f64((1.0 / rps).min(1e9));
    let burst = NonZeroU32::new(burst.max(1))?;
    Quota::with_period(period.max(Duration::from_nanos(1))).map(|q| q.allow_burst(burst))
}

impl AdmissionLayer {
    /// Builds the layer and its readiness check from the `[http]` settings.
    pub fn new(config: &TrafficConfig, metrics: TrafficMetrics) -> (Self, Overload) {
        let max = config.max_concurrent_requests.max(1) as usize;
        let watermark = ((max as f64) * config.overload_watermark.clamp(0.0, 1.0)) as usize;
        let limiter = quota(config.rate_limit_per_client_rps, config.rate_limit_burst)
            .map(DefaultKeyedRateLimiter::keyed);
        let max_connections = connection_limit(config.max_connections);
        let state = Arc::new(State {
            in_flight: AtomicUsize::new(0),
            max,
            watermark,
            limiter,
            admitted: AtomicU64::new(0),
            trusted: config.trusted_networks().into(),
            trust_forwarded: config.trust_forwarded,
            max_body: config.max_request_body_bytes,
            max_header_bytes: config.max_header_bytes as usize,
            max_headers: config.max_headers as usize,
            max_connections,
            head_timeout: Duration::from_millis(config.request_header_timeout_ms.max(1)),
            metrics,
            memory: OnceLock::new(),
            shed_delay: (config.shed_queue_delay_ms > 0)
                .then(|| Duration::from_millis(config.shed_queue_delay_ms)),
            shedding: AtomicBool::new(false),
            watched: AtomicBool::new(false),
            allowed: AtomicUsize::new(max_connections),
            let_through: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            late_reads: AtomicU64::new(0),
            opened: tokio::sync::Notify::new(),
        });
        state.metrics.connections_allowed.set(max_connections as i64);
        (Self { state: state.clone() }, Overload { state })
    }

    /// Watches the queue delay of the runtime it is spawned on (the one serving traffic) until
    /// `stop`, turning shedding on and off; returns at once when `http.shed_queue_delay_ms`
    /// is 0 or another listener's watcher already runs.
    pub(crate) async fn watch_queue_delay(self, stop: tokio_util::sync::CancellationToken) {
        let Some(target) = self.state.shed_delay else { return };
        if self.state.watched.swap(true, Ordering::AcqRel) {
            return;
        }
        let runtime = tokio::runtime::Handle::current().metrics();
        let busy = || -> Duration {
            (0..runtime.num_workers()).map(|w| runtime.worker_total_busy_duration(w)).sum()
        };
        // Under a CPU quota, time throttled is time no worker could run: the busy share is
        // taken over the rest.
        let throttling = super::throttling::Throttling::of_this_process();
        let mut throttled_before = throttling.total();
        let mut window = tokio::time::Instant::now();
        let mut busy_before = busy();
        let mut late = Duration::MAX;
        loop {
            let due = tokio::time::Instant::now() + DELAY_TICK;
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep_until(due) => {}
            }
            let now = tokio::time::Instant::now();
            late = late.min(now.saturating_duration_since(due));
            let span = now.saturating_duration_since(window);
            if span < DELAY_WINDOW {
                continue;
            }
            let reads = self.state.reads.swap(0, Ordering::Relaxed);
            let late_reads = self.state.late_reads.swap(0, Ordering::Relaxed);
            // Over the target: more than 1 in LATE_READS_PER reads waited longer, or with
            // too few reads to tell, even the timer's least late tick was later.
            let delayed = if reads >= MIN_READS {
                late_reads * LATE_READS_PER > reads
            } else {
                late > target
            };
            let busy_now = busy();
            let throttled_now = throttling.total();
            let runnable = span.saturating_sub(throttled_now.saturating_sub(throttled_before));
            let workers = runtime.num_workers().max(1) as f64;
            // cgroup v1 sums throttled time over CPUs, so the share can pass 1: it means busy.
            let share = (busy_now.saturating_sub(busy_before).as_secs_f64()
                / (runnable.as_secs_f64().max(1e-3) * workers))
                .min(1.0);
            let state = &self.state;
            let shedding = state.shedding.load(Ordering::Relaxed);
            let over = delayed && share >= if shedding { KEEP_BUSY_SHARE } else { BUSY_SHARE };
            let allowed = state.allowed.load(Ordering::Relaxed);
            let allowed = if over {
                let open = state.metrics.open_connections.get().max(0) as usize;
                (open * 9 / 10).max(MIN_CONNECTIONS).min(allowed)
            } else {
                (allowed + (allowed / 50).max(1)).min(state.max_connections)
            };
            state.allowed.store(allowed, Ordering::Relaxed);
            state.metrics.connections_allowed.set(allowed as i64);
            if over != state.shedding.swap(over, Ordering::Relaxed) {
                let late_ms = late.as_secs_f64() * 1000.0;
                if over {
                    tracing::warn!(
                        reads,
                        late_reads,
                        late_ms,
                        busy = share,
                        "traffic queue delay above target; shedding"
                    );
                } else {
                    tracing::info!(
                        reads,
                        late_reads,
                        late_ms,
                        busy = share,
                        "traffic queue delay back under target; admitting"
                    );
                }
            }
            (window, busy_before, throttled_before, late) =
                (now, busy_now, throttled_now, Duration::MAX);
            // Idle listeners: nothing read, no connection open, the allowance whole. Park
            // until a connection opens rather than tick 200 times a second for nothing (an
            // idle instance's traffic thread spent about 1% of a core on the ticks).
            let idle = reads == 0
                && !over
                && allowed == state.max_connections
                && state.metrics.open_connections.get() <= 0;
            if idle {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = state.opened.notified() => {}
                }
                (window, busy_before, throttled_before, late) =
                    (tokio::time::Instant::now(), busy(), throttling.total(), Duration::MAX);
            }
        }
        self.state.shedding.store(false, Ordering::Relaxed);
        self.state.allowed.store(self.state.max_connections, Ordering::Relaxed);
        self.state.metrics.connections_allowed.set(self.state.max_connections as i64);
    }
}

/// The most traffic connections open at once: `configured` (0: no cap of its own), never
/// more than half of the soft open-file limit. The other half is left to the admin listener,
/// DNS, the prober and files, so clients holding connections open cannot take the
/// descriptors `/livez` and `/metrics` need (accept would fail with `EMFILE` on every
/// listener alike).
fn connection_limit(configured: u32) -> usize {
    let share = open_file_limit().map_or(usize::MAX, |n| (n / 2).max(1));
    let max = match configured {
        0 => share,
        n => (n as usize).min(share),
    };
    if configured as usize > share {
        tracing::warn!(
            max_connections = configured,
            cap = share,
            "http.max_connections is above half of the open-file limit; capped"
        );
    }
    tracing::debug!(max_connections = max, "traffic connection limit");
    max
}

/// The soft `RLIMIT_NOFILE` (`None` if unlimited or unknown).
fn open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then(|| usize::try_from(limit.rlim_cur).ok()).flatten()
}

/// An open traffic connection, counted in `switchyard_http_open_connections` until dropped.
pub(crate) struct ConnectionSlot(Gauge);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl AdmissionLayer {
    /// Requests let through the concurrency limit since start (on every listener sharing
    /// this admission).
    pub(crate) fn requests_let_through(&self) -> u64 {
        self.state.let_through.load(Ordering::Relaxed)
    }

    /// Records that bytes a traffic connection read had waited `waited` in the kernel.
    pub(crate) fn read_waited(&self, waited: Duration) {
        let state = &self.state;
        state.reads.fetch_add(1, Ordering::Relaxed);
        if state.shed_delay.is_some_and(|target| waited > target) {
            state.late_reads.fetch_add(1, Ordering::Relaxed);
        }
        state.metrics.read_waits.observe(waited.as_secs_f64());
    }

    /// Admits one accepted connection, or `None` (counted) when the limit is reached or
    /// requests are being shed on queue delay: the caller closes it at once.
    pub(crate) fn connection(&self) -> Option<ConnectionSlot> {
        let open = &self.state.metrics.open_connections;
        let before = open.inc();
        if before as usize >= self.state.allowed.load(Ordering::Relaxed) {
            open.dec();
            self.state.metrics.connections_refused.inc();
            return None;
        }
        if before <= 0 {
            // A permit is kept if the watch is not parked yet, so this wake is not lost.
            self.state.opened.notify_one();
        }
        Some(ConnectionSlot(open.clone()))
    }

    /// How long a request head may take to arrive in full (`http.request_header_timeout_ms`).
    pub(crate) fn head_timeout(&self) -> Duration {
        self.state.head_timeout
    }

    /// Counts a connection closed because its request head was late.
    pub(crate) fn head_timed_out(&self) {
        self.state.metrics.header_timeouts.inc();
    }

    /// The 400 for a request whose `Host` is repeated, empty on HTTP/1.1 or invalid.
    pub(crate) fn bad_host(&self, e: BadHost) -> ApiError {
        self.state.metrics.invalid_host.inc();
        ApiError::bad("host", e.reason())
    }
}

/// A request the fast path parsed itself, admitted: its client and its concurrency slot
/// (released on drop).
pub(crate) struct Admitted {
    pub client: ClientAddr,
    pub _slot: Slot,
}

impl AdmissionLayer {
    /// The same decisions as the middleware, in the same order, for a request parsed
    /// outside hyper: limits, then the concurrency slot, then the client's rate.
    pub(crate) fn admit<'a, F, G>(
        &self,
        peer: IpAddr,
        header_count: usize,
        header_bytes: usize,
        proxied: client_ip::Proxied<'a, F, G>,
    ) -> Result<Admitted, ApiError>
    where
        F: DoubleEndedIterator<Item = &'a [u8]>,
        G: DoubleEndedIterator<Item = &'a [u8]>,
    {
        let state = &self.state;
        state.check_limits(header_count, header_bytes, None)?;
        let slot = state.acquire().ok_or(ApiError::Overloaded)?;
        let client = client_ip::resolve_lines(peer, proxied, state.trust());
        state.rate_limit(client.ip)?;
        Ok(Admitted { client, _slot: slot })
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Admission { inner, state: self.state.clone() }
    }
}

/// The admission middleware service.
#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    state: Arc<State>,
}

/// Releases a concurrency slot when the request finishes or is dropped.
pub(crate) struct Slot(Arc<State>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Release);
    }
}

impl State {
    fn trust(&self) -> client_ip::Trust<'_> {
        client_ip::Trust {
            proxies: &self.trusted,
            forwarded: self.trust_forwarded,
            metrics: Some(&self.metrics),
        }
    }

    fn limits(&self, req: &Request<Body>) -> Result<(), ApiError> {
        let headers = req.headers();
        let size: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        let length = headers
            .get(header::CONTENT_LENGTH)
            .map(|len| len.to_str().ok().and_then(|v| v.parse::<u64>().ok()).unwrap_or(u64::MAX));
        self.check_limits(headers.len(), size, length)
    }

    /// Header count, header bytes (names and values) and declared body length against the
    /// limits.
    fn check_limits(&self, count: usize, size: usize, length: Option<u64>) -> Result<(), ApiError> {
        if count > self.max_headers {
            self.metrics.headers_too_large.inc();
            return Err(ApiError::HeadersTooLarge(format!(
                "{count} header lines, at most {}",
                self.max_headers
            )));
        }
        if size > self.max_header_bytes {
            self.metrics.headers_too_large.inc();
            return Err(ApiError::HeadersTooLarge(format!(
                "{size} bytes of headers, at most {}",
                self.max_header_bytes
            )));
        }
        if let Some(length) = length
            && length > self.max_body
        {
            self.metrics.payload_too_large.inc();
            return Err(ApiError::PayloadTooLarge { length, limit: self.max_body });
        }
        Ok(())
    }

    fn acquire(self: &Arc<Self>) -> Option<Slot> {
        let over_allowance = self.shed_delay.is_some()
            && self.metrics.open_connections.get().max(0) as usize
                > self.allowed.load(Ordering::Relaxed);
        if over_allowance || self.memory.get().is_some_and(MemoryWatermark::is_over) {
            self.metrics.overloaded.inc();
            return None;
        }
        let prev = self.in_flight.fetch_add(1, Ordering::Acquire);
        if prev >= self.max {
            self.in_flight.fetch_sub(1, Ordering::Release);
            self.metrics.overloaded.inc();
            return None;
        }
        self.let_through.fetch_add(1, Ordering::Relaxed);
        Some(Slot(self.clone()))
    }

    fn rate_limit(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        if self.admitted.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY
            == HOUSEKEEPING_EVERY - 1
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        match limiter.check_key(&ip) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                self.metrics.rate_limited.inc();
                let wait = not_until.wait_time_from(limiter.clock().now());
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                Err(ApiError::RateLimited { retry_after_seconds: secs.max(1) })
            }
        }
    }
}

/// The TCP peer from `ConnectInfo`; `0.0.0.0` when the server was not started with
/// `into_make_service_with_connect_info` (all such requests then share one rate-limit key).
fn peer(req: &Request<Body>) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

impl<S> Service<Request<Body>> for Admission<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness is decided per request in `call`; waiting here would queue.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let state = &self.state;
        if let Err(e) = respond::check_host(req.version(), req.headers()) {
            state.metrics.invalid_host.inc();
            let e = ApiError::bad("host", e.reason());
            return Box::pin(std::future::ready(Ok(e.into_response())));
        }
        if let Err(e) = state.limits(&req) {
            return Box::pin(std::future::ready(Ok(e.into_response())));
        }
        let Some(slot) = state.acquire() else {
            return Box::pin(std::future::ready(Ok(ApiError::Overloaded.into_response())));
        };
        let client: ClientAddr = client_ip::resolve_with(peer(&req), req.headers(), state.trust());
        if let Err(e) = state.rate_limit(client.ip) {
            return Box::pin(std::future::ready(Ok(e.into_response())));
        }
        req.extensions_mut().insert(client);
        // The clone taken here serves the next call; this one was polled ready (tower's
        // documented pattern for cloning inner services).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let resp = inner.call(req).await;
            drop(slot);
            resp
        })
    }
}
