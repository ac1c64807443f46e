//! Active health probing for fleets of 10k-100k nodes: probe kinds (tcp, tls, http(s), dns,
//! grpc health, HAProxy agent), a pure per-node health state machine with rise/fall
//! hysteresis, and a multi-core scheduler that publishes a versioned health snapshot.
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_probe::ProbeError> {
//! use std::sync::Arc;
//! use switchyard_probe::{EngineConfig, ProbeEngine, Target};
//! use switchyard_probe::spec::{Check, HttpCheck, ProbeSpec};
//! use tokio_util::sync::CancellationToken;
//!
//! let spec = Arc::new(ProbeSpec::new(Check::Http(HttpCheck::default())));
//! let targets = vec![Target::new("edge-1", "127.0.0.1:8080".parse().unwrap(), spec)];
//! let engine = ProbeEngine::start(EngineConfig::default(), targets, CancellationToken::new())?;
//! let mut health = engine.subscribe();
//! health.changed().await.ok();
//! println!("{:?}", health.borrow().nodes.get("edge-1"));
//! # Ok(()) }
//! ```

pub mod compiled;
mod config;
pub mod engine;
mod error;
pub mod health;
pub mod kind;
pub mod metrics;
pub mod outcome;
pub mod spec;
pub mod warm;

pub use compiled::{CompiledProbe, ConnState};
pub use config::ProbeConfig;
pub use engine::{
    EngineConfig, EngineHandle, HealthSnapshot, NodeDetail, NodeId, NodeStatuses, ProbeEngine,
    ProbeStatus, RoundObserver, RoundReport, Rounds, Target,
};
pub use error::ProbeError;
pub use health::{HealthTracker, StateChange, Transition};
pub use kind::tls::AcceptAnyCert;
pub use outcome::{
    AgentReply, AgentState, DegradedCause, FailureCause, Phases, ProbeOutcome, SnmpDrops, Tier,
    Verdict,
};
pub use spec::ProbeSpec;
pub use switchyard_route::{AdminState, HealthState};
pub use warm::{WarmCheck, WarmConfig};
