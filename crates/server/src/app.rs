//! The running application's shared state and the configuration reload that replaces it.
//!
//! A reload validates the whole new configuration and loads its inventory files before
//! anything is swapped; on any problem the running configuration stays in force and the
//! problems are reported (log, admin response, metric). The new inventory then goes the way
//! every inventory goes: published by its source, installed by the one installer.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use opentelemetry::KeyValue;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use switchyard_fleet::{FileSource, InventoryFeed};

use crate::cluster::Cluster;
use crate::config::{self, Config, ConfigError, EtcdOverrides, ListenOverrides};
use crate::install::Installer;
use crate::maintenance::{Maintenance, Source};
use crate::metrics::Metrics;
use crate::routing::Routing;
use crate::sampling::DecisionSampler;
use crate::telemetry;
use tracing::Instrument;

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
    /// Command-line listener flags, which keep winning over the file on reload.
    pub overrides: ListenOverrides,
    /// Command-line etcd flags, likewise.
    pub etcd_overrides: EtcdOverrides,
    /// The published routing table and its inputs.
    pub routing: Arc<Routing>,
    /// The maintenance switch.
    pub maintenance: Maintenance,
    /// The metrics registry.
    pub metrics: Metrics,
    /// Where the inventory comes from in file mode (in etcd mode it loads the local
    /// coverage zones and GeoIP database only).
    pub inventory: FileSource,
    /// Distributed mode, once started (etcd mode only).
    pub cluster: OnceLock<Cluster>,
    /// The probe engine, once started.
    pub prober: OnceLock<switchyard_probe::EngineHandle>,
    /// The installer, once started.
    pub installer: OnceLock<Installer>,
    /// Decision inputs sampled for `switchyard replay record`, shared by the front ends.
    pub samples: Arc<DecisionSampler>,
    /// The certificates of the listeners that run TLS, reloaded with the configuration.
    pub tls: crate::tls::TlsState,
    /// Held by a reload, and by the start-up while it publishes the first inventory.
    pub(crate) reload_lock: tokio::sync::Mutex<()>,
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
    Config(#[from] ConfigError),
    /// An inventory file could not be loaded.
    #[error("{0}")]
    Inventory(#[from] switchyard_fleet::InventoryError),
    /// The routing table could not be built.
    #[error("{0}")]
    Build(String),
    /// A certificate or key file of a TLS listener could not be used; the certificates in
    /// force stay.
    #[error("{0}")]
    Tls(ConfigError),
}

impl App {
    /// Wraps a loaded configuration; `overrides` are already applied to it. Returns the
    /// inventory feed the installer follows.
    pub fn new(
        config_path: PathBuf,
        config: Config,
        overrides: ListenOverrides,
        etcd_overrides: EtcdOverrides,
        metrics: Metrics,
    ) -> (Self, InventoryFeed) {
        let maintenance = Maintenance::new(
            config.maintenance.enabled,
            config.maintenance.reason.clone(),
            Source::Config,
        );
        let routing = Arc::new(Routing::new(&metrics));
        let base_dir = config_path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        let (inventory, feed) = FileSource::new(base_dir);
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
        let app = Self {
            config_path,
            config: ArcSwap::from_pointee(config),
            overrides,
            etcd_overrides,
            routing,
            maintenance,
            metrics,
            inventory,
            cluster: OnceLock::new(),
            prober: OnceLock::new(),
            installer: OnceLock::new(),
            samples: DecisionSampler::new(),
            tls: crate::tls::TlsState::default(),
            reload_lock: tokio::sync::Mutex::new(()),
            reloads,
            last_reload_ok,
        };
        (app, feed)
    }

    /// Folder relative paths in the configuration are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.config_path.parent().map(|p| p.to_path_buf()).unwrap_or_default()
    }

    /// Re-reads the configuration file and swaps in what it describes, or changes nothing.
    /// Traced as a `reload` span when sampled; its log lines then carry the trace id.
    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let mut trace = telemetry::Operation::reload();
        let result = self.reload_once().instrument(trace.log_span()).await;
        if trace.is_traced() {
            match &result {
                Ok(r) => trace.attributes([
                    KeyValue::new("switchyard.reload.result", "ok"),
                    KeyValue::new("switchyard.nodes", r.nodes as i64),
                    KeyValue::new("switchyard.zones", r.zones as i64),
                    KeyValue::new("switchyard.services", r.services as i64),
                ]),
                Err(_) => trace.attributes([KeyValue::new("switchyard.reload.result", "error")]),
            }
        }
        trace.end(result.as_ref().err().map(|e| e.to_string()));
        result
    }

    async fn reload_once(&self) -> Result<ReloadReport, ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().await;
        let result = self.try_reload().await;
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

    async fn try_reload(&self) -> Result<ReloadReport, ReloadError> {
        let path = self.config_path.clone();
        let mut new = tokio::task::spawn_blocking(move || config::load_file(&path))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        self.overrides.apply(&mut new);
        self.etcd_overrides.apply(&mut new);
        let old = self.config.load_full();
        // In etcd mode the inventory follows etcd, not the reload; its settings are read at
        // start.
        let etcd_mode = self.cluster.get().is_some();
        let inventory = match etcd_mode {
            false => Some(self.inventory.load(&new.inventory).await?),
            true => None,
        };
        let mut restart_required = restart_required(&old, &new);
        if etcd_mode && inventory_settings_changed(&old, &new) {
            restart_required.push("inventory".to_string());
        }
        // Certificates are read before anything is swapped, and put in force with the rest.
        let base_dir = self.base_dir();
        let tls = self
            .tls
            .stage(new.http.tls.as_ref(), new.admin.tls.as_ref(), &base_dir)
            .map_err(|problems| {
                ReloadError::Tls(ConfigError {
                    origin: self.config_path.display().to_string(),
                    problems,
                })
            })?;
        let spec = match &inventory {
            Some(inv) => inv.spec.clone(),
            None => self.routing.inventory().map(|i| i.spec.clone()).unwrap_or_default(),
        };
        let report = ReloadReport {
            nodes: spec.nodes.len(),
            zones: spec.zones.len(),
            services: spec.services.len(),
            restart_required,
        };
        if new.maintenance != old.maintenance {
            self.maintenance.set(
                new.maintenance.enabled,
                new.maintenance.reason.clone(),
                Source::Config,
            );
        }
        let probe = Arc::new(new.probe.clone());
        self.config.store(Arc::new(new));
        tls.commit();
        let Some(installer) = self.installer.get() else { return Ok(report) };
        installer.set_probe_config(probe);
        if let Some(inventory) = inventory {
            let version = self.inventory.publish(inventory);
            installer.installed(version).await.map_err(ReloadError::Build)?;
        }
        Ok(report)
    }
}

/// Whether the inventory's settings changed (read at start in etcd mode).
fn inventory_settings_changed(old: &Config, new: &Config) -> bool {
    let (o, n) = (&old.inventory, &new.inventory);
    o.etcd != n.etcd
        || o.coverage_zones_file != n.coverage_zones_file
        || o.geoip_file != n.geoip_file
}

/// Settings that changed but are only read at start.
fn restart_required(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |changed: bool, key: &str| {
        if changed {
            out.push(key.to_string());
        }
    };
    check(new.listen.admin != old.listen.admin, "listen.admin");
    check(new.listen.http != old.listen.http, "listen.http");
    check(new.listen.https != old.listen.https, "listen.https");
    check(new.listen.dns != old.listen.dns, "listen.dns");
    check(new.admin.audit_file != old.admin.audit_file, "admin.audit_file");
    // The front ends are built with their settings at start; of TLS, the certificates and
    // `min_version` reload, but whether a listener runs TLS at all is fixed at start.
    let without_tls = |c: &Config| crate::traffic::TrafficConfig { tls: None, ..c.http.clone() };
    check(without_tls(new) != without_tls(old), "http");
    check(new.http.tls.is_some() != old.http.tls.is_some(), "http.tls");
    check(new.admin.tls.is_some() != old.admin.tls.is_some(), "admin.tls");
    check(new.dns != old.dns, "dns");
    check(new.telemetry != old.telemetry, "telemetry");
    let limits = |e: &switchyard_probe::EngineConfig| {
        (e.max_in_flight, e.per_target_max_in_flight, e.publish_debounce_ms, e.command_capacity)
    };
    check(limits(&new.probe.engine) != limits(&old.probe.engine), "probe.engine");
    out
}
