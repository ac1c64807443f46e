//! DNS over TCP (RFC 7766): two-byte length framing, several queries per connection
//! answered in order, an idle timeout, and a bound on concurrent connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::answer::answer;
use super::codes::{Outcome, Transport};
use super::metrics::DropReason;

/// Accepts connections until `stop`; then stops accepting and waits for the open
/// connections, which finish the query in hand and close.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let limit = Arc::new(Semaphore::new(shared.auth.config.tcp_max_connections.max(1)));
    let mut conns = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                conns.spawn(connection(stream, peer, shared.clone(), stop.clone(), permit));
            }
            Err(e) => {
                // Out of descriptors and the like: back off briefly instead of spinning.
                tracing::warn!(error = %e, "dns tcp accept failed");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
            }
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let idle = Duration::from_millis(shared.auth.config.tcp_idle_timeout_ms.max(1));
    let mut query = Vec::with_capacity(512);
    let mut out = vec![0u8; 2 + usize::from(u16::MAX)];
    let mut seed = u64::from(peer.port()) | 1;
    loop {
        let len = tokio::select! {
            _ = stop.cancelled() => return,
            r = timeout(idle, stream.read_u16()) => match r {
                Ok(Ok(len)) => usize::from(len),
                _ => return,
            },
        };
        query.resize(len, 0);
        match timeout(idle, stream.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => {
                shared.metrics.dropped(DropReason::Malformed);
                return;
            }
        }
        seed = seed.wrapping_mul(0x5851_f42d_4c95_7f2d).wrapping_add(0x1405_7b7e_f767_814f);
        let outcome = {
            let table = shared.table.load();
            answer(&shared.auth, &table, &query, peer.ip(), Transport::Tcp, seed, &mut out[2..])
        };
        let Outcome::Reply { len, rcode, qtype, truncated } = outcome else {
            shared.metrics.dropped(DropReason::Malformed);
            return;
        };
        out[..2].copy_from_slice(&(len as u16).to_be_bytes());
        match timeout(idle, stream.write_all(&out[..2 + len])).await {
            Ok(Ok(())) => shared.metrics.answered(Transport::Tcp, qtype, rcode, truncated),
            _ => return,
        }
    }
}
