//! What a simulated fleet is asked to be: its protocol, addressing, size and the behaviour its
//! nodes start with.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use super::tls::TlsPlan;

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
    /// Node `i` answers on `first + i` and one shared port, like [`Addressing::Loopback`], but
    /// through a single listening socket on the wildcard address bound to the loopback device
    /// (`SO_BINDTODEVICE lo`, which needs `CAP_NET_RAW`): connections are handed to their node
    /// by the address they reached. A node then costs no descriptor of its own, only its
    /// connections, so 10,000 nodes and their 10,000 connections fit under a 20,000
    /// open-file limit. TCP protocols only; [`Behavior::Refuse`] resets each connection
    /// instead of closing a listener.
    SharedLoopback {
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
    /// Send the whole response, status line included, one byte per `byte_delay`: a node that
    /// accepts and "answers" but never finishes within any sane timeout (HTTP only; other
    /// protocols treat it as [`Behavior::Hang`]).
    Trickle {
        /// Delay before every byte.
        byte_delay: Duration,
    },
    /// Write bytes that are not the protocol, then close.
    Garbage,
    /// Close the listener so connections are refused; rebinds on the next behavior change.
    Refuse,
    /// Cycle through these behaviors, one per request (a flapping node).
    Cycle(Arc<[Behavior]>),
    /// Flap on the clock: healthy for `period`, then `fault` for `period`, and so on. Each
    /// node's cycle is shifted by a sixteenth of the period per node index (mod 16), so a
    /// fleet told to flap at once does not flap in lock step.
    Flap {
        /// Length of each healthy and each faulty phase.
        period: Duration,
        /// What the node does during its faulty phases.
        fault: Arc<Behavior>,
    },
}

impl Behavior {
    /// A flapping pattern: `up` healthy answers, then `down` answers with status 503.
    pub fn flapping(up: usize, down: usize) -> Self {
        let mut v = vec![Behavior::Healthy; up];
        v.extend(std::iter::repeat_n(Behavior::Status(503), down));
        Behavior::Cycle(v.into())
    }

    /// A node that flaps on the clock: healthy for `period`, then `fault` for `period`.
    pub fn flap(period: Duration, fault: Behavior) -> Self {
        Behavior::Flap { period, fault: Arc::new(fault) }
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
