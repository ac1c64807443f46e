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
mod plan;
mod tcp;
mod tls;

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use node::NodeHandle;
pub use plan::{Addressing, Behavior, FleetPlan, Protocol};
pub use tls::TlsPlan;

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
        if let Addressing::SharedLoopback { first, port } = plan.addressing {
            let (listener, addrs) = node::bind_shared(&plan, first, port)?;
            let nodes: Vec<NodeHandle> =
                addrs.iter().enumerate().map(|(i, a)| NodeHandle::new(i, *a, &plan)).collect();
            node::spawn_shared(
                listener,
                first,
                nodes.clone().into(),
                plan.protocol,
                tls.as_ref().map(|t| t.acceptor.clone()),
                &tracker,
                cancel.child_token(),
            );
            return Ok(SimFleet { nodes, cancel, tracker, ca_pem });
        }
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
