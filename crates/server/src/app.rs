//! The running application's shared state and the configuration reload that replaces it.
//!
//! A reload validates the whole new configuration and loads its inventory files before
//! anything is swapped; on any problem the running configuration stays in force and the
//! problems are reported (log, admin response, metric).

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use switchyard_fleet::{Inventory, InventoryFiles};

use crate::config::{self, Config};
use crate::maintenance::{Maintenance, Source};
use crate::metrics::Metrics;
use crate::routing::Routing;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// State shared by the listeners, the admin API and the background tasks.
pub struct App {
    /// The configuration file, re-read on reload.
    pub config_path: PathBuf,
    /// The configuration in force.
    pub config: ArcSwap<Config>,
    /// The published routing table and its inputs.
    pub routing: Routing,
    /// The maintenance switch.
    pub maintenance: Maintenance,
    /// The metrics registry.
    pub metrics: Metrics,
    /// The probe engine, once started.
    pub prober: std::sync::OnceLock<switchyard_probe::EngineHandle>,
    reload_lock: tokio::sync::Mutex<()>,
    reloads: Family<ResultLabels, Counter>,
    last_reload_ok: Gauge,
}

/// What a reload did, as reported by `POST /admin/reload`.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// Number of nodes, zones and services now in force.
    pub nodes: usize,
    /// Zones in force.
    pub zones: usize,
    /// Services in force.
    pub services: usize,
    /// Settings that changed in the file but only take effect after a restart.
    pub restart_required: Vec<String>,
}

/// Why a reload was refused; the running configuration is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not parse or validate; every problem is listed.
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    /// An inventory file could not be loaded.
    #[error("{0}")]
    Inventory(#[from] switchyard_fleet::InventoryError),
    /// The routing table could not be built.
    #[error("{0}")]
    Build(#[from] switchyard_route::BuildError),
}

impl App {
    /// Wraps a loaded configuration.
    pub fn new(config_path: PathBuf, config: Config, metrics: Metrics) -> Self {
        let maintenance = Maintenance::new(
            config.maintenance.enabled,
            config.maintenance.reason.clone(),
            Source::Config,
        );
        let routing = Routing::new(&metrics);
        let reloads = Family::<ResultLabels, Counter>::default();
        let last_reload_ok = Gauge::default();
        last_reload_ok.set(1);
        metrics.register(|r| {
            r.register(
                "config_reloads",
                "Configuration reloads by result (ok, error)",
                reloads.clone(),
            );
            r.register(
                "config_last_reload_successful",
                "1 when the last configuration reload succeeded (or none was tried), else 0",
                last_reload_ok.clone(),
            );
        });
        Self {
            config_path,
            config: ArcSwap::from_pointee(config),
            routing,
            maintenance,
            metrics,
            prober: std::sync::OnceLock::new(),
            reload_lock: tokio::sync::Mutex::new(()),
            reloads,
            last_reload_ok,
        }
    }

    /// Folder relative paths in the configuration are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.config_path.parent().map(|p| p.to_path_buf()).unwrap_or_default()
    }

    /// Loads the inventory the configuration names: the fleet (inline, or the fleet file)
    /// and the coverage zone and GeoIP files. Files are read off the async threads, the fleet
    /// file and the coverage zones in parallel (either may be large).
    pub async fn load_inventory(&self, config: &Config) -> Result<Inventory, ReloadError> {
        let base = self.base_dir();
        let files = InventoryFiles {
            coverage_zones: config.inventory.coverage_zones_file.as_ref().map(|f| base.join(f)),
            geoip: config.inventory.geoip_file.as_ref().map(|f| base.join(f)),
        };
        let fleet = match &config.inventory.fleet_file {
            None => {
                let inline = config.inventory.fleet.clone();
                tokio::task::spawn_blocking(move || Ok(inline))
            }
            Some(f) => {
                let path = base.join(f);
                tokio::task::spawn_blocking(move || config::load_fleet_file(&path))
            }
        };
        let zones = tokio::task::spawn_blocking(move || {
            switchyard_fleet::load_files(switchyard_route::FleetSpec::default(), &files)
        });
        let (fleet, zones) = tokio::join!(fleet, zones);
        let zones = zones.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let fleet = fleet.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        Ok(Inventory { spec: Arc::new(fleet), ..zones })
    }

    /// Re-reads the configuration file and swaps in what it describes, or changes nothing.
    /// `overrides` are the command-line listener flags, which keep winning over the file.
    pub async fn reload(
        &self,
        overrides: &crate::cli::ListenOverrides,
    ) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let result = self.try_reload(overrides).await;
        let label = ResultLabels { result: if result.is_ok() { "ok" } else { "error" } };
        self.reloads.get_or_create(&label).inc();
        self.last_reload_ok.set(i64::from(result.is_ok()));
        match &result {
            Ok(report) => tracing::info!(
                nodes = report.nodes,
                zones = report.zones,
                services = report.services,
                "configuration reloaded"
            ),
            Err(e) => tracing::error!(
                "configuration reload refused, the running configuration stays: {e}"
            ),
        }
        result
    }

    async fn try_reload(
        &self,
        overrides: &crate::cli::ListenOverrides,
    ) -> Result<ReloadReport, ReloadError> {
        let path = self.config_path.clone();
        let mut new = tokio::task::spawn_blocking(move || config::load_file(&path))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        crate::serve::apply_overrides(&mut new, overrides);
        let inventory = self.load_inventory(&new).await?;
        let old = self.config.load_full();
        let spec = inventory.spec.clone();
        self.routing.install(inventory)?;

        let mut restart_required = Vec::new();
        if new.listen.admin != old.listen.admin {
            restart_required.push("listen.admin".to_string());
        }
        if new.listen.http != old.listen.http {
            restart_required.push("listen.http".to_string());
        }
        if new.listen.dns != old.listen.dns {
            restart_required.push("listen.dns".to_string());
        }
        // The front ends are built with their settings at start.
        if new.http != old.http {
            restart_required.push("http".to_string());
        }
        if new.dns != old.dns {
            restart_required.push("dns".to_string());
        }
        if let Some(engine) = self.prober.get() {
            // Diff-based: unchanged targets keep their schedule and state.
            if let Err(e) = engine.replace_all(new.probe.targets(&spec)).await {
                tracing::error!("probe targets not updated: {e}");
            }
        }
        let (a, b) = (&new.probe.engine, &old.probe.engine);
        let limits = |e: &switchyard_probe::EngineConfig| {
            (e.max_in_flight, e.per_target_max_in_flight, e.publish_debounce_ms, e.command_capacity)
        };
        if limits(a) != limits(b) {
            restart_required.push("probe.engine".to_string());
        }
        if new.maintenance.enabled != old.maintenance.enabled
            || new.maintenance.reason != old.maintenance.reason
        {
            self.maintenance.set(
                new.maintenance.enabled,
                new.maintenance.reason.clone(),
                Source::Config,
            );
        }
        let fleet = &spec;
        let report = ReloadReport {
            nodes: fleet.nodes.len(),
            zones: fleet.zones.len(),
            services: fleet.services.len(),
            restart_required,
        };
        self.config.store(Arc::new(new));
        Ok(report)
    }
}
