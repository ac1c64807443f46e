//! Serves the health endpoints alone on a loopback port, for `curl` and load tests:
//! `cargo run --release -p switchyard-health --example serve -- 127.0.0.1:9091`.
//! `/baseline` answers a static `ok` with no checks, to measure the endpoints against.

use std::time::Duration;

use switchyard_health::{Check, Endpoints, HealthRegistry, Heartbeat, HeartbeatConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9091".to_owned());
    let health = HealthRegistry::builder().build();
    let heartbeat = Heartbeat::spawn(HeartbeatConfig::default());
    health.register(Endpoints::LIVEZ, heartbeat.check("event-loop"))?;
    health.register(Endpoints::READYZ, Check::new("config", || async { Ok(()) }))?;
    health.register(
        Endpoints::READYZ,
        Check::new("etcd", || async { Ok(()) }).cached(Duration::from_secs(5)),
    )?;
    health.readiness_gate("started")?.open();
    let shutdown = health.shutdown_check()?;

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving /livez /readyz /healthz on http://{}", listener.local_addr()?);
    let app = switchyard_health::axum::router(health)
        .route("/baseline", axum::routing::get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.begin();
        })
        .await?;
    Ok(())
}
