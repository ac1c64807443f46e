use super::*;

const GOOD: &str = r#"
[[zones]]
name = "east"
latitude = 40.7
longitude = -74.0
backups = ["west"]

[[zones]]
name = "west"
latitude = 37.8
longitude = -122.4

[[nodes]]
id = "e1"
zone = "east"
ipv4 = "192.0.2.1"
capacity_mbps = 10000

[[nodes]]
id = "w1"
zone = "west"
ipv6 = "2001:db8::1"
hostname = "w1.cdn.example.net"
port = 8080
admin = "drain"

[[services]]
name = "video"
hostnames = ["video.example.com", "*.img.example.com"]
zones = ["east", "west"]
default_zone = "east"
hash_key = { path_regex = "^/(\\w+)/", query_params = ["v"] }
dispersion = 2
dns_answers = 2
"#;

fn good() -> FleetSpec {
    toml::from_str(GOOD).expect("parse")
}

#[test]
fn parses_with_defaults() {
    let spec = good();
    assert_eq!(spec.validate(), Ok(()));
    assert_eq!(spec.nodes[0].port, 80);
    assert_eq!(spec.nodes[0].admin, AdminState::Enabled);
    assert_eq!(spec.nodes[0].configured_weight(), 10000.0);
    assert_eq!(spec.nodes[1].admin, AdminState::Drain);
    assert_eq!(spec.nodes[1].configured_weight(), 1.0);
    let s = &spec.services[0];
    assert_eq!(s.ttl_seconds, 30);
    assert_eq!(s.policy, Policy::ConsistentHash);
    assert_eq!(s.panic_mode, PanicMode::Open);
    assert_eq!(s.panic_threshold, 0.0);
    assert!(s.fallback_to_nearest);
    assert_eq!(s.fallback_nearest_limit, 3);
    assert_eq!(s.overload_threshold, 0.9);
    assert_eq!(s.hash_key.query_params, vec!["v".to_owned()]);
}

#[test]
fn round_trips_through_json() {
    let spec = good();
    let json = serde_json::to_string(&spec).unwrap();
    let back: FleetSpec = serde_json::from_str(&json).unwrap();
    assert_eq!(back, spec);
}

#[test]
fn unknown_fields_rejected() {
    let bad = GOOD.replace("port = 8080", "prot = 8080");
    let err = toml::from_str::<FleetSpec>(&bad).unwrap_err();
    assert!(err.to_string().contains("prot"), "{err}");
}

#[test]
fn reports_every_problem_with_its_path() {
    let mut spec = good();
    Arc::make_mut(&mut spec.nodes[1]).zone = "nowhere".into();
    Arc::make_mut(&mut spec.nodes[1]).ipv6 = None;
    Arc::make_mut(&mut spec.nodes[0]).weight = Some(0.0);
    spec.nodes.push(spec.nodes[0].clone());
    spec.zones[0].backups.push("mars".into());
    spec.zones[1].latitude = Some(120.0);
    let s = &mut spec.services[0];
    s.zones.push("eu-x".into());
    s.hash_key.path_regex = Some("(".into());
    s.dispersion = 0;
    s.panic_threshold = 1.5;
    s.overload_threshold = 0.0;
    s.hostnames.push("bad host".into());
    let mut dup = spec.services[0].clone();
    dup.hostnames = vec!["VIDEO.example.com.".into()];
    dup.default_zone = Some("moon".into());
    spec.services.push(dup);

    let errs = spec.validate().unwrap_err();
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    for want in [
        "nodes[1].zone",
        "nodes[1]",
        "nodes[0].weight",
        "nodes[2].id",
        "zones[0].backups[1]",
        "zones[1].latitude",
        "services[0].zones[2]",
        "services[0].hash_key.path_regex",
        "services[0].dispersion",
        "services[0].panic_threshold",
        "services[0].overload_threshold",
        "services[0].hostnames[2]",
        "services[1].name",
        "services[1].hostnames[0]",
        "services[1].default_zone",
    ] {
        assert!(paths.contains(&want), "missing {want} in {errs:#?}");
    }
    let zone_err = errs.iter().find(|e| e.path == "services[0].zones[2]").unwrap();
    assert_eq!(zone_err.to_string(), r#"services[0].zones[2]: unknown zone "eu-x""#);
}

#[test]
fn wildcard_forms() {
    let mut spec = good();
    spec.services[0].hostnames = vec!["a.*.example.com".into()];
    assert!(spec.validate().is_err());
    spec.services[0].hostnames = vec!["*.com".into()];
    assert_eq!(spec.validate().unwrap_err()[0].path, "services[0].hostnames[0]");
    spec.services[0].hostnames = vec!["*.example.com".into(), "example.net".into()];
    assert_eq!(spec.validate(), Ok(()));
}
