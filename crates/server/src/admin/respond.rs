//! The admin API's error bodies and strict JSON request parsing.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::views::ErrorView;

/// A JSON error body with a stable machine-readable code: `{"error":{"code":..,"message":..}}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(ErrorView::new(code, message))).into_response()
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
