use std::io::Write;

use std::path::PathBuf;

use switchyard_route::FleetSpec;

use super::*;

fn file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    (dir, path)
}

#[test]
fn loads_czf_json_and_csv_by_extension() {
    let (_d, json) = file(
        "czf.json",
        r#"{"coverageZones": {"ams": {"network": ["10.0.0.0/8"], "network6": ["2001:db8::/32"]}}}"#,
    );
    let inv = load_files(
        FleetSpec::default(),
        &InventoryFiles { coverage_zones: Some(json), geoip: None },
    )
    .unwrap();
    assert_eq!(inv.coverage.lookup("10.1.2.3".parse().unwrap()), Some(("ams", 8)));
    assert_eq!(inv.coverage.lookup("2001:db8::1".parse().unwrap()), Some(("ams", 32)));

    let (_d, csv) = file("zones.CSV", "10.0.0.0/8,ams\n10.1.0.0/16,fra\n");
    let inv = load_files(
        FleetSpec::default(),
        &InventoryFiles { coverage_zones: Some(csv), geoip: None },
    )
    .unwrap();
    assert_eq!(inv.coverage.lookup("10.1.2.3".parse().unwrap()), Some(("fra", 16)));
    assert_eq!(inv.coverage.lookup("10.2.2.3".parse().unwrap()), Some(("ams", 8)));
}

#[test]
fn errors_name_the_file_and_the_line() {
    let (_d, csv) = file("zones.csv", "10.0.0.0/8,ams\nnot-a-cidr,fra\n");
    let err = load_files(
        FleetSpec::default(),
        &InventoryFiles { coverage_zones: Some(csv.clone()), geoip: None },
    )
    .unwrap_err();
    let text = err.to_string();
    assert_eq!(
        text,
        format!("{}: line 2, column 1: \"not-a-cidr\" is not an IP network", csv.display())
    );
    assert!(matches!(err, InventoryError::CoverageZones { .. }));
    assert_eq!((err.path(), err.location()), (csv.as_path(), Some((2, 1))));
    assert!(std::error::Error::source(&err).is_none(), "the display already says it all");

    let missing = PathBuf::from("/nonexistent/czf.json");
    let err = load_files(
        FleetSpec::default(),
        &InventoryFiles { coverage_zones: Some(missing), geoip: None },
    )
    .unwrap_err();
    assert!(matches!(err, InventoryError::Read { .. }), "{err}");
    assert!(err.to_string().starts_with("/nonexistent/czf.json: cannot read the file: "), "{err}");

    let (_d, bad_geo) = file("geo.mmdb", "not a database");
    let err = load_files(
        FleetSpec::default(),
        &InventoryFiles { coverage_zones: None, geoip: Some(bad_geo.clone()) },
    )
    .unwrap_err();
    assert!(matches!(err, InventoryError::GeoIp { .. }), "{err}");
    assert_eq!(err.location(), None);
    assert!(err.to_string().starts_with(&format!("{}: ", bad_geo.display())), "{err}");
}

#[test]
fn no_files_give_an_empty_coverage_map() {
    let inv = load_files(FleetSpec::default(), &InventoryFiles::default()).unwrap();
    assert!(inv.coverage.zones().is_empty());
    assert!(inv.geo.is_none());
}

#[test]
fn fleet_file_loads_fast_and_locates_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("fleet.toml");
    std::fs::write(
        &good,
        "[[zones]]\nname = \"ams\"\n\n[[nodes]]\nid = \"a\"\nzone = \"ams\"\nipv4 = \"127.0.0.1\"\n\n\
         [[services]]\nname = \"v\"\nhostnames = [\"v.example\"]\n",
    )
    .unwrap();
    let fleet = load_fleet_file(&good).unwrap();
    assert_eq!((fleet.nodes.len(), fleet.zones.len(), fleet.services.len()), (1, 1, 1));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "extra = 1\n[[zones]]\nname = \"ams\"\n\n[[nodes]]\nid = \"a\"\nzone = \"mars\"\nipv4 = \"127.0.0.1\"\n\n\
         [[nodes]]\nid = \"b\"\nzone = \"ams\"\nport = \"eighty\"\n",
    )
    .unwrap();
    let e = load_fleet_file(&bad).unwrap_err();
    let text = e.to_string();
    let located: Vec<_> =
        e.problems.iter().map(|p| (p.path.as_str(), p.location.map(|l| l.0))).collect();
    assert_eq!(
        located,
        vec![("extra", Some(1)), ("nodes[1].port", Some(13))],
        "type errors stop cross-reference checks of that array: {text}"
    );
    assert!(text.starts_with(&bad.display().to_string()), "{text}");

    std::fs::write(&bad, "[[zones]]\nname = \"ams\"\n\n[[nodes]]\nid = \"a\"\nzone = \"mars\"\nipv4 = \"127.0.0.1\"\n").unwrap();
    let e = load_fleet_file(&bad).unwrap_err();
    assert_eq!(e.problems.len(), 1, "{e}");
    assert_eq!(
        (e.problems[0].path.as_str(), e.problems[0].location.map(|l| l.0)),
        ("nodes[0].zone", Some(6))
    );
}
