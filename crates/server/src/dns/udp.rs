//! UDP serving: several `SO_REUSEPORT` sockets on one address, each read by its own thread
//! with blocking, batched reads into reused buffers. The kernel spreads queries over the
//! sockets by source, each thread runs on whichever core is free, and a batch of queries
//! costs two system calls and no wake-up through the async runtime (the design of
//! PowerDNS's receiver threads and of BIND's per-core listeners).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::answer::{Outcome, QType, Rcode, Transport, answer};
use super::metrics::{DropReason, SAMPLE_EVERY};

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
    Ok(sock.into())
}

/// A reply ready to send, with what to count once it is sent.
#[derive(Clone, Copy)]
struct Reply {
    len: usize,
    rcode: Rcode,
    qtype: QType,
    truncated: bool,
}

/// Per-thread answering state.
struct Worker<'a> {
    shared: &'a Shared,
    seed: u64,
    seen: u64,
}

impl Worker<'_> {
    /// Rate limit, answer, count drops. `None` when nothing is to be sent.
    fn handle(&mut self, query: &[u8], src: IpAddr, now: Instant, tx: &mut [u8]) -> Option<Reply> {
        let s = self.shared;
        if let Some(rl) = &s.limiter
            && !rl.check(src, now)
        {
            s.metrics.dropped(DropReason::RateLimited);
            return None;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let table = s.table.load();
        match answer(&s.auth, &table, query, src, Transport::Udp, self.seed, tx) {
            Outcome::Drop => {
                s.metrics.dropped(DropReason::Malformed);
                None
            }
            Outcome::Reply { len, rcode, qtype, truncated } => {
                Some(Reply { len, rcode, qtype, truncated })
            }
        }
    }

    fn sent(&self, r: Reply) {
        self.shared.metrics.answered(Transport::Udp, r.qtype, r.rcode, r.truncated);
    }

    /// Counts `n` received datagrams; true when this batch is the one in [`SAMPLE_EVERY`]
    /// whose receive-to-send time is recorded.
    fn sample(&mut self, n: usize) -> bool {
        let before = self.seen / SAMPLE_EVERY;
        self.seen = self.seen.wrapping_add(n as u64);
        self.seen / SAMPLE_EVERY != before
    }
}

/// Serves one socket on the calling (blocking) thread until `stop` is cancelled.
pub fn serve(sock: std::net::UdpSocket, shared: Arc<Shared>, index: u64, stop: CancellationToken) {
    let mut worker = Worker {
        shared: &shared,
        seed: 0x9e37_79b9_7f4a_7c15u64 ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03) | 1,
        seen: 0,
    };
    let tx_size = usize::from(shared.auth.config.max_udp_payload_bytes.max(512));
    #[cfg(target_os = "linux")]
    serve_batched(&sock, &mut worker, tx_size, &stop);
    #[cfg(not(target_os = "linux"))]
    serve_single(&sock, &mut worker, tx_size, &stop);
}

#[cfg(target_os = "linux")]
fn serve_batched(
    sock: &std::net::UdpSocket,
    worker: &mut Worker<'_>,
    tx_size: usize,
    stop: &CancellationToken,
) {
    use std::os::fd::AsRawFd;

    use super::mmsg::{BATCH, Buffers};

    let fd = sock.as_raw_fd();
    let mut bufs = Buffers::new(RECV_BUF, tx_size);
    let mut replies: Vec<(usize, usize)> = Vec::with_capacity(BATCH);
    let mut meta: Vec<Reply> = Vec::with_capacity(BATCH);
    let mut sent = [false; BATCH];
    while !stop.is_cancelled() {
        // Errors are the read timeout (time to look at `stop`) and ICMP errors surfaced on
        // the socket (ECONNREFUSED...), which concern earlier sends.
        let Ok(n) = bufs.recv(fd) else { continue };
        let now = Instant::now();
        let sampled = worker.sample(n);
        replies.clear();
        meta.clear();
        for i in 0..n {
            let (query, peer, tx) = bufs.slot(i);
            let Some(peer) = peer else { continue };
            if let Some(r) = worker.handle(query, peer.ip(), now, tx) {
                replies.push((i, r.len));
                meta.push(r);
            }
        }
        bufs.send(fd, &replies, &mut sent);
        for (r, &ok) in meta.iter().zip(&sent) {
            if ok {
                worker.sent(*r);
            }
        }
        if sampled {
            worker.shared.metrics.observe_duration(now.elapsed().as_secs_f64());
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn serve_single(
    sock: &std::net::UdpSocket,
    worker: &mut Worker<'_>,
    tx_size: usize,
    stop: &CancellationToken,
) {
    let mut rx = vec![0u8; RECV_BUF];
    let mut tx = vec![0u8; tx_size];
    while !stop.is_cancelled() {
        let Ok((len, src)) = sock.recv_from(&mut rx) else { continue };
        let now = Instant::now();
        let sampled = worker.sample(1);
        if let Some(r) = worker.handle(&rx[..len], src.ip(), now, &mut tx)
            && sock.send_to(&tx[..r.len], src).is_ok()
        {
            worker.sent(r);
        }
        if sampled {
            worker.shared.metrics.observe_duration(now.elapsed().as_secs_f64());
        }
    }
}
