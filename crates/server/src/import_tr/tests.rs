use super::*;

const FIXTURE: &str = include_str!("../../tests/fixtures/traffic-router/crconfig.json");

fn fixture() -> Imported {
    convert(&serde_json::from_str(FIXTURE).unwrap(), None).unwrap()
}

fn node<'a>(imp: &'a Imported, id: &str) -> &'a NodeSpec {
    imp.spec.nodes.iter().find(|n| n.id == id).unwrap_or_else(|| panic!("no node {id}"))
}

fn service<'a>(imp: &'a Imported, name: &str) -> &'a ServiceSpec {
    imp.spec.services.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no {name}"))
}

fn said(imp: &Imported, needle: &str) -> bool {
    imp.unmapped.iter().any(|u| u.contains(needle))
}

#[test]
fn host_regexes_of_traffic_controls_forms_become_host_names() {
    let d = Some("cdn.example");
    assert_eq!(host_from_regex(r".*\.video\..*", "tr", d).unwrap(), "tr.video.cdn.example");
    assert_eq!(host_from_regex(r"^.*\.video\..*$", "cdn", d).unwrap(), "cdn.video.cdn.example");
    assert_eq!(
        host_from_regex(r"video\.customer\.example", "tr", d).unwrap(),
        "video.customer.example"
    );
    assert_eq!(
        host_from_regex("Video.Customer.example", "tr", d).unwrap(),
        "video.customer.example"
    );
    assert_eq!(host_from_regex(r".*\.media\.example", "tr", d).unwrap(), "*.media.example");
    assert!(host_from_regex(r".*\.video\..*", "tr", None).unwrap_err().contains("domain_name"));
    assert!(host_from_regex(r"(a|b)\.example", "tr", d).is_err());
    assert!(host_from_regex(r".*", "tr", d).is_err());
    assert!(host_from_regex(r".*\.com", "tr", d).is_err(), "a whole top-level domain");
}

#[test]
fn soa_admin_becomes_a_mailbox_name() {
    assert_eq!(mailbox_name("ops@cdn.example", None).as_deref(), Some("ops.cdn.example"));
    assert_eq!(
        mailbox_name("traffic_ops", Some("cdn.example")).as_deref(),
        Some("traffic_ops.cdn.example")
    );
    assert_eq!(mailbox_name("traffic_ops", None), None);
    assert_eq!(mailbox_name("first.last@cdn.example", None), None);
}

#[test]
fn edge_caches_become_nodes_with_their_zone_address_port_and_operator_state() {
    let imp = fixture();
    assert_eq!(imp.spec.nodes.len(), 7, "the MID cache is left out");
    let nyc = node(&imp, "edge-nyc-01");
    assert_eq!(nyc.zone, "us-east");
    assert_eq!(nyc.ipv4, Some("192.0.2.11".parse().unwrap()));
    assert_eq!(nyc.ipv6, Some("2001:db8:10::11".parse().unwrap()), "prefix length dropped");
    assert_eq!(nyc.hostname.as_deref(), Some("edge-nyc-01.mycdn.example.net"));
    assert_eq!(nyc.port, 80);
    assert_eq!(nyc.tags, ["ATS_EDGE_TIER_CACHE"]);
    assert_eq!(node(&imp, "edge-nyc-02").port, 80, "a port given as a string");
    assert_eq!(node(&imp, "edge-chi-01").ipv6, None, "an empty ip6");
    assert_eq!(node(&imp, "edge-chi-01").port, 8080);
    assert_eq!(node(&imp, "edge-chi-02").admin, AdminState::Maintenance, "ADMIN_DOWN");
    assert_eq!(node(&imp, "edge-sjc-02").admin, AdminState::Maintenance, "OFFLINE");
    assert_eq!(nyc.admin, AdminState::Enabled);
    // Unequal hash counts are relative weights.
    assert_eq!(node(&imp, "edge-sjc-01").weight, Some(2.0));
    assert_eq!(nyc.weight, Some(1.0));
    assert!(said(&imp, "contentServers.mid-east-01: type MID is not mapped"));
}

#[test]
fn cache_groups_become_zones_with_coordinates_and_backups() {
    let imp = fixture();
    let names: Vec<&str> = imp.spec.zones.iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["us-central", "us-east", "us-west"]);
    let west = imp.spec.zones.iter().find(|z| z.name == "us-west").unwrap();
    assert_eq!((west.latitude, west.longitude), (Some(37.338208), Some(-121.886329)));
    assert_eq!(west.backups, ["us-central"]);
    assert!(said(&imp, "edgeLocations.us-west.backupLocations.fallbackToClosest"));
    assert!(said(&imp, "edgeLocations.us-west.localizationMethods"));
}

#[test]
fn delivery_services_become_services() {
    let imp = fixture();
    let video = service(&imp, "video");
    assert_eq!(video.hostnames, ["cdn.video.mycdn.example.net", "video.customer.example"]);
    assert_eq!(video.zones, ["us-central", "us-east", "us-west"]);
    assert_eq!(video.ttl_seconds, 60);
    assert_eq!(video.dispersion, 2);
    assert_eq!(video.hash_key.path_regex.as_deref(), Some(r"^(/[^?]*?)(?:_\d+)?\.ts$"));
    assert_eq!(video.hash_key.query_params, ["bitrate"]);
    assert_eq!(video.default_zone.as_deref(), Some("us-central"), "nearest the miss location");

    let downloads = service(&imp, "downloads");
    assert_eq!(downloads.hostnames, ["edge.downloads.mycdn.example.net"]);
    assert_eq!(downloads.zones, ["us-central", "us-east", "us-west"]);
    assert_eq!(downloads.dns_answers, 2);
    assert_eq!(downloads.ttl_seconds, 30);
    assert_eq!(downloads.default_zone, None, "coverage zone only");
    assert!(said(
        &imp,
        "deliveryServices.downloads: caches edge-chi-02, edge-nyc-02, edge-sjc-02, edge-sjc-03 share"
    ));

    let live = service(&imp, "live");
    assert_eq!(live.zones, ["us-central", "us-east"]);
    // HTTP and HTTPS: redirects keep the client's scheme; HTTP only: http://.
    assert_eq!(live.redirect_scheme, RedirectScheme::Request);
    assert_eq!(service(&imp, "downloads").redirect_scheme, RedirectScheme::Http);
    assert_eq!(live.default_zone.as_deref(), Some("us-east"));
    for needle in [
        "deliveryServices.live.regionalGeoBlocking",
        "deliveryServices.live.anonymousBlockingEnabled",
        "deliveryServices.live.matchsets[0].matchlist[1]: HEADER match",
        "deliveryServices.live.ip6RoutingEnabled",
        "config.coveragezone.polling.url",
        "config.geolocation.polling.url",
        "monitors: 1 Traffic Monitor(s)",
    ] {
        assert!(said(&imp, needle), "{needle} not reported: {:#?}", imp.unmapped);
    }
    assert!(imp.has_http && imp.has_dns);
    assert_eq!(imp.dns.zone.as_deref(), Some("mycdn.example.net"));
    assert_eq!(imp.dns.soa_rname.as_deref(), Some("hostmaster.mycdn.example.net"));
    assert_eq!(imp.dns.negative_ttl_seconds, Some(30));
    assert_eq!(imp.dns.soa_ttl_seconds, Some(86400));
}

#[test]
fn the_rendered_configuration_loads_back_to_the_same_inventory() {
    let imp = fixture();
    let text = render(&imp);
    let config = crate::config::load_str(&text, "import", Path::new("."))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(config.inventory.fleet, imp.spec, "{text}");
    assert_eq!(config.dns.zones, ["mycdn.example.net"]);
    assert_eq!(config.dns.soa_rname.as_deref(), Some("hostmaster.mycdn.example.net"));
    assert!(config.probe.default.is_some());
}

#[test]
fn what_is_not_a_crconfig_is_refused_with_the_reason() {
    let err = |doc: &str| convert(&serde_json::from_str(doc).unwrap(), None).unwrap_err();
    assert!(err("[1, 2]").contains("not a JSON object"));
    assert!(err(r#"{"deliveryServices": {}}"#).contains("no `contentServers` object"));
    assert!(err(r#"{"contentServers": []}"#).contains("`contentServers` is not an object"));
    assert!(err(r#"{"contentServers": {}, "edgeLocations": 3}"#).contains("`edgeLocations`"));
}

#[test]
fn a_traffic_ops_api_answer_is_unwrapped() {
    let wrapped = format!(r#"{{"response": {FIXTURE}}}"#);
    let imp = convert(&serde_json::from_str(&wrapped).unwrap(), None).unwrap();
    assert_eq!(imp.spec.nodes.len(), 7);
}

#[test]
fn bad_servers_are_left_out_by_name() {
    let doc = serde_json::json!({
        "config": {"domain_name": "cdn.example"},
        "contentServers": {
            "a": {"type": "EDGE", "cacheGroup": "g", "ip": "not-an-ip"},
            "b": {"type": "EDGE", "cacheGroup": "g", "ip": "192.0.2.1", "port": "http"},
            "c": {"type": "EDGE", "ip": "192.0.2.2"},
            "d": {"type": "EDGE", "cacheGroup": "g", "ip": "192.0.2.3", "status": "WEIRD"},
        },
        "deliveryServices": {
            "x": {"matchsets": [{"protocol": "HTTP", "matchlist": [{"match-type": "HOST", "regex": ".*\\.x\\..*"}]}]}
        }
    });
    let imp = convert(&doc, None).unwrap();
    assert_eq!(imp.spec.nodes.len(), 1);
    assert_eq!(imp.spec.nodes[0].admin, AdminState::Maintenance);
    assert!(said(&imp, r#"contentServers.a: ip "not-an-ip" is not an address; left out"#));
    assert!(said(&imp, r#"contentServers.b.port: "http" is not a TCP port; left out"#));
    assert!(said(&imp, "contentServers.c: no cacheGroup or locationId; left out"));
    assert!(said(&imp, r#"contentServers.d.status: "WEIRD""#));
    assert!(said(&imp, "contentServers.d: cache group \"g\" has no entry in edgeLocations"));
    assert!(said(&imp, "deliveryServices.x: no EDGE cache of the snapshot is assigned to it"));
}
