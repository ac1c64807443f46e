//! Answer logic through [`answer`], checked by decoding the responses with hickory-proto.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet as HClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use switchyard_route::{
    CoverageZones, FleetSpec, HealthState, HealthView, NodeHealth, RoutingTable,
};

use super::answer::answer;
use super::authority::Authority;
use super::codes::{Outcome, Rcode, Transport};
use super::config::{DnsConfig, NameServer};
use super::ecs::{ClientSubnet, EcsError};
use super::ratelimit::{Policy, RateLimiter, Verdict, slot_of};

mod conformance;

const FLEET: &str = r#"
[[zones]]
name = "east"
backups = ["west"]
[[zones]]
name = "west"
[[zones]]
name = "big"

[[nodes]]
id = "e1"
zone = "east"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
[[nodes]]
id = "e2"
zone = "east"
ipv4 = "192.0.2.2"
[[nodes]]
id = "w1"
zone = "west"
ipv4 = "192.0.2.11"
[[nodes]]
id = "w2"
zone = "west"
ipv4 = "192.0.2.12"

[[services]]
name = "video"
hostnames = ["video.cdn.example.com", "*.edge.cdn.example.com"]
zones = ["east", "west"]
dns_answers = 2
ttl_seconds = 45
default_zone = "west"

[[services]]
name = "static"
hostnames = ["static.cdn.example.com"]
zones = ["west"]
default_zone = "west"
"#;

const CZF: &str = r#"{"coverageZones": {
    "east": {"network": ["10.1.0.0/16"], "network6": ["2001:db8:e::/48"]},
    "west": {"network": ["10.2.2.0/24"]}
}}"#;

/// A long name so that 16 AAAA answers exceed 512 bytes.
pub(crate) const MANY: &str = "a-rather-long-service-name-to-force-truncation.cdn.example.com";

/// The test fleet, plus a zone `big` of 16 dual-stack nodes serving [`MANY`].
pub(crate) fn fleet() -> FleetSpec {
    let mut spec: FleetSpec = toml::from_str(FLEET).unwrap();
    let mut extra = String::new();
    for i in 0..16 {
        extra.push_str(&format!(
            "[[nodes]]\nid = \"big-{i}\"\nzone = \"big\"\nipv4 = \"198.51.100.{i}\"\nipv6 = \"2001:db8:b::{i:x}\"\n"
        ));
    }
    extra.push_str(&format!(
        "[[services]]\nname = \"many\"\nhostnames = [\"{MANY}\"]\nzones = [\"big\"]\ndns_answers = 16\ndefault_zone = \"big\"\n"
    ));
    let more: FleetSpec = toml::from_str(&extra).unwrap();
    spec.nodes.extend(more.nodes);
    spec.services.extend(more.services);
    spec
}

pub(crate) fn table_with(health: &HealthView) -> RoutingTable {
    let czf = CoverageZones::from_czf_json(CZF).unwrap();
    RoutingTable::build(&fleet(), &czf, None, health).unwrap()
}

fn table() -> RoutingTable {
    table_with(&HealthView::new(1))
}

fn config() -> DnsConfig {
    DnsConfig {
        name_servers: vec![NameServer {
            name: "ns1.cdn.example.com".into(),
            ipv4: vec![Ipv4Addr::new(192, 0, 2, 53)],
            ipv6: vec!["2001:db8::53".parse().unwrap()],
        }],
        ..DnsConfig::default()
    }
}

const RESOLVER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));

fn query(name: &str, t: RecordType, edns: Option<Edns>) -> Vec<u8> {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    if let Some(e) = edns {
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

fn ecs(addr: &str, source: u8) -> Edns {
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.options_mut().insert(EdnsOption::Subnet(HClientSubnet::new(
        addr.parse().unwrap(),
        source,
        0,
    )));
    e
}

fn run_with(
    cfg: &DnsConfig,
    t: &RoutingTable,
    q: &[u8],
    tr: Transport,
) -> (Outcome, Option<Message>) {
    let mut out = vec![0u8; 65535];
    let o = answer(&Authority::new(cfg), t, q, RESOLVER, tr, 7, &mut out);
    let msg = match o {
        Outcome::Reply { len, .. } => Some(Message::from_vec(&out[..len]).expect("valid response")),
        Outcome::Drop => None,
    };
    (o, msg)
}

fn ask(name: &str, t: RecordType, edns: Option<Edns>) -> Message {
    run_with(&config(), &table(), &query(name, t, edns), Transport::Udp).1.expect("a reply")
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

fn scope(m: &Message) -> Option<(u8, u8)> {
    match m.edns.as_ref()?.option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some((s.source_prefix(), s.scope_prefix())),
        _ => None,
    }
}

fn in_zone(ips: &[IpAddr], prefix: &str) -> bool {
    !ips.is_empty() && ips.iter().all(|ip| ip.to_string().starts_with(prefix))
}

#[test]
fn ecs_places_the_client_and_scope_is_the_decision_depth() {
    let east = ask("video.cdn.example.com", RecordType::A, Some(ecs("10.1.2.0", 24)));
    assert_eq!(east.metadata.response_code, ResponseCode::NoError);
    assert!(east.metadata.authoritative);
    assert_eq!(east.answers.len(), 2, "dns_answers = 2");
    assert!(east.answers.iter().all(|r| r.ttl == 45));
    assert!(in_zone(&addrs(&east), "192.0.2."), "{:?}", addrs(&east));
    assert!(addrs(&east).iter().all(|a| ["192.0.2.1", "192.0.2.2"].contains(&&*a.to_string())));
    assert_eq!(scope(&east), Some((24, 16)), "scope = the /16 coverage network");

    let west = ask("video.cdn.example.com", RecordType::A, Some(ecs("10.2.2.0", 24)));
    assert!(addrs(&west).iter().all(|a| a.to_string().starts_with("192.0.2.1")));
    assert_ne!(addrs(&west), addrs(&east), "answers differ per subnet");
    assert_eq!(scope(&west), Some((24, 24)));

    // Unmatched subnet: the default zone. No coverage network lies in 64.0.0.0/2, so the
    // answer holds for all of it, a wider network than the /20 sent.
    let other = ask("video.cdn.example.com", RecordType::A, Some(ecs("100.64.0.0", 20)));
    assert_eq!(addrs(&other), addrs(&west));
    assert_eq!(scope(&other), Some((20, 2)));
}

const SCOPE_FLEET: &str = r#"
[[zones]]
name = "a"
[[zones]]
name = "b"
[[zones]]
name = "c"
[[zones]]
name = "d"
[[nodes]]
id = "a1"
zone = "a"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
[[nodes]]
id = "b1"
zone = "b"
ipv4 = "192.0.2.2"
ipv6 = "2001:db8::2"
[[nodes]]
id = "c1"
zone = "c"
ipv4 = "192.0.2.3"
ipv6 = "2001:db8::3"
[[nodes]]
id = "d1"
zone = "d"
ipv4 = "192.0.2.4"
ipv6 = "2001:db8::4"
[[services]]
name = "svc"
hostnames = ["svc.cdn.example.com"]
zones = ["a", "b", "c", "d"]
dns_answers = 1
default_zone = "d"
"#;

/// Zones a, b, c on 10.1.0.0/16, 10.2.0.0/16 (plus 10.1.5.0/24 inside a's network) and
/// 10.3.0.0/16 (plus 2001:db8:c::/48), default zone d; one node each, whose addresses end
/// in the zone's number, so an answer names its zone.
fn scope_table() -> RoutingTable {
    let spec: FleetSpec = toml::from_str(SCOPE_FLEET).unwrap();
    let czf = CoverageZones::from_czf_json(
        r#"{"coverageZones": {
            "a": {"network": ["10.1.0.0/16"]},
            "b": {"network": ["10.2.0.0/16", "10.1.5.0/24"]},
            "c": {"network": ["10.3.0.0/16"], "network6": ["2001:db8:c::/48"]}
        }}"#,
    )
    .unwrap();
    RoutingTable::build(&spec, &czf, None, &HealthView::new(1)).unwrap()
}

/// Zone letter and ECS (source, scope) of the answer for `svc` from client subnet `net`.
fn zone_and_scope(t: &RoutingTable, net: &str) -> (char, u8, u8) {
    let (addr, len) = net.split_once('/').unwrap();
    let qtype = if addr.contains(':') { RecordType::AAAA } else { RecordType::A };
    let q = query("svc.cdn.example.com", qtype, Some(ecs(addr, len.parse().unwrap())));
    let m = run_with(&config(), t, &q, Transport::Udp).1.unwrap();
    let last = match addrs(&m).as_slice() {
        [IpAddr::V4(a)] => a.octets()[3],
        [IpAddr::V6(a)] => a.octets()[15],
        other => panic!("{net}: one answer expected, got {other:?}"),
    };
    let zone = (b'a' + last - 1) as char;
    let (source, scope) = scope(&m).unwrap();
    (zone, source, scope)
}

#[test]
fn ecs_scope_leaves_out_more_specific_networks() {
    let t = scope_table();
    // The reported defect: a /8 outside every coverage network got scope /8 and zone d's
    // answer, which a resolver then served to 10.1/16, 10.2/16 and 10.3/16 as well. Only
    // 10.0.0.0/16 shares the answer of 10.0.0.0: scope /16, longer than the source.
    assert_eq!(zone_and_scope(&t, "10.0.0.0/8"), ('d', 8, 16));
    // Inside a matched /16, the /24 that maps elsewhere is left out of the scope.
    assert_eq!(zone_and_scope(&t, "10.1.0.0/16"), ('a', 16, 22));
    assert_eq!(zone_and_scope(&t, "10.1.128.0/17"), ('a', 17, 17));
    assert_eq!(zone_and_scope(&t, "10.1.200.0/24"), ('a', 24, 17));
    assert_eq!(zone_and_scope(&t, "10.1.5.0/24"), ('b', 24, 24));
    assert_eq!(zone_and_scope(&t, "10.1.6.0/24"), ('a', 24, 23));
    assert_eq!(zone_and_scope(&t, "10.2.0.0/16"), ('b', 16, 16));
    // Unmatched networks with no coverage network inside get a scope as wide as that.
    assert_eq!(zone_and_scope(&t, "10.128.0.0/9"), ('d', 9, 9));
    assert_eq!(zone_and_scope(&t, "10.4.0.0/24"), ('d', 24, 14));
    // IPv6: inside the /48, and a /32 around it: 2001:db8:c::/48 starts where
    // 2001:db8::/45 ends.
    assert_eq!(zone_and_scope(&t, "2001:db8:c:100::/56"), ('c', 56, 48));
    assert_eq!(zone_and_scope(&t, "2001:db8::/32"), ('d', 32, 45));
    // A source longer than what localization uses: the scope stops at /24.
    let (_, _, scope) = zone_and_scope(&t, "10.1.5.7/32");
    assert_eq!(scope, 24);
}

/// What a resolver does with a scope: reuse the answer for every client subnet inside
/// ADDRESS/scope. For each query, every /24 inside that network must get the same zone when
/// asked for directly, and one bit less of scope would have taken in a /24 that does not.
#[test]
fn ecs_answers_reused_within_their_scope_stay_right() {
    let t = scope_table();
    let zone_of = |a: u32| zone_and_scope(&t, &format!("{}/24", Ipv4Addr::from(a))).0;
    let subnets = [
        "10.0.0.0/8",
        "10.0.0.0/12",
        "10.1.0.0/16",
        "10.1.4.0/22",
        "10.1.128.0/17",
        "10.1.5.0/24",
        "10.2.3.0/24",
        "10.3.0.0/20",
        "10.4.0.0/14",
        "10.128.0.0/9",
        "10.255.0.0/16",
    ];
    for net in subnets {
        let (zone, _, scope) = zone_and_scope(&t, net);
        let base = u32::from(net.split_once('/').unwrap().0.parse::<Ipv4Addr>().unwrap());
        assert!((8..=24).contains(&scope), "{net}: scope {scope}");
        // Every /24 of the scope network, stepping so that at most 2048 are asked.
        let block = |len: u8| {
            let host = u32::MAX >> len;
            let first = base & !host;
            let step = (1u32 << 8).max((host + 1) / 2048);
            (0..=host / step).map(move |i| first + i * step)
        };
        for a in block(scope) {
            assert_eq!(zone_of(a), zone, "{net} scope /{scope} covers {}", Ipv4Addr::from(a));
        }
        // One bit wider takes in another zone's client, or the unmatched run's edge. The
        // wider network's /24s are all asked when it is small; for the widest ones the
        // coverage networks are checked directly.
        let wider: Vec<u32> = block(scope - 1)
            .chain(
                ["10.1.0.0", "10.1.5.0", "10.2.0.0", "10.3.0.0", "10.4.0.0"]
                    .map(|s| u32::from(s.parse::<Ipv4Addr>().unwrap())),
            )
            .filter(|&a| (a ^ base) >> (32 - u32::from(scope) + 1) == 0)
            .collect();
        assert!(
            wider.iter().any(|&a| zone_of(a) != zone),
            "{net}: /{} would have been right too",
            scope - 1
        );
    }
}

#[test]
fn ecs_longer_than_24_is_cut_and_resolver_address_used_without_ecs() {
    let m = ask("video.cdn.example.com", RecordType::A, Some(ecs("10.2.2.77", 32)));
    assert_eq!(scope(&m), Some((32, 24)), "source echoed, scope from the /24 match");
    assert!(addrs(&m).iter().all(|a| a.to_string().starts_with("192.0.2.1")));

    let cfg = config();
    let mut out = vec![0u8; 1232];
    let q = query("video.cdn.example.com", RecordType::A, None);
    let src: IpAddr = "10.1.200.3".parse().unwrap();
    let Outcome::Reply { len, .. } =
        answer(&Authority::new(&cfg), &table(), &q, src, Transport::Udp, 1, &mut out)
    else {
        panic!("no reply")
    };
    let m = Message::from_vec(&out[..len]).unwrap();
    assert!(addrs(&m).iter().all(|a| ["192.0.2.1", "192.0.2.2"].contains(&&*a.to_string())));
    assert!(m.edns.is_none(), "no OPT without one in the query");
}

#[test]
fn ecs_v6_and_source_zero() {
    let m = ask("video.cdn.example.com", RecordType::AAAA, Some(ecs("2001:db8:e:1::", 64)));
    assert_eq!(addrs(&m), vec!["2001:db8::1".parse::<IpAddr>().unwrap()]);
    assert_eq!(scope(&m), Some((64, 48)));
    // /0 carries no client information: resolver address, scope 0.
    let m = ask("video.cdn.example.com", RecordType::A, Some(ecs("0.0.0.0", 0)));
    assert_eq!(scope(&m), Some((0, 0)));
}

#[test]
fn question_case_is_kept() {
    let m = ask("ViDeO.CDN.example.COM", RecordType::A, None);
    assert_eq!(m.queries[0].name().to_string(), "ViDeO.CDN.example.COM.");
    assert_eq!(m.answers[0].name.to_string(), "ViDeO.CDN.example.COM.");
    let nx = ask("NoPe.Cdn.Example.Com", RecordType::A, None);
    assert_eq!(nx.authorities[0].name.to_string(), "Cdn.Example.Com.");
}

#[test]
fn wildcard_service_names_are_answered() {
    let m = ask("a.b.edge.cdn.example.com", RecordType::A, Some(ecs("10.1.2.0", 24)));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 2);
}

fn negative_soa(m: &Message) -> (String, u32, u32) {
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1);
    let r = &m.authorities[0];
    let RData::SOA(soa) = &r.data else { panic!("not a SOA: {r:?}") };
    (r.name.to_string(), r.ttl, soa.minimum)
}

#[test]
fn nodata_for_existing_names_without_that_type() {
    for (name, t) in [
        ("static.cdn.example.com", RecordType::AAAA),
        ("video.cdn.example.com", RecordType::MX),
        ("video.cdn.example.com", RecordType::TXT),
        ("cdn.example.com", RecordType::A),
    ] {
        let m = ask(name, t, None);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name} {t}");
        assert!(m.metadata.authoritative);
        assert_eq!(negative_soa(&m), ("cdn.example.com.".into(), 60, 60), "{name} {t}");
    }
}

#[test]
fn nxdomain_in_zone_refused_outside() {
    let m = ask("nope.cdn.example.com", RecordType::A, None);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    assert_eq!(negative_soa(&m).0, "cdn.example.com.");

    let m = ask("www.example.org", RecordType::A, None);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    assert!(m.answers.is_empty() && m.authorities.is_empty());

    let m = ask("example.com", RecordType::A, None);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused, "parent of the apex");
}

#[test]
fn configured_zone_and_empty_non_terminals() {
    let cfg = DnsConfig { zones: vec!["Example.COM.".into()], ..config() };
    let t = table();
    let ent = run_with(&cfg, &t, &query("cdn.example.com", RecordType::A, None), Transport::Udp)
        .1
        .unwrap();
    assert_eq!(ent.metadata.response_code, ResponseCode::NoError, "empty non-terminal");
    assert_eq!(negative_soa(&ent).0, "example.com.");
    let nx = run_with(&cfg, &t, &query("www.example.com", RecordType::A, None), Transport::Udp)
        .1
        .unwrap();
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    let soa =
        run_with(&cfg, &t, &query("example.com", RecordType::SOA, None), Transport::Udp).1.unwrap();
    assert_eq!(soa.answers.len(), 1);
}

#[test]
fn soa_and_ns_at_the_apex() {
    let m = ask("cdn.example.com", RecordType::SOA, None);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    let RData::SOA(soa) = &m.answers[0].data else { panic!("{m:?}") };
    assert_eq!(soa.mname.to_string(), "ns1.cdn.example.com.");
    assert_eq!(soa.rname.to_string(), "hostmaster.cdn.example.com.");
    assert_eq!(
        (soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        (1, 3600, 600, 604800, 60)
    );
    assert_eq!(m.answers[0].ttl, 3600);

    let m = ask("cdn.example.com", RecordType::NS, None);
    let RData::NS(ns) = &m.answers[0].data else { panic!("{m:?}") };
    assert_eq!(ns.0.to_string(), "ns1.cdn.example.com.");
    let glue: Vec<_> =
        m.additionals.iter().map(|r| (r.name.to_string(), r.record_type())).collect();
    assert_eq!(
        glue,
        vec![
            ("ns1.cdn.example.com.".to_string(), RecordType::A),
            ("ns1.cdn.example.com.".to_string(), RecordType::AAAA)
        ]
    );

    // Without configured name servers: ns1.<apex>, and the wildcard base is an apex too.
    let cfg = DnsConfig::default();
    let m = run_with(
        &cfg,
        &table(),
        &query("edge.cdn.example.com", RecordType::NS, None),
        Transport::Udp,
    )
    .1
    .unwrap();
    let RData::NS(ns) = &m.answers[0].data else { panic!("{m:?}") };
    assert_eq!(ns.0.to_string(), "ns1.edge.cdn.example.com.");
}

#[test]
fn any_returns_both_families() {
    let m = ask("video.cdn.example.com", RecordType::ANY, Some(ecs("10.1.2.0", 24)));
    let types: Vec<_> = m.answers.iter().map(|r| r.record_type()).collect();
    assert!(types.contains(&RecordType::A) && types.contains(&RecordType::AAAA), "{types:?}");
}

#[test]
fn any_keeps_the_family_that_routes_when_the_other_finds_no_node() {
    // West has no IPv6 node: the AAAA half finds nothing, the A half still answers.
    let m = ask("video.cdn.example.com", RecordType::ANY, Some(ecs("10.2.2.0", 24)));
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m:?}");
    let types: Vec<_> = m.answers.iter().map(|r| r.record_type()).collect();
    assert!(types.contains(&RecordType::A), "{types:?}");
}

#[test]
fn truncation_without_edns_and_full_answer_over_tcp() {
    let cfg = config();
    let t = table();
    let q = query(MANY, RecordType::AAAA, None);
    let (o, m) = run_with(&cfg, &t, &q, Transport::Udp);
    let m = m.unwrap();
    assert!(matches!(o, Outcome::Reply { truncated: true, .. }));
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty(), "minimal answer");
    assert_eq!(m.queries.len(), 1);

    let (o, m) = run_with(&cfg, &t, &q, Transport::Tcp);
    assert!(matches!(o, Outcome::Reply { truncated: false, .. }));
    assert_eq!(m.unwrap().answers.len(), 16);

    // A large enough EDNS buffer avoids truncation; one below 512 counts as 512.
    let mut big = Edns::new();
    big.set_max_payload(4096);
    let m = ask(MANY, RecordType::AAAA, Some(big));
    assert_eq!(m.answers.len(), 16);
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232, "our size is advertised");
    let mut tiny = Edns::new();
    tiny.set_max_payload(100);
    let m = ask(MANY, RecordType::AAAA, Some(tiny));
    assert!(m.metadata.truncation);
    assert!(m.edns.is_some(), "OPT kept in a truncated answer");
}

#[test]
fn servfail_when_no_node_is_eligible() {
    let down = HealthView::new(2)
        .with("w1", NodeHealth::state(HealthState::Down))
        .with("w2", NodeHealth::state(HealthState::Down));
    let t = table_with(&down);
    let m = run_with(
        &config(),
        &t,
        &query("static.cdn.example.com", RecordType::A, None),
        Transport::Udp,
    )
    .1
    .unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn badvers_for_edns_version_above_zero() {
    let mut e = Edns::new();
    e.set_version(1);
    let m = ask("video.cdn.example.com", RecordType::A, Some(e));
    // BADVERS and BADSIG share code 16.
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert!(m.answers.is_empty());
}

/// A query for `video.cdn.example.com A` with a raw OPT whose RDATA is `opt_rdata`.
fn raw_query_with_opt(opt_rdata: &[u8]) -> Vec<u8> {
    let mut q = query("video.cdn.example.com", RecordType::A, None);
    q[11] = 1; // ARCOUNT
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
    q.extend_from_slice(&(opt_rdata.len() as u16).to_be_bytes());
    q.extend_from_slice(opt_rdata);
    q
}

fn ecs_option(family: u16, source: u8, addr: &[u8]) -> Vec<u8> {
    let mut o = vec![0, 8];
    o.extend_from_slice(&(4 + addr.len() as u16).to_be_bytes());
    o.extend_from_slice(&family.to_be_bytes());
    o.extend_from_slice(&[source, 0]);
    o.extend_from_slice(addr);
    o
}

#[test]
fn malformed_ecs_is_formerr() {
    let cases: [(&str, Vec<u8>); 5] = [
        ("bad family", ecs_option(3, 24, &[10, 1, 2])),
        ("source too long", ecs_option(1, 33, &[10, 1, 2, 3, 4])),
        ("bits beyond prefix", ecs_option(1, 24, &[10, 1, 2, 0]).into_iter().take(11).collect()),
        ("address length", ecs_option(1, 24, &[10, 1, 2, 0])),
        ("non-zero host bits", ecs_option(1, 20, &[10, 1, 0x2f])),
    ];
    for (what, opt) in cases {
        let q = raw_query_with_opt(&opt);
        let (o, m) = run_with(&config(), &table(), &q, Transport::Udp);
        assert!(matches!(o, Outcome::Reply { rcode: Rcode::FormErr, .. }), "{what}: {o:?}");
        let m = m.unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr, "{what}");
        assert_eq!(m.queries.len(), 1, "{what}: question echoed");
        assert!(m.edns.is_some(), "{what}: OPT in the reply");
    }
    // A well-formed raw option is accepted.
    let ok = raw_query_with_opt(&ecs_option(1, 20, &[10, 1, 0x20]));
    let m = run_with(&config(), &table(), &ok, Transport::Udp).1.unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(scope(&m), Some((20, 16)));
}

#[test]
fn ecs_parse_rules() {
    assert_eq!(ClientSubnet::parse(&[0, 1, 24]), Err(EcsError::Short));
    assert_eq!(ClientSubnet::parse(&[0, 2, 129, 0]), Err(EcsError::SourceTooLong));
    let v6 = ClientSubnet::parse(&[0, 2, 64, 0, 0x20, 1, 0x0d, 0xb8, 0, 0xe, 0, 0xff]).unwrap();
    assert_eq!(v6.client_ip(), Some("2001:db8:e::".parse().unwrap()), "cut to /56");
    let v4 = ClientSubnet::parse(&[0, 1, 30, 0, 10, 1, 2, 4]).unwrap();
    assert_eq!(v4.client_ip(), Some("10.1.2.0".parse().unwrap()), "cut to /24");
    assert_eq!(v4.scope_for(Some(16)), 16);
    assert_eq!(v4.scope_for(Some(30)), 24, "no finer than the localized /24");
    assert_eq!(v4.scope_for(Some(2)), 2, "wider than the source");
    assert_eq!(v4.scope_for(None), 24, "without a depth, the localized /24");
    assert_eq!(v6.scope_for(Some(112)), 56);
    assert_eq!(v6.scope_for(None), 56);
}

#[test]
fn malformed_packets() {
    let cfg = config();
    let t = table();
    // Shorter than a header, or a response: dropped.
    assert_eq!(run_with(&cfg, &t, &[1, 2, 3], Transport::Udp).0, Outcome::Drop);
    let mut resp = query("video.cdn.example.com", RecordType::A, None);
    resp[2] |= 0x80;
    assert_eq!(run_with(&cfg, &t, &resp, Transport::Udp).0, Outcome::Drop);
    // Header fine, question cut short: FORMERR.
    let q = query("video.cdn.example.com", RecordType::A, None);
    let (o, m) = run_with(&cfg, &t, &q[..q.len() - 3], Transport::Udp);
    assert!(matches!(o, Outcome::Reply { rcode: Rcode::FormErr, .. }));
    assert_eq!(m.unwrap().metadata.id, 0x4242);
    // Two questions, a compression pointer in the question, a label over 63: FORMERR.
    let mut two = q.clone();
    two[5] = 2;
    let mut ptr = q.clone();
    ptr[12] = 0xc0;
    let mut long = q.clone();
    long[12] = 64;
    for bad in [two, ptr, long] {
        let (o, _) = run_with(&cfg, &t, &bad, Transport::Udp);
        assert!(matches!(o, Outcome::Reply { rcode: Rcode::FormErr, .. }), "{o:?}");
    }
    // Two OPT records: FORMERR (RFC 6891 §6.1.1).
    let mut twice = raw_query_with_opt(&[]);
    twice[11] = 2;
    twice.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        run_with(&cfg, &t, &twice, Transport::Udp).0,
        Outcome::Reply { rcode: Rcode::FormErr, .. }
    ));
    // Opcode STATUS: NOTIMP.
    let mut status = q.clone();
    status[2] = (status[2] & 0x87) | (2 << 3);
    let (o, m) = run_with(&cfg, &t, &status, Transport::Udp);
    assert!(matches!(o, Outcome::Reply { rcode: Rcode::NotImp, .. }));
    assert_eq!(m.unwrap().metadata.response_code, ResponseCode::NotImp);
    // Class CH: REFUSED.
    let mut ch = q.clone();
    let n = ch.len();
    ch[n - 1] = 3;
    assert!(matches!(
        run_with(&cfg, &t, &ch, Transport::Udp).0,
        Outcome::Reply { rcode: Rcode::Refused, .. }
    ));
}

#[test]
fn config_defaults_and_validation() {
    let c: DnsConfig = toml::from_str("").unwrap();
    assert_eq!(c, DnsConfig::default());
    assert_eq!(c.max_udp_payload_bytes, 1232);
    assert!(c.validate("dns").is_empty());
    assert!(c.effective_udp_sockets() >= 1);
    assert!(toml::from_str::<DnsConfig>("bogus = 1").is_err(), "unknown keys rejected");

    let bad: DnsConfig = toml::from_str(
        r#"
        zones = ["ok.example", "bad..example"]
        soa_rname = "has space.example"
        max_udp_payload_bytes = 100
        udp_sockets = 100000
        tcp_idle_timeout_ms = 0
        tcp_max_connections = 0
        rate_limit_burst = 5
        server_id = ""
        rate_limit_slip = 11
        rate_limit_ipv4_prefix_len = 7
        rate_limit_ipv6_prefix_len = 129
        [[name_servers]]
        name = ""
        "#,
    )
    .unwrap();
    let paths: Vec<String> = bad.validate("dns").into_iter().map(|p| p.path).collect();
    assert_eq!(
        paths,
        [
            "dns.zones[1]",
            "dns.soa_rname",
            "dns.name_servers[0].name",
            "dns.server_id",
            "dns.max_udp_payload_bytes",
            "dns.udp_sockets",
            "dns.tcp_idle_timeout_ms",
            "dns.tcp_max_connections",
            "dns.rate_limit_burst",
            "dns.rate_limit_slip",
            "dns.rate_limit_ipv4_prefix_len",
            "dns.rate_limit_ipv6_prefix_len",
        ]
    );
    let round = toml::to_string(&config()).unwrap();
    assert_eq!(toml::from_str::<DnsConfig>(&round).unwrap(), config());
}

/// A limiter of `qps` with `burst`, slipping every `slip`-th query over the limit, that
/// limits each address on its own.
pub(super) fn limiter(qps: u32, burst: u32, slip: u32, t0: Instant) -> RateLimiter {
    let policy = Policy { qps, burst, slip, ipv4_prefix_len: 32, ipv6_prefix_len: 128 };
    RateLimiter::new(policy, t0).unwrap()
}

pub(super) fn allowed(rl: &RateLimiter, ip: IpAddr, at: Instant, n: usize) -> usize {
    (0..n).filter(|_| rl.check(ip, at) == Verdict::Allow).count()
}

#[test]
fn rate_limit_burst_then_steady_rate() {
    let t0 = Instant::now();
    let rl = limiter(10, 5, 0, t0);
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(allowed(&rl, ip, t0, 20), 5, "burst of 5 at one instant");
    let t1 = t0 + Duration::from_millis(100);
    assert_eq!(rl.check(ip, t1), Verdict::Allow, "one unit accrues in 100 ms");
    assert_eq!(rl.check(ip, t1), Verdict::Drop);
    assert_eq!(rl.check("192.0.2.2".parse().unwrap(), t1), Verdict::Allow, "another source");

    assert!(RateLimiter::new(Policy::default(), t0).is_none(), "0 qps = off");
    let rl = limiter(3, 0, 0, t0);
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(allowed(&rl, v6, t0, 10), 3, "burst defaults to the rate");
}

#[test]
fn rate_limit_slots_fold_mapped_v4() {
    let a: IpAddr = "198.51.100.9".parse().unwrap();
    assert_eq!(slot_of(a), slot_of("::ffff:198.51.100.9".parse().unwrap()));
    assert_ne!(slot_of(a), slot_of("198.51.100.10".parse().unwrap()));
}

/// Random mutations of valid queries (bit flips, truncation, count changes, junk tails):
/// never a panic, and every reply parses as a DNS message with the query's id.
#[test]
fn mutated_queries_never_panic_and_replies_are_well_formed() {
    let cfg = config();
    let t = table();
    let auth = Authority::new(&cfg);
    let seeds = [
        query("video.cdn.example.com", RecordType::A, Some(ecs("10.1.2.0", 24))),
        query(MANY, RecordType::AAAA, None),
        query("cdn.example.com", RecordType::NS, None),
        raw_query_with_opt(&ecs_option(2, 56, &[0x20, 1, 0xd, 0xb8, 0, 0xe, 0])),
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut out = vec![0u8; 65535];
    let mut replies = 0;
    for i in 0..20_000 {
        let mut q = seeds[i % seeds.len()].clone();
        for _ in 0..=(next() % 4) {
            let r = next() as usize;
            match r % 4 {
                0 if !q.is_empty() => {
                    let at = (r >> 8) % q.len();
                    q[at] ^= 1 << ((r >> 4) % 8);
                }
                1 => q.truncate((r >> 8) % (q.len() + 1)),
                2 => q.extend((0..(r >> 8) % 16).map(|_| next() as u8)),
                _ => {
                    if q.len() >= 12 {
                        q[4 + 2 * ((r >> 8) % 4) + 1] = (r >> 16) as u8;
                    }
                }
            }
        }
        let tr = if i % 2 == 0 { Transport::Udp } else { Transport::Tcp };
        if let Outcome::Reply { len, .. } = answer(&auth, &t, &q, RESOLVER, tr, i as u64, &mut out)
        {
            let m = Message::from_vec(&out[..len])
                .unwrap_or_else(|e| panic!("reply to {q:02x?} does not parse: {e}"));
            assert_eq!(m.metadata.id, u16::from_be_bytes([q[0], q[1]]));
            assert_eq!(m.metadata.message_type, MessageType::Response);
            if tr == Transport::Udp {
                assert!(len <= usize::from(cfg.max_udp_payload_bytes));
            }
            replies += 1;
        }
    }
    assert!(replies > 5_000, "most mutations still get a reply: {replies}");
}
