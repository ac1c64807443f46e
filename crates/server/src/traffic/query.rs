//! Query-string access without allocation: find a parameter's raw value, percent-decode it
//! only when it is encoded (`application/x-www-form-urlencoded`, WHATWG URL §5.1).

use std::borrow::Cow;

use super::errors::ApiError;

/// First raw (still encoded) value of `name` in `query`; a bare `name` gives `""`. `name`
/// holds no `=` or `&`.
pub fn raw<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    // memchr over the pairs: a decision reads three or four parameters of a short query,
    // where `split` and `split_once`'s searchers cost more than the bytes they search.
    let mut rest = query;
    loop {
        let end = memchr::memchr(b'&', rest.as_bytes()).unwrap_or(rest.len());
        let pair = &rest[..end];
        if let Some(after) = pair.strip_prefix(name) {
            match after.as_bytes().first() {
                None => return Some(""),
                Some(b'=') => return Some(&after[1..]),
                Some(_) => {}
            }
        }
        rest = rest.get(end + 1..)?;
    }
}

/// `query` without the pairs `drop(key, raw value)` selects, the others kept as sent and in
/// their order; borrows when none is dropped.
pub fn without<'a>(query: &'a str, drop: impl Fn(&str, &str) -> bool) -> Cow<'a, str> {
    let dropped = |pair: &str| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        drop(k, v)
    };
    if !query.split('&').any(dropped) {
        return Cow::Borrowed(query);
    }
    Cow::Owned(query.split('&').filter(|p| !dropped(p)).collect::<Vec<_>>().join("&"))
}

/// Decoded value of `name`, or `None` when absent. Malformed escapes and non-UTF-8 bytes are
/// a 400 naming the parameter.
pub fn get<'a>(query: &'a str, name: &'static str) -> Result<Option<Cow<'a, str>>, ApiError> {
    match raw(query, name) {
        None => Ok(None),
        Some(v) => decode(v)
            .map(Some)
            .ok_or_else(|| ApiError::bad(name, "malformed percent-encoding or not UTF-8")),
    }
}

/// Percent-decodes `v` (and `+` as space); borrows when nothing is encoded.
pub fn decode(v: &str) -> Option<Cow<'_, str>> {
    if memchr::memchr2(b'%', b'+', v.as_bytes()).is_none() {
        return Some(Cow::Borrowed(v));
    }
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = hex(*bytes.get(i + 1)?)?;
                let lo = hex(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `flag` is present and true-ish (`1`, `true`, `yes`, or bare).
pub fn flag(query: &str, name: &str) -> bool {
    matches!(raw(query, name), Some("" | "1" | "true" | "yes"))
}
