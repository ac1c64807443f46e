//! In-flight limits against the loopback simulator: a per-target limit caps the probes that
//! many nodes sharing one address run at once, skips (and counts) the rest, and leaves other
//! addresses alone.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use switchyard_probe::metrics::ProbeMetrics;
use switchyard_probe::spec::{Check, HttpCheck, ProbeSpec};
use switchyard_probe::{EngineConfig, EngineHandle, ProbeEngine, Target};
use switchyard_testkit::fleet::{Behavior, FleetPlan, Protocol, SimFleet};
use tokio_util::sync::CancellationToken;

const GUARD: Duration = Duration::from_secs(20);

/// A probe that outlives the test: hung targets keep their probes in flight throughout.
fn slow_spec() -> Arc<ProbeSpec> {
    let mut s = ProbeSpec::new(Check::Http(HttpCheck::default()));
    s.interval_ms = 60_000;
    s.timeout_ms = 30_000;
    s.connect_timeout_ms = 1_000;
    Arc::new(s)
}

fn sharing(
    addr: std::net::SocketAddr,
    prefix: &str,
    n: usize,
    spec: &Arc<ProbeSpec>,
) -> Vec<Target> {
    (0..n).map(|i| Target::new(format!("{prefix}{i}"), addr, spec.clone())).collect()
}

/// Polls the engine's counters until `f` holds; the counters have no change notification.
async fn until(
    engine: &EngineHandle,
    what: &str,
    f: impl Fn(&switchyard_probe::engine::EngineStats) -> bool,
) {
    let r = tokio::time::timeout(GUARD, async {
        while !f(&engine.stats()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for: {what}; stats {:?}", engine.stats());
}

async fn start(limit: Option<usize>, targets: Vec<Target>) -> EngineHandle {
    start_with(limit, targets, ProbeMetrics::default())
}

fn start_with(limit: Option<usize>, targets: Vec<Target>, metrics: ProbeMetrics) -> EngineHandle {
    let config = EngineConfig {
        per_target_max_in_flight: limit,
        first_probe_spread_ms: Some(0),
        metrics,
        ..EngineConfig::default()
    };
    ProbeEngine::start(config, targets, CancellationToken::new()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_target_limit_caps_probes_to_one_address_and_counts_the_skipped() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 2)).await.unwrap();
    fleet.node(0).set_behavior(Behavior::Hang);
    let spec = slow_spec();
    let mut targets = sharing(fleet.node(0).addr(), "hung", 10, &spec);
    targets.extend(sharing(fleet.node(1).addr(), "ok", 3, &spec));
    let mut registry = Registry::default();
    let engine =
        start_with(Some(3), targets, switchyard_probe::metrics::register_metrics(&mut registry));

    // All thirteen are due at once: three probes reach the hung address, seven are skipped,
    // and the three nodes of the healthy address are not held back by the hung one.
    until(&engine, "first round decided", |s| s.target_limited >= 7 && s.probes_finished >= 3)
        .await;
    let mut health = engine.subscribe();
    let ok = tokio::time::timeout(
        GUARD,
        health.wait_for(|s| {
            (0..3).all(|i| {
                s.nodes
                    .get(format!("ok{i}").as_str())
                    .is_some_and(|n| n.probed && n.last_cause.is_none())
            })
        }),
    )
    .await;
    assert!(ok.is_ok(), "healthy address starved: {:?}", engine.snapshot());
    let stats = engine.stats();
    assert_eq!(stats.in_flight, 3, "{stats:?}");
    assert_eq!(stats.target_limited, 7, "{stats:?}");
    assert_eq!(stats.probes_started, 3 + 3, "{stats:?}");
    assert_eq!(stats.overruns, 0, "{stats:?}");
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("switchyard_probe_target_limited_total 7"), "{text}");
    assert!(text.contains("switchyard_probes_in_flight 3"), "{text}");
    until(&engine, "hung connections accepted", |_| fleet.node(0).connections() == 3).await;
    assert_eq!(fleet.node(0).connections(), 3);
    engine.shutdown().await;
    assert_eq!(engine.stats().in_flight, 0, "aborted probes release their places");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_per_target_limit_every_node_of_an_address_probes_at_once() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    fleet.node(0).set_behavior(Behavior::Hang);
    let engine = start(None, sharing(fleet.node(0).addr(), "hung", 10, &slow_spec())).await;
    until(&engine, "all ten in flight", |s| s.in_flight == 10).await;
    assert_eq!(engine.stats().target_limited, 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_nodes_releases_their_places_at_the_target() {
    let fleet = SimFleet::start(FleetPlan::new(Protocol::Http, 1)).await.unwrap();
    fleet.node(0).set_behavior(Behavior::Hang);
    let spec = slow_spec();
    let engine = start(Some(2), sharing(fleet.node(0).addr(), "a", 2, &spec)).await;
    until(&engine, "two in flight", |s| s.in_flight == 2).await;
    // Removing the two running nodes aborts their probes; new nodes on the same address then
    // get the places back instead of being skipped.
    for i in 0..2 {
        assert!(engine.remove(&format!("a{i}").into()).await.unwrap());
    }
    until(&engine, "aborted probes gone", |s| s.in_flight == 0).await;
    for t in sharing(fleet.node(0).addr(), "b", 2, &spec) {
        engine.upsert(t).await.unwrap();
    }
    until(&engine, "new nodes in flight", |s| s.in_flight == 2 && s.probes_started == 4).await;
    assert_eq!(engine.stats().target_limited, 0);
    engine.shutdown().await;
}

#[test]
fn per_target_limit_is_validated_and_read_from_config() {
    let c: EngineConfig = toml::from_str("per_target_max_in_flight = 0").unwrap();
    assert_eq!(c.problems("probe")[0].path, "probe.per_target_max_in_flight");
    let c: EngineConfig = toml::from_str("per_target_max_in_flight = 4").unwrap();
    assert_eq!(c.per_target_max_in_flight, Some(4));
    assert!(c.problems("probe").is_empty());
    assert_eq!(EngineConfig::default().per_target_max_in_flight, None);
}
