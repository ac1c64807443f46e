//! Response building shared by the endpoints: the [`Reply`] every handler returns (rendered
//! by the axum adapter or written directly by the fast path), JSON serialized straight into
//! one pre-sized buffer, the no-store caching rule and `Host` parsing.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, Uri, Version, header};
use serde::Serialize;

/// `Content-Type` of every JSON answer.
pub fn json_type() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// `Cache-Control` of every answer: routing answers depend on who asks and on health at this
/// instant, so shared caches must not keep them.
pub fn no_store() -> HeaderValue {
    HeaderValue::from_static("no-store")
}

/// `Allow` of a `405`: the traffic endpoints only read.
pub const ALLOW: &str = "GET, HEAD";

/// `Allow` of the answer to `OPTIONS *`: what the server as a whole accepts, including the
/// `OPTIONS` that asked.
pub const ALLOW_SERVER: &str = "GET, HEAD, OPTIONS";

/// Size that holds a decision document (about 700 bytes with three alternates); one
/// allocation covers it.
const JSON_CAPACITY: usize = 1024;

/// What a traffic handler answers. Every answer is `Cache-Control: no-store`; a non-empty
/// body is JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// JSON body, or empty.
    pub body: Vec<u8>,
    /// `Location` of a redirect.
    pub location: Option<HeaderValue>,
    /// `Retry-After` in seconds.
    pub retry_after: Option<u64>,
    /// `Allow`: the methods accepted, on a `405` and on the answer to `OPTIONS *`.
    pub allow: Option<&'static str>,
}

impl Reply {
    /// A `302 Found` to `location`.
    pub fn found(location: HeaderValue) -> Self {
        Self {
            status: StatusCode::FOUND,
            body: Vec::new(),
            location: Some(location),
            retry_after: None,
            allow: None,
        }
    }

    /// `204 No Content` with `Allow`: the answer to `OPTIONS *` (RFC 9110 §9.3.7), which
    /// asks about the server rather than a resource, so it needs no service `Host`.
    pub fn server_options() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: Vec::new(),
            location: None,
            retry_after: None,
            allow: Some(ALLOW_SERVER),
        }
    }

    /// The reply as an HTTP response for hyper.
    pub fn into_response(self) -> Response<Body> {
        let json = !self.body.is_empty();
        let mut resp = Response::new(Body::from(self.body));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        if json {
            h.insert(header::CONTENT_TYPE, json_type());
        }
        h.insert(header::CACHE_CONTROL, no_store());
        if let Some(l) = self.location {
            h.insert(header::LOCATION, l);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if let Some(allow) = self.allow {
            h.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// A `200` (or `status`) JSON reply.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    let mut buf = Vec::with_capacity(JSON_CAPACITY);
    // Serializing plain structs of strings and numbers into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut buf, value);
    Reply { status, ..raw_json(buf) }
}

/// A `200` reply carrying a routing decision.
pub fn decision(view: &crate::views::DecisionView<'_>) -> Reply {
    let mut buf = Vec::with_capacity(JSON_CAPACITY);
    view.write_json(&mut buf);
    raw_json(buf)
}

/// A `200` reply carrying `body`, already JSON.
pub fn raw_json(body: Vec<u8>) -> Reply {
    Reply { status: StatusCode::OK, body, location: None, retry_after: None, allow: None }
}

/// Host name of the request without port: the URI authority (HTTP/2, absolute-form), else
/// the `Host` header. IPv6 literals keep no brackets. `None` when absent, empty, repeated or
/// invalid ([`check_host`] turns the last two, and an empty one on HTTP/1.1, into a 400
/// before any handler runs).
pub fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    if let Some(h) = uri.host() {
        return Some(h.trim_start_matches('[').trim_end_matches(']'));
    }
    let mut all = headers.get_all(header::HOST).iter();
    let host = all.next()?;
    if all.next().is_some() {
        return None;
    }
    host_field(host.as_bytes(), false).ok().flatten()
}

/// Why a request's `Host` makes it a `400 Bad Request` (RFC 9112 §3.2: "any request message
/// that contains more than one Host header field line or a Host header field with an
/// invalid field value").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHost {
    /// More than one `Host` line.
    Repeated,
    /// An empty `Host` on HTTP/1.1: an origin-form target then names no authority at all.
    Empty,
    /// Not `uri-host [ ":" port ]` (RFC 3986 §3.2.2, §3.2.3): a space, a `/`, a `@`, a port
    /// that is not digits, a host name left empty before its port, bytes outside ASCII.
    Invalid,
}

impl BadHost {
    /// The reason given in the `400` answer.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Repeated => "more than one Host header (RFC 9112 section 3.2)",
            Self::Empty => "empty Host header on HTTP/1.1 (RFC 9112 section 3.2)",
            Self::Invalid => "invalid Host header: not host[:port] (RFC 9112 section 3.2)",
        }
    }
}

/// Checks the `Host` lines of a request hyper parsed, as [`host_field`] does for each.
/// No `Host` at all passes: HTTP/2 carries the authority in the target, and an HTTP/1.1
/// request without one is answered by the endpoints that need a host.
pub fn check_host(version: Version, headers: &HeaderMap) -> Result<(), BadHost> {
    let mut all = headers.get_all(header::HOST).iter();
    let Some(first) = all.next() else { return Ok(()) };
    if all.next().is_some() {
        return Err(BadHost::Repeated);
    }
    host_field(first.as_bytes(), version == Version::HTTP_11).map(|_| ())
}

/// Validates one `Host` field value and returns its host without the port (IPv6 literals
/// without brackets). An empty value is [`BadHost::Empty`] on HTTP/1.1 (`http11`) and no
/// host otherwise. One pass over the bytes with a lookup table and no allocation: the fast
/// path runs it on every request.
pub fn host_field(value: &[u8], http11: bool) -> Result<Option<&str>, BadHost> {
    let value = value.trim_ascii();
    if value.is_empty() {
        return if http11 { Err(BadHost::Empty) } else { Ok(None) };
    }
    let (host, port) = match value.strip_prefix(b"[") {
        // IP-literal: an IPv6 address (or IPvFuture) in brackets.
        Some(rest) => {
            let end = rest.iter().position(|&b| b == b']').ok_or(BadHost::Invalid)?;
            let literal = &rest[..end];
            if literal.is_empty() || !literal.iter().all(|&b| b == b':' || REG_NAME[b as usize]) {
                return Err(BadHost::Invalid);
            }
            (literal, &rest[end + 1..])
        }
        None => {
            let end = value.iter().position(|&b| b == b':').unwrap_or(value.len());
            let name = &value[..end];
            if name.is_empty() || !reg_name(name) {
                return Err(BadHost::Invalid);
            }
            (name, &value[end..])
        }
    };
    // `port = *DIGIT`, so `example.com:` is valid.
    if let Some((&colon, digits)) = port.split_first()
        && (colon != b':' || !digits.iter().all(u8::is_ascii_digit))
    {
        return Err(BadHost::Invalid);
    }
    // Only ASCII passed the checks above.
    std::str::from_utf8(host).map(Some).map_err(|_| BadHost::Invalid)
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`, which also covers IPv4 literals.
fn reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b == b'%' {
            let hex = name.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
            if !hex {
                return false;
            }
            i += 3;
            continue;
        }
        if !REG_NAME[b as usize] {
            return false;
        }
        i += 1;
    }
    true
}

/// Bytes allowed in a `reg-name` besides `%` escapes: `unreserved` (ALPHA DIGIT `-._~`) and
/// `sub-delims` (`!$&'()*+,;=`), RFC 3986 §2.2-2.3. IP-literals use the same set plus `:`.
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'_' | b'~')
            || matches!(
                c,
                b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
            );
        b += 1;
    }
    t
};
