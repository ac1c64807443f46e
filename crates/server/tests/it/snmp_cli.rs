//! `switchyard snmp ...` against net-snmp's own tools: the same agent (a real snmpd, the
//! Python simulator serving recordings of real devices, or the testkit's simulated agent
//! made to misbehave) is asked by both, and stdout, stderr and the exit status must agree.

use std::process::{Command, Output};
use std::time::Duration;

use switchyard_snmp::codec::{ErrorStatus, Oid};
use switchyard_testkit::snmp_agent::{AgentSpec, Faults, InterfaceSpec, Misbehavior, SimAgent};
use switchyard_testkit::snmpd::{Snmpd, SnmpdConfig, SnmpdUser};
use switchyard_testkit::snmpsim::{self, Snmpsim};

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

/// What a command printed and how it exited.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code(),
        }
    }
}

/// `switchyard snmp <op> ARGS` and the net-snmp tool for the same operation with `-On`.
fn both(op: &str, args: &[&str]) -> (Run, Run) {
    let tool = match op {
        "get" => "snmpget",
        "walk" => "snmpwalk",
        "bulkwalk" => "snmpbulkwalk",
        other => panic!("no net-snmp tool for {other}"),
    };
    let theirs = Command::new(tool)
        .env("MIBS", "")
        .arg("-On")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package snmp) must be installed: {e}"));
    let ours = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("snmp")
        .arg(op)
        .args(args)
        .output()
        .expect("run switchyard");
    let mut theirs = Run::from(theirs);
    // net-snmp announces the first creation of its persistent directory (a fresh machine);
    // that line is about the tool's set-up, not about the agent's answer.
    while theirs.stderr.starts_with("Created directory: ") {
        let rest = theirs.stderr.split_once('\n').map_or("", |(_, rest)| rest);
        theirs.stderr = rest.to_owned();
    }
    (ours.into(), theirs)
}

/// Asserts that both tools printed the same and exited alike.
fn same(op: &str, args: &[&str]) -> Run {
    let (ours, theirs) = both(op, args);
    assert_eq!(ours, theirs, "switchyard snmp {op} {args:?}");
    ours
}

/// The same from a test running a simulated agent on its runtime.
async fn same_async(op: &'static str, args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        same(op, &args)
    })
    .await
    .unwrap()
}

async fn both_async(op: &'static str, args: Vec<String>) -> (Run, Run) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        both(op, &args)
    })
    .await
    .unwrap()
}

fn v2c(agent: &str, community: &str, oids: &[&str]) -> Vec<String> {
    let mut a: Vec<String> =
        ["-v", "2c", "-c", community, "-t", "1", "-r", "2", agent].map(String::from).to_vec();
    a.extend(oids.iter().map(|o| o.to_string()));
    a
}

fn refs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// Recordings of a Linux host (Opaque floats in laTable, the end of the MIB view) and of a
/// Cisco Catalyst 3560 switch (interfaces, Hex-STRINGs, 64-bit counters), served by snmpsim:
/// `walk` and `bulkwalk` print what `snmpwalk -On` and `snmpbulkwalk -On` print, line for
/// line, over v2c and over v3 with a context name and engine IDs.
#[test]
fn walks_match_net_snmp_on_real_device_recordings() {
    let linux = "os/linux/slackware";
    let switch = "network/switch/cisco-c3560";
    let sim = Snmpsim::start(&[linux, switch])
        .expect("snmpsim and snmpsim-data must be installed (scripts/setup.sh)");
    let addr = sim.addr().to_string();

    let whole = same("bulkwalk", &refs(&v2c(&addr, linux, &[".1"])));
    assert_eq!(whole.code, Some(0));
    assert!(whole.stdout.lines().count() > 3800, "the whole recording");
    assert!(whole.stdout.contains(" = Opaque: Float: 0.460000\n"), "laLoadFloat");
    assert!(whole.stdout.ends_with(
        "= No more variables left in this MIB View (It is past the end of the MIB tree)\n"
    ));
    let end = same("walk", &refs(&v2c(&addr, linux, &["1.3.6.1.6.3.16"])));
    assert!(end.stdout.ends_with("(It is past the end of the MIB tree)\n"), "{end:?}");
    same("walk", &refs(&v2c(&addr, linux, &["1.3.6.1.4.1.2021.10"])));
    let ifs = same("bulkwalk", &refs(&v2c(&addr, switch, &["1.3.6.1.2.1.2.2"])));
    assert!(ifs.stdout.contains("Hex-STRING: "), "MAC addresses");
    let hc = same("bulkwalk", &refs(&v2c(&addr, switch, &["1.3.6.1.2.1.31.1.1.1.6"])));
    assert!(hc.stdout.contains("Counter64: "));
    same("walk", &refs(&v2c(&addr, switch, &["1.3.6.1.2.1.2.2.1.2"])));

    // v3: the context name selects the recording; a known engine ID skips discovery.
    let engine: String = sim.engine_id().iter().map(|b| format!("{b:02x}")).collect();
    let v3 = |context: &str, extra: &[&str], op: &str, root: &str| {
        let mut a = vec!["-v", "3", "-l", "authNoPriv", "-u", snmpsim::V3_USER];
        a.extend(["-a", "SHA", "-A", snmpsim::V3_AUTH_KEY, "-n", context, "-t", "1", "-r", "1"]);
        a.extend(extra);
        a.extend([addr.as_str(), root]);
        same(op, &a)
    };
    let sys = v3(switch, &[], "walk", "1.3.6.1.2.1.1");
    assert!(sys.stdout.contains("Cisco"), "{sys:?}");
    let e = format!("0x{engine}");
    assert_eq!(v3(switch, &["-e", &engine], "walk", "1.3.6.1.2.1.1"), sys);
    assert_eq!(v3(switch, &["-e", &e, "-E", &engine], "walk", "1.3.6.1.2.1.1"), sys);
    v3(linux, &["-E", &e], "bulkwalk", "1.3.6.1.4.1.2021.10");
    // The simulator does not answer a context it does not have.
    let mut a = vec!["-v", "3", "-l", "authNoPriv", "-u", snmpsim::V3_USER, "-a", "SHA"];
    a.extend(["-A", snmpsim::V3_AUTH_KEY, "-n", "no/such/device", "-t", "0.3", "-r", "0"]);
    a.extend([addr.as_str(), "1.3.6.1.2.1.1"]);
    let silent = same("walk", &a);
    assert_eq!(
        (silent.code, silent.stderr),
        (Some(1), format!("Timeout: No Response from {addr}\n"))
    );
}

/// Engine IDs are checked as net-snmp checks them, with its messages.
#[test]
fn bad_engine_ids_are_refused_like_net_snmp() {
    for (flag, id, msg) in [
        ("-e", "80004fb8057", "Bad engine ID value after -3e flag."),
        ("-E", "0x8000", "Invalid engine ID value after -E flag."),
    ] {
        let o: Run = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args([
                "snmp",
                "get",
                "-v",
                "3",
                "-u",
                "u",
                flag,
                id,
                "127.0.0.1:9",
                "1.3.6.1.2.1.1.1.0",
            ])
            .output()
            .unwrap()
            .into();
        assert_eq!((o.code, o.stderr.lines().next()), (Some(1), Some(msg)), "{o:?}");
    }
}

/// A simulated agent whose counters stand still, so two tools asking one after the other
/// see the same values.
async fn still_agent(misbehavior: Option<Misbehavior>) -> SimAgent {
    let spec = AgentSpec {
        interfaces: vec![InterfaceSpec::new("eth0", 1000, 0, 0)],
        ..AgentSpec::default()
    };
    let agent = SimAgent::start(spec).await.unwrap();
    agent.set_faults(Faults { misbehavior, ..Faults::default() });
    agent
}

async fn misbehaving(m: Misbehavior) -> SimAgent {
    still_agent(Some(m)).await
}

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

/// Rows received before an error are printed, then the error in net-snmp's words, with its
/// exit status; none of these waits for a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_after_rows_print_as_net_snmp_prints_them() {
    let started = std::time::Instant::now();
    // An error-status in the middle of a walk: exit 2, the failed object, an empty line.
    let failing = misbehaving(Misbehavior::ErrorFrom(
        oid("1.3.6.1.2.1.2.2.1.2"),
        ErrorStatus::ResourceUnavailable,
    ))
    .await;
    let a = failing.addr().to_string();
    for op in ["walk", "bulkwalk"] {
        let r = same_async(op, v2c(&a, "public", &["1.3.6.1.2.1.2"])).await;
        assert_eq!(r.code, Some(2), "{r:?}");
        assert!(r.stdout.starts_with(".1.3.6.1.2.1.2.1.0 = INTEGER: 1\n"), "{r:?}");
        assert!(r.stderr.starts_with("Error in packet.\nReason: resourceUnavailable"), "{r:?}");
    }

    // A walk that does not advance: the offending row, then "OID not increasing", exit 1.
    let repeating = misbehaving(Misbehavior::RepeatFrom(oid("1.3.6.1.2.1.2.2.1.2.1"))).await;
    let a = repeating.addr().to_string();
    let r = same_async("walk", v2c(&a, "public", &["1.3.6.1.2.1.2.2.1"])).await;
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        "Error: OID not increasing: .1.3.6.1.2.1.2.2.1.2.1\n >= .1.3.6.1.2.1.2.2.1.2.1\n\n"
    );
    assert_eq!(r.stdout.lines().count(), 3, "ifIndex.1, ifDescr.1 and ifDescr.1 again: {r:?}");

    // An error-index past the bindings: an empty "Failed object". net-snmp 5.9 spells
    // genError's text "occured"; this tool writes today's "occurred".
    let past = misbehaving(Misbehavior::ErrorIndexOutOfRange).await;
    let (ours, theirs) =
        both_async("get", v2c(&past.addr().to_string(), "public", &["1.3.6.1.2.1.1.5.0"])).await;
    let theirs = Run { stderr: theirs.stderr.replace("occured", "occurred"), ..theirs };
    assert_eq!(ours, theirs);
    assert_eq!(
        ours.stderr,
        "Error in packet\nReason: (genError) A general failure occurred\nFailed object: \n"
    );

    // A GET answered with other OIDs: snmpget prints them as they came and exits 0; this
    // tool prints the same rows, then says the reply does not answer the request (exit 1).
    let renaming = misbehaving(Misbehavior::RenameOids).await;
    let (ours, theirs) =
        both_async("get", v2c(&renaming.addr().to_string(), "public", &["1.3.6.1.2.1.1.5.0"]))
            .await;
    assert_eq!(ours.stdout, theirs.stdout);
    assert_eq!((theirs.code, ours.code), (Some(0), Some(1)));
    assert_eq!(
        ours.stderr,
        "Error: reply names .1.3.6.1.2.1.1.6.0 where .1.3.6.1.2.1.1.5.0 was requested\n"
    );

    // The end of the agent's MIB view is printed as a row, as snmpwalk prints it.
    let healthy = still_agent(None).await;
    let r =
        same_async("walk", v2c(&healthy.addr().to_string(), "public", &["1.3.6.1.4.1.2021.10"]))
            .await;
    assert!(r.stdout.ends_with("(It is past the end of the MIB tree)\n"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "no timeouts: {:?}", started.elapsed());
}

/// SNMPv1's end of the MIB is a noSuchName error: "End of MIB" on stdout, exit 0.
#[test]
fn v1_end_of_mib_matches_snmpwalk() {
    let a = agent();
    let addr = a.addr().to_string();
    let r = same("walk", &["-v", "1", "-c", "public", &addr, "1.3.6.1.99"]);
    assert_eq!((r.stdout.as_str(), r.code), ("End of MIB\n", Some(0)));
}
