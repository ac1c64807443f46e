//! Kubernetes-style self-health for a Rust service: named checks served as `/livez`,
//! `/readyz` and `/healthz` with the apiserver's exact semantics and formats.
//!
//! What it follows from `k8s.io/apiserver/pkg/server/healthz`:
//! - `GET /readyz` answers `200 ok`, or `500` listing every check with failures marked
//!   `[-]name failed: reason withheld` and a last line `readyz check failed`;
//! - `?verbose` lists every check (`[+]name ok`) and ends in `readyz check passed`;
//! - `?exclude=name` (repeatable) skips checks, warning about names that match none;
//! - `/readyz/<name>` runs one check and shows its real error; unknown names are `404`;
//! - a livez grace period, post-start readiness gates and the `shutdown` check.
//!
//! Beyond it: `?format=json`, checks run concurrently each under its own timeout, optional
//! result caching for expensive checks, warnings on passing checks (`warn: name: ...` under
//! `?verbose`, [`Check::warn_when`]), rate-limited failure logs through `tracing`,
//! Prometheus metrics, a runtime [`Heartbeat`], and (feature `grpc`) a `grpc.health.v1`
//! service that follows readyz.
//!
//! ```
//! use std::time::Duration;
//! use switchyard_health::{Check, CheckError, Endpoints, HealthRegistry};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let health = HealthRegistry::builder()
//!     .livez_grace_period(Duration::from_secs(0))
//!     .build();
//! health.register(
//!     Endpoints::READYZ,
//!     Check::new("config", || async { Ok(()) }).timeout(Duration::from_secs(2)),
//! )?;
//! health.register(
//!     Endpoints::LIVEZ | Endpoints::READYZ,
//!     Check::new("etcd", || async { Err(CheckError::new("no leader")) })
//!         .cached(Duration::from_secs(5)),
//! )?;
//! let started = health.readiness_gate("started")?;
//! let shutdown = health.shutdown_check()?;
//!
//! // Mount on the admin listener: `axum::serve(listener, router)`.
//! let _router: axum::Router = switchyard_health::axum::router(health.clone());
//! let mut metrics = prometheus_client::registry::Registry::default();
//! health.register_metrics(&mut metrics);
//!
//! // The same answers without HTTP:
//! started.open();
//! let response = health.respond("/readyz", Some("verbose&exclude=etcd")).await;
//! assert_eq!(response.status, 200);
//! assert_eq!(
//!     response.body,
//!     "[+]ping ok\n[+]config ok\n[+]etcd excluded: ok\n[+]started ok\n[+]shutdown ok\n\
//!      readyz check passed\n"
//! );
//! let response = health.respond("/livez", None).await;
//! assert_eq!(response.status, 500);
//! assert_eq!(response.body, "[+]ping ok\n[-]etcd failed: reason withheld\nlivez check failed\n");
//! let response = health.respond("/livez/etcd", None).await;
//! assert_eq!(response.body, "internal server error: no leader\n");
//!
//! shutdown.begin();
//! assert_eq!(health.respond("/readyz", Some("exclude=etcd")).await.status, 500);
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "axum")]
pub mod axum;
mod check;
mod config;
mod dependency;
mod entry;
mod error;
mod gate;
#[cfg(feature = "grpc")]
pub mod grpc;
mod heartbeat;
mod memory;
pub mod metrics;
mod registry;
mod report;
mod shard;

pub use check::{Check, Endpoint, Endpoints, Toggle};
pub use config::{HealthConfig, HealthProfile};
pub use dependency::{Dependency, Tier};
pub use error::{CheckError, RegisterError};
pub use gate::{ReadinessGate, ShutdownSignal};
pub use heartbeat::{Heartbeat, HeartbeatConfig};
pub use memory::{MemoryWatermark, cgroup_memory_limit, resident_bytes};
pub use registry::{DEFAULT_LOG_INTERVAL, DEFAULT_TIMEOUT, HealthRegistry, HealthRegistryBuilder};
pub use report::{
    CheckReport, CheckStatus, Format, JSON_CONTENT_TYPE, Query, REASON_WITHHELD, Rendered, Report,
    Scope, TEXT_CONTENT_TYPE,
};
pub use shard::ShardGate;
