//! `switchyard serve`: load the config, bind the listeners at once so the health endpoints
//! answer from the first millisecond, then do the slow start-up work while readiness gates on
//! it, and run until the shutdown sequence completes.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use switchyard_health::{
    Check, CheckError, Endpoints, HealthRegistry, ReadinessGate, ShutdownSignal,
};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminContext, auth};
use crate::app::App;
use crate::cli::{ListenOverrides, ServeArgs};
use crate::config::{self, Config};
use crate::lifecycle::{self, ShutdownTokens};
use crate::metrics::Metrics;
use crate::prober;
use crate::traffic;
use switchyard_probe::ProbeEngine;

/// Runs `serve` until shutdown. Configuration problems are printed and give exit code 1.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = match config::load_file(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    apply_overrides(&mut config, &args.listen);
    let base_dir = args.config.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let token = auth::load_token(
        std::env::var(auth::TOKEN_ENV).ok(),
        config.admin.token_file.as_ref().map(|f| base_dir.join(f)).as_deref(),
    )?;
    auth::check_exposure(config.listen.admin, config.admin.mutations_enabled, token.as_ref())?;

    let app = Arc::new(App::new(args.config.clone(), config, Metrics::new()));
    let server = Server::bind(app, token, args.listen.clone()).await?;
    server.run(Duration::from_millis(args.startup_delay_ms)).await
}

/// Applies `--admin-listen` and friends over the file's values.
pub fn apply_overrides(config: &mut Config, o: &ListenOverrides) {
    if let Some(a) = o.admin_listen {
        config.listen.admin = a;
    }
    if let Some(a) = o.http_listen {
        config.listen.http = Some(a);
    }
    if let Some(a) = o.dns_listen {
        config.listen.dns = Some(a);
    }
}

/// A server whose listeners are bound and whose health endpoints already answer.
struct Server {
    app: Arc<App>,
    health: HealthRegistry,
    overrides: Arc<ListenOverrides>,
    tokens: ShutdownTokens,
    listeners: JoinSet<()>,
    background: JoinSet<()>,
    gates: Gates,
    shutdown: ShutdownSignal,
}

/// One-way readiness gates opened by the start-up work.
struct Gates {
    inventory: ReadinessGate,
    routing_table: ReadinessGate,
    started: ReadinessGate,
}

impl Server {
    async fn bind(
        app: Arc<App>,
        token: Option<auth::AdminToken>,
        overrides: ListenOverrides,
    ) -> anyhow::Result<Self> {
        let config = app.config.load_full();
        let tokens = ShutdownTokens::default();
        let health = HealthRegistry::builder()
            .livez_grace_period(secs(config.health.livez_grace_period_seconds))
            .default_timeout(Duration::from_millis(config.health.check_timeout_ms))
            .build();

        let heartbeat = switchyard_health::Heartbeat::spawn(switchyard_health::HeartbeatConfig {
            interval: Duration::from_millis(config.health.heartbeat_interval_ms),
            max_lag: Duration::from_millis(config.health.event_loop_stall_threshold_ms),
            ..Default::default()
        });
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
        app.metrics.register_prefixed(|r| health.register_metrics(r));

        let overrides = Arc::new(overrides);
        let ctx = AdminContext {
            app: app.clone(),
            auth: Arc::new(auth::AuthPolicy {
                token,
                mutations_enabled: config.admin.mutations_enabled,
            }),
            overrides: overrides.clone(),
        };
        let admin_router = admin::router(ctx, switchyard_health::axum::router(health.clone()));
        let mut listeners = JoinSet::new();
        let admin_addr =
            spawn_http(&mut listeners, config.listen.admin, admin_router, &tokens.stop_accepting)
                .await
                .context("admin listener")?;
        tracing::info!(addr = %admin_addr, "admin listener ready");

        if let Some(addr) = config.listen.http {
            let ctx = traffic::TrafficContext::new(app.routing.table());
            let (front, overload) = traffic::front_end(ctx, &config.http, &app.metrics);
            health.register(
                Endpoints::READYZ,
                Check::immediate("overloaded", move || overload.check().map_err(CheckError::new)),
            )?;
            let threads = config.http.worker_threads as usize;
            let bound = if threads == 0 {
                spawn_traffic(&mut listeners, addr, front, &tokens.stop_accepting).await
            } else {
                spawn_traffic_own_runtime(
                    &mut listeners,
                    addr,
                    front,
                    &tokens.stop_accepting,
                    threads,
                )
            }
            .context("HTTP traffic listener")?;
            tracing::info!(addr = %bound, worker_threads = threads, "http listener ready");
        }
        if let Some(addr) = config.listen.grpc_health {
            let bound =
                spawn_grpc_health(&mut listeners, addr, &health, &tokens.stop_accepting).await?;
            tracing::info!(addr = %bound, "grpc-health listener ready");
        }
        if let Some(addr) = config.listen.dns {
            let bound = crate::dns::spawn(
                &mut listeners,
                addr,
                &config.dns,
                app.routing.table(),
                &app.metrics,
                tokens.stop_accepting.clone(),
            )
            .await
            .context("DNS listener")?;
            tracing::info!(addr = %bound, "dns listener ready");
        }

        Ok(Self {
            app,
            health,
            overrides,
            tokens,
            listeners,
            background: JoinSet::new(),
            gates,
            shutdown,
        })
    }

    async fn run(mut self, startup_delay: Duration) -> anyhow::Result<ExitCode> {
        let config = self.app.config.load_full();
        let delay = secs(config.lifecycle.shutdown_delay_seconds);
        let shutdown = self.shutdown.clone();
        let sequence =
            tokio::spawn(lifecycle::run_signal_sequence(self.tokens.clone(), delay, move || {
                shutdown.begin();
            }));
        self.background.spawn(reload_on_sighup(
            self.app.clone(),
            self.overrides.clone(),
            self.tokens.begun.clone(),
        ));

        // Start-up work runs after bind; readiness gates on it.
        tokio::select! {
            _ = tokio::time::sleep(startup_delay) => {}
            _ = self.tokens.begun.cancelled() => {}
        }
        if let Err(e) = self.startup(&config).await {
            // Nothing may keep answering from a process that failed to start: stop every
            // listener (the DNS threads leave within their stop poll) and exit with the error.
            sequence.abort();
            self.tokens.begun.cancel();
            self.tokens.stop_accepting.cancel();
            lifecycle::drain(self.listeners, Duration::ZERO).await;
            self.tokens.background.cancel();
            self.background.abort_all();
            while self.background.join_next().await.is_some() {}
            return Err(e);
        }

        let _ = sequence.await;
        let drain_timeout = secs(self.app.config.load().lifecycle.drain_timeout_seconds);
        let left = lifecycle::drain(self.listeners, drain_timeout).await;
        self.tokens.background.cancel();
        self.background.abort_all();
        while self.background.join_next().await.is_some() {}
        tracing::info!(abandoned_listeners = left, "shutdown complete");
        Ok(ExitCode::SUCCESS)
    }

    /// Loads the inventory and publishes the first routing table.
    async fn startup(&mut self, config: &Config) -> anyhow::Result<()> {
        let inventory = self.app.load_inventory(config).await.context("loading the inventory")?;
        tracing::info!(
            nodes = inventory.spec.nodes.len(),
            zones = inventory.spec.zones.len(),
            services = inventory.spec.services.len(),
            coverage_zones = inventory.coverage.zones().len(),
            load_ms = inventory.load_duration.as_millis() as u64,
            "inventory loaded"
        );
        self.gates.inventory.open();
        let spec = inventory.spec.clone();
        self.app.routing.install(inventory).context("building the routing table")?;
        self.gates.routing_table.open();
        self.start_prober(config, &spec).await?;
        self.gates.started.open();
        tracing::info!("start-up complete");
        Ok(())
    }
}

impl Server {
    /// Starts the probe engine on the inventory's nodes and feeds its snapshots to the
    /// routing table. Readiness gains `probes-warm`, liveness `probe-scheduler`.
    async fn start_prober(
        &mut self,
        config: &Config,
        fleet: &switchyard_route::FleetSpec,
    ) -> anyhow::Result<()> {
        let probe = &config.probe;
        let engine_config = probe.engine.clone();
        self.app.metrics.register_prefixed(|r| engine_config.metrics.register(r));
        let targets = probe.targets(fleet);
        let count = targets.len();
        let engine = ProbeEngine::start(engine_config, targets, self.tokens.background.clone())
            .context("starting the probe engine")?;
        // The initial targets are applied by the engine's task; until then its counters read
        // "no nodes", which the warm-up check would take for a warm empty fleet.
        engine.sync().await.context("starting the probe engine")?;
        self.health.register(Endpoints::READYZ, prober::warm_check(engine.clone(), probe.warm))?;
        let stall = prober::scheduler_stall_limit(probe);
        self.health.register(Endpoints::LIVEZ, prober::scheduler_check(engine.clone(), stall))?;
        self.background.spawn(prober::follow_health(
            engine.subscribe(),
            self.app.clone(),
            self.tokens.background.clone(),
        ));
        let _ = self.app.prober.set(engine);
        tracing::info!(targets = count, "probe engine started");
        Ok(())
    }
}

/// Reloads the configuration on every SIGHUP until shutdown begins.
async fn reload_on_sighup(app: Arc<App>, overrides: Arc<ListenOverrides>, stop: CancellationToken) {
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
        let _ = app.reload(&overrides).await;
    }
}

/// Binds `addr` and serves `router` on it until `stop` fires, then drains gracefully.
/// Returns the bound address (useful with port 0).
async fn spawn_http(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    router: Router,
    stop: &CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    let stop = stop.clone();
    set.spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let served =
            axum::serve(listener, service).with_graceful_shutdown(stop.cancelled_owned()).await;
        if let Err(e) = served {
            tracing::error!(addr = %local, "listener failed: {e}");
        }
    });
    Ok(local)
}

/// Serves `grpc.health.v1.Health` mirroring readyz (re-evaluated on every readiness change
/// and at least once a second) until `stop`.
async fn spawn_grpc_health(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    health: &HealthRegistry,
    stop: &CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("grpc-health: cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    let (service, mirror) =
        switchyard_health::grpc::health_service(health, Duration::from_secs(1)).await;
    let stop = stop.clone();
    set.spawn(async move {
        let _mirror = mirror;
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let served = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(addr = %local, "grpc-health listener failed: {e}");
        }
    });
    Ok(local)
}

/// Binds `addr` and serves the traffic front end on it until `stop` fires, then drains.
async fn spawn_traffic(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    front: Arc<traffic::FrontEnd>,
    stop: &CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    set.spawn(front.serve(listener, stop.clone()));
    Ok(local)
}

/// Like [`spawn_traffic`], but serves on a dedicated runtime of `threads` workers in its own
/// OS thread, so traffic and the admin/prober runtime do not compete for the same workers
/// (and a benchmark can pin the traffic threads).
fn spawn_traffic_own_runtime(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    front: Arc<traffic::FrontEnd>,
    stop: &CancellationToken,
    threads: usize,
) -> anyhow::Result<SocketAddr> {
    let std_listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot bind {addr}"))?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    // One worker: a current-thread runtime, so accepting and every connection share that
    // one thread with no scheduler hand-offs.
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("traffic-worker")
            .enable_all()
            .build()
    }
    .context("building the traffic runtime")?;
    let stop = stop.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new().name("traffic".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => return tracing::error!(addr = %local, "listener failed: {e}"),
            };
            front.serve(listener, stop).await;
        });
        let _ = done_tx.send(());
    })?;
    set.spawn(async move {
        let _ = done_rx.await;
    });
    Ok(local)
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}
