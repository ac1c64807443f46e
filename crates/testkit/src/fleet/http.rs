//! A small HTTP/1.1 server with per-request fault injection. Written against the socket rather
//! than through hyper so a fault (RST, garbage, a stalled body) can hit an already open
//! keep-alive connection at the exact request it was programmed for.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::node::{NodeHandle, TcpBacked, hang, reset};
use super::plan::Behavior;

const MAX_HEAD: usize = 16 * 1024;
const GARBAGE: &[u8] = b"\x00\x17\xfe\xffSIMULATED-GARBAGE\r\n\r\n\x01\x02";

/// Serves requests on one connection until the peer closes or a fault ends it.
pub(crate) async fn serve<S>(mut io: S, node: NodeHandle)
where
    S: AsyncRead + AsyncWrite + Unpin + TcpBacked,
{
    let mut buf = Vec::with_capacity(1024);
    // Response bytes are built here and reused, so a keep-alive connection allocates nothing
    // per request: the simulator has to serve 50k requests/s on one core for the benchmarks.
    let mut out = Vec::with_capacity(256);
    loop {
        let Some(req) = read_request(&mut io, &mut buf).await else { return };
        let (latency, behavior) = node.next_request_timing();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let keep_alive = req.keep_alive;
        let body_allowed = !req.head;
        let result = match behavior {
            Behavior::Healthy => {
                respond(&mut io, &mut out, 200, &[], b"ok\n", body_allowed, keep_alive).await
            }
            Behavior::Status(code) => {
                let body = format!("status {code}\n");
                respond(&mut io, &mut out, code, &[], body.as_bytes(), body_allowed, keep_alive)
                    .await
            }
            Behavior::Degraded => {
                let h = [("x-switchyard-degraded", "1")];
                respond(&mut io, &mut out, 200, &h, b"ok degraded\n", body_allowed, keep_alive)
                    .await
            }
            Behavior::Body(b) => {
                respond(&mut io, &mut out, 200, &[], b.as_bytes(), body_allowed, keep_alive).await
            }
            Behavior::Hang => return hang(io).await,
            Behavior::Reset => return reset(io.tcp()),
            Behavior::SlowDrip { chunk_delay } => drip(&mut io, chunk_delay).await,
            Behavior::Trickle { byte_delay } => {
                let _ = trickle(&mut io, byte_delay).await;
                let _ = io.shutdown().await;
                return;
            }
            Behavior::Garbage => {
                let _ = io.write_all(GARBAGE).await;
                let _ = io.shutdown().await;
                return;
            }
            Behavior::Refuse | Behavior::Cycle(_) | Behavior::Flap { .. } => {
                let _ = io.shutdown().await;
                return;
            }
        };
        if result.is_err() || !keep_alive {
            let _ = io.shutdown().await;
            return;
        }
    }
}

struct Request {
    keep_alive: bool,
    head: bool,
}

/// Reads one request head and discards its body (Content-Length only; chunked request bodies
/// are not something a health checker sends).
async fn read_request<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> Option<Request> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let http10 = req.version == Some(0);
                let mut content_length = 0usize;
                let mut connection_close = http10;
                for h in req.headers.iter() {
                    if h.name.eq_ignore_ascii_case("content-length") {
                        content_length = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        let v = h.value.to_ascii_lowercase();
                        if v.windows(5).any(|w| w == b"close") {
                            connection_close = true;
                        } else if v.windows(10).any(|w| w == b"keep-alive") {
                            connection_close = false;
                        }
                    }
                }
                let head = req.method == Some("HEAD");
                let total = len.checked_add(content_length)?;
                while buf.len() < total {
                    if read_more(io, buf).await == 0 {
                        return None;
                    }
                }
                buf.drain(..total);
                return Some(Request { keep_alive: !connection_close, head });
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD || read_more(io, buf).await == 0 {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

async fn read_more<S: AsyncRead + Unpin>(io: &mut S, buf: &mut Vec<u8>) -> usize {
    if buf.capacity() - buf.len() < 512 {
        buf.reserve(2048);
    }
    io.read_buf(buf).await.unwrap_or(0)
}

async fn respond<S: AsyncWrite + Unpin>(
    io: &mut S,
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    body_allowed: bool,
    keep_alive: bool,
) -> std::io::Result<()> {
    use std::io::Write as _;
    out.clear();
    write!(out, "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\n", reason(status), body.len())?;
    out.extend_from_slice(b"content-type: text/plain\r\nserver: switchyard-sim\r\n");
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    for (k, v) in headers {
        write!(out, "{k}: {v}\r\n")?;
    }
    out.extend_from_slice(b"\r\n");
    if body_allowed {
        out.extend_from_slice(body);
    }
    io.write_all(out).await
}

async fn drip<S: AsyncWrite + Unpin>(io: &mut S, delay: Duration) -> std::io::Result<()> {
    let body = b"slow body from a simulated node\n";
    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
    io.write_all(head.as_bytes()).await?;
    io.flush().await?;
    for b in body {
        tokio::time::sleep(delay).await;
        io.write_all(std::slice::from_ref(b)).await?;
        io.flush().await?;
    }
    Ok(())
}

/// The whole answer, status line included, one byte per `delay`.
async fn trickle<S: AsyncWrite + Unpin>(io: &mut S, delay: Duration) -> std::io::Result<()> {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n";
    for b in answer {
        tokio::time::sleep(delay).await;
        io.write_all(std::slice::from_ref(b)).await?;
        io.flush().await?;
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
