//! The agent's datagram loop: each wake-up answers every queued request (up to a batch)
//! under one lock of the agent's state and sends the answers together (see [`super::gso`]),
//! with buffers shared by the agents of a thread.

#[cfg(not(unix))]
use std::sync::Arc;

#[cfg(not(unix))]
use super::respond::{respond_one, send_later};
#[cfg(not(unix))]
use super::{Shared, lock};

#[cfg(not(unix))]
pub(super) async fn serve(socket: std::net::UdpSocket, shared: Arc<Shared>) {
    let socket = Arc::new(socket);
    let Ok(io) = tokio::net::UdpSocket::from_std(match socket.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    }) else {
        return;
    };
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::with_capacity(1500);
    let mut scratch = Vec::new();
    loop {
        let Ok((n, from)) = io.recv_from(&mut buf).await else { continue };
        let plan = respond_one(&shared, &mut lock(&shared), &buf[..n], &mut out, &mut scratch);
        let Some(plan) = plan else { continue };
        if plan.delay.is_zero() {
            if let Some(d) = &plan.damaged_first {
                let _ = io.send_to(d, from).await;
            }
            for _ in 0..plan.copies {
                let _ = io.send_to(&out, from).await;
            }
        } else {
            send_later(socket.clone(), out.clone(), from, plan);
        }
    }
}

#[cfg(unix)]
pub(super) use batched::serve;

#[cfg(unix)]
mod batched {
    use std::cell::RefCell;
    use std::sync::Arc;

    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;

    use crate::snmp_agent::respond::{respond_one, send_later};
    use crate::snmp_agent::{Shared, lock};

    /// Requests answered per wake-up (and per lock of the agent's state) before yielding.
    const BATCH: usize = 64;

    /// Receive, response and decode buffers, shared by the agents of a thread: a cycle
    /// never awaits, so one agent at a time uses them, and thousands of agents cost no
    /// memory for buffers.
    struct Bufs {
        msg: Vec<u8>,
        out: Vec<u8>,
        scratch: Vec<u8>,
        sends: crate::snmp_agent::gso::Outgoing,
    }

    thread_local! {
        static BUFS: RefCell<Option<Bufs>> = const { RefCell::new(None) };
    }

    /// Answers up to [`BATCH`] queued requests and sends the answers together;
    /// `WouldBlock` when the queue ran empty first.
    fn cycle(socket: &Arc<std::net::UdpSocket>, shared: &Shared) -> std::io::Result<()> {
        BUFS.with(|b| {
            let mut b = b.borrow_mut();
            let b = b.get_or_insert_with(|| Bufs {
                msg: vec![0u8; 65536],
                out: Vec::with_capacity(1500),
                scratch: Vec::new(),
                sends: Default::default(),
            });
            b.sends.clear();
            let mut res = Ok(());
            {
                let mut core = lock(shared);
                for _ in 0..BATCH {
                    // `WouldBlock` once drained: tokio then clears readiness.
                    let (n, from) = match socket.recv_from(&mut b.msg) {
                        Ok(r) => r,
                        Err(e) => {
                            res = Err(e);
                            break;
                        }
                    };
                    let Some(plan) =
                        respond_one(shared, &mut core, &b.msg[..n], &mut b.out, &mut b.scratch)
                    else {
                        continue;
                    };
                    if plan.delay.is_zero() {
                        // Sent at once, so it leaves before the batch holding the response.
                        if let Some(d) = &plan.damaged_first {
                            let _ = socket.send_to(d, from);
                        }
                        b.sends.push(from, &b.out, plan.copies);
                    } else {
                        send_later(socket.clone(), b.out.clone(), from, plan);
                    }
                }
            }
            b.sends.flush(socket);
            res
        })
    }

    /// The socket is registered for readability only: with writability too, every datagram
    /// sent would raise an event and wake the runtime for nothing.
    pub(in super::super) async fn serve(socket: std::net::UdpSocket, shared: Arc<Shared>) {
        let socket = Arc::new(socket);
        // SAFETY: the Arc keeps the descriptor open and unchanged for the AsyncFd's life.
        let Ok(fd) =
            (unsafe { AsyncFd::register_with_interest(socket.clone(), Interest::READABLE) })
        else {
            return;
        };
        loop {
            let Ok(mut ready) = fd.readable().await else { return };
            match ready.try_io(|s| cycle(s.get_ref(), &shared)) {
                Ok(Ok(())) => tokio::task::yield_now().await,
                Ok(Err(e))
                    if e.kind() == std::io::ErrorKind::Interrupted
                        || e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "simulated agent receive error"),
                Err(_would_block) => {}
            }
        }
    }
}
