//! The `grpc.health.v1.Health` listener, whose overall status follows `/readyz`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use switchyard_health::HealthRegistry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Serves `grpc.health.v1.Health` mirroring readyz (re-evaluated on every readiness change
/// and at least once a second) until `stop`.
pub async fn spawn(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    health: &HealthRegistry,
    stop: &CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener =
        crate::net::bind_tokio(addr).with_context(|| format!("grpc-health: cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    let (service, mirror) =
        switchyard_health::grpc::health_service(health, Duration::from_secs(1)).await;
    let stop = stop.clone();
    set.spawn(async move {
        let _mirror = mirror;
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let served = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(addr = %local, "grpc-health listener failed: {e}");
        }
    });
    Ok(local)
}
