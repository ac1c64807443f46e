//! Errors of the async client.

use std::sync::Arc;

use crate::codec::{DecodeError, ErrorStatus, Oid};
use crate::usm::UsmError;

/// A failed request. Cheap to clone so one failure can be handed to many waiters.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No valid reply before the deadline, after all retries.
    #[error("request timed out")]
    Timeout,
    /// Wrong authentication key (usmStatsWrongDigests) or a reply that failed verification.
    #[error("authentication failed")]
    AuthFailure,
    /// The agent or this client could not decrypt (usmStatsDecryptionErrors, wrong privacy key).
    #[error("decryption failed")]
    DecryptFailure,
    /// The agent's engine could not be discovered or kept changing.
    #[error("engine discovery failed")]
    UnknownEngine,
    /// The agent kept answering notInTimeWindow after re-synchronisation.
    #[error("not in time window")]
    NotInTimeWindow,
    /// The agent does not know the user (usmStatsUnknownUserNames).
    #[error("unknown user")]
    UnknownUser,
    /// The user is not allowed this security level (usmStatsUnsupportedSecLevels).
    #[error("unsupported security level")]
    UnsupportedSecurityLevel,
    /// A reply could not be decoded.
    #[error("malformed reply: {0}")]
    Decode(#[from] DecodeError),
    /// The agent answered with an error-status; `index` is 1-based into the request's
    /// varbinds (0 when the agent gave none).
    #[error("agent error {status} at index {index}")]
    Agent { status: ErrorStatus, index: u32, oid: Option<Oid> },
    /// A walk received an OID that did not increase (a broken agent); stopped to avoid a loop.
    #[error("agent returned non-increasing OID {0}")]
    NonIncreasing(Oid),
    /// The selected interface does not exist on the agent (or has no octet counters).
    #[error("no such interface")]
    NoSuchInterface,
    /// Invalid arguments (for example GETBULK on SNMPv1).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// Socket error.
    #[error("I/O error: {0}")]
    Io(Arc<std::io::Error>),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(Arc::new(e))
    }
}

impl From<UsmError> for Error {
    fn from(e: UsmError) -> Self {
        match e {
            UsmError::AuthFailure => Error::AuthFailure,
            UsmError::DecryptFailure => Error::DecryptFailure,
            UsmError::UnknownEngine => Error::UnknownEngine,
            UsmError::NotInTimeWindow => Error::NotInTimeWindow,
            UsmError::UnknownUser => Error::UnknownUser,
            UsmError::UnsupportedSecurityLevel => Error::UnsupportedSecurityLevel,
            UsmError::Decode(d) => Error::Decode(d),
        }
    }
}
