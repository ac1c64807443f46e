//! Authoritative DNS front end: UDP and TCP listeners answering service names from the routing table.
//!
//! Every A/AAAA answer is computed per query from the current [`RoutingTable`] snapshot
//! (loaded once per query through `ArcSwap`), localized by the EDNS Client Subnet address
//! when present (RFC 7871), else by the resolver's address. SOA and NS are answered at the
//! apexes, the zone's own name servers with their glue, NODATA and NXDOMAIN carry the SOA
//! for negative caching (RFC 2308), zone transfers are refused and names outside the zones
//! are REFUSED. Layers, each importing only those before it: [`codes`] and [`writer`]
//! (vocabulary), [`ecs`] and [`wire`] (codec), [`authority`], [`records`] and [`answer`]
//! (the pure answer function), [`udp`] and [`tcp`] (transports), [`ratelimit`] and
//! [`metrics`].

pub mod answer;
pub mod authority;
pub mod codes;
pub mod config;
pub mod ecs;
pub mod metrics;
pub mod ratelimit;
pub mod records;
pub mod sojourn;
pub mod tcp;
#[cfg(test)]
mod tests;
pub mod udp;
pub mod wire;
pub mod writer;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arc_swap::ArcSwap;
use switchyard_health::MemoryWatermark;
use switchyard_route::RoutingTable;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::sampling::DecisionSampler;

pub use answer::{answer, answer_traced, sample, slip};
pub use authority::Authority;
pub use codes::{Outcome, QType, Rcode, Transport};
pub use config::{DnsConfig, NameServer};
pub use metrics::DnsMetrics;

/// What every serving task shares.
pub struct Shared {
    /// Zone data from the configuration.
    pub auth: Authority,
    /// The live routing table.
    pub table: Arc<ArcSwap<RoutingTable>>,
    /// Metric handles.
    pub metrics: DnsMetrics,
    /// Per-source limiter for UDP; `None` when off.
    pub limiter: Option<ratelimit::RateLimiter>,
    /// Wait in a UDP socket's buffer above which queries are dropped while a standing queue
    /// lasts (`dns.shed_queue_delay_ms`); `None` when off.
    pub shed_delay: Option<std::time::Duration>,
    /// Decision inputs, recorded while `switchyard replay record` samples them.
    pub samples: Arc<DecisionSampler>,
    /// Resident memory against `health.memory_limit_bytes`: queries are shed while it is
    /// over its high mark; `None` when no limit is set.
    pub memory: Option<MemoryWatermark>,
}

impl Shared {
    /// Whether queries are being shed for memory (one atomic load when a limit is set).
    #[inline]
    pub fn over_memory(&self) -> bool {
        self.memory.as_ref().is_some_and(MemoryWatermark::is_over)
    }
}

/// Attempts at finding a port free for both UDP and TCP when `addr` has port 0.
const PORT_ATTEMPTS: usize = 32;

/// Binds UDP (`udp_sockets` `SO_REUSEPORT` sockets) and TCP on `addr`, spawns the serving
/// tasks into `set`, and returns the bound address (the same port for both transports).
/// Each UDP socket is served by a blocking task (a thread of the runtime's blocking pool);
/// TCP by async tasks. Everything ends when `stop` is cancelled: UDP threads within
/// [`udp::STOP_POLL`], TCP stops accepting and answers the queries already sent.
///
/// A named port is shared with a process that takes it over (`SO_REUSEPORT` on every
/// socket): its TCP socket is bound at once (a conflict is a start-up error), but the UDP
/// sockets are bound and TCP listens only when `ready` fires (the first routing table is
/// installed), since a socket in a `SO_REUSEPORT` group gets its share of the traffic from
/// the moment it joins. With port 0 everything is bound and served at once.
pub async fn spawn(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    config: &DnsConfig,
    table: Arc<ArcSwap<RoutingTable>>,
    registry: &crate::metrics::Metrics,
    stop: CancellationToken,
    ready: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let samples = DecisionSampler::new();
    spawn_sampled(set, addr, config, table, samples, None, registry, stop, ready).await
}

/// [`spawn`], recording the inputs of its decisions into `samples` while it records, and
/// shedding queries while `memory` is over its watermark.
#[allow(clippy::too_many_arguments)]
pub async fn spawn_sampled(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    config: &DnsConfig,
    table: Arc<ArcSwap<RoutingTable>>,
    samples: Arc<DecisionSampler>,
    memory: Option<MemoryWatermark>,
    registry: &crate::metrics::Metrics,
    stop: CancellationToken,
    ready: CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let sockets = config.effective_udp_sockets();
    let shared = Arc::new(Shared {
        auth: Authority::new(config),
        table,
        metrics: DnsMetrics::register(registry),
        limiter: ratelimit::RateLimiter::new(
            ratelimit::Policy {
                qps: config.rate_limit_per_source_qps,
                burst: config.rate_limit_burst,
                slip: config.rate_limit_slip,
                ipv4_prefix_len: config.rate_limit_ipv4_prefix_len,
                ipv6_prefix_len: config.rate_limit_ipv6_prefix_len,
            },
            Instant::now(),
        ),
        shed_delay: (config.shed_queue_delay_ms > 0)
            .then(|| std::time::Duration::from_millis(config.shed_queue_delay_ms)),
        samples,
        memory,
    });
    if addr.port() != 0 {
        let tcp = crate::net::bind_tcp_unlistened(addr)
            .with_context(|| format!("binding DNS listener on {addr}"))?;
        // A UDP port held by a socket that does not share it is a start-up error too. The
        // socket is closed at once; for that instant it is in the group of a process
        // already serving the port, whose datagrams hashed to it are lost.
        drop(udp::bind(addr).with_context(|| format!("binding DNS listener on {addr} (UDP)"))?);
        set.spawn(async move {
            tokio::select! {
                _ = ready.cancelled() => {}
                _ = stop.cancelled() => return,
            }
            let bound = (0..sockets.max(1))
                .map(|_| udp::bind(addr))
                .collect::<io::Result<Vec<_>>>()
                .and_then(|udp| Ok((udp, crate::net::listen(tcp)?)))
                .and_then(|(udp, tcp)| Ok((udp, tokio::net::TcpListener::from_std(tcp)?)));
            let (udp, tcp) = match bound {
                Ok(b) => b,
                Err(e) => return tracing::error!(%addr, "dns listener failed: {e}"),
            };
            tracing::info!(%addr, udp_sockets = sockets, "dns listener accepting");
            let mut tasks = JoinSet::new();
            serve_all(&mut tasks, udp, tcp, shared, stop);
            while tasks.join_next().await.is_some() {}
        });
        return Ok(addr);
    }
    let (udp, tcp, bound) =
        bind_all(addr, sockets).with_context(|| format!("binding DNS listener on {addr}"))?;
    let tcp = tokio::net::TcpListener::from_std(tcp).context("registering the DNS TCP listener")?;
    serve_all(set, udp, tcp, shared, stop);
    tracing::info!(addr = %bound, udp_sockets = sockets, "dns listener started");
    Ok(bound)
}

/// Spawns the UDP threads and the TCP acceptor into `set`.
fn serve_all(
    set: &mut JoinSet<()>,
    udp: Vec<std::net::UdpSocket>,
    tcp: tokio::net::TcpListener,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    for (i, sock) in udp.into_iter().enumerate() {
        let (shared, stop) = (shared.clone(), stop.clone());
        set.spawn_blocking(move || udp::serve(sock, shared, i as u64, stop));
    }
    set.spawn(tcp::serve(tcp, shared, stop));
}

type Bound = (Vec<std::net::UdpSocket>, std::net::TcpListener, SocketAddr);

/// Binds every socket on one port chosen by the kernel: the first UDP socket picks it, and
/// the attempt is repeated when TCP finds that port taken.
fn bind_all(addr: SocketAddr, sockets: usize) -> io::Result<Bound> {
    let mut last_err = None;
    for _ in 0..PORT_ATTEMPTS {
        let first = udp::bind(addr)?;
        let bound = first.local_addr()?;
        // A port the kernel chose is this process's alone: not shared.
        match crate::net::bind_tcp_shared(bound, false) {
            Ok(tcp) => {
                let mut udp = Vec::with_capacity(sockets.max(1));
                udp.push(first);
                for _ in 1..sockets.max(1) {
                    udp.push(udp::bind(bound)?);
                }
                return Ok((udp, tcp, bound));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}
