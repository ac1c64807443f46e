//! Pure helpers: client address resolution, query decoding, hosts, locations, config.

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue};
use switchyard_route::{HttpRequest, NodeChoice};

use crate::traffic::client_ip::{AddrSource, resolve};
use crate::traffic::config::{TrafficConfig, parse_proxy};
use crate::traffic::httpdns::families;
use crate::traffic::query;
use crate::traffic::redirect::location;
use crate::traffic::respond::{BadHost, host_field};

fn xff(lines: &[&str]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for l in lines {
        h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
    }
    h
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn forwarded_for_walks_from_the_right_past_trusted_hops() {
    let proxies = vec![parse_proxy("10.0.0.0/8").unwrap(), parse_proxy("2001:db8:f::1").unwrap()];
    let r = |peer: &str, lines: &[&str]| resolve(ip(peer), &xff(lines), &proxies);
    assert_eq!(r("10.0.0.1", &["1.1.1.1, 2.2.2.2, 10.9.9.9"]).ip, ip("2.2.2.2"));
    assert_eq!(r("10.0.0.1", &["1.1.1.1, 2.2.2.2, 10.9.9.9"]).source, AddrSource::ForwardedFor);
    // Several header lines form one list, in order.
    assert_eq!(r("10.0.0.1", &["1.1.1.1", "2.2.2.2:8080", "10.1.1.1"]).ip, ip("2.2.2.2"));
    assert_eq!(r("10.0.0.1", &["[2001:db8::7]:443"]).ip, ip("2001:db8::7"));
    // Untrusted peer: header ignored.
    let c = r("192.0.2.1", &["2.2.2.2"]);
    assert_eq!((c.ip, c.source), (ip("192.0.2.1"), AddrSource::Peer));
    // All hops trusted: the left-most.
    assert_eq!(r("10.0.0.1", &["10.3.3.3, 10.2.2.2"]).ip, ip("10.3.3.3"));
    // A malformed hop stops the walk at the last vouched-for address.
    assert_eq!(r("10.0.0.1", &["2.2.2.2, garbage, 10.5.5.5"]).ip, ip("10.5.5.5"));
    assert_eq!(r("10.0.0.1", &["garbage"]).ip, ip("10.0.0.1"));
    // No header from a trusted peer: the peer. IPv4-mapped peers count as IPv4.
    assert_eq!(r("10.0.0.1", &[]).source, AddrSource::Peer);
    assert_eq!(r("::ffff:10.0.0.1", &["3.3.3.3"]).ip, ip("3.3.3.3"));
}

#[test]
fn x_mm_client_ip_from_a_trusted_peer_names_the_client() {
    let proxies = vec![parse_proxy("10.0.0.0/8").unwrap()];
    let with = |peer: &str, mm: &str, lines: &[&str]| {
        let mut h = xff(lines);
        h.insert("x-mm-client-ip", HeaderValue::from_str(mm).unwrap());
        resolve(ip(peer), &h, &proxies)
    };
    let c = with("10.0.0.1", "192.0.2.7", &["2.2.2.2"]);
    assert_eq!((c.ip, c.source), (ip("192.0.2.7"), AddrSource::MmClientIp));
    assert_eq!(with("10.0.0.1", " 2001:db8::9 ", &[]).ip, ip("2001:db8::9"));
    assert_eq!(with("10.0.0.1", "::ffff:192.0.2.7", &[]).ip, ip("192.0.2.7"));
    // Untrusted peer: ignored.
    assert_eq!(with("192.0.2.1", "192.0.2.7", &[]).source, AddrSource::Peer);
    // Not one address: passed over, X-Forwarded-For or the peer decides.
    assert_eq!(with("10.0.0.1", "192.0.2.7, 192.0.2.8", &["2.2.2.2"]).ip, ip("2.2.2.2"));
    assert_eq!(with("10.0.0.1", "unknown", &[]).source, AddrSource::Peer);
    // No trusted proxies configured: never believed.
    let mut h = HeaderMap::new();
    h.insert("x-mm-client-ip", HeaderValue::from_static("192.0.2.7"));
    assert_eq!(resolve(ip("10.0.0.1"), &h, &[]).source, AddrSource::Peer);
}

#[test]
fn query_values_are_found_and_decoded() {
    let q = "a=1&path=%2Fx%20y&plus=a+b&flag&empty=";
    assert_eq!(query::raw(q, "a"), Some("1"));
    assert_eq!(query::get(q, "path").unwrap().as_deref(), Some("/x y"));
    assert_eq!(query::get(q, "plus").unwrap().as_deref(), Some("a b"));
    assert!(query::flag(q, "flag"));
    assert!(query::flag(q, "a"));
    assert!(!query::flag("a=0", "a"));
    assert_eq!(query::get(q, "missing").unwrap(), None);
    assert!(query::get("path=%4", "path").is_err());
    assert!(query::get("path=%ff", "path").is_err(), "not UTF-8");
    assert!(matches!(query::decode("plain"), Some(std::borrow::Cow::Borrowed("plain"))));
    // A name is the whole key: not a prefix of a longer one, not part of a value. The first
    // occurrence wins; empty pairs are skipped over.
    assert_eq!(query::raw("ab=1&a=2", "a"), Some("2"));
    assert_eq!(query::raw("x=a=1&a", "a"), Some(""));
    assert_eq!(query::raw("a=1=2&a=3", "a"), Some("1=2"));
    assert_eq!(query::raw("&&a=3&", "a"), Some("3"));
    assert_eq!(query::raw("", "a"), None);
    assert_eq!(query::raw("b=1&", "a"), None);
    assert_eq!(query::raw("b=1&&", ""), Some(""));
}

#[test]
fn host_ports_are_stripped() {
    fn host(v: &str) -> Result<Option<&str>, BadHost> {
        host_field(v.as_bytes(), true)
    }
    assert_eq!(host("example.com:8080"), Ok(Some("example.com")));
    assert_eq!(host("example.com"), Ok(Some("example.com")));
    assert_eq!(host(" Video.CDN.example.com:"), Ok(Some("Video.CDN.example.com")));
    assert_eq!(host("[2001:db8::1]:80"), Ok(Some("2001:db8::1")));
    assert_eq!(host("192.0.2.7"), Ok(Some("192.0.2.7")));
    assert_eq!(host("xn--bcher-kva.example"), Ok(Some("xn--bcher-kva.example")));
    assert_eq!(host("a%2Db.example"), Ok(Some("a%2Db.example")));
}

#[test]
fn invalid_host_values_are_refused() {
    for bad in [
        "a b",
        "exa mple.com",
        ":80",
        "example.com:80a",
        "example.com:80:81",
        "example.com/path",
        "user@example.com",
        "[2001:db8::1",
        "[]",
        "[2001:db8::1]x",
        "a%zzb",
        "a%4",
        "b\u{fc}cher.example",
        "a\tb",
    ] {
        assert_eq!(host_field(bad.as_bytes(), true), Err(BadHost::Invalid), "{bad:?}");
        assert_eq!(host_field(bad.as_bytes(), false), Err(BadHost::Invalid), "{bad:?}");
    }
    assert_eq!(host_field(b"", true), Err(BadHost::Empty));
    assert_eq!(host_field(b"  ", true), Err(BadHost::Empty));
    // HTTP/1.0 may leave it out, and an empty one says the same.
    assert_eq!(host_field(b"", false), Ok(None));
}

#[test]
fn locations_follow_rfc_3986() {
    let t = super::table_with(&[]);
    let service = t.service_for_host("video.cdn.example.com").unwrap();
    let req = HttpRequest { service, client_ip: ip("198.51.100.1"), path: "/", query: "", seed: 0 };
    let mut n: NodeChoice<'_> = t.route_http(&req, false).unwrap().node();
    assert_eq!((n.port, n.hostname.is_none()), (80, true));
    assert_eq!(location(&n, ip("198.51.100.1"), "/a", "b=1").unwrap(), "http://192.0.2.1/a?b=1");
    assert_eq!(location(&n, ip("2001:db8::9"), "/a", "").unwrap(), "http://[2001:db8::1]/a");
    n.port = 8080;
    n.ipv4 = None;
    assert_eq!(location(&n, ip("198.51.100.1"), "", "").unwrap(), "http://[2001:db8::1]:8080/");
    n.hostname = Some("edge.example.net");
    assert_eq!(
        location(&n, ip("198.51.100.1"), "/p", "").unwrap(),
        "http://edge.example.net:8080/p"
    );
}

#[test]
fn families_parse() {
    assert!(families(None).is_ok());
    assert_eq!(families(Some("4,6")).unwrap(), families(Some("6,4")).unwrap());
    assert!(families(Some("4,x")).is_err());
}

#[test]
fn config_parses_with_defaults_and_rejects_unknown_keys() {
    let c: TrafficConfig = toml::from_str("trusted_proxies = [\"10.0.0.0/8\"]").unwrap();
    assert_eq!(c.max_concurrent_requests, 4096);
    assert!(!c.allow_fake_client_ip, "fake client addresses are off by default");
    assert!(c.validate("http").is_empty());
    assert!(toml::from_str::<TrafficConfig>("max_concurent_requests = 1").is_err());
}

#[test]
fn config_validation_reports_every_problem_with_its_path() {
    let c = TrafficConfig {
        trusted_proxies: vec!["10.0.0.0/8".into(), "not-a-net".into()],
        max_concurrent_requests: 0,
        overload_watermark: 1.5,
        rate_limit_per_client_rps: 10.0,
        rate_limit_burst: 0,
        max_headers: 0,
        httpdns_max_hosts: 0,
        idle_timeout_ms: 86_400_001,
        allow_fake_client_ip: true,
        ..Default::default()
    };
    let paths: Vec<String> = c.validate("http").into_iter().map(|p| p.path).collect();
    for want in [
        "http.trusted_proxies[1]",
        "http.max_concurrent_requests",
        "http.overload_watermark",
        "http.rate_limit_burst",
        "http.max_headers",
        "http.httpdns_max_hosts",
        "http.idle_timeout_ms",
    ] {
        assert!(paths.iter().any(|p| p == want), "{want} not in {paths:?}");
    }
    assert_eq!(c.trusted_networks().len(), 1);
}
