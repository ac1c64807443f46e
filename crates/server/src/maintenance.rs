//! Maintenance mode: an operator switch that fails `/readyz` at once with a reason, while
//! traffic keeps being served to whoever still sends it. In distributed mode the `maintenance`
//! keys in etcd are a second switch, held beside this instance's own.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;

/// Who set the current maintenance state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The configuration file (`[maintenance]`).
    Config,
    /// `POST /admin/maintenance`.
    Admin,
    /// The `maintenance` keys in etcd.
    Etcd,
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
pub struct Maintenance {
    local: Arc<ArcSwap<MaintenanceState>>,
    cluster: Arc<ArcSwapOption<MaintenanceState>>,
}

impl Maintenance {
    /// Starts in the given state.
    pub fn new(enabled: bool, reason: String, source: Source) -> Self {
        Self {
            local: Arc::new(ArcSwap::from_pointee(state(enabled, reason, source))),
            cluster: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// Replaces this instance's own state.
    pub fn set(&self, enabled: bool, reason: String, source: Source) {
        self.local.store(Arc::new(state(enabled, reason, source)));
    }

    /// Sets or clears the cluster-wide switch (`Some(reason)` while etcd says maintenance).
    pub fn set_cluster(&self, reason: Option<&str>) {
        let current = self.cluster.load();
        if current.as_ref().map(|s| s.reason.as_str()) != reason {
            self.cluster.store(reason.map(|r| Arc::new(state(true, r.to_owned(), Source::Etcd))));
        }
    }

    /// The state in force: this instance's when it is on, else the cluster's when that is.
    pub fn get(&self) -> Arc<MaintenanceState> {
        let local = self.local.load_full();
        match self.cluster.load_full() {
            Some(cluster) if !local.enabled => cluster,
            _ => local,
        }
    }

    /// The readiness verdict: `Err(reason)` while in maintenance.
    pub fn check(&self) -> Result<(), String> {
        let s = self.get();
        if s.enabled {
            let reason = if s.reason.is_empty() { "no reason given" } else { s.reason.as_str() };
            let by = match s.source {
                Source::Config => "config",
                Source::Admin => "admin",
                Source::Etcd => "etcd",
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
