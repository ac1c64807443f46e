//! Conditional GETs for the admin listener: a strong `ETag` computed from the body, and
//! `304 Not Modified` when `If-None-Match` names it (RFC 9110 sections 8.8.3 and 13.1.2).
//! The status page polls `/api/v1/fleet` this way, so an unchanged fleet costs a header.

use std::hash::{Hash, Hasher};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// `Cache-Control` of what may change at any time: keep it, but ask before using it again.
pub const REVALIDATE: &str = "no-cache";

/// A strong entity tag for `body`: a 64-bit hash of it, quoted. Equal bodies get equal tags
/// within one build, which is what a cache revalidating against this server needs.
pub fn etag_of(body: &[u8]) -> HeaderValue {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    let tag = format!("\"{:016x}\"", h.finish());
    HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// Whether `If-None-Match` in `headers` matches `etag`: `*`, or any listed tag equal to it
/// under the weak comparison that RFC 9110 prescribes for this header.
pub fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = opaque(etag.to_str().unwrap_or_default());
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(str::trim).any(|tag| tag == "*" || opaque(tag) == ours))
}

fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// `body` with its `ETag`, or `304 Not Modified` with only the validators when the client
/// already holds it. `headers` are the request's.
pub fn respond(
    headers: &HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
    body: impl Into<Body> + AsRef<[u8]>,
) -> Response {
    let etag = etag_of(body.as_ref());
    respond_tagged(headers, content_type, cache_control, etag, body)
}

/// [`respond`] with a tag computed beforehand (for bodies that never change).
pub fn respond_tagged(
    headers: &HeaderMap,
    content_type: &'static str,
    cache_control: &'static str,
    etag: HeaderValue,
    body: impl Into<Body>,
) -> Response {
    let fresh = none_match(headers, &etag);
    let mut response = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(body.into());
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_inm(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn equal_bodies_share_a_tag_and_different_ones_do_not() {
        assert_eq!(etag_of(b"{\"a\":1}"), etag_of(b"{\"a\":1}"));
        assert_ne!(etag_of(b"{\"a\":1}"), etag_of(b"{\"a\":2}"));
        let tag = etag_of(b"x");
        let text = tag.to_str().unwrap();
        assert!(text.starts_with('"') && text.ends_with('"') && text.len() == 18, "{text}");
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison_and_lists() {
        let tag = etag_of(b"body");
        let t = tag.to_str().unwrap();
        assert!(none_match(&with_inm(t), &tag));
        assert!(none_match(&with_inm(&format!("W/{t}")), &tag));
        assert!(none_match(&with_inm(&format!("\"other\", {t}")), &tag));
        assert!(none_match(&with_inm("*"), &tag));
        assert!(!none_match(&with_inm("\"other\""), &tag));
        assert!(!none_match(&HeaderMap::new(), &tag));
    }

    #[test]
    fn a_matching_tag_gets_304_without_a_body() {
        let tag = etag_of(b"body");
        let r = respond(&with_inm(tag.to_str().unwrap()), "text/plain", REVALIDATE, "body");
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[header::ETAG], tag);
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());
        let r = respond(&HeaderMap::new(), "text/plain", REVALIDATE, "body");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/plain");
    }
}
