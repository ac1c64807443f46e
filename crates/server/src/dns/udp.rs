//! UDP serving: several `SO_REUSEPORT` sockets on one address, each read by its own thread
//! with blocking `recv_from` into reused buffers. The kernel spreads queries over the
//! sockets by source, each thread runs on whichever core is free, and a query costs two
//! system calls and no wake-up through the async runtime (the design of PowerDNS's
//! receiver threads and of BIND's per-core listeners).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::answer::{answer_traced, rcode_name, sample, slip};
use super::codes::{Outcome, Transport};
use super::metrics::{DropReason, DurationSampler};
use super::ratelimit::Verdict;
use super::sojourn::{self, Resize, Sojourn};
use crate::telemetry::{self, DecisionTrace};

/// Largest query read; anything longer is cut by the kernel and then fails to parse.
const RECV_BUF: usize = 4096;
/// Kernel receive buffer asked for, to ride out bursts (capped by `net.core.rmem_max`).
const SO_RCVBUF: usize = 4 << 20;
/// How often an idle thread looks at the stop token: the longest shutdown wait.
pub const STOP_POLL: Duration = Duration::from_millis(100);

/// A blocking UDP socket with `SO_REUSEPORT`, bound to `addr`, whose reads time out after
/// [`STOP_POLL`].
pub fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_reuse_port(true)?;
    // Best effort: a smaller buffer still works.
    let _ = sock.set_recv_buffer_size(SO_RCVBUF);
    sock.bind(&addr.into())?;
    sock.set_read_timeout(Some(STOP_POLL))?;
    let sock = sock.into();
    sojourn::enable(&sock);
    Ok(sock)
}

/// Serves one socket on the calling (blocking) thread until `stop` is cancelled.
pub fn serve(sock: std::net::UdpSocket, shared: Arc<Shared>, index: u64, stop: CancellationToken) {
    let mut rx = vec![0u8; RECV_BUF];
    let mut tx = vec![0u8; usize::from(shared.auth.config.max_udp_payload_bytes.max(512))];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03);
    let mut sampler = DurationSampler::new(Instant::now());
    let mut sojourn = Sojourn::new(shared.shed_delay, Instant::now());
    while !stop.is_cancelled() {
        let (len, src, waited, overflows) = match sojourn::recv(&sock, &mut rx) {
            Ok(r) => (r.len, r.src, r.waited, r.overflows),
            // Timeouts (to look at `stop`), and ICMP errors surfaced on the socket
            // (ECONNREFUSED...), which concern earlier sends.
            Err(_) => continue,
        };
        // One clock read per query (a vDSO call, far below the two system calls), shared by
        // the rate limiter and the duration sampler.
        let received = Instant::now();
        for _ in 0..sojourn.new_overflows(overflows) {
            shared.metrics.dropped(DropReason::QueueOverflow);
        }
        let stale = sojourn.drop_query(waited, received);
        if let Some(resize) = sojourn.take_resize() {
            resize_buffer(&sock, resize, index);
        }
        if stale {
            shared.metrics.dropped(DropReason::QueueDelay);
            continue;
        }
        // Dropped, not REFUSED: a resolver then retries another of the zone's servers, as
        // it would if this one were down, instead of taking the refusal as the answer.
        if shared.over_memory() {
            shared.metrics.dropped(DropReason::Memory);
            continue;
        }
        match shared.limiter.as_ref().map_or(Verdict::Allow, |rl| rl.check(src.ip(), received)) {
            Verdict::Allow => {}
            Verdict::Drop => {
                shared.metrics.dropped(DropReason::RateLimited);
                continue;
            }
            Verdict::Slip => {
                if let Outcome::Reply { len, .. } = slip(&shared.auth, &rx[..len], &mut tx)
                    && sock.send_to(&tx[..len], src).is_ok()
                {
                    shared.metrics.slipped();
                } else {
                    shared.metrics.dropped(DropReason::RateLimited);
                }
                continue;
            }
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // One relaxed load while tracing is off.
        let trace = if telemetry::on() { DecisionTrace::dns(received, "udp") } else { None };
        let outcome = {
            let table = shared.table.load();
            shared.samples.record(|| sample(&table, &rx[..len], src.ip()));
            let (q, out) = (&rx[..len], &mut tx[..]);
            answer_traced(
                &shared.auth,
                &table,
                q,
                src.ip(),
                Transport::Udp,
                seed,
                out,
                trace.as_ref(),
            )
        };
        match outcome {
            Outcome::Drop => shared.metrics.dropped(DropReason::Malformed),
            Outcome::Reply { len, rcode, qtype, truncated } => {
                if sock.send_to(&tx[..len], src).is_ok() {
                    shared.metrics.answered(Transport::Udp, qtype, rcode, truncated);
                    if sampler.take(received) {
                        shared.metrics.observe_duration(received.elapsed().as_secs_f64());
                    }
                }
            }
        }
        // The spans are built once the answer is sent.
        if let Some(trace) = trace {
            trace.answered_dns(rcode_name(&outcome));
            trace.emit();
        }
    }
}

/// Applies a change of receive buffer [`Sojourn`] asked for (best effort, logged).
fn resize_buffer(sock: &std::net::UdpSocket, resize: Resize, index: u64) {
    let sock = socket2::SockRef::from(sock);
    match resize {
        Resize::Shrink(bytes) => {
            let _ = sock.set_recv_buffer_size(bytes / 2);
            tracing::warn!(
                socket = index,
                receive_buffer = bytes,
                "DNS queries wait longer than the target; dropping the stale and cutting the \
                 receive buffer"
            );
        }
        Resize::Restore => {
            let _ = sock.set_recv_buffer_size(SO_RCVBUF);
            tracing::info!(socket = index, "DNS queue delay back under target; buffer restored");
        }
    }
}
