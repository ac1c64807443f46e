//! A TCP proxy on loopback that a test can break while it runs: hang every connection (a network
//! partition), reset them, or add latency between a client and a real server such as etcd.
//!
//! Bytes pass untouched and are written as soon as they are read (no buffering, Nagle off), so
//! long-lived HTTP/2 and gRPC streams go through. The proxy runs on a thread and runtime of its
//! own: it behaves the same under a blocking test, a current-thread runtime or paused time, and
//! dropping it ends every task and connection before `drop` returns.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Largest chunk read at once.
const CHUNK: usize = 16 * 1024;
/// Chunks held per direction while they wait out the delay (or a pause): at most
/// `CHUNK * QUEUE` bytes, after which the reader stops and TCP pushes back on the sender.
const QUEUE: usize = 16;
/// How long reaching the target may take before the client is reset.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Open,
    Paused,
    Cut,
}

/// What the connections obey, changed by the [`FaultProxy`] methods.
#[derive(Clone, Copy, Debug)]
struct Faults {
    mode: Mode,
    delay: Duration,
    /// Bumped to reset every connection opened before.
    epoch: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    connect_failures: AtomicU64,
    active: AtomicU64,
    bytes_to_target: AtomicU64,
    bytes_to_client: AtomicU64,
}

/// The proxy's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted from clients, including those reset at once while cut.
    pub accepted: u64,
    /// Connections reset at once because the proxy was cut.
    pub refused: u64,
    /// Connections reset because the target could not be reached.
    pub connect_failures: u64,
    /// Connections open now, forwarding or hanging.
    pub active: u64,
    /// Bytes handed to the target's sockets.
    pub bytes_to_target: u64,
    /// Bytes handed to the clients' sockets.
    pub bytes_to_client: u64,
}

/// A fault-injecting TCP proxy from a loopback port to one target.
///
/// States, all taking effect at once for new and existing connections:
/// - open: bytes flow, after the [`set_delay`](Self::set_delay) latency;
/// - [`pause`](Self::pause): nothing is read or written, and nothing is accepted (the kernel
///   still completes a few handshakes into the listen backlog), so clients hang as in a
///   partition; bytes already read are delivered after [`resume`](Self::resume);
/// - [`cut`](Self::cut): open connections are reset on both sides and new ones are accepted
///   and reset at once. Refusing at the SYN would need closing the listener, and the port
///   might be gone by the time it is bound again.
#[derive(Debug)]
pub struct FaultProxy {
    listen: SocketAddr,
    target: SocketAddr,
    faults: watch::Sender<Faults>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> io::Result<FaultProxy> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let listen = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (faults, rx) =
            watch::channel(Faults { mode: Mode::Open, delay: Duration::ZERO, epoch: 0 });
        let counters = Arc::new(Counters::default());
        let shutdown = CancellationToken::new();
        let (c, stop) = (counters.clone(), shutdown.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", listen.port()))
            .spawn(move || {
                rt.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => accept_loop(l, target, rx, c, stop).await,
                        Err(e) => tracing::error!(error = %e, "fault proxy cannot listen"),
                    }
                });
                // Dropping the runtime drops every connection task and so closes its sockets.
                drop(rt);
            })?;
        Ok(FaultProxy { listen, target, faults, counters, shutdown, thread: Some(thread) })
    }

    /// Where clients connect.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Where connections go.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Stops all traffic both ways and stops accepting, leaving connections open and hanging.
    pub fn pause(&self) {
        self.faults.send_modify(|f| f.mode = Mode::Paused);
    }

    /// Lets traffic flow again after [`pause`](Self::pause) or [`cut`](Self::cut).
    pub fn resume(&self) {
        self.faults.send_modify(|f| f.mode = Mode::Open);
    }

    /// Resets every open connection on both sides and resets new ones until
    /// [`resume`](Self::resume).
    pub fn cut(&self) {
        self.faults.send_modify(|f| {
            f.mode = Mode::Cut;
            f.epoch += 1;
        });
    }

    /// Resets every open connection on both sides and goes on serving new ones, as when a
    /// middlebox drops its connection table.
    pub fn reset_connections(&self) {
        self.faults.send_modify(|f| f.epoch += 1);
    }

    /// Holds every chunk read, each way, for `delay` before writing it; later chunks queue
    /// behind it rather than adding up, as on a long link. Applies to chunks read from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.faults.send_modify(|f| f.delay = delay);
    }

    /// The counters now.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            accepted: get(&c.accepted),
            refused: get(&c.refused),
            connect_failures: get(&c.connect_failures),
            active: get(&c.active),
            bytes_to_target: get(&c.bytes_to_target),
            bytes_to_client: get(&c.bytes_to_client),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    mut faults: watch::Receiver<Faults>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    loop {
        let paused = faults.borrow_and_update().mode == Mode::Paused;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted = listener.accept(), if !paused => match accepted {
                Ok((client, _)) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let now = *faults.borrow();
                    if now.mode == Mode::Cut {
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        reset(&client);
                        continue;
                    }
                    let conn = serve(client, target, faults.clone(), counters.clone(), now.epoch);
                    tokio::spawn(conn);
                }
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "fault proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Counts a connection as active for as long as it lives.
struct Active(Arc<Counters>);

impl Active {
    fn enter(c: &Arc<Counters>) -> Self {
        c.active.fetch_add(1, Ordering::Relaxed);
        Active(c.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(
    mut client: TcpStream,
    target: SocketAddr,
    faults: watch::Receiver<Faults>,
    counters: Arc<Counters>,
    epoch: u64,
) {
    let _active = Active::enter(&counters);
    let mut cut_rx = faults.clone();
    // Ends when a cut or reset comes after this connection was accepted (or the proxy goes).
    let cut = async move {
        let _ = cut_rx.wait_for(|f| f.epoch != epoch).await;
    };
    tokio::pin!(cut);
    let _ = client.set_nodelay(true);

    let mut open_rx = faults.clone();
    let connect = async {
        wait_open(&mut open_rx).await?;
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await?
    };
    let mut upstream = tokio::select! {
        _ = &mut cut => return reset(&client),
        connected = connect => match connected {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(%target, error = %e, "fault proxy cannot reach its target");
                counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                return reset(&client);
            }
        },
    };
    let _ = upstream.set_nodelay(true);

    let finished = {
        let (client_read, client_write) = client.split();
        let (upstream_read, upstream_write) = upstream.split();
        let up = pump(client_read, upstream_write, faults.clone(), &counters.bytes_to_target);
        let down = pump(upstream_read, client_write, faults, &counters.bytes_to_client);
        tokio::select! {
            _ = &mut cut => false,
            both = async { tokio::try_join!(up, down) } => both.is_ok(),
        }
    };
    if !finished {
        reset(&client);
        reset(&upstream);
    }
}

/// Forwards one direction: a reader that stops while paused and stamps each chunk with the time
/// it may leave, and a writer that waits for that time (and for the pause to end) before
/// writing. The two run at once, so a delay is latency, not a cap on throughput. The end of
/// input is passed on as a half close.
async fn pump(
    mut from: ReadHalf<'_>,
    mut to: WriteHalf<'_>,
    faults: watch::Receiver<Faults>,
    forwarded: &AtomicU64,
) -> io::Result<()> {
    let (tx, mut queue) = mpsc::channel::<(Instant, Bytes)>(QUEUE);
    let mut read_faults = faults.clone();
    let mut write_faults = faults;
    let reader = async move {
        let mut buf = BytesMut::new();
        loop {
            wait_open(&mut read_faults).await?;
            buf.reserve(CHUNK);
            if from.read_buf(&mut buf).await? == 0 {
                return Ok::<_, io::Error>(());
            }
            let due = Instant::now() + read_faults.borrow().delay;
            if tx.send((due, buf.split().freeze())).await.is_err() {
                return Ok(());
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = queue.recv().await {
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            wait_open(&mut write_faults).await?;
            // Counted before the write so that a peer which has seen the bytes sees them
            // counted too.
            forwarded.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            to.write_all(&chunk).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

async fn wait_open(faults: &mut watch::Receiver<Faults>) -> io::Result<()> {
    match faults.wait_for(|f| f.mode == Mode::Open).await {
        Ok(_) => Ok(()),
        Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
    }
}

/// Closes with a RST rather than a FIN (SO_LINGER 0), as a dropped connection looks to a peer.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
