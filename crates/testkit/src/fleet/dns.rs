//! DNS-over-UDP nodes answering A queries with their own address (RFC 1035 section 4).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::node::NodeHandle;
use super::plan::Behavior;

/// Serves queries until cancelled. [`Behavior::Refuse`] closes the socket, so queries draw an
/// ICMP port unreachable, and rebinds on the next change.
pub(crate) async fn serve(sock: UdpSocket, node: NodeHandle, cancel: CancellationToken) {
    let addr = node.addr();
    let mut sock = Some(Arc::new(sock));
    let mut buf = vec![0u8; 4096];
    let mut changes = node.subscribe();
    loop {
        let refusing = matches!(changes.borrow_and_update().behavior, Behavior::Refuse);
        if refusing {
            sock = None;
        } else if sock.is_none() {
            match UdpSocket::bind(addr).await {
                Ok(s) => sock = Some(Arc::new(s)),
                Err(e) => tracing::warn!(%addr, error = %e, "simulated DNS node cannot rebind"),
            }
        }
        let Some(s) = sock.clone() else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = changes.changed() => if r.is_err() { return } else { continue },
            }
        };
        let (len, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            r = changes.changed() => if r.is_err() { return } else { continue },
            r = s.recv_from(&mut buf) => match r { Ok(v) => v, Err(_) => continue },
        };
        let (config, behavior) = node.next_request();
        let Some(reply) = answer(&buf[..len], &behavior, addr) else { continue };
        if config.latency.is_zero() {
            let _ = s.send_to(&reply, peer).await;
        } else {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = tokio::time::sleep(config.latency) => { let _ = s.send_to(&reply, peer).await; }
                }
            });
        }
    }
}

fn answer(query: &[u8], behavior: &Behavior, own: SocketAddr) -> Option<Vec<u8>> {
    match behavior {
        Behavior::Hang | Behavior::Refuse => return None,
        Behavior::Garbage => return Some(b"\x12\x34garbage-not-dns".to_vec()),
        _ => {}
    }
    let request = Message::from_vec(query).ok()?;
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.message_type = MessageType::Response;
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    for q in &request.queries {
        response.add_query(q.clone());
    }
    match behavior {
        Behavior::Status(rcode) => {
            response.metadata.response_code = <ResponseCode as From<u16>>::from(*rcode)
        }
        _ => {
            let ip = match own.ip() {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => Ipv4Addr::new(192, 0, 2, 1),
            };
            for q in &request.queries {
                if q.query_type() == RecordType::A {
                    response.add_answer(Record::from_rdata(q.name().clone(), 30, RData::A(A(ip))));
                }
            }
        }
    }
    response.to_vec().ok()
}
