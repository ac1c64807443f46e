//! Why security processing refused a message.

use crate::codec::DecodeError;

/// Security processing failures (RFC 3414 section 3.2), each one a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsmError {
    #[error("authentication failed (wrong digest)")]
    AuthFailure,
    #[error("decryption failed")]
    DecryptFailure,
    #[error("engine ID unknown; discovery needed")]
    UnknownEngine,
    #[error("message outside the time window")]
    NotInTimeWindow,
    #[error("unknown user name")]
    UnknownUser,
    #[error("security level not supported for this user")]
    UnsupportedSecurityLevel,
    #[error("context unknown or unavailable")]
    UnknownContext,
    #[error("unknown report")]
    UnknownReport,
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
}
