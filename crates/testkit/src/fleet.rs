//! Programmable simulated edge nodes (HTTP, HTTPS, TCP, agent-check, DNS, gRPC health) bound to
//! loopback, thousands per process, each reprogrammable at run time through a [`NodeHandle`].
//!
//! Every node owns one listener on its own address (`127.x.y.z`, Linux routes all of 127/8 to
//! `lo`) or its own port, served by a single accept task; connections are handled by one task
//! each. Faults are applied per request, so a keep-alive connection opened while a node was
//! healthy sees the fault on its next request, as it would against a real edge.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use switchyard_testkit::fleet::{Behavior, FleetPlan, Protocol, SimFleet};
//! let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 100)).await?;
//! fleet.node(3).set_behavior(Behavior::Status(503));
//! let addrs = fleet.addrs();
//! # let _ = addrs; Ok(()) }
//! ```

mod dns;
mod grpc;
mod http;
mod node;
mod tcp;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use node::NodeHandle;
pub use tls::TlsPlan;

/// The protocol every node of a fleet speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive.
    Http,
    /// HTTP/1.1 over TLS with a self-signed certificate (see [`TlsPlan`]).
    Https,
    /// Plain TCP: a banner line on connect, then every received line is answered with `+OK`.
    Tcp,
    /// HAProxy agent-check: on connect the node writes its agent reply line and closes.
    Agent,
    /// DNS over UDP: answers A queries with the node's own address.
    Dns,
    /// gRPC over cleartext HTTP/2 serving `grpc.health.v1.Health/Check`.
    Grpc,
    /// The same gRPC health service over TLS (see [`TlsPlan`]; offer ALPN `h2`).
    GrpcTls,
}

/// How node addresses are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Addressing {
    /// Node `i` listens on `first + i` (as a 32-bit address) and one shared port; `port: 0`
    /// picks a free port once and uses it for every node.
    Loopback {
        /// Address of node 0, inside 127.0.0.0/8.
        first: Ipv4Addr,
        /// Shared port, 0 for "pick one".
        port: u16,
    },
    /// Every node on `ip` with its own ephemeral port.
    Ports {
        /// The shared address.
        ip: IpAddr,
    },
}

/// What a node does with the next request (or connection, for connection-level protocols).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Behavior {
    /// Answer normally: `200 ok`, agent reply, SERVING, an A record.
    Healthy,
    /// Answer with this status: an HTTP status code, a DNS RCODE, gRPC NOT_SERVING.
    Status(u16),
    /// Answer `200 ok degraded` with `x-switchyard-degraded: 1`.
    Degraded,
    /// Answer 200 with this body.
    Body(String),
    /// Accept and never answer.
    Hang,
    /// Close the connection with a TCP RST (SO_LINGER 0).
    Reset,
    /// Send the response head, then the body one byte per `chunk_delay`.
    SlowDrip {
        /// Delay between body bytes.
        chunk_delay: Duration,
    },
    /// Write bytes that are not the protocol, then close.
    Garbage,
    /// Close the listener so connections are refused; rebinds on the next behavior change.
    Refuse,
    /// Cycle through these behaviors, one per request (a flapping node).
    Cycle(Arc<[Behavior]>),
}

impl Behavior {
    /// A flapping pattern: `up` healthy answers, then `down` answers with status 503.
    pub fn flapping(up: usize, down: usize) -> Self {
        let mut v = vec![Behavior::Healthy; up];
        v.extend(std::iter::repeat_n(Behavior::Status(503), down));
        Behavior::Cycle(v.into())
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    /// Protocol of every node.
    pub protocol: Protocol,
    /// Number of nodes.
    pub nodes: usize,
    /// Address assignment.
    pub addressing: Addressing,
    /// Certificate settings for [`Protocol::Https`] and [`Protocol::GrpcTls`] (ignored
    /// otherwise).
    pub tls: TlsPlan,
    /// Behavior of every node at start.
    pub initial: Behavior,
    /// Agent-check reply of every node at start.
    pub agent_reply: String,
}

impl FleetPlan {
    /// `nodes` nodes speaking `protocol` on `127.1.0.1 ..` with one shared free port, healthy.
    pub fn new(protocol: Protocol, nodes: usize) -> Self {
        FleetPlan {
            protocol,
            nodes,
            addressing: Addressing::Loopback { first: Ipv4Addr::new(127, 1, 0, 1), port: 0 },
            tls: TlsPlan::default(),
            initial: Behavior::Healthy,
            agent_reply: "up ready".to_owned(),
        }
    }

    /// Same plan with another addressing.
    pub fn with_addressing(mut self, addressing: Addressing) -> Self {
        self.addressing = addressing;
        self
    }

    /// Same plan with another certificate plan.
    pub fn with_tls(mut self, tls: TlsPlan) -> Self {
        self.tls = tls;
        self
    }
}

/// A running simulated fleet. Dropping it stops every node.
pub struct SimFleet {
    nodes: Vec<NodeHandle>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    ca_pem: Option<String>,
}

impl SimFleet {
    /// Binds every node and starts serving.
    pub async fn start(plan: FleetPlan) -> std::io::Result<SimFleet> {
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let tls = match plan.protocol {
            Protocol::Https | Protocol::GrpcTls => Some(tls::ServerTls::generate(&plan.tls)?),
            _ => None,
        };
        let ca_pem = tls.as_ref().map(|t| t.cert_pem.clone());
        let bound = node::bind_all(&plan).await?;
        let mut nodes = Vec::with_capacity(bound.len());
        for (index, listener) in bound.into_iter().enumerate() {
            let handle = NodeHandle::new(index, listener.local_addr(), &plan);
            node::spawn(
                listener,
                handle.clone(),
                plan.protocol,
                tls.as_ref().map(|t| t.acceptor.clone()),
                &tracker,
                cancel.child_token(),
            );
            nodes.push(handle);
        }
        Ok(SimFleet { nodes, cancel, tracker, ca_pem })
    }

    /// The handle of node `i` (panics when out of range, like slice indexing).
    pub fn node(&self, i: usize) -> &NodeHandle {
        &self.nodes[i]
    }

    /// All node handles in order.
    pub fn nodes(&self) -> &[NodeHandle] {
        &self.nodes
    }

    /// Every node's address, in node order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(NodeHandle::addr).collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True for a fleet of zero nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// PEM of the self-signed certificate served by HTTPS nodes (it is its own trust anchor).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Sets the same behavior on every node.
    pub fn set_all(&self, behavior: Behavior) {
        for n in &self.nodes {
            n.set_behavior(behavior.clone());
        }
    }

    /// Stops every node and waits for all listener and connection tasks to end.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl std::fmt::Debug for SimFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimFleet").field("nodes", &self.nodes.len()).finish()
    }
}
