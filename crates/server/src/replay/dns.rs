//! Replaying a DNS decision: a UDP query for the sample's name and type carrying its client
//! as an EDNS Client Subnet (RFC 7871; a plain address as a full-length subnet), so the
//! target localizes the same client whatever address the query comes from. The answer is
//! reduced to its RCODE and the sorted addresses.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::sampling::{ClientKey, Sample};

/// Sends `sample` to `addr` from a fresh socket and waits up to `timeout` for the answer
/// with its id.
pub(super) async fn send(
    addr: SocketAddr,
    sample: &Sample,
    id: u16,
    timeout: Duration,
) -> Result<String, String> {
    let query = build_query(sample, id)?;
    let bind: SocketAddr =
        if addr.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let sock = UdpSocket::bind(bind).await.map_err(|e| format!("bind: {e}"))?;
    sock.connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    sock.send(&query).await.map_err(|e| format!("send: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let wait = async {
        loop {
            let n = sock.recv(&mut buf).await.map_err(|e| format!("receive: {e}"))?;
            if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                return summary(&buf[..n]);
            }
        }
    };
    tokio::time::timeout(timeout, wait).await.map_err(|_| "timed out".to_owned())?
}

/// QTYPE of a sample's `qtype`.
fn qtype(sample: &Sample) -> Result<u16, String> {
    match sample.qtype.as_deref().map(str::to_ascii_uppercase).as_deref() {
        Some("A") | None => Ok(1),
        Some("AAAA") => Ok(28),
        Some("ANY") => Ok(255),
        Some(other) => Err(format!("record type {other:?} is not A, AAAA or ANY")),
    }
}

/// A query: one question, RD clear, an OPT record (1232-byte payload) with the ECS option.
pub(super) fn build_query(sample: &Sample, id: u16) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(64 + sample.host.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in sample.host.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        let len = u8::try_from(label.len()).ok().filter(|l| *l < 64);
        let len = len.ok_or_else(|| format!("label {label:?} is too long"))?;
        q.push(len);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype(sample)?.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    let (ip, prefix) = match sample.client {
        ClientKey::Addr(a @ IpAddr::V4(_)) => (a, 32),
        ClientKey::Addr(a @ IpAddr::V6(_)) => (a, 128),
        ClientKey::Subnet(n) => (n.network(), n.prefix_len()),
    };
    let (family, octets): (u16, Vec<u8>) = match ip {
        IpAddr::V4(a) => (1, a.octets().to_vec()),
        IpAddr::V6(a) => (2, a.octets().to_vec()),
    };
    let addr = &octets[..usize::from(prefix).div_ceil(8)];
    // OPT: root name, TYPE 41, CLASS = payload size, TTL 0, then the ECS option (code 8).
    q.extend_from_slice(&[0, 0, 41]);
    q.extend_from_slice(&1232u16.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0]);
    q.extend_from_slice(&(8 + addr.len() as u16).to_be_bytes());
    q.extend_from_slice(&8u16.to_be_bytes());
    q.extend_from_slice(&(4 + addr.len() as u16).to_be_bytes());
    q.extend_from_slice(&family.to_be_bytes());
    q.extend_from_slice(&[prefix, 0]);
    q.extend_from_slice(addr);
    Ok(q)
}

/// `RCODE addr,addr` with the A and AAAA answers sorted (`NOERROR 127.0.10.1`).
pub(super) fn summary(resp: &[u8]) -> Result<String, String> {
    let short = || "short answer".to_owned();
    if resp.len() < 12 {
        return Err(short());
    }
    let rcode = resp[3] & 0x0f;
    let qd = u16::from_be_bytes([resp[4], resp[5]]);
    let an = u16::from_be_bytes([resp[6], resp[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(resp, at).ok_or_else(short)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        at = skip_name(resp, at).ok_or_else(short)?;
        let fixed = resp.get(at..at + 10).ok_or_else(short)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data = resp.get(at + 10..at + 10 + len).ok_or_else(short)?;
        match (rtype, len) {
            (1, 4) => addrs.push(IpAddr::from(<[u8; 4]>::try_from(data).unwrap_or_default())),
            (28, 16) => addrs.push(IpAddr::from(<[u8; 16]>::try_from(data).unwrap_or_default())),
            _ => {}
        }
        at += 10 + len;
    }
    addrs.sort();
    let rcode = match rcode {
        0 => "NOERROR".to_owned(),
        2 => "SERVFAIL".to_owned(),
        3 => "NXDOMAIN".to_owned(),
        5 => "REFUSED".to_owned(),
        other => format!("RCODE{other}"),
    };
    let addrs: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    Ok(format!("{rcode} {}", addrs.join(",")))
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(b: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *b.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2).filter(|&end| end <= b.len()),
            l => at += 1 + usize::from(l),
        }
    }
}
