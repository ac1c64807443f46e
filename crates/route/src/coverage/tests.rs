use super::*;

/// A Traffic Router-style CZF, as in the Traffic Control documentation.
const CZF: &str = r#"{
  "revision": "Mon Dec 21 15:04:01 2015",
  "customerName": "Example",
  "coverageZones": {
    "cache-group-01": {
      "coordinates": {"latitude": 1.1, "longitude": 2.2},
      "network6": ["1234:5678::/64", "1234:5679::/64"],
      "network": ["192.168.8.0/24", "192.168.9.0/24"]
    },
    "cache-group-02": {
      "coordinates": {"latitude": 3.3, "longitude": 4.4},
      "network6": ["1234:567a::/64", "1234:567b::/64"],
      "network": ["192.168.4.0/24", "192.168.5.0/24", "192.168.0.0/16"]
    }
  }
}"#;

fn at(cz: &CoverageZones, ip: &str) -> Option<(String, u8)> {
    cz.lookup(ip.parse().unwrap()).map(|(z, l)| (z.to_owned(), l))
}

#[test]
fn golden_traffic_router_file() {
    let cz = CoverageZones::from_czf_json(CZF).unwrap();
    let z1 = || "cache-group-01".to_owned();
    let z2 = || "cache-group-02".to_owned();
    assert_eq!(at(&cz, "192.168.8.1"), Some((z1(), 24)));
    assert_eq!(at(&cz, "192.168.9.255"), Some((z1(), 24)));
    assert_eq!(at(&cz, "192.168.4.7"), Some((z2(), 24)));
    // Inside the /16 of group 2 but outside its /24s and group 1's.
    assert_eq!(at(&cz, "192.168.77.1"), Some((z2(), 16)));
    assert_eq!(at(&cz, "10.0.0.1"), None);
    assert_eq!(at(&cz, "1234:5678::1"), Some((z1(), 64)));
    assert_eq!(at(&cz, "1234:567b:0:0:ffff::"), Some((z2(), 64)));
    assert_eq!(at(&cz, "1234:567c::1"), None);
    assert_eq!(at(&cz, "::ffff:192.168.8.9"), Some((z1(), 24)));
    assert_eq!(cz.zones().len(), 2);
    assert_eq!(cz.coordinates("cache-group-02"), Some(Coordinates::new(3.3, 4.4)));
    assert!(cz.conflicts().is_empty());
    assert_eq!(cz.index().prefix_counts(), (5, 4));
}

#[test]
fn json_errors_carry_line_and_column() {
    let bad = CZF.replace("\"192.168.9.0/24\"", "\"192.168.9.0/33\"");
    let err = CoverageZones::from_czf_json(&bad).unwrap_err();
    match &err {
        CzfError::Json { line, column, message } => {
            assert_eq!(*line, 8);
            assert!(*column > 30, "{column}");
            assert!(message.contains("192.168.9.0/33"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("line 8, column"), "{err}");

    let wrong_family = CZF.replace("\"192.168.4.0/24\"", "\"2001:db8::/32\"");
    let err = CoverageZones::from_czf_json(&wrong_family).unwrap_err();
    assert!(matches!(err, CzfError::Json { line: 13, .. }), "{err:?}");

    let syntax = CZF.replace("\"network6\": [\"1234:567a", "\"network6\" [\"1234:567a");
    assert!(matches!(
        CoverageZones::from_czf_json(&syntax).unwrap_err(),
        CzfError::Json { line: 12, .. }
    ));

    let missing = r#"{"revision": "x"}"#;
    let err = CoverageZones::from_czf_json(missing).unwrap_err();
    assert!(err.to_string().contains("coverageZones"), "{err}");

    let coords = CZF.replace("\"latitude\": 1.1", "\"latitude\": 91.0");
    assert!(matches!(
        CoverageZones::from_czf_json(&coords).unwrap_err(),
        CzfError::Json { line: 6, .. }
    ));
    assert!(CoverageZones::from_czf_json("").is_err());
    assert!(CoverageZones::from_czf_json(&format!("{CZF} trailing")).is_err());
}

#[test]
fn csv_form_and_header() {
    let text = "cidr,zone\n# comment\n\n10.0.0.0/8,east\n10.1.0.0/16, west\n2001:db8::/32,west\n";
    let cz = CoverageZones::from_csv(text).unwrap();
    assert_eq!(at(&cz, "10.1.2.3"), Some(("west".into(), 16)));
    assert_eq!(at(&cz, "10.2.2.3"), Some(("east".into(), 8)));
    assert_eq!(at(&cz, "2001:db8::5"), Some(("west".into(), 32)));
    assert_eq!(cz.zones().iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["east", "west"]);
    assert_eq!(cz.coordinates("east"), None);
}

#[test]
fn csv_errors_carry_line() {
    let cases = [
        ("10.0.0.0/8,east\n10.0.0.0/40,west\n", 2, 1),
        ("10.0.0.0/8,east\n\n  bogus,west\n", 3, 3),
        ("10.0.0.0/8\n", 1, 11),
        ("10.0.0.0/8,east,extra\n", 1, 16),
        ("10.0.0.0/8,\n", 1, 12),
    ];
    for (text, want_line, want_col) in cases {
        match CoverageZones::from_csv(text).unwrap_err() {
            CzfError::Csv { line, column, .. } => {
                assert_eq!((line, column), (want_line, want_col), "{text:?}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn conflicting_duplicates_are_reported() {
    let text = "10.0.0.0/8,east\n10.0.0.0/8,east\n10.0.0.0/8,west\n10.9.0.0/16,west\n";
    let cz = CoverageZones::from_csv(text).unwrap();
    assert_eq!(at(&cz, "10.1.1.1"), Some(("east".into(), 8)));
    assert_eq!(at(&cz, "10.9.1.1"), Some(("west".into(), 16)));
    assert_eq!(
        cz.conflicts(),
        [ZoneConflict {
            prefix: "10.0.0.0/8".parse().unwrap(),
            kept: "east".into(),
            dropped: "west".into(),
        }]
    );
}

#[test]
fn host_bits_and_bare_addresses() {
    let cz = CoverageZones::from_csv("192.0.2.77/24,a\n198.51.100.1,b\n").unwrap();
    assert_eq!(at(&cz, "192.0.2.1"), Some(("a".into(), 24)));
    assert_eq!(at(&cz, "198.51.100.1"), Some(("b".into(), 32)));
    assert_eq!(at(&cz, "198.51.100.2"), None);
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary text never panics; errors always point inside the input.
        #[test]
        fn csv_never_panics(text in "[0-9a-f:./,# \\n-]{0,200}") {
            match CoverageZones::from_csv(&text) {
                Ok(cz) => prop_assert!(cz.zones().iter().all(|z| !z.name.trim().is_empty())),
                Err(CzfError::Csv { line, .. }) => prop_assert!(line >= 1 && line <= text.lines().count()),
                Err(other) => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn json_never_panics(text in "[\\[\\]{}\":,0-9a-z./ \\n]{0,200}") {
            if let Err(CzfError::Json { line, .. }) = CoverageZones::from_czf_json(&text) {
                prop_assert!(line <= text.lines().count() + 1);
            }
        }

        /// Mutating one character of a valid file gives either a valid result or a located
        /// error, never a panic.
        #[test]
        fn json_mutations_are_located(pos in 0usize..400, ch in "[\\[\\]{}\":,0-9a-z./ ]") {
            let mut text = CZF.to_owned();
            let pos = pos % text.len();
            if text.is_char_boundary(pos) && text.is_char_boundary(pos + 1) {
                text.replace_range(pos..pos + 1, &ch);
            }
            if let Err(e) = CoverageZones::from_czf_json(&text) {
                let located = matches!(e, CzfError::Json { line, column, .. } if line >= 1 && column >= 1);
                prop_assert!(located, "{:?}", e);
            }
        }
    }
}
