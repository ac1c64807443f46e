//! `switchyard check-config` through the real binary: it refuses what `serve` refuses (bad
//! inventory files, an exposed admin listener with no token), locates every problem, and says
//! each one once; CLI failures are printed once and name the bad value.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::BIN;

/// A folder holding a configuration file and the files it names.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `check-config` on `file` with no admin token in the environment, or `token`.
fn check(file: &Path, token: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("check-config").arg(file).env_remove("SWITCHYARD_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.env("SWITCHYARD_ADMIN_TOKEN", t);
    }
    cmd.output().unwrap()
}

/// Stderr of a run that must have failed with exit 1, and said nothing on stdout.
fn refused(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stdout: {}\nstderr: {err}", out_text(out));
    assert!(!out_text(out).contains("ok"), "{}", out_text(out));
    err
}

fn out_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn accepted(out: &Output) {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out_text(out).ends_with(": ok\n"), "{}", out_text(out));
}

const CZ_CONFIG: &str = "[inventory]\ncoverage_zones_file = \"cz.json\"\n";

#[test]
fn a_coverage_zone_json_with_a_bad_network_is_refused_at_its_line_and_column() {
    // Not an address, and the braces do not balance: the first fault is the one reported.
    let json = r#"{"coverageZones": {"fra": {"network": ["10.0.0.0/8", "300.1.0.0/16"]}}"#;
    let f = Files::new(&[("c.toml", CZ_CONFIG), ("cz.json", json)]);
    let err = refused(&check(&f.path("c.toml"), None));
    // The JSON reader places a bad string at its last character.
    let col = json.find("\"300").unwrap() + "\"300.1.0.0/16\"".len();
    let expected =
        format!("{}:1:{col}: \"300.1.0.0/16\" is not an IP network", f.path("cz.json").display());
    assert!(err.contains(&expected), "want {expected}\n{err}");
    assert_eq!(err.matches("is not an IP network").count(), 1, "said once: {err}");
    assert!(err.contains("1 problem(s) found"), "{err}");

    // Only the braces wrong: still refused, at the end of the text.
    let unbalanced = r#"{"coverageZones": {"fra": {"network": ["10.0.0.0/8"]}}"#;
    std::fs::write(f.path("cz.json"), unbalanced).unwrap();
    let err = refused(&check(&f.path("c.toml"), None));
    assert!(err.contains(&format!("{}:1:", f.path("cz.json").display())), "{err}");
}

#[test]
fn a_coverage_zone_csv_with_a_bad_cidr_or_no_zone_column_is_refused() {
    let config = "[inventory]\ncoverage_zones_file = \"zones.csv\"\n";
    let f = Files::new(&[("c.toml", config), ("zones.csv", "10.0.0.0/8,ams\nnot-a-cidr,fra\n")]);
    let csv = f.path("zones.csv");
    let err = refused(&check(&f.path("c.toml"), None));
    let expected = format!("{}:2:1: \"not-a-cidr\" is not an IP network", csv.display());
    assert!(err.contains(&expected), "want {expected}\n{err}");

    std::fs::write(&csv, "10.0.0.0/8,ams\n10.1.0.0/16\n").unwrap();
    let err = refused(&check(&f.path("c.toml"), None));
    let expected = format!("{}:2:12: expected `cidr,zone`", csv.display());
    assert!(err.contains(&expected), "want {expected}\n{err}");

    std::fs::write(&csv, "10.0.0.0/8,ams\n10.1.0.0/16,fra\n").unwrap();
    accepted(&check(&f.path("c.toml"), None));
}

#[test]
fn every_inventory_file_and_config_problem_is_reported_in_one_run() {
    let config = "\
[lifecycle]
drain_timeout_seconds = 0

[inventory]
coverage_zones_file = \"zones.csv\"
geoip_file = \"geo.mmdb\"
fleet_file = \"fleet.toml\"
";
    let f = Files::new(&[
        ("c.toml", config),
        ("zones.csv", "bogus\n"),
        ("geo.mmdb", "not a MaxMind database"),
        ("fleet.toml", "[[nodes]]\nid = 5\n"),
    ]);
    let err = refused(&check(&f.path("c.toml"), None));
    let c = f.path("c.toml");
    assert!(
        err.contains(&format!("{}:2:1: lifecycle.drain_timeout_seconds", c.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:1:6: expected `cidr,zone`", f.path("zones.csv").display())),
        "{err}"
    );
    assert!(err.contains(&format!("{}: ", f.path("geo.mmdb").display())), "{err}");
    assert!(err.contains(&format!("{}:2:", f.path("fleet.toml").display())), "{err}");
    let problems = err.lines().count() - 1;
    assert!(err.contains(&format!("{problems} problem(s) found")), "{err}");
    assert!(problems >= 4, "{err}");
}

#[test]
fn a_missing_inventory_file_is_reported_once_at_its_key() {
    let f = Files::new(&[("c.toml", CZ_CONFIG)]);
    let err = refused(&check(&f.path("c.toml"), None));
    assert!(
        err.contains(&format!(
            "{}:2:1: inventory.coverage_zones_file:",
            f.path("c.toml").display()
        )),
        "{err}"
    );
    assert!(err.contains("1 problem(s) found"), "{err}");
}

#[test]
fn an_exposed_admin_listener_needs_a_token_or_no_mutations() {
    let config = "[listen]\nadmin = \"192.0.2.1:19093\"\n";
    let f = Files::new(&[("c.toml", config), ("token", "s3cret\n"), ("empty-token", "  \n")]);
    let c = f.path("c.toml");
    let err = refused(&check(&c, None));
    assert!(err.contains(&format!("{}:2:1: listen.admin: ", c.display())), "{err}");
    assert!(err.contains("no admin token is set"), "{err}");
    assert!(err.contains("1 problem(s) found"), "{err}");

    // serve would accept each of these (192.0.2.1 is not bound by check-config, or this
    // would fail: the address is not on this machine).
    accepted(&check(&c, Some("from-the-environment")));
    std::fs::write(&c, format!("{config}[admin]\nmutations_enabled = false\n")).unwrap();
    accepted(&check(&c, None));
    std::fs::write(&c, format!("{config}[admin]\ntoken_file = \"token\"\n")).unwrap();
    accepted(&check(&c, None));

    // An empty token file is refused by serve whatever the listener.
    std::fs::write(&c, "[admin]\ntoken_file = \"empty-token\"\n").unwrap();
    let err = refused(&check(&c, None));
    let expected = format!(
        "{}:2:1: admin.token_file: {} is empty",
        c.display(),
        f.path("empty-token").display()
    );
    assert!(err.contains(&expected), "want {expected}\n{err}");

    let err = refused(&check(&c, Some("  ")));
    assert!(err.contains("SWITCHYARD_ADMIN_TOKEN is set but empty"), "{err}");
}

#[test]
fn a_problem_at_an_absent_key_points_at_the_table_around_it() {
    let config = "\
[probe.by_tag.snmp]
check = { kind = \"snmp\", version = \"3\" }
";
    let f = Files::new(&[("c.toml", config)]);
    let c = f.path("c.toml");
    let err = refused(&check(&c, None));
    let expected =
        format!("{}:2:1: probe.by_tag.snmp.check.user: is required with version 3", c.display());
    assert!(err.contains(&expected), "want {expected}\n{err}");

    // The same check as a table of its own: its header is the nearest present key.
    std::fs::write(&c, "[probe.by_tag.snmp.check]\nkind = \"snmp\"\nversion = \"3\"\n").unwrap();
    let err = refused(&check(&c, None));
    assert!(err.contains(&format!("{}:1:", c.display())), "{err}");
    assert!(err.contains("probe.by_tag.snmp.check.user: is required with version 3"), "{err}");
    for line in err.lines().filter(|l| !l.ends_with("problem(s) found")) {
        assert!(
            line.starts_with(&format!("{}:", c.display())),
            "every problem has a position: {line}"
        );
        let rest = &line[c.display().to_string().len() + 1..];
        assert!(rest.split(':').next().unwrap().parse::<usize>().is_ok(), "no position: {line}");
    }
}

#[test]
fn a_wrong_type_does_not_hide_unknown_keys_or_other_sections() {
    let config = "\
[health]
check_timeout_ms = \"x\"
foo = 1

[lifecycle]
drain_timeout_seconds = 0
bar = 2
";
    let f = Files::new(&[("c.toml", config)]);
    let c = f.path("c.toml");
    let err = refused(&check(&c, None));
    let p = c.display();
    for expected in [
        format!("{p}:2:1: health.check_timeout_ms: "),
        format!("{p}:3:1: health.foo: unknown field `foo`"),
        format!("{p}:6:1: lifecycle.drain_timeout_seconds: "),
        format!("{p}:7:1: lifecycle.bar: unknown field `bar`"),
    ] {
        assert!(err.contains(&expected), "want {expected}\n{err}");
    }
    assert!(err.contains("4 problem(s) found"), "{err}");
}

#[test]
fn serve_says_an_inventory_failure_once() {
    let config = "\
[listen]
admin = \"127.0.0.1:0\"
[lifecycle]
shutdown_delay_seconds = 0
[inventory]
coverage_zones_file = \"cz.json\"
";
    let json = r#"{"coverageZones": {"fra": {"network": ["300.1.0.0/16"]}}}"#;
    let f = Files::new(&[("c.toml", config), ("cz.json", json)]);
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(f.path("c.toml"))
        .env_remove("SWITCHYARD_ADMIN_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("is not an IP network").count(), 1, "said once: {err}");
    // The JSON reader places a bad string at its last character.
    let col = json.find("\"300").unwrap() + "\"300.1.0.0/16\"".len();
    let expected = format!(
        "switchyard: loading the inventory: {}: line 1, column {col}: \"300.1.0.0/16\" is not an IP network\n",
        f.path("cz.json").display()
    );
    assert!(err.ends_with(&expected), "want {expected}\n{err}");
}

#[test]
fn a_bad_snmp_agent_port_is_named_once() {
    let out = Command::new(BIN)
        .args(["snmp", "get", "-v", "2c", "-c", "public", "127.0.100.1:99999", "1.3.6.1.2.1.1.1.0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("\"99999\""), "names the value: {err}");
    assert!(err.contains("127.0.100.1:99999"), "{err}");
}

/// Secrets of the wrong TOML type, each with the key a problem names: a numeric v2c
/// community beside an HTTP check, a numeric v3 pass phrase, and a community inside an SNMP
/// check (an internally tagged table, where serde cannot name the key).
const MISTYPED_SECRETS: [(&str, &str, &str); 3] = [
    (
        "[probe.default]\ncheck = { kind = \"http\", path = \"/health\" }\n\
         snmp = { version = \"2c\", community = 48151623 }\n",
        "48151623",
        "probe.default.snmp.community",
    ),
    (
        "[probe.default]\ncheck = { kind = \"http\", path = \"/health\" }\n\
         snmp = { version = \"3\", user = \"ops\", auth_password = 90210777 }\n",
        "90210777",
        "probe.default.snmp.auth_password",
    ),
    (
        "[probe.default]\ncheck = { kind = \"snmp\", community = 31415926 }\n",
        "31415926",
        "probe.default.check",
    ),
];

#[test]
fn a_secret_of_the_wrong_type_is_named_but_never_echoed() {
    for (config, secret, key) in MISTYPED_SECRETS {
        let f = Files::new(&[("switchyard.toml", config)]);
        let err = refused(&check(&f.path("switchyard.toml"), None));
        assert!(!err.contains(secret), "{secret} echoed:\n{err}");
        let line = err.lines().find(|l| l.contains(key)).unwrap_or_else(|| panic!("{key}: {err}"));
        assert!(
            line.contains("invalid type: integer (value not shown), expected a string"),
            "{line}"
        );
    }
}

#[test]
fn a_reload_refused_for_a_mistyped_secret_does_not_echo_it() {
    let sy =
        crate::common::Switchyard::start("[lifecycle]\nshutdown_delay_seconds = 0\n", &[], &[]);
    let (config, secret, key) = MISTYPED_SECRETS[0];
    sy.write_config(config);
    let r = crate::common::request(sy.admin, "POST", "/admin/reload", &[], "");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains(key), "{}", r.body);
    assert!(!r.body.contains(secret), "{secret} in the answer: {}", r.body);
    // The refusal is logged too.
    sy.log.wait_for(key, std::time::Duration::from_secs(10));
    let log = sy.log.all();
    assert!(!log.contains(secret), "{secret} in the log:\n{log}");
}
