//! The operator commands through the real binary: `import traffic-router` (configuration on
//! stdout, what it left out on stderr, and `check-config` accepting the result),
//! `completions` for each shell, and `route` asking a running instance for a decision.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{BIN, Switchyard};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traffic-router").join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("SWITCHYARD_ADMIN_TOKEN").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn import_traffic_router_writes_a_configuration_that_check_config_accepts() {
    let crconfig = fixture("crconfig.json");
    let czf = fixture("czf.json");
    let out = Command::new(BIN)
        .args(["import", "traffic-router"])
        .arg(&crconfig)
        .arg("--czf")
        .arg(&czf)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "stderr: {stderr}");

    // The configuration: zones from edgeLocations, EDGE caches as nodes, delivery services.
    for want in [
        "[[inventory.zones]]\nname = \"us-central\"",
        "id = \"edge-sjc-01\"",
        "weight = 2.0",
        "name = \"video\"",
        "hostnames = [\"cdn.video.mycdn.example.net\", \"video.customer.example\"]",
        "default_zone = \"us-central\"",
        "coverage_zones_file = ",
    ] {
        assert!(stdout.contains(want), "{want:?} not in the configuration:\n{stdout}");
    }
    // Nothing that is not mapped goes to stdout, and every such line goes to stderr.
    assert!(!stdout.contains("not mapped"), "{stdout}");
    assert!(!stdout.contains("mid-east-01"), "a MID cache became a node:\n{stdout}");
    for want in [
        "not mapped: contentServers.mid-east-01: type MID is not mapped",
        "not mapped: deliveryServices.live.regionalGeoBlocking",
        "not mapped: config.federationmapping.polling.url",
        "thing(s) not mapped; see the lines above",
    ] {
        assert!(stderr.contains(want), "{want:?} not on stderr:\n{stderr}");
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, &stdout).unwrap();
    let check = run(&["check-config", file.to_str().unwrap()]);
    assert!(check.status.success(), "check-config refused it:\n{}", text(&check.stderr));
    assert!(text(&check.stdout).ends_with(": ok\n"), "{}", text(&check.stdout));
}

#[test]
fn import_of_a_file_that_is_no_crconfig_fails_and_prints_no_configuration() {
    let out = run(&["import", "traffic-router", fixture("czf.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("not a Traffic Ops CRConfig"), "{}", text(&out.stderr));
}

#[test]
fn completions_name_the_subcommands_in_every_documented_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for sub in ["serve", "check-config", "import", "route", "completions"] {
            assert!(script.contains(sub), "{shell} script does not name {sub}:\n{script}");
        }
    }
}

const ONE_SERVICE: &str = r#"
[[inventory.zones]]
name = "ams"

[[inventory.nodes]]
id = "ams-1"
zone = "ams"
ipv4 = "192.0.2.10"

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
default_zone = "ams"
"#;

#[test]
fn route_prints_the_decision_of_a_running_instance() {
    let sy = Switchyard::start(ONE_SERVICE, &[], &[]);
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let server = sy.admin.to_string();

    let out = run(&["route", "--server", &server, "video.example", "--ip", "10.0.0.1"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    assert!(stdout.contains("service     video"), "{stdout}");
    assert!(stdout.contains("chosen      ams-1 in zone ams  192.0.2.10:80"), "{stdout}");
    assert!(stdout.contains("zone        ams (default"), "{stdout}");

    // An unknown host: the instance's error, exit 1.
    let out = run(&["route", "--server", &server, "nothing.example", "--ip", "10.0.0.1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("unknown_host"), "{}", text(&out.stderr));
}
