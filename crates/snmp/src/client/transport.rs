//! The shared UDP transport: sockets, the table of outstanding requests, and the background
//! receive tasks that route replies by request-id (v1/v2c) or msgID (v3).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::codec::{Route, Version, peek_route};

/// What a waiter expects, checked by the receive task before handing the datagram over.
#[derive(Clone, Debug)]
pub(crate) enum Expect {
    Community { version: Version, community: Arc<[u8]> },
    V3,
}

pub(crate) struct Slot {
    tx: mpsc::Sender<Bytes>,
    peer: SocketAddr,
    expect: Expect,
}

const SHARDS: usize = 64;

/// Outstanding request IDs, sharded to keep lock hold times short under many senders.
pub(crate) struct Pending {
    shards: Vec<Mutex<HashMap<i32, Slot>>>,
    next: AtomicU32,
    strict_source: bool,
}

impl Pending {
    pub(crate) fn new(strict_source: bool) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next: AtomicU32::new(rand::random::<u32>() >> 1),
            strict_source,
        }
    }

    fn shard(&self, id: i32) -> &Mutex<HashMap<i32, Slot>> {
        &self.shards[id as usize % SHARDS]
    }

    /// Registers a fresh positive ID (request-id and msgID share one space).
    pub(crate) fn register(
        &self,
        tx: &mpsc::Sender<Bytes>,
        peer: SocketAddr,
        expect: &Expect,
    ) -> i32 {
        loop {
            let id = (self.next.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff) as i32;
            if id == 0 {
                continue;
            }
            let mut s = self.shard(id).lock().unwrap_or_else(|e| e.into_inner());
            if let std::collections::hash_map::Entry::Vacant(v) = s.entry(id) {
                v.insert(Slot { tx: tx.clone(), peer, expect: expect.clone() });
                return id;
            }
        }
    }

    pub(crate) fn unregister(&self, id: i32) {
        self.shard(id).lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// Hands a datagram to its waiter; returns false when it matched nothing.
    pub(crate) fn dispatch(&self, data: &[u8], from: SocketAddr) -> bool {
        let Ok(route) = peek_route(data) else { return false };
        let id = match route {
            Route::Community { request_id, .. } => request_id,
            Route::V3 { msg_id } => msg_id,
        };
        let s = self.shard(id).lock().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = s.get(&id) else { return false };
        if self.strict_source && slot.peer != from {
            return false;
        }
        let ok = match (&slot.expect, route) {
            (
                Expect::Community { version, community },
                Route::Community { version: v, community: c, .. },
            ) => *version == v && community.as_ref() == c,
            (Expect::V3, Route::V3 { .. }) => true,
            _ => false,
        };
        if ok {
            // A full channel means duplicates the waiter has not read yet; dropping is fine.
            let _ = slot.tx.try_send(Bytes::copy_from_slice(data));
        }
        ok
    }
}

/// One UDP socket and its receive task.
pub(crate) struct Endpoint {
    pub(crate) socket: Arc<UdpSocket>,
    task: JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Endpoint {
    pub(crate) fn bind(
        local: SocketAddr,
        recv_buffer: usize,
        pending: Arc<Pending>,
    ) -> std::io::Result<Self> {
        let domain = if local.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if local.is_ipv6() {
            s.set_only_v6(true)?;
        }
        // Best effort: the kernel caps this at net.core.rmem_max.
        let _ = s.set_recv_buffer_size(recv_buffer);
        let _ = s.set_send_buffer_size(recv_buffer / 2);
        s.set_nonblocking(true)?;
        s.bind(&local.into())?;
        let socket = Arc::new(UdpSocket::from_std(s.into())?);
        let task = tokio::spawn(receive_loop(socket.clone(), pending));
        Ok(Self { socket, task })
    }
}

#[cfg(not(target_os = "linux"))]
async fn receive_loop(socket: Arc<UdpSocket>, pending: Arc<Pending>) {
    let mut buf = vec![0u8; 65536];
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        // Drain everything queued before waiting again: one wake-up, many datagrams.
        loop {
            match socket.try_recv_from(&mut buf) {
                Ok((n, from)) => {
                    if !pending.dispatch(&buf[..n], from) {
                        tracing::trace!(%from, len = n, "unmatched SNMP datagram dropped");
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable surfaces here; it belongs to no waiter.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "SNMP receive error");
                    break;
                }
            }
        }
    }
}

/// Linux: `recvmmsg` reads up to [`mmsg::BATCH`] datagrams per system call. A batch that
/// comes back short means the queue was empty, so readiness is cleared without the extra
/// `EAGAIN` read a plain `recvfrom` loop needs.
#[cfg(target_os = "linux")]
async fn receive_loop(socket: Arc<UdpSocket>, pending: Arc<Pending>) {
    let mut batch = mmsg::Batch::new();
    loop {
        if socket.readable().await.is_err() {
            return;
        }
        loop {
            let res = socket.try_io(tokio::io::Interest::READABLE, || {
                let n = batch.recv(&socket)?;
                for i in 0..n {
                    if let Some((data, from)) = batch.get(i)
                        && !pending.dispatch(data, from)
                    {
                        tracing::trace!(%from, len = data.len(), "unmatched SNMP datagram dropped");
                    }
                }
                if n < mmsg::BATCH {
                    // Drained: let tokio clear readiness (a later arrival raises a new event).
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                Ok(())
            });
            match res {
                Ok(()) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable surfaces here; it belongs to no waiter.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "SNMP receive error");
                    break;
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod mmsg {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
    use std::os::fd::AsRawFd;

    pub const BATCH: usize = 16;
    const SLOT: usize = 65536;

    /// Receive buffers and headers for one `recvmmsg` call, allocated once per socket.
    pub struct Batch {
        bufs: Vec<u8>,
        names: Vec<libc::sockaddr_storage>,
        iovs: Vec<libc::iovec>,
        hdrs: Vec<libc::mmsghdr>,
    }

    // The raw pointers only ever point into the batch's own vectors.
    unsafe impl Send for Batch {}

    impl Batch {
        pub fn new() -> Self {
            Self {
                bufs: vec![0u8; BATCH * SLOT],
                // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which
                // all-zero bytes are valid.
                names: vec![unsafe { std::mem::zeroed() }; BATCH],
                iovs: vec![unsafe { std::mem::zeroed() }; BATCH],
                hdrs: vec![unsafe { std::mem::zeroed() }; BATCH],
            }
        }

        /// One non-blocking `recvmmsg`; returns how many datagrams arrived.
        pub fn recv(&mut self, socket: &impl AsRawFd) -> std::io::Result<usize> {
            for i in 0..BATCH {
                self.iovs[i] = libc::iovec {
                    iov_base: self.bufs[i * SLOT..].as_mut_ptr().cast(),
                    iov_len: SLOT,
                };
                let h = &mut self.hdrs[i].msg_hdr;
                h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                h.msg_iov = &mut self.iovs[i];
                h.msg_iovlen = 1;
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
                h.msg_flags = 0;
                self.hdrs[i].msg_len = 0;
            }
            // SAFETY: every header points at live buffers of the stated sizes owned by self.
            let n = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    self.hdrs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 { Err(std::io::Error::last_os_error()) } else { Ok(n as usize) }
        }

        /// The i-th datagram of the last call and its sender.
        pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
            let len = (self.hdrs[i].msg_len as usize).min(SLOT);
            let from = to_socket_addr(&self.names[i])?;
            Some((&self.bufs[i * SLOT..i * SLOT + len], from))
        }
    }

    fn to_socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
        match s.ss_family as libc::c_int {
            libc::AF_INET => {
                // SAFETY: the family says this storage holds a sockaddr_in.
                let a =
                    unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says this storage holds a sockaddr_in6.
                let a =
                    unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}
