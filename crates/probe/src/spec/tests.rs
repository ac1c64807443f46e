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

/// `path: message` of every problem, for exact comparisons.
fn problem_lines(spec: &ProbeSpec) -> Vec<String> {
    spec.problems("").into_iter().map(|p| p.to_string()).collect()
}

/// Paths of every problem, in report order.
fn problem_paths(spec: &ProbeSpec) -> Vec<String> {
    spec.problems("").into_iter().map(|p| p.path).collect()
}

#[test]
fn tls_client_settings_are_checked_with_the_path_of_each_check() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-ca.pem");
    let bad = TlsClient {
        sni: Some("bad name!".into()),
        alpn: vec!["http/1.1".into(), String::new(), "x".repeat(256)],
        ca_file: Some(missing.clone()),
        insecure_skip_verify: false,
    };
    let tls = ProbeSpec::new(Check::Tls(TlsCheck { client: bad.clone(), ..TlsCheck::default() }));
    // The tls kind flattens its client, so the fields sit directly under `check`.
    assert_eq!(
        problem_paths(&tls),
        ["check.sni", "check.alpn[1]", "check.alpn[2]", "check.ca_file"]
    );
    let lines = problem_lines(&tls);
    assert!(lines[0].contains("`bad name!` is not a valid server name"), "{lines:?}");
    assert!(lines[2].contains("is 256 bytes long"), "{lines:?}");
    assert!(lines[3].contains(&missing.display().to_string()), "{lines:?}");
    // The compile step no longer fails with a bare "tls setup" error: the path comes first.
    let err = crate::CompiledProbe::new(std::sync::Arc::new(tls)).unwrap_err().to_string();
    assert!(err.contains("check.sni: `bad name!`"), "{err}");

    let http =
        ProbeSpec::new(Check::Http(HttpCheck { tls: Some(bad.clone()), ..HttpCheck::default() }));
    assert_eq!(
        problem_paths(&http),
        ["check.tls.sni", "check.tls.alpn[1]", "check.tls.alpn[2]", "check.tls.ca_file"]
    );
    let grpc = ProbeSpec::new(Check::Grpc(GrpcCheck { tls: Some(bad), ..GrpcCheck::default() }));
    assert_eq!(
        problem_paths(&grpc),
        [
            "check.tls.sni",
            "check.tls.alpn[1]",
            "check.tls.alpn[2]",
            "check.tls.ca_file",
            "check.tls.alpn"
        ]
    );

    // IP addresses are server names too.
    for name in ["api.example.com", "192.0.2.7", "2001:db8::1", "localhost"] {
        let c = TlsClient { sni: Some(name.into()), ..TlsClient::default() };
        let spec = ProbeSpec::new(Check::Tls(TlsCheck { client: c, ..TlsCheck::default() }));
        assert_eq!(problem_lines(&spec), Vec::<String>::new(), "{name}");
    }
}

#[tokio::test]
async fn ca_file_must_be_a_readable_pem_file_of_certificates() {
    use switchyard_testkit::fleet::{FleetPlan, Protocol, SimFleet};
    let dir = tempfile::tempdir().unwrap();
    let check = |path: &std::path::Path| {
        let c = TlsClient { ca_file: Some(path.to_owned()), ..TlsClient::default() };
        problem_lines(&ProbeSpec::new(Check::Tls(TlsCheck { client: c, ..TlsCheck::default() })))
    };
    let shown = dir.path().display().to_string();
    let lines = check(dir.path());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("check.ca_file: `{shown}` is not a regular file")));

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a certificate\n").unwrap();
    let lines = check(&text);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("holds no PEM certificate"), "{lines:?}");

    let garbled = dir.path().join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let lines = check(&garbled);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let shown = garbled.display().to_string();
    assert!(
        lines[0].starts_with(&format!("check.ca_file: `{shown}` is not a valid PEM file")),
        "{lines:?}"
    );

    // The anchors a real TLS node is verified with pass.
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Https, 1)).await.unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, fleet.ca_pem().unwrap()).unwrap();
    assert_eq!(check(&ca), Vec::<String>::new());
}

#[test]
fn server_name_defaults_are_checked_when_sni_is_unset() {
    // An HTTP Host with a port is a fine header but not a server name.
    let http = ProbeSpec::new(Check::Http(HttpCheck {
        host: Some("example.com:8443".into()),
        tls: Some(TlsClient::default()),
        ..HttpCheck::default()
    }));
    let lines = problem_lines(&http);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("check.tls.sni: is not set, so the server name is taken from `host`"),
        "{lines:?}"
    );
    let named = ProbeSpec::new(Check::Http(HttpCheck {
        host: Some("example.com:8443".into()),
        tls: Some(TlsClient { sni: Some("example.com".into()), ..TlsClient::default() }),
        ..HttpCheck::default()
    }));
    assert_eq!(problem_lines(&named), Vec::<String>::new());
    // A gRPC authority gives its host (port and brackets dropped), which is valid.
    let grpc = ProbeSpec::new(Check::Grpc(GrpcCheck {
        authority: Some("[2001:db8::1]:50051".into()),
        tls: Some(TlsClient::default()),
        ..GrpcCheck::default()
    }));
    assert_eq!(problem_lines(&grpc), Vec::<String>::new());
}

#[test]
fn tls_expect_alpn_must_be_offered() {
    let spec = |alpn: &[&str]| {
        ProbeSpec::new(Check::Tls(TlsCheck {
            client: TlsClient {
                alpn: alpn.iter().map(|s| s.to_string()).collect(),
                ..TlsClient::default()
            },
            expect_alpn: Some("h2".into()),
            ..TlsCheck::default()
        }))
    };
    assert_eq!(problem_paths(&spec(&[])), ["check.expect_alpn"]);
    assert_eq!(problem_paths(&spec(&["http/1.1"])), ["check.expect_alpn"]);
    assert_eq!(problem_paths(&spec(&["h2", "http/1.1"])), Vec::<String>::new());
}

#[test]
fn grpc_authority_and_alpn_are_checked() {
    let grpc = |authority: &str| {
        ProbeSpec::new(Check::Grpc(GrpcCheck {
            authority: Some(authority.into()),
            ..GrpcCheck::default()
        }))
    };
    for good in
        ["edge.example", "edge.example:443", "10.0.0.1:50051", "[2001:db8::1]:8443", "[::1]"]
    {
        assert_eq!(problem_lines(&grpc(good)), Vec::<String>::new(), "{good}");
    }
    for (bad, why) in [
        ("", "is not a valid URI authority"),
        ("edge example", "is not a valid URI authority"),
        ("edge.example/health", "is not a valid URI authority"),
        ("2001:db8::1", "without brackets: write `[2001:db8::1]`"),
        ("[not-v6]:80", "not an IPv6 address"),
        ("user@edge.example", "carries user info"),
        (":443", "has no host"),
        ("edge.example:", "has port ``"),
        ("edge.example:http", "has port `http`"),
        ("edge.example:70000", "has port `70000`"),
    ] {
        let lines = problem_lines(&grpc(bad));
        assert_eq!(lines.len(), 1, "{bad}: {lines:?}");
        assert!(lines[0].starts_with(&format!("check.authority: `{bad}` ")), "{lines:?}");
        assert!(lines[0].contains(why), "{bad}: {lines:?}");
        assert!(lines[0].ends_with("use host, host:port or [v6]:port"), "{lines:?}");
    }

    let tls = |alpn: &[&str]| {
        ProbeSpec::new(Check::Grpc(GrpcCheck {
            tls: Some(TlsClient {
                alpn: alpn.iter().map(|s| s.to_string()).collect(),
                ..TlsClient::default()
            }),
            ..GrpcCheck::default()
        }))
    };
    assert_eq!(problem_lines(&tls(&[])), Vec::<String>::new(), "empty offers h2");
    assert_eq!(problem_lines(&tls(&["h2", "http/1.1"])), Vec::<String>::new());
    let lines = problem_lines(&tls(&["http/1.1"]));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("check.tls.alpn: [\"http/1.1\"] lacks `h2`"), "{lines:?}");
}

#[test]
fn http_headers_the_probe_writes_or_that_break_framing_are_rejected() {
    let mut check = HttpCheck::default();
    for (name, value) in [
        ("Host", "example.com"),
        ("CONNECTION", "close"),
        ("content-length", "0"),
        ("Transfer-Encoding", "chunked"),
        ("x-ok", "fine\tvalue"),
        ("bad name", "v"),
        ("x:colon", "v"),
        ("x-crlf", "a\r\nx-injected: 1"),
        ("x-nul", "a\0b"),
    ] {
        check.headers.insert(name.into(), value.into());
    }
    check.header_must_match.insert("Content-Type".into(), "^text/".into());
    check.header_must_not_match.insert("x bad".into(), "x".into());
    let lines = problem_lines(&ProbeSpec::new(Check::Http(check)));
    let find = |field: &str| -> Vec<&str> {
        lines.iter().filter_map(|l| l.strip_prefix(&format!("check.{field}: "))).collect()
    };
    assert_eq!(find("headers.Host"), ["is written by the probe: set the `host` field instead"]);
    assert!(find("headers.CONNECTION")[0].contains("set `keep_alive` instead"), "{lines:?}");
    assert!(find("headers.content-length")[0].contains("sends no request body"), "{lines:?}");
    assert!(find("headers.Transfer-Encoding")[0].contains("sends no request body"));
    assert!(find("headers.x-ok").is_empty(), "{lines:?}");
    assert!(find("headers.bad name")[0].starts_with("is not a valid header name"));
    assert!(find("headers.x:colon")[0].starts_with("is not a valid header name"));
    assert_eq!(find("headers.x-crlf"), ["value must not contain CR or LF"]);
    assert_eq!(find("headers.x-nul"), ["value must not contain control bytes (tab is allowed)"]);
    assert!(find("header_must_match.Content-Type").is_empty(), "{lines:?}");
    assert_eq!(find("header_must_not_match.x bad").len(), 1, "{lines:?}");
    assert_eq!(lines.len(), 9, "{lines:?}");
}

#[test]
fn http_rules_that_can_never_take_effect_are_rejected() {
    let head = HttpCheck {
        method: "HEAD".into(),
        body_must_match: Some("ok".into()),
        body_must_not_match: Some("error".into()),
        ..HttpCheck::default()
    };
    let lines = problem_lines(&ProbeSpec::new(Check::Http(head.clone())));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("check.body_must_match: cannot be checked with method = \"HEAD\"")
    );
    assert!(lines[1].starts_with("check.body_must_not_match: cannot be checked"));
    let get = HttpCheck { method: "GET".into(), ..head };
    assert_eq!(problem_lines(&ProbeSpec::new(Check::Http(get))), Vec::<String>::new());

    let statuses = HttpCheck {
        expected_status: vec![
            StatusRange { low: 200, high: 299 },
            StatusRange { low: 500, high: 502 },
        ],
        immediate_down_status: vec![503, 99, 600, 501, 204],
        ..HttpCheck::default()
    };
    let lines = problem_lines(&ProbeSpec::new(Check::Http(statuses)));
    assert_eq!(
        lines,
        [
            "check.immediate_down_status[1]: 99 is not an HTTP status: must be 100 to 599",
            "check.immediate_down_status[2]: 600 is not an HTTP status: must be 100 to 599",
            "check.immediate_down_status[3]: 501 is also accepted by expected_status \
             (`500-502`), so it can never take effect: only a status outside expected_status \
             marks the node down",
            "check.immediate_down_status[4]: 204 is also accepted by expected_status \
             (`200-299`), so it can never take effect: only a status outside expected_status \
             marks the node down",
        ]
    );

    let h2 = HttpCheck {
        tls: Some(TlsClient { alpn: vec!["http/1.1".into(), "h2".into()], ..TlsClient::default() }),
        ..HttpCheck::default()
    };
    let lines = problem_lines(&ProbeSpec::new(Check::Http(h2)));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("check.tls.alpn[1]: the HTTP check speaks HTTP/1.1 only"));
}

#[test]
fn an_auxiliary_agent_needs_its_own_port() {
    let with_agent = |check: Check, port: Option<u16>| {
        let mut spec = ProbeSpec::new(check);
        spec.agent = Some(AgentCheck { port, send: None });
        spec
    };
    let lines = problem_lines(&with_agent(Check::Http(HttpCheck::default()), None));
    assert_eq!(
        lines,
        ["agent.port: is required beside a http check: the agent listens on its own port, like \
          HAProxy's agent-port, and the node's port serves the main check"]
    );
    let tcp = with_agent(Check::Tcp(TcpCheck::default()), None);
    assert_eq!(problem_paths(&tcp), ["agent.port"]);
    assert_eq!(
        problem_paths(&with_agent(Check::Http(HttpCheck::default()), Some(0))),
        ["agent.port"]
    );
    assert_eq!(
        problem_lines(&with_agent(Check::Http(HttpCheck::default()), Some(9999))),
        Vec::<String>::new()
    );
    // The agent-only kind talks to the node's port unless told otherwise.
    assert_eq!(
        problem_lines(&ProbeSpec::new(Check::Agent(AgentCheck::default()))),
        Vec::<String>::new()
    );
    // The same from TOML, as an operator writes it.
    let spec: ProbeSpec =
        toml::from_str("[check]\nkind = \"http\"\n[agent]\nsend = \"status\\n\"").unwrap();
    assert_eq!(problem_paths(&spec), ["agent.port"]);
}

#[test]
fn an_snmp_reading_beside_the_main_check_is_validated_under_its_own_path() {
    let mut spec = ProbeSpec::new(Check::Http(HttpCheck::default()));
    spec.snmp = Some(SnmpCheck { version: "3".into(), ..SnmpCheck::default() });
    let paths: Vec<String> = spec.problems("p").into_iter().map(|p| p.path).collect();
    assert_eq!(paths, ["p.snmp.interface", "p.snmp.user"], "{paths:?}");
    let mut twice = ProbeSpec::new(Check::Snmp(SnmpCheck {
        interface: Some("eth0".into()),
        ..SnmpCheck::default()
    }));
    twice.snmp = Some(SnmpCheck { interface: Some("eth0".into()), ..SnmpCheck::default() });
    let paths: Vec<String> = twice.problems("").into_iter().map(|p| p.path).collect();
    assert_eq!(paths, ["snmp"]);
}
