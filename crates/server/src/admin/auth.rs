//! Bearer-token protection for the mutating `/admin/*` endpoints. The token itself (where it
//! comes from, how it is compared) lives with the configuration in [`crate::config::token`].

use std::sync::Arc;

use super::respond::error_response;
use crate::config::token::AdminToken;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What the auth middleware needs.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    /// The required token; `None` means open access (only allowed on loopback).
    pub token: Option<AdminToken>,
    /// When false, every mutating endpoint answers 403.
    pub mutations_enabled: bool,
}

/// Axum middleware for `/admin/*`: 401 with `WWW-Authenticate` when a token is configured and
/// the bearer token is missing or wrong; 403 for a mutation (any method but GET/HEAD) when
/// mutations are disabled.
pub async fn require_token(
    State(policy): State<Arc<AuthPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let mutation = !matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD);
    if mutation && !policy.mutations_enabled {
        return error_response(
            StatusCode::FORBIDDEN,
            "mutations_disabled",
            "admin mutations are disabled by admin.mutations_enabled = false",
        );
    }
    if let Some(token) = &policy.token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let ok = presented.is_some_and(|p| token.matches(p.trim()));
        if !ok {
            let mut resp = error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required",
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"switchyard-admin\""),
            );
            return resp.into_response();
        }
    }
    next.run(req).await
}
