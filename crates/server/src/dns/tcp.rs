//! DNS over TCP (RFC 7766): two-byte length framing, several queries per connection
//! answered in order, an idle timeout, and a bound on concurrent connections at which the
//! connection idle the longest is closed to make room for a new client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::answer::{answer_traced, rcode_name, sample};
use super::codes::{Outcome, Transport};
use super::metrics::DropReason;
use crate::telemetry::{self, DecisionTrace};

/// Accepts connections until `stop`; then stops accepting and waits for the open
/// connections, which answer the queries already sent to them and close (end of stream
/// first, so clients send their next query elsewhere).
///
/// At `tcp_max_connections`, a new client makes the connection idle the longest close
/// (counted in `switchyard_dns_tcp_evicted_total`) and is served as soon as that one has
/// gone, rather than waiting in the accept queue until some connection's idle timeout. RFC
/// 7766 §6.2.2 and §6.2.3 leave it to the server to manage its connections as resources
/// require, and clients must cope with an idle connection being closed; the idlest one is
/// the one whose loss costs its client least, and a client that stalls in the middle of a
/// query cannot hold a slot against newcomers.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let max = shared.auth.config.tcp_max_connections.max(1);
    let limit = Arc::new(Semaphore::new(max));
    let registry = Arc::new(Registry::default());
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(error = %e, "dns tcp accept failed");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
        };
        let permit = match limit.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => break,
            Err(TryAcquireError::NoPermits) => {
                if registry.evict_idlest() {
                    shared.metrics.tcp_evicted();
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                }
            }
        };
        let member = registry.insert();
        conns.spawn(connection(stream, peer, shared.clone(), stop.clone(), member, permit));
        while conns.try_join_next().is_some() {}
    }
    // Closing the listener resets the connections waiting in its accept queue: take them
    // first and answer what they send, as every open connection does while stopping.
    for (stream, peer) in crate::net::accept_backlog(&listener) {
        let Ok(permit) = limit.clone().try_acquire_owned() else { break };
        let member = registry.insert();
        conns.spawn(connection(stream, peer, shared.clone(), stop.clone(), member, permit));
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    member: Member,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let evict = member.conn.evict.clone();
    let idle = Duration::from_millis(shared.auth.config.tcp_idle_timeout_ms.max(1));
    let mut query = Vec::with_capacity(512);
    let mut out = vec![0u8; 2 + usize::from(u16::MAX)];
    let mut seed = u64::from(peer.port()) | 1;
    loop {
        // Stopping: answer every query the client has already sent, then close.
        if stop.is_cancelled() && !has_pending(&stream) {
            return close_gracefully(stream).await;
        }
        let len = tokio::select! {
            _ = stop.cancelled(), if !stop.is_cancelled() => continue,
            _ = evict.cancelled() => return,
            r = timeout(idle, stream.read_u16()) => match r {
                Ok(Ok(len)) => usize::from(len),
                _ => return,
            },
        };
        query.resize(len, 0);
        let read = tokio::select! {
            _ = evict.cancelled() => return,
            r = timeout(idle, stream.read_exact(&mut query)) => r,
        };
        if !matches!(read, Ok(Ok(_))) {
            shared.metrics.dropped(DropReason::Malformed);
            return;
        }
        // Over the memory watermark the connection is closed unanswered: the client retries
        // elsewhere, and the buffers of a connection held open are given back.
        if shared.over_memory() {
            shared.metrics.dropped(DropReason::Memory);
            return;
        }
        member.touch();
        seed = seed.wrapping_mul(0x5851_f42d_4c95_7f2d).wrapping_add(0x1405_7b7e_f767_814f);
        let trace = match telemetry::on() {
            true => DecisionTrace::dns(std::time::Instant::now(), "tcp"),
            false => None,
        };
        let outcome = {
            let table = shared.table.load();
            shared.samples.record(|| sample(&table, &query, peer.ip()));
            let (auth, ip, t) = (&shared.auth, peer.ip(), trace.as_ref());
            answer_traced(auth, &table, &query, ip, Transport::Tcp, seed, &mut out[2..], t)
        };
        if let Some(trace) = trace {
            // Built before the write: the answer may wait on a slow reader.
            trace.answered_dns(rcode_name(&outcome));
            trace.emit();
        }
        let Outcome::Reply { len, rcode, qtype, truncated } = outcome else {
            shared.metrics.dropped(DropReason::Malformed);
            return;
        };
        out[..2].copy_from_slice(&(len as u16).to_be_bytes());
        // Shutdown lets the answer in hand go out; eviction does not wait for a client
        // that does not read.
        let wrote = tokio::select! {
            _ = evict.cancelled() => return,
            r = timeout(idle, stream.write_all(&out[..2 + len])) => r,
        };
        match wrote {
            Ok(Ok(())) => {
                shared.metrics.answered(Transport::Tcp, qtype, rcode, truncated);
                member.touch();
            }
            _ => return,
        }
    }
}

/// How long a connection closed at stop keeps reading (and discarding) what the client
/// still sends, so that the client sees the close as an end of stream rather than a reset.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// Whether the client has sent bytes not yet read: one non-blocking peek, made directly
/// because tokio's cached readiness may not yet include bytes that just arrived.
fn has_pending(stream: &TcpStream) -> bool {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    matches!(socket2::SockRef::from(stream).peek(&mut byte), Ok(n) if n > 0)
}

/// Closes a connection at stop: end of stream first (the client's signal, RFC 7766 §6.2.3,
/// to send further queries elsewhere), then what the client still sends is read and
/// discarded until it closes its side or [`CLOSE_LINGER`] passes. Closing at once with
/// unread bytes would reset the connection, and the client could lose the answers already
/// sent to it.
async fn close_gracefully(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 512];
    let _ = timeout(CLOSE_LINGER, async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// One open connection as the eviction choice sees it.
#[derive(Debug)]
struct Conn {
    /// [`Registry::clock`] at its last activity: accepted, a query read, an answer sent.
    last_active: AtomicU64,
    /// Cancelled to make the connection close.
    evict: CancellationToken,
}

/// The open connections, so that the one idle the longest can be found at the limit.
/// Activity is ordered by a counter rather than a clock, so two connections never tie. A
/// std mutex suffices: it is held to add or remove an entry and, at the limit, for one scan
/// of at most `tcp_max_connections` entries; never across an await.
#[derive(Debug, Default)]
struct Registry {
    slots: Mutex<Slots>,
    clock: AtomicU64,
}

#[derive(Debug, Default)]
struct Slots {
    entries: Vec<Option<Arc<Conn>>>,
    free: Vec<usize>,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a connection accepted now.
    fn insert(self: &Arc<Self>) -> Member {
        let conn = Arc::new(Conn {
            last_active: AtomicU64::new(self.tick()),
            evict: CancellationToken::new(),
        });
        let mut slots = self.lock();
        let index = match slots.free.pop() {
            Some(i) => {
                slots.entries[i] = Some(conn.clone());
                i
            }
            None => {
                slots.entries.push(Some(conn.clone()));
                slots.entries.len() - 1
            }
        };
        Member { registry: self.clone(), index, conn }
    }

    /// Tells the connection idle the longest to close; `false` when none is left to tell
    /// (every one is closing already).
    fn evict_idlest(&self) -> bool {
        let slots = self.lock();
        let idlest = slots
            .entries
            .iter()
            .flatten()
            .filter(|c| !c.evict.is_cancelled())
            .min_by_key(|c| c.last_active.load(Ordering::Relaxed));
        match idlest {
            Some(c) => {
                c.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// A connection's entry in the [`Registry`], removed when the connection ends.
struct Member {
    registry: Arc<Registry>,
    index: usize,
    conn: Arc<Conn>,
}

impl Member {
    /// Records activity now.
    fn touch(&self) {
        self.conn.last_active.store(self.registry.tick(), Ordering::Relaxed);
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut slots = self.registry.lock();
        slots.entries[self.index] = None;
        slots.free.push(self.index);
    }
}
