//! Linux receive readiness with pacing: while many requests are in flight, the receive task
//! wakes on a short timer instead of on each datagram, so one wake-up and one `recvmmsg`
//! serve many replies, the way a network card coalesces interrupts.
//!
//! The socket and a `timerfd` (tokio's timers have millisecond resolution) sit in a private
//! epoll set that is itself registered with tokio. Switching to paced mode takes the socket
//! out of that set's interest, so arrivals stop waking the runtime at all; a socket
//! registered with tokio directly would wake it for every datagram (and for every sent one,
//! through `EPOLLOUT`), whether or not a task waits. The delay adapts so that about three
//! quarters of the requests in flight have been answered when the timer fires: agents keep
//! the rest to work on while this side sleeps through most arrivals. With few requests in flight, or when a
//! timed wait finds nothing, the task waits for the next arrival, so a lone request sees no
//! added latency.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::coalesce::Coalesce;

/// The shortest delay the controller goes down to.
const MIN_DELAY: Duration = Duration::from_micros(5);

const TOKEN_SOCKET: u64 = 1;
const TOKEN_TIMER: u64 = 2;

pub(super) struct Pacer {
    epoll: AsyncFd<OwnedFd>,
    socket: RawFd,
    timer: Option<OwnedFd>,
    /// The socket is in the epoll set's interest (it is whenever not in paced mode).
    armed: bool,
    cadence: Cadence,
}

/// The pacing decision, apart from the system calls: whether the next wait is timed, and
/// for how long.
#[derive(Debug)]
pub(super) struct Cadence {
    cfg: Coalesce,
    delay: Duration,
    timed_next: bool,
    armed_with: usize,
}

impl Cadence {
    pub(super) fn new(cfg: Coalesce) -> Self {
        let delay = (cfg.max_delay / 4).max(MIN_DELAY).min(cfg.max_delay);
        Self { cfg, delay, timed_next: false, armed_with: 0 }
    }

    /// The delay of the next wait when it should be timed, given the requests in flight.
    pub(super) fn next_delay(&mut self, in_flight: usize) -> Option<Duration> {
        if !self.timed_next || self.cfg.max_delay.is_zero() {
            return None;
        }
        if in_flight < self.cfg.min_in_flight.max(1) {
            return None;
        }
        self.armed_with = in_flight;
        Some(self.delay)
    }

    /// Feeds back how many datagrams the last wake-up read. The delay grows until about
    /// three quarters of the requests in flight when the timer was armed are answered per
    /// wake-up (the rest keep the agents busy meanwhile) and shrinks when more came.
    pub(super) fn observe(&mut self, paced: bool, got: usize) {
        if !paced {
            self.timed_next = got > 0;
            return;
        }
        if got == 0 {
            // Nothing came: the remaining requests are slow; wait for the next arrival.
            self.timed_next = false;
            return;
        }
        self.timed_next = true;
        let target = (self.armed_with * 3 / 4).max(1);
        if got < target {
            self.delay = (self.delay * 5 / 4 + Duration::from_micros(1)).min(self.cfg.max_delay);
        } else if got > target {
            self.delay = (self.delay * 4 / 5).max(MIN_DELAY).min(self.cfg.max_delay);
        }
    }
}

impl Pacer {
    /// Watches `socket`, which must outlive the pacer and not be registered with tokio.
    pub(super) fn new(socket: RawFd, cfg: Coalesce) -> std::io::Result<Self> {
        // SAFETY: plain system call; the descriptor is owned by the OwnedFd from here on.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: ep is a fresh descriptor nobody else owns.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        ctl(&ep, libc::EPOLL_CTL_ADD, socket, libc::EPOLLIN | libc::EPOLLET, TOKEN_SOCKET)?;
        let timer = if cfg.max_delay.is_zero() {
            None
        } else {
            timerfd()
                .and_then(|t| {
                    ctl(
                        &ep,
                        libc::EPOLL_CTL_ADD,
                        t.as_raw_fd(),
                        libc::EPOLLIN | libc::EPOLLET,
                        TOKEN_TIMER,
                    )?;
                    Ok(t)
                })
                .ok()
        };
        // SAFETY: the OwnedFd keeps the descriptor open and unchanged for the AsyncFd's life.
        let epoll = unsafe { AsyncFd::register_with_interest(ep, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        Ok(Self { epoll, socket, timer, armed: true, cadence: Cadence::new(cfg) })
    }

    /// Waits until the socket may have datagrams: after the pacing delay when enough
    /// requests are in flight, else until one arrives. Returns whether the wait was paced.
    pub(super) async fn wait(&mut self, in_flight: usize) -> std::io::Result<bool> {
        let paced = match (self.cadence.next_delay(in_flight), &self.timer) {
            (Some(delay), Some(t)) => arm_timer(t, delay).is_ok(),
            _ => false,
        };
        if paced {
            if self.armed {
                ctl(self.epoll.get_ref(), libc::EPOLL_CTL_MOD, self.socket, 0, TOKEN_SOCKET)?;
                self.armed = false;
            }
        } else if !self.armed {
            // Re-arming reports datagrams that are already queued.
            let ev = libc::EPOLLIN | libc::EPOLLET;
            ctl(self.epoll.get_ref(), libc::EPOLL_CTL_MOD, self.socket, ev, TOKEN_SOCKET)?;
            self.armed = true;
        }
        loop {
            let mut ready = self.epoll.readable().await?;
            let mut events = [libc::epoll_event { events: 0, u64: 0 }; 2];
            // SAFETY: events is a live array of the stated length.
            let n = unsafe {
                libc::epoll_wait(self.epoll.get_ref().as_raw_fd(), events.as_mut_ptr(), 2, 0)
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
                continue;
            }
            ready.clear_ready();
            let hit = |token| events[..n as usize].iter().any(|e| e.u64 == token);
            if (paced && hit(TOKEN_TIMER)) || (!paced && hit(TOKEN_SOCKET)) {
                return Ok(paced);
            }
        }
    }

    /// Feeds back how many datagrams the last wake-up read.
    pub(super) fn observe(&mut self, paced: bool, got: usize) {
        self.cadence.observe(paced, got);
    }
}

fn ctl(
    ep: &OwnedFd,
    op: libc::c_int,
    fd: RawFd,
    events: libc::c_int,
    token: u64,
) -> std::io::Result<()> {
    let mut ev = libc::epoll_event { events: events as u32, u64: token };
    // SAFETY: ev is a valid epoll_event; both descriptors are open.
    let r = unsafe { libc::epoll_ctl(ep.as_raw_fd(), op, fd, &mut ev) };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

fn timerfd() -> std::io::Result<OwnedFd> {
    // SAFETY: plain system call; the descriptor is owned by the OwnedFd from here on.
    let fd = unsafe {
        libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Arms the one-shot timer. Its expiry count is never read: with `EPOLLET` every expiry is a
/// new event.
fn arm_timer(fd: &OwnedFd, after: Duration) -> std::io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
        it_value: libc::timespec {
            // Cast to the field's type: naming `libc::time_t` warns on musl, where it turns 64-bit.
            tv_sec: after.as_secs() as _,
            tv_nsec: after.subsec_nanos().max(1) as libc::c_long,
        },
    };
    // SAFETY: spec is a valid itimerspec; the old value is not requested.
    let r = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Coalesce {
        Coalesce { max_delay: Duration::from_micros(1000), min_in_flight: 8 }
    }

    #[test]
    fn paced_only_after_arrivals_and_with_enough_in_flight() {
        let mut c = Cadence::new(cfg());
        assert_eq!(c.next_delay(100), None, "the first wait is for readability");
        c.observe(false, 1);
        assert_eq!(c.next_delay(4), None, "too few in flight");
        assert!(c.next_delay(16).is_some());
        c.observe(true, 0);
        assert_eq!(c.next_delay(16), None, "an empty timed wait falls back to readability");
        c.observe(false, 0);
        assert_eq!(c.next_delay(16), None);
        let mut off = Cadence::new(Coalesce { max_delay: Duration::ZERO, min_in_flight: 1 });
        off.observe(false, 5);
        assert_eq!(off.next_delay(100), None, "zero disables pacing");
    }

    #[test]
    fn delay_grows_until_most_replies_come_per_wake_and_stays_bounded() {
        let mut c = Cadence::new(cfg());
        c.observe(false, 1);
        let first = c.next_delay(16).unwrap();
        c.observe(true, 2);
        let longer = c.next_delay(16).unwrap();
        assert!(longer > first);
        for _ in 0..100 {
            c.next_delay(16);
            c.observe(true, 1);
        }
        assert_eq!(c.next_delay(16), Some(Duration::from_micros(1000)), "capped");
        for _ in 0..100 {
            c.next_delay(16);
            c.observe(true, 16);
        }
        assert_eq!(c.next_delay(16), Some(MIN_DELAY), "floored");
        let at_floor = c.next_delay(16).unwrap();
        c.observe(true, 12);
        assert_eq!(c.next_delay(16), Some(at_floor), "on target: unchanged");
    }
}
