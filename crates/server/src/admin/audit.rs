//! The audit log of admin mutations: one structured `tracing` event per mutation, with target
//! `switchyard::audit`, and the same record as one JSON line appended to `admin.audit_file`
//! when it is set.
//!
//! A record says who (the admin connection's peer address and a fingerprint of the bearer
//! token, never the token), what (`action`, the `node` for node states), the state before and
//! after, the caller's `reason` when the request gave one, and the `outcome` (`ok`, or the
//! error code the caller got). The file is written directly rather than through the log
//! filter, so `/admin/log-level` cannot switch auditing off.

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::auth::AuthPolicy;

/// The `tracing` target of audit events.
pub const TARGET: &str = "switchyard::audit";

/// Where audit records go besides the log.
#[derive(Debug, Default)]
pub struct AuditLog {
    file: Option<(PathBuf, Mutex<File>)>,
}

/// `admin.audit_file` cannot be opened for appending.
#[derive(Debug, thiserror::Error)]
#[error("admin.audit_file {}: cannot open for appending: {source}", path.display())]
pub struct AuditFileError {
    path: PathBuf,
    source: std::io::Error,
}

impl AuditLog {
    /// Records go to the log only.
    pub fn log_only() -> Self {
        Self::default()
    }

    /// Records also go to `path`, created if missing and always appended to.
    pub fn open(path: &Path) -> Result<Self, AuditFileError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| AuditFileError { path: path.to_owned(), source })?;
        Ok(Self { file: Some((path.to_owned(), Mutex::new(file))) })
    }

    /// Logs `record` and appends it to the file. A failed append is logged as an error; the
    /// mutation it describes has already happened.
    pub fn record(&self, record: &AuditRecord) {
        let before = record.before.to_string();
        let after = record.after.to_string();
        tracing::info!(
            target: TARGET,
            time = %record.time,
            client = %record.client,
            token_fingerprint = %record.token_fingerprint,
            action = record.action,
            node = record.node.as_deref(),
            before = %before,
            after = %after,
            reason = record.reason.as_deref(),
            outcome = %record.outcome,
            "admin mutation"
        );
        let Some((path, file)) = &self.file else { return };
        let mut line = match serde_json::to_vec(record) {
            Ok(line) => line,
            Err(e) => return tracing::error!("cannot encode an audit record: {e}"),
        };
        line.push(b'\n');
        // One write of the whole line to a file opened in append mode: records of concurrent
        // mutations never interleave.
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(&line) {
            tracing::error!(path = %path.display(), "cannot append to the audit file: {e}");
        }
    }
}

/// One audit record, as logged and as written to the audit file.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// When, RFC 3339 in UTC.
    pub time: String,
    /// The admin connection's peer address (`unknown` when the listener does not say).
    pub client: String,
    /// First 8 hex digits of the SHA-256 of the bearer token, or `none` without a token.
    pub token_fingerprint: String,
    /// What was done: `maintenance`, `node-state`, `reload`, `log-level`.
    pub action: &'static str,
    /// The node, for `node-state`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The state before.
    pub before: Value,
    /// The state after (equal to `before` when the mutation was refused).
    pub after: Value,
    /// The reason given in the request, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `ok`, or the error code the caller was answered with.
    pub outcome: String,
}

/// Who is calling: extracted from every audited request (after the token check).
#[derive(Debug, Clone)]
pub struct Actor {
    client: Option<SocketAddr>,
    token_fingerprint: String,
}

impl Actor {
    /// A record of `action` by this caller, stamped now, with outcome `ok`.
    pub fn record(&self, action: &'static str, before: Value, after: Value) -> AuditRecord {
        AuditRecord {
            time: now_rfc3339(),
            client: self.client.map_or_else(|| "unknown".to_owned(), |a| a.to_string()),
            token_fingerprint: self.token_fingerprint.clone(),
            action,
            node: None,
            before,
            after,
            reason: None,
            outcome: "ok".to_owned(),
        }
    }
}

impl AuditRecord {
    /// Names the node the mutation applies to.
    pub fn node(mut self, id: &str) -> Self {
        self.node = Some(id.to_owned());
        self
    }

    /// Adds the caller's reason; an empty one is left out.
    pub fn reason(mut self, reason: Option<&str>) -> Self {
        self.reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned);
        self
    }

    /// Marks the mutation as refused with `code`, the error code of the answer.
    pub fn refused(mut self, code: &str) -> Self {
        self.outcome = code.to_owned();
        self
    }
}

impl<S> FromRequestParts<S> for Actor
where
    S: Send + Sync,
    Arc<AuthPolicy>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let policy = Arc::<AuthPolicy>::from_ref(state);
        let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
        // The auth middleware already let the request through, so with a token configured
        // the presented token is that token.
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let token_fingerprint = match (&policy.token, presented) {
            (Some(_), Some(token)) => fingerprint(token),
            _ => "none".to_owned(),
        };
        Ok(Self { client, token_fingerprint })
    }
}

/// First 8 hex digits of the token's SHA-256: enough to tell tokens apart across a rotation,
/// far too little to recover or guess one from.
pub fn fingerprint(token: &str) -> String {
    fingerprint_bytes(token.as_bytes())
}

/// First 8 hex digits of the SHA-256 of `bytes`.
pub fn fingerprint_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::{AuditLog, fingerprint};
    use serde_json::json;

    #[test]
    fn fingerprints_are_eight_hex_digits_of_sha256() {
        // printf 'secret' | sha256sum
        assert_eq!(fingerprint("secret"), "2bb80d53");
        assert_ne!(fingerprint("secret"), fingerprint("secret2"));
    }

    #[test]
    fn records_are_appended_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
        let log = AuditLog::open(&path).unwrap();
        let actor = super::Actor { client: None, token_fingerprint: "none".into() };
        log.record(&actor.record("reload", json!({"nodes": 1}), json!({"nodes": 2})));
        log.record(&actor.record("node-state", json!("enabled"), json!("drain")).node("a-1"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1]["action"], "reload");
        assert_eq!(lines[1]["client"], "unknown");
        assert_eq!(lines[2]["node"], "a-1");
        assert_eq!(lines[2]["after"], "drain");
        assert!(lines[1].get("node").is_none());
    }

    #[test]
    fn an_unopenable_file_names_the_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("audit.log");
        let e = AuditLog::open(&path).unwrap_err().to_string();
        assert!(e.starts_with("admin.audit_file "), "{e}");
        assert!(e.contains("missing/audit.log"), "{e}");
    }
}
