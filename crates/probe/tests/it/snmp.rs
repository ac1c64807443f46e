//! The `snmp` kind against the simulated SNMP agent (programmable rates, load, faults) and
//! against a real net-snmp `snmpd`.

use std::sync::Arc;
use std::time::Duration;

use switchyard_probe::spec::{Check, ProbeSpec, SnmpCheck};
use switchyard_probe::{
    CompiledProbe, ConnState, DegradedCause, FailureCause, ProbeOutcome, Tier, Verdict,
};
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use switchyard_testkit::snmp_agent::{AgentSpec, Faults, SimAgent};
use switchyard_testkit::snmpd::{Snmpd, SnmpdConfig, SnmpdUser};

fn probe(check: SnmpCheck) -> CompiledProbe {
    let mut s = ProbeSpec::new(Check::Snmp(check));
    s.timeout_ms = 500;
    s.connect_timeout_ms = 500;
    CompiledProbe::new(Arc::new(s)).unwrap()
}

/// Counters need sysUpTime (centiseconds) to move between two samples; a second keeps the
/// rate error from tick rounding and scheduling noise around 1%.
async fn counters_advance() {
    tokio::time::sleep(Duration::from_millis(1000)).await;
}

async fn run(p: &CompiledProbe, addr: std::net::SocketAddr, c: &mut ConnState) -> ProbeOutcome {
    // The probe address carries the node's IP; the SNMP port comes from the check.
    p.run(addr, c).await
}

#[tokio::test]
async fn utilization_and_load_against_the_simulated_agent() {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    let addr = agent.addr();
    let p = probe(SnmpCheck {
        port: addr.port(),
        interface: Some("eth0".into()),
        load_degraded: Some(2.0),
        load_down: Some(8.0),
        ..SnmpCheck::default()
    });
    let mut conn = ConnState::default();
    let o = run(&p, addr, &mut conn).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_eq!(o.utilization, None, "first probe is the counter baseline");
    assert_eq!(o.load_average, Some(0.25));
    counters_advance().await;
    let o = run(&p, addr, &mut conn).await;
    let u = o.utilization.expect("rate after two samples");
    assert!((u - 0.1).abs() < 0.02, "100 Mbit/s on 1 Gbit/s: {u}");
    assert_eq!((o.verdict, o.tier), (Verdict::Pass, Tier::L3Service));

    agent.set_rates(0, 915_000_000, 10_000_000);
    counters_advance().await;
    let o = run(&p, addr, &mut conn).await;
    assert_eq!(o.verdict, Verdict::Degraded, "{o:?}");
    assert_eq!(o.degraded_by, Some(DegradedCause::Utilization));

    // Above line rate (a mis-set speed or a burst): clearly past the 0.98 down threshold.
    agent.set_rates(0, 1_200_000_000, 10_000_000);
    counters_advance().await;
    let o = run(&p, addr, &mut conn).await;
    assert_eq!(o.cause, Some(FailureCause::Threshold), "{o:?}");

    agent.set_rates(0, 1_000_000, 1_000_000);
    agent.set_load([3.0, 1.0, 1.0]);
    counters_advance().await;
    let o = run(&p, addr, &mut conn).await;
    assert_eq!((o.verdict, o.degraded_by), (Verdict::Degraded, Some(DegradedCause::Load)));
    agent.set_load([9.5, 1.0, 1.0]);
    let o = run(&p, addr, &mut conn).await;
    assert_eq!((o.cause, o.load_average), (Some(FailureCause::Threshold), Some(9.5)));

    agent.set_faults(Faults { drop_per_mille: 1000, ..Faults::default() });
    let t = std::time::Instant::now();
    let o = run(&p, addr, &mut conn).await;
    assert_eq!(o.cause, Some(FailureCause::Timeout), "{o:?}");
    assert!(t.elapsed() < Duration::from_millis(900), "probe outlived its timeout");
}

#[tokio::test]
async fn wrong_community_times_out_and_unknown_interface_is_a_protocol_failure() {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    let addr = agent.addr();
    let wrong = probe(SnmpCheck {
        port: addr.port(),
        community: "not-the-community".into(),
        interface: Some("eth0".into()),
        ..SnmpCheck::default()
    });
    // v2c agents drop requests with an unknown community silently (RFC 3584 section 5.2.1).
    assert_eq!(
        run(&wrong, addr, &mut ConnState::default()).await.cause,
        Some(FailureCause::Timeout)
    );
    let missing = probe(SnmpCheck {
        port: addr.port(),
        interface: Some("wlan9".into()),
        ..SnmpCheck::default()
    });
    assert_eq!(
        run(&missing, addr, &mut ConnState::default()).await.cause,
        Some(FailureCause::Protocol)
    );
}

#[tokio::test]
async fn real_snmpd_loopback_interface_and_load() {
    let snmpd = Snmpd::start(&SnmpdConfig::default()).expect("net-snmp snmpd must be installed");
    let addr = snmpd.addr();
    let p = probe(SnmpCheck {
        port: addr.port(),
        interface: Some("lo".into()),
        load_down: Some(1000.0),
        ..SnmpCheck::default()
    });
    let mut conn = ConnState::default();
    let o = run(&p, addr, &mut conn).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert!(o.load_average.is_some());
    counters_advance().await;
    let o = run(&p, addr, &mut conn).await;
    // Other traffic on lo decides the value; the verdict must agree with it.
    let u = o.utilization.expect("lo has a speed and counters");
    assert!(u >= 0.0);
    match o.verdict {
        Verdict::Fail => assert!(u >= 0.98 && o.cause == Some(FailureCause::Threshold), "{o:?}"),
        Verdict::Degraded => assert!((0.85..0.98).contains(&u)),
        Verdict::Pass => assert!(u < 0.85),
    }
}

fn v3_check(port: u16, user: &str, auth: &str, privacy: Option<&str>) -> SnmpCheck {
    SnmpCheck {
        port,
        version: "3".into(),
        community: String::new(),
        user: Some(user.into()),
        auth_protocol: "SHA-256".into(),
        auth_password: Some(auth.into()),
        priv_protocol: "AES".into(),
        priv_password: privacy.map(Into::into),
        ..SnmpCheck::default()
    }
}

#[tokio::test]
async fn v3_auth_priv_against_the_simulated_agent_and_wrong_keys_fail_as_auth() {
    let user = UsmUser::no_auth("monitor")
        .unwrap()
        .with_auth(AuthProtocol::Sha256, b"auth-pass-phrase")
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, b"priv-pass-phrase")
        .unwrap();
    // No community: the agent answers v3 only.
    let spec = AgentSpec { community: None, users: vec![user], ..AgentSpec::default() };
    let agent = SimAgent::start(spec).await.unwrap();
    let addr = agent.addr();
    let check = SnmpCheck {
        interface: Some("eth0".into()),
        load_degraded: Some(2.0),
        ..v3_check(addr.port(), "monitor", "auth-pass-phrase", Some("priv-pass-phrase"))
    };
    let p = probe(check.clone());
    let mut conn = ConnState::default();
    let o = run(&p, addr, &mut conn).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert_eq!(o.load_average, Some(0.25));
    counters_advance().await;
    let o = run(&p, addr, &mut conn).await;
    let u = o.utilization.expect("rate after two samples");
    assert!((u - 0.1).abs() < 0.02, "100 Mbit/s on 1 Gbit/s: {u}");
    agent.set_load([3.0, 1.0, 1.0]);
    assert_eq!(run(&p, addr, &mut conn).await.verdict, Verdict::Degraded);

    // A wrong authentication key is reported by the agent (usmStatsWrongDigests).
    let wrong_auth =
        probe(SnmpCheck { auth_password: Some("not-the-auth-phrase".into()), ..check.clone() });
    let o = run(&wrong_auth, addr, &mut ConnState::default()).await;
    assert_eq!(o.cause, Some(FailureCause::Auth), "{o:?}");
    let unknown = probe(SnmpCheck { user: Some("intruder".into()), ..check.clone() });
    let o = run(&unknown, addr, &mut ConnState::default()).await;
    assert_eq!(o.cause, Some(FailureCause::Auth), "{o:?}");
    // v2c towards a v3-only agent gets no answer.
    let v2c = probe(SnmpCheck {
        port: addr.port(),
        interface: Some("eth0".into()),
        ..SnmpCheck::default()
    });
    let o = run(&v2c, addr, &mut ConnState::default()).await;
    assert_eq!(o.cause, Some(FailureCause::Timeout), "{o:?}");
}

#[tokio::test]
async fn v3_auth_priv_against_real_snmpd() {
    let cfg = SnmpdConfig {
        users: vec![
            SnmpdUser::auth_priv("probe", "SHA-256", "auth-pass-phrase", "AES", "priv-pass-phrase"),
            SnmpdUser::auth("authonly", "SHA-256", "auth-pass-phrase"),
        ],
        ..SnmpdConfig::default()
    };
    let snmpd = Snmpd::start(&cfg).expect("net-snmp snmpd must be installed");
    let addr = snmpd.addr();
    let check = SnmpCheck {
        interface: Some("lo".into()),
        load_down: Some(1000.0),
        ..v3_check(addr.port(), "probe", "auth-pass-phrase", Some("priv-pass-phrase"))
    };
    let p = probe(check.clone());
    let mut conn = ConnState::default();
    let o = run(&p, addr, &mut conn).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert!(o.load_average.is_some(), "{o:?}");
    counters_advance().await;
    let o = run(&p, addr, &mut conn).await;
    assert!(o.utilization.is_some_and(|u| u >= 0.0), "{o:?}");

    let auth_only = SnmpCheck {
        load_down: Some(1000.0),
        ..v3_check(addr.port(), "authonly", "auth-pass-phrase", None)
    };
    let o = run(&probe(auth_only), addr, &mut ConnState::default()).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");

    let wrong = probe(SnmpCheck { auth_password: Some("wrong-pass-phrase".into()), ..check });
    let o = run(&wrong, addr, &mut ConnState::default()).await;
    assert_eq!(o.cause, Some(FailureCause::Auth), "{o:?}");
}

#[tokio::test]
async fn an_snmp_reading_beside_an_http_check_degrades_and_downs_on_load_only() {
    use switchyard_probe::spec::{Check, HttpCheck};
    use switchyard_testkit::fleet::{Addressing, Behavior, FleetPlan, Protocol, SimFleet};
    let ip = std::net::IpAddr::from([127, 0, 0, 1]);
    let web = SimFleet::start(
        FleetPlan::new(Protocol::Http, 1).with_addressing(Addressing::Ports { ip }),
    )
    .await
    .unwrap();
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    let addr = web.addrs()[0];
    let mut s = ProbeSpec::new(Check::Http(HttpCheck::default()));
    s.timeout_ms = 500;
    s.connect_timeout_ms = 500;
    s.snmp = Some(SnmpCheck {
        port: agent.addr().port(),
        interface: Some("eth0".into()),
        ..SnmpCheck::default()
    });
    let p = CompiledProbe::new(Arc::new(s)).unwrap();
    let mut conn = ConnState::default();
    let o = p.run(addr, &mut conn).await;
    assert_eq!((o.verdict, o.utilization), (Verdict::Pass, None), "baseline first: {o:?}");
    counters_advance().await;
    let o = p.run(addr, &mut conn).await;
    assert_eq!(o.verdict, Verdict::Pass, "{o:?}");
    assert!(o.utilization.is_some_and(|u| (u - 0.1).abs() < 0.02), "{o:?}");

    agent.set_rates(0, 915_000_000, 10_000_000);
    counters_advance().await;
    let o = p.run(addr, &mut conn).await;
    assert_eq!((o.verdict, o.degraded_by), (Verdict::Degraded, Some(DegradedCause::Utilization)));
    agent.set_rates(0, 1_200_000_000, 10_000_000);
    counters_advance().await;
    let o = p.run(addr, &mut conn).await;
    assert_eq!((o.verdict, o.cause), (Verdict::Fail, Some(FailureCause::Threshold)), "{o:?}");

    // The main check still decides reachability, and its failure keeps its own cause.
    web.node(0).set_behavior(Behavior::Status(503));
    counters_advance().await;
    let o = p.run(addr, &mut conn).await;
    assert_eq!(o.cause, Some(FailureCause::BadStatus), "{o:?}");
    assert!(o.utilization.is_some(), "the reading is kept: {o:?}");
    // An agent that stops answering takes nothing away from a healthy node.
    web.node(0).set_behavior(Behavior::Healthy);
    agent.set_faults(Faults { drop_per_mille: 1000, ..Faults::default() });
    let o = p.run(addr, &mut conn).await;
    assert_eq!((o.verdict, o.utilization), (Verdict::Pass, None), "{o:?}");
}
