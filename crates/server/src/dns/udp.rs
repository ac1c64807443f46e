//! UDP serving: several `SO_REUSEPORT` sockets on one address, each drained by its own task
//! with reused buffers, so the kernel spreads queries over cores and the answer path
//! allocates nothing per packet beyond the routing decision.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::answer::{Outcome, Transport, answer};
use super::metrics::{DropReason, SAMPLE_EVERY};

/// Largest query read; anything longer is cut by the kernel and then fails to parse.
const RECV_BUF: usize = 4096;
/// Datagrams handled per readiness event before checking for shutdown again.
const BATCH: usize = 256;
/// Kernel receive buffer asked for, to ride out bursts (capped by `net.core.rmem_max`).
const SO_RCVBUF: usize = 4 << 20;

/// A non-blocking UDP socket with `SO_REUSEPORT`, bound to `addr`.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    // Best effort: a smaller buffer still works.
    let _ = sock.set_recv_buffer_size(SO_RCVBUF);
    sock.bind(&addr.into())?;
    Ok(sock.into())
}

/// Serves one socket until `stop` is cancelled.
pub async fn serve(
    sock: std::net::UdpSocket,
    shared: Arc<Shared>,
    index: u64,
    stop: CancellationToken,
) {
    let sock = match UdpSocket::from_std(sock) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "dns udp socket could not join the runtime");
            return;
        }
    };
    let mut rx = vec![0u8; RECV_BUF];
    let mut tx = vec![0u8; usize::from(shared.auth.config.max_udp_payload_bytes.max(512))];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03);
    let mut seen: u64 = 0;
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            r = sock.readable() => if r.is_err() { return },
        }
        for _ in 0..BATCH {
            let (len, src) = match sock.try_recv_from(&mut rx) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP errors surfaced on the socket (ECONNREFUSED...) concern earlier sends.
                Err(_) => continue,
            };
            seen = seen.wrapping_add(1);
            let started = seen.is_multiple_of(SAMPLE_EVERY).then(Instant::now);
            if let Some(rl) = &shared.limiter
                && !rl.check(src.ip(), started.unwrap_or_else(Instant::now))
            {
                shared.metrics.dropped(DropReason::RateLimited);
                continue;
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let outcome = {
                let table = shared.table.load();
                answer(&shared.auth, &table, &rx[..len], src.ip(), Transport::Udp, seed, &mut tx)
            };
            match outcome {
                Outcome::Drop => shared.metrics.dropped(DropReason::Malformed),
                Outcome::Reply { len, rcode, qtype, truncated } => {
                    let sent = match sock.try_send_to(&tx[..len], src) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            sock.send_to(&tx[..len], src).await
                        }
                        r => r,
                    };
                    if sent.is_ok() {
                        shared.metrics.answered(Transport::Udp, qtype, rcode, truncated);
                    }
                    if let Some(t0) = started {
                        shared.metrics.observe_duration(t0.elapsed().as_secs_f64());
                    }
                }
            }
        }
    }
}
