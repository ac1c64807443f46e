//! Conformance of [`answer`] with the behaviour outside test suites check: the zone's own
//! name servers, zone transfers, ANY at the apex, the DO bit, unknown opcodes, NSID and the
//! CHAOS identity, and the rate limiter's slip and source prefixes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, RData, RecordType};

use super::{RESOLVER, addrs, allowed, ask, config, negative_soa, query, run_with, table};
use crate::dns::answer::{answer, slip};
use crate::dns::authority::Authority;
use crate::dns::codes::{Outcome, Rcode, Transport};
use crate::dns::config::{DnsConfig, NameServer};
use crate::dns::ratelimit::{Policy, RateLimiter, Verdict};

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

fn dnssec_ok(m: &Message) -> bool {
    m.edns.as_ref().expect("OPT in the reply").flags().dnssec_ok
}

#[test]
fn the_do_bit_is_copied_into_the_reply() {
    let mut with_do = Edns::new();
    with_do.set_max_payload(1232).set_dnssec_ok(true);
    for (name, t) in [
        ("video.cdn.example.com", RecordType::A),
        ("nope.cdn.example.com", RecordType::A),
        ("cdn.example.com", RecordType::SOA),
        ("www.example.org", RecordType::A),
    ] {
        assert!(dnssec_ok(&ask(name, t, Some(with_do.clone()))), "{name} {t}");
        assert!(!dnssec_ok(&ask(name, t, Some(Edns::new()))), "{name} {t}");
    }
    let mut badvers = with_do.clone();
    badvers.set_version(1);
    assert!(dnssec_ok(&ask("video.cdn.example.com", RecordType::A, Some(badvers))));
    // A FORMERR for a malformed Client Subnet keeps it too.
    let bad = super::ecs_option(3, 24, &[10, 1, 2]);
    let mut q = super::raw_query_with_opt(&bad);
    let flags_at = q.len() - bad.len() - 4; // the OPT flags precede RDLENGTH
    q[flags_at] = 0x80;
    let m = run_with(&config(), &table(), &q, Transport::Udp).1.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert!(dnssec_ok(&m));
}

/// A header-only query with opcode 15 and every flag a query can set (QDCOUNT 0), as ISC's
/// EDNS compliance test `opcodeflg` sends it, plus an OPT record with DO when `edns`.
fn opcode_15(edns: bool) -> Vec<u8> {
    // QR clear, OPCODE 15, AA TC RD; RA Z AD CD.
    let mut q = vec![0x12, 0x34, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0, 0, u8::from(edns)];
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    }
    q
}

#[test]
fn unknown_opcodes_are_notimp_with_opt_and_no_echoed_flags() {
    let cfg = config();
    let t = table();
    let mut out = vec![0u8; 512];
    let auth = Authority::new(&cfg);
    for edns in [false, true] {
        let q = opcode_15(edns);
        let o = answer(&auth, &t, &q, RESOLVER, Transport::Udp, 1, &mut out);
        let Outcome::Reply { len, rcode: Rcode::NotImp, .. } = o else { panic!("{o:?}") };
        let r = &out[..len];
        assert_eq!(&r[..2], &[0x12, 0x34]);
        let flags = u16::from_be_bytes([r[2], r[3]]);
        assert_eq!(flags, 0x8000 | 15 << 11 | 4, "QR, OPCODE 15, NOTIMP, nothing else");
        assert_eq!(&r[4..10], &[0, 0, 0, 0, 0, 0], "no question, answer or authority");
        let m = Message::from_vec(r).unwrap();
        assert_eq!(m.edns.is_some(), edns, "OPT in the reply iff in the query");
        if edns {
            assert!(dnssec_ok(&m));
        }
    }
    // With a question it is echoed; RD stays out.
    let mut q = query("video.cdn.example.com", RecordType::A, None);
    q[2] = (q[2] & 0x87) | (9 << 3);
    let (o, m) = run_with(&cfg, &t, &q, Transport::Udp);
    assert!(matches!(o, Outcome::Reply { rcode: Rcode::NotImp, .. }), "{o:?}");
    let m = m.unwrap();
    assert_eq!(m.queries.len(), 1);
    assert!(!m.metadata.recursion_desired);
    assert!(m.edns.is_none());
    // A body that does not read as a query: a bare header.
    let mut junk = opcode_15(false);
    junk[5] = 1;
    junk.extend_from_slice(&[0xff; 5]);
    let o = answer(&auth, &t, &junk, RESOLVER, Transport::Udp, 1, &mut out);
    assert!(matches!(o, Outcome::Reply { len: 12, rcode: Rcode::NotImp, .. }), "{o:?}");
}

fn nsid_query(name: &str, t: RecordType) -> Vec<u8> {
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.options_mut().insert(EdnsOption::Unknown(3, Vec::new()));
    query(name, t, Some(e))
}

fn nsid(m: &Message) -> Option<Vec<u8>> {
    match m.edns.as_ref()?.option(EdnsCode::NSID)? {
        EdnsOption::NSID(p) => Some(p.as_ref().to_vec()),
        EdnsOption::Unknown(_, d) => Some(d.clone()),
        other => panic!("{other:?}"),
    }
}

fn chaos_query(name: &str, t: RecordType) -> Vec<u8> {
    let mut q = query(name, t, None);
    let n = q.len();
    q[n - 1] = 3; // class CH
    q
}

#[test]
fn nsid_and_chaos_identity_when_configured() {
    let cfg = DnsConfig { server_id: Some("edge-7.ams".into()), ..config() };
    let t = table();
    for name in ["video.cdn.example.com", "nope.cdn.example.com", "www.example.org"] {
        let m = run_with(&cfg, &t, &nsid_query(name, RecordType::A), Transport::Udp).1.unwrap();
        assert_eq!(nsid(&m).as_deref(), Some(&b"edge-7.ams"[..]), "{name}");
    }
    // Not asked for: not sent.
    let m = ask_with(&cfg, "video.cdn.example.com", RecordType::A, Some(Edns::new()));
    assert_eq!(nsid(&m), None);

    for name in ["id.server", "HOSTNAME.bind"] {
        let m = run_with(&cfg, &t, &chaos_query(name, RecordType::TXT), Transport::Udp).1.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.metadata.authoritative);
        let rec = &m.answers[0];
        assert_eq!(rec.dns_class, DNSClass::CH);
        let RData::TXT(txt) = &rec.data else { panic!("{rec:?}") };
        assert_eq!(&*txt.txt_data[0], b"edge-7.ams");
    }
    for (name, qt) in [("version.bind", RecordType::TXT), ("id.server", RecordType::A)] {
        let m = run_with(&cfg, &t, &chaos_query(name, qt), Transport::Udp).1.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{name} {qt}");
    }
}

#[test]
fn no_identity_unless_configured() {
    let cfg = config();
    let t = table();
    let m = run_with(&cfg, &t, &nsid_query("video.cdn.example.com", RecordType::A), Transport::Udp)
        .1
        .unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(nsid(&m), None);
    let m =
        run_with(&cfg, &t, &chaos_query("id.server", RecordType::TXT), Transport::Udp).1.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());
}

#[test]
fn slipped_reply_is_the_question_with_tc() {
    let auth = Authority::new(&config());
    let mut out = vec![0u8; 1232];
    let mut e = Edns::new();
    e.set_max_payload(1232).set_dnssec_ok(true);
    let q = query("video.cdn.example.com", RecordType::A, Some(e));
    let Outcome::Reply { len, truncated: true, .. } = slip(&auth, &q, &mut out) else {
        panic!("no slipped reply")
    };
    let m = Message::from_vec(&out[..len]).unwrap();
    assert!(m.metadata.truncation);
    assert_eq!(m.metadata.id, 0x4242);
    assert_eq!(m.queries.len(), 1);
    assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
    assert!(dnssec_ok(&m), "OPT kept");
    assert_eq!(slip(&auth, &[0u8; 5], &mut out), Outcome::Drop);
}

#[test]
fn rate_limit_slips_every_nth_query_over_the_limit() {
    let t0 = Instant::now();
    let src = ip("192.0.2.1");
    for (slip, want) in [(0, "DDDDDD"), (1, "SSSSSS"), (2, "DSDSDS"), (3, "DDSDDS")] {
        let rl = super::limiter(1, 2, slip, t0);
        assert_eq!(allowed(&rl, src, t0, 2), 2, "the burst");
        let got: String = (0..6)
            .map(|_| match rl.check(src, t0) {
                Verdict::Allow => 'A',
                Verdict::Drop => 'D',
                Verdict::Slip => 'S',
            })
            .collect();
        assert_eq!(got, want, "slip {slip}");
    }
}

#[test]
fn rate_limit_counts_sources_per_prefix() {
    let t0 = Instant::now();
    let rl = RateLimiter::new(Policy { qps: 1, burst: 3, ..Policy::default() }, t0).unwrap();
    assert_eq!(allowed(&rl, ip("192.0.2.1"), t0, 10), 3);
    assert_eq!(allowed(&rl, ip("192.0.2.200"), t0, 10), 0, "same /24");
    assert_eq!(allowed(&rl, ip("::ffff:192.0.2.9"), t0, 10), 0, "v4-mapped, same /24");
    assert_eq!(allowed(&rl, ip("192.0.3.1"), t0, 10), 3, "next /24");
    assert_eq!(allowed(&rl, ip("2001:db8:0:1234::1"), t0, 10), 3);
    assert_eq!(allowed(&rl, ip("2001:db8:0:12ff:8::9"), t0, 10), 0, "same /56");
    assert_eq!(allowed(&rl, ip("2001:db8:0:1334::1"), t0, 10), 3, "next /56");

    let narrow = Policy { qps: 1, burst: 1, ipv4_prefix_len: 32, ..Policy::default() };
    let rl = RateLimiter::new(narrow, t0).unwrap();
    assert_eq!(allowed(&rl, ip("192.0.2.1"), t0, 5), 1);
    assert_eq!(allowed(&rl, ip("192.0.2.2"), t0, 5), 1, "/32: every address its own");
    let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    assert_eq!(allowed(&rl, IpAddr::V6(v6), t0, 5), 1);
}

#[test]
fn server_id_validation_names_the_key() {
    for (id, says) in [
        ("", "must not be empty"),
        (&"x".repeat(256)[..], "at most 255"),
        ("tab\there", "printable ASCII"),
        ("é", "printable ASCII"),
    ] {
        let cfg = DnsConfig { server_id: Some(id.to_string()), ..DnsConfig::default() };
        let problems = cfg.validate("dns");
        assert_eq!(problems.len(), 1, "{id:?}");
        assert_eq!(problems[0].path, "dns.server_id");
        assert!(problems[0].message.contains(says), "{id:?}: {}", problems[0].message);
    }
    let ok = DnsConfig { server_id: Some("x".repeat(255)), ..DnsConfig::default() };
    assert!(ok.validate("dns").is_empty());
}
