//! The error body every API answers with: `{"error": {"code": "...", "message": "..."}}`,
//! with a stable machine-readable code.

use serde::Serialize;

/// An error answer's body.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorView<'a> {
    /// The error itself.
    pub error: ErrorDetail<'a>,
}

/// The `error` object: what clients match on (`code`) and what people read (`message`).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDetail<'a> {
    /// Stable code, e.g. `bad_parameter`, `unknown_host`.
    pub code: &'a str,
    /// What went wrong.
    pub message: &'a str,
}

impl<'a> ErrorView<'a> {
    /// An error body.
    pub fn new(code: &'a str, message: &'a str) -> Self {
        Self { error: ErrorDetail { code, message } }
    }

    /// The body as JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        // Two strings into a Vec cannot fail to serialize.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
