//! Traffic connections read with the kernel's receive timestamps, so that the time a request
//! waited before Switchyard read it is known.
//!
//! Under overload a request waits in places the process cannot see: in its connection's
//! socket buffer until the runtime gets to the connection, in the accept queue with its
//! connection, and through a CPU quota's throttling. A timer on the runtime sees only part of
//! that (tokio polls for I/O and timers between batches of tasks, so a late tick can be
//! shorter than the wait of the requests around it). With `SO_TIMESTAMPNS` on a TCP socket
//! each `recvmsg` says when the kernel received the last segment it returns, and the wait is
//! the time from then to now: the queue delay of that request, wherever it was spent. This
//! is the same measure the DNS front end takes for every UDP query
//! ([`crate::dns::sojourn`]).
//!
//! [`Stamped`] wraps the accepted `TcpStream` (under TLS too: the TLS session reads through
//! it) and reports the waits to the [`AdmissionLayer`], which counts the reads of each
//! window that waited longer than its target for its shedding decision and keeps the
//! distribution in `switchyard_http_read_wait_seconds`. tokio's own `TcpStream` reads with
//! `recv`, which has no room for the timestamp, hence the read here (one `recvmsg` in its
//! place).
//!
//! Not every read is stamped: `recvmsg` with a control buffer costs a keep-alive request
//! about a tenth of its throughput on one core (`bench/http`), more than a measure is worth.
//! The first read of each connection is (its wait includes the accept queue, where a
//! connection arriving under overload waits longest), and after it one read in
//! [`STAMP_EVERY`] of those a thread makes, counted round robin over its connections, so the
//! sample is spread evenly over the reads. The rest read through tokio as before; the kernel
//! drops their timestamps unread.

use std::cell::Cell;
use std::io;
use std::mem::{MaybeUninit, size_of, zeroed};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::admission::AdmissionLayer;

/// One read in this many after a connection's first is stamped.
pub(crate) const STAMP_EVERY: u32 = 8;

thread_local! {
    /// Reads this thread made since its last stamped one (not counting first reads).
    static UNSTAMPED: Cell<u32> = const { Cell::new(0) };
}

/// Whether the next read of a connection past its first should be stamped.
fn stamp_this_one() -> bool {
    UNSTAMPED.with(|n| {
        let next = n.get() + 1;
        let stamp = next >= STAMP_EVERY;
        n.set(if stamp { 0 } else { next });
        stamp
    })
}

/// An accepted traffic connection whose reads report how long their bytes waited.
pub(crate) struct Stamped {
    stream: TcpStream,
    admission: AdmissionLayer,
    /// Whether the next read is stamped: the first always, then one in [`STAMP_EVERY`].
    stamp_next: bool,
}

impl Stamped {
    /// Wraps a connection accepted from a listener given [`stamp_accepted`], whose option
    /// it inherited (a connection without it reads unstamped: no wait is reported).
    pub(crate) fn new(stream: TcpStream, admission: AdmissionLayer) -> Self {
        Self { stream, admission, stamp_next: true }
    }

    /// Reads what the socket already holds without waiting: one non-blocking `recv` or
    /// `recvmsg`, made directly because tokio's `try_io` trusts the readiness it has cached,
    /// which may not yet include bytes that arrived just now. 0 when nothing is there (or on
    /// error).
    pub(crate) fn read_now(&mut self, buf: &mut BytesMut) -> usize {
        let read = if self.stamp_next {
            recv(self.stream.as_raw_fd(), buf.spare_capacity_mut(), libc::MSG_DONTWAIT)
        } else {
            socket2::SockRef::from(&self.stream).recv(buf.spare_capacity_mut()).map(|n| (n, None))
        };
        match read {
            Ok((n, waited)) => {
                // SAFETY: `recv` and `recvmsg` initialized the first `n` bytes of the spare
                // capacity.
                unsafe { buf.set_len(buf.len() + n) };
                self.read_done(waited);
                n
            }
            Err(_) => 0,
        }
    }

    /// After a completed read: reports its wait, if stamped, and picks whether the next is.
    fn read_done(&mut self, waited: Option<Duration>) {
        if let Some(waited) = waited {
            self.admission.read_waited(waited);
        }
        self.stamp_next = stamp_this_one();
    }
}

impl AsyncRead for Stamped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.stamp_next {
            ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
            this.stamp_next = stamp_this_one();
            return Poll::Ready(Ok(()));
        }
        let fd = this.stream.as_raw_fd();
        loop {
            ready!(this.stream.poll_read_ready(cx))?;
            // SAFETY: `recv` only writes bytes into the slice, never de-initializes any.
            let unfilled = unsafe { buf.unfilled_mut() };
            match this.stream.try_io(Interest::READABLE, || recv(fd, unfilled, 0)) {
                Ok((n, waited)) => {
                    // SAFETY: `recvmsg` initialized the first `n` bytes of the unfilled part.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    this.read_done(waited);
                    return Poll::Ready(Ok(()));
                }
                // The cached readiness was stale; `try_io` cleared it, so poll again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Asks the kernel for receive timestamps on every connection `listener` accepts from now
/// on: they inherit the option when the handshake completes, so the bytes of a request that
/// arrive while its connection waits in the accept queue are stamped too (set on the
/// accepted socket alone, they would not be, and each connection would cost a system call).
pub(crate) fn stamp_accepted(listener: &tokio::net::TcpListener) -> io::Result<()> {
    ask_for_timestamps(listener.as_raw_fd())
}

/// Sets `SO_TIMESTAMPNS` on the socket `fd`.
fn ask_for_timestamps(fd: RawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `one` (a c_int of the given size) and nothing else.
    let done = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// One `recvmsg` into `buf`: the bytes read and, when the kernel stamped them, how long ago
/// it received the last of them.
fn recv(
    fd: RawFd,
    buf: &mut [MaybeUninit<u8>],
    flags: libc::c_int,
) -> io::Result<(usize, Option<Duration>)> {
    // Room for one timestamp message (a 16-byte header and a 16-byte timespec) and more.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: all-zero is a valid msghdr.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>() as _;
    // SAFETY: every pointer in `msg` points into locals or `buf`, which outlive the call, with
    // the lengths given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut waited = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within
    // `msg_controllen`; the payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                waited = Some(crate::net::since_kernel_stamp(ts));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, waited))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the kernel's receive timestamps switched on for as long as the returned pair
    /// of sockets lives. The first socket on the machine to ask for them switches them on
    /// through deferred work, so segments that arrive before that work has run carry no
    /// stamp; the tests wait for it here, with a probe connection that asks for them and
    /// reads until a segment comes back stamped (at most 5 s), instead of reading
    /// unstamped segments by chance.
    fn timestamps_on() -> (std::net::TcpStream, std::net::TcpStream) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        ask_for_timestamps(server.as_raw_fd()).unwrap();
        let mut buf = [MaybeUninit::uninit(); 8];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            client.write_all(b"x").unwrap();
            let (_, waited) = recv(server.as_raw_fd(), &mut buf, 0).unwrap();
            if waited.is_some() {
                return (client, server);
            }
            assert!(std::time::Instant::now() < deadline, "the kernel never stamped a segment");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A connection's first read is stamped and then one in [`STAMP_EVERY`] of a thread's
    /// reads: 17 requests read one by one on a fresh thread give 1 + 16 / 8 stamped reads.
    #[test]
    fn the_first_read_and_one_in_eight_after_it_are_stamped() {
        use crate::metrics::Metrics;
        use crate::traffic::config::TrafficConfig;
        use crate::traffic::metrics::TrafficMetrics;
        use std::io::Write;
        use tokio::io::AsyncReadExt;

        let _on = timestamps_on();
        let metrics = Metrics::new();
        let traffic = TrafficMetrics::register(&metrics);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            runtime.unwrap().block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                stamp_accepted(&listener).unwrap();
                let addr = listener.local_addr().unwrap();
                let mut client = std::net::TcpStream::connect(addr).unwrap();
                let (server, _) = listener.accept().await.unwrap();
                let (admission, _) = AdmissionLayer::new(&TrafficConfig::default(), traffic);
                let mut server = Stamped::new(server, admission);
                let mut buf = [0u8; 64];
                for _ in 0..17 {
                    client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
                    let mut got = 0;
                    while got < 18 {
                        got += server.read(&mut buf[got..]).await.unwrap();
                    }
                }
            });
        })
        .join()
        .unwrap();
        let text = metrics.encode();
        let count = text
            .lines()
            .find_map(|l| l.strip_prefix("switchyard_http_read_wait_seconds_count "))
            .unwrap_or_else(|| panic!("no read wait count in\n{text}"));
        assert_eq!(count.trim(), "3", "{text}");
    }

    /// A segment that sat in the socket 30 ms before the read is reported as waiting at
    /// least that long, and a read of nothing waiting reports nothing.
    #[test]
    fn a_read_reports_how_long_its_bytes_waited() {
        use std::io::Write;
        let _on = timestamps_on();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        ask_for_timestamps(server.as_raw_fd()).unwrap();
        let mut buf = BytesMut::with_capacity(64);
        let nothing = recv(server.as_raw_fd(), buf.spare_capacity_mut(), libc::MSG_DONTWAIT);
        assert_eq!(nothing.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let (n, waited) =
            recv(server.as_raw_fd(), buf.spare_capacity_mut(), libc::MSG_DONTWAIT).unwrap();
        assert_eq!(n, 18);
        let waited = waited.expect("the kernel stamps TCP segments once asked to");
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
        assert!(waited < Duration::from_secs(10), "{waited:?}");
    }
}
