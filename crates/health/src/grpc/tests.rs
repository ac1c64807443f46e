use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint as GrpcEndpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus as Wire;
use tonic_health::pb::health_client::HealthClient;

use super::*;
use crate::{Check, CheckError, Endpoints};

/// Serves `health`'s gRPC service on a loopback ephemeral port; returns a connected client.
async fn serve(
    health: &HealthRegistry,
    poll: Duration,
) -> (HealthClient<Channel>, ReadinessMirror, oneshot::Sender<()>) {
    let (service, mirror) = health_service(health, poll).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(Server::builder().add_service(service).serve_with_incoming_shutdown(
        TcpIncoming::from(listener),
        async {
            let _ = stopped.await;
        },
    ));
    let channel =
        GrpcEndpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    (HealthClient::new(channel), mirror, stop)
}

fn overall() -> HealthCheckRequest {
    HealthCheckRequest { service: OVERALL.to_owned() }
}

async fn check(client: &mut HealthClient<Channel>) -> Wire {
    client.check(overall()).await.unwrap().into_inner().status()
}

/// Guards each wait for a status so a broken mirror fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(30);

#[tokio::test]
async fn overall_status_follows_the_gate_and_shutdown() {
    let health = HealthRegistry::default();
    let gate = health.readiness_gate("started").unwrap();
    let shutdown = health.shutdown_check().unwrap();
    // A long poll: changes must arrive through the change notifications alone.
    let (mut client, _mirror, stop) = serve(&health, Duration::from_secs(3600)).await;

    assert_eq!(check(&mut client).await, Wire::NotServing);
    let mut watch = client.watch(overall()).await.unwrap().into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), Wire::NotServing);

    gate.open();
    let next = tokio::time::timeout(GUARD, watch.message()).await.unwrap();
    assert_eq!(next.unwrap().unwrap().status(), Wire::Serving);
    assert_eq!(check(&mut client).await, Wire::Serving);

    shutdown.begin();
    let next = tokio::time::timeout(GUARD, watch.message()).await.unwrap();
    assert_eq!(next.unwrap().unwrap().status(), Wire::NotServing);
    let _ = stop.send(());
}

#[tokio::test]
async fn a_failing_check_is_noticed_by_polling() {
    let health = HealthRegistry::default();
    let healthy = Arc::new(AtomicBool::new(true));
    let state = Arc::clone(&healthy);
    health
        .register(
            Endpoints::READYZ,
            Check::immediate("db", move || {
                if state.load(Ordering::SeqCst) { Ok(()) } else { Err(CheckError::new("down")) }
            }),
        )
        .unwrap();
    let (mut client, _mirror, stop) = serve(&health, Duration::from_millis(20)).await;
    assert_eq!(check(&mut client).await, Wire::Serving);

    let mut watch = client.watch(overall()).await.unwrap().into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status(), Wire::Serving);
    healthy.store(false, Ordering::SeqCst);
    let next = tokio::time::timeout(GUARD, watch.message()).await.unwrap();
    assert_eq!(next.unwrap().unwrap().status(), Wire::NotServing);
    healthy.store(true, Ordering::SeqCst);
    let next = tokio::time::timeout(GUARD, watch.message()).await.unwrap();
    assert_eq!(next.unwrap().unwrap().status(), Wire::Serving);
    let _ = stop.send(());
}

#[tokio::test]
async fn unknown_service_is_not_found() {
    let health = HealthRegistry::default();
    let (mut client, _mirror, stop) = serve(&health, Duration::from_secs(3600)).await;
    let err = client.check(HealthCheckRequest { service: "nope".into() }).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    let _ = stop.send(());
}
