//! How long UDP queries waited in the socket's receive buffer, and the drop policy built on it.
//!
//! Under overload a UDP socket's buffer fills (up to `net.core.rmem_max`, megabytes: thousands
//! of queries), and every query waits for all those ahead of it, so answers come late to
//! everyone. Each query is read with the kernel's receive timestamp (`SO_TIMESTAMPNS`) and the
//! socket's overflow count (`SO_RXQ_OVFL`); [`Sojourn`] applies CoDel's standing-queue test
//! (RFC 8289: the least wait over a 100 ms window above the target). A thread descheduled for
//! a moment on a busy machine does not pass it: the queries that came before in the same
//! window waited less.
//!
//! Once it holds, queries that waited longer than the target are dropped before answering
//! them, and the receive buffer is cut to what the socket answered in the target's time at the
//! rate of the window before ([`Resize::Shrink`]). Reading a query only to drop it costs a
//! system call, a good part of answering it; with the small buffer the kernel drops the
//! excess as it arrives instead, for nothing (counted through `SO_RXQ_OVFL`), and what is
//! read is fresh. Dropping ends, and the buffer is given back ([`Resize::Restore`]), after a
//! window in which no query waited longer than the target and the kernel dropped none: a
//! sustained overload keeps overflowing the small buffer, and the end of it stops that.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The window of CoDel's test.
const WINDOW: Duration = Duration::from_millis(100);
/// Receive-buffer bytes the kernel charges for one small datagram queued (its buffer and
/// bookkeeping; about 830 on x86-64 Linux for a query of tens of bytes).
pub const BYTES_PER_QUERY: usize = 832;
/// The fewest queries the cut buffer holds.
const MIN_QUEUED: usize = 64;

/// Asks the kernel for receive timestamps and overflow counts on `sock` (best effort: without
/// them nothing is dropped for waiting, and overflows are not counted).
pub fn enable(sock: &std::net::UdpSocket) {
    let one: libc::c_int = 1;
    for opt in [libc::SO_TIMESTAMPNS, libc::SO_RXQ_OVFL] {
        // SAFETY: setsockopt reads `one` (a c_int of the given size) and nothing else.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// One datagram read.
pub struct Received {
    pub len: usize,
    pub src: SocketAddr,
    /// Time between the kernel queueing it and now, when the kernel stamped it.
    pub waited: Option<Duration>,
    /// The socket's count of datagrams dropped for a full buffer, when the kernel sent it.
    pub overflows: Option<u32>,
}

/// `recvmsg` on a blocking UDP socket, with the ancillary data asked for by [`enable`].
pub fn recv(sock: &std::net::UdpSocket, buf: &mut [u8]) -> io::Result<Received> {
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut addr: libc::sockaddr_storage = unsafe { zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>() as _;
    // SAFETY: every pointer in `msg` points into locals that outlive the call, with the
    // lengths given.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let src = sockaddr(&addr).ok_or_else(|| io::Error::other("datagram from a non-IP address"))?;
    let (mut waited, mut overflows) = (None, None);
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within
    // `msg_controllen`; each payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let (level, kind) = ((*c).cmsg_level, (*c).cmsg_type);
            if level == libc::SOL_SOCKET && kind == libc::SO_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                waited = Some(crate::net::since_kernel_stamp(ts));
            } else if level == libc::SOL_SOCKET && kind == libc::SO_RXQ_OVFL {
                overflows = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(Received { len: n as usize, src, waited, overflows })
}

fn sockaddr(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(addr as *const _ as *const libc::sockaddr_in) };
            let ip = u32::from_be(a.sin_addr.s_addr);
            Some(SocketAddrV4::new(ip.into(), u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 =
                unsafe { &*(addr as *const _ as *const libc::sockaddr_in6) };
            let ip = a.sin6_addr.s6_addr.into();
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    }
}

/// A change of the socket's receive buffer that [`Sojourn`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Cut the buffer to this many bytes, as the kernel accounts them (`SO_RCVBUF` is set to
    /// half of it: the kernel doubles what it is given).
    Shrink(usize),
    /// Give the buffer its configured size back.
    Restore,
}

/// CoDel's standing-queue test over one socket's queries.
#[derive(Debug)]
pub struct Sojourn {
    target: Option<Duration>,
    window_start: Instant,
    least: Duration,
    most: Duration,
    /// Queries let through in the window.
    passed: usize,
    /// Whether the kernel dropped any in the window.
    overflowed: bool,
    dropping: bool,
    overflows: u32,
    resize: Option<Resize>,
}

impl Sojourn {
    /// A test against `target` (`None`: never drop), starting at `now`.
    pub fn new(target: Option<Duration>, now: Instant) -> Self {
        Self {
            target,
            window_start: now,
            least: Duration::MAX,
            most: Duration::ZERO,
            passed: 0,
            overflowed: false,
            dropping: false,
            overflows: 0,
            resize: None,
        }
    }

    /// Whether a query that waited `waited`, read at `now`, is to be dropped unanswered.
    pub fn drop_query(&mut self, waited: Option<Duration>, now: Instant) -> bool {
        let (Some(target), Some(waited)) = (self.target, waited) else { return false };
        self.least = self.least.min(waited);
        self.most = self.most.max(waited);
        let span = now.saturating_duration_since(self.window_start);
        if span >= WINDOW {
            let was = self.dropping;
            self.dropping =
                if was { self.most > target || self.overflowed } else { self.least > target };
            if self.dropping != was {
                self.resize = Some(if self.dropping {
                    let rate = self.passed as f64 / span.as_secs_f64();
                    let queries = ((rate * target.as_secs_f64()).ceil() as usize).max(MIN_QUEUED);
                    Resize::Shrink(queries * BYTES_PER_QUERY)
                } else {
                    Resize::Restore
                });
            }
            self.window_start = now;
            self.least = Duration::MAX;
            self.most = Duration::ZERO;
            self.passed = 0;
            self.overflowed = false;
        }
        let drop = self.dropping && waited > target;
        self.passed += usize::from(!drop);
        drop
    }

    /// The change of receive buffer due, once.
    pub fn take_resize(&mut self) -> Option<Resize> {
        self.resize.take()
    }

    /// Datagrams the kernel dropped since the last call, from the socket's running count.
    pub fn new_overflows(&mut self, count: Option<u32>) -> u32 {
        let Some(count) = count else { return 0 };
        let new = count.wrapping_sub(self.overflows);
        self.overflows = count;
        self.overflowed |= new > 0;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_moment_of_delay_drops_nothing_a_standing_queue_drops_the_stale_until_it_ends() {
        let t0 = Instant::now();
        let mut s = Sojourn::new(Some(5 * MS), t0);
        // One window with fresh queries and a 40 ms stall: no standing queue.
        assert!(!s.drop_query(Some(MS), t0));
        assert!(!s.drop_query(Some(40 * MS), t0 + 50 * MS));
        assert!(!s.drop_query(Some(40 * MS), t0 + 100 * MS));
        // A whole window above the target: from its end on, stale queries are dropped and
        // fresh ones answered.
        for i in 1..=9 {
            assert!(!s.drop_query(Some(20 * MS), t0 + (100 + 10 * i) * MS));
        }
        assert!(s.drop_query(Some(30 * MS), t0 + 200 * MS));
        assert!(!s.drop_query(Some(2 * MS), t0 + 220 * MS));
        // Overload goes on: some query of each window is stale, dropping stays on.
        assert!(s.drop_query(Some(9 * MS), t0 + 320 * MS));
        // A window with nothing stale ends it.
        assert!(!s.drop_query(Some(MS), t0 + 400 * MS));
        assert!(!s.drop_query(Some(MS), t0 + 430 * MS));
        assert!(!s.drop_query(Some(6 * MS), t0 + 440 * MS));
        assert!(!s.drop_query(Some(30 * MS), t0 + 450 * MS));
    }

    #[test]
    fn a_standing_queue_cuts_the_buffer_to_the_targets_worth_until_the_kernel_drops_none() {
        let t0 = Instant::now();
        let mut s = Sojourn::new(Some(5 * MS), t0);
        s.new_overflows(Some(0));
        // 4,000 queries answered in the first window, each having waited 20 ms.
        for i in 0..4000 {
            assert!(!s.drop_query(Some(20 * MS), t0 + i * Duration::from_micros(25)));
        }
        assert_eq!(s.take_resize(), None);
        // A standing queue: the buffer is cut to 5 ms at 40,000 a second, 200 queries.
        assert!(s.drop_query(Some(20 * MS), t0 + 100 * MS));
        match s.take_resize() {
            Some(Resize::Shrink(bytes)) => {
                assert!((200..=201).contains(&(bytes / BYTES_PER_QUERY)), "{bytes} bytes")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.take_resize(), None);
        // What is read now is fresh, but the kernel drops the excess: dropping goes on.
        assert_eq!(s.new_overflows(Some(700)), 700);
        assert!(!s.drop_query(Some(2 * MS), t0 + 150 * MS));
        assert!(s.drop_query(Some(6 * MS), t0 + 200 * MS));
        assert_eq!(s.take_resize(), None);
        // A window with nothing stale and no overflow ends it and gives the buffer back.
        assert_eq!(s.new_overflows(Some(700)), 0);
        assert!(!s.drop_query(Some(2 * MS), t0 + 250 * MS));
        assert!(!s.drop_query(Some(MS), t0 + 300 * MS));
        assert_eq!(s.take_resize(), Some(Resize::Restore));
        assert!(!s.drop_query(Some(6 * MS), t0 + 310 * MS));
        // Few queries: the cut buffer still holds the minimum.
        let mut few = Sojourn::new(Some(5 * MS), t0);
        assert!(!few.drop_query(Some(20 * MS), t0));
        assert!(few.drop_query(Some(20 * MS), t0 + 100 * MS));
        assert_eq!(few.take_resize(), Some(Resize::Shrink(MIN_QUEUED * BYTES_PER_QUERY)));
    }

    #[test]
    fn off_or_without_timestamps_nothing_is_dropped() {
        let t0 = Instant::now();
        let mut off = Sojourn::new(None, t0);
        let mut blind = Sojourn::new(Some(5 * MS), t0);
        for i in 0..50 {
            assert!(!off.drop_query(Some(500 * MS), t0 + i * 10 * MS));
            assert!(!blind.drop_query(None, t0 + i * 10 * MS));
        }
    }

    #[test]
    fn overflows_are_counted_from_the_running_total() {
        let mut s = Sojourn::new(None, Instant::now());
        assert_eq!(s.new_overflows(None), 0);
        assert_eq!(s.new_overflows(Some(7)), 7);
        assert_eq!(s.new_overflows(Some(7)), 0);
        assert_eq!(s.new_overflows(Some(2)), u32::MAX - 4);
    }
}
