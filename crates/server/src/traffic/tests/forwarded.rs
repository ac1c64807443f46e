//! RFC 7239 `Forwarded`: the parser, and the walk from the right past trusted proxies.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue};

use crate::metrics::Metrics;
use crate::traffic::client_ip::{AddrSource, Trust, resolve_with};
use crate::traffic::config::parse_proxy;
use crate::traffic::forwarded::{Malformed, Node, Proto, parse};
use crate::traffic::metrics::TrafficMetrics;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn nodes(line: &str) -> Result<Vec<Option<Node>>, Malformed> {
    parse(line.as_bytes()).map(|e| e.into_iter().map(|e| e.node).collect())
}

fn addr(s: &str) -> Option<Node> {
    Some(Node::Addr(ip(s)))
}

#[test]
fn the_examples_of_rfc_7239_parse() {
    // §4 and §7.1 examples.
    assert_eq!(nodes(r#"for="_gazonk""#), Ok(vec![Some(Node::Obfuscated)]));
    assert_eq!(nodes(r#"For="[2001:db8:cafe::17]:4711""#), Ok(vec![addr("2001:db8:cafe::17")]));
    assert_eq!(nodes("for=192.0.2.60;proto=http;by=203.0.113.43"), Ok(vec![addr("192.0.2.60")]));
    assert_eq!(
        nodes("for=192.0.2.43, for=198.51.100.17"),
        Ok(vec![addr("192.0.2.43"), addr("198.51.100.17")])
    );
    assert_eq!(nodes(r#"for="192.0.2.43:4711""#), Ok(vec![addr("192.0.2.43")]));
    assert_eq!(nodes(r#"for="192.0.2.43:_p1""#), Ok(vec![addr("192.0.2.43")]));
    assert_eq!(nodes("for=unknown"), Ok(vec![Some(Node::Unknown)]));
    assert_eq!(nodes("FOR=UNKNOWN"), Ok(vec![Some(Node::Unknown)]));
    assert_eq!(
        nodes(r#"for=192.0.2.43,for="[2001:db8:cafe::17]",for=unknown"#),
        Ok(vec![addr("192.0.2.43"), addr("2001:db8:cafe::17"), Some(Node::Unknown)])
    );
    // An element with no `for`, and other parameters (quoted, with separators inside).
    assert_eq!(nodes(r#"by=_x;host="a,b;c""#), Ok(vec![None]));
    assert_eq!(nodes(r#"proto=https;for=192.0.2.1;ext="x\"y""#), Ok(vec![addr("192.0.2.1")]));
}

#[test]
fn lenient_where_unambiguous_and_strict_elsewhere() {
    // Whitespace around separators, empty list elements, escapes, unbracketed IPv6,
    // IPv4-mapped addresses.
    assert_eq!(
        nodes(" for=192.0.2.1 ; proto=http , ,for=192.0.2.2,"),
        Ok(vec![addr("192.0.2.1"), addr("192.0.2.2")])
    );
    assert_eq!(nodes(r#"for="\[2001:db8::1\]""#), Ok(vec![addr("2001:db8::1")]));
    assert_eq!(nodes(r#"for="2001:db8::1""#), Ok(vec![addr("2001:db8::1")]));
    assert_eq!(nodes(r#"for="[::ffff:192.0.2.9]""#), Ok(vec![addr("192.0.2.9")]));
    assert_eq!(nodes(""), Ok(vec![]));
    // Not nodes: names, bad ports, empty obfuscation, a bracket left open.
    for bad in [
        "for=example.com",
        r#"for="192.0.2.1:123456""#,
        "for=_",
        r#"for="[::1""#,
        r#"for="[::1]x""#,
        "for=1.2.3.4.5",
        r#"for="192.0.2.1:""#,
    ] {
        assert_eq!(nodes(bad), Ok(vec![Some(Node::Invalid)]), "{bad}");
    }
    // Not the grammar: unquoted brackets and colons, a repeated `for`, no `=`, an open
    // quote, junk after a value, a control character in a quoted string.
    for bad in [
        "for=[2001:db8::1]",
        "for=192.0.2.1:80",
        "for=1.1.1.1;for=2.2.2.2",
        "for",
        "=1.1.1.1",
        r#"for="1.1.1.1"#,
        "for=1.1.1.1 x",
        "for=\"a\u{1}\"",
        "for=1.1.1.1,;=",
    ] {
        assert_eq!(nodes(bad), Err(Malformed), "{bad}");
    }
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        let name = axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        h.append(name, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn the_walk_believes_trusted_hops_only_and_forwarded_wins_over_x_forwarded_for() {
    let proxies = vec![parse_proxy("10.0.0.0/8").unwrap(), parse_proxy("2001:db8:f::/48").unwrap()];
    let metrics = Metrics::new();
    let traffic = TrafficMetrics::register(&metrics);
    let trust = Trust { proxies: &proxies, forwarded: true, metrics: Some(&traffic) };
    let r = |peer: &str, pairs: &[(&str, &str)]| {
        let c = resolve_with(ip(peer), &headers(pairs), trust);
        (c.ip, c.source)
    };
    let fwd = AddrSource::Forwarded;
    assert_eq!(r("10.0.0.1", &[("forwarded", "for=192.0.2.7")]), (ip("192.0.2.7"), fwd));
    // Walked from the right past trusted hops; what the client wrote further left is not read.
    let chain = "for=1.1.1.1, for=2.2.2.2;proto=https, for=\"[2001:db8:f::5]:81\"";
    assert_eq!(r("10.0.0.1", &[("forwarded", chain)]), (ip("2.2.2.2"), fwd));
    // Several lines are one list, in order.
    let lines =
        [("forwarded", "for=1.1.1.1"), ("forwarded", "for=2.2.2.2"), ("forwarded", "for=10.3.3.3")];
    assert_eq!(r("10.0.0.1", &lines), (ip("2.2.2.2"), fwd));
    // Every hop trusted: the left-most.
    assert_eq!(
        r("10.0.0.1", &[("forwarded", "for=10.1.1.1, for=10.2.2.2")]),
        (ip("10.1.1.1"), fwd)
    );
    // `unknown`, obfuscated or missing `for` ends the walk at the last vouched address.
    assert_eq!(r("10.0.0.1", &[("forwarded", "for=2.2.2.2, for=unknown")]).0, ip("10.0.0.1"));
    assert_eq!(r("10.0.0.1", &[("forwarded", "for=2.2.2.2, for=_hidden")]).0, ip("10.0.0.1"));
    assert_eq!(
        r("10.0.0.1", &[("forwarded", "for=2.2.2.2, for=10.9.9.9, by=_p")]).0,
        ip("10.0.0.1")
    );
    assert_eq!(r("10.0.0.1", &[("forwarded", "for=_hidden, for=10.9.9.9")]), (ip("10.9.9.9"), fwd));
    // Forwarded decides alone when present; X-MM-Client-IP wins over both.
    let both = [("x-forwarded-for", "3.3.3.3"), ("forwarded", "for=4.4.4.4")];
    assert_eq!(r("10.0.0.1", &both), (ip("4.4.4.4"), fwd));
    let all = [
        ("x-forwarded-for", "3.3.3.3"),
        ("forwarded", "for=4.4.4.4"),
        ("x-mm-client-ip", "5.5.5.5"),
    ];
    assert_eq!(r("10.0.0.1", &all), (ip("5.5.5.5"), AddrSource::MmClientIp));
    // Without Forwarded lines, X-Forwarded-For as before.
    assert_eq!(
        r("10.0.0.1", &[("x-forwarded-for", "3.3.3.3")]),
        (ip("3.3.3.3"), AddrSource::ForwardedFor)
    );
    // An untrusted peer's headers are never read.
    assert_eq!(
        r("192.0.2.1", &[("forwarded", "for=4.4.4.4")]),
        (ip("192.0.2.1"), AddrSource::Peer)
    );
    // Not trusted unless `trust_forwarded`: X-Forwarded-For (or the peer) decides.
    let off = Trust { forwarded: false, ..trust };
    let c = resolve_with(ip("10.0.0.1"), &headers(&both), off);
    assert_eq!((c.ip, c.source), (ip("3.3.3.3"), AddrSource::ForwardedFor));
    let c = resolve_with(ip("10.0.0.1"), &headers(&[("forwarded", "for=4.4.4.4")]), off);
    assert_eq!(c.source, AddrSource::Peer);

    // Malformed values end the walk and are counted per header.
    let before = |h: &str| count(&metrics, h);
    let (f, x, m) = (before("forwarded"), before("x-forwarded-for"), before("x-mm-client-ip"));
    assert_eq!(r("10.0.0.1", &[("forwarded", "for=2.2.2.2, for=[::1]")]).0, ip("10.0.0.1"));
    assert_eq!(r("10.0.0.1", &[("forwarded", "for=2.2.2.2, for=example.com")]).0, ip("10.0.0.1"));
    assert_eq!(r("10.0.0.1", &[("x-forwarded-for", "2.2.2.2, junk")]).0, ip("10.0.0.1"));
    assert_eq!(
        r("10.0.0.1", &[("x-mm-client-ip", "junk"), ("forwarded", "for=6.6.6.6")]).0,
        ip("6.6.6.6")
    );
    assert_eq!(count(&metrics, "forwarded"), f + 2);
    assert_eq!(count(&metrics, "x-forwarded-for"), x + 1);
    assert_eq!(count(&metrics, "x-mm-client-ip"), m + 1);
}

fn count(metrics: &Metrics, header: &str) -> u64 {
    let needle =
        format!("switchyard_http_client_address_headers_invalid_total{{header=\"{header}\"}} ");
    metrics
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix(&needle).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("{needle} not in the exposition"))
}

#[test]
fn the_scheme_is_the_word_of_the_proxy_that_named_the_client() {
    let protos = |line: &str| -> Vec<Option<Proto>> {
        parse(line.as_bytes()).unwrap().into_iter().map(|e| e.proto).collect()
    };
    assert_eq!(
        protos("for=1.1.1.1;proto=HTTPS, proto=http, for=2.2.2.2;proto=wss, for=3.3.3.3"),
        [Some(Proto::Https), Some(Proto::Http), Some(Proto::Other), None]
    );
    assert_eq!(parse(b"for=1.1.1.1;proto=http;proto=https"), Err(Malformed), "twice in one");

    let proxies = vec![parse_proxy("10.0.0.0/8").unwrap()];
    let trust = Trust { proxies: &proxies, forwarded: true, metrics: None };
    let https = |peer: &str, pairs: &[(&str, &str)]| {
        let c = resolve_with(ip(peer), &headers(pairs), trust);
        (c.ip, c.https)
    };
    // The element that names the client says how it connected, not the proxies' own hops.
    let chain = "for=2.2.2.2;proto=https, for=10.1.1.1;proto=http";
    assert_eq!(https("10.0.0.1", &[("forwarded", chain)]), (ip("2.2.2.2"), Some(true)));
    assert_eq!(https("10.0.0.1", &[("forwarded", "for=2.2.2.2")]), (ip("2.2.2.2"), None));
    // X-Forwarded-Proto, its left-most entry, when Forwarded says nothing of it.
    let xfp = [("x-forwarded-for", "2.2.2.2"), ("x-forwarded-proto", "https, http")];
    assert_eq!(https("10.0.0.1", &xfp), (ip("2.2.2.2"), Some(true)));
    let both = [("forwarded", "for=2.2.2.2;proto=http"), ("x-forwarded-proto", "https")];
    assert_eq!(https("10.0.0.1", &both).1, Some(false), "Forwarded's word first");
    let mm = [("x-mm-client-ip", "2.2.2.2"), ("x-forwarded-proto", "HTTP")];
    assert_eq!(https("10.0.0.1", &mm), (ip("2.2.2.2"), Some(false)));
    assert_eq!(https("10.0.0.1", &[("x-forwarded-proto", "wss")]).1, None, "not a scheme of ours");
    // From an untrusted peer nothing is believed.
    assert_eq!(https("192.0.2.1", &xfp), (ip("192.0.2.1"), None));
}
