//! The RFC 7239 `Forwarded` header: a list of forwarded-elements, one per proxy hop, each a
//! `;`-separated list of `name=value` pairs (`for`, `by`, `proto`, `host`, extensions) whose
//! values are tokens or quoted strings.
//!
//! Two parameters are read. `for` is the node that made the request to the proxy that wrote
//! the element, and `proto` the scheme of that request (`http` or `https`, case-insensitive;
//! any other value is kept as unknown). `for` is an address (`192.0.2.43`, `"192.0.2.43:4711"`, `"[2001:db8::1]"`,
//! `"[2001:db8::1]:4711"`), `unknown`, or an obfuscated identifier (`_hidden`, §6.3). The
//! grammar is followed as written, with two leniencies seen in the wild: whitespace around
//! `;`, and an IPv6 address without brackets (`for="2001:db8::1"`, unambiguous).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a `for=` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// An address (any port dropped; IPv4-mapped IPv6 as IPv4).
    Addr(IpAddr),
    /// `unknown`: the proxy does not know, or will not say (§6.2).
    Unknown,
    /// An obfuscated identifier such as `_hidden` (§6.3).
    Obfuscated,
    /// Not a node (`for=example.com`, a bad address or port).
    Invalid,
}

/// One forwarded-element: what its `for` and `proto` parameters say, when it has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Element {
    /// The `for` node; `None` when the element has no `for`.
    pub node: Option<Node>,
    /// The `proto` scheme; `None` when the element has no `proto`.
    pub proto: Option<Proto>,
}

/// What a `proto=` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// `http`.
    Http,
    /// `https`.
    Https,
    /// A scheme this router does not redirect to (`ws`, `wss`, ...).
    Other,
}

impl Proto {
    /// A scheme as written (`proto = uri-scheme`, §5.4), case-insensitively.
    pub fn of(value: &[u8]) -> Self {
        if value.eq_ignore_ascii_case(b"https") {
            Self::Https
        } else if value.eq_ignore_ascii_case(b"http") {
            Self::Http
        } else {
            Self::Other
        }
    }

    /// Whether the request was made over `https`, when the scheme is one of the two.
    pub fn https(self) -> Option<bool> {
        match self {
            Self::Http => Some(false),
            Self::Https => Some(true),
            Self::Other => None,
        }
    }
}

/// A header line that does not follow the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// The elements of one `Forwarded` line, in order (the right-most was written by the proxy
/// nearest this server). Empty list elements (`a, , b`) are skipped, as RFC 9110 §5.6.1
/// asks of recipients.
pub fn parse(line: &[u8]) -> Result<Vec<Element>, Malformed> {
    let mut p = Parser { s: line, at: 0 };
    let mut elements = Vec::new();
    let mut current = Element::default();
    let mut pairs = 0;
    loop {
        p.skip_ows();
        match p.peek() {
            None => break,
            Some(b',') => {
                p.at += 1;
                if pairs > 0 {
                    elements.push(std::mem::take(&mut current));
                    pairs = 0;
                }
                continue;
            }
            Some(b';') => {
                p.at += 1;
                continue;
            }
            Some(_) => {}
        }
        let name = p.token().ok_or(Malformed)?;
        let (is_for, is_proto) =
            (name.eq_ignore_ascii_case(b"for"), name.eq_ignore_ascii_case(b"proto"));
        if p.peek() != Some(b'=') {
            return Err(Malformed);
        }
        p.at += 1;
        let value = p.value().ok_or(Malformed)?;
        pairs += 1;
        // "Each parameter MUST NOT occur more than once per forwarded-element" (§4).
        if is_for {
            if current.node.is_some() {
                return Err(Malformed);
            }
            current.node = Some(node(&value));
        } else if is_proto {
            if current.proto.is_some() {
                return Err(Malformed);
            }
            current.proto = Some(Proto::of(&value));
        }
        p.skip_ows();
        if !matches!(p.peek(), None | Some(b',' | b';')) {
            return Err(Malformed);
        }
    }
    if pairs > 0 {
        elements.push(current);
    }
    Ok(elements)
}

/// `node = nodename [ ":" node-port ]` (§6).
fn node(value: &[u8]) -> Node {
    let Ok(v) = std::str::from_utf8(value) else { return Node::Invalid };
    if v.eq_ignore_ascii_case("unknown") {
        return Node::Unknown;
    }
    if let Some(rest) = v.strip_prefix('_') {
        return if obfuscated(rest) { Node::Obfuscated } else { Node::Invalid };
    }
    let addr = if let Some(rest) = v.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else { return Node::Invalid };
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(port)) {
            return Node::Invalid;
        }
        inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else if let Ok(ip) = v.parse::<IpAddr>() {
        // A bare IPv4 address, or (leniently) an IPv6 one without brackets.
        Some(ip)
    } else {
        match v.split_once(':') {
            Some((ip, p)) if port(p) => ip.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
            _ => None,
        }
    };
    addr.map_or(Node::Invalid, |ip| Node::Addr(ip.to_canonical()))
}

/// `node-port = port / obfport`: 1 to 5 digits, or `_` and identifier characters.
fn port(p: &str) -> bool {
    match p.strip_prefix('_') {
        Some(rest) => obfuscated(rest),
        None => (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// The part of an obfuscated identifier after `_`: `1*(ALPHA / DIGIT / "." / "_" / "-")`.
fn obfuscated(rest: &str) -> bool {
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `tchar` (RFC 9110 §5.6.2).
fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        while self.peek().is_some_and(tchar) {
            self.at += 1;
        }
        (self.at > start).then(|| &self.s[start..self.at])
    }

    /// `token / quoted-string`, unescaped.
    fn value(&mut self) -> Option<Vec<u8>> {
        if self.peek() != Some(b'"') {
            return self.token().map(<[u8]>::to_vec);
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                    let escaped = self.peek().filter(|&c| c == b'\t' || c >= 0x20 && c != 0x7f)?;
                    self.at += 1;
                    out.push(escaped);
                }
                b'\t' | 0x20..=0x7e | 0x80..=0xff => out.push(b),
                _ => return None,
            }
        }
    }
}
