use super::*;

#[test]
fn toml_with_defaults() {
    let spec: ProbeSpec = toml::from_str(
        r#"
        interval_ms = 5000
        [check]
        kind = "http"
        path = "/health"
        expected_status = ["2xx", "301-302"]
        immediate_down_status = [503]
        [agent]
        port = 9999
        "#,
    )
    .unwrap();
    assert_eq!(spec.rise, 2);
    assert_eq!(spec.fall, 3);
    assert_eq!(spec.down_interval(), spec.interval());
    let Check::Http(h) = &spec.check else { panic!("http") };
    assert_eq!(h.expected_status[0], StatusRange { low: 200, high: 299 });
    assert!(h.expected_status[1].contains(302));
    assert!(h.keep_alive);
    assert_eq!(spec.agent.as_ref().unwrap().port, Some(9999));
    spec.validate().unwrap();
    // Round trip.
    let again: ProbeSpec = toml::from_str(&toml::to_string(&spec).unwrap()).unwrap();
    assert_eq!(again, spec);
}

#[test]
fn unknown_fields_are_rejected_at_every_level() {
    assert!(toml::from_str::<ProbeSpec>("intervall_ms = 1\n[check]\nkind = \"tcp\"").is_err());
    assert!(toml::from_str::<ProbeSpec>("[check]\nkind = \"tcp\"\nsend_text = \"x\"").is_err());
    assert!(toml::from_str::<ProbeSpec>("[check]\nkind = \"carrier-pigeon\"").is_err());
    assert!(
        toml::from_str::<ProbeSpec>("[check]\nkind = \"http\"\nexpected_status = [\"7xx\"]")
            .is_err()
    );
}

#[test]
fn validate_reports_every_problem_with_its_path() {
    let mut spec = ProbeSpec::new(Check::Http(HttpCheck {
        body_must_match: Some("(".to_owned()),
        method: "get".to_owned(),
        ..HttpCheck::default()
    }));
    spec.timeout_ms = 3000;
    spec.interval_ms = 2000;
    spec.connect_timeout_ms = 5000;
    spec.rise = 0;
    let problems = spec.problems("services.web.probe");
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "services.web.probe.interval_ms",
            "services.web.probe.connect_timeout_ms",
            "services.web.probe.rise",
            "services.web.probe.check.method",
            "services.web.probe.check.body_must_match",
        ]
    );
    let err = spec.validate().unwrap_err().to_string();
    assert!(
        err.contains("interval_ms: 2000 ms must be greater than timeout_ms (3000 ms)"),
        "{err}"
    );
}

#[test]
fn dns_and_snmp_settings_are_checked() {
    let spec = ProbeSpec::new(Check::Dns(DnsCheck {
        qname: "bad name..".to_owned(),
        qtype: "BOGUS".to_owned(),
        expected_rcode: "NOPE".to_owned(),
        min_answers: None,
        expect_answers: vec![],
    }));
    assert_eq!(spec.problems("").len(), 3);
}

#[test]
fn snmp_needs_something_to_measure_and_hides_its_community() {
    let spec = ProbeSpec::new(Check::Snmp(SnmpCheck {
        community: "s3cret".into(),
        utilization_degraded: 0.9,
        utilization_down: 0.5,
        ..SnmpCheck::default()
    }));
    let paths: Vec<String> = spec.problems("").into_iter().map(|p| p.path).collect();
    assert_eq!(paths, ["check.utilization_down", "check.interface"]);
    assert!(!format!("{spec:?}").contains("s3cret"));
}

#[test]
fn snmp_v3_settings_are_checked_and_pass_phrases_hidden() {
    let spec: ProbeSpec = toml::from_str(
        r#"
        [check]
        kind = "snmp"
        version = "3"
        user = "monitor"
        auth_protocol = "SHA-256"
        auth_password = "auth-pass-phrase"
        priv_protocol = "AES256"
        priv_password = "priv-pass-phrase"
        interface = "eth0"
        "#,
    )
    .unwrap();
    spec.validate().unwrap();
    let shown = format!("{spec:?}");
    assert!(!shown.contains("auth-pass-phrase") && !shown.contains("priv-pass-phrase"), "{shown}");
    let Check::Snmp(c) = &spec.check else { panic!("snmp") };
    let user = match c.security().unwrap() {
        switchyard_snmp::Security::V3 { user, .. } => user,
        _ => panic!("v3 security"),
    };
    assert_eq!(user.level(), switchyard_snmp::usm::SecurityLevel::AuthPriv);

    let problems = |c: SnmpCheck| -> Vec<String> {
        let spec = ProbeSpec::new(Check::Snmp(SnmpCheck { interface: Some("eth0".into()), ..c }));
        spec.problems("").into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect()
    };
    let v3 = |c: SnmpCheck| SnmpCheck { version: "3".into(), ..c };
    assert_eq!(problems(v3(SnmpCheck::default())), ["check.user: is required with version 3"]);
    let bad = problems(v3(SnmpCheck {
        user: Some("monitor".into()),
        auth_protocol: "SHA-3".into(),
        priv_protocol: "ROT13".into(),
        auth_password: None,
        priv_password: Some("short".into()),
        ..SnmpCheck::default()
    }));
    let paths: Vec<&str> = bad.iter().map(|p| p.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "check.auth_protocol",
            "check.priv_protocol",
            "check.priv_password",
            "check.priv_password"
        ],
        "{bad:?}"
    );
    assert!(bad[3].contains("set auth_password too"), "{bad:?}");
    // v3 settings under v2c are a mistake, not silently ignored.
    let mixed = problems(SnmpCheck { user: Some("monitor".into()), ..SnmpCheck::default() });
    assert_eq!(mixed, ["check.user: is a version 3 setting; set version = \"3\""]);
    assert_eq!(
        problems(SnmpCheck { version: "2".into(), ..SnmpCheck::default() }),
        ["check.version: must be \"1\", \"2c\" or \"3\""]
    );
}
