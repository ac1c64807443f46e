//! A `grpc.health.v1.Health` service whose overall status (service `""`) mirrors `/readyz`:
//! `SERVING` while readyz passes, `NOT_SERVING` otherwise. gRPC load balancers and
//! `grpc_health_probe` then see the same readiness as HTTP probes.
//!
//! The mirror re-evaluates readyz when readiness may have changed without a request (a gate
//! opened, shutdown began, see [`HealthRegistry::subscribe_changes`]) and otherwise every poll
//! interval, so a check that starts failing is noticed within one interval. Each evaluation
//! runs every readyz check; mark expensive ones [`cached`](crate::Check::cached).

use std::time::Duration;

use tokio::task::JoinHandle;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;

use crate::check::Endpoint;
use crate::registry::HealthRegistry;
use crate::report::Query;

/// The overall-server service name of the gRPC health protocol.
pub const OVERALL: &str = "";

/// Keeps the gRPC status in step with readyz; the mirroring task stops when this is dropped.
#[derive(Debug)]
#[must_use = "the gRPC health status stops following readyz when the mirror is dropped"]
pub struct ReadinessMirror {
    reporter: HealthReporter,
    task: JoinHandle<()>,
}

impl ReadinessMirror {
    /// The reporter behind the service, to publish the status of named gRPC services too.
    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
    }
}

impl Drop for ReadinessMirror {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Builds the gRPC health service for `health` and starts mirroring readyz into it.
///
/// The status is evaluated once before this returns, so the service never claims `SERVING`
/// before readyz does.
pub async fn health_service(
    health: &HealthRegistry,
    poll_interval: Duration,
) -> (HealthServer<impl Health + use<>>, ReadinessMirror) {
    let (reporter, server) = tonic_health::server::health_reporter();
    let mut changes = health.subscribe_changes();
    changes.borrow_and_update();
    let mut current = readyz_status(health).await;
    reporter.set_service_status(OVERALL, current).await;

    let task = tokio::spawn({
        let health = health.clone();
        let reporter = reporter.clone();
        async move {
            let mut poll = tokio::time::interval(poll_interval);
            poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            poll.tick().await;
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    _ = poll.tick() => {}
                }
                let status = readyz_status(&health).await;
                // Set only on a change: every set wakes `Watch` streams, even with the same value.
                if status != current {
                    tracing::info!(status = ?status, "gRPC health status changed");
                    current = status;
                    reporter.set_service_status(OVERALL, status).await;
                }
            }
        }
    });
    (server, ReadinessMirror { reporter, task })
}

async fn readyz_status(health: &HealthRegistry) -> ServingStatus {
    if health.evaluate(Endpoint::Readyz, &Query::default()).await.passed() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

#[cfg(test)]
mod tests;
