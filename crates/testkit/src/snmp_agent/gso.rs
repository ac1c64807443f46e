//! Sending a batch of responses: datagrams of equal size to the same manager leave in one
//! `sendmsg` with UDP generic segmentation offload (`UDP_SEGMENT`, Linux 4.18), so they cross
//! the IP stack once; the manager still receives one datagram per response. Elsewhere, or if
//! the kernel refuses it, each datagram is sent on its own.

use std::io::IoSlice;
use std::net::SocketAddr;

/// Most segments per offloaded send, and most bytes (the whole must fit one IP packet).
const MAX_SEGMENTS: usize = 64;
const MAX_BYTES: usize = 60_000;
/// Larger responses are sent alone (a segment must fit the path MTU).
const MAX_SEGMENT: usize = 1400;

/// Responses of one cycle, back to back in `data`.
#[derive(Default)]
pub(super) struct Outgoing {
    data: Vec<u8>,
    /// (peer, start, len) per datagram to send.
    sends: Vec<(SocketAddr, usize, usize)>,
    gso_off: bool,
}

impl Outgoing {
    pub(super) fn clear(&mut self) {
        self.data.clear();
        self.sends.clear();
    }

    /// Queues `copies` datagrams of `msg` to `to`.
    pub(super) fn push(&mut self, to: SocketAddr, msg: &[u8], copies: usize) {
        let start = self.data.len();
        self.data.extend_from_slice(msg);
        for _ in 0..copies {
            self.sends.push((to, start, msg.len()));
        }
    }

    /// Sends everything queued; a datagram the kernel refuses is dropped, as a real agent's
    /// would be.
    pub(super) fn flush(&mut self, socket: &std::net::UdpSocket) {
        // Group equal (peer, size) next to each other; order between datagrams is free.
        self.sends.sort_unstable_by_key(|&(to, _, len)| (to, len));
        let mut i = 0;
        while i < self.sends.len() {
            let (to, start, len) = self.sends[i];
            let mut j = i + 1;
            while j < self.sends.len()
                && self.sends[j].0 == to
                && self.sends[j].2 == len
                && j - i < MAX_SEGMENTS
                && (j - i + 1) * len <= MAX_BYTES
            {
                j += 1;
            }
            if j - i > 1 && len <= MAX_SEGMENT && !self.gso_off {
                if send_segmented(socket, to, &self.data, &self.sends[i..j], len).is_ok() {
                    i = j;
                    continue;
                }
                self.gso_off = true;
            }
            let _ = socket.send_to(&self.data[start..start + len], to);
            i += 1;
        }
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn send_segmented(
    socket: &std::net::UdpSocket,
    to: SocketAddr,
    data: &[u8],
    group: &[(SocketAddr, usize, usize)],
    segment: usize,
) -> std::io::Result<()> {
    // struct cmsghdr { size_t len; int level; int type; } + u16, padded to 8 bytes:
    // level SOL_UDP (17), type UDP_SEGMENT (103), from linux/udp.h.
    let mut cmsg = [0u8; 24];
    cmsg[..8].copy_from_slice(&18usize.to_ne_bytes());
    cmsg[8..12].copy_from_slice(&17i32.to_ne_bytes());
    cmsg[12..16].copy_from_slice(&103i32.to_ne_bytes());
    cmsg[16..18].copy_from_slice(&(segment as u16).to_ne_bytes());
    let slices: Vec<IoSlice<'_>> =
        group.iter().map(|&(_, start, len)| IoSlice::new(&data[start..start + len])).collect();
    let addr = socket2::SockAddr::from(to);
    let msg = socket2::MsgHdr::new().with_addr(&addr).with_buffers(&slices).with_control(&cmsg);
    socket2::SockRef::from(socket).sendmsg(&msg, 0).map(|_| ())
}

#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn send_segmented(
    _socket: &std::net::UdpSocket,
    _to: SocketAddr,
    _data: &[u8],
    _group: &[(SocketAddr, usize, usize)],
    _segment: usize,
) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
