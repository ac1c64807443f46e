//! Interop with a real net-snmp `snmpd` started on a loopback port: v1, v2c and v3 with every
//! auth x privacy combination Debian's net-snmp 5.9 supports, compared with `snmpwalk` and
//! `snmpbulkwalk` output of the same agent.

use std::process::Command;
use std::time::Duration;

use switchyard_snmp::client::{Client, Error, RequestOptions, Security, Target};
use switchyard_snmp::codec::{Oid, Value, VarBind};
use switchyard_snmp::display::format_varbind;
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use switchyard_testkit::snmpd::{Snmpd, SnmpdConfig, SnmpdUser};

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

const SYSTEM: &str = "1.3.6.1.2.1.1";
const IF_TABLE: &str = "1.3.6.1.2.1.2.2";
const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";

const AUTH: [&str; 6] = ["MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512"];
const PRIV: [&str; 6] = ["DES", "AES", "AES192", "AES192C", "AES256", "AES256C"];

fn user_name(a: &str, x: Option<&str>) -> String {
    format!("u{}{}", a.replace('-', ""), x.map(|x| format!("_{x}")).unwrap_or_default())
        .to_lowercase()
}

fn start(users: Vec<SnmpdUser>, ipv6: bool) -> Snmpd {
    Snmpd::start(&SnmpdConfig { users, ipv6, ..Default::default() })
        .expect("start snmpd (Debian package snmpd)")
}

fn opts() -> RequestOptions {
    RequestOptions { timeout: Duration::from_millis(500), retries: 4, ..Default::default() }
}

/// Runs a net-snmp tool with numeric output and returns its lines.
fn net_snmp(tool: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(tool)
        .env("MIBS", "")
        .args(["-On", "-t", "2", "-r", "3"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} missing (Debian package snmp): {e}"));
    assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    // Hex-STRING values continue on following lines; join them as net-snmp wraps them.
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<String> = Vec::new();
    for l in text.lines() {
        if l.starts_with('.') || lines.is_empty() {
            lines.push(l.to_string());
        } else if let Some(last) = lines.last_mut() {
            last.push('\n');
            last.push_str(l);
        }
    }
    lines
}

/// Values that change between two walks of a live agent.
fn volatile(line: &str) -> bool {
    line.contains("Timeticks:")
        || line.contains("Counter32:")
        || line.contains("Counter64:")
        || line.starts_with(".1.3.6.1.2.1.2.2.1.5.")
}

fn assert_same_walk(ours: &[VarBind], theirs: &[String]) {
    let ours: Vec<String> = ours.iter().map(format_varbind).collect();
    assert_eq!(ours.len(), theirs.len(), "ours: {ours:#?}\ntheirs: {theirs:#?}");
    for (a, b) in ours.iter().zip(theirs) {
        if volatile(a) {
            assert_eq!(a.split(" = ").next(), b.split(" = ").next());
            assert_eq!(a.split(':').next(), b.split(':').next(), "types differ: {a} vs {b}");
        } else {
            assert_eq!(a, b);
        }
    }
}

#[tokio::test]
async fn v2c_get_walk_bulkwalk_match_net_snmp() {
    let agent = start(vec![], false);
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v2c("public"), opts());
    let got = t.get(&[oid(SYS_DESCR), oid(SYS_UPTIME)]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"switchyard test agent".to_vec()));
    assert!(matches!(got[1].value, Value::TimeTicks(_)));
    let next = t.get_next(&[oid(SYS_DESCR)]).await.unwrap();
    assert_eq!(next[0].oid, oid("1.3.6.1.2.1.1.2.0"));
    let bulk = t.get_bulk(1, 3, &[oid(SYSTEM), oid("1.3.6.1.2.1.1.2")]).await.unwrap();
    assert_eq!(bulk.len(), 4);
    assert_eq!(bulk[0].oid, oid(SYS_DESCR));
    assert_eq!(bulk[1].oid, oid("1.3.6.1.2.1.1.2.0"));
    assert_eq!(bulk[2].oid, oid(SYS_UPTIME));

    let a = agent.addr().to_string();
    for root in [SYSTEM, IF_TABLE] {
        let walk = t.walk(&oid(root)).await.unwrap();
        assert_same_walk(&walk, &net_snmp("snmpwalk", &["-v2c", "-c", "public", &a, root]));
        let bulk = t.bulk_walk(&oid(root)).await.unwrap();
        assert_same_walk(&bulk, &net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", &a, root]));
    }
}

#[tokio::test]
async fn v1_get_getnext_walk_match_net_snmp() {
    let agent = start(vec![], false);
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v1("public"), opts());
    let got = t.get(&[oid(SYS_DESCR)]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"switchyard test agent".to_vec()));
    // v1 has no exception values: a missing instance is a noSuchName error-status.
    let missing = t.get(&[oid("1.3.6.1.2.1.1.1.7")]).await.unwrap_err();
    assert!(matches!(missing, Error::Agent { index: 1, .. }), "{missing:?}");
    let a = agent.addr().to_string();
    for root in [SYSTEM, IF_TABLE] {
        let walk = t.walk(&oid(root)).await.unwrap();
        assert_same_walk(&walk, &net_snmp("snmpwalk", &["-v1", "-c", "public", &a, root]));
    }
}

#[tokio::test]
async fn v2c_exceptions_are_values_and_wrong_community_times_out() {
    let agent = start(vec![], false);
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v2c("public"), opts());
    let got = t.get(&[oid("1.3.6.1.2.1.1.1.7"), oid("1.3.6.1.2.1.1.99.0")]).await.unwrap();
    assert_eq!(got[0].value, Value::NoSuchInstance);
    assert_eq!(got[1].value, Value::NoSuchObject);
    let quick =
        RequestOptions { timeout: Duration::from_millis(100), retries: 1, ..Default::default() };
    let bad = client.target_with(agent.addr(), Security::v2c("wrong"), quick);
    assert!(matches!(bad.get(&[oid(SYS_DESCR)]).await, Err(Error::Timeout)));
}

#[tokio::test]
async fn v2c_set_and_table_walk() {
    let agent = start(vec![], false);
    let client = Client::new().unwrap();
    let rw = client.target_with(agent.addr(), Security::v2c("private"), opts());
    let contact = oid("1.3.6.1.2.1.1.4.0");
    rw.set(&[VarBind::new(contact.clone(), Value::OctetString(b"noc@example.net".to_vec()))])
        .await
        .unwrap();
    let got = rw.get(std::slice::from_ref(&contact)).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"noc@example.net".to_vec()));
    let wrong_type = rw.set(&[VarBind::new(contact, Value::Integer(5))]).await.unwrap_err();
    assert!(matches!(wrong_type, Error::Agent { index: 1, .. }), "{wrong_type:?}");

    let t = client.target_with(agent.addr(), Security::v2c("public"), opts());
    let cols =
        [oid("1.3.6.1.2.1.2.2.1.1"), oid("1.3.6.1.2.1.2.2.1.2"), oid("1.3.6.1.2.1.2.2.1.10")];
    let table = t.walk_table(&cols).await.unwrap();
    let descr = t.walk(&cols[1]).await.unwrap();
    assert_eq!(table.rows.len(), descr.len());
    for vb in &descr {
        let idx = vb.oid.suffix_after(&cols[1]).unwrap();
        let row = &table.rows[idx];
        assert_eq!(row[1].as_ref(), Some(&vb.value));
        assert_eq!(row[0], Some(Value::Integer(idx[0] as i32)));
        assert!(matches!(row[2], Some(Value::Counter32(_))));
    }
}

#[tokio::test]
async fn v2c_over_ipv6() {
    let agent = start(vec![], true);
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr_v6().unwrap(), Security::v2c("public"), opts());
    let got = t.get(&[oid(SYS_DESCR)]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"switchyard test agent".to_vec()));
}

fn v3_users() -> Vec<SnmpdUser> {
    let mut users = vec![SnmpdUser::no_auth("noauth")];
    for a in AUTH {
        users.push(SnmpdUser::auth(&user_name(a, None), a, "authpass-secret"));
        for x in PRIV {
            users.push(SnmpdUser::auth_priv(
                &user_name(a, Some(x)),
                a,
                "authpass-secret",
                x,
                "privpass-secret",
            ));
        }
    }
    users
}

fn target(client: &Client, agent: &Snmpd, user: UsmUser) -> Target {
    client.target_with(agent.addr(), Security::v3(user), opts())
}

#[tokio::test]
async fn v3_every_auth_and_privacy_protocol() {
    let agent = start(v3_users(), false);
    let client = Client::new().unwrap();
    let a = agent.addr().to_string();
    let noauth = target(&client, &agent, UsmUser::no_auth("noauth").unwrap());
    let got = noauth.get(&[oid(SYS_DESCR)]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"switchyard test agent".to_vec()));
    let mut checked = 0;
    for an in AUTH {
        let ap = AuthProtocol::from_name(an).unwrap();
        let base = UsmUser::no_auth(user_name(an, None))
            .unwrap()
            .with_auth(ap, b"authpass-secret")
            .unwrap();
        let t = target(&client, &agent, base);
        let got = t.get(&[oid(SYS_DESCR)]).await.unwrap_or_else(|e| panic!("{an}: {e}"));
        assert_eq!(got[0].value, Value::OctetString(b"switchyard test agent".to_vec()));
        checked += 1;
        for xn in PRIV {
            let xp = PrivProtocol::from_name(xn).unwrap();
            let name = user_name(an, Some(xn));
            let u = UsmUser::no_auth(name.clone())
                .unwrap()
                .with_auth(ap, b"authpass-secret")
                .unwrap()
                .with_privacy(xp, b"privpass-secret")
                .unwrap();
            let t = target(&client, &agent, u);
            let walk = t.bulk_walk(&oid(SYSTEM)).await.unwrap_or_else(|e| panic!("{an}/{xn}: {e}"));
            if an == "SHA" {
                let theirs = net_snmp(
                    "snmpbulkwalk",
                    &[
                        "-v3",
                        "-l",
                        "authPriv",
                        "-u",
                        &name,
                        "-a",
                        an,
                        "-A",
                        "authpass-secret",
                        "-x",
                        xn,
                        "-X",
                        "privpass-secret",
                        &a,
                        SYSTEM,
                    ],
                );
                assert_same_walk(&walk, &theirs);
            } else {
                assert!(walk.len() > 10, "{an}/{xn}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, AUTH.len() * (1 + PRIV.len()));
}

#[tokio::test]
async fn v3_aes256_key_extension_variants_are_distinct() {
    // A Blumenthal-extended key never decrypts for a Reeder (Cisco) user: the variants are
    // distinct protocols that only share a name prefix.
    let agent = start(
        vec![SnmpdUser::auth_priv("c256", "SHA", "authpass-secret", "AES256C", "privpass-secret")],
        false,
    );
    let client = Client::new().unwrap();
    let ok = UsmUser::no_auth("c256")
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"authpass-secret")
        .unwrap()
        .with_privacy(PrivProtocol::Aes256Reeder, b"privpass-secret")
        .unwrap();
    target(&client, &agent, ok).get(&[oid(SYS_DESCR)]).await.unwrap();
    let wrong = UsmUser::no_auth("c256")
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"authpass-secret")
        .unwrap()
        .with_privacy(PrivProtocol::Aes256, b"privpass-secret")
        .unwrap();
    let quick =
        RequestOptions { timeout: Duration::from_millis(300), retries: 1, ..Default::default() };
    let err = client
        .target_with(agent.addr(), Security::v3(wrong), quick)
        .get(&[oid(SYS_DESCR)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DecryptFailure | Error::Timeout), "{err:?}");
}

#[tokio::test]
async fn v3_wrong_password_and_unknown_user() {
    let agent = start(v3_users(), false);
    let client = Client::new().unwrap();
    let wrong = UsmUser::no_auth(user_name("SHA", None))
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"not-the-password")
        .unwrap();
    assert!(matches!(
        target(&client, &agent, wrong).get(&[oid(SYS_DESCR)]).await,
        Err(Error::AuthFailure)
    ));
    let ghost = UsmUser::no_auth("ghost")
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"authpass-secret")
        .unwrap();
    assert!(matches!(
        target(&client, &agent, ghost).get(&[oid(SYS_DESCR)]).await,
        Err(Error::UnknownUser)
    ));
}

#[tokio::test]
async fn v3_recovers_after_agent_restart() {
    let mut agent = start(v3_users(), false);
    let client = Client::new().unwrap();
    let u = UsmUser::no_auth(user_name("SHA", Some("AES")))
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"authpass-secret")
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, b"privpass-secret")
        .unwrap();
    let t = target(&client, &agent, u);
    t.get(&[oid(SYS_UPTIME)]).await.unwrap();
    let engine_before = t.engine_info().unwrap();
    agent.restart().unwrap();
    let got = t.get(&[oid(SYS_UPTIME)]).await.unwrap();
    assert!(matches!(got[0].value, Value::TimeTicks(_)));
    let engine_after = t.engine_info().unwrap();
    assert_eq!(engine_before.0, engine_after.0, "engine ID is persistent");
    assert!(
        engine_after.1 > engine_before.1,
        "boots increased: {engine_before:?} -> {engine_after:?}"
    );
}

#[tokio::test]
async fn interface_counters_and_load_from_snmpd() {
    use switchyard_snmp::ifmib::{
        CounterWidth, InterfacePoller, InterfaceSelector, RateCalculator, RateObservation,
        load_average,
    };
    let agent = start(vec![], false);
    let client = Client::new().unwrap();
    for (sec, width) in [
        (Security::v2c("public"), CounterWidth::Bits64),
        (Security::v1("public"), CounterWidth::Bits32),
    ] {
        let t = client.target_with(agent.addr(), sec, opts());
        let mut poller = InterfacePoller::new(t.clone(), InterfaceSelector::Descr("lo".into()));
        let mut calc = RateCalculator::default();
        let a = poller.poll().await.unwrap();
        assert_eq!(a.width, width);
        assert_eq!(a.oper_status, Some(1));
        assert_eq!(calc.observe(a.clone()), RateObservation::Baseline);
        let mut b = poller.poll().await.unwrap();
        while b.sys_uptime == a.sys_uptime {
            b = poller.poll().await.unwrap();
        }
        assert_eq!(a.if_index, b.if_index);
        // snmpd caches interface statistics for a few seconds, so counters may not have moved.
        assert!(b.in_octets >= a.in_octets);
        let RateObservation::Rates(r) = calc.observe(b) else { panic!("rates expected") };
        assert!(r.in_bps >= 0.0 && r.in_bps.is_finite());
        let by_index = InterfacePoller::new(t.clone(), InterfaceSelector::Index(a.if_index))
            .poll()
            .await
            .unwrap();
        assert_eq!(by_index.if_index, a.if_index);
        let missing =
            InterfacePoller::new(t.clone(), InterfaceSelector::Descr("nope0".into())).poll().await;
        assert!(matches!(missing, Err(Error::NoSuchInterface)), "{missing:?}");
        let load = load_average(&t).await.unwrap().expect("net-snmp serves laLoad");
        assert!(load.one >= 0.0 && load.fifteen >= 0.0);
    }
}
