//! `grpc`: `grpc.health.v1.Health/Check` on a pooled HTTP/2 session, cleartext (h2c) or over
//! TLS with ALPN `h2`. The request and response
//! messages have one field each, so they are encoded by hand (protobuf wire format: field 1,
//! length-delimited string / varint enum) instead of pulling in code generation.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::tls::TlsSetup;
use super::tls::{TlsClient, tls_client_problems};
use crate::error::ProbeError;
use crate::outcome::{FailureCause, ProbeOutcome, Tier};
use serde::{Deserialize, Serialize};
use switchyard_config::Problems;

/// `kind = "grpc"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GrpcCheck {
    /// Service name in `HealthCheckRequest.service`; empty asks about the whole server.
    #[serde(default)]
    pub service: String,
    /// `:authority` sent. Default: the node address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Use TLS with these settings. ALPN defaults to `["h2"]`, and the server name to the
    /// `authority` host, else `localhost`. Default: cleartext HTTP/2 (h2c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsClient>,
}

impl GrpcCheck {
    pub(crate) fn problems(&self, p: &mut Problems) {
        let host = match self.authority.as_deref().map(checked_authority_host) {
            Some(Err(why)) => {
                let a = self.authority.as_deref().unwrap_or_default();
                p.push("authority", format!("`{a}` {why}; use host, host:port or [v6]:port"));
                None
            }
            Some(Ok(host)) => Some(host),
            None => None,
        };
        if let Some(t) = &self.tls {
            tls_client_problems(p, "tls", t, host.map(|h| ("authority", h)));
            if !t.alpn.is_empty() && !t.alpn.iter().any(|a| a == "h2") {
                p.push(
                    "tls.alpn",
                    format!(
                        "{:?} lacks `h2`: gRPC runs over HTTP/2, and a TLS server only speaks it \
                         when h2 is negotiated; add \"h2\" or leave `alpn` empty (offers h2)",
                        t.alpn
                    ),
                );
            }
        }
    }
}

/// The host of a URI authority (`host`, `host:port`, `[v6]` or `[v6]:port`), without brackets:
/// the name TLS presents when `sni` is not set. Errors say what is wrong with `a`.
fn checked_authority_host(a: &str) -> Result<&str, String> {
    if let Err(e) = a.parse::<hyper::http::uri::Authority>() {
        if !a.starts_with('[') && a.parse::<std::net::Ipv6Addr>().is_ok() {
            return Err(format!("is an IPv6 address without brackets: write `[{a}]`"));
        }
        return Err(format!("is not a valid URI authority ({e})"));
    }
    if a.contains('@') {
        return Err("carries user info (`user@`), which an :authority must not".to_owned());
    }
    let (host, port) = match a.strip_prefix('[') {
        Some(rest) => {
            let (v6, after) = rest.split_once(']').unwrap_or((rest, ""));
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("has `[{v6}]`, which is not an IPv6 address"));
            }
            (v6, after.strip_prefix(':'))
        }
        None => match a.split_once(':') {
            Some((h, port)) => (h, Some(port)),
            None => (a, None),
        },
    };
    if host.is_empty() {
        return Err("has no host".to_owned());
    }
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(format!("has port `{port}`, which is not a number from 1 to 65535"));
    }
    Ok(host)
}

pub(crate) type Conn = SendRequest<Full<Bytes>>;

/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: u64 = 1;

#[derive(Debug)]
pub(crate) struct CompiledGrpc {
    message: Bytes,
    authority: Option<String>,
    tls: Option<TlsSetup>,
}

impl CompiledGrpc {
    pub(crate) fn new(c: &GrpcCheck) -> Result<Self, ProbeError> {
        let mut msg = Vec::new();
        if !c.service.is_empty() {
            msg.push(0x0a); // field 1, wire type 2
            put_varint(&mut msg, c.service.len() as u64);
            msg.extend_from_slice(c.service.as_bytes());
        }
        // gRPC length-prefixed message: compressed flag, 4-byte big-endian length.
        let mut framed = vec![0u8];
        framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        framed.extend_from_slice(&msg);
        let tls = match &c.tls {
            Some(t) => {
                let mut t = t.clone();
                if t.alpn.is_empty() {
                    // gRPC needs HTTP/2; servers that negotiate ALPN refuse anything else.
                    t.alpn = vec!["h2".to_owned()];
                }
                let host = c.authority.as_deref().map(authority_host);
                Some(TlsSetup::new(&t, host)?)
            }
            None => None,
        };
        Ok(CompiledGrpc { message: Bytes::from(framed), authority: c.authority.clone(), tls })
    }

    pub(crate) async fn run(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        pool: &mut Option<Conn>,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        let mut sender = match pool.take() {
            Some(s) if s.is_ready() => {
                out.reused_connection = true;
                out.phases.connect = Some(Duration::ZERO);
                out.tier = Tier::L2Handshake;
                s
            }
            _ => {
                let Some(tcp) = super::connect(addr, connect_timeout, out, start).await else {
                    return;
                };
                let sender = match &self.tls {
                    None => handshake(tcp).await,
                    Some(setup) => match setup.handshake(tcp, out, start).await {
                        Some(s) => handshake(s).await,
                        None => return,
                    },
                };
                // The client preface is written without waiting for the server's SETTINGS:
                // the HTTP/2 session is proven (tier L2) only by the server's response.
                let Some(sender) = sender else { return out.fail(FailureCause::Protocol) };
                sender
            }
        };
        let authority = self.authority.clone().unwrap_or_else(|| addr.to_string());
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let req = hyper::Request::builder()
            .method("POST")
            .uri(format!("{scheme}://{authority}/grpc.health.v1.Health/Check"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(self.message.clone()));
        let Ok(req) = req else { return out.fail(FailureCause::Protocol) };
        if sender.ready().await.is_err() {
            return out.fail(FailureCause::Closed);
        }
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => return out.fail(hyper_cause(&e)),
        };
        out.phases.first_byte = Some(start.elapsed());
        out.tier = out.tier.max(Tier::L2Handshake);
        *pool = Some(sender);
        let (parts, body) = resp.into_parts();
        out.status = Some(parts.status.as_u16());
        if parts.status != hyper::StatusCode::OK {
            out.tier = Tier::L3Service;
            return out.fail(FailureCause::BadStatus);
        }
        let collected = match body.collect().await {
            Ok(c) => c,
            Err(e) => return out.fail(hyper_cause(&e)),
        };
        out.tier = Tier::L3Service;
        let grpc_status = collected
            .trailers()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| parts.headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u16>().ok());
        match grpc_status {
            Some(0) => {}
            Some(_) => return out.fail(FailureCause::BadStatus),
            None => return out.fail(FailureCause::Protocol),
        }
        let data = collected.to_bytes();
        match parse_status(&data) {
            Some(SERVING) => {
                out.status = Some(SERVING as u16);
                out.pass(None)
            }
            Some(s) => {
                out.status = Some(s.min(u16::MAX as u64) as u16);
                out.fail(FailureCause::NotServing)
            }
            None => out.fail(FailureCause::Protocol),
        }
    }
}

/// The HTTP/2 client handshake on a connected stream; its connection driver runs in its own
/// task and ends when the sender is dropped or the peer goes away.
async fn handshake<S>(io: S) -> Option<Conn>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(io))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(sender)
}

/// The host part of an `:authority` (`host`, `host:port` or `[v6]:port`), for SNI.
pub(crate) fn authority_host(a: &str) -> &str {
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => a,
    }
}

fn hyper_cause(e: &hyper::Error) -> FailureCause {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return FailureCause::from_io(io);
        }
        src = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() {
        FailureCause::Closed
    } else {
        FailureCause::Protocol
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Extracts `status` (field 1) from one length-prefixed `HealthCheckResponse`; an absent field
/// is the proto3 default, UNKNOWN (0).
pub(crate) fn parse_status(framed: &[u8]) -> Option<u64> {
    if framed.len() < 5 || framed[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes(framed[1..5].try_into().ok()?) as usize;
    let msg = framed.get(5..5 + len)?;
    let mut i = 0;
    let mut status = 0;
    while i < msg.len() {
        let (key, n) = get_varint(&msg[i..])?;
        i += n;
        match key & 7 {
            0 => {
                let (v, n) = get_varint(&msg[i..])?;
                i += n;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            2 => {
                let (l, n) = get_varint(&msg[i..])?;
                i = i.checked_add(n)?.checked_add(usize::try_from(l).ok()?)?;
            }
            5 => i += 4,
            1 => i += 8,
            _ => return None,
        }
    }
    (i == msg.len()).then_some(status)
}
