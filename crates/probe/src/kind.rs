//! The probe kinds, each with its settings beside its code, and the socket helpers they
//! share. Nothing here knows the spec around a check: [`crate::compiled`] puts them together.

pub mod agent;
pub(crate) mod dns;
pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod snmp;
pub(crate) mod tcp;
#[cfg(test)]
mod tests;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::time::Instant;

use tokio::net::TcpStream;

use crate::outcome::{FailureCause, ProbeOutcome, Tier};

/// Arms SO_LINGER 0 so dropping the socket sends RST instead of starting the FIN handshake.
pub(crate) fn close_with_reset(s: &TcpStream) {
    let _ = socket2::SockRef::from(s).set_linger(Some(std::time::Duration::ZERO));
}

/// TCP connect under the connect timeout, recording phase and tier; `TCP_NODELAY` on.
pub(crate) async fn connect(
    addr: SocketAddr,
    timeout: std::time::Duration,
    out: &mut ProbeOutcome,
    start: Instant,
) -> Option<TcpStream> {
    let setup = SocketSetup { nodelay: true, reset_on_close: false, writes_first: false };
    connect_with(addr, timeout, out, start, setup).await
}

/// Socket options applied before connecting, so they cost no syscall after the handshake.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SocketSetup {
    /// `TCP_NODELAY`: needed when a connection writes more than once (TLS, pooled requests);
    /// a single request write on a fresh connection is never held back by Nagle.
    pub nodelay: bool,
    /// SO_LINGER 0 from the start: the socket closes with RST whenever it is dropped.
    pub reset_on_close: bool,
    /// A connection used for one exchange where the client writes first (plain HTTP; TLS
    /// takes several round trips, each of which would meet the delayed ACK described below).
    /// `TCP_QUICKACK` off before connecting makes the kernel hold the handshake's final ACK
    /// and send it with that first write, so a probe costs one packet less on both hosts.
    /// The first reply is still acknowledged at once (the kernel is in quick-ACK mode right
    /// after the handshake), so a reply written in pieces is not held by the server's Nagle.
    /// Not for pooled connections: later exchanges would meet delayed ACKs, and a server
    /// writing header and body apart would stall each reply by the delayed-ACK timeout
    /// (measured 40 ms). Not for protocols where the server speaks first: the server would
    /// not see the connection until the delayed ACK.
    pub writes_first: bool,
}

/// [`connect`] with explicit socket options.
pub(crate) async fn connect_with(
    addr: SocketAddr,
    timeout: std::time::Duration,
    out: &mut ProbeOutcome,
    start: Instant,
    setup: SocketSetup,
) -> Option<TcpStream> {
    let attempt = async {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }?;
        if setup.nodelay {
            socket.set_nodelay(true)?;
        }
        if setup.reset_on_close {
            socket2::SockRef::from(&socket).set_linger(Some(std::time::Duration::ZERO))?;
        }
        if setup.writes_first {
            socket2::SockRef::from(&socket).set_tcp_quickack(false)?;
        }
        socket.connect(addr).await
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(s)) => {
            out.phases.connect = Some(start.elapsed());
            out.tier = out.tier.max(Tier::L1Tcp);
            Some(s)
        }
        Ok(Err(e)) => {
            out.fail(FailureCause::from_io(&e));
            None
        }
        Err(_) => {
            out.fail(FailureCause::ConnectTimeout);
            None
        }
    }
}

/// Records a problem at `field` when `re` is not a valid regex.
pub(crate) fn regex_problem(p: &mut switchyard_config::Problems, field: &str, re: &str) {
    if let Err(e) = regex::Regex::new(re) {
        p.push(field, format!("invalid regex: {e}"));
    }
}
