//! Listening sockets shared by the front ends: bound with `SO_REUSEPORT` so that a new
//! process with the same configuration can bind the same ports while the old one drains,
//! and the old one's accept queue taken in full before it closes.
//!
//! A restart without refused connections then goes: start the new process (it binds beside
//! the old one and the kernel spreads new connections over both), send the old one SIGTERM;
//! when it stops accepting it first accepts every connection already waiting in its queue
//! (closing a listening socket resets those), then closes, and from then on the kernel sends
//! every new connection to the new process.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

/// Length of the accept queue asked for (the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: i32 = 1024;

/// Binds a non-blocking TCP listener on `addr` with `SO_REUSEADDR`, and `SO_REUSEPORT` when
/// `addr` names a port. Port 0 asks for a port of this process alone, so it is never shared:
/// with `SO_REUSEPORT` a listener bound to an explicit port could otherwise join another
/// process's group on that port.
///
/// Linux only lets sockets of the same user share a port this way.
pub fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    bind_tcp_shared(addr, addr.port() != 0)
}

/// Like [`bind_tcp`], with the sharing decided by the caller (the DNS listener binds TCP on
/// the port its first UDP socket was given, and shares it only when the configuration named
/// that port).
pub fn bind_tcp_shared(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// Binds a TCP socket on `addr` without listening yet: the port is taken (a conflict is
/// reported now), but the kernel sends it no connection until [`listen`]. A socket joins
/// its port's `SO_REUSEPORT` group only when it listens, so a new process can bind early and
/// take its share of the connections only once it can answer them.
pub fn bind_tcp_unlistened(addr: SocketAddr) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    Ok(sock)
}

/// Starts listening on a socket from [`bind_tcp_unlistened`].
pub fn listen(sock: Socket) -> io::Result<std::net::TcpListener> {
    sock.listen(BACKLOG)?;
    Ok(sock.into())
}

/// [`bind_tcp`], registered with the current tokio runtime.
pub fn bind_tokio(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::from_std(bind_tcp(addr)?)
}

/// Accepts every connection waiting in `listener`'s accept queue right now, without waiting
/// for readiness (tokio's cached readiness may not yet show connections that just arrived).
/// Called when a listener stops accepting, just before it is closed: closing a listening
/// socket resets the connections in its queue, which a client sees as a failed request.
/// Connections completing after this call and before the close are not covered; the kernel
/// migrates those too when `net.ipv4.tcp_migrate_req` is 1.
pub fn accept_backlog(listener: &TcpListener) -> Vec<(TcpStream, SocketAddr)> {
    let mut taken = Vec::new();
    let sock = SockRef::from(listener);
    loop {
        match sock.accept() {
            Ok((conn, peer)) => {
                let Some(peer) = peer.as_socket() else { continue };
                if conn.set_nonblocking(true).is_err() {
                    continue;
                }
                match TcpStream::from_std(conn.into()) {
                    Ok(stream) => taken.push((stream, peer)),
                    Err(e) => tracing::warn!("cannot register an accepted connection: {e}"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                tracing::warn!("accepting the backlog before closing: {e}");
                break;
            }
        }
    }
    taken
}

/// How long ago the kernel stamped a received packet (`SO_TIMESTAMPNS`: the realtime
/// clock); zero if the stamp is in the future, after the clock was set back.
pub fn since_kernel_stamp(ts: libc::timespec) -> std::time::Duration {
    let at = std::time::UNIX_EPOCH + std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    std::time::SystemTime::now().duration_since(at).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_named_port_is_shared_and_port_zero_is_not() {
        let first = bind_tokio("127.0.0.1:0".parse().unwrap()).unwrap();
        let port0 = first.local_addr().unwrap();
        // Port 0 was bound without SO_REUSEPORT: nobody joins it.
        assert!(bind_tcp(port0).is_err());
        let named = bind_tcp_shared("127.0.0.1:0".parse().unwrap(), true).unwrap();
        let addr = named.local_addr().unwrap();
        let second = bind_tcp(addr).expect("a second listener binds the same named port");
        drop((named, second));
    }

    #[tokio::test]
    async fn the_backlog_is_taken_whole() {
        let listener = bind_tokio("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        // The handshakes are complete on the client side; the server side may still be
        // moving them to the accept queue, so take until all five are in.
        let mut taken = 0;
        while taken < 5 {
            taken += accept_backlog(&listener).len();
            tokio::task::yield_now().await;
        }
        assert_eq!(taken, 5);
        assert!(accept_backlog(&listener).is_empty());
    }
}
