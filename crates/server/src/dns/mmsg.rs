//! Batched datagram I/O for the UDP threads: `recvmmsg(2)` with `MSG_WAITFORONE` reads
//! every query already queued (up to [`BATCH`]) in one system call, and `sendmmsg(2)` sends
//! all their answers in one more. Linux only; other systems use one call per datagram.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::RawFd;

/// Datagrams per system call.
pub const BATCH: usize = 32;

/// Reused buffers for one thread: BATCH receive slots, BATCH reply slots and the peers.
pub struct Buffers {
    rx: Vec<u8>,
    rx_slot: usize,
    tx: Vec<u8>,
    tx_slot: usize,
    peers: Vec<libc::sockaddr_storage>,
    peer_lens: Vec<libc::socklen_t>,
    lens: Vec<usize>,
}

impl Buffers {
    /// Slots of `rx_slot` bytes for queries and `tx_slot` bytes for replies.
    pub fn new(rx_slot: usize, tx_slot: usize) -> Self {
        Self {
            rx: vec![0; BATCH * rx_slot],
            rx_slot,
            tx: vec![0; BATCH * tx_slot],
            tx_slot,
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid (AF_UNSPEC) value.
            peers: vec![unsafe { zeroed() }; BATCH],
            peer_lens: vec![0; BATCH],
            lens: vec![0; BATCH],
        }
    }

    /// Query `i` of the last batch, its sender, and reply slot `i`.
    pub fn slot(&mut self, i: usize) -> (&[u8], Option<SocketAddr>, &mut [u8]) {
        let q = &self.rx[i * self.rx_slot..i * self.rx_slot + self.lens[i]];
        let peer = to_socket_addr(&self.peers[i], self.peer_lens[i]);
        (q, peer, &mut self.tx[i * self.tx_slot..(i + 1) * self.tx_slot])
    }

    /// Blocks until at least one datagram is queued (or the socket's read timeout passes),
    /// then takes up to [`BATCH`]; returns how many.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: iovec and mmsghdr are plain C structs; zero is valid before filling.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let base = self.rx.as_mut_ptr();
        for i in 0..BATCH {
            // SAFETY: slot i lies inside `rx` (BATCH * rx_slot bytes).
            iov[i].iov_base = unsafe { base.add(i * self.rx_slot) }.cast();
            iov[i].iov_len = self.rx_slot;
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&raw mut self.peers[i]).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &raw mut iov[i];
            h.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers of the stated sizes, owned by `self`
        // and `iov`, which outlive the call; the kernel writes at most those sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, h) in hdrs.iter().enumerate().take(n) {
            self.lens[i] = (h.msg_len as usize).min(self.rx_slot);
            self.peer_lens[i] = h.msg_hdr.msg_namelen;
        }
        Ok(n)
    }

    /// Sends reply `i` (of `len` bytes) to the sender of query `i`, for each `(i, len)` in
    /// `replies`; returns for each whether the kernel took it. A datagram the kernel refuses
    /// is skipped and the rest are still sent.
    pub fn send(&mut self, fd: RawFd, replies: &[(usize, usize)], sent: &mut [bool]) {
        // SAFETY: as in `recv`.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let base = self.tx.as_mut_ptr();
        let count = replies.len().min(BATCH);
        for (k, &(i, len)) in replies.iter().take(count).enumerate() {
            // SAFETY: slot i lies inside `tx`, and len <= tx_slot.
            iov[k].iov_base = unsafe { base.add(i * self.tx_slot) }.cast();
            iov[k].iov_len = len.min(self.tx_slot);
            let h = &mut hdrs[k].msg_hdr;
            h.msg_name = (&raw mut self.peers[i]).cast();
            h.msg_namelen = self.peer_lens[i];
            h.msg_iov = &raw mut iov[k];
            h.msg_iovlen = 1;
        }
        let mut k = 0;
        while k < count {
            // SAFETY: headers k..count point at live buffers as set up above.
            let n = unsafe {
                libc::sendmmsg(fd, hdrs.as_mut_ptr().add(k), (count - k) as libc::c_uint, 0)
            };
            if n <= 0 {
                // The first remaining datagram failed (e.g. an unreachable peer): skip it.
                sent[k] = false;
                k += 1;
                continue;
            }
            for s in &mut sent[k..k + n as usize] {
                *s = true;
            }
            k += n as usize;
        }
    }
}

/// The peer address the kernel wrote, for localization and rate limiting.
fn to_socket_addr(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in; storage is larger
            // and suitably aligned for every sockaddr type.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(sin6.sin6_port)))
        }
        _ => None,
    }
}
