//! `switchyard serve`: load the config, bind the listeners at once so the health endpoints
//! answer from the first millisecond, then do the slow start-up work while readiness gates on
//! it, and run until the shutdown sequence completes.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use switchyard_health::{Check, CheckError, Endpoints, HealthRegistry};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminContext, auth};
use crate::cli::{ListenOverrides, ServeArgs};
use crate::config::{self, Config};
use crate::lifecycle::{self, ShutdownTokens};
use crate::maintenance::{Maintenance, Source};
use crate::metrics::Metrics;

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

    let server = Server::bind(&config, token).await?;
    let startup_delay = Duration::from_millis(args.startup_delay_ms);
    server.run(config, startup_delay).await
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
    health: HealthRegistry,
    metrics: Metrics,
    maintenance: Maintenance,
    tokens: ShutdownTokens,
    listeners: JoinSet<()>,
    background: JoinSet<()>,
    started: switchyard_health::ReadinessGate,
    inventory: switchyard_health::ReadinessGate,
    shutdown: switchyard_health::ShutdownSignal,
}

impl Server {
    async fn bind(config: &Config, token: Option<auth::AdminToken>) -> anyhow::Result<Self> {
        let tokens = ShutdownTokens::default();
        let metrics = Metrics::new();
        let health = HealthRegistry::builder()
            .livez_grace_period(secs(config.health.livez_grace_period_seconds))
            .default_timeout(Duration::from_millis(config.health.check_timeout_ms))
            .build();
        let maintenance = Maintenance::new(
            config.maintenance.enabled,
            config.maintenance.reason.clone(),
            Source::Config,
        );

        let background = JoinSet::new();
        let heartbeat = switchyard_health::Heartbeat::spawn(switchyard_health::HeartbeatConfig {
            interval: Duration::from_millis(config.health.heartbeat_interval_ms),
            max_lag: Duration::from_millis(config.health.event_loop_stall_threshold_ms),
            ..Default::default()
        });
        health.register(Endpoints::LIVEZ, heartbeat.check("event-loop"))?;
        health.register(Endpoints::READYZ, Check::new("config", || async { Ok(()) }))?;
        let inventory = health.readiness_gate("inventory")?;
        let m = maintenance.clone();
        health.register(
            Endpoints::READYZ,
            Check::new("maintenance", move || {
                let verdict = m.check().map_err(CheckError::new);
                async move { verdict }
            }),
        )?;
        let shutdown = health.shutdown_check()?;
        let started = health.readiness_gate("started")?;
        metrics.register(|r| health.register_metrics(r));

        let ctx = AdminContext {
            metrics: metrics.clone(),
            maintenance: maintenance.clone(),
            auth: Arc::new(auth::AuthPolicy {
                token,
                mutations_enabled: config.admin.mutations_enabled,
            }),
        };
        let admin_router = admin::router(ctx, switchyard_health::axum::router(health.clone()));
        let mut listeners = JoinSet::new();
        let admin_addr =
            spawn_http(&mut listeners, config.listen.admin, admin_router, &tokens.stop_accepting)
                .await
                .context("admin listener")?;
        tracing::info!(addr = %admin_addr, "admin listener ready");

        Ok(Self {
            health,
            metrics,
            maintenance,
            tokens,
            listeners,
            background,
            started,
            inventory,
            shutdown,
        })
    }

    async fn run(mut self, config: Config, startup_delay: Duration) -> anyhow::Result<ExitCode> {
        let delay = secs(config.lifecycle.shutdown_delay_seconds);
        let shutdown = self.shutdown.clone();
        let tokens = self.tokens.clone();
        let sequence =
            tokio::spawn(lifecycle::run_signal_sequence(tokens.clone(), delay, move || {
                shutdown.begin();
            }));

        // Start-up work runs after bind; readiness gates on it.
        tokio::select! {
            _ = tokio::time::sleep(startup_delay) => {}
            _ = self.tokens.begun.cancelled() => {}
        }
        self.inventory.open();
        self.started.open();
        tracing::info!("start-up complete");
        let _ = (&self.health, &self.metrics, &self.maintenance);

        let _ = sequence.await;
        let left =
            lifecycle::drain(self.listeners, secs(config.lifecycle.drain_timeout_seconds)).await;
        self.tokens.background.cancel();
        while self.background.join_next().await.is_some() {}
        tracing::info!(abandoned_listeners = left, "shutdown complete");
        Ok(ExitCode::SUCCESS)
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

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}
