//! Errors of the async client.

use std::fmt;
use std::sync::Arc;

use crate::codec::{DecodeError, ErrorStatus, Oid, VarBind};
use crate::usm::UsmError;

/// A failed request. Cheap to clone so one failure can be handed to many waiters.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No valid reply before the deadline, after all retries.
    #[error("request timed out")]
    Timeout,
    /// The agent reported a wrong digest (usmStatsWrongDigests): wrong authentication key.
    /// Replies that fail verification here are dropped instead (see [`super::ClientStats`]).
    #[error("authentication failed")]
    AuthFailure,
    /// The agent could not decrypt the request (usmStatsDecryptionErrors, wrong privacy key).
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
    /// The agent does not serve the requested context name (snmpUnknownContexts or
    /// snmpUnavailableContexts, RFC 3413 section 4.1.2).
    #[error("unknown context")]
    UnknownContext,
    /// The agent answered with a Report PDU this client does not know.
    #[error("unknown report")]
    UnknownReport,
    /// A reply could not be decoded.
    #[error("malformed reply: {0}")]
    Decode(#[from] DecodeError),
    /// The agent answered with an error-status; `index` is 1-based into the reply's
    /// varbinds (0 when the agent gave none). `oid` is the binding at that index, `None` when
    /// the index is 0 or points past the list (an agent bug net-snmp reports the same way).
    #[error("agent error {status} at index {index}")]
    Agent { status: ErrorStatus, index: u32, oid: Option<Oid> },
    /// A GETNEXT or GETBULK answer did not advance (a broken agent; a walk stops here
    /// rather than loop).
    #[error("{0}")]
    NonIncreasing(Arc<NonIncreasing>),
    /// A reply that matches the request by id but does not answer it.
    #[error("{0}")]
    Mismatch(Arc<Mismatch>),
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

impl Error {
    /// True for answers that show the agent does not follow the protocol (an error-index
    /// past the bindings, OIDs that do not advance or do not match the request, undecodable
    /// replies), as opposed to timeouts, security failures and local errors.
    pub fn is_protocol(&self) -> bool {
        matches!(
            self,
            Error::Decode(_)
                | Error::Agent { .. }
                | Error::NonIncreasing(_)
                | Error::Mismatch(_)
                | Error::UnknownReport
        )
    }
}

/// A GETNEXT or GETBULK answer naming `returned` where an OID past `previous` was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonIncreasing {
    pub previous: Oid,
    pub returned: Oid,
}

impl NonIncreasing {
    pub(crate) fn error(previous: Oid, returned: Oid) -> Error {
        Error::NonIncreasing(Arc::new(NonIncreasing { previous, returned }))
    }
}

impl fmt::Display for NonIncreasing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OID not increasing: .{} >= .{}", self.previous, self.returned)
    }
}

/// A reply that matches a request by id but does not answer it (RFC 3416 section 4.2): a
/// GET or SET answer naming other OIDs than requested, in another order or number, a GETNEXT
/// answer with another number of bindings, or a GETBULK answer longer than asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The OIDs of the request.
    pub requested: Vec<Oid>,
    /// The bindings of the reply, as received.
    pub received: Vec<VarBind>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (q, r) = (&self.requested, &self.received);
        if q.len() != r.len() {
            return write!(f, "reply has {} bindings for a request of {}", r.len(), q.len());
        }
        match q.iter().zip(r).find(|(w, g)| **w != g.oid) {
            Some((want, got)) => write!(f, "reply names .{} where .{want} was requested", got.oid),
            None => f.write_str("reply does not answer the request"),
        }
    }
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
            UsmError::UnknownContext => Error::UnknownContext,
            UsmError::UnknownReport => Error::UnknownReport,
            UsmError::Decode(d) => Error::Decode(d),
        }
    }
}
