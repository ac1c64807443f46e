//! `switchyard snmp ...` against a real snmpd: output lines as net-snmp prints them, v3, and
//! the exit status of failures.

use std::process::{Command, Output};

use switchyard_testkit::snmpd::{Snmpd, SnmpdConfig, SnmpdUser};

fn switchyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("snmp")
        .args(args)
        .output()
        .expect("run switchyard")
}

fn agent() -> Snmpd {
    let users =
        vec![SnmpdUser::auth_priv("cli", "SHA-256", "cli-auth-pass", "AES", "cli-priv-pass")];
    Snmpd::start(&SnmpdConfig { users, ..Default::default() })
        .expect("start snmpd (Debian package snmpd)")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn get_prints_net_snmp_lines() {
    let a = agent();
    let addr = a.addr().to_string();
    let out = stdout(&switchyard(&[
        "get",
        "-v",
        "2c",
        "-c",
        "public",
        &addr,
        "1.3.6.1.2.1.1.1.0",
        "1.3.6.1.2.1.1.99.0",
    ]));
    assert_eq!(
        out,
        ".1.3.6.1.2.1.1.1.0 = STRING: \"switchyard test agent\"\n.1.3.6.1.2.1.1.99.0 = No Such Object available on this agent at this OID\n"
    );
}

#[test]
fn walk_matches_snmpwalk_and_v3_bulkwalk_works() {
    let a = agent();
    let addr = a.addr().to_string();
    let ours = stdout(&switchyard(&["walk", "-v", "2c", "-c", "public", &addr, "1.3.6.1.2.1.1.9"]));
    let theirs = Command::new("snmpwalk")
        .env("MIBS", "")
        .args(["-On", "-v2c", "-c", "public", &addr, "1.3.6.1.2.1.1.9"])
        .output()
        .expect("snmpwalk (Debian package snmp)");
    assert_eq!(ours, String::from_utf8(theirs.stdout).unwrap());
    let v3 = stdout(&switchyard(&[
        "bulkwalk",
        "-v",
        "3",
        "-u",
        "cli",
        "-l",
        "authPriv",
        "-a",
        "SHA-256",
        "-A",
        "cli-auth-pass",
        "-x",
        "AES",
        "-X",
        "cli-priv-pass",
        &addr,
        "1.3.6.1.2.1.1.9",
    ]));
    assert_eq!(v3, ours);
}

#[test]
fn failures_exit_nonzero_with_a_message() {
    let a = agent();
    let addr = a.addr().to_string();
    let o = switchyard(&[
        "get",
        "-v",
        "2c",
        "-c",
        "wrong",
        "-t",
        "0.2",
        "-r",
        "1",
        &addr,
        "1.3.6.1.2.1.1.1.0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Timeout"));
    let o = switchyard(&[
        "get",
        "-v",
        "3",
        "-u",
        "cli",
        "-l",
        "authPriv",
        "-a",
        "SHA-256",
        "-A",
        "not-the-pass",
        "-x",
        "AES",
        "-X",
        "cli-priv-pass",
        &addr,
        "1.3.6.1.2.1.1.1.0",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Authentication failure"), "{err}");
    assert!(!err.contains("not-the-pass"), "no secret in errors");
}
