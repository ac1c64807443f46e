//! The traffic listener: an HTTP/1.1 fast path in front of the hyper + axum stack.
//!
//! Why a loop of its own: a routing answer costs well under a microsecond, so on one core
//! with keep-alive clients the per-request cost of a general HTTP stack (hyper's dispatcher,
//! the tower service chain, header maps, boxed bodies and futures) is most of the user-space
//! time, and the target is measured against nginx serving a static answer. This
//! loop parses with `httparse` in place, answers the requests the endpoints are for (`GET`
//! or `HEAD`, no body, origin-form target) straight from the same handlers the router uses,
//! and writes the answers to everything one read delivered with one write (pipelining).
//!
//! Anything else (a request body, `Transfer-Encoding`, `Expect`, `Upgrade`, another method,
//! an HTTP/2 preface, a malformed or oversized head, more than [`MAX_FAST_HEADERS`] header
//! lines) hands the connection, together with the bytes already read, to hyper serving the
//! axum router, which answers exactly as a plain hyper server would (limits, 400, 405, 413,
//! 431, ...). The admission decisions (a valid `Host`, header limits, shedding, per-client
//! rate) are the same code in both paths, and so is the bound on how long a request head may
//! take (`http.request_header_timeout_ms`): slow-header clients are closed however slowly
//! they trickle. Connections beyond `http.max_connections` (or the allowance the queue-delay
//! watch cuts it to) are reset at accept, at a pace paid for by answers ([`RefusalPacer`]).
//!
//! The HTTPS listener runs the same loop over a TLS stream ([`FrontEnd::serve_tls`]): the
//! handshake and the first request head share the head deadline, and answers are flushed
//! through the TLS session after each batch.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::admission::{AdmissionLayer, ConnectionSlot};
use super::client_ip;
use super::dispatch::dispatch;
use super::request::{Incoming, OverTls, Shared, Target};
use super::respond::{self, Reply};
use super::stamped::Stamped;
use crate::telemetry::{self, DecisionTrace};
use crate::tls::{Handshake, TlsServer};

/// Header lines parsed on the fast path; a request with more goes to hyper.
pub const MAX_FAST_HEADERS: usize = 64;
/// Read buffer growth step.
const READ_CHUNK: usize = 8 * 1024;
/// Timer period standing in for "no idle timeout" (the timer branch is off then anyway).
const NO_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// At stop, how long an idle keep-alive connection waits for one more request (answered
/// with `Connection: close`) before it is closed: a client may be sending one just then.
pub const DRAIN_LINGER: Duration = Duration::from_secs(1);

/// The traffic front end: handlers, admission and the router used for hand-over.
pub struct FrontEnd {
    pub(crate) shared: Arc<Shared>,
    pub(super) admission: AdmissionLayer,
    pub(super) router: Router,
    /// Largest request head the fast path buffers before handing over (hyper then answers
    /// 431 through the admission layer).
    pub(super) max_head: usize,
    /// Idle time between requests after which a connection is closed; `None`: never.
    pub(super) idle_timeout: Option<Duration>,
}

/// What the fast path did with one parsed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Answered; keep the connection open.
    KeepAlive,
    /// Answered; close after writing.
    Close,
    /// Not a fast-path request: hand the connection over.
    HandOver,
}

/// A connection the fast path serves: plain TCP or TLS over it.
pub(crate) trait Conn: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Whether the client came over TLS: its requests' scheme is `https`.
    const TLS: bool;

    /// Reads what the connection already holds without waiting; 0 when nothing is there or
    /// it cannot be known without waiting.
    fn read_now(&mut self, buf: &mut BytesMut) -> usize;
}

impl Conn for Stamped {
    const TLS: bool = false;

    fn read_now(&mut self, buf: &mut BytesMut) -> usize {
        buf.reserve(READ_CHUNK);
        Stamped::read_now(self, buf)
    }
}

impl Conn for tokio_rustls::server::TlsStream<Stamped> {
    const TLS: bool = true;

    fn read_now(&mut self, _buf: &mut BytesMut) -> usize {
        // Plaintext may sit decrypted in the session or still encrypted in the socket; the
        // caller's bounded wait reads either.
        0
    }
}

/// Requests answered per connection refused, at least, while connections are refused.
const ANSWERS_PER_REFUSAL: u64 = 3;
/// How long the accept loop stops refusing when its refusals are used up.
const REFUSAL_PAUSE: Duration = Duration::from_millis(1);
/// Connections refused after each pause however few requests were answered in it.
const REFUSALS_PER_PAUSE: u64 = 4;
/// The most refusals answers can pay for ahead: answers given long before a burst of
/// connections to refuse do not pay for refusing it unpaced.
const MAX_REFUSALS_AHEAD: u64 = 32;

/// Paces refusals against answers. Refusing a connection costs about as much as answering a
/// request (accepting it, sending the reset, and on loopback the peer's handling of it), and
/// the runtime lets a task accept over a hundred connections before it must yield; so while
/// the connection allowance is cut, an accept loop left alone spends most of the thread
/// refusing the clients it turns away and serves the connections it keeps only in between:
/// their answers slow to a fraction of the capacity and wait longer than the queue-delay
/// target. Instead refusals are paid for by answers: one per [`ANSWERS_PER_REFUSAL`]
/// requests answered, and [`REFUSALS_PER_PAUSE`] after each [`REFUSAL_PAUSE`] in which the
/// loop stops refusing, so it still refuses when the connections it keeps are quiet. The rest
/// waits in the kernel's accept queue, and when that is full the kernel turns new connections
/// away. Counting answers and pausing on a timer, rather than yielding turns by wall-clock
/// time, keeps the share right under a CPU quota too: there a refusal made while the kept
/// connections are momentarily quiet still spends the quota they need next.
pub(super) struct RefusalPacer {
    /// Refusals allowed before the next pause.
    left: u64,
    /// Requests let through when `left` was last topped up.
    answered: u64,
}

impl RefusalPacer {
    /// A pacer starting when `answered` requests had been let through.
    pub(super) fn new(answered: u64) -> Self {
        Self { left: REFUSALS_PER_PAUSE, answered }
    }

    /// Called after each refusal with the requests let through so far: tops up from the
    /// answers since, or pauses when there are too few.
    pub(super) async fn refused(&mut self, answered: u64) {
        self.left = self.left.saturating_sub(1);
        let earned = answered.wrapping_sub(self.answered);
        if earned >= ANSWERS_PER_REFUSAL {
            self.left = (self.left + earned / ANSWERS_PER_REFUSAL).min(MAX_REFUSALS_AHEAD);
            self.answered = answered - earned % ANSWERS_PER_REFUSAL;
        }
        if self.left == 0 {
            tokio::time::sleep(REFUSAL_PAUSE).await;
            self.left = REFUSALS_PER_PAUSE;
        }
    }
}

impl FrontEnd {
    /// Accepts on `listener` until `stop`, then stops accepting, lets every connection
    /// finish the request it is in, and returns when all are closed.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, stop: CancellationToken) {
        self.serve_with(listener, stop, None).await
    }

    /// [`FrontEnd::serve`] for the HTTPS listener: every connection is TLS, with the
    /// certificates of `tls`.
    pub async fn serve_tls(
        self: Arc<Self>,
        listener: TcpListener,
        stop: CancellationToken,
        tls: TlsServer,
    ) {
        self.serve_with(listener, stop, Some(tls)).await
    }

    async fn serve_with(
        self: Arc<Self>,
        listener: TcpListener,
        stop: CancellationToken,
        tls: Option<TlsServer>,
    ) {
        let tracker = TaskTracker::new();
        tracker.spawn(self.admission.clone().watch_queue_delay(stop.clone()));
        if let Err(e) = super::stamped::stamp_accepted(&listener) {
            tracing::warn!(
                error = %e,
                "no receive timestamps on the traffic listener; shedding on queue delay \
                 falls back on the runtime's lateness"
            );
        }
        let start = |stream: TcpStream, peer: SocketAddr, slot: ConnectionSlot| {
            let accepted = Instant::now();
            let stream = Stamped::new(stream, self.admission.clone());
            match &tls {
                None => {
                    tracker.spawn(self.clone().connection(
                        stream,
                        peer,
                        stop.clone(),
                        slot,
                        accepted,
                    ));
                }
                Some(tls) => {
                    let tls = tls.clone();
                    let conn = self.clone().tls_connection(stream, peer, stop.clone(), slot, tls);
                    tracker.spawn(conn);
                }
            }
        };
        let mut pacer = RefusalPacer::new(self.admission.requests_let_through());
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: back off rather than spin.
                        tracing::warn!("traffic accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let Some(slot) = self.admission.connection() else {
                // Over the limit: reset at once (no TIME_WAIT kept here), counted.
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                drop(stream);
                pacer.refused(self.admission.requests_let_through()).await;
                continue;
            };
            // Answers are written whole; do not hold the last segment for an ACK.
            let _ = stream.set_nodelay(true);
            start(stream, peer, slot);
        }
        // Closing the listener resets the connections waiting in its accept queue: take them
        // first. They are served like every open connection while stopping: the request
        // they carry is answered with `Connection: close`.
        for (stream, peer) in crate::net::accept_backlog(&listener) {
            let Some(slot) = self.admission.connection() else {
                let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                continue;
            };
            let _ = stream.set_nodelay(true);
            start(stream, peer, slot);
        }
        drop(listener);
        tracker.close();
        tracker.wait().await;
    }

    /// Completes the TLS handshake, within the head timeout counted from accept, then
    /// serves the connection like a plain one.
    async fn tls_connection(
        self: Arc<Self>,
        stream: Stamped,
        peer: SocketAddr,
        stop: CancellationToken,
        slot: ConnectionSlot,
        tls: TlsServer,
    ) {
        let accepted = Instant::now();
        let deadline = accepted + self.admission.head_timeout();
        let shaken = tokio::time::timeout_at(deadline, tls.acceptor().accept(stream)).await;
        let (stream, result) = match shaken {
            Ok(Ok(stream)) => (Some(stream), Handshake::Ok),
            Ok(Err(_)) => (None, Handshake::Failed),
            Err(_) => (None, Handshake::TimedOut),
        };
        tls.certs.metrics().handshake(tls.certs.listener(), result);
        if let Some(stream) = stream {
            self.connection(stream, peer, stop, slot, accepted).await;
        }
    }

    async fn connection<S: Conn>(
        self: Arc<Self>,
        mut stream: S,
        peer: SocketAddr,
        stop: CancellationToken,
        _slot: ConnectionSlot,
        accepted: Instant,
    ) {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let mut out = Vec::with_capacity(READ_CHUNK);
        // Sampled decisions whose answers are in `out`; their spans are built once it is sent.
        let mut traced = Vec::new();
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let head_timeout = self.admission.head_timeout();
        let idle = self.idle_timeout.unwrap_or(NO_IDLE_TIMEOUT);
        // When the request head being read began: at accept for the first request, then at
        // the first byte of each later one. `None` between requests. The clock is read only
        // when a head is found incomplete, so a request that arrives whole costs no read.
        let mut head_since = Some(accepted);
        let mut last = accepted;
        // One timer per connection, not one per request: each answer only records the time,
        // and when the timer fires early (the connection was busy) it is moved to the
        // current deadline. It starts at the earlier of the two waits so it never fires late.
        let timer = tokio::time::sleep_until(accepted + idle.min(head_timeout));
        tokio::pin!(timer);
        loop {
            let (step, complete) = self.answer_buffered(
                &mut buf,
                peer.ip(),
                S::TLS,
                stop.is_cancelled(),
                &mut out,
                &mut traced,
            );
            if complete {
                head_since = None;
            }
            if !out.is_empty() {
                // A TLS session may keep part of what it encrypted until flushed.
                let written = match stream.write_all(&out).await {
                    Ok(()) => stream.flush().await,
                    Err(e) => Err(e),
                };
                if !traced.is_empty() {
                    traced.drain(..).for_each(DecisionTrace::emit);
                }
                if written.is_err() {
                    return;
                }
                out.clear();
                if self.idle_timeout.is_some() {
                    last = Instant::now();
                }
            }
            let handing_over = match step {
                Step::Close => {
                    let _ = stream.shutdown().await;
                    return;
                }
                Step::HandOver => true,
                Step::KeepAlive => buf.len() > self.max_head,
            };
            if handing_over {
                let since = head_since.unwrap_or_else(Instant::now);
                return self.hand_over(stream, buf, peer, &stop, since + head_timeout).await;
            }
            buf.reserve(READ_CHUNK);
            let read = if buf.is_empty() {
                // Waiting for the first request (bounded by the head timeout) or between
                // requests (by the idle timeout). A stop closes the connection, unless a
                // request has already arrived, which is then served like any in flight.
                let waits = head_since.is_some() || self.idle_timeout.is_some();
                tokio::select! {
                    biased;
                    r = stream.read_buf(&mut buf) => r,
                    _ = &mut stopped => match stream.read_now(&mut buf) {
                        0 => {
                            // A client of a keep-alive connection may be sending its next
                            // request right now; closing would fail it. Wait briefly for
                            // one, and answer it with `Connection: close`.
                            let linger = self.idle_timeout.map_or(DRAIN_LINGER, |t| t.min(DRAIN_LINGER));
                            match tokio::time::timeout(linger, stream.read_buf(&mut buf)).await {
                                Ok(r) => r,
                                Err(_) => return,
                            }
                        }
                        n => Ok(n),
                    },
                    _ = &mut timer, if waits => {
                        let due = head_since.map_or(last + idle, |since| since + head_timeout);
                        if Instant::now() >= due {
                            if head_since.is_some() {
                                self.admission.head_timed_out();
                            }
                            return;
                        }
                        timer.as_mut().reset(due);
                        continue;
                    }
                }
            } else {
                // Inside a request head: it must be complete by its deadline, however slowly
                // it trickles in, and may finish by then even while stopping.
                let since = *head_since.get_or_insert_with(Instant::now);
                match tokio::time::timeout_at(since + head_timeout, stream.read_buf(&mut buf)).await
                {
                    Ok(r) => r,
                    Err(_) => {
                        self.admission.head_timed_out();
                        return;
                    }
                }
            };
            match read {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Answers every complete request already read at the front of `buf` into `out`,
    /// removing each answered one from `buf`. Stops at a partial head, at a request that is
    /// not for the fast path (left in `buf` for hyper, with [`Step::HandOver`]), at a
    /// malformed head (also handed over), or after a request that closes the connection.
    /// Returns the last step and whether any complete head was parsed. `stopping` is passed
    /// on to [`Self::answer`]; the traces of sampled decisions are added to `traced`, to be
    /// emitted once the answers are sent. The fuzz target
    /// `http_fast_path` drives this function (through `crate::fuzzing`) with arbitrary bytes.
    pub(crate) fn answer_buffered(
        &self,
        buf: &mut BytesMut,
        peer: IpAddr,
        tls: bool,
        stopping: bool,
        out: &mut Vec<u8>,
        traced: &mut Vec<DecisionTrace>,
    ) -> (Step, bool) {
        let mut step = Step::KeepAlive;
        let mut complete = false;
        while !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_FAST_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[..]) {
                Ok(httparse::Status::Complete(len)) => {
                    complete = true;
                    step = self.answer(&req, peer, tls, stopping, out, traced);
                    if matches!(step, Step::HandOver) {
                        break;
                    }
                    buf.advance(len);
                    if matches!(step, Step::Close) {
                        break;
                    }
                }
                Ok(httparse::Status::Partial) => break,
                Err(_) => {
                    step = Step::HandOver;
                    break;
                }
            }
        }
        (step, complete)
    }

    /// Answers one request into `out`, or tells the caller to hand the connection over.
    /// While `stopping`, the answer closes the connection (`Connection: close`), so the
    /// client sends its next request on a new connection, to the process taking over.
    fn answer(
        &self,
        req: &httparse::Request<'_, '_>,
        peer: IpAddr,
        tls: bool,
        stopping: bool,
        out: &mut Vec<u8>,
        traced: &mut Vec<DecisionTrace>,
    ) -> Step {
        let head = match req.method {
            Some("GET") => false,
            Some("HEAD") => true,
            _ => return Step::HandOver,
        };
        let (Some(version), Some(target)) = (req.version, req.path) else {
            return Step::HandOver;
        };
        if !target.starts_with('/') {
            // Absolute-, authority- or asterisk-form: hyper parses the target (authority,
            // scheme) and `Shared::timed` decides from its form, so both paths agree.
            return Step::HandOver;
        }
        // HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 only when asked.
        let (mut close, mut ask_keep_alive) = (false, false);
        let mut host: Option<&[u8]> = None;
        let mut mm_client_ip: Option<&[u8]> = None;
        let mut forwarded_proto: Option<&[u8]> = None;
        // Looked for only while tracing is on: one relaxed load otherwise.
        let tracing = telemetry::on();
        let mut traceparent: Option<&[u8]> = None;
        let mut hosts = 0;
        let mut bytes = 0;
        for h in req.headers.iter() {
            bytes += h.name.len() + h.value.len();
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
                host = Some(h.value);
            } else if name.eq_ignore_ascii_case(b"content-length") {
                if h.value.trim_ascii() != b"0" {
                    return Step::HandOver;
                }
            } else if name.eq_ignore_ascii_case(b"transfer-encoding")
                || name.eq_ignore_ascii_case(b"upgrade")
                || name.eq_ignore_ascii_case(b"expect")
            {
                return Step::HandOver;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    ask_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case(b"x-mm-client-ip") {
                // The first line, as `HeaderMap::get` takes on the hyper path.
                mm_client_ip = mm_client_ip.or(Some(h.value));
            } else if name.eq_ignore_ascii_case(b"x-forwarded-proto") {
                forwarded_proto = forwarded_proto.or(Some(h.value));
            } else if tracing && name.eq_ignore_ascii_case(b"traceparent") {
                traceparent = traceparent.or(Some(h.value));
            }
        }
        let mut keep_alive = !close && !stopping && (version == 1 || ask_keep_alive);
        let forwarded_for = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("x-forwarded-for"))
            .map(|h| h.value);
        let forwarded = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("forwarded"))
            .map(|h| h.value);
        // The same `Host` rule as the admission layer applies on the hyper path.
        let host = match (hosts, host) {
            (1, Some(value)) => respond::host_field(value, version == 1),
            (0, _) => Ok(None),
            _ => Err(respond::BadHost::Repeated),
        };
        let admitted = match host {
            Ok(host) => {
                let proxied =
                    client_ip::Proxied { forwarded_for, forwarded, mm_client_ip, forwarded_proto };
                let admitted = self.admission.admit(peer, req.headers.len(), bytes, proxied);
                admitted.map(|a| (host, a))
            }
            Err(e) => Err(self.admission.bad_host(e)),
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let trace = if tracing { DecisionTrace::http(traceparent, head, path) } else { None };
        let reply = match admitted {
            Ok((host, admitted)) => {
                let incoming = Incoming {
                    readable: true,
                    options: false,
                    target: Target::Resource,
                    path,
                    query,
                    host,
                    client: admitted.client,
                    tls,
                    trace: trace.as_ref(),
                };
                dispatch(&self.shared, &incoming)
            }
            Err(e) => {
                // A client told the server is overloaded sends its next request on a new
                // connection, which a shedding server resets at accept.
                keep_alive &= !matches!(e, super::errors::ApiError::Overloaded);
                e.into_reply()
            }
        };
        write_reply(out, &reply, head, keep_alive, version == 0);
        if let Some(trace) = trace {
            trace.answered_http(reply.status.as_u16());
            traced.push(trace);
        }
        if keep_alive { Step::KeepAlive } else { Step::Close }
    }

    /// Serves the rest of the connection with hyper and the axum router, starting with the
    /// bytes already read. The request head begun on the fast path must still be complete by
    /// `head_deadline`; later heads get hyper's `header_read_timeout`, which starts when hyper
    /// starts waiting for a head.
    async fn hand_over<S: Conn>(
        &self,
        stream: S,
        buf: BytesMut,
        peer: SocketAddr,
        stop: &CancellationToken,
        head_deadline: Instant,
    ) {
        let progress = Arc::new(Progress::default());
        let io =
            TokioIo::new(Rewind { pre: buf.freeze(), inner: stream, progress: progress.clone() });
        let router = self.router.clone();
        let seen = progress.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            seen.request();
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            if S::TLS {
                req.extensions_mut().insert(OverTls);
            }
            router.clone().oneshot(req)
        });
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(self.admission.head_timeout());
        let conn = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(conn);
        let first_head = tokio::time::sleep_until(head_deadline);
        tokio::pin!(first_head);
        let (mut first_pending, mut stopping) = (true, false);
        let served = loop {
            tokio::select! {
                served = conn.as_mut() => break served,
                _ = stop.cancelled(), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = &mut first_head, if first_pending => {
                    if progress.requests_seen() {
                        first_pending = false;
                        continue;
                    }
                    self.admission.head_timed_out();
                    return;
                }
            }
        };
        // hyper's own header timeout; counted only when a head had begun, not when an idle
        // keep-alive connection ran into it.
        let timed_out = served
            .err()
            .and_then(|e| e.downcast::<hyper::Error>().ok())
            .is_some_and(|e| e.is_timeout());
        if timed_out && progress.head_begun() {
            self.admission.head_timed_out();
        }
    }
}

/// What [`FrontEnd::hand_over`] watches of a connection hyper serves: bytes hyper has read,
/// and how many it had read when it last handed a request to the router.
struct Progress {
    read: AtomicU64,
    at_request: AtomicU64,
}

impl Default for Progress {
    fn default() -> Self {
        Self { read: AtomicU64::new(0), at_request: AtomicU64::new(u64::MAX) }
    }
}

impl Progress {
    fn request(&self) {
        self.at_request.store(self.read.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn requests_seen(&self) -> bool {
        self.at_request.load(Ordering::Relaxed) != u64::MAX
    }

    /// Whether bytes arrived since the last request (or there was none yet): a head began.
    /// Bytes of a pipelined head that hyper read together with the request before it are
    /// not told apart.
    fn head_begun(&self) -> bool {
        let at = self.at_request.load(Ordering::Relaxed);
        at == u64::MAX || self.read.load(Ordering::Relaxed) > at
    }
}

/// Writes `reply` as an HTTP/1.1 response: the same headers the router's answers carry,
/// plus `Content-Length`, `Date` and the connection decision.
fn write_reply(out: &mut Vec<u8>, reply: &Reply, head: bool, keep_alive: bool, http10: bool) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(reply.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reply.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    if !reply.body.is_empty() {
        out.extend_from_slice(b"content-type: application/json\r\n");
    }
    out.extend_from_slice(b"cache-control: no-store\r\n");
    if let Some(location) = &reply.location {
        out.extend_from_slice(b"location: ");
        out.extend_from_slice(location.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(secs) = reply.retry_after {
        out.extend_from_slice(b"retry-after: ");
        out.extend_from_slice(num.format(secs).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(allow) = reply.allow {
        out.extend_from_slice(b"allow: ");
        out.extend_from_slice(allow.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // RFC 9110 §8.6: a 204 carries no Content-Length.
    if reply.status != StatusCode::NO_CONTENT {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(num.format(reply.body.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"date: ");
    date::with(|d| out.extend_from_slice(d));
    out.extend_from_slice(b"\r\n");
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(&reply.body);
    }
}

/// The `Date` header value (RFC 9110 §6.6.1), formatted once per second per thread.
mod date {
    use std::cell::RefCell;
    use std::time::{SystemTime, UNIX_EPOCH};

    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }

    pub(super) fn with(f: impl FnOnce(&[u8])) {
        let now = SystemTime::now();
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        CACHED.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != secs {
                *c = (secs, httpdate::fmt_http_date(now));
            }
            f(c.1.as_bytes());
        });
    }
}

/// A stream that first yields bytes already read from it, counting what it delivers.
struct Rewind<S> {
    pre: Bytes,
    inner: S,
    progress: Arc<Progress>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = if self.pre.is_empty() {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        } else {
            let n = self.pre.len().min(buf.remaining());
            buf.put_slice(&self.pre[..n]);
            self.pre.advance(n);
            Poll::Ready(Ok(()))
        };
        let n = (buf.filled().len() - before) as u64;
        self.progress.read.fetch_add(n, Ordering::Relaxed);
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
