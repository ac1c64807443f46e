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

    // A network under the other family's key is no error (see `misfiled`).
    let wrong_family = CZF.replace("\"192.168.4.0/24\"", "\"2001:db8::/32\"");
    let cz = CoverageZones::from_czf_json(&wrong_family).unwrap();
    assert_eq!(cz.misfiled().len(), 1);

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

/// A coverage zone file in the shape Traffic Control tooling writes: revision and customer
/// at the top, coordinates as strings, unknown keys in a zone and beside the coordinates,
/// and IPv6 networks that overlap across zones (nested, repeated, and repeated with other
/// host bits).
const TR_CZF: &str = r#"{
  "revision": "Thu Jan 15 09:30:12 2026",
  "customerName": "Example Networks",
  "coverageZones": {
    "pop-ams": {
      "network6": [
        "2001:DB8:AA00::/40",
        "2001:DB8:AA10::/44",
        "2001:db8:ff00:0::/48"
      ],
      "network": [
        "203.0.113.0/25"
      ],
      "coordinates": {
        "longitude": "4.899431",
        "latitude": "52.379189",
        "source": "manual"
      },
      "caches": ["ignored-in-a-czf"],
      "region": "eu-west"
    },
    "pop-fra": {
      "network6": [
        "2001:DB8:AA10:0::/48",
        "2001:db8:ff00:1::/48",
        "2001:DB8:AA00::/40"
      ],
      "network": [
        "203.0.113.128/25",
        "203.0.113.0/24"
      ],
      "coordinates": {"latitude": 50.110924, "longitude": "8.682127"}
    },
    "pop-empty": {
      "network": null,
      "coordinates": {"latitude": "1.5"}
    },
    "pop-null": null
  }
}"#;

#[test]
fn traffic_router_quirks_load_as_written() {
    let cz = CoverageZones::from_czf_json(TR_CZF).unwrap();
    let ams = || "pop-ams".to_owned();
    let fra = || "pop-fra".to_owned();
    // String coordinates, extra keys beside them ignored.
    assert_eq!(cz.coordinates("pop-ams"), Some(Coordinates::new(52.379189, 4.899431)));
    assert_eq!(cz.coordinates("pop-fra"), Some(Coordinates::new(50.110924, 8.682127)));
    // Only one of the two values: no coordinates, as Traffic Router requires both.
    assert_eq!(cz.coordinates("pop-empty"), None);
    assert_eq!(
        cz.zones().iter().map(|z| z.name.as_str()).collect::<Vec<_>>(),
        ["pop-ams", "pop-fra", "pop-empty", "pop-null"]
    );
    // Longest match wins across zones: fra's /48 inside ams's /44 inside ams's /40.
    assert_eq!(at(&cz, "2001:db8:aa10::1"), Some((fra(), 48)));
    assert_eq!(at(&cz, "2001:db8:aa11::1"), Some((ams(), 44)));
    assert_eq!(at(&cz, "2001:db8:aaff::1"), Some((ams(), 40)));
    // The /40 listed again by fra, and the /48 listed again with other host bits: the first
    // zone keeps both.
    assert_eq!(at(&cz, "2001:db8:aa80::1"), Some((ams(), 40)));
    assert_eq!(at(&cz, "2001:db8:ff00:1::1"), Some((ams(), 48)));
    let kept: Vec<_> = cz.conflicts().iter().map(|c| (c.prefix.to_string(), &*c.kept)).collect();
    assert_eq!(
        kept,
        [("2001:db8:aa00::/40".into(), "pop-ams"), ("2001:db8:ff00::/48".into(), "pop-ams")]
    );
    // IPv4: the /25s inside fra's /24.
    assert_eq!(at(&cz, "203.0.113.7"), Some((ams(), 25)));
    assert_eq!(at(&cz, "203.0.113.200"), Some((fra(), 25)));
    assert!(cz.misfiled().is_empty());
}

#[test]
fn networks_under_the_other_family_key_are_reported_not_indexed() {
    let text = r#"{"coverageZones": {"a": {
        "network": ["192.0.2.0/24", "2001:db8::/32"],
        "network6": ["198.51.100.0/24", "2001:db8:1::/48"]
    }}}"#;
    let cz = CoverageZones::from_czf_json(text).unwrap();
    assert_eq!(at(&cz, "192.0.2.1"), Some(("a".into(), 24)));
    assert_eq!(at(&cz, "2001:db8:1::1"), Some(("a".into(), 48)));
    assert_eq!(at(&cz, "2001:db8:2::1"), None, "listed under network: never matches");
    assert_eq!(at(&cz, "198.51.100.1"), None, "listed under network6: never matches");
    let misfiled: Vec<_> =
        cz.misfiled().iter().map(|m| (m.network.to_string(), m.key, m.zone.as_str())).collect();
    assert_eq!(
        misfiled,
        [("2001:db8::/32".into(), "network", "a"), ("198.51.100.0/24".into(), "network6", "a")]
    );
}

#[test]
fn coordinate_strings_that_are_not_numbers_are_located_errors() {
    let bad = TR_CZF.replace("\"4.899431\"", "\"east\"");
    match CoverageZones::from_czf_json(&bad).unwrap_err() {
        CzfError::Json { line, message, .. } => {
            assert_eq!(line, 15);
            assert!(message.contains("\"east\" is not a number of degrees"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let out_of_range = TR_CZF.replace("\"52.379189\"", "\"152.0\"");
    assert!(matches!(
        CoverageZones::from_czf_json(&out_of_range).unwrap_err(),
        CzfError::Json { .. }
    ));
}

/// A deep coverage zone file as Traffic Router's tooling writes one: tab-indented, the
/// opening brace of each value on its own line, cache lists with a repeat and an empty name.
const TR_DCZF: &str = "{\n\t\"deepCoverageZones\":\n\t{\n\t\t\"deep-ams-a\":\n\t\t{\n\
\t\t\t\"network6\":\n\t\t\t[\n\t\t\t\t\"2001:db8:aa10:5::/64\"\n\t\t\t],\n\
\t\t\t\"network\":\n\t\t\t[\n\t\t\t\t\"203.0.113.64/26\"\n\t\t\t],\n\
\t\t\t\"caches\":\n\t\t\t[\n\t\t\t\t\"edge-ams-deep-1\",\n\t\t\t\t\"\",\n\
\t\t\t\t\"edge-ams-deep-2\",\n\t\t\t\t\"edge-ams-deep-1\"\n\t\t\t]\n\t\t},\n\
\t\t\"deep-nowhere\": {\n\t\t\t\"network\": [\"198.51.100.0/24\"],\n\
\t\t\t\"caches\": null,\n\t\t\t\"coordinates\": {\"latitude\": \"-33.87\", \"longitude\": \"151.21\"}\n\
\t\t}\n\t}\n}\n";

#[test]
fn deep_coverage_zone_file_with_caches() {
    let deep = DeepCoverageZones::from_dczf_json(TR_DCZF).unwrap();
    let names: Vec<_> = deep.zones().iter().map(|z| z.name.as_str()).collect();
    assert_eq!(names, ["deep-ams-a", "deep-nowhere"]);
    assert_eq!(deep.zones()[0].caches, ["edge-ams-deep-1", "edge-ams-deep-2"]);
    assert!(deep.zones()[1].caches.is_empty());
    assert_eq!(deep.zones()[0].coordinates, None);
    assert_eq!(deep.zones()[1].coordinates, Some(Coordinates::new(-33.87, 151.21)));
    let hit = |ip: &str| deep.lookup(ip.parse().unwrap()).map(|(z, len)| (z.name.clone(), len));
    assert_eq!(hit("203.0.113.70"), Some(("deep-ams-a".into(), 26)));
    assert_eq!(hit("2001:db8:aa10:5::9"), Some(("deep-ams-a".into(), 64)));
    assert_eq!(hit("203.0.113.1"), None);

    // The two files are told apart by their top-level key.
    let err = CoverageZones::from_czf_json(TR_DCZF).unwrap_err();
    assert!(err.to_string().contains("coverageZones"), "{err}");
    let err = DeepCoverageZones::from_dczf_json(TR_CZF).unwrap_err();
    assert!(err.to_string().contains("deepCoverageZones"), "{err}");
    let bad = TR_DCZF.replace("\"edge-ams-deep-2\"", "7");
    assert!(matches!(
        DeepCoverageZones::from_dczf_json(&bad).unwrap_err(),
        CzfError::Json { line: 18, .. }
    ));

    let cz = CoverageZones::from_czf_json(TR_CZF).unwrap();
    assert!(cz.deep().is_none());
    let with = cz.clone().with_deep(deep);
    assert_eq!(with.deep().map(|d| d.zones().len()), Some(2));
    assert!(with.memory_bytes() > cz.memory_bytes());
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
