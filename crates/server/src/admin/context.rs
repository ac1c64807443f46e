//! What the admin handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::app::App;

use super::audit::AuditLog;
use super::auth::AuthPolicy;
use super::startup::StartupPhases;

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminContext {
    /// The application state.
    pub app: Arc<App>,
    /// Token and mutation policy for `/admin/*`.
    pub auth: Arc<AuthPolicy>,
    /// Where admin mutations are recorded.
    pub audit: Arc<AuditLog>,
    /// Start-up phase timing, for `/debug/startup`.
    pub startup: Arc<StartupPhases>,
    /// Fired when the listeners start draining: long-running answers (a CPU profile) end
    /// early with what they have.
    pub stop: CancellationToken,
}

impl FromRef<AdminContext> for Arc<AuthPolicy> {
    fn from_ref(ctx: &AdminContext) -> Self {
        ctx.auth.clone()
    }
}
