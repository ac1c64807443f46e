//! What the admin handlers share.

use std::sync::Arc;

use crate::app::App;

use super::auth::AuthPolicy;

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminContext {
    /// The application state.
    pub app: Arc<App>,
    /// Token and mutation policy for `/admin/*`.
    pub auth: Arc<AuthPolicy>,
}
