//! `http`/`https`: an HTTP/1.1 exchange on a pooled keep-alive connection (or a fresh one per
//! probe). The client is written against the socket: a probe needs one request and a bounded
//! response, and an idle pooled connection then costs a socket and nothing else, which is what
//! lets one process keep 100k nodes warm (RFC 9112 for message framing).

mod check;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use regex::bytes::Regex;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::tls::TlsSetup;
use crate::error::ProbeError;
use crate::outcome::{DegradedCause, FailureCause, ProbeOutcome, Tier};
pub use check::{HttpCheck, StatusRange};

const MAX_HEAD: usize = 32 * 1024;

/// Interim (1xx) responses skipped before the final one. Servers send one or two (100
/// Continue, 103 Early Hints); more means a peer that would keep the probe reading forever.
const MAX_INTERIM: usize = 8;

/// Longest chunk-size line, extensions and CRLF included. Without a bound a peer could grow
/// the read buffer with one endless line until the probe times out.
const MAX_CHUNK_LINE: usize = 4096;

/// Identity of a compiled spec, so a node's cached request bytes follow a spec change.
static NEXT_SPEC_ID: AtomicU64 = AtomicU64::new(1);

/// A node's request bytes, built on its first probe and reused until its spec or address
/// changes (only needed when the Host header is the node's address).
#[derive(Default)]
pub(crate) struct RequestCache {
    key: Option<(u64, SocketAddr)>,
    bytes: Vec<u8>,
}

/// A pooled connection and its read buffer.
pub(crate) struct Conn {
    io: Io,
    buf: Vec<u8>,
    /// SO_LINGER 0 was set when the socket was created.
    reset_armed: bool,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    /// Closes with RST rather than FIN: the probe has its answer, and skipping the FIN
    /// exchange leaves no TIME_WAIT socket behind per probe (HAProxy closes its checks the
    /// same way).
    fn abort(self) {
        if self.reset_armed {
            return;
        }
        super::close_with_reset(match &self.io {
            Io::Plain(s) => s,
            Io::Tls(s) => s.get_ref().0,
        });
    }
}

/// The TCP socket under a probe's stream, for socket options between reads and writes.
trait OverTcp {
    fn tcp(&self) -> &TcpStream;
}

impl OverTcp for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl OverTcp for TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

#[derive(Debug)]
pub(crate) struct CompiledHttp {
    id: u64,
    /// The whole request when the Host header does not depend on the node's address.
    fixed_request: Option<Vec<u8>>,
    request_line: String,
    extra_headers: String,
    head_request: bool,
    tls: Option<TlsSetup>,
    expected: Vec<StatusRange>,
    immediate_down: Vec<u16>,
    body_must: Option<Regex>,
    body_must_not: Option<Regex>,
    header_must: Vec<(String, Regex)>,
    header_must_not: Vec<(String, Regex)>,
    degraded_header: Option<String>,
    keep_alive: bool,
    max_body: usize,
}

fn compile(re: &str) -> Result<Regex, ProbeError> {
    Regex::new(re).map_err(|e| ProbeError::Regex(e.to_string()))
}

impl CompiledHttp {
    pub(crate) fn new(c: &HttpCheck) -> Result<Self, ProbeError> {
        let mut extra = String::new();
        for (k, v) in &c.headers {
            extra.push_str(&format!("{k}: {v}\r\n"));
        }
        extra.push_str(if c.keep_alive {
            "connection: keep-alive\r\n"
        } else {
            "connection: close\r\n"
        });
        extra.push_str("user-agent: switchyard-probe\r\naccept: */*\r\n\r\n");
        let tls = match &c.tls {
            Some(t) => Some(TlsSetup::new(t, c.host.as_deref())?),
            None => None,
        };
        let pairs = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| Ok((k.to_ascii_lowercase(), compile(v)?)))
                .collect::<Result<Vec<_>, ProbeError>>()
        };
        let mut compiled = CompiledHttp {
            id: NEXT_SPEC_ID.fetch_add(1, Ordering::Relaxed),
            fixed_request: None,
            request_line: format!("{} {} HTTP/1.1\r\n", c.method, c.path),
            extra_headers: extra,
            head_request: c.method == "HEAD",
            tls,
            expected: c.expected_status.clone(),
            immediate_down: c.immediate_down_status.clone(),
            body_must: c.body_must_match.as_deref().map(compile).transpose()?,
            body_must_not: c.body_must_not_match.as_deref().map(compile).transpose()?,
            header_must: pairs(&c.header_must_match)?,
            header_must_not: pairs(&c.header_must_not_match)?,
            degraded_header: (!c.degraded_header.is_empty())
                .then(|| c.degraded_header.to_ascii_lowercase()),
            keep_alive: c.keep_alive,
            max_body: c.max_body_bytes,
        };
        if let Some(h) = &c.host {
            compiled.fixed_request = Some(compiled.build_request(h));
        }
        Ok(compiled)
    }

    fn build_request(&self, host: &str) -> Vec<u8> {
        let mut r = String::with_capacity(self.request_line.len() + self.extra_headers.len() + 48);
        r.push_str(&self.request_line);
        r.push_str("host: ");
        r.push_str(host);
        r.push_str("\r\n");
        r.push_str(&self.extra_headers);
        r.into_bytes()
    }

    fn request<'a>(&'a self, addr: SocketAddr, cache: &'a mut RequestCache) -> &'a [u8] {
        if let Some(r) = &self.fixed_request {
            return r;
        }
        if cache.key != Some((self.id, addr)) {
            cache.bytes = self.build_request(&addr.to_string());
            cache.key = Some((self.id, addr));
        }
        &cache.bytes
    }

    pub(crate) async fn run(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        pool: &mut Option<Conn>,
        cache: &mut RequestCache,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        let request = self.request(addr, cache);
        if self.keep_alive
            && let Some(mut conn) = pool.take()
        {
            out.reused_connection = true;
            out.phases.connect = Some(Duration::ZERO);
            out.tier = Tier::L2Handshake;
            match self.exchange(&mut conn, request, out, start).await {
                Exchange::Done { reusable } => {
                    if reusable {
                        *pool = Some(conn);
                    }
                    return;
                }
                // The server closed the idle connection before we wrote: retry once, fresh
                // (RFC 9112 section 9.3.1 allows retrying an idempotent request).
                Exchange::StaleBeforeAnswer => {
                    *out = ProbeOutcome::new();
                }
            }
        }
        // A connection used once closes with RST anyway: arm it before connecting. Plain
        // HTTP then writes once, so Nagle cannot delay it and TCP_NODELAY is not needed.
        let setup = super::SocketSetup {
            nodelay: self.keep_alive || self.tls.is_some(),
            reset_on_close: !self.keep_alive,
            writes_first: !self.keep_alive && self.tls.is_none(),
        };
        let Some(tcp) = super::connect_with(addr, connect_timeout, out, start, setup).await else {
            return;
        };
        let io = match &self.tls {
            None => Io::Plain(tcp),
            Some(setup) => match Box::pin(setup.handshake(tcp, out, start)).await {
                Some(s) => Io::Tls(Box::new(s)),
                None => return,
            },
        };
        let mut conn =
            Conn { io, buf: Vec::with_capacity(1024), reset_armed: setup.reset_on_close };
        if let Exchange::Done { reusable: true } =
            self.exchange(&mut conn, request, out, start).await
            && self.keep_alive
        {
            *pool = Some(conn);
        } else {
            conn.abort();
        }
    }

    async fn exchange(
        &self,
        conn: &mut Conn,
        request: &[u8],
        out: &mut ProbeOutcome,
        start: Instant,
    ) -> Exchange {
        conn.buf.clear();
        let reused = out.reused_connection;
        let r = match &mut conn.io {
            Io::Plain(s) => self.exchange_on(s, &mut conn.buf, request, out, start).await,
            Io::Tls(s) => {
                Box::pin(self.exchange_on(s.as_mut(), &mut conn.buf, request, out, start)).await
            }
        };
        match r {
            Ok(reusable) => Exchange::Done { reusable },
            Err(cause) => {
                if reused
                    && out.phases.first_byte.is_none()
                    && matches!(cause, FailureCause::Closed | FailureCause::Reset)
                {
                    return Exchange::StaleBeforeAnswer;
                }
                out.fail(cause);
                Exchange::Done { reusable: false }
            }
        }
    }

    /// Writes the request, reads and judges the response. Returns whether the connection may be
    /// reused; protocol-level failures are `Err`, judged failures are recorded in `out`.
    async fn exchange_on<S: AsyncRead + AsyncWrite + Unpin + OverTcp>(
        &self,
        io: &mut S,
        buf: &mut Vec<u8>,
        request: &[u8],
        out: &mut ProbeOutcome,
        start: Instant,
    ) -> Result<bool, FailureCause> {
        io.write_all(request).await.map_err(|e| FailureCause::from_io(&e))?;
        io.flush().await.map_err(|e| FailureCause::from_io(&e))?;
        if out.reused_connection {
            // A request written soon after the previous reply (within the delayed-ACK
            // timeout) puts Linux in "ping-pong" mode, where the reply is acknowledged late.
            // A server that writes header and body apart without TCP_NODELAY then holds the
            // body until that ACK: 40 ms or more per probe. Asking for quick ACKs now, after
            // the write, leaves that mode for this reply.
            let _ = socket2::SockRef::from(io.tcp()).set_tcp_quickack(true);
        }
        let mut interim = 0;
        let head = loop {
            match self.parse_head(buf)? {
                // An interim response is not the answer (RFC 9110 section 15.2): judging it
                // would misreport the node, and pooling the connection after it would leave
                // the real answer to be read as the next probe's. The bytes after it are the
                // next head. 101 ends HTTP/1.1 on the connection, so it is final.
                Some(h) if (100..200).contains(&h.status) && h.status != 101 => {
                    interim += 1;
                    if interim > MAX_INTERIM {
                        return Err(FailureCause::Protocol);
                    }
                    buf.drain(..h.len);
                    continue;
                }
                Some(h) => break h,
                None if buf.len() > MAX_HEAD => return Err(FailureCause::Protocol),
                None => {}
            }
            if read_more(io, buf).await? == 0 {
                return Err(FailureCause::Closed);
            }
            // Time to first byte is the server's first reaction, interim response or not.
            if out.phases.first_byte.is_none() {
                out.phases.first_byte = Some(start.elapsed());
            }
        };
        out.tier = Tier::L2Handshake;
        out.status = Some(head.status);
        if head.status == 101 {
            // The server switched protocols: a health endpoint that does so is not answering
            // the probe, whatever the accepted statuses, and the connection no longer
            // speaks HTTP/1.1, so it is not pooled.
            out.tier = Tier::L3Service;
            out.immediate_down = self.immediate_down.contains(&head.status);
            out.fail(FailureCause::BadStatus);
            return Ok(false);
        }
        let no_body = self.head_request || head.status == 204 || head.status == 304;
        let (body, complete) = if no_body {
            (Body::InBuf(0..0), buf.len() == head.len)
        } else {
            read_body(io, buf, &head, self.max_body).await?
        };
        let body = body.bytes(buf);
        let reusable = complete && !head.close;
        out.tier = Tier::L3Service;
        if !self.expected.iter().any(|r| r.contains(head.status)) {
            out.immediate_down = self.immediate_down.contains(&head.status);
            out.fail(FailureCause::BadStatus);
            return Ok(reusable);
        }
        if !head.headers_ok {
            out.fail(FailureCause::HeaderMismatch);
            return Ok(reusable);
        }
        let body_ok = self.body_must.as_ref().is_none_or(|r| r.is_match(body))
            && !self.body_must_not.as_ref().is_some_and(|r| r.is_match(body));
        if !body_ok {
            out.fail(FailureCause::BodyMismatch);
            return Ok(reusable);
        }
        out.pass(head.degraded.then_some(DegradedCause::Header));
        Ok(reusable)
    }

    fn parse_head(&self, buf: &[u8]) -> Result<Option<Head>, FailureCause> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(FailureCause::Protocol),
        };
        let status = resp.code.ok_or(FailureCause::Protocol)?;
        let mut head = Head {
            len,
            status,
            framing: Framing::Close,
            close: resp.version == Some(0),
            degraded: false,
            headers_ok: true,
        };
        let mut content_length = None;
        let mut transfer_coding = None;
        let mut seen_must = vec![false; self.header_must.len()];
        for h in resp.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let n = parse_content_length(h.value)?;
                // Two different lengths leave the message end unknown: guessing one could
                // desynchronise the pooled connection (RFC 9112 section 6.3).
                if content_length.is_some_and(|c| c != n) {
                    return Err(FailureCause::Protocol);
                }
                content_length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                // The last coding is the one that frames the message.
                let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
                transfer_coding = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                let v = h.value.to_ascii_lowercase();
                if v.windows(5).any(|w| w == b"close") {
                    head.close = true;
                }
            }
            if let Some(d) = &self.degraded_header
                && name.eq_ignore_ascii_case(d)
            {
                let v = h.value.trim_ascii();
                head.degraded = !(v == b"0" || v.eq_ignore_ascii_case(b"false") || v.is_empty());
            }
            for (i, (n, re)) in self.header_must.iter().enumerate() {
                if name.eq_ignore_ascii_case(n) {
                    seen_must[i] = true;
                    if !re.is_match(h.value) {
                        head.headers_ok = false;
                    }
                }
            }
            for (n, re) in &self.header_must_not {
                if name.eq_ignore_ascii_case(n) && re.is_match(h.value) {
                    head.headers_ok = false;
                }
            }
        }
        if seen_must.contains(&false) {
            head.headers_ok = false;
        }
        // Transfer-Encoding overrides Content-Length; a response whose last coding is not
        // chunked ends when the connection closes (RFC 9112 section 6.3).
        head.framing = match (transfer_coding, content_length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::Close,
            (None, Some(n)) => Framing::Length(n),
        };
        Ok(Some(head))
    }
}

/// Where the body read for judging is: in the read buffer, or reassembled from chunks.
enum Body {
    InBuf(Range<usize>),
    Owned(Vec<u8>),
}

impl Body {
    fn bytes<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        match self {
            Body::InBuf(r) => &buf[r.clone()],
            Body::Owned(v) => v,
        }
    }
}

enum Exchange {
    Done { reusable: bool },
    StaleBeforeAnswer,
}

/// How the end of a response body is found.
#[derive(Clone, Copy)]
enum Framing {
    Chunked,
    /// The Content-Length value, as sent by the peer (it may be far beyond `max_body`).
    Length(usize),
    /// Read until the peer closes.
    Close,
}

struct Head {
    len: usize,
    status: u16,
    framing: Framing,
    close: bool,
    degraded: bool,
    headers_ok: bool,
}

async fn read_more<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
) -> Result<usize, FailureCause> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    let n = io.read_buf(buf).await.map_err(|e| FailureCause::from_io(&e))?;
    Ok(n)
}

/// A Content-Length value: digits only (RFC 9110 section 8.6). A value too large for `usize`
/// cannot frame anything the probe could read, so it is a protocol failure too.
fn parse_content_length(v: &[u8]) -> Result<usize, FailureCause> {
    let v = v.trim_ascii();
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(FailureCause::Protocol);
    }
    std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).ok_or(FailureCause::Protocol)
}

/// Reads until `buf` holds at least `len` bytes; the peer closing first is a failure.
async fn fill<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    len: usize,
) -> Result<(), FailureCause> {
    while buf.len() < len {
        if read_more(io, buf).await? == 0 {
            return Err(FailureCause::Closed);
        }
    }
    Ok(())
}

/// Reads the body per RFC 9112 section 6.3. Returns the body (at most `max` bytes) and whether
/// the message ended exactly at the end of what was read (so the connection can be reused).
/// Lengths come from the peer: every offset built from one is checked or clamped to `max`.
async fn read_body<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    head: &Head,
    max: usize,
) -> Result<(Body, bool), FailureCause> {
    match head.framing {
        Framing::Chunked => read_chunked(io, buf, head.len, max).await,
        Framing::Length(cl) => {
            // Only the part that is judged is waited for.
            let want = head.len.saturating_add(cl.min(max));
            fill(io, buf, want).await?;
            // Reusable when the whole message, and nothing after it, was read, even if only
            // its first `max` bytes are judged.
            let complete = head.len.checked_add(cl) == Some(buf.len());
            Ok((Body::InBuf(head.len..want), complete))
        }
        Framing::Close => {
            let limit = head.len.saturating_add(max);
            while buf.len() < limit {
                if read_more(io, buf).await? == 0 {
                    break;
                }
            }
            let end = buf.len().min(limit);
            Ok((Body::InBuf(head.len..end), false))
        }
    }
}

/// Drops the bytes before `pos` (already parsed, their chunk data copied out), then reads.
/// Keeping the buffer to the unparsed bytes bounds it however many chunks the body has.
async fn read_after<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    pos: &mut usize,
) -> Result<(), FailureCause> {
    if *pos > 0 {
        buf.drain(..*pos);
        *pos = 0;
    }
    if read_more(io, buf).await? == 0 {
        return Err(FailureCause::Closed);
    }
    Ok(())
}

/// Reads a chunked body (RFC 9112 section 7.1) from `buf[start..]`, keeping its first `max`
/// bytes. Once those are kept, the rest of the message is parsed only from bytes already read:
/// the connection stays reusable if all of it came in, and no read is spent on bytes that are
/// not judged.
async fn read_chunked<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut Vec<u8>,
    start: usize,
    max: usize,
) -> Result<(Body, bool), FailureCause> {
    let mut body = Vec::new();
    let mut pos = start;
    let mut truncated = false;
    loop {
        let (line, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => {
                if buf.len() - pos > MAX_CHUNK_LINE {
                    return Err(FailureCause::Protocol);
                }
                if truncated {
                    return Ok((Body::Owned(body), false));
                }
                read_after(io, buf, &mut pos).await?;
                continue;
            }
            Err(_) => return Err(FailureCause::Protocol),
        };
        // httparse reads an empty size as 0; a chunk size has at least one digit.
        if line > MAX_CHUNK_LINE || !buf[pos].is_ascii_hexdigit() {
            return Err(FailureCause::Protocol);
        }
        // No chunk can be larger than memory: such a size is a broken or hostile peer, and
        // it must not wrap an offset.
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= isize::MAX as usize)
            .ok_or(FailureCause::Protocol)?;
        if size == 0 {
            // Last chunk; trailers (if any) end with an empty line.
            let end = loop {
                let rest = &buf[pos + line..];
                if rest.starts_with(b"\r\n") {
                    break line + 2;
                }
                if let Some(j) = find(rest, b"\r\n\r\n") {
                    break line + j + 4;
                }
                if rest.len() > MAX_HEAD {
                    return Err(FailureCause::Protocol);
                }
                if truncated {
                    return Ok((Body::Owned(body), false));
                }
                read_after(io, buf, &mut pos).await?;
            };
            return Ok((Body::Owned(body), pos + end == buf.len()));
        }
        // Offsets from here on are relative to `pos`: the chunk line, data, CRLF.
        let end =
            line.checked_add(size).and_then(|e| e.checked_add(2)).ok_or(FailureCause::Protocol)?;
        // The part of this chunk that is kept (none once the body is full).
        let take = size.min(max - body.len());
        while buf.len() - pos < line + take {
            read_after(io, buf, &mut pos).await?;
        }
        body.extend_from_slice(&buf[pos + line..pos + line + take]);
        truncated |= take < size;
        if buf.len() - pos < end {
            if truncated {
                return Ok((Body::Owned(body), false));
            }
            while buf.len() - pos < end {
                read_after(io, buf, &mut pos).await?;
            }
        }
        // The data must end where its size says; anything else means the framing is lost.
        if &buf[pos + end - 2..pos + end] != b"\r\n" {
            return Err(FailureCause::Protocol);
        }
        pos += end;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
