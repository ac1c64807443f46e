//! Linux batched send: one `sendmmsg` per flush, and UDP generic segmentation offload
//! (`UDP_SEGMENT`, Linux 4.18) for datagrams of equal size to the same agent, which then
//! pass the IP stack once as a whole instead of once each. Agents receive ordinary
//! datagrams. If the kernel refuses segmentation, the socket stops using it.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::Outgoing;
use super::mmsg::write_sockaddr;

/// Datagrams handled per `sendmmsg`.
const SEND_BATCH: usize = 64;
/// Most segments in one offloaded send (the kernel's UDP_MAX_SEGMENTS is 64 or more).
const MAX_SEGMENTS: usize = 64;
/// Largest payload of one offloaded send, and largest datagram worth grouping (one segment
/// must fit a typical MTU).
const MAX_GSO_BYTES: usize = 60_000;
const MAX_GSO_SEGMENT: usize = 1400;
/// Wait before retrying a send that found the socket buffer full.
const FULL_RETRY: Duration = Duration::from_millis(1);

/// Datagrams of one `mmsghdr`: a run of `count` iovecs from `first`, all `len` bytes long.
#[derive(Clone, Copy)]
struct Group {
    to: SocketAddr,
    len: usize,
    first: usize,
    count: usize,
}

/// Room for one `UDP_SEGMENT` control message, aligned for `cmsghdr`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Cmsg([u8; 32]);

/// Headers for `sendmmsg`; the payloads stay in the queued [`Outgoing`] buffers.
pub struct SendBatch {
    gso: bool,
    groups: Vec<Group>,
    /// Index into the chunk of each iovec, in iovec order.
    members: Vec<usize>,
    group_of: Vec<usize>,
    names: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    cmsgs: Vec<Cmsg>,
}

// The raw pointers are rebuilt before each call and not used after it returns.
unsafe impl Send for SendBatch {}

impl SendBatch {
    pub fn new() -> Self {
        Self {
            gso: true,
            groups: Vec::with_capacity(SEND_BATCH),
            members: Vec::with_capacity(SEND_BATCH),
            group_of: Vec::with_capacity(SEND_BATCH),
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which
            // all-zero bytes are valid.
            names: vec![unsafe { std::mem::zeroed() }; SEND_BATCH],
            iovs: vec![unsafe { std::mem::zeroed() }; SEND_BATCH],
            hdrs: vec![unsafe { std::mem::zeroed() }; SEND_BATCH],
            cmsgs: vec![Cmsg([0; 32]); SEND_BATCH],
        }
    }

    /// Sends every datagram of `batch`. A datagram the kernel refuses fails its request's
    /// mailbox; the rest still go out. A full send buffer (rare for UDP: the kernel hands
    /// datagrams on at once) is retried after [`FULL_RETRY`], as the socket is not
    /// registered for writability.
    pub async fn send_all(&mut self, socket: &impl AsRawFd, batch: &[Outgoing]) {
        for chunk in batch.chunks(SEND_BATCH) {
            let mut msgs: Vec<&Outgoing> = chunk.iter().collect();
            // A second round only after the kernel refused segmentation, for what was left.
            while !msgs.is_empty() {
                self.plan(&msgs);
                msgs = self.send_groups(socket, &msgs).await;
            }
        }
    }

    /// Sends the planned groups; returns the datagrams still to send if segmentation was
    /// refused (it is then off for this socket).
    async fn send_groups<'o>(
        &mut self,
        socket: &impl AsRawFd,
        msgs: &[&'o Outgoing],
    ) -> Vec<&'o Outgoing> {
        let mut g = 0;
        while g < self.groups.len() {
            match self.send(socket, g) {
                Ok(n) => g += n.max(1),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(FULL_RETRY).await;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if self.groups[g].count > 1 && refuses_gso(&e) => {
                    tracing::debug!(error = %e, "UDP segmentation offload refused; not used");
                    self.gso = false;
                    let from = self.groups[g].first;
                    return self.members[from..].iter().map(|&i| msgs[i]).collect();
                }
                // sendmmsg reports an error only for the first header it could not send.
                Err(e) => {
                    let gr = self.groups[g];
                    for &i in &self.members[gr.first..gr.first + gr.count] {
                        let copy = std::io::Error::new(e.kind(), format!("send failed: {e}"));
                        msgs[i].mailbox.fail(copy);
                    }
                    g += 1;
                }
            }
        }
        Vec::new()
    }

    /// Groups datagrams by destination and size (when segmentation is on) and lays out
    /// their iovecs group by group.
    fn plan(&mut self, msgs: &[&Outgoing]) {
        self.groups.clear();
        self.members.clear();
        self.group_of.clear();
        let mut counts: Vec<usize> = Vec::new();
        for m in msgs {
            let len = m.data.len();
            let groupable = self.gso && len > 0 && len <= MAX_GSO_SEGMENT;
            let found = groupable
                .then(|| {
                    self.groups.iter().enumerate().position(|(k, g)| {
                        g.to == m.to
                            && g.len == len
                            && counts[k] < MAX_SEGMENTS
                            && (counts[k] + 1) * len <= MAX_GSO_BYTES
                    })
                })
                .flatten();
            match found {
                Some(k) => {
                    counts[k] += 1;
                    self.group_of.push(k);
                }
                None => {
                    self.group_of.push(self.groups.len());
                    counts.push(1);
                    let len = if groupable { len } else { usize::MAX };
                    self.groups.push(Group { to: m.to, len, first: 0, count: 0 });
                }
            }
        }
        let mut next = 0;
        for (k, g) in self.groups.iter_mut().enumerate() {
            g.first = next;
            g.count = counts[k];
            next += counts[k];
        }
        self.members.resize(msgs.len(), 0);
        let mut fill: Vec<usize> = self.groups.iter().map(|g| g.first).collect();
        for (i, &k) in self.group_of.iter().enumerate() {
            self.members[fill[k]] = i;
            fill[k] += 1;
        }
        for (slot, &i) in self.members.iter().enumerate() {
            let d = &msgs[i].data;
            self.iovs[slot] =
                libc::iovec { iov_base: d.as_ptr() as *mut libc::c_void, iov_len: d.len() };
        }
        for (k, g) in self.groups.iter().enumerate() {
            let namelen = write_sockaddr(&mut self.names[k], g.to);
            self.hdrs[k].msg_len = 0;
            let h = &mut self.hdrs[k].msg_hdr;
            h.msg_name = (&mut self.names[k] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = namelen;
            h.msg_iov = &mut self.iovs[g.first];
            h.msg_iovlen = g.count as _;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            if g.count > 1 {
                let c = &mut self.cmsgs[k];
                h.msg_control = c.0.as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE(2) is 24 bytes, within the 32-byte aligned buffer the
                // header now points at; CMSG_FIRSTHDR/CMSG_DATA stay inside it.
                unsafe {
                    h.msg_controllen = libc::CMSG_SPACE(2) as _;
                    let cm = libc::CMSG_FIRSTHDR(h);
                    (*cm).cmsg_level = libc::SOL_UDP;
                    (*cm).cmsg_type = libc::UDP_SEGMENT;
                    (*cm).cmsg_len = libc::CMSG_LEN(2) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cm).cast::<u16>(), g.len as u16);
                }
            }
        }
    }

    /// One `sendmmsg` of the groups from `from` on; returns how many were sent.
    fn send(&mut self, socket: &impl AsRawFd, from: usize) -> std::io::Result<usize> {
        let n = self.groups.len() - from;
        // SAFETY: headers from..groups.len() point at live payloads, addresses and control
        // messages laid out by plan; the kernel only reads them.
        let r = unsafe {
            libc::sendmmsg(
                socket.as_raw_fd(),
                self.hdrs[from..].as_mut_ptr(),
                n as libc::c_uint,
                // c_int on glibc, c_uint on musl.
                libc::MSG_DONTWAIT as _,
            )
        };
        if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(r as usize) }
    }
}

/// Errors by which a kernel or route says it cannot segment (EIO for IPsec routes, EINVAL
/// when a segment exceeds the path MTU, ENOPROTOOPT/EOPNOTSUPP without support).
fn refuses_gso(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP)
    )
}
