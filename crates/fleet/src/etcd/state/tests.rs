use switchyard_route::{AdminState, HealthState};

use super::*;

fn put(key: &str, value: &str, revision: i64) -> Change {
    Change { key: key.to_owned(), value: Some(value.as_bytes().to_vec()), revision }
}

fn del(key: &str, revision: i64) -> Change {
    Change { key: key.to_owned(), value: None, revision }
}

fn base() -> State {
    let mut s = State::new("/sy/", "i1");
    for c in [
        put("zones/ams", r#"{"name": "ams"}"#, 2),
        put("zones/fra", "{}", 3),
        put("nodes/a1", r#"{"zone": "ams", "ipv4": "192.0.2.1"}"#, 4),
        put("nodes/f1", r#"{"id": "f1", "zone": "fra", "ipv4": "192.0.2.2"}"#, 5),
        put("services/video", r#"{"hostnames": ["video.example"]}"#, 6),
    ] {
        assert!(s.apply(c));
    }
    s
}

fn ids(a: &Assembled) -> Vec<&str> {
    a.spec.nodes.iter().map(|n| n.id.as_str()).collect()
}

#[test]
fn keys_make_a_valid_inventory_with_names_from_the_keys() {
    let mut s = base();
    let a = s.assemble();
    assert_eq!(ids(&a), ["a1", "f1"]);
    assert_eq!(a.spec.zones.len(), 2);
    assert_eq!(a.spec.services[0].name, "video");
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    assert_eq!(s.revision(), 6);
    assert_eq!(s.inventory_revision(), 6);
}

#[test]
fn duplicates_and_stale_events_change_nothing() {
    let mut s = base();
    s.assemble();
    assert!(!s.apply(put("nodes/a1", r#"{"zone": "fra", "ipv4": "192.0.2.9"}"#, 4)));
    assert!(!s.apply(del("nodes/zzz", 7)), "a delete of an unknown key");
    assert!(!s.inventory_dirty());
    assert_eq!(s.revision(), 7);
}

#[test]
fn a_malformed_value_keeps_the_last_good_one_and_is_reported() {
    let mut s = base();
    s.assemble();
    s.apply(put("nodes/a1", "{not json", 8));
    s.apply(put("nodes/f1", r#"{"id": "other", "zone": "fra", "ipv4": "192.0.2.2"}"#, 9));
    s.apply(put("nodes/new", r#"{"zone": "ams", "colour": "red"}"#, 10));
    let a = s.assemble();
    assert_eq!(ids(&a), ["a1", "f1"], "last good values stay, the bad new key is absent");
    let problems = s.problems();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["/sy/nodes/a1", "/sy/nodes/f1", "/sy/nodes/new"], "{problems:?}");
    assert!(problems[1].problem.contains("does not match the key"), "{problems:?}");
    assert!(problems[2].problem.contains("colour"), "{problems:?}");
    // A good value clears the problem.
    s.apply(put("nodes/a1", r#"{"zone": "ams", "ipv4": "192.0.2.11"}"#, 11));
    let a = s.assemble();
    assert_eq!(a.spec.nodes[0].ipv4, Some("192.0.2.11".parse().unwrap()));
    assert_eq!(s.problems().len(), 2);
}

#[test]
fn a_value_that_breaks_the_inventory_falls_back_and_nothing_else_moves() {
    let mut s = base();
    s.assemble();
    // A node moved to a zone that does not exist: its last value in force stays.
    s.apply(put("nodes/a1", r#"{"zone": "mars", "ipv4": "192.0.2.1"}"#, 8));
    // A new node in a missing zone has no value in force: it is left out.
    s.apply(put("nodes/x1", r#"{"zone": "venus", "ipv4": "192.0.2.3"}"#, 9));
    // A service claiming the other's host name.
    s.apply(put("services/video2", r#"{"hostnames": ["video.example"]}"#, 10));
    let a = s.assemble();
    assert_eq!(ids(&a), ["a1", "f1"]);
    assert_eq!(a.spec.nodes[0].zone, "ams");
    assert_eq!(a.spec.services.len(), 1);
    let problems = s.problems();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["/sy/nodes/a1", "/sy/nodes/x1", "/sy/services/video2"], "{problems:?}");
    assert!(problems.iter().all(|p| p.problem.starts_with("left out of the inventory")));
    assert!(a.spec.validate().is_ok());

    // Deleting a zone leaves its nodes out with it, reported, not a broken table.
    s.apply(del("zones/fra", 11));
    let a = s.assemble();
    assert!(a.spec.validate().is_ok());
    assert_eq!(ids(&a), ["a1"]);
    assert!(s.problems().iter().any(|p| p.key == "/sy/nodes/f1"), "{:?}", s.problems());
    // The zone comes back: so does its node.
    s.apply(put("zones/fra", "{}", 12));
    assert_eq!(ids(&s.assemble()), ["a1", "f1"]);
}

#[test]
fn a_snapshot_applies_the_difference_including_missed_deletes() {
    let mut s = base();
    s.assemble();
    let listing = vec![
        ("zones/ams".to_owned(), br#"{"name": "ams"}"#.to_vec(), 2),
        ("zones/fra".to_owned(), b"{}".to_vec(), 3),
        ("nodes/a1".to_owned(), br#"{"zone": "ams", "ipv4": "192.0.2.1"}"#.to_vec(), 4),
        ("nodes/a2".to_owned(), br#"{"zone": "ams", "ipv4": "192.0.2.5"}"#.to_vec(), 20),
        ("services/video".to_owned(), br#"{"hostnames": ["video.example"]}"#.to_vec(), 6),
    ];
    // f1 was deleted and a2 added while we were not watching.
    assert_eq!(s.apply_snapshot(listing.clone(), 21), 2);
    assert_eq!(ids(&s.assemble()), ["a1", "a2"]);
    assert_eq!(s.revision(), 21);
    // The same listing again changes nothing.
    assert_eq!(s.apply_snapshot(listing, 22), 0);
    assert!(!s.inventory_dirty());
}

#[test]
fn cluster_view_counts_verdicts_of_live_members_only() {
    let mut s = base();
    s.apply(put("members/i1", r#"{"version": "1"}"#, 30));
    s.apply(put("members/i2", "{}", 31));
    s.apply(put("health/a1/i1", r#"{"state": "down", "cause": "timeout"}"#, 32));
    s.apply(put("health/a1/i2", r#"{"state": "up"}"#, 33));
    s.apply(put("health/a1/gone", r#"{"state": "down"}"#, 34));
    s.apply(put("maintenance/i2", r#"{"enabled": true, "reason": "not me"}"#, 35));
    s.apply(put("admin/nodes/a1", r#"{"admin": "drain"}"#, 36));
    assert!(s.cluster_dirty());
    let v = s.cluster_view();
    assert_eq!(v.members.len(), 2);
    assert_eq!(v.verdicts["a1"].len(), 2);
    assert_eq!(v.verdicts["a1"].get("i1").unwrap().state, HealthState::Down);
    assert_eq!(v.maintenance(), None, "maintenance of another instance");
    s.apply(put("maintenance", r#"{"enabled": true, "reason": "upgrade"}"#, 37));
    assert_eq!(s.cluster_view().maintenance(), Some("upgrade"));
    s.apply(put("maintenance/i1", r#"{"enabled": true}"#, 38));
    assert_eq!(s.cluster_view().maintenance(), Some("no reason given"));
    assert_eq!(s.assemble().operator.get("a1"), Some(&AdminState::Drain));
    s.apply(del("members/i2", 39));
    assert_eq!(s.cluster_view().verdicts["a1"].len(), 1);
}

#[test]
fn unknown_keys_and_bad_cluster_values_are_reported() {
    let mut s = base();
    s.apply(put("misc/x", "1", 40));
    s.apply(put("health/a1/i1", r#"{"state": "sideways"}"#, 41));
    s.apply(put("coverage", r#"{"coverageZones": 5}"#, 42));
    let keys: Vec<String> = s.problems().into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["/sy/coverage", "/sy/health/a1/i1", "/sy/misc/x"]);
}

#[test]
fn the_cache_holds_inventory_keys_only() {
    let mut s = base();
    s.apply(put("members/i1", "{}", 50));
    s.apply(put("admin/nodes/a1", r#"{"admin": "maintenance"}"#, 51));
    let (rev, kvs) = s.inventory_keys();
    assert_eq!(rev, 51);
    let keys: Vec<&str> = kvs.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["admin/nodes/a1", "nodes/a1", "nodes/f1", "services/video", "zones/ams", "zones/fra"]
    );
}

#[test]
fn verdict_keys_are_exact_through_events_and_listings() {
    let mut s = State::new("/sy/", "i1");
    s.apply(put("members/i1", "{}", 2));
    s.apply(put("members/i2", "{}", 3));
    assert!(s.apply(put("health/n1/i2", r#"{"state": "down"}"#, 4)));
    assert!(s.apply(put("health/n1/i1", r#"{"state": "up"}"#, 5)));
    // A replayed or older event of a verdict key changes nothing.
    assert!(!s.apply(put("health/n1/i2", r#"{"state": "up"}"#, 4)));
    assert!(!s.apply(put("health/n1/i1", r#"{"state": "down"}"#, 3)));
    assert!(!s.apply(del("health/n9/i1", 6)), "a delete of a verdict never seen");
    let v = s.cluster_view();
    let by: Vec<(&str, HealthState)> =
        v.verdicts["n1"].iter().map(|(i, v)| (&**i, v.state)).collect();
    assert_eq!(by, [("i1", HealthState::Up), ("i2", HealthState::Down)], "in instance order");

    assert!(s.apply(del("health/n1/i2", 7)));
    assert_eq!(s.cluster_view().verdicts["n1"].len(), 1);
    assert!(s.apply(put("health/n1/i2", r#"{"state": "degraded"}"#, 8)), "written again");
    assert!(s.apply(put("health/n2/i2", r#"{"state": "down"}"#, 9)));

    // A listing without n1's verdicts deletes them; n2's, at its known revision, stays.
    let listing = vec![
        ("members/i1".to_owned(), b"{}".to_vec(), 2),
        ("members/i2".to_owned(), b"{}".to_vec(), 3),
        ("health/n2/i2".to_owned(), br#"{"state": "down"}"#.to_vec(), 9),
    ];
    assert_eq!(s.apply_snapshot(listing.clone(), 10), 2);
    let v = s.cluster_view();
    assert!(!v.verdicts.contains_key("n1"), "{:?}", v.verdicts);
    assert_eq!(v.verdicts["n2"].get("i2").unwrap().state, HealthState::Down);
    assert_eq!(s.apply_snapshot(listing, 11), 0);
}

#[test]
fn a_bad_verdict_keeps_the_last_good_one_and_views_share_the_lists() {
    let mut s = State::new("/sy/", "i1");
    s.apply(put("members/i1", "{}", 2));
    s.apply(put("members/i2", "{}", 3));
    s.apply(put("health/n1/i2", r#"{"state": "down"}"#, 4));
    s.apply(put("health/n2/i2", r#"{"state": "sideways"}"#, 5));
    let first = s.cluster_view();
    assert!(!first.verdicts.contains_key("n2"), "nothing good to count yet");
    assert!(s.apply(put("health/n1/i2", "{not json", 6)));
    let v = s.cluster_view();
    assert_eq!(v.verdicts["n1"].get("i2").unwrap().state, HealthState::Down, "last good");
    assert_eq!(v.verdicts["n1"], first.verdicts["n1"]);
    let keys: Vec<String> = s.problems().into_iter().map(|p| p.key).collect();
    assert_eq!(keys, ["/sy/health/n1/i2", "/sy/health/n2/i2"]);

    // The bad values are known at their revisions: the same listing changes nothing, one
    // without them deletes both the good verdict and the problems.
    let listing = vec![
        ("members/i1".to_owned(), b"{}".to_vec(), 2),
        ("members/i2".to_owned(), b"{}".to_vec(), 3),
        ("health/n1/i2".to_owned(), b"{not json".to_vec(), 6),
        ("health/n2/i2".to_owned(), br#"{"state": "sideways"}"#.to_vec(), 5),
    ];
    assert_eq!(s.apply_snapshot(listing.clone(), 7), 0);
    assert_eq!(s.apply_snapshot(listing[..2].to_vec(), 8), 2);
    assert!(s.cluster_view().verdicts.is_empty());
    assert!(s.problems().is_empty());

    // A fixed value replaces the problem; a view taken before any change shares its lists.
    s.apply(put("health/n1/i2", r#"{"state": "up"}"#, 9));
    let (a, b) = (s.cluster_view(), s.cluster_view());
    assert!(a.verdicts["n1"].shares(&b.verdicts["n1"]));
    s.apply(put("health/n1/i1", r#"{"state": "down"}"#, 10));
    assert!(!s.cluster_view().verdicts["n1"].shares(&a.verdicts["n1"]), "a change copies");
}
