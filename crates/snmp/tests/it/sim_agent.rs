//! The client against the testkit's simulated agents: values, v3, faults, and many agents
//! through one socket.

use std::time::Duration;

use switchyard_snmp::client::{Client, ClientConfig, Error, RequestOptions, Security, WalkEnd};
use switchyard_snmp::codec::{ErrorStatus, Oid, Value};
use switchyard_snmp::ifmib::{
    CounterWidth, InterfacePoller, InterfaceSelector, RateCalculator, RateError, RateObservation,
    load_average,
};
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};
use switchyard_testkit::snmp_agent::{
    AgentFarm, AgentSpec, Faults, InterfaceSpec, Misbehavior, SimAgent,
};

fn oid(s: &str) -> Oid {
    s.parse().unwrap()
}

fn quick() -> RequestOptions {
    RequestOptions {
        timeout: Duration::from_millis(200),
        retries: 5,
        backoff: 1.0,
        ..Default::default()
    }
}

fn v3_user() -> UsmUser {
    UsmUser::no_auth("sim")
        .unwrap()
        .with_auth(AuthProtocol::Sha1, b"sim-auth-pass")
        .unwrap()
        .with_privacy(PrivProtocol::Aes128, b"sim-priv-pass")
        .unwrap()
}

#[tokio::test]
async fn v2c_walks_the_simulated_mib() {
    let spec = AgentSpec {
        interfaces: vec![
            InterfaceSpec::new("eth0", 1000, 8_000_000, 0),
            InterfaceSpec::new("eth1", 10_000, 0, 0),
        ],
        ..Default::default()
    };
    let agent = SimAgent::start(spec).await.unwrap();
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v2c("public"), quick());
    let got = t
        .get(&[oid("1.3.6.1.2.1.1.1.0"), oid("1.3.6.1.2.1.1.1.1"), oid("1.3.6.1.2.1.99.0")])
        .await
        .unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"switchyard simulated agent".to_vec()));
    assert_eq!(got[1].value, Value::NoSuchInstance);
    assert_eq!(got[2].value, Value::NoSuchObject);
    let walk = t.walk(&oid("1.3.6.1.2.1")).await.unwrap();
    let bulk = t.bulk_walk(&oid("1.3.6.1.2.1")).await.unwrap();
    assert_eq!(walk.len(), bulk.len());
    assert_eq!(walk.len(), 6 + 1 + 2 * (9 + 5));
    for (a, b) in walk.iter().zip(&bulk) {
        assert_eq!(a.oid, b.oid);
    }
    let names = t.walk(&oid("1.3.6.1.2.1.31.1.1.1.1")).await.unwrap();
    assert_eq!(names[1].value, Value::OctetString(b"eth1".to_vec()));
    let end = t.get_next(&[oid("1.3.6.1.4.1.2021.10.1.5.3")]).await.unwrap();
    assert_eq!(end[0].value, Value::EndOfMibView);
}

#[tokio::test]
async fn interface_rates_and_reboot_detection() {
    let spec = AgentSpec {
        interfaces: vec![InterfaceSpec::new("eth0", 1000, 80_000_000, 8_000_000)],
        ..Default::default()
    };
    let agent = SimAgent::start(spec).await.unwrap();
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v2c("public"), quick());
    let mut p = InterfacePoller::new(t.clone(), InterfaceSelector::Name("eth0".into()));
    let mut calc = RateCalculator::default();
    let a = p.poll().await.unwrap();
    assert_eq!((a.width, a.speed_bps), (CounterWidth::Bits64, Some(1_000_000_000)));
    calc.observe(a.clone());
    let mut b = p.poll().await.unwrap();
    while b.sys_uptime < a.sys_uptime + 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        b = p.poll().await.unwrap();
    }
    let RateObservation::Rates(r) = calc.observe(b) else { panic!("rates expected") };
    // sysUpTime has 10 ms resolution, so the rate is close to, not exactly, the programmed one.
    assert!((r.in_bps / 80_000_000.0 - 1.0).abs() < 0.2, "{r:?}");
    assert!((r.out_bps / 8_000_000.0 - 1.0).abs() < 0.2, "{r:?}");
    agent.reboot();
    let c = p.poll().await.unwrap();
    assert_eq!(calc.observe(c), RateObservation::Reset(RateError::Restarted));
    let load = load_average(&t).await.unwrap().unwrap();
    assert_eq!((load.one, load.five, load.fifteen), (0.25, 0.5, 0.75));
}

#[tokio::test]
async fn v3_auth_priv_and_reboot_resync() {
    let agent =
        SimAgent::start(AgentSpec { users: vec![v3_user()], ..Default::default() }).await.unwrap();
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v3(v3_user()), quick());
    let got = t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"sim".to_vec()));
    let boots = t.engine_info().unwrap().1;
    agent.reboot();
    t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
    assert_eq!(t.engine_info().unwrap().1, boots + 1);
    let walk = t.bulk_walk(&oid("1.3.6.1.2.1.2.2")).await.unwrap();
    assert_eq!(walk.len(), 9);
}

#[tokio::test]
async fn retries_survive_drops_corruption_and_duplicates() {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    agent.set_faults(Faults {
        drop_per_mille: 300,
        corrupt_per_mille: 300,
        duplicate: true,
        ..Default::default()
    });
    let client = Client::new().unwrap();
    let opts = RequestOptions {
        timeout: Duration::from_millis(100),
        retries: 40,
        backoff: 1.0,
        ..Default::default()
    };
    let t = client.target_with(agent.addr(), Security::v2c("public"), opts);
    for _ in 0..50 {
        let got = t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].oid, oid("1.3.6.1.2.1.1.5.0"));
    }
    assert!(agent.requests() > 50, "drops forced retransmissions");
}

#[tokio::test]
async fn delay_beyond_deadline_is_a_timeout_and_late_replies_are_accepted() {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    agent.set_faults(Faults { delay: Duration::from_millis(300), ..Default::default() });
    let client = Client::new().unwrap();
    let short =
        RequestOptions { timeout: Duration::from_millis(50), retries: 1, ..Default::default() };
    let t = client.target_with(agent.addr(), Security::v2c("public"), short);
    assert!(matches!(t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await, Err(Error::Timeout)));
    // Attempts of 200 ms each: the reply to the first attempt arrives during the second.
    let patient = RequestOptions {
        timeout: Duration::from_millis(200),
        retries: 10,
        backoff: 1.0,
        ..Default::default()
    };
    let t = client.target_with(agent.addr(), Security::v2c("public"), patient);
    t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
}

#[tokio::test]
async fn bulk_walk_shrinks_on_too_big() {
    let spec = AgentSpec {
        interfaces: (0..40).map(|i| InterfaceSpec::new(&format!("eth{i}"), 1000, 0, 0)).collect(),
        ..Default::default()
    };
    let agent = SimAgent::start(spec).await.unwrap();
    agent.set_faults(Faults { too_big_above: Some(5), ..Default::default() });
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v2c("public"), quick());
    let walk = t.bulk_walk(&oid("1.3.6.1.2.1.2.2.1.2")).await.unwrap();
    assert_eq!(walk.len(), 40);
    agent.set_faults(Faults { too_big_above: Some(0), ..Default::default() });
    let err = t.bulk_walk(&oid("1.3.6.1.2.1.2.2.1.2")).await.unwrap_err();
    assert!(matches!(err, Error::Agent { .. }), "{err:?}");
}

/// Bounded so the test fits a default 1024 open-files limit; benches/loopback.rs runs 10,000.
const AGENTS: usize = 300;

#[tokio::test]
async fn hundreds_of_agents_through_one_socket() {
    let farm = AgentFarm::start(AGENTS, |i| AgentSpec {
        sys_name: format!("agent-{i}"),
        ..Default::default()
    })
    .await
    .unwrap();
    let client =
        Client::with_config(ClientConfig { max_in_flight: 512, sockets: 2, ..Default::default() })
            .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for (i, addr) in farm.addrs().into_iter().enumerate() {
        let t = client.target_with(
            addr,
            Security::v2c("public"),
            RequestOptions { timeout: Duration::from_secs(2), ..Default::default() },
        );
        set.spawn(async move {
            let got = t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
            assert_eq!(got[0].value, Value::OctetString(format!("agent-{i}").into_bytes()));
        });
    }
    let mut n = 0;
    while let Some(r) = set.join_next().await {
        r.unwrap();
        n += 1;
    }
    assert_eq!(n, AGENTS);
}

/// Equal-sized requests to one agent leave together (one segmented send) and the replies are
/// read in paced batches; every request must get its own answer.
async fn many_concurrent_requests(agent: &SimAgent) {
    let client = Client::new().unwrap();
    let opts = RequestOptions { max_in_flight: 64, ..quick() };
    let t = client.target_with(agent.addr(), Security::v2c("public"), opts);
    let mut set = tokio::task::JoinSet::new();
    for k in 0..64 {
        let t = t.clone();
        set.spawn(async move {
            for _ in 0..50 {
                let col = if k % 2 == 0 { "1.3.6.1.2.1.1.5.0" } else { "1.3.6.1.2.1.2.2.1.2.1" };
                let got = t.get(&[oid(col)]).await.unwrap();
                let want: &[u8] = if k % 2 == 0 { b"sim" } else { b"eth0" };
                assert_eq!(got[0].value, Value::OctetString(want.to_vec()));
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

#[tokio::test]
async fn many_concurrent_requests_to_one_agent() {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    many_concurrent_requests(&agent).await;
    assert!(agent.requests() >= 64 * 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_requests_on_a_multi_threaded_runtime() {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    many_concurrent_requests(&agent).await;
    assert!(agent.requests() >= 64 * 50);
}

#[tokio::test]
async fn simulated_agent_over_ipv6() {
    let agent = SimAgent::start_on("[::1]:0".parse().unwrap(), AgentSpec::default()).await.unwrap();
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v2c("public"), quick());
    let got = t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
    assert_eq!(got[0].value, Value::OctetString(b"sim".to_vec()));
}

/// A reply that fails authentication while the request is outstanding is dropped and
/// counted; the genuine reply that follows it is the answer (net-snmp's behaviour with
/// authPriv). Before, the forged copy ended the request with AuthFailure.
#[tokio::test]
async fn forged_v3_replies_are_dropped_and_counted_until_the_genuine_one() {
    let auth_only = UsmUser::no_auth("signer")
        .unwrap()
        .with_auth(AuthProtocol::Sha256, b"signer-auth-pass")
        .unwrap();
    let spec = AgentSpec { users: vec![v3_user(), auth_only.clone()], ..Default::default() };
    let agent = SimAgent::start(spec).await.unwrap();
    agent.set_faults(Faults { damaged_copy_first: true, ..Default::default() });
    let client = Client::new().unwrap();
    // One attempt of 2 s: only the genuine reply can end the request in time.
    let once = RequestOptions { timeout: Duration::from_secs(2), retries: 0, ..quick() };
    for user in [v3_user(), auth_only] {
        let t = client.target_with(agent.addr(), Security::v3(user), once.clone());
        let started = std::time::Instant::now();
        let got = t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
        assert_eq!(got[0].value, Value::OctetString(b"sim".to_vec()));
        assert!(started.elapsed() < Duration::from_secs(1), "answered by the genuine reply");
    }
    let stats = client.stats();
    // Discovery reports are not authenticated, so only the responses' copies count.
    assert!(stats.wrong_digests >= 2, "{stats:?}");
    assert_eq!(stats.decryption_errors, 0, "{stats:?}");
}

/// Quick enough that waiting for the deadline (4 attempts of 1 s) would show.
fn patient() -> RequestOptions {
    RequestOptions {
        timeout: Duration::from_secs(1),
        retries: 3,
        backoff: 1.0,
        ..Default::default()
    }
}

async fn broken_agent(m: Misbehavior) -> (SimAgent, switchyard_snmp::Target) {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    agent.set_faults(Faults { misbehavior: Some(m), ..Default::default() });
    let t = Client::new().unwrap().target_with(agent.addr(), Security::v2c("public"), patient());
    (agent, t)
}

/// Agent errors are reported from the first answer, not retried until Timeout.
#[tokio::test]
async fn wrong_answers_are_errors_at_once() {
    let started = std::time::Instant::now();
    let sys_name = oid("1.3.6.1.2.1.1.5.0");

    let (_a, t) = broken_agent(Misbehavior::RenameOids).await;
    let Err(Error::Mismatch(m)) = t.get(std::slice::from_ref(&sys_name)).await else {
        panic!("a GET answered with another OID is a mismatch")
    };
    assert_eq!(m.requested, std::slice::from_ref(&sys_name));
    assert_eq!(m.received[0].oid, oid("1.3.6.1.2.1.1.6.0"));
    assert_eq!(
        Error::Mismatch(m).to_string(),
        "reply names .1.3.6.1.2.1.1.6.0 where .1.3.6.1.2.1.1.5.0 was requested"
    );

    let (_a, t) = broken_agent(Misbehavior::ErrorIndexOutOfRange).await;
    let err = t.get(std::slice::from_ref(&sys_name)).await.unwrap_err();
    assert!(
        matches!(err, Error::Agent { status: ErrorStatus::GenErr, index: 6, oid: None }),
        "{err:?}"
    );
    assert!(err.is_protocol());

    let if_descr = oid("1.3.6.1.2.1.2.2.1.2");
    let (_a, t) = broken_agent(Misbehavior::RepeatFrom(oid("1.3.6.1.2.1.1.3.0"))).await;
    let mut rows = Vec::new();
    let err = t.walk_with(&oid("1.3.6.1.2.1.1"), |vb| rows.push(vb.oid)).await.unwrap_err();
    let uptime = oid("1.3.6.1.2.1.1.3.0");
    assert!(
        matches!(&err, Error::NonIncreasing(n) if n.previous == uptime && n.returned == uptime),
        "{err:?}"
    );
    // Rows before the error are handed over, the offending one included (snmpwalk prints it).
    assert_eq!(
        rows,
        [oid("1.3.6.1.2.1.1.1.0"), oid("1.3.6.1.2.1.1.2.0"), uptime.clone(), uptime.clone()]
    );
    assert!(matches!(
        t.get_next(std::slice::from_ref(&uptime)).await,
        Err(Error::NonIncreasing(_))
    ));
    assert!(matches!(t.bulk_walk(&uptime).await, Err(Error::NonIncreasing(_))));

    let (_a, t) =
        broken_agent(Misbehavior::ErrorFrom(if_descr.clone(), ErrorStatus::ResourceUnavailable))
            .await;
    let mut n = 0;
    let err = t.walk_with(&oid("1.3.6.1.2.1.2"), |_| n += 1).await.unwrap_err();
    assert!(matches!(err, Error::Agent { status: ErrorStatus::ResourceUnavailable, index: 1, .. }));
    assert_eq!(n, 3, "ifNumber, ifIndex.1 and ifDescr.1 came before the error");

    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn walks_report_how_they_ended() {
    let agent = SimAgent::start(AgentSpec::default()).await.unwrap();
    let client = Client::new().unwrap();
    let t = client.target_with(agent.addr(), Security::v2c("public"), quick());
    // The last subtree of the MIB ends with endOfMibView, handed over as a row.
    let la = oid("1.3.6.1.4.1.2021.10");
    let mut rows = Vec::new();
    assert_eq!(t.walk_with(&la, |vb| rows.push(vb)).await.unwrap(), WalkEnd::Exception);
    assert_eq!(rows.len(), 13);
    assert_eq!(rows[12].value, Value::EndOfMibView);
    assert_eq!(rows[12].oid, rows[11].oid, "endOfMibView names the requested OID");
    let mut bulk = Vec::new();
    assert_eq!(t.bulk_walk_with(&la, |vb| bulk.push(vb)).await.unwrap(), WalkEnd::Exception);
    assert_eq!(bulk, rows);
    let mut sys = 0;
    let end = t.walk_with(&oid("1.3.6.1.2.1.1"), |_| sys += 1).await.unwrap();
    assert_eq!((end, sys), (WalkEnd::LeftSubtree, 6));
}

/// A known engine ID skips discovery (net-snmp's -e): a noAuthNoPriv GET is one request.
/// contextEngineID and contextName go out as set.
#[tokio::test]
async fn known_engine_id_skips_discovery() {
    let user = UsmUser::no_auth("plain").unwrap();
    let spec = AgentSpec {
        users: vec![user.clone()],
        context_names: vec!["vrf-blue".into()],
        ..Default::default()
    };
    let agent = SimAgent::start(spec).await.unwrap();
    let engine_id = agent.engine_id().unwrap();
    let client = Client::new().unwrap();
    let known = Security::V3 {
        user: user.clone(),
        context_name: b"vrf-blue".to_vec(),
        context_engine_id: Some(b"\x80\x00\x00\x00\x01other".to_vec()),
        engine_id: Some(engine_id.clone()),
    };
    let t = client.target_with(agent.addr(), known, quick());
    t.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
    assert_eq!(agent.requests(), 1, "no discovery round trip");
    let discovering = client.target_with(
        agent.addr(),
        Security::v3_in_context(user.clone(), "vrf-blue"),
        quick(),
    );
    discovering.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap();
    assert_eq!(agent.requests(), 3, "discovery, then the request");
    let default_context = client.target_with(agent.addr(), Security::v3(user), quick());
    let err = default_context.get(&[oid("1.3.6.1.2.1.1.5.0")]).await.unwrap_err();
    assert!(matches!(err, Error::UnknownContext), "{err:?}");
}
