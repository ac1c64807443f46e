//! `switchyard serve`, the composition root: load the config, bind every listener at once so
//! the health endpoints answer from the first millisecond, then do the slow start-up work
//! while readiness gates on it, and run until the shutdown sequence completes.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use switchyard_fleet::InventoryFeed;
use switchyard_health::{
    Check, CheckError, Endpoints, HealthRegistry, ReadinessGate, ShutdownSignal,
};
use switchyard_probe::ProbeEngine;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::admin::audit::AuditLog;
use crate::admin::startup::{Phase, StartupPhases};
use crate::admin::{self, AdminContext, auth::AuthPolicy};
use crate::app::App;
use crate::cluster::{self, Cluster};
use crate::config::token::{self, AdminToken};
use crate::config::{self, Config, EtcdOverrides, ListenOverrides};
use crate::install::Installer;
use crate::lifecycle::{self, ShutdownTokens};
use crate::metrics::Metrics;
use crate::tls::Listener;
use crate::{logging, prober, telemetry, traffic};

/// Arguments of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub listen: ListenOverrides,
    #[command(flatten)]
    pub etcd: EtcdOverrides,
    /// Delay the start-up work (inventory load) by this many milliseconds after the listeners
    /// are bound; for exercising readiness gating.
    #[arg(long, hide = true, default_value_t = 0)]
    pub startup_delay_ms: u64,
}

/// Runs `serve` until shutdown. Configuration problems are printed and give exit code 1.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let startup = Arc::new(StartupPhases::new(Instant::now()));
    let mut config = match config::load_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    args.listen.apply(&mut config);
    let base_dir = args.config.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    if args.etcd.is_set() {
        args.etcd.apply(&mut config);
        let problems = config.inventory.validate("inventory", &base_dir);
        if !problems.is_empty() || config.inventory.etcd.is_none() {
            eprintln!(
                "{}: the etcd flags do not make a valid configuration:",
                args.config.display()
            );
            if config.inventory.etcd.is_none() {
                eprintln!("  --etcd-prefix and --instance-id need --etcd or [inventory.etcd]");
            }
            for p in problems {
                eprintln!("  {p}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    let token = token::load_token(
        std::env::var(token::TOKEN_ENV).ok(),
        config.admin.token_file.as_ref().map(|f| base_dir.join(f)).as_deref(),
    )?;
    token::check_exposure(config.listen.admin, config.admin.mutations_enabled, token.as_ref())?;
    let audit = match &config.admin.audit_file {
        Some(file) => AuditLog::open(&base_dir.join(file))?,
        None => AuditLog::log_only(),
    };

    let metrics = Metrics::new();
    metrics.register(|r| {
        logging::register_metrics(r);
        telemetry::register_metrics(r);
        startup.register(r);
    });
    telemetry::start(&config.telemetry)?;
    let (app, feed) =
        App::new(args.config.clone(), config, args.listen.clone(), args.etcd.clone(), metrics);
    startup.finish(Phase::Config, startup.origin());
    let admin = Admin { token, audit: Arc::new(audit), startup: startup.clone() };
    let served = match Server::bind(Arc::new(app), feed, admin).await {
        Ok(server) => server.run(Duration::from_millis(args.startup_delay_ms)).await,
        Err(e) => Err(e),
    };
    // Spans still waiting are sent (within a bound) before the process exits.
    if telemetry::on() {
        let _ = tokio::task::spawn_blocking(|| telemetry::shutdown(TELEMETRY_FLUSH)).await;
    }
    served
}

/// How long the spans still waiting at exit may take to be sent.
const TELEMETRY_FLUSH: Duration = Duration::from_secs(3);

/// A server whose listeners are bound and whose health endpoints already answer.
struct Server {
    app: Arc<App>,
    feed: InventoryFeed,
    health: HealthRegistry,
    tokens: ShutdownTokens,
    listeners: JoinSet<()>,
    background: JoinSet<()>,
    gates: Gates,
    shutdown: ShutdownSignal,
    admin_addr: std::net::SocketAddr,
    startup: Arc<StartupPhases>,
    /// Fired when the first routing table is installed.
    table_ready: CancellationToken,
}

/// What the admin listener is given besides the application state.
struct Admin {
    token: Option<AdminToken>,
    audit: Arc<AuditLog>,
    startup: Arc<StartupPhases>,
}

/// One-way readiness gates opened by the start-up work.
struct Gates {
    inventory: ReadinessGate,
    routing_table: ReadinessGate,
    started: ReadinessGate,
}

/// How often resident memory is read for the watermark.
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_millis(500);

impl Server {
    async fn bind(app: Arc<App>, feed: InventoryFeed, admin: Admin) -> anyhow::Result<Self> {
        let began = Instant::now();
        let config = app.config.load_full();
        let tokens = ShutdownTokens::default();
        let health = config.health.registry_builder().build();
        let heartbeat = switchyard_health::Heartbeat::spawn(config.health.heartbeat());
        health.register(Endpoints::LIVEZ, heartbeat.check("event-loop"))?;
        health.register(Endpoints::READYZ, Check::new("config", || async { Ok(()) }))?;
        let gates = Gates {
            inventory: health.readiness_gate("inventory")?,
            routing_table: health.readiness_gate("routing-table")?,
            started: health.readiness_gate("started")?,
        };
        let maintenance = app.maintenance.clone();
        health.register(
            Endpoints::READYZ,
            Check::new("maintenance", move || {
                let verdict = maintenance.check().map_err(CheckError::new);
                async move { verdict }
            }),
        )?;
        let shutdown = health.shutdown_check()?;
        let memory = config.health.memory_watermark();
        if let Some(memory) = &memory {
            memory.spawn_sampler(MEMORY_SAMPLE_EVERY);
            health.register(Endpoints::READYZ, memory.check("memory"))?;
            tracing::info!(limit_bytes = memory.limit(), "memory watermark on");
        }
        app.metrics.register_prefixed(|r| health.register_metrics(r));

        let Admin { token, audit, startup } = admin;
        let ctx = AdminContext {
            app: app.clone(),
            auth: Arc::new(AuthPolicy { token, mutations_enabled: config.admin.mutations_enabled }),
            audit,
            startup: startup.clone(),
            stop: tokens.stop_accepting.clone(),
        };
        let health_router = switchyard_health::axum::router(health.clone());
        let mut listeners = JoinSet::new();
        let stop = &tokens.stop_accepting;
        // Fired once the first routing table is installed: traffic listeners on named ports,
        // shared with a process they take over from, start taking connections then.
        let table_ready = CancellationToken::new();
        let admin_tls = match &config.admin.tls {
            Some(tls) => Some(tls_server(&app, Listener::Admin, tls, None, "admin.tls")?),
            None => None,
        };
        let admin_addr =
            admin::spawn(&mut listeners, config.listen.admin, ctx, health_router, stop, admin_tls)
                .await
                .context("admin listener")?;
        tracing::info!(addr = %admin_addr, tls = config.admin.tls.is_some(), "admin listener ready");

        let https = match (config.listen.https, &config.http.tls) {
            (None, _) => None,
            (Some(addr), Some(tls)) => {
                let table = Some(app.routing.table());
                Some((addr, tls_server(&app, Listener::Https, tls, table, "http.tls")?))
            }
            (Some(_), None) => {
                anyhow::bail!("listen.https needs [http.tls]: the certificates to serve")
            }
        };
        if config.listen.http.is_some() || https.is_some() {
            let ctx =
                traffic::TrafficContext::new(app.routing.table()).with_samples(app.samples.clone());
            let (front, overload) = traffic::front_end(ctx, &config.http, &app.metrics);
            if let Some(memory) = &memory {
                overload.shed_above(memory.clone());
            }
            health.register(
                Endpoints::READYZ,
                Check::immediate("overloaded", move || overload.check().map_err(CheckError::new)),
            )?;
            let threads = config.http.worker_threads as usize;
            if let Some(addr) = config.listen.http {
                let bound = traffic::listener::spawn(
                    &mut listeners,
                    addr,
                    front.clone(),
                    stop,
                    &table_ready,
                    threads,
                    None,
                )
                .await
                .context("HTTP traffic listener")?;
                tracing::info!(addr = %bound, worker_threads = threads, "http listener ready");
            }
            if let Some((addr, tls)) = https {
                let bound = traffic::listener::spawn(
                    &mut listeners,
                    addr,
                    front,
                    stop,
                    &table_ready,
                    threads,
                    Some(tls),
                )
                .await
                .context("HTTPS traffic listener")?;
                tracing::info!(addr = %bound, worker_threads = threads, "https listener ready");
            }
        }
        if let Some(addr) = config.listen.grpc_health {
            let bound = admin::grpc::spawn(&mut listeners, addr, &health, stop).await?;
            tracing::info!(addr = %bound, "grpc-health listener ready");
        }
        if let Some(addr) = config.listen.dns {
            let bound = crate::dns::spawn_sampled(
                &mut listeners,
                addr,
                &config.dns,
                app.routing.table(),
                app.samples.clone(),
                memory.clone(),
                &app.metrics,
                stop.clone(),
                table_ready.clone(),
            )
            .await
            .context("DNS listener")?;
            tracing::info!(addr = %bound, "dns listener ready");
        }
        startup.finish(Phase::Bind, began);

        Ok(Self {
            app,
            feed,
            health,
            tokens,
            listeners,
            background: JoinSet::new(),
            gates,
            shutdown,
            admin_addr,
            startup,
            table_ready,
        })
    }

    async fn run(mut self, startup_delay: Duration) -> anyhow::Result<ExitCode> {
        let config = self.app.config.load_full();
        let delay = secs(config.lifecycle.shutdown_delay_seconds);
        let shutdown = self.shutdown.clone();
        let signals = lifecycle::Signals::install()
            .inspect_err(|e| {
                tracing::error!(
                    "cannot install the SIGTERM/SIGINT handlers, shutdown only via the admin \
                     API: {e}"
                )
            })
            .ok();
        let sequence = tokio::spawn(lifecycle::run_signal_sequence(
            self.tokens.clone(),
            delay,
            signals,
            move || {
                shutdown.begin();
            },
        ));
        self.background.spawn(reload_on_sighup(self.app.clone(), self.tokens.begun.clone()));

        // Start-up work runs after bind; readiness gates on it.
        tokio::select! {
            _ = tokio::time::sleep(startup_delay) => {}
            _ = self.tokens.begun.cancelled() => {}
        }
        if let Err(e) = self.startup().await {
            // Nothing may keep answering from a process that failed to start: stop every
            // listener (the DNS threads leave within their stop poll) and exit with the error.
            sequence.abort();
            self.tokens.begun.cancel();
            self.tokens.stop_accepting.cancel();
            lifecycle::drain(std::mem::take(&mut self.listeners), Duration::ZERO).await;
            self.stop_background().await;
            return Err(e);
        }

        let _ = sequence.await;
        let drain_timeout = secs(self.app.config.load().lifecycle.drain_timeout_seconds);
        let left = lifecycle::drain(std::mem::take(&mut self.listeners), drain_timeout).await;
        self.stop_background().await;
        tracing::info!(abandoned_listeners = left, "shutdown complete");
        Ok(ExitCode::SUCCESS)
    }

    async fn stop_background(&mut self) {
        self.tokens.background.cancel();
        self.background.abort_all();
        while self.background.join_next().await.is_some() {}
    }

    /// Starts the probe engine, the installer and the inventory source (files, or etcd with
    /// its cluster task), and waits until the first routing table is published. Holds the
    /// reload lock meanwhile, so a reload that arrives during start-up follows it rather than
    /// racing it.
    async fn startup(&mut self) -> anyhow::Result<()> {
        let app = self.app.clone();
        let began = Instant::now();
        let _no_reload = app.reload_lock.lock().await;
        let config = app.config.load_full();
        let etcd = config.inventory.etcd.clone();
        let engine = self.start_prober(&config, etcd.is_none()).await?;
        let (feed, source) = match &etcd {
            None => (self.feed.clone(), None),
            Some(etcd) => {
                let (source, feed) = self.start_etcd(&config, etcd.clone()).await?;
                (feed, Some(source))
            }
        };
        let installer = Installer::spawn(
            feed.clone(),
            app.routing.clone(),
            engine.clone(),
            Arc::new(config.probe.clone()),
            source.is_none(),
            self.tokens.background.clone(),
        );
        let _ = app.installer.set(installer.clone());
        let version = match source {
            None => {
                let inventory =
                    app.inventory.load(&config.inventory).await.context("loading the inventory")?;
                log_inventory(&inventory);
                app.inventory.publish(inventory)
            }
            Some(source) => {
                let cluster =
                    self.start_cluster(source, feed.clone(), installer.clone(), &engine)?;
                let _ = app.cluster.set(cluster);
                let mut first = feed.clone();
                tracing::info!("waiting for the first inventory from etcd (or its cache file)");
                let ready = tokio::select! {
                    got = first.wait_for(Option::is_some) => got.ok().and_then(|i| i.clone()),
                    _ = self.tokens.begun.cancelled() => None,
                };
                // Shutdown before etcd ever answered: nothing to serve, let the sequence run.
                let Some(inventory) = ready else { return Ok(()) };
                log_inventory(&inventory);
                inventory.version
            }
        };
        self.gates.inventory.open();
        self.startup.finish(Phase::Inventory, began);
        let began = Instant::now();
        installer
            .installed(version)
            .await
            .map_err(|e| anyhow::anyhow!("building the routing table: {e}"))?;
        self.gates.routing_table.open();
        self.startup.finish(Phase::RoutingTable, began);
        self.table_ready.cancel();
        let began = Instant::now();

        // The targets are applied by the engine's task; until then its counters read "no
        // nodes", which the warm-up check would take for a warm empty fleet.
        engine.sync().await.context("starting the probe engine")?;
        let probe = &config.probe;
        self.health.register(Endpoints::READYZ, prober::warm_check(engine.clone(), probe.warm))?;
        let stall = probe.scheduler_stall_limit();
        self.health.register(Endpoints::LIVEZ, prober::scheduler_check(engine.clone(), stall))?;
        tracing::info!(targets = engine.stats().nodes, "probe engine started");
        self.gates.started.open();
        tracing::info!("start-up complete");
        let (startup, stop) = (self.startup.clone(), self.tokens.background.clone());
        self.background.spawn(async move {
            if admin::startup::first_probe_round(&engine, &stop).await {
                startup.finish(Phase::FirstProbes, began);
                let total = startup.view().total_seconds.unwrap_or_default();
                tracing::info!(
                    startup_ms = (total * 1000.0) as u64,
                    "first probe round done: every target has a result"
                );
            }
        });
        Ok(())
    }

    /// Starts the etcd source: local coverage zones and GeoIP first, then the source's tasks.
    async fn start_etcd(
        &mut self,
        config: &Config,
        etcd: switchyard_fleet::etcd::EtcdConfig,
    ) -> anyhow::Result<(switchyard_fleet::etcd::EtcdSource, InventoryFeed)> {
        use switchyard_fleet::etcd::{EtcdMetrics, EtcdSource, LocalFiles, PASSWORD_ENV, Password};
        let base_dir = self.app.base_dir();
        let local =
            self.app.inventory.load(&config.inventory).await.context("loading the inventory")?;
        let local = LocalFiles { geo: local.geo, coverage: local.coverage };
        let password = Password::load(&etcd, &base_dir, std::env::var(PASSWORD_ENV).ok())
            .map_err(|e| anyhow::anyhow!(e))?;
        let metrics = EtcdMetrics::default();
        self.app.metrics.register_prefixed(|r| metrics.register(r));
        tracing::info!(
            endpoints = ?etcd.endpoints,
            prefix = %etcd.prefix,
            instance = %etcd.instance(),
            "inventory from etcd"
        );
        let stop = self.tokens.background.clone();
        let (source, feed) = EtcdSource::start(etcd, base_dir, password, local, metrics, stop);
        source.set_admin_address(self.admin_addr.to_string());
        Ok((source, feed))
    }

    /// Starts the task that shares the probing with the other members and routes from the
    /// merged verdicts; registers the staleness readiness check.
    fn start_cluster(
        &mut self,
        source: switchyard_fleet::etcd::EtcdSource,
        feed: InventoryFeed,
        installer: Installer,
        engine: &switchyard_probe::EngineHandle,
    ) -> anyhow::Result<Cluster> {
        let stale_gauge = prometheus_client::metrics::gauge::Gauge::default();
        self.app.metrics.register(|r| {
            r.register(
                "inventory_stale",
                "1 while the inventory is stale: no contact with etcd for stale_after_seconds",
                stale_gauge.clone(),
            );
        });
        let fail_when_stale = source.config().fail_readiness_when_stale;
        let inputs = cluster::Inputs {
            source,
            feed,
            snapshots: engine.subscribe(),
            installer,
            routing: self.app.routing.clone(),
            maintenance: self.app.maintenance.clone(),
            stale_gauge,
        };
        let cluster = cluster::spawn(inputs, self.tokens.background.clone());
        let (check, warn) = (cluster.clone(), cluster.clone());
        let stale = |silence: Duration| {
            format!("inventory stale: no contact with etcd for {}s", silence.as_secs())
        };
        self.health.register(
            Endpoints::READYZ,
            Check::immediate("etcd-inventory", move || match check.stale_for() {
                Some(silence) if fail_when_stale => Err(CheckError::new(stale(silence))),
                _ => Ok(()),
            })
            // Passing while stale (the default): said beside the pass, so an operator
            // reading `/readyz?verbose` sees the last-known-good inventory in use.
            .warn_when(move || {
                warn.stale_for().map(|s| format!("{}; serving the last known good", stale(s)))
            }),
        )?;
        Ok(cluster)
    }

    /// Starts the probe engine with no targets (the installer gives it the inventory's) and
    /// feeds its snapshots to the routing table.
    /// In etcd mode (`follow` false) the cluster task feeds the routing table instead, with
    /// the merged verdicts.
    async fn start_prober(
        &mut self,
        config: &Config,
        follow: bool,
    ) -> anyhow::Result<switchyard_probe::EngineHandle> {
        let mut engine_config = config.probe.engine.clone();
        if telemetry::on() {
            engine_config.rounds = switchyard_probe::Rounds::to(Arc::new(telemetry::ProbeRounds));
        }
        self.app.metrics.register_prefixed(|r| engine_config.metrics.register(r));
        let engine = ProbeEngine::start(engine_config, Vec::new(), self.tokens.background.clone())
            .context("starting the probe engine")?;
        if follow {
            self.background.spawn(prober::follow_health(
                engine.subscribe(),
                self.app.routing.clone(),
                self.tokens.background.clone(),
            ));
        }
        let _ = self.app.prober.set(engine.clone());
        Ok(engine)
    }
}

/// The TLS server of a listener, its certificates read now; a file that cannot be used is
/// a start-up error naming its key.
fn tls_server(
    app: &App,
    listener: Listener,
    config: &crate::tls::TlsConfig,
    table: Option<Arc<arc_swap::ArcSwap<switchyard_route::RoutingTable>>>,
    at: &str,
) -> anyhow::Result<crate::tls::TlsServer> {
    app.tls.acceptor(listener, config, &app.base_dir(), table, &app.metrics).map_err(|problems| {
        let list: Vec<String> = problems.into_iter().map(|p| p.under(at).to_string()).collect();
        anyhow::anyhow!("{at}: {}", list.join("; "))
    })
}

fn log_inventory(inventory: &switchyard_fleet::Inventory) {
    tracing::info!(
        nodes = inventory.spec.nodes.len(),
        zones = inventory.spec.zones.len(),
        services = inventory.spec.services.len(),
        coverage_zones = inventory.coverage.zones().len(),
        origin = ?inventory.origin,
        load_ms = inventory.load_duration.as_millis() as u64,
        "inventory loaded"
    );
}

/// Reloads the configuration on every SIGHUP until shutdown begins.
async fn reload_on_sighup(app: Arc<App>, stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(
                "cannot install the SIGHUP handler, reload only via the admin API: {e}"
            );
            return;
        }
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            got = hup.recv() => if got.is_none() { return },
        }
        tracing::info!("SIGHUP: reloading the configuration");
        // The outcome is logged and counted by `reload`.
        let _ = app.reload().await;
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}
