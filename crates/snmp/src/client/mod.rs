//! The async client: one [`Client`] (a few sockets and their receive tasks) shared by any
//! number of [`Target`]s, each an agent address with its security settings.

mod error;
mod ops;
mod reply;
mod shared;
mod stats;
mod target;
mod transport;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use error::{Error, Mismatch, NonIncreasing};
pub use reply::{Table, WalkEnd};
use shared::Inner;
pub use stats::ClientStats;
use stats::Counters;
pub use target::{DEFAULT_TIMEOUT, RequestOptions, Security, Target};
use transport::{Coalesce, Endpoint, Pending};

/// Socket and concurrency settings shared by every target of a client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Socket receive buffer in bytes (default 8 MiB; the kernel caps it at rmem_max).
    pub recv_buffer_bytes: usize,
    /// Requests in flight across all targets (default 16,384).
    pub max_in_flight: usize,
    /// Accept a reply only from the address the request was sent to (default true).
    pub strict_source: bool,
    /// Local IPv4 bind address (default 0.0.0.0:0).
    pub bind_v4: SocketAddr,
    /// IPv4 sockets, each with its own receive task (default 1). More than one spreads
    /// receive work over cores on a multi-threaded runtime; a target always uses the same
    /// socket, so agents see a stable source port.
    pub sockets: usize,
    /// Local IPv6 bind address (default `[::]:0`); IPv6 is optional and skipped when the host
    /// has none.
    pub bind_v6: SocketAddr,
    /// Longest a reply may wait in the socket before it is read, while at least
    /// [`ClientConfig::coalesce_min_in_flight`] requests are outstanding on the socket (default
    /// 1 ms, at most 100 ms; zero reads every datagram as it arrives). Like interrupt
    /// coalescing on a network card, this lets one wake-up and one `recvmmsg` serve many
    /// replies, which on loopback more than halves the CPU time per request; the actual
    /// delay adapts so that about three quarters of the outstanding requests are answered
    /// per wake-up, and a request's measured round trip can grow by up to this much. Linux
    /// only; elsewhere replies are always read on arrival.
    pub coalesce_delay_max: Duration,
    /// Outstanding requests on a socket from which receive coalescing starts (default 8).
    pub coalesce_min_in_flight: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            recv_buffer_bytes: 8 << 20,
            max_in_flight: 16_384,
            strict_source: true,
            bind_v4: (Ipv4Addr::UNSPECIFIED, 0).into(),
            sockets: 1,
            bind_v6: (Ipv6Addr::UNSPECIFIED, 0).into(),
            coalesce_delay_max: Duration::from_micros(1000),
            coalesce_min_in_flight: 8,
        }
    }
}

/// A multiplexed SNMP client. Cloning is cheap; all clones share the sockets.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("sockets_v4", &self.inner.v4.len()).finish_non_exhaustive()
    }
}

impl Client {
    /// A client with default settings. Must be called inside a tokio runtime.
    pub fn new() -> Result<Self, Error> {
        Self::with_config(ClientConfig::default())
    }

    pub fn with_config(cfg: ClientConfig) -> Result<Self, Error> {
        if cfg.max_in_flight == 0 {
            return Err(Error::InvalidRequest("max_in_flight must be positive"));
        }
        let pending = Arc::new(Pending::new(cfg.strict_source));
        if cfg.sockets == 0 || (cfg.sockets > 1 && cfg.bind_v4.port() != 0) {
            return Err(Error::InvalidRequest("sockets must be positive, and several need port 0"));
        }
        let coalesce = Coalesce {
            max_delay: cfg.coalesce_delay_max.min(Duration::from_millis(100)),
            min_in_flight: cfg.coalesce_min_in_flight,
        };
        let bind = |addr| Endpoint::bind(addr, cfg.recv_buffer_bytes, pending.clone(), coalesce);
        let v4 = (0..cfg.sockets).map(|_| bind(cfg.bind_v4)).collect::<Result<Vec<_>, _>>()?;
        let v6 = bind(cfg.bind_v6).ok();
        let global = Semaphore::new(cfg.max_in_flight);
        let stats = Counters::default();
        Ok(Self { inner: Arc::new(Inner { pending, v4, v6, global, stats }) })
    }

    /// Replies received and dropped so far, by reason (shared by every target).
    pub fn stats(&self) -> ClientStats {
        self.inner.stats.snapshot()
    }

    /// The local IPv4 address requests are sent from (the first socket's).
    pub fn local_addr_v4(&self) -> Option<SocketAddr> {
        self.inner.v4.first()?.socket.local_addr().ok()
    }

    /// A handle for one agent. Targets are cheap; create one per agent and keep it, since a
    /// v3 target caches the agent's engine ID, clock and localized keys.
    pub fn target(&self, addr: SocketAddr, security: Security) -> Target {
        Target::new(self.inner.clone(), addr, security, RequestOptions::default())
    }

    /// Like [`Client::target`] with explicit timing and concurrency options.
    pub fn target_with(
        &self,
        addr: SocketAddr,
        security: Security,
        opts: RequestOptions,
    ) -> Target {
        Target::new(self.inner.clone(), addr, security, opts)
    }

    #[cfg(test)]
    pub(crate) fn socket_for(&self, addr: &SocketAddr) -> Result<&transport::Socket, Error> {
        self.inner.endpoint_for(addr).map(|e| &*e.socket)
    }
}
