//! Conformance of [`answer`] with the behaviour outside test suites check: the zone's own
//! name servers, zone transfers and ANY at the apex.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

use super::{addrs, ask, config, negative_soa, query, run_with, table};
use crate::dns::codes::{Outcome, Rcode, Transport};
use crate::dns::config::{DnsConfig, NameServer};

fn ask_with(cfg: &DnsConfig, name: &str, t: RecordType, edns: Option<Edns>) -> Message {
    run_with(cfg, &table(), &query(name, t, edns), Transport::Udp).1.expect("a reply")
}

fn types(records: &[hickory_proto::rr::Record]) -> Vec<RecordType> {
    records.iter().map(|r| r.record_type()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn configured_name_servers_in_the_zone_answer_with_their_glue() {
    let a = ask("ns1.cdn.example.com", RecordType::A, None);
    assert_eq!(a.metadata.response_code, ResponseCode::NoError, "{a:?}");
    assert!(a.metadata.authoritative);
    assert_eq!(addrs(&a), [ip("192.0.2.53")]);
    assert_eq!(a.answers[0].ttl, 3600, "the TTL the NS answer gives its glue");
    let aaaa = ask("NS1.Cdn.Example.com", RecordType::AAAA, None);
    assert_eq!(addrs(&aaaa), [ip("2001:db8::53")]);
    assert_eq!(aaaa.answers[0].name.to_string(), "NS1.Cdn.Example.com.", "owner as asked");
    let any = ask("ns1.cdn.example.com", RecordType::ANY, None);
    assert_eq!(addrs(&any), [ip("192.0.2.53"), ip("2001:db8::53")]);
    // The name exists: other types are NODATA.
    let mx = ask("ns1.cdn.example.com", RecordType::MX, None);
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert_eq!(negative_soa(&mx).0, "cdn.example.com.");

    // The NS answer and the address answer agree.
    let ns = ask("cdn.example.com", RecordType::NS, None);
    let glue: Vec<IpAddr> = ns
        .additionals
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect();
    assert_eq!(glue, addrs(&any));

    // A family without glue is NODATA, and a name server outside our zones stays REFUSED.
    let cfg = DnsConfig {
        name_servers: vec![
            NameServer {
                name: "a.ns.cdn.example.com.".into(),
                ipv4: vec![Ipv4Addr::new(192, 0, 2, 54)],
                ipv6: vec![],
            },
            NameServer { name: "ns.example.org".into(), ipv4: vec![], ipv6: vec![] },
        ],
        ..DnsConfig::default()
    };
    let v4 = ask_with(&cfg, "a.ns.cdn.example.com", RecordType::A, None);
    assert_eq!(addrs(&v4), [ip("192.0.2.54")]);
    let v6 = ask_with(&cfg, "a.ns.cdn.example.com", RecordType::AAAA, None);
    assert_eq!(v6.metadata.response_code, ResponseCode::NoError);
    assert!(v6.answers.is_empty());
    let ent = ask_with(&cfg, "ns.cdn.example.com", RecordType::A, None);
    assert_eq!(ent.metadata.response_code, ResponseCode::NoError, "empty non-terminal");
    let away = ask_with(&cfg, "ns.example.org", RecordType::A, None);
    assert_eq!(away.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn default_name_server_and_soa_mname_exist_without_addresses() {
    let cfg = DnsConfig::default();
    for t in [RecordType::A, RecordType::AAAA] {
        let m = ask_with(&cfg, "ns1.cdn.example.com", t, None);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{t}: {m:?}");
        assert!(m.metadata.authoritative);
        assert_eq!(negative_soa(&m), ("cdn.example.com.".into(), 60, 60), "{t}");
    }
    let nx = ask_with(&cfg, "ns2.cdn.example.com", RecordType::A, None);
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);

    let cfg = DnsConfig { soa_mname: Some("primary.dns.cdn.example.com".into()), ..cfg };
    for name in ["primary.dns.cdn.example.com", "dns.cdn.example.com", "ns1.cdn.example.com"] {
        let m = ask_with(&cfg, name, RecordType::A, None);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.answers.is_empty(), "{name}");
    }
}

#[test]
fn zone_transfers_are_refused_not_answered_empty() {
    let cfg = config();
    let t = table();
    let cases = [
        ("cdn.example.com", RecordType::AXFR, ResponseCode::Refused),
        ("cdn.example.com", RecordType::IXFR, ResponseCode::Refused),
        ("video.cdn.example.com", RecordType::AXFR, ResponseCode::NotAuth),
        ("example.org", RecordType::AXFR, ResponseCode::NotAuth),
        ("example.org", RecordType::IXFR, ResponseCode::NotAuth),
    ];
    for (name, qt, want) in cases {
        for tr in [Transport::Udp, Transport::Tcp] {
            let (o, m) = run_with(&cfg, &t, &query(name, qt, None), tr);
            let m = m.expect("a reply");
            assert_eq!(m.metadata.response_code, want, "{name} {qt} {tr:?}");
            assert!(!m.metadata.authoritative, "{name} {qt} {tr:?}");
            assert!(m.answers.is_empty() && m.authorities.is_empty(), "{name} {qt} {tr:?}");
            let rcode = if want == ResponseCode::Refused { Rcode::Refused } else { Rcode::NotAuth };
            assert!(matches!(o, Outcome::Reply { rcode: r, .. } if r == rcode), "{o:?}");
        }
    }
}

#[test]
fn any_at_the_apex_returns_its_soa_and_ns() {
    let m = ask("cdn.example.com", RecordType::ANY, None);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(types(&m.answers), [RecordType::SOA, RecordType::NS]);
    assert_eq!(types(&m.additionals), [RecordType::A, RecordType::AAAA], "glue");
    assert!(m.authorities.is_empty());
}
