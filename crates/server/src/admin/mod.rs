//! The admin listener: self-health endpoints, `/metrics`, and the token-protected `/admin/*`
//! API. It is separate from the traffic listeners so it keeps answering under load.

pub mod auth;
mod debug;
mod nodes;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::app::App;
use crate::cli::ListenOverrides;
use crate::maintenance::Source;
use crate::metrics::OPENMETRICS_CONTENT_TYPE;
use auth::AuthPolicy;

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminContext {
    /// The application state.
    pub app: Arc<App>,
    /// Token and mutation policy for `/admin/*`.
    pub auth: Arc<AuthPolicy>,
    /// Command-line listener flags, kept across reloads.
    pub overrides: Arc<ListenOverrides>,
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
        .merge(admin)
        .with_state(ctx)
        .merge(health)
}

/// A JSON error body with a stable machine-readable code: `{"error":{"code":..,"message":..}}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// Parses a JSON request body strictly, answering 400 with serde's message (which names the
/// offending field and position) on any problem. The error is the finished response, handed
/// straight back by the handler, so its size does not matter.
#[allow(clippy::result_large_err)]
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error_response(StatusCode::BAD_REQUEST, "bad_request", &format!("invalid JSON body: {e}"))
    })
}

async fn metrics(State(ctx): State<AdminContext>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], ctx.app.metrics.encode()).into_response()
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
    match ctx.app.reload(&ctx.overrides).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => {
            error_response(StatusCode::UNPROCESSABLE_ENTITY, "reload_refused", &e.to_string())
        }
    }
}
