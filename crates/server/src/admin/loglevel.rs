//! `GET /admin/log-level` and `POST /admin/log-level`: the log filter in force, and replacing
//! it at run time (`{"filter": "info,switchyard_probe=debug", "reason": "..."}`). A filter
//! that does not parse is a 400 naming the directive at fault, and the old filter stays.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::audit::Actor;
use super::context::AdminContext;
use super::respond::{error_response, parse_json};
use crate::logging::{self, FilterError};

/// Body of `POST /admin/log-level`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogLevelRequest {
    filter: String,
    #[serde(default)]
    reason: Option<String>,
}

/// The answer when this process did not install its own subscriber (a library user's).
fn unavailable() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "log_control_unavailable",
        "this process did not install its own log subscriber",
    )
}

/// `GET /admin/log-level`: `{"filter": "<directives in force>"}`.
pub async fn get_level() -> Response {
    match logging::control() {
        Some(c) => axum::Json(json!({ "filter": c.current() })).into_response(),
        None => unavailable(),
    }
}

/// `POST /admin/log-level`: replaces the filter; answers `{"filter": new, "previous": old}`.
pub async fn set_level(State(ctx): State<AdminContext>, actor: Actor, body: Bytes) -> Response {
    let req: LogLevelRequest = match parse_json(&body) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(control) = logging::control() else { return unavailable() };
    match control.set(&req.filter) {
        Ok(previous) => {
            let now = control.current();
            ctx.audit.record(
                &actor
                    .record("log-level", json!(previous), json!(now))
                    .reason(req.reason.as_deref()),
            );
            axum::Json(json!({ "filter": now, "previous": previous })).into_response()
        }
        Err(e) => {
            let (status, code) = match e {
                FilterError::Empty | FilterError::Invalid { .. } => {
                    (StatusCode::BAD_REQUEST, "bad_filter")
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, "log_control_unavailable"),
            };
            let current = json!(control.current());
            ctx.audit.record(
                &actor
                    .record("log-level", current.clone(), current)
                    .reason(req.reason.as_deref())
                    .refused(code),
            );
            error_response(status, code, &format!("filter: {e}"))
        }
    }
}
