//! Response building shared by the endpoints: the [`Reply`] every handler returns (rendered
//! by the axum adapter or written directly by the fast path), JSON serialized straight into
//! one pre-sized buffer, the no-store caching rule and `Host` parsing.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, Uri, header};
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

/// Typical size of a decision document; one allocation covers it.
const JSON_CAPACITY: usize = 512;

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

/// A `200` reply carrying `body`, already JSON.
pub fn raw_json(body: Vec<u8>) -> Reply {
    Reply { status: StatusCode::OK, body, location: None, retry_after: None, allow: None }
}

/// Host name of the request without port: the URI authority (HTTP/2, absolute-form), else
/// the `Host` header. IPv6 literals keep no brackets. `None` when absent, repeated (RFC 9112
/// §3.2 makes that a 400) or not UTF-8.
pub fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    if let Some(h) = uri.host() {
        return Some(h.trim_start_matches('[').trim_end_matches(']'));
    }
    let mut all = headers.get_all(header::HOST).iter();
    let host = all.next()?;
    if all.next().is_some() {
        return None;
    }
    strip_port(host.to_str().ok()?)
}

/// `example.com:8080` -> `example.com`; `[2001:db8::1]:80` -> `2001:db8::1`.
pub fn strip_port(host: &str) -> Option<&str> {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map(|(h, _)| h);
    }
    let h = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    (!h.is_empty()).then_some(h)
}
