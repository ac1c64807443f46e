//! One request's fate under the agent's faults (drop, corrupt, duplicate, delay) and its
//! response, shared by the datagram loops of [`super::serve`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Faults, Shared, answer, corrupt};

/// What to do with one response after it is built.
pub(super) struct Plan {
    pub(super) copies: usize,
    pub(super) delay: std::time::Duration,
    /// A damaged copy to send before the response.
    pub(super) damaged_first: Option<Vec<u8>>,
}

/// The response with its last byte flipped.
fn damaged(out: &[u8]) -> Vec<u8> {
    let mut d = out.to_vec();
    if let Some(last) = d.last_mut() {
        *last ^= 0x01;
    }
    d
}

/// Decides drop/corrupt/duplicate/delay for one request and builds its response into `out`;
/// None when nothing is to be sent.
pub(super) fn respond_one(
    shared: &Shared,
    core: &mut super::Core,
    msg: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Option<Plan> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let faults: &Faults = &core.data.faults;
    if faults.drop_per_mille > 0 && rand::random_range(0..1000) < faults.drop_per_mille {
        return None;
    }
    let (corrupt_per_mille, duplicate, delay, damage) =
        (faults.corrupt_per_mille, faults.duplicate, faults.delay, faults.damaged_copy_first);
    out.clear();
    if !answer(core, msg, out, scratch) {
        return None;
    }
    if corrupt_per_mille > 0 && rand::random_range(0..1000) < corrupt_per_mille {
        corrupt(out);
    }
    let damaged_first = damage.then(|| damaged(out));
    Some(Plan { copies: if duplicate { 2 } else { 1 }, delay, damaged_first })
}

/// Sends a response later, from its own task, as the delay fault asks.
pub(super) fn send_later(
    socket: Arc<std::net::UdpSocket>,
    data: Vec<u8>,
    to: SocketAddr,
    plan: Plan,
) {
    tokio::spawn(async move {
        tokio::time::sleep(plan.delay).await;
        if let Some(d) = &plan.damaged_first {
            let _ = socket.send_to(d, to);
        }
        for _ in 0..plan.copies {
            let _ = socket.send_to(&data, to);
        }
    });
}
