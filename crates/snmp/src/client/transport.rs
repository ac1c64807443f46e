//! The shared UDP transport: sockets, the table of outstanding requests, a send queue per
//! socket flushed by one task, and the receive tasks that route replies by request-id
//! (v1/v2c) or msgID (v3).
//!
//! Requests issued in the same scheduler tick leave in one `sendmmsg` and replies come in
//! through `recvmmsg` (Linux). While many requests are in flight, the receive task reads on
//! a short adaptive timer instead of on every datagram's arrival, so one wake-up serves many
//! replies, the way a network card coalesces interrupts.

mod coalesce;
#[cfg(target_os = "linux")]
mod mmsg;
#[cfg(target_os = "linux")]
mod pacer;
#[cfg(target_os = "linux")]
mod send;

use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use bytes::Bytes;
#[cfg(not(target_os = "linux"))]
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::codec::{Route, Version, peek_route};

pub(crate) use coalesce::Coalesce;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a waiter expects, checked by the receive task before handing the datagram over.
#[derive(Clone, Debug)]
pub(crate) enum Expect {
    Community { version: Version, community: Arc<[u8]> },
    V3,
}

/// Replies not yet read by their request; more than this are duplicates and dropped.
const MAILBOX_DEPTH: usize = 8;

/// Where the datagrams answering one request (or the failure to send it) are left for the
/// requesting task: one allocation per request instead of a channel.
#[derive(Default)]
pub(crate) struct Mailbox {
    state: Mutex<MailboxState>,
}

#[derive(Default)]
struct MailboxState {
    replies: VecDeque<Bytes>,
    error: Option<std::io::Error>,
    waker: Option<Waker>,
}

impl Mailbox {
    fn deliver(&self, data: &[u8]) {
        let waker = {
            let mut s = lock(&self.state);
            if s.replies.len() >= MAILBOX_DEPTH {
                return;
            }
            s.replies.push_back(Bytes::copy_from_slice(data));
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn fail(&self, e: std::io::Error) {
        let waker = {
            let mut s = lock(&self.state);
            s.error = Some(e);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    #[cfg(test)]
    pub(crate) fn try_recv(&self) -> Option<Bytes> {
        lock(&self.state).replies.pop_front()
    }

    /// The next reply, or the error that kept the request from being sent.
    pub(crate) async fn recv(&self) -> std::io::Result<Bytes> {
        poll_fn(|cx| {
            let mut s = lock(&self.state);
            if let Some(e) = s.error.take() {
                return Poll::Ready(Err(e));
            }
            if let Some(b) = s.replies.pop_front() {
                return Poll::Ready(Ok(b));
            }
            match &s.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => s.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }
}

struct Slot {
    mailbox: Arc<Mailbox>,
    peer: SocketAddr,
    expect: Expect,
}

const SHARDS: usize = 64;

/// Hashes request IDs with one multiplication. The IDs are this client's own (a received
/// datagram only looks one up), so a keyed hash against flooding buys nothing here.
#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_i32(&mut self, v: i32) {
        self.0 = u64::from(v as u32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap = HashMap<i32, Slot, std::hash::BuildHasherDefault<IdHasher>>;

/// Outstanding request IDs, sharded to keep lock hold times short under many senders.
pub(crate) struct Pending {
    shards: Vec<Mutex<IdMap>>,
    next: AtomicU32,
    strict_source: bool,
}

impl Pending {
    pub(crate) fn new(strict_source: bool) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(IdMap::default())).collect(),
            next: AtomicU32::new(rand::random::<u32>() >> 1),
            strict_source,
        }
    }

    fn shard(&self, id: i32) -> &Mutex<IdMap> {
        &self.shards[id as usize % SHARDS]
    }

    /// Registers a fresh positive ID (request-id and msgID share one space).
    pub(crate) fn register(
        &self,
        mailbox: &Arc<Mailbox>,
        peer: SocketAddr,
        expect: &Expect,
    ) -> i32 {
        loop {
            let id = (self.next.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff) as i32;
            if id == 0 {
                continue;
            }
            let mut s = lock(self.shard(id));
            if let std::collections::hash_map::Entry::Vacant(v) = s.entry(id) {
                v.insert(Slot { mailbox: mailbox.clone(), peer, expect: expect.clone() });
                return id;
            }
        }
    }

    pub(crate) fn unregister(&self, id: i32) {
        lock(self.shard(id)).remove(&id);
    }

    /// Hands a datagram to its waiter; returns false when it matched nothing.
    pub(crate) fn dispatch(&self, data: &[u8], from: SocketAddr) -> bool {
        let Ok(route) = peek_route(data) else { return false };
        let id = match route {
            Route::Community { request_id, .. } => request_id,
            Route::V3 { msg_id } => msg_id,
        };
        let mailbox = {
            let s = lock(self.shard(id));
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
            if !ok {
                return false;
            }
            slot.mailbox.clone()
        };
        mailbox.deliver(data);
        true
    }
}

/// One datagram waiting in a send queue.
pub(crate) struct Outgoing {
    pub(crate) data: Vec<u8>,
    pub(crate) to: SocketAddr,
    pub(crate) mailbox: Arc<Mailbox>,
}

/// Encode buffers kept for reuse per socket, and the largest capacity worth keeping (a rare
/// large SET must not pin its buffer).
const POOL_MAX: usize = 1024;
const POOL_BUFFER_MAX: usize = 4096;

/// A socket's send queue, its pool of encode buffers and its count of requests in flight.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct Outbox {
    queue: Mutex<Vec<Outgoing>>,
    notify: Notify,
    pool: Mutex<Vec<Vec<u8>>>,
    in_flight: AtomicUsize,
}

impl Outbox {
    fn new() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            notify: Notify::new(),
            pool: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// An empty buffer to encode a request into.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        lock(&self.pool).pop().unwrap_or_else(|| Vec::with_capacity(512))
    }

    /// Queues a datagram; the socket's send task flushes everything queued in one go. A send
    /// error is reported through the mailbox.
    pub(crate) fn send(&self, data: Vec<u8>, to: SocketAddr, mailbox: Arc<Mailbox>) {
        let first = {
            let mut q = lock(&self.queue);
            q.push(Outgoing { data, to, mailbox });
            q.len() == 1
        };
        if first {
            self.notify.notify_one();
        }
    }

    fn recycle(&self, batch: &mut Vec<Outgoing>) {
        let mut pool = lock(&self.pool);
        for o in batch.drain(..) {
            if pool.len() < POOL_MAX && o.data.capacity() <= POOL_BUFFER_MAX {
                let mut b = o.data;
                b.clear();
                pool.push(b);
            }
        }
    }

    /// Counts a request as in flight until the guard is dropped.
    pub(crate) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }
}

pub(crate) struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// On Linux the socket is driven by raw `sendmmsg`/`recvmmsg` and the [`pacer`]'s own epoll
/// set, so it is not registered with tokio; elsewhere tokio's socket is used.
#[cfg(target_os = "linux")]
pub(crate) type Socket = std::net::UdpSocket;
#[cfg(not(target_os = "linux"))]
pub(crate) type Socket = UdpSocket;

/// One UDP socket with its send and receive tasks.
pub(crate) struct Endpoint {
    pub(crate) socket: Arc<Socket>,
    pub(crate) outbox: Arc<Outbox>,
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Endpoint {
    pub(crate) fn bind(
        local: SocketAddr,
        recv_buffer: usize,
        pending: Arc<Pending>,
        coalesce: Coalesce,
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
        #[cfg(target_os = "linux")]
        let (socket, pacer) = {
            use std::os::fd::AsRawFd;
            let socket: Arc<Socket> = Arc::new(s.into());
            let pacer = pacer::Pacer::new(socket.as_raw_fd(), coalesce)?;
            (socket, pacer)
        };
        #[cfg(not(target_os = "linux"))]
        let socket = Arc::new(UdpSocket::from_std(s.into())?);
        let outbox = Arc::new(Outbox::new());
        let tasks = [
            #[cfg(target_os = "linux")]
            tokio::spawn(receive_loop(socket.clone(), pending, outbox.clone(), pacer)),
            #[cfg(not(target_os = "linux"))]
            tokio::spawn(receive_loop(socket.clone(), pending, outbox.clone(), coalesce)),
            tokio::spawn(send_loop(socket.clone(), outbox.clone())),
        ];
        Ok(Self { socket, outbox, tasks })
    }
}

/// Flushes the send queue whenever it becomes non-empty. Everything queued while this task
/// waited to run goes out together.
async fn send_loop(socket: Arc<Socket>, outbox: Arc<Outbox>) {
    let mut batch = Vec::new();
    #[cfg(target_os = "linux")]
    let mut mm = send::SendBatch::new();
    loop {
        outbox.notify.notified().await;
        loop {
            std::mem::swap(&mut batch, &mut *lock(&outbox.queue));
            if batch.is_empty() {
                break;
            }
            #[cfg(target_os = "linux")]
            mm.send_all(&socket, &batch).await;
            #[cfg(not(target_os = "linux"))]
            send_each(&socket, &batch).await;
            outbox.recycle(&mut batch);
        }
    }
}

#[cfg(not(target_os = "linux"))]
async fn send_each(socket: &UdpSocket, batch: &[Outgoing]) {
    for o in batch {
        if let Err(e) = socket.send_to(&o.data, o.to).await {
            o.mailbox.fail(e);
        }
    }
}

#[cfg(not(target_os = "linux"))]
async fn receive_loop(
    socket: Arc<UdpSocket>,
    pending: Arc<Pending>,
    _outbox: Arc<Outbox>,
    _coalesce: Coalesce,
) {
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

/// Linux: `recvmmsg` reads up to [`mmsg::BATCH`] datagrams per system call, until a short
/// batch shows the queue is empty; the [`pacer::Pacer`] decides when to read next.
#[cfg(target_os = "linux")]
async fn receive_loop(
    socket: Arc<Socket>,
    pending: Arc<Pending>,
    outbox: Arc<Outbox>,
    mut pacer: pacer::Pacer,
) {
    let mut batch = mmsg::RecvBatch::new();
    loop {
        let paced = match pacer.wait(outbox.in_flight.load(Ordering::Relaxed)).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "SNMP receive readiness failed");
                return;
            }
        };
        let mut got = 0;
        loop {
            match batch.recv(&*socket) {
                Ok(n) => {
                    got += n;
                    for i in 0..n {
                        if let Some((data, from)) = batch.get(i)
                            && !pending.dispatch(data, from)
                        {
                            tracing::trace!(%from, len = data.len(), "unmatched SNMP datagram dropped");
                        }
                    }
                    if n < mmsg::BATCH {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // ICMP port unreachable surfaces here; it belongs to no waiter.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "SNMP receive error");
                    break;
                }
            }
        }
        pacer.observe(paced, got);
    }
}
