use std::path::Path;

use super::*;

fn load(src: &str) -> Result<Config, ConfigError> {
    load_str(src, "test.toml", Path::new("."))
}

#[test]
fn empty_file_gives_defaults() {
    let c = load("").unwrap();
    assert_eq!(c.listen.admin, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(c.listen.http, None);
    assert_eq!(c.lifecycle.drain_timeout_seconds, 30.0);
    assert_eq!(c.health.check_timeout_ms, 2000);
}

#[test]
fn shipped_example_parses_and_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/switchyard.toml");
    let c = load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.listen.http.is_some());
}

#[test]
fn syntax_error_is_located() {
    let e = load("[listen]\nadmin = \"127.0.0.1:1\"\nhttp = = 3\n").unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert_eq!(e.problems[0].location.map(|l| l.0), Some(3), "{e}");
    assert!(e.to_string().starts_with("test.toml:3:"), "{e}");
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let src = "\
[listen]
admin = \"not an address\"

[lifecycle]
drain_timeout_seconds = 30
shutdown_delay_seconds = 1
bogus_key = 1

[health]
check_timeout_ms = \"fast\"

[nonsense]
x = 1
";
    let e = load(src).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.problems.len(), 4, "{text}");
    let lines: Vec<_> = e.problems.iter().map(|p| p.location.unwrap().0).collect();
    assert_eq!(lines, vec![2, 7, 10, 12], "{text}");
    assert!(text.contains("test.toml:2:1: listen.admin:"), "{text}");
    assert!(text.contains("unknown field `bogus_key`"), "{text}");
    assert!(text.contains("health.check_timeout_ms"), "{text}");
    assert!(text.contains("unknown section `nonsense`"), "{text}");
}

#[test]
fn validation_reports_all_semantic_problems() {
    let src = "\
[listen]
admin = \"127.0.0.1:9000\"
http = \"127.0.0.1:9000\"

[lifecycle]
drain_timeout_seconds = 0
shutdown_delay_seconds = -1

[health]
check_timeout_ms = 5000
event_loop_stall_threshold_ms = 50
heartbeat_interval_ms = 100
";
    let e = load(src).unwrap_err();
    let text = e.to_string();
    let paths: Vec<_> = e.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "listen.http",
            "lifecycle.drain_timeout_seconds",
            "lifecycle.shutdown_delay_seconds",
            "health.check_timeout_ms",
            "health.event_loop_stall_threshold_ms",
        ],
        "{text}"
    );
    assert!(e.problems.iter().all(|p| p.location.is_some()), "{text}");
}

#[test]
fn missing_files_are_reported() {
    let e = load("[admin]\ntoken_file = \"/nonexistent/token\"\n").unwrap_err();
    assert!(
        e.to_string()
            .contains("test.toml:2:1: admin.token_file: /nonexistent/token does not exist"),
        "{e}"
    );
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let e = load_file(Path::new("/nonexistent/switchyard.toml")).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/switchyard.toml: cannot read the file"), "{e}");
}

#[test]
fn inventory_problems_are_all_reported_with_lines() {
    let src = "\
[[inventory.zones]]
name = \"ams\"

[[inventory.nodes]]
id = \"a\"
zone = \"ams\"
ipv4 = \"not-an-ip\"

[[inventory.nodes]]
id = \"b\"
zone = \"ams\"
weight = \"heavy\"

[[inventory.services]]
name = \"video\"
hostnames = [\"v.example\"]
colour = \"red\"
";
    let e = load(src).unwrap_err();
    let text = e.to_string();
    let paths: Vec<_> =
        e.problems.iter().map(|p| (p.path.as_str(), p.location.unwrap().0)).collect();
    assert_eq!(
        paths,
        vec![
            ("inventory.nodes[0].ipv4", 7),
            ("inventory.nodes[1].weight", 12),
            ("inventory.services[0].colour", 17)
        ],
        "{text}"
    );
}

#[test]
fn fleet_cross_references_are_validated_with_lines() {
    let src = "\
[[inventory.zones]]
name = \"ams\"

[[inventory.nodes]]
id = \"a\"
zone = \"nowhere\"
ipv4 = \"127.0.0.1\"

[[inventory.services]]
name = \"video\"
hostnames = [\"v.example\"]
zones = [\"ams\", \"mars\"]
";
    let e = load(src).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.problems.len(), 2, "{text}");
    assert_eq!(e.problems[0].path, "inventory.nodes[0].zone", "{text}");
    assert_eq!(e.problems[0].location.unwrap().0, 6, "{text}");
    assert!(e.problems[1].path.starts_with("inventory.services[0].zones"), "{text}");
    assert_eq!(e.problems[1].location.unwrap().0, 12, "{text}");
}

#[test]
fn fleet_file_and_inline_fleet_are_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fleet.toml"), "").unwrap();
    let src = "[inventory]\nfleet_file = \"fleet.toml\"\n\n[[inventory.zones]]\nname = \"ams\"\n";
    let e = load_str(src, "test.toml", dir.path()).unwrap_err();
    assert_eq!(e.problems[0].path, "inventory.fleet_file", "{e}");
    assert_eq!(e.problems[0].location.map(|l| l.0), Some(2), "{e}");
}

#[test]
fn a_wrong_type_and_unknown_keys_in_one_section_are_all_reported() {
    let src = "\
[health]
check_timeout_ms = \"x\"
foo = 1
heartbeat_interval_ms = \"y\"
bar = 2
";
    let e = load(src).unwrap_err();
    let located: Vec<_> =
        e.problems.iter().map(|p| (p.path.as_str(), p.location.unwrap().0)).collect();
    assert_eq!(
        located,
        vec![
            ("health.check_timeout_ms", 2),
            ("health.foo", 3),
            ("health.heartbeat_interval_ms", 4),
            ("health.bar", 5)
        ],
        "{e}"
    );
}

#[test]
fn unknown_keys_do_not_hide_the_sections_semantic_problems() {
    // Only unknown keys were removed, so the rest of [health] is still checked.
    let e = load("[health]\ncheck_timeout_ms = 5000\nfoo = 1\n").unwrap_err();
    let paths: Vec<_> = e.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["health.check_timeout_ms", "health.foo"], "{e}");
    assert!(e.problems[0].message.contains("out of range"), "{e}");
}

#[test]
fn a_removed_bad_value_does_not_turn_into_a_missing_field() {
    // `id` is required: once its bad value is reported, "missing field `id`" would be noise.
    let src = "[[inventory.nodes]]\nid = 5\nzone = \"ams\"\nipv4 = \"127.0.0.1\"\ncolour = 1\n";
    let e = load(src).unwrap_err();
    let paths: Vec<_> = e.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["inventory.nodes[0].id", "inventory.nodes[0].colour"], "{e}");
    assert!(!e.to_string().contains("missing field"), "{e}");
}
