//! Bearer-token protection for the mutating `/admin/*` endpoints.
//!
//! The token comes from `SWITCHYARD_ADMIN_TOKEN` or the configured token file. It is compared
//! in constant time and never appears in logs or `Debug` output.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error_response;

/// Name of the environment variable that carries the admin token.
pub const TOKEN_ENV: &str = "SWITCHYARD_ADMIN_TOKEN";

/// The admin bearer token.
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// Wraps a token; empty or whitespace-only tokens are rejected.
    pub fn new(token: &str) -> Option<Self> {
        let t = token.trim();
        (!t.is_empty()).then(|| Self(Arc::from(t)))
    }

    /// Constant-time comparison. Only the token's length can leak through timing.
    pub fn matches(&self, presented: &str) -> bool {
        let a = self.0.as_bytes();
        let b = presented.as_bytes();
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

/// Where the admin token is read from, in order of precedence.
pub fn load_token(
    env_value: Option<String>,
    token_file: Option<&Path>,
) -> anyhow::Result<Option<AdminToken>> {
    if let Some(v) = env_value {
        return match AdminToken::new(&v) {
            Some(t) => Ok(Some(t)),
            None => anyhow::bail!("{TOKEN_ENV} is set but empty"),
        };
    }
    let Some(path) = token_file else { return Ok(None) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("admin.token_file {}: {e}", path.display()))?;
    match AdminToken::new(&text) {
        Some(t) => Ok(Some(t)),
        None => anyhow::bail!("admin.token_file {} is empty", path.display()),
    }
}

/// Refuses a configuration that would expose unauthenticated mutations off the machine.
pub fn check_exposure(
    admin: SocketAddr,
    mutations_enabled: bool,
    token: Option<&AdminToken>,
) -> anyhow::Result<()> {
    if mutations_enabled && token.is_none() && !admin.ip().is_loopback() {
        anyhow::bail!(
            "the admin listener {admin} is not on loopback and admin mutations are enabled, but no \
             admin token is set: set {TOKEN_ENV} or admin.token_file, or set \
             admin.mutations_enabled = false"
        );
    }
    Ok(())
}

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
