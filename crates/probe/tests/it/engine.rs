//! The engine against the loopback fleet simulator: verdicts reach the snapshot, hung nodes do
//! not stall the rest, live changes keep untouched nodes' schedules and connections.

use std::sync::Arc;
use std::time::Duration;

use switchyard_probe::spec::{Check, HttpCheck, ProbeSpec};
use switchyard_probe::{
    AdminState, EngineConfig, EngineHandle, HealthSnapshot, HealthState, NodeId, ProbeEngine,
    Target, WarmCheck, WarmConfig,
};
use switchyard_testkit::fleet::{Behavior, FleetPlan, Protocol, SimFleet};
use tokio_util::sync::CancellationToken;

const GUARD: Duration = Duration::from_secs(20);

fn fast_spec() -> Arc<ProbeSpec> {
    let mut s = ProbeSpec::new(Check::Http(HttpCheck {
        immediate_down_status: vec![503],
        ..HttpCheck::default()
    }));
    s.interval_ms = 150;
    s.timeout_ms = 100;
    s.connect_timeout_ms = 50;
    s.fall = 2;
    s.rise = 2;
    Arc::new(s)
}

fn targets(fleet: &SimFleet, spec: &Arc<ProbeSpec>, prefix: &str) -> Vec<Target> {
    fleet
        .addrs()
        .into_iter()
        .enumerate()
        .map(|(i, a)| Target::new(format!("{prefix}{i}"), a, spec.clone()))
        .collect()
}

fn id(s: &str) -> NodeId {
    NodeId::from(s)
}

async fn wait_for(engine: &EngineHandle, what: &str, f: impl Fn(&HealthSnapshot) -> bool) {
    let mut rx = engine.subscribe();
    let r = tokio::time::timeout(GUARD, rx.wait_for(|s| f(s))).await;
    assert!(r.is_ok(), "timed out waiting for: {what}; last snapshot {:?}", engine.snapshot());
}

/// Waits until `n` probes have finished in all.
async fn wait_finished(engine: &EngineHandle, n: u64) {
    let r = tokio::time::timeout(GUARD, async {
        while engine.stats().probes_finished < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(r.await.is_ok(), "timed out waiting for {n} probes: {:?}", engine.stats());
}

fn state(s: &HealthSnapshot, node: &str) -> Option<HealthState> {
    s.nodes.get(node).map(|n| n.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_reach_the_snapshot_and_hung_nodes_do_not_stall_others() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 12)).await.unwrap();
    let spec = fast_spec();
    let cancel = CancellationToken::new();
    let engine =
        ProbeEngine::start(EngineConfig::default(), targets(&fleet, &spec, "n"), cancel.clone())
            .unwrap();
    let warm = WarmCheck::new(engine.clone(), WarmConfig::default());
    wait_for(&engine, "all up", |s| {
        s.nodes.len() == 12 && s.nodes.values().all(|n| n.state == HealthState::Up)
    })
    .await;
    assert!(warm.status().is_ready());
    assert_eq!(engine.warm_fraction(), 1.0);

    // Six nodes hang, one answers 503 (immediate down), one is degraded.
    for i in 0..6 {
        fleet.node(i).set_behavior(Behavior::Hang);
    }
    fleet.node(6).set_behavior(Behavior::Status(503));
    fleet.node(7).set_behavior(Behavior::Degraded);
    wait_for(&engine, "faults detected", |s| {
        (0..7).all(|i| state(s, &format!("n{i}")) == Some(HealthState::Down))
            && state(s, "n7") == Some(HealthState::Degraded)
    })
    .await;
    let d6 = engine.node_detail(&id("n6")).await.unwrap().unwrap();
    assert_eq!(d6.status.last_cause, Some(switchyard_probe::FailureCause::BadStatus));
    // Healthy nodes keep being probed while the hung ones time out.
    let before = engine.node_detail(&id("n11")).await.unwrap().unwrap().probes;
    let served = fleet.node(11).requests();
    tokio::time::timeout(GUARD, async {
        while fleet.node(11).requests() < served + 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("healthy node starved by hung ones");
    let after = engine.node_detail(&id("n11")).await.unwrap().unwrap();
    assert!(after.probes > before);
    assert_eq!(after.status.state, HealthState::Up);
    assert!(!after.history.is_empty());

    // Recovery needs `rise` successes.
    fleet.set_all(Behavior::Healthy);
    wait_for(&engine, "recovered", |s| s.nodes.values().all(|n| n.state == HealthState::Up)).await;

    // Operator state is kept apart from health.
    assert!(engine.set_operator_state(&id("n2"), AdminState::Drain).await.unwrap());
    wait_for(&engine, "operator drain", |s| {
        s.nodes["n2"].operator == AdminState::Drain && s.nodes["n2"].state == HealthState::Up
    })
    .await;
    assert!(!engine.set_operator_state(&id("nope"), AdminState::Drain).await.unwrap());
    let stats = engine.stats();
    assert!(stats.probes_finished > 0 && stats.heartbeat > 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_all_is_a_diff_that_keeps_untouched_nodes() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 6)).await.unwrap();
    let spec = fast_spec();
    let all = targets(&fleet, &spec, "n");
    let cancel = CancellationToken::new();
    let engine =
        ProbeEngine::start(EngineConfig::default(), all[..4].to_vec(), cancel.clone()).unwrap();
    wait_for(&engine, "4 up", |s| s.probed_nodes == 4).await;
    let kept_before = engine.node_detail(&id("n1")).await.unwrap().unwrap();
    // Operator states tell the kept nodes' statuses apart below.
    use AdminState::{Drain, Enabled, Maintenance};
    assert!(engine.set_operator_state(&id("n1"), Maintenance).await.unwrap());
    assert!(engine.set_operator_state(&id("n3"), Drain).await.unwrap());

    // Drop n0, keep n1..n3, add n4 and n5.
    engine.replace_all(all[1..].to_vec()).await.unwrap();
    engine.sync().await.unwrap();
    assert!(engine.node_detail(&id("n0")).await.unwrap().is_none());
    wait_for(&engine, "new nodes probed", |s| {
        s.nodes.len() == 5 && s.probed_nodes == 5 && !s.nodes.contains_key("n0")
    })
    .await;
    // The snapshot lists the nodes in id order, each with its own status.
    let snapshot = engine.snapshot();
    let listed: Vec<_> = snapshot.nodes.iter().map(|(id, st)| (&**id, st.operator)).collect();
    let expected = [("n1", Maintenance), ("n2", Enabled), ("n3", Drain), ("n4", Enabled)];
    assert_eq!(listed, [&expected[..], &[("n5", Enabled)]].concat());
    let kept_after = engine.node_detail(&id("n1")).await.unwrap().unwrap();
    assert!(kept_after.probes >= kept_before.probes, "history kept");
    assert_eq!(fleet.node(1).connections(), 1, "pooled connection kept across replace_all");

    // Changing one node's address starts that node over, and only that node.
    let moved = Target::new("n2", fleet.addrs()[0], spec.clone());
    engine.upsert(moved).await.unwrap();
    engine.sync().await.unwrap();
    let d = engine.node_detail(&id("n2")).await.unwrap().unwrap();
    assert_eq!(d.target.addr, fleet.addrs()[0]);
    assert!(d.probes <= 1);
    assert_eq!(fleet.node(3).connections(), 1);
    assert!(engine.remove(&id("n5")).await.unwrap());
    assert!(!engine.remove(&id("n5")).await.unwrap());
    wait_for(&engine, "n5 gone", |s| s.nodes.len() == 4).await;
    let snapshot = engine.snapshot();
    assert_eq!(snapshot.nodes.get("n5"), None);
    let listed: Vec<_> = snapshot.nodes.iter().map(|(id, st)| (&**id, st.operator)).collect();
    assert_eq!(listed, expected, "each node with its own status");
    engine.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn paused_clock_intervals_per_state() {
    // Nothing listens: every probe is refused at once, so the node is down after the first.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut s = ProbeSpec::new(Check::Tcp(Default::default()));
    s.interval_ms = 1_000;
    s.down_interval_ms = Some(5_000);
    s.transition_interval_ms = Some(300);
    s.timeout_ms = 200;
    s.connect_timeout_ms = 100;
    s.jitter_percent = 0;
    let spec = Arc::new(s);
    let engine = ProbeEngine::start(
        EngineConfig::default(),
        vec![Target::new("dead", dead, spec)],
        CancellationToken::new(),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_secs(31)).await;
    let d = engine.node_detail(&id("dead")).await.unwrap().unwrap();
    assert_eq!(d.status.state, HealthState::Down);
    let at: Vec<_> = d.history.iter().map(|r| r.at).collect();
    assert!(at.len() >= 5, "{} probes", at.len());
    for w in at.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(4_990) && gap <= Duration::from_millis(5_050),
            "down interval not applied: {gap:?}"
        );
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_have_bounded_labels_unless_per_node_is_asked_for() {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 3)).await.unwrap();
    fleet.node(2).set_behavior(Behavior::Status(500));
    let spec = fast_spec();
    for per_node in [false, true] {
        let mut registry = Registry::default();
        let metrics = switchyard_probe::metrics::ProbeMetrics::new(per_node);
        metrics.register(&mut registry);
        let config = EngineConfig { metrics, ..EngineConfig::default() };
        let engine =
            ProbeEngine::start(config, targets(&fleet, &spec, "m"), CancellationToken::new())
                .unwrap();
        wait_for(&engine, "probed", |s| {
            s.probed_nodes == 3 && state(s, "m2") == Some(HealthState::Down)
        })
        .await;
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(r#"switchyard_probes_total{kind="http",result="pass"}"#), "{text}");
        assert!(text.contains(r#"switchyard_probes_total{kind="http",result="bad_status"}"#));
        assert!(
            text.contains(
                r#"switchyard_probe_duration_seconds_bucket{le="0.001",kind="http",phase="total"}"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"switchyard_nodes{state="up"} 2"#), "{text}");
        assert!(text.contains(r#"switchyard_nodes{state="down"} 1"#));
        assert!(text.contains(r#"switchyard_node_transitions_total{from="unknown",to="down"} 1"#));
        assert!(text.contains("switchyard_probe_overruns_total 0"));
        assert!(text.contains("switchyard_probes_in_flight"));
        assert_eq!(text.contains(r#"switchyard_node_up{node="m0"} 1"#), per_node, "{text}");
        // Every node has its series from the start, not from its first transition.
        let fresh = engine.upsert(Target::new("fresh", fleet.addrs()[0], spec.clone()));
        fresh.await.unwrap();
        engine.sync().await.unwrap();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert_eq!(text.contains(r#"switchyard_node_up{node="fresh"} 0"#), per_node, "{text}");
        assert_eq!(text.contains("m1"), per_node);
        engine.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn first_probe_spread_bounds_the_warm_up_of_a_fresh_fleet() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut s = ProbeSpec::new(Check::Tcp(Default::default()));
    s.interval_ms = 60_000;
    s.timeout_ms = 200;
    s.connect_timeout_ms = 100;
    let spec = Arc::new(s);
    let targets: Vec<Target> =
        (0..50).map(|i| Target::new(format!("n{i}"), dead, spec.clone())).collect();
    let config = EngineConfig { first_probe_spread_ms: Some(500), ..EngineConfig::default() };
    let engine = ProbeEngine::start(config, targets, CancellationToken::new()).unwrap();
    engine.sync().await.unwrap();
    assert_eq!(engine.warm_fraction(), 0.0);
    // Without the spread setting the first round would take up to the 60 s interval.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(engine.warm_fraction(), 1.0, "every node probed within the 500 ms spread");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_spec_on_the_same_address_drops_pooled_connections() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    let spec = fast_spec();
    let engine = ProbeEngine::start(
        EngineConfig::default(),
        targets(&fleet, &spec, "n"),
        Default::default(),
    )
    .unwrap();
    wait_for(&engine, "up", |s| state(s, "n0") == Some(HealthState::Up)).await;
    wait_finished(&engine, 3).await;
    assert_eq!(fleet.node(0).connections(), 1, "one pooled connection");

    // Another path (and so another spec) at the same address: the old connection, made for
    // the old spec, must not carry the new one's probes.
    let mut other = (*spec).clone();
    let Check::Http(h) = &mut other.check else { unreachable!() };
    h.path = "/other".into();
    let finished = engine.stats().probes_finished;
    engine.upsert(Target::new("n0", fleet.addrs()[0], Arc::new(other))).await.unwrap();
    engine.sync().await.unwrap();
    wait_finished(&engine, finished + 2).await;
    assert_eq!(fleet.node(0).connections(), 2, "a new connection for the new spec");
    assert_eq!(state(&engine.snapshot(), "n0"), Some(HealthState::Up), "health carried over");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_changes_while_a_probe_runs_are_not_overruns() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    fleet.node(0).set_behavior(Behavior::Hang);
    let spec = fast_spec();
    let engine = ProbeEngine::start(
        EngineConfig::default(),
        targets(&fleet, &spec, "n"),
        Default::default(),
    )
    .unwrap();
    wait_for(&engine, "down", |s| state(s, "n0") == Some(HealthState::Down)).await;
    // Every change lands while a probe hangs on the node (timeout 100 ms of a 150 ms
    // interval): a timer armed then would find the probe still running.
    for i in 0..20u32 {
        let mut changed = (*spec).clone();
        changed.timeout_ms = 100 + u64::from(i % 2);
        engine.upsert(Target::new("n0", fleet.addrs()[0], Arc::new(changed))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    engine.sync().await.unwrap();
    assert_eq!(engine.stats().overruns, 0, "{:?}", engine.stats());
    engine.shutdown().await;
}
