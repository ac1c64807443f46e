use std::time::Duration;

use super::*;
use crate::{Endpoints, HealthRegistry};

fn config(max_lag_ms: u64) -> HeartbeatConfig {
    HeartbeatConfig {
        interval: Duration::from_millis(10),
        max_lag: Duration::from_millis(max_lag_ms),
        hold: Duration::from_secs(600),
    }
}

/// Blocks the runtime's only thread, as a blocking call inside an async task would.
fn stall_runtime(for_: Duration) {
    std::thread::sleep(for_);
}

#[tokio::test]
async fn ticks_and_passes_while_the_runtime_is_responsive() {
    let heartbeat = Heartbeat::spawn(config(5_000));
    heartbeat.tick().await;
    heartbeat.tick().await;
    assert!(heartbeat.ticks() >= 2);
    assert!(heartbeat.status().is_ok(), "{:?}", heartbeat.status());
}

#[tokio::test]
async fn a_blocked_runtime_fails_the_check_before_and_after_the_next_tick() {
    let health = HealthRegistry::builder().ping(false).build();
    // Thresholds far above scheduling noise on a loaded machine; the stall far above them.
    let heartbeat = Heartbeat::spawn(config(1_000));
    health.register(Endpoints::LIVEZ, heartbeat.check("event-loop")).unwrap();
    heartbeat.tick().await;
    assert_eq!(health.respond("/livez", None).await.status, 200);

    stall_runtime(Duration::from_millis(2_500));
    // Still stalled from the heartbeat's point of view: it has not run since.
    let overdue = heartbeat.status().unwrap_err().to_string();
    assert!(overdue.contains("no heartbeat for"), "{overdue}");

    heartbeat.tick().await;
    assert!(heartbeat.last_lag() >= Duration::from_millis(1_500), "{:?}", heartbeat.last_lag());
    let mut registry = Registry::default();
    heartbeat.register_metrics(&mut registry, Some("switchyard"));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("switchyard_runtime_heartbeat_late_ticks_total 1"), "{text}");
    let lag_line =
        text.lines().find(|l| l.starts_with("switchyard_runtime_heartbeat_lag_seconds ")).unwrap();
    let lag: f64 = lag_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(lag >= 1.5, "{text}");

    let late = heartbeat.status().unwrap_err().to_string();
    assert!(late.contains("late"), "{late}");
    let response = health.respond("/livez/event-loop", None).await;
    assert_eq!(response.status, 500);
    assert!(
        response.body.starts_with("internal server error: runtime stalled: heartbeat ran "),
        "{}",
        response.body
    );
}

#[tokio::test]
async fn a_late_tick_is_forgotten_after_hold() {
    let heartbeat = Heartbeat::spawn(HeartbeatConfig {
        interval: Duration::from_millis(10),
        max_lag: Duration::from_millis(100),
        hold: Duration::from_millis(200),
    });
    heartbeat.tick().await;
    stall_runtime(Duration::from_millis(250));
    heartbeat.tick().await;
    assert!(heartbeat.status().is_err());
    // Keep ticking until the late tick is older than `hold`; bounded by a generous guard.
    tokio::time::timeout(Duration::from_secs(30), async {
        while heartbeat.status().is_err() {
            heartbeat.tick().await;
        }
    })
    .await
    .expect("the check recovers once the stall is older than hold");
}
