//! One simulated node: its run-time configuration, its listener and its accept loop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProtocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::plan::{Addressing, Behavior, FleetPlan, Protocol};

/// Run-time settings of one node.
#[derive(Debug, Clone)]
pub(crate) struct NodeConfig {
    pub behavior: Behavior,
    pub latency: Duration,
    pub agent_reply: String,
}

struct NodeInner {
    index: usize,
    addr: SocketAddr,
    config: watch::Sender<NodeConfig>,
    requests: AtomicU64,
    connections: AtomicU64,
    /// Origin of the node's [`Behavior::Flap`] clock.
    epoch: Instant,
}

/// Control handle of one node; cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    inner: Arc<NodeInner>,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("index", &self.inner.index)
            .field("addr", &self.inner.addr)
            .finish()
    }
}

impl NodeHandle {
    pub(crate) fn new(index: usize, addr: SocketAddr, plan: &FleetPlan) -> Self {
        let (config, _) = watch::channel(NodeConfig {
            behavior: plan.initial.clone(),
            latency: Duration::ZERO,
            agent_reply: plan.agent_reply.clone(),
        });
        NodeHandle {
            inner: Arc::new(NodeInner {
                index,
                addr,
                config,
                requests: AtomicU64::new(0),
                connections: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        }
    }

    /// Position of the node in its fleet.
    pub fn index(&self) -> usize {
        self.inner.index
    }

    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Changes what the node does from its next request on.
    pub fn set_behavior(&self, behavior: Behavior) {
        self.inner.config.send_modify(|c| c.behavior = behavior);
    }

    /// The current behavior.
    pub fn behavior(&self) -> Behavior {
        self.inner.config.borrow().behavior.clone()
    }

    /// Delay added before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.config.send_modify(|c| c.latency = latency);
    }

    /// The agent-check reply line (without newline), e.g. `up 75%`, `drain`, `down#disk full`.
    pub fn set_agent_reply(&self, reply: impl Into<String>) {
        let reply = reply.into();
        self.inner.config.send_modify(|c| c.agent_reply = reply);
    }

    /// Requests (HTTP requests, agent connections, DNS queries, RPCs) received so far.
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// Counts one request and returns the settings and the behavior that applies to it
    /// (a [`Behavior::Cycle`] is resolved by the request number).
    pub(crate) fn next_request(&self) -> (NodeConfig, Behavior) {
        let n = self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let config = self.inner.config.borrow().clone();
        let behavior = self.resolve(&config.behavior, n);
        (config, behavior)
    }

    /// Like [`NodeHandle::next_request`] for protocols that need only the added latency, without
    /// copying the rest of the settings.
    pub(crate) fn next_request_timing(&self) -> (Duration, Behavior) {
        let n = self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let config = self.inner.config.borrow();
        (config.latency, self.resolve(&config.behavior, n))
    }

    /// The behavior a new connection sees, without counting a request.
    pub(crate) fn connection_behavior(&self) -> Behavior {
        self.inner.connections.fetch_add(1, Ordering::Relaxed);
        let n = self.inner.requests.load(Ordering::Relaxed);
        self.resolve(&self.inner.config.borrow().behavior, n)
    }

    /// The behavior request `n` sees now: a [`Behavior::Cycle`] by the request number, a
    /// [`Behavior::Flap`] by the clock.
    fn resolve(&self, behavior: &Behavior, n: u64) -> Behavior {
        match behavior {
            Behavior::Cycle(list) if !list.is_empty() => {
                self.resolve(&list[(n % list.len() as u64) as usize], n)
            }
            Behavior::Cycle(_) => Behavior::Healthy,
            Behavior::Flap { period, fault } => {
                let period = period.as_nanos().max(1);
                let shift = period * (self.inner.index % 16) as u128 / 16;
                let t = self.inner.epoch.elapsed().as_nanos() + shift;
                if (t / period).is_multiple_of(2) {
                    Behavior::Healthy
                } else {
                    self.resolve(fault, n)
                }
            }
            b => b.clone(),
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<NodeConfig> {
        self.inner.config.subscribe()
    }
}

/// A bound node socket.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Listener {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Udp(u) => u.local_addr(),
        }
        .expect("bound socket has a local address")
    }
}

fn bind(protocol: Protocol, addr: SocketAddr) -> std::io::Result<Listener> {
    let udp = protocol == Protocol::Dns;
    let (ty, proto) =
        if udp { (Type::DGRAM, SockProtocol::UDP) } else { (Type::STREAM, SockProtocol::TCP) };
    let socket = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    if udp {
        Ok(Listener::Udp(UdpSocket::from_std(socket.into())?))
    } else {
        socket.listen(1024)?;
        Ok(Listener::Tcp(TcpListener::from_std(socket.into())?))
    }
}

/// Binds every node of the plan. With a shared loopback port, a port taken on one of the
/// addresses makes the whole set retry with another free port.
pub(crate) async fn bind_all(plan: &FleetPlan) -> std::io::Result<Vec<Listener>> {
    match plan.addressing {
        Addressing::Ports { ip } => {
            (0..plan.nodes).map(|_| bind(plan.protocol, SocketAddr::new(ip, 0))).collect()
        }
        Addressing::SharedLoopback { .. } => {
            Err(std::io::Error::other("a shared loopback fleet is bound by bind_shared"))
        }
        Addressing::Loopback { first, port } => {
            let mut last_err = None;
            for _ in 0..8 {
                match bind_loopback(plan, first, port) {
                    Ok(v) => return Ok(v),
                    Err(e) if port == 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                        last_err = Some(e)
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(last_err.unwrap_or_else(|| std::io::Error::other("no free shared port")))
        }
    }
}

fn bind_loopback(plan: &FleetPlan, first: Ipv4Addr, port: u16) -> std::io::Result<Vec<Listener>> {
    let base = u32::from(first);
    let mut out = Vec::with_capacity(plan.nodes);
    let mut port = port;
    for i in 0..plan.nodes {
        let ip = Ipv4Addr::from(base.checked_add(i as u32).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "address range overflow")
        })?);
        if ip.octets()[0] != 127 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "fleet address range leaves 127.0.0.0/8",
            ));
        }
        let l = bind(plan.protocol, SocketAddr::new(IpAddr::V4(ip), port))?;
        port = l.local_addr().port();
        out.push(l);
    }
    Ok(out)
}

/// The one listener of an [`Addressing::SharedLoopback`] fleet, and its nodes' addresses.
pub(crate) fn bind_shared(
    plan: &FleetPlan,
    first: Ipv4Addr,
    port: u16,
) -> std::io::Result<(TcpListener, Vec<SocketAddr>)> {
    if plan.protocol == Protocol::Dns {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "a shared loopback fleet serves TCP protocols only",
        ));
    }
    let base = u32::from(first);
    let last = base.checked_add(plan.nodes.saturating_sub(1) as u32);
    if first.octets()[0] != 127 || last.is_none_or(|l| Ipv4Addr::from(l).octets()[0] != 127) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "fleet address range leaves 127.0.0.0/8",
        ));
    }
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(SockProtocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    // Only what arrives over the loopback device reaches this wildcard socket.
    socket.bind_device(Some(b"lo"))?;
    socket.bind(&SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port).into())?;
    socket.listen(4096)?;
    let listener = TcpListener::from_std(socket.into())?;
    let port = listener.local_addr()?.port();
    let addrs = (0..plan.nodes as u32)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(base + i)), port))
        .collect();
    Ok((listener, addrs))
}

/// Accepts for every node of a shared loopback fleet, handing each connection to the node
/// whose address it reached.
pub(crate) fn spawn_shared(
    listener: TcpListener,
    first: Ipv4Addr,
    nodes: Arc<[NodeHandle]>,
    protocol: Protocol,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    let t = tracker.clone();
    tracker.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let index = match stream.local_addr() {
                Ok(SocketAddr::V4(a)) => u32::from(*a.ip()).wrapping_sub(u32::from(first)),
                _ => continue,
            };
            let Some(node) = nodes.get(index as usize).cloned() else { continue };
            if matches!(node.behavior(), Behavior::Refuse) {
                node.connection_behavior();
                reset(&stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let cancel = cancel.clone();
            let tls = tls.clone();
            t.spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = serve_connection(stream, node, protocol, tls) => {}
                }
            });
        }
    });
}

/// Starts the accept (or receive) loop of one node.
pub(crate) fn spawn(
    listener: Listener,
    node: NodeHandle,
    protocol: Protocol,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tracker: &TaskTracker,
    cancel: CancellationToken,
) {
    let t = tracker.clone();
    match listener {
        Listener::Udp(sock) => {
            tracker.spawn(super::dns::serve(sock, node, cancel));
        }
        Listener::Tcp(l) => {
            tracker.spawn(accept_loop(l, node, protocol, tls, t, cancel));
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    node: NodeHandle,
    protocol: Protocol,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tracker: TaskTracker,
    cancel: CancellationToken,
) {
    let addr = node.addr();
    let mut changes = node.subscribe();
    let mut listener = Some(listener);
    loop {
        let refusing = matches!(changes.borrow_and_update().behavior, Behavior::Refuse);
        if refusing {
            listener = None;
        } else if listener.is_none() {
            match bind(protocol, addr) {
                Ok(Listener::Tcp(l)) => listener = Some(l),
                Ok(Listener::Udp(_)) => unreachable!("stream protocol binds TCP"),
                Err(e) => tracing::warn!(%addr, error = %e, "simulated node cannot rebind"),
            }
        }
        let Some(l) = listener.as_ref() else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = changes.changed() => if r.is_err() { return } else { continue },
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            r = changes.changed() => if r.is_err() { return },
            accepted = l.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or similar: back off briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let node = node.clone();
                let cancel = cancel.clone();
                let tls = tls.clone();
                tracker.spawn(async move {
                    tokio::select! {
                        _ = cancel.cancelled() => {}
                        _ = serve_connection(stream, node, protocol, tls) => {}
                    }
                });
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    node: NodeHandle,
    protocol: Protocol,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    match node.connection_behavior() {
        Behavior::Hang => return hang(stream).await,
        Behavior::Trickle { .. } if !matches!(protocol, Protocol::Http | Protocol::Https) => {
            return hang(stream).await;
        }
        Behavior::Reset => return reset(&stream),
        _ => {}
    }
    match protocol {
        Protocol::Http => super::http::serve(stream, node).await,
        Protocol::Https => {
            let Some(acceptor) = tls else { return };
            if let Ok(s) = acceptor.accept(stream).await {
                super::http::serve(s, node).await;
            }
        }
        Protocol::Tcp => super::tcp::serve_line(stream, node).await,
        Protocol::Agent => super::tcp::serve_agent(stream, node).await,
        Protocol::Grpc => super::grpc::serve(stream, node).await,
        Protocol::GrpcTls => {
            let Some(acceptor) = tls else { return };
            if let Ok(s) = acceptor.accept(stream).await {
                super::grpc::serve(s, node).await;
            }
        }
        Protocol::Dns => {}
    }
}

/// Holds the connection without answering until the peer closes it, so a hung node leaks
/// nothing once its clients give up.
pub(crate) async fn hang<S: tokio::io::AsyncRead + Unpin>(mut io: S) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 512];
    while let Ok(n) = io.read(&mut sink).await {
        if n == 0 {
            break;
        }
    }
}

/// Arms SO_LINGER 0 so closing the socket sends RST instead of FIN.
pub(crate) fn reset(stream: &TcpStream) {
    let _ = SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// Streams whose TCP socket can be reset.
pub(crate) trait TcpBacked {
    fn tcp(&self) -> &TcpStream;
}

impl TcpBacked for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl TcpBacked for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}
