//! The traffic listener: bound on the main runtime, or on a runtime of its own in its own OS
//! thread so traffic cannot starve the admin listener and the prober (`http.worker_threads`).
//!
//! A named port is shared (`SO_REUSEPORT`) so that a new process can take it over while the
//! old one drains. Its socket is bound at once (a port conflict is a start-up error) but
//! listens only once the first routing table is installed (`ready`): a process still
//! loading its inventory takes no connections from the kernel, which meanwhile keeps sending
//! them to the process already serving. A port 0 listener is this process's alone and
//! listens at once.
//!
//! The HTTPS listener is the same with a [`TlsServer`]: every connection it accepts is TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::FrontEnd;
use crate::tls::TlsServer;

/// Binds `addr` and serves `front` until `stop` fires, then drains; with `threads` = 0 on the
/// current runtime, else on a dedicated one of that many workers. A named port starts
/// listening when `ready` fires. The task put in `set` completes when the listener has
/// drained. Returns the bound address (useful with port 0). With `tls` every connection is
/// TLS.
pub async fn spawn(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    front: Arc<FrontEnd>,
    stop: &CancellationToken,
    ready: &CancellationToken,
    threads: usize,
    tls: Option<TlsServer>,
) -> anyhow::Result<SocketAddr> {
    let socket = Socket::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    let local = socket.local_addr()?;
    let (stop, ready) = (stop.clone(), ready.clone());
    let name = if tls.is_some() { "https" } else { "http" };
    if threads == 0 {
        set.spawn(async move {
            if let Some(listener) = socket.listen(name, local, &ready, &stop).await {
                serve(front, listener, stop, tls).await;
            }
        });
    } else {
        spawn_own_runtime(set, socket, local, front, stop, ready, threads, tls)?;
    }
    Ok(local)
}

async fn serve(
    front: Arc<FrontEnd>,
    listener: TcpListener,
    stop: CancellationToken,
    tls: Option<TlsServer>,
) {
    match tls {
        None => front.serve(listener, stop).await,
        Some(tls) => front.serve_tls(listener, stop, tls).await,
    }
}

/// The traffic socket between bind and listen.
enum Socket {
    /// Port 0: listening already.
    Listening(std::net::TcpListener),
    /// A named port: bound, listening once the process is ready.
    OnReady(socket2::Socket),
}

impl Socket {
    fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(if addr.port() == 0 {
            Self::Listening(crate::net::bind_tcp(addr)?)
        } else {
            Self::OnReady(crate::net::bind_tcp_unlistened(addr)?)
        })
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Self::Listening(l) => l.local_addr(),
            Self::OnReady(s) => s.local_addr()?.as_socket().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an IP socket")
            }),
        }
    }

    /// The listener on the current runtime, once `ready` (a named port); `None` when `stop`
    /// comes first or listening fails (logged).
    async fn listen(
        self,
        name: &str,
        local: SocketAddr,
        ready: &CancellationToken,
        stop: &CancellationToken,
    ) -> Option<TcpListener> {
        let std_listener = match self {
            Self::Listening(l) => Ok(l),
            Self::OnReady(sock) => {
                tokio::select! {
                    _ = ready.cancelled() => {}
                    _ = stop.cancelled() => return None,
                }
                let listening = crate::net::listen(sock);
                if listening.is_ok() {
                    tracing::info!(addr = %local, "{name} listener accepting");
                }
                listening
            }
        };
        match std_listener.and_then(TcpListener::from_std) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(addr = %local, "{name} listener failed: {e}");
                None
            }
        }
    }
}

/// Serves on a dedicated runtime of `threads` workers in its own OS thread, so traffic and
/// the admin/prober runtime do not compete for the same workers (and a benchmark can pin the
/// traffic threads).
#[allow(clippy::too_many_arguments)]
fn spawn_own_runtime(
    set: &mut JoinSet<()>,
    socket: Socket,
    local: SocketAddr,
    front: Arc<FrontEnd>,
    stop: CancellationToken,
    ready: CancellationToken,
    threads: usize,
    tls: Option<TlsServer>,
) -> anyhow::Result<()> {
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
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let (name, thread) =
        if tls.is_some() { ("https", "traffic-https") } else { ("http", "traffic") };
    std::thread::Builder::new().name(thread.into()).spawn(move || {
        runtime.block_on(async move {
            if let Some(listener) = socket.listen(name, local, &ready, &stop).await {
                serve(front, listener, stop, tls).await;
            }
        });
        let _ = done_tx.send(());
    })?;
    set.spawn(async move {
        let _ = done_rx.await;
    });
    Ok(())
}
