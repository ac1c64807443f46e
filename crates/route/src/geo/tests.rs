use super::test_mmdb::{build, entry, ip};
use super::*;

#[test]
fn haversine_known_distance() {
    // New York JFK to London Heathrow is about 5540 km.
    let jfk = Coordinates::new(40.6413, -73.7781);
    let lhr = Coordinates::new(51.4700, -0.4543);
    let d = jfk.distance_km(&lhr);
    assert!((d - 5540.0).abs() < 15.0, "{d}");
    assert!(jfk.distance_km(&jfk) < 1e-9);
}

#[test]
fn nearest_orders_by_great_circle_distance() {
    let idx = NearestIndex::new([
        (0, Coordinates::new(40.7, -74.0)),  // New York
        (1, Coordinates::new(51.5, -0.1)),   // London
        (2, Coordinates::new(35.7, 139.7)),  // Tokyo
        (3, Coordinates::new(37.8, -122.4)), // San Francisco
    ]);
    let paris = Coordinates::new(48.9, 2.35);
    assert_eq!(idx.nearest(&paris), Some(1));
    assert_eq!(idx.nearest_n(&paris, Some(1), 2), vec![0, 3]);
    // Across the antimeridian: Anchorage is nearer Tokyo than London.
    let anchorage = Coordinates::new(61.2, -149.9);
    assert_eq!(idx.nearest_n(&anchorage, None, 4), vec![3, 0, 2, 1]);
    assert_eq!(NearestIndex::default().nearest(&paris), None);
}

#[test]
fn mmdb_lookup_gives_coordinates_and_prefix() {
    let db = build(&[
        entry("192.0.2.0/24", Some((48.85, 2.35))),
        entry("198.51.100.0/22", None),
        entry("2001:db8::/32", Some((35.68, 139.69))),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.mmdb");
    std::fs::write(&path, &db).unwrap();
    let geo = GeoIp::open(&path).unwrap();
    assert_eq!(geo.database_type(), "Switchyard-Test");

    let hit = geo.locate(ip("192.0.2.77")).unwrap();
    assert_eq!(hit.coordinates, Coordinates::new(48.85, 2.35));
    assert_eq!(hit.prefix_len, 24);
    let hit = geo.locate(ip("2001:db8:ffff::1")).unwrap();
    assert_eq!(hit.coordinates, Coordinates::new(35.68, 139.69));
    assert_eq!(hit.prefix_len, 32);
    assert_eq!(geo.locate(ip("198.51.100.1")), None, "record without location");
    assert_eq!(geo.locate(ip("203.0.113.1")), None, "not in the database");
}

#[test]
fn open_rejects_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.mmdb");
    std::fs::write(&path, b"not a database").unwrap();
    assert!(matches!(GeoIp::open(&path), Err(GeoError::Open(_))));
    assert!(GeoIp::open(dir.path().join("missing.mmdb")).is_err());
}
