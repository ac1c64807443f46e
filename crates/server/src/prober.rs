//! Wiring of the probe engine into the server: the task that turns every published health
//! snapshot into the routing table's `HealthView`, and the engine's readiness and liveness
//! checks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchyard_probe::{EngineHandle, HealthSnapshot, WarmCheck, WarmConfig};
use switchyard_route::{HealthView, NodeHealth};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::routing::Routing;

/// Maps the prober's snapshot to the router's health view.
pub fn health_view(snapshot: &HealthSnapshot) -> HealthView {
    let mut view = HealthView::new(snapshot.version);
    view.nodes.reserve(snapshot.nodes.len());
    for (id, st) in &snapshot.nodes {
        view.nodes.insert(
            id.to_string(),
            NodeHealth {
                state: st.state,
                utilization: st.utilization.map(|u| u as f32),
                latency_ewma_ms: st.latency_ewma_ms.map(|l| l as f32),
                agent_weight_percent: (st.weight_percent != 100).then_some(st.weight_percent),
            },
        );
    }
    view
}

/// Applies every published snapshot to the routing table until `stop`.
pub async fn follow_health(
    mut rx: watch::Receiver<Arc<HealthSnapshot>>,
    routing: Arc<Routing>,
    stop: CancellationToken,
) {
    loop {
        let snapshot = rx.borrow_and_update().clone();
        routing.apply_health(Arc::new(health_view(&snapshot)));
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

/// `probes-warm` readiness: enough nodes probed once, or the warm-up deadline passed.
pub fn warm_check(engine: EngineHandle, config: WarmConfig) -> switchyard_health::Check {
    let warm = WarmCheck::new(engine, config);
    switchyard_health::Check::immediate("probes-warm", move || {
        let status = warm.status();
        if status.is_ready() {
            Ok(())
        } else {
            Err(switchyard_health::CheckError::new(format!("{status:?}")))
        }
    })
}

/// Liveness: the scheduler loop keeps turning while it has nodes to probe.
pub fn scheduler_check(engine: EngineHandle, stall: Duration) -> switchyard_health::Check {
    let last_turns = AtomicU64::new(u64::MAX);
    let since = std::sync::Mutex::new(Instant::now());
    switchyard_health::Check::immediate("probe-scheduler", move || {
        let stats = engine.stats();
        let turns = stats.heartbeat;
        let mut changed_at = since.lock().unwrap_or_else(|e| e.into_inner());
        if last_turns.swap(turns, Ordering::Relaxed) != turns || stats.nodes == 0 {
            *changed_at = Instant::now();
            return Ok(());
        }
        let idle = changed_at.elapsed();
        if idle > stall {
            Err(switchyard_health::CheckError::new(format!(
                "probe scheduler has not turned for {idle:?} (limit {stall:?})"
            )))
        } else {
            Ok(())
        }
    })
}
