//! Deep caching: HTTP decisions through the deep coverage zones, and every way they fall
//! back to the normal decision.

use std::collections::HashMap;
use std::sync::Arc;

use super::{fixture, http, state, table, view};
use crate::coverage::DeepCoverageZones;
use crate::decision::{DeepCaching, DnsRequest, Family, RouteError, SkipReason, ZoneSource};
use crate::health::{HealthState, HealthView};
use crate::spec::{FleetSpec, PanicMode};
use crate::{CoverageZones, LocalizationMethod, RoutingTable};

/// Clients of 10.1.7.0/24 (inside nyc's 10.1/16) sit behind deep caches: two `bos` nodes,
/// one `lon` node, a name the fleet does not know and an empty name. 10.1.8.0/24 is a deep
/// zone whose only caches are unknown.
const DCZF: &str = r#"{"deepCoverageZones": {
    "deep-nyc-a": {"network": ["10.1.7.0/24"], "network6": ["2001:db8:1:7::/64"],
                   "caches": ["bos-1", "ghost-1", "bos-2", "", "lon-0"]},
    "deep-nyc-b": {"network": ["10.1.8.0/24"], "caches": ["ghost-2"]}
}}"#;

fn deep_fixture() -> (FleetSpec, CoverageZones) {
    let (mut spec, czf) = fixture();
    // A second service that may not use `lon`.
    let mut east = super::service("east", "east.cdn.example.com");
    east.zones = vec!["nyc".into(), "bos".into()];
    spec.services.push(east);
    (spec, czf.with_deep(DeepCoverageZones::from_dczf_json(DCZF).unwrap()))
}

fn deep_pick(t: &RoutingTable, client: &str, path: &str) -> (String, LocalizationMethod) {
    let d = t.route_http_deep(&http(t, client, path), false, DeepCaching::Always).unwrap();
    (d.node().id.to_owned(), d.localization.method)
}

#[test]
fn deep_clients_go_to_their_deep_caches_first() {
    let (spec, czf) = deep_fixture();
    let t = table(&spec, &czf, &HealthView::default());
    let mut seen = HashMap::new();
    for k in 0..300 {
        let path = format!("/k{k}");
        let req = http(&t, "10.1.7.20", &path);
        let d = t.route_http_deep(&req, false, DeepCaching::Always).unwrap();
        assert_eq!(d.localization.method, LocalizationMethod::DeepCoverageZone);
        assert_eq!(d.localization.matched_prefix_len, Some(24));
        assert_eq!(d.zone_source, ZoneSource::Localized);
        let n = d.node();
        // The decision names the cache's own zone.
        assert_eq!(d.zone_name(), n.zone);
        assert_eq!(d.localization.zone.and_then(|z| t.zone_name(z)), Some(n.zone));
        for alt in d.alternates() {
            assert!(["bos-1", "bos-2", "lon-0"].contains(&alt.id), "{}", alt.id);
        }
        *seen.entry(n.id.to_owned()).or_insert(0) += 1;
        // Same key, same cache.
        assert_eq!(deep_pick(&t, "10.1.7.99", &format!("/k{k}")).0, n.id);
    }
    let mut ids: Vec<_> = seen.keys().cloned().collect();
    ids.sort();
    assert_eq!(ids, ["bos-1", "bos-2", "lon-0"], "every known deep cache takes keys");

    // IPv6 clients of the deep zone too; clients beside it get the normal decision.
    assert_eq!(deep_pick(&t, "2001:db8:1:7::5", "/a").1, LocalizationMethod::DeepCoverageZone);
    let (id, method) = deep_pick(&t, "10.1.6.1", "/a");
    assert_eq!(method, LocalizationMethod::CoverageZone);
    assert!(id.starts_with("nyc-"), "{id}");
    // A deep zone with no cache the fleet knows is no deep zone at all.
    assert_eq!(deep_pick(&t, "10.1.8.1", "/a").1, LocalizationMethod::CoverageZone);
}

#[test]
fn services_without_deep_caching_and_dns_ignore_the_deep_zones() {
    let (spec, czf) = deep_fixture();
    let t = table(&spec, &czf, &HealthView::default());
    let svc = t.service_by_name("video").unwrap();
    assert_eq!(t.service(svc).unwrap().deep_caching(), DeepCaching::Never);
    for k in 0..50 {
        let path = format!("/k{k}");
        let req = http(&t, "10.1.7.20", &path);
        let plain = t.route_http(&req, false).unwrap();
        assert_eq!(plain.localization.method, LocalizationMethod::CoverageZone);
        assert_eq!(plain.zone_name(), "nyc");
        let never = t.route_http_deep(&req, false, DeepCaching::Never).unwrap();
        assert_eq!(never, plain);
    }
    let req = DnsRequest {
        service: svc,
        client_ip: "10.1.7.20".parse().unwrap(),
        qname: "video.cdn.example.com",
        want: Family::V4,
        seed: 0,
    };
    let d = t.route_dns(&req).unwrap();
    assert_eq!((d.zone_name(), d.localization.method), ("nyc", LocalizationMethod::CoverageZone));
}

#[test]
fn no_usable_deep_cache_falls_back_to_the_normal_decision() {
    let (spec, czf) = deep_fixture();
    let t = table(&spec, &czf, &HealthView::default());
    // One deep cache down: its keys move, the others' stay.
    let before: Vec<String> =
        (0..200).map(|k| deep_pick(&t, "10.1.7.1", &format!("/{k}")).0).collect();
    let t = t.with_health(&view(&[("bos-1", state(HealthState::Down))]));
    for (k, was) in before.iter().enumerate() {
        let (now, method) = deep_pick(&t, "10.1.7.1", &format!("/{k}"));
        assert_eq!(method, LocalizationMethod::DeepCoverageZone);
        if was != "bos-1" {
            assert_eq!(&now, was, "key {k} moved although its cache is up");
        } else {
            assert_ne!(now, "bos-1");
        }
    }
    // Degraded deep caches still serve before the normal decision is taken.
    let t = t.with_health(&view(&[
        ("bos-1", state(HealthState::Down)),
        ("bos-2", state(HealthState::Degraded)),
        ("lon-0", state(HealthState::Down)),
    ]));
    let d = t.route_http_deep(&http(&t, "10.1.7.1", "/x"), false, DeepCaching::Always).unwrap();
    assert_eq!((d.node().id, d.degraded), ("bos-2", true));
    // All down: the coverage zone decides, and the explain report says why.
    let t = t.with_health(&view(&[
        ("bos-1", state(HealthState::Down)),
        ("bos-2", state(HealthState::Down)),
        ("lon-0", state(HealthState::Down)),
    ]));
    let d = t.route_http_deep(&http(&t, "10.1.7.1", "/x"), true, DeepCaching::Always).unwrap();
    assert_eq!((d.zone_name(), d.localization.method), ("nyc", LocalizationMethod::CoverageZone));
    let deep: Vec<_> =
        d.skipped().iter().filter(|s| s.zone == "deep-nyc-a").map(|s| (s.node, s.reason)).collect();
    assert_eq!(
        deep,
        [
            (Some("bos-1"), SkipReason::Down),
            (Some("bos-2"), SkipReason::Down),
            (Some("lon-0"), SkipReason::Down),
            (None, SkipReason::ZoneExhausted),
        ]
    );
}

#[test]
fn deep_caches_outside_the_service_zones_are_not_used() {
    let (spec, czf) = deep_fixture();
    let t = table(&spec, &czf, &HealthView::default());
    let east = t.service_by_name("east").unwrap();
    fn req(service: crate::decision::ServiceIndex, path: &str) -> crate::decision::HttpRequest<'_> {
        crate::decision::HttpRequest {
            service,
            client_ip: "10.1.7.1".parse().unwrap(),
            path,
            query: "",
            seed: 0,
        }
    }
    for k in 0..100 {
        let path = format!("/{k}");
        let d = t.route_http_deep(&req(east, &path), false, DeepCaching::Always).unwrap();
        assert!(d.node().id.starts_with("bos-"), "{}", d.node().id);
    }
    let d = t.route_http_deep(&req(east, "/"), true, DeepCaching::Always).unwrap();
    let lon = d.skipped().iter().find(|s| s.node == Some("lon-0")).unwrap();
    assert_eq!(lon.reason, SkipReason::ZoneNotAllowed);

    // Only the `lon` cache left: the service's own zones answer.
    let t = t.with_health(&view(&[
        ("bos-1", state(HealthState::Down)),
        ("bos-2", state(HealthState::Down)),
    ]));
    let d = t.route_http_deep(&req(east, "/"), false, DeepCaching::Always).unwrap();
    assert_eq!((d.zone_name(), d.localization.method), ("nyc", LocalizationMethod::CoverageZone));
}

#[test]
fn deep_zones_respect_panic_fail_closed_and_large_zones_rank_in_chunks() {
    let (mut spec, czf) = deep_fixture();
    spec.services[0].panic_threshold = 0.9;
    spec.services[0].panic_mode = PanicMode::Closed;
    let t = table(&spec, &czf, &HealthView::default());
    let down: Vec<_> =
        spec.nodes.iter().take(10).map(|n| (n.id.as_str(), state(HealthState::Down))).collect();
    let t = t.with_health(&view(&down));
    let req = http(&t, "10.1.7.1", "/");
    assert_eq!(
        t.route_http_deep(&req, false, DeepCaching::Always).unwrap_err(),
        RouteError::PanicFailClosed
    );

    // A deep zone of 70 caches (more than one ranking chunk): every one takes keys.
    let (mut spec, czf) = fixture();
    for i in 0..70 {
        let mut n = super::node(&format!("deep-{i}"), "chi", 1);
        n.ipv4 = Some(std::net::Ipv4Addr::new(198, 51, 100, i));
        spec.nodes.push(Arc::new(n));
    }
    let caches: Vec<String> = (0..70).map(|i| format!("\"deep-{i}\"")).collect();
    let dczf = format!(
        r#"{{"deepCoverageZones": {{"big": {{"network": ["10.2.0.0/16"], "caches": [{}]}}}}}}"#,
        caches.join(",")
    );
    let czf = czf.with_deep(DeepCoverageZones::from_dczf_json(&dczf).unwrap());
    let t = table(&spec, &czf, &HealthView::default());
    let mut seen = std::collections::HashSet::new();
    for k in 0..3000 {
        let (id, method) = deep_pick(&t, "10.2.0.1", &format!("/{k}"));
        assert_eq!(method, LocalizationMethod::DeepCoverageZone);
        seen.insert(id);
    }
    assert_eq!(seen.len(), 70);
}
