//! Maintenance mode: an operator switch that fails `/readyz` at once with a reason, while
//! traffic keeps being served to whoever still sends it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;

/// Who set the current maintenance state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The configuration file (`[maintenance]`).
    Config,
    /// `POST /admin/maintenance`.
    Admin,
}

/// One maintenance state, replaced as a whole on every change.
#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceState {
    /// Whether maintenance mode is on.
    pub enabled: bool,
    /// Operator's reason, shown by `/readyz/maintenance`.
    pub reason: String,
    /// Unix time in seconds of the last change.
    pub since_unix_seconds: u64,
    /// Who made the last change.
    pub source: Source,
}

/// The live maintenance switch, read lock-free by the readiness check.
#[derive(Debug, Clone)]
pub struct Maintenance(Arc<ArcSwap<MaintenanceState>>);

impl Maintenance {
    /// Starts in the given state.
    pub fn new(enabled: bool, reason: String, source: Source) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(state(enabled, reason, source))))
    }

    /// Replaces the state.
    pub fn set(&self, enabled: bool, reason: String, source: Source) {
        self.0.store(Arc::new(state(enabled, reason, source)));
    }

    /// The current state.
    pub fn get(&self) -> Arc<MaintenanceState> {
        self.0.load_full()
    }

    /// The readiness verdict: `Err(reason)` while in maintenance.
    pub fn check(&self) -> Result<(), String> {
        let s = self.0.load();
        if s.enabled {
            let reason = if s.reason.is_empty() { "no reason given" } else { s.reason.as_str() };
            let by = match s.source {
                Source::Config => "config",
                Source::Admin => "admin",
            };
            Err(format!("in maintenance (set by {by}): {reason}"))
        } else {
            Ok(())
        }
    }
}

fn state(enabled: bool, reason: String, source: Source) -> MaintenanceState {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    MaintenanceState { enabled, reason, since_unix_seconds: since, source }
}
