//! The registry of checks and the evaluation of an endpoint: every check of the endpoint runs
//! concurrently inside the request, each under its own timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::future::join_all;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::check::{Check, Endpoint, Endpoints, Toggle, valid_name};
use crate::entry::{Entry, EntryConfig};
use crate::error::{CheckError, RegisterError};
use crate::gate::{ReadinessGate, ShutdownSignal};
use crate::metrics::{DEFAULT_PREFIX, Metrics};
use crate::report::{CheckReport, CheckStatus, Query, Rendered, Report, Scope};
use crate::shard::ShardGate;

/// Default timeout of an asynchronous check; shorter than a typical kubelet probe timeout
/// plus period, so a hung check fails the probe instead of hanging it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default minimum spacing of failure logs of one check.
pub const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Configures a [`HealthRegistry`].
#[derive(Debug, Clone)]
pub struct HealthRegistryBuilder {
    default_timeout: Duration,
    livez_grace_period: Duration,
    log_interval: Duration,
    metrics_prefix: Option<String>,
    ping: bool,
    show_reasons: bool,
}

impl Default for HealthRegistryBuilder {
    fn default() -> Self {
        HealthRegistryBuilder {
            default_timeout: DEFAULT_TIMEOUT,
            livez_grace_period: Duration::ZERO,
            log_interval: DEFAULT_LOG_INTERVAL,
            metrics_prefix: Some(DEFAULT_PREFIX.to_owned()),
            ping: true,
            show_reasons: false,
        }
    }
}

impl HealthRegistryBuilder {
    /// Timeout of checks that set none themselves (default 2 s).
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// For this long after [`build`](Self::build), livez checks are not run and report ok,
    /// like the apiserver's `--livez-grace-period`: a slow start is not a reason to restart.
    pub fn livez_grace_period(mut self, grace: Duration) -> Self {
        self.livez_grace_period = grace;
        self
    }

    /// A failing check logs its reason at most once per `interval` (default 30 s).
    pub fn failure_log_interval(mut self, interval: Duration) -> Self {
        self.log_interval = interval;
        self
    }

    /// Prefix of the metric names (default `switchyard`, giving
    /// `switchyard_health_check_status`); `None` registers the bare names
    /// (`health_check_status`) in the registry given to
    /// [`HealthRegistry::register_metrics`], e.g. a sub-registry the caller prefixed.
    pub fn metrics_prefix(mut self, prefix: Option<&str>) -> Self {
        self.metrics_prefix = prefix.filter(|p| !p.is_empty()).map(str::to_owned);
        self
    }

    /// Whether to install the apiserver's always-passing `ping` check on every endpoint
    /// (default yes), so an endpoint with no other check still answers something meaningful.
    pub fn ping(mut self, ping: bool) -> Self {
        self.ping = ping;
        self
    }

    /// Whether the aggregated endpoints (`/readyz`, `/readyz?verbose`, `?format=json`) show a
    /// failed check's error instead of `reason withheld` (default no, as the apiserver:
    /// anyone who can reach a probe port would read it). Meant for development profiles.
    pub fn show_reasons(mut self, show: bool) -> Self {
        self.show_reasons = show;
        self
    }

    /// Builds the registry; the livez grace period starts now.
    pub fn build(self) -> HealthRegistry {
        let epoch = Instant::now();
        let (changed, _) = watch::channel(0);
        let registry = HealthRegistry {
            inner: Arc::new(Inner {
                checks: ArcSwap::from_pointee(Snapshot::default()),
                write: Mutex::new(()),
                config: EntryConfig {
                    default_timeout: self.default_timeout,
                    log_interval: self.log_interval,
                    epoch,
                },
                grace_until: epoch + self.livez_grace_period,
                metrics: Metrics::new(self.metrics_prefix),
                show_reasons: self.show_reasons,
                changed,
            }),
        };
        if self.ping {
            // A fresh registry has no name to collide with.
            let _ = registry.register(Endpoints::ALL, Check::immediate("ping", || Ok(())));
        }
        registry
    }
}

/// The checks of one process, served as `/livez`, `/readyz` and `/healthz`.
///
/// Cheap to clone (one `Arc`); every clone sees the same checks.
#[derive(Clone)]
pub struct HealthRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    /// Read on every request without a lock; replaced whole on registration.
    checks: ArcSwap<Snapshot>,
    /// Serialises registrations so none is lost between load and store.
    write: Mutex<()>,
    config: EntryConfig,
    grace_until: Instant,
    metrics: Metrics,
    show_reasons: bool,
    /// Bumped when readiness may have changed without a request (gate opened, shutdown).
    changed: watch::Sender<u64>,
}

/// The checks of each endpoint, in registration order, resolved once at registration.
#[derive(Default)]
struct Snapshot {
    by_endpoint: [Vec<Arc<Entry>>; 3],
}

impl std::fmt::Debug for HealthRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.inner.checks.load();
        let mut map = f.debug_map();
        for endpoint in Endpoint::ALL {
            let names: Vec<&str> =
                snapshot.by_endpoint[endpoint.index()].iter().map(|e| &*e.name).collect();
            map.entry(&endpoint.as_str(), &names);
        }
        map.finish()
    }
}

impl Default for HealthRegistry {
    fn default() -> Self {
        HealthRegistry::builder().build()
    }
}

impl HealthRegistry {
    /// Starts configuring a registry.
    pub fn builder() -> HealthRegistryBuilder {
        HealthRegistryBuilder::default()
    }

    /// Adds a check to the given endpoints. Names are unique across the registry.
    pub fn register(&self, endpoints: Endpoints, check: Check) -> Result<(), RegisterError> {
        let name = check.name.clone();
        if !valid_name(&name) {
            return Err(RegisterError::InvalidName(name.to_string()));
        }
        if endpoints.is_empty() {
            return Err(RegisterError::NoEndpoint(name.to_string()));
        }
        let _write = self.inner.write.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.inner.checks.load_full();
        let taken = current.by_endpoint.iter().flatten().any(|entry| entry.name == name);
        if taken {
            return Err(RegisterError::Duplicate(name.to_string()));
        }
        let metrics = self.inner.metrics.for_check(&name, |endpoint| endpoints.serves(endpoint));
        let mut entry = Entry::new(
            name,
            check.kind,
            check.timeout,
            check.cache_interval,
            check.condition,
            metrics,
            &self.inner.config,
        );
        entry.warning = check.warning;
        let entry = Arc::new(entry);
        let mut next = Snapshot { by_endpoint: current.by_endpoint.clone() };
        for endpoint in Endpoint::ALL {
            if endpoints.serves(endpoint) {
                next.by_endpoint[endpoint.index()].push(Arc::clone(&entry));
            }
        }
        self.inner.checks.store(Arc::new(next));
        drop(_write);
        self.notify_changed();
        Ok(())
    }

    /// Registers a `readyz` check named `name` that fails with "not started" until the
    /// returned gate is opened, and passes for ever after: the apiserver's post-start hooks.
    pub fn readiness_gate(&self, name: &str) -> Result<ReadinessGate, RegisterError> {
        let gate = ReadinessGate::new(name, self.inner.changed.clone());
        let probe = gate.clone();
        self.register(
            Endpoints::READYZ,
            Check::immediate(name, move || {
                if probe.is_open() { Ok(()) } else { Err(CheckError::NotStarted) }
            }),
        )?;
        Ok(gate)
    }

    /// Registers the apiserver's `shutdown` readyz check, which fails once
    /// [`ShutdownSignal::begin`] is called so load balancers drain the process.
    pub fn shutdown_check(&self) -> Result<ShutdownSignal, RegisterError> {
        let signal = ShutdownSignal::new(self.inner.changed.clone());
        let probe = signal.clone();
        self.register(
            Endpoints::READYZ,
            Check::immediate("shutdown", move || {
                if probe.is_shutting_down() { Err(CheckError::ShuttingDown) } else { Ok(()) }
            }),
        )?;
        Ok(signal)
    }

    /// A switch for conditional checks ([`Check::when`]), initially `on`.
    pub fn toggle(&self, on: bool) -> Toggle {
        Toggle::new(on, self.inner.changed.clone())
    }

    /// Registers a readyz check named `name` that passes only once every expected shard
    /// (a service's part of the inventory, a tenant, a partition) is marked loaded. While
    /// some are missing it fails naming them, and lists the loaded ones, on `/readyz/<name>`.
    /// With no shard expected it passes.
    pub fn shard_gate(&self, name: &str) -> Result<ShardGate, RegisterError> {
        let gate = ShardGate::new(self.inner.changed.clone());
        let probe = gate.clone();
        self.register(Endpoints::READYZ, Check::immediate(name, move || probe.check()))?;
        Ok(gate)
    }

    /// Registers the check metrics (see [`crate::metrics`]) in `registry`. Call once.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.inner.metrics.register(registry);
    }

    /// A receiver woken when readiness may have changed without any request: a gate opened,
    /// shutdown began, a check was registered. Pollers (the gRPC health service) re-evaluate.
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Wakes [`subscribe_changes`](Self::subscribe_changes) receivers, for state a custom
    /// check reads that changed.
    pub fn notify_changed(&self) {
        self.inner.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Names of the checks of `endpoint`, in registration order.
    pub fn check_names(&self, endpoint: Endpoint) -> Vec<String> {
        self.inner.checks.load().by_endpoint[endpoint.index()]
            .iter()
            .map(|entry| entry.name.to_string())
            .collect()
    }

    /// Runs every check of `endpoint` (minus `?exclude=`) concurrently and reports.
    pub async fn evaluate(&self, endpoint: Endpoint, query: &Query) -> Report {
        let snapshot = self.inner.checks.load_full();
        let entries = &snapshot.by_endpoint[endpoint.index()];
        let in_grace = self.in_grace(endpoint);
        let checks = join_all(entries.iter().map(|entry| async move {
            if query.excludes(&entry.name) {
                return CheckReport {
                    name: entry.name.clone(),
                    status: CheckStatus::Excluded,
                    duration: Duration::ZERO,
                    warning: None,
                };
            }
            self.report_one(entry, endpoint, in_grace).await
        }))
        .await;
        let mut unmatched_excludes: Vec<String> = query
            .exclude
            .iter()
            .filter(|name| !entries.iter().any(|entry| &*entry.name == name.as_str()))
            .cloned()
            .collect();
        if !unmatched_excludes.is_empty() {
            unmatched_excludes.sort_unstable();
            unmatched_excludes.dedup();
            tracing::debug!(
                endpoint = endpoint.as_str(),
                unmatched = ?unmatched_excludes,
                "cannot exclude some health checks: no matches"
            );
        }
        Report {
            endpoint,
            scope: Scope::Endpoint,
            verbose: query.verbose,
            format: query.format,
            show_reasons: self.inner.show_reasons,
            checks,
            unmatched_excludes,
        }
    }

    /// Runs the one check `name` of `endpoint`; `None` when the endpoint has no such check.
    /// The report carries the real error (`/readyz/<name>` in the apiserver).
    pub async fn evaluate_check(
        &self,
        endpoint: Endpoint,
        name: &str,
        query: &Query,
    ) -> Option<Report> {
        let snapshot = self.inner.checks.load_full();
        let entry =
            snapshot.by_endpoint[endpoint.index()].iter().find(|entry| &*entry.name == name)?;
        let check = self.report_one(entry, endpoint, self.in_grace(endpoint)).await;
        Some(Report {
            endpoint,
            scope: Scope::Single,
            verbose: query.verbose,
            format: query.format,
            show_reasons: self.inner.show_reasons,
            checks: vec![check],
            unmatched_excludes: Vec::new(),
        })
    }

    /// Answers a request for `path` (`/readyz`, `/livez/<name>`, ...) with the raw query
    /// string: the whole HTTP behaviour without an HTTP framework.
    pub async fn respond(&self, path: &str, raw_query: Option<&str>) -> Rendered {
        let path = path.strip_prefix('/').unwrap_or(path);
        let (endpoint, check) = match path.split_once('/') {
            Some((endpoint, check)) => (endpoint, Some(check)),
            None => (path, None),
        };
        let Some(endpoint) = Endpoint::from_name(endpoint) else {
            return Rendered::not_found();
        };
        let query = Query::parse(raw_query.unwrap_or(""));
        match check {
            None => self.evaluate(endpoint, &query).await.render(),
            Some(name) => match self.evaluate_check(endpoint, name, &query).await {
                Some(report) => report.render(),
                None => Rendered::not_found(),
            },
        }
    }

    fn in_grace(&self, endpoint: Endpoint) -> bool {
        endpoint == Endpoint::Livez && Instant::now() < self.inner.grace_until
    }

    async fn report_one(
        &self,
        entry: &Arc<Entry>,
        endpoint: Endpoint,
        in_grace: bool,
    ) -> CheckReport {
        if entry.condition.as_ref().is_some_and(|toggle| !toggle.is_on()) {
            entry.report_status(endpoint, true);
            return CheckReport {
                name: entry.name.clone(),
                status: CheckStatus::Inactive,
                duration: Duration::ZERO,
                warning: None,
            };
        }
        if in_grace {
            entry.report_status(endpoint, true);
            return CheckReport {
                name: entry.name.clone(),
                status: CheckStatus::Passed,
                duration: Duration::ZERO,
                warning: None,
            };
        }
        let outcome = entry.run(endpoint).await;
        entry.report_status(endpoint, outcome.result.is_ok());
        let (status, warning) = match outcome.result {
            Ok(()) => (CheckStatus::Passed, entry.warning.as_ref().and_then(|warn| warn())),
            Err(err) => (CheckStatus::Failed(err), None),
        };
        CheckReport { name: entry.name.clone(), status, duration: outcome.duration, warning }
    }
}

#[cfg(test)]
mod tests;
