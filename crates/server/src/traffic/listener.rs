//! The traffic listener: bound on the main runtime, or on a runtime of its own in its own OS
//! thread so traffic cannot starve the admin listener and the prober (`http.worker_threads`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::FrontEnd;

/// Binds `addr` and serves `front` until `stop` fires, then drains; with `threads` = 0 on the
/// current runtime, else on a dedicated one of that many workers. The task put in `set`
/// completes when the listener has drained. Returns the bound address (useful with port 0).
pub async fn spawn(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    front: Arc<FrontEnd>,
    stop: &CancellationToken,
    threads: usize,
) -> anyhow::Result<SocketAddr> {
    if threads == 0 {
        spawn_shared(set, addr, front, stop).await
    } else {
        spawn_own_runtime(set, addr, front, stop, threads)
    }
}

/// Binds `addr` and serves the traffic front end on it until `stop` fires, then drains.
async fn spawn_shared(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    front: Arc<FrontEnd>,
    stop: &CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    set.spawn(front.serve(listener, stop.clone()));
    Ok(local)
}

/// Like [`spawn_shared`], but serves on a dedicated runtime of `threads` workers in its own
/// OS thread, so traffic and the admin/prober runtime do not compete for the same workers
/// (and a benchmark can pin the traffic threads).
fn spawn_own_runtime(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    front: Arc<FrontEnd>,
    stop: &CancellationToken,
    threads: usize,
) -> anyhow::Result<SocketAddr> {
    let std_listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    // One worker: a current-thread runtime, so accepting and every connection share that
    // one thread with no scheduler hand-offs.
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("traffic-worker")
            .enable_all()
            .build()
    }
    .context("building the traffic runtime")?;
    let stop = stop.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new().name("traffic".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => return tracing::error!(addr = %local, "listener failed: {e}"),
            };
            front.serve(listener, stop).await;
        });
        let _ = done_tx.send(());
    })?;
    set.spawn(async move {
        let _ = done_rx.await;
    });
    Ok(local)
}
