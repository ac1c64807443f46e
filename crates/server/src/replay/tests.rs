use std::time::Duration;

use super::run::Target;
use super::stats::Quantiles;
use super::*;
use crate::dns::wire;
use crate::sampling::Sample;
use crate::sampling::{ClientKey, Protocol};

#[test]
fn files_parse_with_comments_and_name_the_bad_line() {
    let text = "# recorded\n\n{\"protocol\":\"http\",\"host\":\"v.example\",\"client\":\"10.1.0.1\",\"path\":\"/a\"}\n\
                {\"protocol\":\"dns\",\"host\":\"v.example\",\"client\":\"10.3.0.0/24\",\"qtype\":\"A\"}\n";
    let samples = parse(text).unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[1].protocol, Protocol::Dns);
    assert_eq!(samples[1].client, ClientKey::Subnet("10.3.0.0/24".parse().unwrap()));
    let e = parse("# x\n{\"protocol\":\"http\"}\n").unwrap_err();
    assert!(format!("{e:#}").contains("line 2"), "{e:#}");
}

#[test]
fn targets() {
    let t = Target::parse("127.0.0.1:8080").unwrap();
    assert_eq!(t.http, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(t.dns, None);
    let t = Target::parse("http=127.0.0.1:1,dns=127.0.0.1:2").unwrap();
    assert_eq!((t.http.unwrap().port(), t.dns.unwrap().port()), (1, 2));
    let t = Target::parse("dns=127.0.0.1:2").unwrap();
    assert_eq!(t.http, None);
    assert!(Target::parse("ftp=127.0.0.1:2").is_err());
    assert!(Target::parse("nothing").is_err());
}

#[test]
fn http_targets_carry_host_client_and_path() {
    let s = Sample::http("v.example", "v", "10.1.0.1".parse().unwrap(), "/a b.ts", "x=1&y=2");
    assert_eq!(
        http::target(&s),
        "/v1/route?host=v.example&ip=10.1.0.1&path=/a%20b.ts%3Fx%3D1%26y%3D2"
    );
    assert_eq!(http::summary(200, br#"{"nodes":[{"id":"a"},{"id":"b"}]}"#), "200 a,b");
    assert_eq!(
        http::summary(503, br#"{"error":{"code":"no_eligible_node"}}"#),
        "503 no_eligible_node"
    );
}

/// The query parses with the server's own codec, the client subnet included.
#[test]
fn dns_queries_carry_the_client_as_a_subnet() {
    for (client, want) in [
        (ClientKey::Subnet("10.3.0.0/20".parse().unwrap()), ("10.3.0.0", 20)),
        (ClientKey::Addr("10.3.7.9".parse().unwrap()), ("10.3.7.9", 32)),
        (ClientKey::Addr("2001:db8::1".parse().unwrap()), ("2001:db8::1", 128)),
    ] {
        let s = Sample::dns("Video.Example", "", client, "AAAA");
        let q = dns::build_query(&s, 0x1234).unwrap();
        let mut name = wire::NameBuf::default();
        let parsed = wire::parse(&q, &mut name).unwrap();
        assert_eq!(name.as_str(), "video.example");
        assert_eq!(parsed.question.qtype, 28);
        let ecs = parsed.edns.unwrap().ecs.unwrap();
        let net = ecs.network().unwrap();
        assert_eq!((net.addr().to_string().as_str(), net.prefix_len()), want);
    }
}

#[test]
fn dns_answers_reduce_to_rcode_and_sorted_addresses() {
    // id, flags (QR, AA, NOERROR), 1 question, 2 answers; both with a compressed name.
    let mut r = vec![0x12, 0x34, 0x84, 0x00, 0, 1, 0, 2, 0, 0, 0, 0];
    r.extend_from_slice(b"\x01v\x07example\x00\x00\x01\x00\x01");
    for last in [9u8, 2] {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 20, 0, 4, 127, 0, 10, last]);
    }
    assert_eq!(dns::summary(&r).unwrap(), "NOERROR 127.0.10.2,127.0.10.9");
    r[3] = 3;
    r[7] = 0;
    assert_eq!(dns::summary(&r[..12 + 15]).unwrap(), "NXDOMAIN ");
    assert!(dns::summary(&r[..5]).is_err());
}

#[test]
fn quantiles_by_nearest_rank() {
    let mut v: Vec<Duration> = (1..=1000).rev().map(Duration::from_millis).collect();
    let q = Quantiles::of(&mut v);
    assert_eq!((q.p50, q.p90, q.p99, q.p99_9, q.max), (500.0, 900.0, 990.0, 999.0, 1000.0));
    assert_eq!(Quantiles::of(&mut []), Quantiles::default());
}
