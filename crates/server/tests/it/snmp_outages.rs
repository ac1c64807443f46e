//! SNMP agents failing the ways devices do, under the real binary: one stops answering for a
//! while, one (SNMPv3) reboots again and again (counters and sysUpTime from zero,
//! snmpEngineBoots up), one is replaced by an agent with other credentials and back, and a
//! real net-snmp agent restarts (a new engine boot and time for SNMPv3). The fleet listing is
//! read every 100 ms throughout: every utilization shown stays within 0..1 and near the
//! agents' true load, no node is ever degraded or downed for a utilization or load it does
//! not have, and the node whose agent is left alone never leaves `up`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::Switchyard;
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use switchyard_testkit::snmp_agent::{AgentSpec, Faults, InterfaceSpec, SimAgent};
use switchyard_testkit::snmpd::{Snmpd, SnmpdConfig, SnmpdUser};

/// The simulated agents' interface: 300 Mbit/s in, 100 out, on a 1 Gbit/s link.
const TRUE_UTILIZATION: f64 = 0.3;
/// How far a reading may stray from it: sysUpTime counts centiseconds, probes run every
/// 500 ms, and a loaded machine answers late.
const TOLERANCE: f64 = 0.1;
const LOAD: f64 = 0.5;

fn spec(community: &str, users: Vec<UsmUser>) -> AgentSpec {
    AgentSpec {
        community: (!community.is_empty()).then(|| community.to_owned()),
        users,
        interfaces: vec![InterfaceSpec::new("eth0", 1000, 300_000_000, 100_000_000)],
        load: Some([LOAD, LOAD, LOAD]),
        ..AgentSpec::default()
    }
}

fn v3_user() -> UsmUser {
    UsmUser::no_auth("mon")
        .unwrap()
        .with_auth(AuthProtocol::Sha256, b"outage-auth-pass")
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, b"outage-priv-pass")
        .unwrap()
}

const V3: &str = "version = \"3\", user = \"mon\", auth_protocol = \"SHA-256\", \
                  auth_password = \"outage-auth-pass\", priv_protocol = \"AES\", \
                  priv_password = \"outage-priv-pass\"";

fn config(nodes: &[(&str, SocketAddr, &str)]) -> String {
    // Utilization degraded at 0.85 and down at 0.98 (the defaults); load at 4 and 8, far
    // above what the simulated agents report, so any of those verdicts would be a false one.
    // The real agent reports the machine's own load, so its thresholds are out of reach; the
    // steady node needs three failures in a row to go down, so that one answer late on a
    // loaded machine does not count as an outage.
    let snmp = |id: &str, port: u16, security: &str| {
        let (interface, load) = match id {
            "real" => ("", "load_degraded = 999.0, load_down = 1000.0"),
            _ => (", interface = \"eth0\"", "load_degraded = 4.0, load_down = 8.0"),
        };
        let fall = if id == "steady" { 3 } else { 1 };
        format!(
            "check = {{ kind = \"snmp\", port = {port}, {security}{interface}, {load}, \
             retries = 1 }}\ninterval_ms = 500\ntimeout_ms = 400\nconnect_timeout_ms = 300\n\
             rise = 1\nfall = {fall}\n"
        )
    };
    let mut c = String::from(
        r#"[lifecycle]
shutdown_delay_seconds = 0
drain_timeout_seconds = 5

[probe.default]
check = { kind = "tcp" }

[[inventory.zones]]
name = "ams"

[[inventory.services]]
name = "video"
hostnames = ["video.example"]
default_zone = "ams"
"#,
    );
    for (i, (id, addr, security)) in nodes.iter().enumerate() {
        // The real agent is read for its load only: its `lo` carries whatever the machine
        // sends over loopback, so its utilization is nobody's to predict.
        c.push_str(&format!("\n[probe.by_tag.{id}]\n{}", snmp(id, addr.port(), security)));
        c.push_str(&format!(
            "\n[[inventory.nodes]]\nid = \"{id}\"\nzone = \"ams\"\nipv4 = \"{}\"\nport = {}\n\
             tags = [\"{id}\"]\n",
            addr.ip(),
            8000 + i
        ));
    }
    c
}

/// One node as the fleet listing shows it.
#[derive(Debug, Clone, Default)]
struct Seen {
    health: String,
    last_cause: Option<String>,
    degraded_by: Option<String>,
    utilization: Option<f64>,
    load: Option<f64>,
}

fn read(sy: &Switchyard, id: &str) -> Seen {
    let (status, v) = sy.json("/api/v1/fleet");
    assert_eq!(status, 200, "{v}");
    let nodes = v["nodes"].as_array().expect("nodes in the fleet view");
    let n = nodes.iter().find(|n| n["id"] == id).unwrap_or_else(|| panic!("{id} in {v}"));
    let s = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    Seen {
        health: s(&n["health"]).unwrap_or_default(),
        last_cause: s(&n["probe"]["last_cause"]),
        degraded_by: s(&n["probe"]["degraded_by"]),
        utilization: n["probe"]["utilization"].as_f64(),
        load: n["probe"]["load_average"].as_f64(),
    }
}

/// Every reading taken, checked as it comes.
struct Watch<'a> {
    sy: &'a Switchyard,
    ids: Vec<&'static str>,
    samples: usize,
    steady_left_up: Vec<String>,
}

impl Watch<'_> {
    /// Reads every node once and checks what no outage may cause.
    fn sample(&mut self) -> Vec<Seen> {
        let seen: Vec<Seen> = self.ids.iter().map(|id| read(self.sy, id)).collect();
        for (id, s) in self.ids.iter().zip(&seen) {
            if let Some(u) = s.utilization {
                assert!(
                    (TRUE_UTILIZATION - TOLERANCE..=TRUE_UTILIZATION + TOLERANCE).contains(&u),
                    "{id}: utilization {u} shown, the agent's is {TRUE_UTILIZATION}: {s:?}"
                );
            }
            match s.load {
                Some(l) if *id == "real" => assert!(l >= 0.0 && l.is_finite(), "{id}: {s:?}"),
                Some(l) => assert!((l - LOAD).abs() < 0.01, "{id}: load average {l}: {s:?}"),
                None => {}
            }
            assert_eq!(s.degraded_by, None, "{id}: degraded for load it does not have: {s:?}");
            assert_ne!(s.last_cause.as_deref(), Some("threshold"), "{id}: downed on a threshold");
            assert_ne!(s.health, "degraded", "{id}: {s:?}");
            if *id == "steady" && self.samples > 0 && s.health != "up" {
                self.steady_left_up.push(format!("{s:?}"));
            }
        }
        self.samples += 1;
        seen
    }

    /// Samples until `f` holds for node `id`, failing after `timeout`.
    fn until(&mut self, what: &str, id: &str, timeout: Duration, f: impl Fn(&Seen) -> bool) {
        let at = self.ids.iter().position(|i| *i == id).expect("a watched node");
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.sample();
            if f(&seen[at]) {
                return;
            }
            assert!(Instant::now() < deadline, "never happened: {what}; last {:?}", seen[at]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Samples for `d` whatever happens.
    fn for_(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.sample();
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn up_with_readings(s: &Seen) -> bool {
    s.health == "up" && s.utilization.is_some() && s.load.is_some()
}

#[test]
fn snmp_agents_that_go_silent_reboot_or_change_credentials_never_fake_an_overload() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let on = |ip: &str| -> SocketAddr { format!("{ip}:0").parse().unwrap() };
    let steady = rt.block_on(SimAgent::start_on(on("127.0.94.1"), spec("public", vec![])));
    let silent = rt.block_on(SimAgent::start_on(on("127.0.94.2"), spec("public", vec![])));
    let reboots = rt.block_on(SimAgent::start_on(on("127.0.94.3"), spec("", vec![v3_user()])));
    let recred = rt.block_on(SimAgent::start_on(on("127.0.94.4"), spec("public", vec![])));
    let (steady, silent, reboots, recred) =
        (steady.unwrap(), silent.unwrap(), reboots.unwrap(), recred.unwrap());
    let recred_addr = recred.addr();
    let mut snmpd = Snmpd::start(&SnmpdConfig {
        users: vec![SnmpdUser::auth_priv(
            "mon",
            "SHA-256",
            "outage-auth-pass",
            "AES",
            "outage-priv-pass",
        )],
        ..SnmpdConfig::default()
    })
    .expect("net-snmp snmpd must be installed (scripts/setup.sh)");
    let v2 = "version = \"2c\", community = \"public\"";
    let sy = Switchyard::start(
        &config(&[
            ("steady", steady.addr(), v2),
            ("silent", silent.addr(), v2),
            ("reboots", reboots.addr(), V3),
            ("recred", recred_addr, v2),
            ("real", snmpd.addr(), V3),
        ]),
        &[],
        &[],
    );
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let mut watch = Watch {
        sy: &sy,
        ids: vec!["steady", "silent", "reboots", "recred", "real"],
        samples: 0,
        steady_left_up: Vec::new(),
    };
    let long = Duration::from_secs(15);
    for id in ["steady", "silent", "reboots", "recred"] {
        watch.until(&format!("{id} up with a utilization"), id, long, up_with_readings);
    }
    watch.until("the real agent up with a load", "real", long, |s| {
        s.health == "up" && s.load.is_some()
    });

    // An agent that stops answering: the node is down for timeouts, not for load, and comes
    // back with a sane first rate over the whole silence.
    silent.set_faults(Faults { drop_per_mille: 1000, ..Faults::default() });
    watch.until("the silent agent's node down", "silent", long, |s| {
        s.health == "down" && s.last_cause.as_deref() == Some("timeout")
    });
    watch.for_(Duration::from_secs(2));
    silent.set_faults(Faults::default());
    watch.until("the silent agent's node back", "silent", long, up_with_readings);

    // Reboots: counters from zero, sysUpTime from zero, a new engine boot each time.
    for _ in 0..3 {
        reboots.reboot();
        watch.for_(Duration::from_millis(1500));
    }
    watch.until("the rebooted agent's node up with readings", "reboots", long, up_with_readings);

    // Other credentials (a device reconfigured, or replaced): every request goes unanswered;
    // then the right ones again, on a fresh agent (counters from zero).
    drop(recred);
    let rebind = |community: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match rt.block_on(SimAgent::start_on(recred_addr, spec(community, vec![]))) {
                Ok(agent) => return agent,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebinding {recred_addr}: {e}");
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("rebinding {recred_addr}: {e}"),
            }
        }
    };
    let wrong = rebind("not-public");
    watch.until("wrong credentials down the node", "recred", long, |s| {
        s.health == "down" && s.last_cause.as_deref() == Some("timeout")
    });
    drop(wrong);
    let _right = rebind("public");
    watch.until("right credentials bring it back", "recred", long, up_with_readings);

    // A real agent restarted: a new engine boot and time, which the SNMPv3 manager must
    // learn again.
    snmpd.restart().expect("snmpd restarts");
    watch.for_(Duration::from_secs(1));
    watch.until("the real agent's node up again", "real", long, |s| {
        s.health == "up" && s.load.is_some()
    });

    assert!(
        watch.steady_left_up.is_empty(),
        "the steady node left up while others failed: {:?}",
        watch.steady_left_up
    );
    assert!(watch.samples > 50, "too few readings: {}", watch.samples);
    assert!(steady.requests() > 20, "the steady agent was probed throughout");
    let (_, m) = sy.json("/api/v1/fleet");
    eprintln!("{} readings of 5 nodes; fleet at the end: {m}", watch.samples);
}
