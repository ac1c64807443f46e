//! The admin bearer token: read from `SWITCHYARD_ADMIN_TOKEN` or `admin.token_file`, compared
//! in constant time (its length included), never shown in logs or `Debug` output; and the
//! rule that refuses to expose unauthenticated mutations off the machine.

use std::net::SocketAddr;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Name of the environment variable that carries the admin token.
pub const TOKEN_ENV: &str = "SWITCHYARD_ADMIN_TOKEN";

/// The admin bearer token, kept only as its SHA-256 digest: a presented token is hashed and
/// the two digests are compared in constant time, so neither the token's bytes nor its
/// length can be learned from how long a refusal takes, and the token itself is not kept
/// in memory after start-up.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// Wraps a token; empty or whitespace-only tokens are rejected.
    pub fn new(token: &str) -> Option<Self> {
        let t = token.trim();
        (!t.is_empty()).then(|| Self(digest(t)))
    }

    /// Whether `presented` is the token. The time taken depends only on the presented
    /// token's length (hashing it), never on the configured token or how much of it matches.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(self.0[..].ct_eq(&digest(presented)[..]))
    }
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(&Sha256::digest(token.as_bytes()));
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let t = AdminToken::new("  correct-horse-battery  \n").unwrap();
        assert!(t.matches("correct-horse-battery"));
        for wrong in [
            "",
            "c",
            "correct-horse-batter",
            "correct-horse-battery ",
            "correct-horse-batteryX",
            "Correct-horse-battery",
            "correct-horse-battery-correct-horse-battery",
        ] {
            assert!(!t.matches(wrong), "{wrong:?} must not match");
        }
        assert!(AdminToken::new(" \t\n").is_none());
    }

    /// The stored form is a digest: the comparison runs over 32 bytes whatever the lengths,
    /// so a prefix, a longer string or one of another length costs the same compare.
    #[test]
    fn the_token_is_kept_as_a_digest_and_never_printed() {
        let t = AdminToken::new("marker-token-0123").unwrap();
        assert_eq!(t.0.len(), 32);
        assert!(!t.0.windows(6).any(|w| w == b"marker"));
        assert_eq!(format!("{t:?}"), "AdminToken(<redacted>)");
    }

    #[test]
    fn the_environment_wins_and_empty_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let t = load_token(Some("from-env".into()), Some(&file)).unwrap().unwrap();
        assert!(t.matches("from-env") && !t.matches("from-file"));
        let t = load_token(None, Some(&file)).unwrap().unwrap();
        assert!(t.matches("from-file"));
        assert!(load_token(Some("  ".into()), Some(&file)).is_err());
        std::fs::write(&file, "\n").unwrap();
        let e = load_token(None, Some(&file)).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        assert!(load_token(None, None).unwrap().is_none());
    }

    #[test]
    fn a_tokenless_mutating_admin_listener_must_be_on_loopback() {
        let token = AdminToken::new("t0ken-t0ken");
        let lo: SocketAddr = "127.0.0.1:9090".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9090".parse().unwrap();
        let v6: SocketAddr = "[::]:9090".parse().unwrap();
        assert!(check_exposure(lo, true, None).is_ok());
        assert!(check_exposure(any, true, None).is_err());
        assert!(check_exposure(v6, true, None).is_err());
        assert!(check_exposure(any, false, None).is_ok());
        assert!(check_exposure(any, true, token.as_ref()).is_ok());
    }
}
