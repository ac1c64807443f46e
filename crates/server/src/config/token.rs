//! The admin bearer token: read from `SWITCHYARD_ADMIN_TOKEN` or `admin.token_file`, compared
//! in constant time, never shown in logs or `Debug` output; and the rule that refuses to
//! expose unauthenticated mutations off the machine.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use subtle::ConstantTimeEq;

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
