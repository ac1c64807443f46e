//! Adding and removing 1,000 nodes while they are probed (a third of them hanging) returns the
//! task count and the open descriptor count to their baseline. The count is of the whole
//! process, which nextest gives each test to itself, so no other test's sockets disturb it.

use std::sync::Arc;
use std::time::Duration;

use switchyard_probe::spec::{Check, HttpCheck, ProbeSpec};
use switchyard_probe::{EngineConfig, NodeId, ProbeEngine, Target};
use switchyard_testkit::fleet::{Behavior, FleetPlan, Protocol, SimFleet};
use tokio_util::sync::CancellationToken;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("procfs").count()
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current().metrics().num_alive_tasks()
}

async fn settle(what: &str, f: impl Fn() -> bool) {
    let r = tokio::time::timeout(Duration::from_secs(30), async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "{what} did not return to baseline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_thousand_nodes_leaks_nothing() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 100)).await.unwrap();
    for i in (0..100).step_by(3) {
        fleet.node(i).set_behavior(Behavior::Hang);
    }
    let mut s = ProbeSpec::new(Check::Http(HttpCheck::default()));
    s.interval_ms = 100;
    s.timeout_ms = 80;
    s.connect_timeout_ms = 40;
    s.jitter_percent = 50;
    let spec = Arc::new(s);
    let cancel = CancellationToken::new();
    let engine = ProbeEngine::start(EngineConfig::default(), Vec::new(), cancel.clone()).unwrap();
    engine.sync().await.unwrap();
    let base_tasks = alive_tasks();
    let base_fds = open_fds();

    let addrs = fleet.addrs();
    let ids: Vec<NodeId> = (0..1000).map(|i| NodeId::from(format!("node-{i}"))).collect();
    for round in 0..4 {
        for (i, id) in ids.iter().enumerate() {
            engine
                .upsert(Target::new(id.clone(), addrs[i % addrs.len()], spec.clone()))
                .await
                .unwrap();
        }
        // Let probes start and connections pool.
        let started = engine.stats().probes_started;
        settle("probing", || engine.stats().probes_started > started + 500).await;
        let keep = if round % 2 == 0 { 0 } else { 500 };
        for id in &ids[keep..] {
            engine.remove(id).await.unwrap();
        }
        for id in &ids[..keep] {
            engine.remove(id).await.unwrap();
        }
    }
    engine.sync().await.unwrap();
    assert_eq!(engine.stats().nodes, 0);
    settle("in-flight probes", || engine.stats().in_flight == 0).await;
    settle("task count", || alive_tasks() <= base_tasks).await;
    settle("open descriptors", || open_fds() <= base_fds).await;
    engine.shutdown().await;
}
