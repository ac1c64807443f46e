//! The admin listener: self-health endpoints, `/metrics`, and the token-protected `/admin/*`
//! API. It is separate from the traffic listeners so it keeps answering under load.

pub mod audit;
pub mod auth;
mod context;
mod crs;
mod debug;
mod etag;
pub mod grpc;
mod loglevel;
mod nodes;
mod page;
mod profile;
mod respond;
mod samples;
pub mod startup;

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::maintenance::Source;
use crate::metrics::Format;
use audit::Actor;
pub use context::AdminContext;
pub use respond::{error_response, parse_json};

/// Binds `addr` and serves the admin router (with `health`'s endpoints) until `stop` fires,
/// then drains gracefully; over TLS only when `tls` is given. Returns the bound address
/// (useful with port 0).
pub async fn spawn(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    ctx: AdminContext,
    health: Router,
    stop: &CancellationToken,
    tls: Option<crate::tls::TlsServer>,
) -> anyhow::Result<SocketAddr> {
    let listener = crate::net::bind_tokio(addr).with_context(|| format!("cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    let service = router(ctx, health).into_make_service_with_connect_info::<SocketAddr>();
    let stop = stop.clone();
    let done = stop.clone().cancelled_owned();
    let report = move |served: std::io::Result<()>| {
        if let Err(e) = served {
            tracing::error!(addr = %local, "listener failed: {e}");
        }
    };
    match tls {
        None => set.spawn(async move {
            report(axum::serve(listener, service).with_graceful_shutdown(done).await)
        }),
        Some(tls) => {
            use axum::serve::ListenerExt;
            // `tap_io` gives the listener axum's `ConnectInfo<SocketAddr>`.
            let listener =
                crate::tls::listener::TlsListener::spawn(listener, tls, stop)?.tap_io(|_| {});
            set.spawn(async move {
                report(axum::serve(listener, service).with_graceful_shutdown(done).await)
            })
        }
    };
    Ok(local)
}

/// Builds the admin router. `health` serves `/livez`, `/readyz`, `/healthz` and their
/// per-check paths.
pub fn router(ctx: AdminContext, health: Router) -> Router {
    let admin = Router::new()
        .route("/admin/maintenance", get(get_maintenance).post(post_maintenance))
        .route("/admin/reload", post(reload))
        .route("/admin/nodes/{id}", get(nodes::get_node).post(nodes::set_node))
        .route("/admin/log-level", get(loglevel::get_level).post(loglevel::set_level))
        .layer(axum::middleware::from_fn_with_state(ctx.auth.clone(), auth::require_token));
    // Debug endpoints that disclose more than a decision: the token even though the other
    // `/debug/*` reads need none.
    let sensitive = Router::new()
        .route("/debug/pprof/profile", get(profile::cpu))
        .route("/debug/replay/samples", get(samples::samples))
        .layer(axum::middleware::from_fn_with_state(
            ctx.auth.clone(),
            auth::require_token_or_loopback,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/localize", get(debug::localize))
        .route("/debug/pick", get(debug::pick))
        .route("/debug/startup", get(startup_phases))
        .route("/api/v1/fleet", get(nodes::fleet))
        .route("/api/v1/cluster", get(nodes::cluster))
        .merge(crs::router())
        .route("/api/v1/nodes/{id}", get(nodes::get_node))
        .route("/", get(page::index))
        .route("/ui/{file}", get(page::asset))
        .merge(admin)
        .merge(sensitive)
        .with_state(ctx)
        .merge(health)
}

/// `/metrics` in the format the `Accept` header negotiates: OpenMetrics when asked for,
/// else the Prometheus text format 0.0.4 ([`Format::negotiate`]).
async fn metrics(State(ctx): State<AdminContext>, headers: axum::http::HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let headers = [(header::CONTENT_TYPE, format.content_type()), (header::VARY, "Accept")];
    (headers, ctx.app.metrics.encode_as(format)).into_response()
}

/// `GET /debug/startup`: each start-up phase with its duration ([`startup::StartupPhases`]).
async fn startup_phases(State(ctx): State<AdminContext>) -> Response {
    axum::Json(ctx.startup.view()).into_response()
}

async fn get_maintenance(State(ctx): State<AdminContext>) -> Response {
    axum::Json(&*ctx.app.maintenance.get()).into_response()
}

/// Body of `POST /admin/maintenance`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceRequest {
    enabled: bool,
    #[serde(default)]
    reason: String,
}

async fn post_maintenance(State(ctx): State<AdminContext>, actor: Actor, body: Bytes) -> Response {
    let req: MaintenanceRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if req.enabled {
        tracing::warn!(reason = %req.reason, "maintenance mode on (admin API)");
    } else {
        tracing::info!("maintenance mode off (admin API)");
    }
    let before = maintenance_state(&ctx);
    let reason = req.reason.clone();
    ctx.app.maintenance.set(req.enabled, req.reason, Source::Admin);
    let after = maintenance_state(&ctx);
    ctx.audit.record(&actor.record("maintenance", before, after).reason(Some(&reason)));
    axum::Json(&*ctx.app.maintenance.get()).into_response()
}

/// This instance's maintenance switch, as audit records show it.
fn maintenance_state(ctx: &AdminContext) -> serde_json::Value {
    let state = ctx.app.maintenance.get();
    serde_json::to_value(&*state).unwrap_or(serde_json::Value::Null)
}

/// Optional body of `POST /admin/reload`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReloadRequest {
    #[serde(default)]
    reason: Option<String>,
}

async fn reload(State(ctx): State<AdminContext>, actor: Actor, body: Bytes) -> Response {
    let req: ReloadRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReloadRequest::default()
    } else {
        match parse_json(&body) {
            Ok(r) => r,
            Err(resp) => return resp,
        }
    };
    let before = config_state(&ctx);
    let result = ctx.app.reload().await;
    let record = actor.record("reload", before, config_state(&ctx)).reason(req.reason.as_deref());
    match result {
        Ok(report) => {
            ctx.audit.record(&record);
            axum::Json(report).into_response()
        }
        Err(e) => {
            const CODE: &str = "reload_refused";
            ctx.audit.record(&record.refused(CODE));
            error_response(StatusCode::UNPROCESSABLE_ENTITY, CODE, &e.to_string())
        }
    }
}

/// The configuration in force, as audit records show it: a fingerprint of the whole parsed
/// configuration (so any change shows, without writing out its secrets) and the inventory's
/// size.
fn config_state(ctx: &AdminContext) -> serde_json::Value {
    let config = ctx.app.config.load();
    let fingerprint = serde_json::to_vec(&**config)
        .map(|bytes| audit::fingerprint_bytes(&bytes))
        .unwrap_or_default();
    let (nodes, zones, services) = ctx
        .app
        .routing
        .inventory()
        .map(|i| (i.spec.nodes.len(), i.spec.zones.len(), i.spec.services.len()))
        .unwrap_or_default();
    serde_json::json!({
        "config_sha256": fingerprint,
        "nodes": nodes,
        "zones": zones,
        "services": services,
    })
}
