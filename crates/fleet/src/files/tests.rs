//! The deep coverage zone file as the configuration names it.

use std::path::Path;

use super::*;

const DCZF: &str = r#"{
  "deepCoverageZones": {
    "deep-ams": {
      "network": ["192.0.2.0/26", "2001:db8:9::/48"],
      "network6": ["2001:db8:a::/48"],
      "caches": ["edge-ams-deep-1", "edge-ams-deep-2"]
    }
  }
}"#;

fn config(toml_text: &str) -> InventoryConfig {
    toml::from_str(toml_text).unwrap()
}

#[test]
fn deep_file_is_read_relative_to_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dczf.json"), DCZF).unwrap();
    let c = config("deep_coverage_zones_file = \"dczf.json\"\n");
    let deep = c.load_deep_coverage_zones(dir.path()).unwrap().unwrap();
    let (zone, len) = deep.lookup("192.0.2.9".parse().unwrap()).unwrap();
    assert_eq!((zone.name.as_str(), len), ("deep-ams", 26));
    assert_eq!(zone.caches, ["edge-ams-deep-1", "edge-ams-deep-2"]);
    // The IPv6 network under "network" is reported, not an error.
    assert_eq!(deep.misfiled().len(), 1);

    let czf = CoverageZones::from_czf_json(r#"{"coverageZones": {}}"#).unwrap().with_deep(deep);
    assert_eq!(czf.deep().map(|d| d.zones().len()), Some(1));

    assert!(config("").load_deep_coverage_zones(dir.path()).unwrap().is_none());
}

#[test]
fn deep_file_errors_name_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dczf.json");
    std::fs::write(&path, DCZF.replace("192.0.2.0/26", "192.0.2.0/33")).unwrap();
    let c = config("deep_coverage_zones_file = \"dczf.json\"\n");
    let err = c.load_deep_coverage_zones(dir.path()).unwrap_err();
    assert!(matches!(err, InventoryError::CoverageZones { .. }), "{err}");
    assert_eq!(err.path(), path.as_path());
    assert_eq!(err.location().map(|(line, _)| line), Some(4));
    assert!(err.to_string().contains("192.0.2.0/33"), "{err}");

    // A coverage zone file where a deep one belongs says which key it lacks.
    std::fs::write(&path, r#"{"coverageZones": {}}"#).unwrap();
    let err = c.load_deep_coverage_zones(dir.path()).unwrap_err();
    assert!(err.to_string().contains("deepCoverageZones"), "{err}");

    let missing = config("deep_coverage_zones_file = \"nope.json\"\n");
    let err = missing.load_deep_coverage_zones(Path::new("/nonexistent")).unwrap_err();
    assert!(matches!(err, InventoryError::Read { .. }), "{err}");
}
