use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::decision::NodeIndex;
use crate::decision::{DnsRequest, Family, HttpRequest, RouteError, SkipReason, ZoneSource};
use crate::geo::test_mmdb;
use crate::health::{HealthState, HealthView, NodeHealth};
use crate::spec::{FleetSpec, NodeSpec, PanicMode, Policy, ServiceSpec, ZoneSpec};
use crate::{CoverageZones, LocalizationMethod};

mod deep;

fn zone(name: &str, lat: f64, lon: f64, backups: &[&str]) -> ZoneSpec {
    ZoneSpec {
        name: name.into(),
        latitude: Some(lat),
        longitude: Some(lon),
        backups: backups.iter().map(|b| (*b).into()).collect(),
    }
}

fn node(id: &str, zone: &str, last: u8) -> NodeSpec {
    NodeSpec {
        id: id.into(),
        zone: zone.into(),
        ipv4: Some(Ipv4Addr::new(192, 0, 2, last)),
        ipv6: None,
        hostname: None,
        port: 80,
        https_port: 443,
        weight: None,
        capacity_mbps: None,
        admin: AdminState::Enabled,
        tags: vec![],
    }
}

fn service(name: &str, host: &str) -> ServiceSpec {
    toml::from_str(&format!("name = {name:?}\nhostnames = [{host:?}]")).unwrap()
}

/// Zones: nyc (backup bos), bos, chi, sfo (far west), lon (far away). Clients:
/// 10.1/16 -> nyc, 10.2/16 -> bos, 10.3/16 -> sfo, 10.9/16 -> "unserved" CZF zone near chi.
fn fixture() -> (FleetSpec, CoverageZones) {
    let mut spec = FleetSpec {
        zones: vec![
            zone("nyc", 40.7, -74.0, &["bos"]),
            zone("bos", 42.4, -71.1, &[]),
            zone("chi", 41.9, -87.6, &[]),
            zone("sfo", 37.8, -122.4, &[]),
            zone("lon", 51.5, -0.1, &[]),
        ],
        ..FleetSpec::default()
    };
    let mut last = 1;
    for z in ["nyc", "bos", "chi", "sfo", "lon"] {
        for i in 0..4 {
            spec.nodes.push(Arc::new(node(&format!("{z}-{i}"), z, last)));
            last += 1;
        }
    }
    let mut video = service("video", "video.cdn.example.com");
    video.hostnames.push("*.img.example.com".into());
    video.default_zone = Some("chi".into());
    spec.services.push(video);
    let czf = CoverageZones::from_czf_json(
        r#"{"coverageZones": {
            "nyc": {"network": ["10.1.0.0/16"], "network6": ["2001:db8:1::/48"]},
            "bos": {"network": ["10.2.0.0/16"]},
            "sfo": {"network": ["10.3.0.0/16", "10.3.3.0/24"]},
            "unserved": {"network": ["10.9.0.0/16"],
                         "coordinates": {"latitude": 41.0, "longitude": -88.0}}
        }}"#,
    )
    .unwrap();
    (spec, czf)
}

fn table(spec: &FleetSpec, czf: &CoverageZones, health: &HealthView) -> RoutingTable {
    RoutingTable::build(spec, czf, None, health).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn http<'a>(t: &RoutingTable, client: &str, path: &'a str) -> HttpRequest<'a> {
    HttpRequest {
        service: t.service_by_name("video").unwrap(),
        client_ip: ip(client),
        path,
        query: "",
        seed: 0,
    }
}

fn pick(t: &RoutingTable, client: &str, path: &str) -> String {
    let d = t.route_http(&http(t, client, path), false).unwrap();
    d.node().id.to_string()
}

fn state(s: HealthState) -> NodeHealth {
    NodeHealth::state(s)
}

fn view(entries: &[(&str, NodeHealth)]) -> HealthView {
    let mut v = HealthView::new(1);
    for (id, h) in entries {
        v.nodes.insert((*id).into(), *h);
    }
    v
}

#[test]
fn localizes_by_coverage_zone_then_default() {
    let (spec, czf) = fixture();
    let t = table(&spec, &czf, &HealthView::default());
    let l = t.localize(ip("10.3.3.9"));
    assert_eq!(l.method, LocalizationMethod::CoverageZone);
    assert_eq!(t.zone_name(l.zone.unwrap()), Some("sfo"));
    assert_eq!(l.matched_prefix_len, Some(24));
    let l = t.localize(ip("2001:db8:1::7"));
    assert_eq!((t.zone_name(l.zone.unwrap()), l.matched_prefix_len), (Some("nyc"), Some(48)));
    // A coverage zone the fleet does not have maps to the nearest fleet zone by its
    // coordinates (Chicago).
    let l = t.localize(ip("10.9.0.1"));
    assert_eq!(t.zone_name(l.zone.unwrap()), Some("chi"));
    assert_eq!(l.method, LocalizationMethod::CoverageZone);
    let l = t.localize(ip("172.16.0.1"));
    assert_eq!((l.zone, l.method, l.matched_prefix_len), (None, LocalizationMethod::Default, None));

    // Unlocalized clients go to the service's default zone.
    let d = t.route_http(&http(&t, "172.16.0.1", "/a"), false).unwrap();
    assert_eq!(d.zone_name(), "chi");
    assert_eq!(d.zone_source, ZoneSource::Default);
}

#[test]
fn geoip_fallback_picks_nearest_zone() {
    let (spec, czf) = fixture();
    let db = test_mmdb::build(&[
        test_mmdb::entry("172.16.0.0/12", Some((51.0, 0.0))),
        test_mmdb::entry("2001:db8:9::/48", Some((37.0, -121.0))),
    ]);
    let geo = GeoIp::from_bytes(db).unwrap();
    let t = RoutingTable::build(&spec, &czf, Some(&geo), &HealthView::default()).unwrap();
    let l = t.localize(ip("172.16.5.5"));
    assert_eq!(l.method, LocalizationMethod::GeoIp);
    assert_eq!(t.zone_name(l.zone.unwrap()), Some("lon"));
    assert_eq!(l.matched_prefix_len, Some(12));
    let l = t.localize(ip("2001:db8:9::1"));
    assert_eq!(t.zone_name(l.zone.unwrap()), Some("sfo"));
    // The coverage zone still wins over GeoIP.
    assert_eq!(t.localize(ip("10.1.0.1")).method, LocalizationMethod::CoverageZone);
    assert_eq!(t.localize(ip("192.168.0.1")).method, LocalizationMethod::Default);
}

#[test]
fn host_lookup_and_name_classes() {
    let (spec, czf) = fixture();
    let t = table(&spec, &czf, &HealthView::default());
    let video = t.service_by_name("video");
    assert!(video.is_some());
    assert_eq!(t.service_for_host("video.cdn.example.com"), video);
    assert_eq!(t.service_for_host("VIDEO.cdn.Example.com."), video);
    assert_eq!(t.service_for_host("a.img.example.com"), video);
    assert_eq!(t.service_for_host("a.b.img.example.com"), video);
    assert_eq!(t.service_for_host("img.example.com"), None);
    assert_eq!(t.service_for_host("other.example.com"), None);
    assert_eq!(t.classify_name("video.cdn.example.com"), NameClass::Service(video.unwrap()));
    assert_eq!(t.classify_name("cdn.example.com."), NameClass::Apex);
    assert_eq!(t.classify_name("img.example.com"), NameClass::Apex);
    assert_eq!(t.classify_name("nope.cdn.example.com"), NameClass::InZone);
    assert_eq!(t.classify_name("example.org"), NameClass::OutOfZone);
    assert_eq!(t.classify_name("xcdn.example.com"), NameClass::OutOfZone);
    let mut apexes: Vec<&str> = t.apexes().collect();
    apexes.sort();
    assert_eq!(apexes, ["cdn.example.com", "img.example.com"]);

    // A service on a registrable domain itself is its own apex; the TLD is never claimed.
    let (mut spec, czf) = fixture();
    spec.services[0].hostnames = vec!["example.net".into()];
    let t = table(&spec, &czf, &HealthView::default());
    assert_eq!(t.apexes().collect::<Vec<_>>(), ["example.net"]);
    assert!(matches!(t.classify_name("example.net"), NameClass::Service(_)));
    assert_eq!(t.classify_name("www.example.net"), NameClass::InZone);
    assert_eq!(t.classify_name("other.net"), NameClass::OutOfZone);
    let (_, info) = t.services().next().unwrap();
    assert_eq!((info.name(), info.ttl_seconds()), ("video", 30));
    assert!(info.has_family(Family::V4) && !info.has_family(Family::V6));
}

#[test]
fn errors_distinguish_unknown_service_and_no_node() {
    let (mut spec, czf) = fixture();
    spec.services[0].default_zone = None;
    spec.services[0].fallback_to_nearest = false;
    let t = table(&spec, &czf, &HealthView::default());
    let mut req = http(&t, "172.16.0.1", "/");
    assert_eq!(t.route_http(&req, false).unwrap_err(), RouteError::NotLocalized);
    req.service = ServiceIndex(9);
    assert_eq!(t.route_http(&req, false).unwrap_err(), RouteError::UnknownService);
    let bos_down: Vec<(String, NodeHealth)> =
        (0..4).map(|i| (format!("bos-{i}"), state(HealthState::Down))).collect();
    let mut v = HealthView::new(2);
    v.nodes.extend(bos_down);
    let t = t.with_health(&v);
    let err = t.route_http(&http(&t, "10.2.0.1", "/"), false).unwrap_err();
    assert_eq!(err, RouteError::NoEligibleNode);
}

#[test]
fn fallback_chain_order() {
    let (mut spec, czf) = fixture();
    spec.services[0].fallback_nearest_limit = 1;
    let t = table(&spec, &czf, &HealthView::default());
    let down = |zones: &[&str]| {
        let mut v = HealthView::new(7);
        for z in zones {
            for i in 0..4 {
                v.nodes.insert(format!("{z}-{i}"), state(HealthState::Down));
            }
        }
        t.with_health(&v)
    };
    let route = |t: &RoutingTable| {
        t.route_http(&http(t, "10.1.0.1", "/x"), true)
            .map(|d| (d.zone_name().to_string(), d.zone_source))
    };
    assert_eq!(route(&t), Ok(("nyc".into(), ZoneSource::Localized)));
    // nyc down -> its backup bos.
    assert_eq!(route(&down(&["nyc"])), Ok(("bos".into(), ZoneSource::Backup)));
    // nyc and bos down -> nearest other zone (chi), limited to one.
    assert_eq!(route(&down(&["nyc", "bos"])), Ok(("chi".into(), ZoneSource::Nearest)));
    // chi down too: the one allowed nearest attempt is spent; the default zone is chi, also
    // down, so nothing is left.
    assert_eq!(route(&down(&["nyc", "bos", "chi"])), Err(RouteError::NoEligibleNode));

    // Zones the service may not use are passed over, and explained.
    spec.services[0].zones = vec!["bos".into(), "sfo".into(), "chi".into()];
    let t = table(&spec, &czf, &HealthView::default());
    let d = t.route_http(&http(&t, "10.1.0.1", "/x"), true).unwrap();
    assert_eq!((d.zone_name(), d.zone_source), ("bos", ZoneSource::Backup));
    assert_eq!(d.skipped()[0].reason, SkipReason::ZoneNotAllowed);
    assert_eq!(d.skipped()[0].zone, "nyc");
    assert_eq!(d.localization.method, LocalizationMethod::CoverageZone);

    // Without fallback to nearest, a dead zone with no backups has no answer.
    spec.services[0].zones.clear();
    spec.services[0].fallback_to_nearest = false;
    spec.services[0].default_zone = None;
    let t = table(&spec, &czf, &HealthView::default());
    let mut v = HealthView::new(1);
    for i in 0..4 {
        v.nodes.insert(format!("sfo-{i}"), state(HealthState::Down));
    }
    let t = t.with_health(&v);
    assert_eq!(
        t.route_http(&http(&t, "10.3.0.1", "/"), false).unwrap_err(),
        RouteError::NoEligibleNode
    );
}

#[test]
fn degraded_only_when_healthy_run_out_and_explained() {
    let (spec, czf) = fixture();
    let t = table(&spec, &czf, &HealthView::default());
    let t = t.with_health(&view(&[
        ("nyc-0", state(HealthState::Down)),
        ("nyc-1", state(HealthState::Degraded)),
        ("nyc-2", NodeHealth { utilization: Some(0.95), ..state(HealthState::Up) }),
    ]));
    t.nodes.iter().for_each(|s| assert!(s.effective_weight >= 0.0));
    for k in 0..200 {
        let d = t.route_http(&http(&t, "10.1.0.1", &format!("/k{k}")), false).unwrap();
        assert_eq!(d.node().id, "nyc-3");
        assert!(!d.degraded);
    }
    let d = t.route_http(&http(&t, "10.1.0.1", "/k"), true).unwrap();
    let reasons: HashMap<String, SkipReason> =
        d.skipped().iter().map(|s| (s.node.unwrap().to_owned(), s.reason)).collect();
    assert_eq!(reasons["nyc-0"], SkipReason::Down);
    assert_eq!(reasons["nyc-1"], SkipReason::Degraded);
    assert_eq!(reasons["nyc-2"], SkipReason::Overloaded { utilization: 0.95 });
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["zone_name"], "nyc");
    assert_eq!(json["localization"]["method"], "coverage_zone");
    assert_eq!(json["localization"]["matched_prefix_len"], 16);
    assert_eq!(json["nodes"][0]["id"], "nyc-3");
    assert_eq!(json["nodes"][0]["ipv4"], "192.0.2.4");
    let overloaded =
        json["skipped"].as_array().unwrap().iter().find(|s| s["node"] == "nyc-2").unwrap();
    assert_eq!(overloaded["reason"], "overloaded");
    assert!((overloaded["utilization"].as_f64().unwrap() - 0.95).abs() < 1e-6);

    let t = t.with_node_health("nyc-3", state(HealthState::Down), 9);
    assert_eq!(t.health_version(), 9);
    let d = t.route_http(&http(&t, "10.1.0.1", "/k"), false).unwrap();
    assert_eq!((d.node().id, d.degraded), ("nyc-1", true));
}

#[test]
fn admin_states_are_respected() {
    let (mut spec, czf) = fixture();
    Arc::make_mut(&mut spec.nodes[0]).admin = AdminState::Drain;
    Arc::make_mut(&mut spec.nodes[1]).admin = AdminState::Maintenance;
    Arc::make_mut(&mut spec.nodes[2]).admin = AdminState::Maintenance;
    let t = table(&spec, &czf, &HealthView::default());
    for k in 0..100 {
        assert_eq!(pick(&t, "10.1.0.1", &format!("/{k}")), "nyc-3");
    }
    let d = t.route_http(&http(&t, "10.1.0.1", "/"), true).unwrap();
    let reasons: Vec<_> = d.skipped().iter().map(|s| s.reason).collect();
    assert_eq!(reasons, [SkipReason::Draining, SkipReason::Maintenance, SkipReason::Maintenance]);
}

#[test]
fn panic_threshold_fail_open_and_closed() {
    let (mut spec, czf) = fixture();
    spec.services[0].panic_threshold = 0.5;
    spec.services[0].zones = vec!["nyc".into()];
    spec.services[0].default_zone = None;
    Arc::make_mut(&mut spec.nodes[3]).admin = AdminState::Maintenance; // nyc-3
    let t = table(&spec, &czf, &HealthView::default());
    // One of three enabled nodes down: 2/3 usable, above 0.5, no panic; nyc-0 never chosen.
    let one_down = t.with_health(&view(&[("nyc-0", state(HealthState::Down))]));
    assert!(!one_down.in_panic(ServiceIndex(0)));
    for k in 0..100 {
        assert_ne!(pick(&one_down, "10.1.0.1", &format!("/{k}")), "nyc-0");
    }
    // Two of three down: 1/3 < 0.5, panic; fail open spreads over every enabled node,
    // down ones included, but never the node in maintenance.
    let two_down = t.with_health(&view(&[
        ("nyc-0", state(HealthState::Down)),
        ("nyc-1", state(HealthState::Down)),
    ]));
    assert!(two_down.in_panic(ServiceIndex(0)));
    let mut seen = std::collections::BTreeSet::new();
    for k in 0..300 {
        let d = two_down.route_http(&http(&two_down, "10.1.0.1", &format!("/{k}")), false).unwrap();
        assert!(d.panic);
        seen.insert(d.node().id.to_string());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["nyc-0", "nyc-1", "nyc-2"]);

    spec.services[0].panic_mode = PanicMode::Closed;
    let closed = table(&spec, &czf, &HealthView::default()).with_health(&view(&[
        ("nyc-0", state(HealthState::Down)),
        ("nyc-1", state(HealthState::Down)),
    ]));
    assert_eq!(
        closed.route_http(&http(&closed, "10.1.0.1", "/"), false).unwrap_err(),
        RouteError::PanicFailClosed
    );
    // Recovery leaves panic.
    let healed = closed.with_health(&HealthView::new(3));
    assert!(!healed.in_panic(ServiceIndex(0)));
    assert!(healed.route_http(&http(&healed, "10.1.0.1", "/"), false).is_ok());
}

#[test]
fn with_health_shares_heavy_parts() {
    let (spec, czf) = fixture();
    let t = table(&spec, &czf, &HealthView::default());
    let t2 = t.with_health(&view(&[("nyc-0", state(HealthState::Down))]));
    assert!(Arc::ptr_eq(&t.fleet, &t2.fleet));
    assert!(Arc::ptr_eq(&t.fleet.czf, czf.index()));
    let t3 = t2.with_node_health("nyc-0", state(HealthState::Up), 5);
    assert!(Arc::ptr_eq(&t.fleet, &t3.fleet));
    assert!(t.memory_bytes() > t.index_memory_bytes());
}

#[test]
fn build_rejects_invalid_spec() {
    let (mut spec, czf) = fixture();
    Arc::make_mut(&mut spec.nodes[0]).zone = "mars".into();
    let err = RoutingTable::build(&spec, &czf, None, &HealthView::default()).unwrap_err();
    let BuildError::InvalidSpec(errs) = &err;
    assert_eq!(errs[0].path, "nodes[0].zone");
    assert!(err.to_string().contains("unknown zone \"mars\""));
}

/// Keys routed in zone nyc over `n` paths.
fn assignments(t: &RoutingTable, n: usize) -> Vec<String> {
    (0..n).map(|k| pick(t, "10.1.0.1", &format!("/obj/{k}"))).collect()
}

#[test]
fn node_loss_moves_only_its_keys_and_join_moves_about_one_nth() {
    let (mut spec, czf) = fixture();
    let base = table(&spec, &czf, &HealthView::default());
    let before = assignments(&base, 4000);

    // Loss: only keys of nyc-2 move, and they spread over the others.
    let lost = base.with_health(&view(&[("nyc-2", state(HealthState::Down))]));
    let after = assignments(&lost, 4000);
    for (b, a) in before.iter().zip(&after) {
        if b != "nyc-2" {
            assert_eq!(a, b);
        } else {
            assert_ne!(a, "nyc-2");
        }
    }
    let moved = before.iter().filter(|b| *b == "nyc-2").count();
    assert!((800..1200).contains(&moved), "{moved} of 4000 on one of 4 nodes");

    // Join: a fifth node takes about 1/5 of the keys, all from others, and no key moves
    // between old nodes.
    spec.nodes.push(Arc::new(node("nyc-new", "nyc", 200)));
    let joined = table(&spec, &czf, &HealthView::default());
    let after = assignments(&joined, 4000);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if a != b {
            assert_eq!(a, "nyc-new");
            moved += 1;
        }
    }
    assert!((640..960).contains(&moved), "{moved} of 4000 moved to the new node");

    // An unrelated zone changing (sfo loses nodes, lon gains one) moves nothing in nyc.
    spec.nodes.push(Arc::new(node("lon-new", "lon", 201)));
    let t = table(&spec, &czf, &HealthView::default()).with_health(&view(&[
        ("sfo-0", state(HealthState::Down)),
        ("sfo-1", state(HealthState::Down)),
    ]));
    assert_eq!(assignments(&t, 4000), after);
}

#[test]
fn weights_are_respected() {
    let (mut spec, czf) = fixture();
    let weights = [1.0, 2.0, 3.0, 4.0];
    for (i, w) in weights.iter().enumerate() {
        Arc::make_mut(&mut spec.nodes[i]).weight = Some(*w);
    }
    let t = table(&spec, &czf, &HealthView::default());
    let n = 20_000;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for k in assignments(&t, n) {
        *counts.entry(k).or_default() += 1;
    }
    for (i, w) in weights.iter().enumerate() {
        let expect = n as f64 * w / 10.0;
        let got = counts[&format!("nyc-{i}")] as f64;
        // Binomial standard deviation is at most ~70 here; allow 5 sigma.
        assert!((got - expect).abs() < 350.0, "nyc-{i}: {got} vs {expect}");
    }

    // An agent weight override and load headroom scale the share the same way.
    let t = t.with_health(&view(&[(
        "nyc-3",
        NodeHealth { agent_weight_percent: Some(25), ..state(HealthState::Up) },
    )]));
    let share = assignments(&t, n).iter().filter(|k| *k == "nyc-3").count() as f64 / n as f64;
    assert!((share - 1.0 / 7.0).abs() < 0.02, "{share}");
    let t = t.with_health(&view(&[(
        "nyc-3",
        NodeHealth { utilization: Some(0.5), ..state(HealthState::Up) },
    )]));
    let share = assignments(&t, n).iter().filter(|k| *k == "nyc-3").count() as f64 / n as f64;
    assert!((share - 2.0 / 8.0).abs() < 0.02, "{share}");
}

#[test]
fn dispersion_spreads_one_key_over_top_n() {
    let (mut spec, czf) = fixture();
    spec.services[0].dispersion = 2;
    let t = table(&spec, &czf, &HealthView::default());
    for k in 0..50 {
        let path = format!("/d/{k}");
        let mut seen = std::collections::BTreeSet::new();
        let mut first = None;
        for seed in 0..64u64 {
            let mut req = http(&t, "10.1.0.1", &path);
            req.seed = seed;
            let d = t.route_http(&req, false).unwrap();
            seen.insert(d.node().id.to_string());
            first.get_or_insert(d);
        }
        assert_eq!(seen.len(), 2, "key {k}: {seen:?}");
        // The two are the top of the ranking without dispersion.
        spec.services[0].dispersion = 1;
        let plain = table(&spec, &czf, &HealthView::default());
        let d = plain.route_http(&http(&plain, "10.1.0.1", &path), false).unwrap();
        assert!(seen.contains(d.node().id));
        assert!(seen.contains(d.alternates().next().unwrap().id));
        spec.services[0].dispersion = 2;
    }
}

#[test]
fn hash_key_rule_regex_and_query_params() {
    let (mut spec, czf) = fixture();
    spec.services[0].hash_key.path_regex = Some(r"^/([^/]+)/(?:[^/]+)/([^/]+)$".into());
    spec.services[0].hash_key.query_params = vec!["v".into()];
    let t = table(&spec, &czf, &HealthView::default());
    let s = &t.fleet.services[0];
    let key = |p: &str, q: &str| select::content_key(s, p, q);
    // The middle path segment is ignored; selected query params count, others do not.
    assert_eq!(key("/movie/720p/seg1.ts", ""), key("/movie/1080p/seg1.ts", ""));
    assert_ne!(key("/movie/720p/seg1.ts", ""), key("/movie/720p/seg2.ts", ""));
    assert_eq!(key("/m/a/s", "v=1&x=2"), key("/m/b/s", "x=9&v=1"));
    assert_ne!(key("/m/a/s", "v=1"), key("/m/a/s", "v=2"));
    // A path the regex does not match is hashed whole.
    assert_ne!(key("/short", ""), key("/other", ""));
}

#[test]
fn dns_answers_distinct_family_and_stable() {
    let (mut spec, czf) = fixture();
    spec.services[0].dns_answers = 3;
    Arc::make_mut(&mut spec.nodes[0]).ipv6 = Some("2001:db8::10".parse().unwrap());
    Arc::make_mut(&mut spec.nodes[1]).ipv6 = Some("2001:db8::11".parse().unwrap());
    let t = table(&spec, &czf, &HealthView::default());
    let req = |want, qname, seed| DnsRequest {
        service: ServiceIndex(0),
        client_ip: ip("10.1.2.3"),
        qname,
        want,
        seed,
    };
    let d = t.route_dns(&req(Family::V4, "video.cdn.example.com", 1)).unwrap();
    assert_eq!(d.nodes().len(), 3);
    let mut ids: Vec<_> = d.nodes().map(|n| n.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
    assert_eq!(d.localization.matched_prefix_len, Some(16));
    assert_eq!(d.ttl_seconds, 30);
    // Same name, any seed, any case: same answers under consistent_hash.
    let again = t.route_dns(&req(Family::V4, "VIDEO.cdn.example.com.", 99)).unwrap();
    assert!(again.nodes().eq(d.nodes()));
    // AAAA: only the two nodes with IPv6 qualify; the rest are explained.
    let d6 = t.route_dns_explained(&req(Family::V6, "video.cdn.example.com", 1), true).unwrap();
    let ids6: std::collections::BTreeSet<_> = d6.nodes().map(|n| n.id.to_string()).collect();
    assert_eq!(ids6.into_iter().collect::<Vec<_>>(), ["nyc-0", "nyc-1"]);
    assert!(d6.skipped().iter().all(|s| s.reason == SkipReason::NoAddress));

    // weighted_random: answers vary with the seed and follow weights.
    spec.services[0].policy = Policy::WeightedRandom;
    spec.services[0].dns_answers = 1;
    Arc::make_mut(&mut spec.nodes[0]).weight = Some(3.0);
    let t = table(&spec, &czf, &HealthView::default());
    let n = 8000;
    let hits = (0..n)
        .filter(|&s| {
            let d = t.route_dns(&req(Family::V4, "video.cdn.example.com", s)).unwrap();
            d.node().id == "nyc-0"
        })
        .count();
    let share = hits as f64 / n as f64;
    assert!((share - 0.5).abs() < 0.03, "{share}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Bounded load: an overloaded node is never picked while some node in the zone is usable
    /// and not overloaded.
    #[test]
    fn never_picks_overloaded_while_eligible_exists(
        utils in prop::collection::vec(0.0f32..1.0, 4),
        down in prop::collection::vec(any::<bool>(), 4),
        keys in prop::collection::vec("[a-z0-9/]{1,12}", 20),
    ) {
        let (spec, czf) = fixture();
        let mut v = HealthView::new(1);
        for i in 0..4 {
            let s = if down[i] { HealthState::Down } else { HealthState::Up };
            v.nodes.insert(format!("nyc-{i}"), NodeHealth { utilization: Some(utils[i]), ..state(s) });
        }
        let t = table(&spec, &czf, &v);
        let usable: Vec<bool> = (0..4).map(|i| !down[i] && utils[i] <= 0.9).collect();
        for k in &keys {
            match t.route_http(&http(&t, "10.1.0.1", k), false) {
                Ok(d) => {
                    let id = d.node().id;
                    if usable.iter().any(|u| *u) {
                        let i: usize = id.strip_prefix("nyc-").unwrap().parse().unwrap();
                        prop_assert!(usable[i], "picked {} with {:?}", id, v.nodes[id]);
                    } else {
                        prop_assert_ne!(d.zone_name(), "nyc");
                    }
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}

#[test]
fn effective_weight_factors() {
    let (mut spec, czf) = fixture();
    Arc::make_mut(&mut spec.nodes[0]).weight = Some(10.0);
    let t = table(&spec, &czf, &HealthView::default());
    let w = |h: NodeHealth| {
        let t = t.with_node_health("nyc-0", h, 2);
        let s = t.node_status(t.node_by_id("nyc-0").unwrap()).unwrap();
        (s.effective_weight, s.panic_weight)
    };
    assert_eq!(w(NodeHealth::default()), (10.0, 10.0));
    assert_eq!(w(state(HealthState::Degraded)), (5.0, 10.0));
    assert_eq!(w(state(HealthState::Down)), (0.0, 10.0));
    // Headroom is rounded to 5% steps so small load noise does not move keys.
    let util = |u| NodeHealth { utilization: Some(u), ..state(HealthState::Up) };
    assert_eq!(w(util(0.31)), w(util(0.29)));
    assert!((w(util(0.3)).0 - 7.0).abs() < 1e-9);
    assert!((w(util(1.0)).0 - 0.5).abs() < 1e-9);
    assert_eq!(w(util(f32::NAN)).0, 10.0);
    let agent = |p| NodeHealth {
        agent_weight_percent: Some(p),
        utilization: Some(0.5),
        ..state(HealthState::Up)
    };
    assert_eq!(w(agent(50)), (5.0, 5.0));
    assert_eq!(w(agent(0)), (0.0, 0.0));
    // A zero agent weight makes the node ineligible with a reason.
    let t = t.with_node_health("nyc-0", agent(0), 3);
    let d = t.route_http(&http(&t, "10.1.0.1", "/z"), true).unwrap();
    let r = d.skipped().iter().find(|s| s.node == Some("nyc-0")).unwrap();
    assert_eq!(r.reason, SkipReason::ZeroWeight);
    // Unknown ids leave the snapshot as it was.
    let same = t.with_node_health("nobody", state(HealthState::Down), 4);
    assert_eq!(same.node_status(NodeIndex(0)), t.node_status(NodeIndex(0)));
}

#[test]
fn vector_rank_builds_match_the_portable_loop() {
    use super::health_state::{Slot, Slots};
    use super::select::{Batch, rank_batch};
    // Random members: every flag combination, weights over many magnitudes, utilization
    // unknown or around the threshold; both the normal and the panic weights.
    let mut h = 0x1234_5678_9ABC_DEF0u64;
    let mut next = || {
        h = crate::rendezvous::mix64(h.wrapping_add(0x9E37_79B9_7F4A_7C15));
        h
    };
    let (mut compared, mut eligible) = (0, 0);
    for round in 0..500 {
        let n = 1 + (next() % 70) as usize;
        let members: Vec<Slot> = (0..n)
            .map(|_| {
                let util = match next() % 3 {
                    0 => f32::NEG_INFINITY,
                    _ => (next() % 1000) as f32 / 1000.0,
                };
                let inv = f32::from_bits(0x3000_0000 + (next() % 0x1800_0000) as u32);
                let inv_panic = (next() % 100) as f32 / 7.0;
                // Mostly eligible: flags drawn from the bits that do not reject.
                let flags = if next() % 4 == 0 { next() as u8 } else { next() as u8 & 0x38 };
                Slot::from_parts(next(), flags, inv, inv_panic, util)
            })
            .collect();
        let slots = Slots::from_slots(members.into_iter());
        let key = next();
        let need = [Slot::V4, Slot::V6, Slot::V4 | Slot::V6][round % 3];
        let batch = Batch::new(&slots, 0, n, round % 4 == 0);
        let mut want = vec![0u64; n];
        rank_batch(key, need, 0.5, 7, batch, &mut want);
        #[cfg(target_arch = "x86_64")]
        {
            let mut got = vec![0u64; n];
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present, checked above.
                unsafe { select::wide::rank_avx2(key, need, 0.5, 7, batch, &mut got) };
                assert_eq!(got, want, "avx2, round {round}");
                compared += 1;
            }
            if std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: AVX-512 F/DQ/VL are present, checked above.
                unsafe { select::wide::rank_avx512(key, need, 0.5, 7, batch, &mut got) };
                assert_eq!(got, want, "avx512, round {round}");
                compared += 1;
            }
        }
        eligible += want.iter().filter(|&&r| r != crate::rendezvous::NO_RANK).count();
    }
    assert!(eligible > 5_000, "too few eligible members to compare: {eligible}");
    eprintln!("{compared} vector-build comparisons, {eligible} eligible members");
}
