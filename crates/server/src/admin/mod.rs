//! The admin listener: self-health endpoints, `/metrics`, and the token-protected `/admin/*`
//! API. It is separate from the traffic listeners so it keeps answering under load.

pub mod auth;
mod context;
mod crs;
mod debug;
mod etag;
pub mod grpc;
mod nodes;
mod page;
mod respond;

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
pub use context::AdminContext;
pub use respond::{error_response, parse_json};

/// Binds `addr` and serves the admin router (with `health`'s endpoints) until `stop` fires,
/// then drains gracefully. Returns the bound address (useful with port 0).
pub async fn spawn(
    set: &mut JoinSet<()>,
    addr: SocketAddr,
    ctx: AdminContext,
    health: Router,
    stop: &CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let listener =
        crate::net::bind_tokio(addr).with_context(|| format!("cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    let router = router(ctx, health);
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

/// Builds the admin router. `health` serves `/livez`, `/readyz`, `/healthz` and their
/// per-check paths.
pub fn router(ctx: AdminContext, health: Router) -> Router {
    let admin = Router::new()
        .route("/admin/maintenance", get(get_maintenance).post(post_maintenance))
        .route("/admin/reload", post(reload))
        .route("/admin/nodes/{id}", get(nodes::get_node).post(nodes::set_node))
        .layer(axum::middleware::from_fn_with_state(ctx.auth.clone(), auth::require_token));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/debug/localize", get(debug::localize))
        .route("/debug/pick", get(debug::pick))
        .route("/api/v1/fleet", get(nodes::fleet))
        .route("/api/v1/cluster", get(nodes::cluster))
        .merge(crs::router())
        .route("/api/v1/nodes/{id}", get(nodes::get_node))
        .route("/", get(page::index))
        .route("/ui/{file}", get(page::asset))
        .merge(admin)
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

async fn post_maintenance(State(ctx): State<AdminContext>, body: Bytes) -> Response {
    let req: MaintenanceRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if req.enabled {
        tracing::warn!(reason = %req.reason, "maintenance mode on (admin API)");
    } else {
        tracing::info!("maintenance mode off (admin API)");
    }
    ctx.app.maintenance.set(req.enabled, req.reason, Source::Admin);
    axum::Json(&*ctx.app.maintenance.get()).into_response()
}

async fn reload(State(ctx): State<AdminContext>) -> Response {
    match ctx.app.reload().await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => {
            error_response(StatusCode::UNPROCESSABLE_ENTITY, "reload_refused", &e.to_string())
        }
    }
}
