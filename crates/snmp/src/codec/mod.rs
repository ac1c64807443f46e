//! The sans-IO SNMP codec: BER, values, PDUs and messages. No sockets, no clock.

pub mod ber;
mod message;
mod oid;
mod pdu;
mod value;

#[cfg(test)]
mod tests;

pub use message::{
    CommunityMessage, HeaderData, Hex, Route, SECURITY_MODEL_USM, ScopedData, ScopedOut,
    ScopedPduRef, UsmParams, UsmParamsOut, V3Message, Version, encode_community, encode_scoped_pdu,
    encode_v3, flags, peek_route,
};
pub use oid::{MAX_OID_LEN, Oid, OidError, OidIter, OidRef};
pub use pdu::{
    EncodeVarBinds, ErrorStatus, PduHeader, PduRef, PduType, VarBind, VarBindIter, VarBindRef,
    VarBinds, encode_pdu,
};
pub use value::{OpaqueValue, Value, ValueRef};

/// Why a message could not be decoded. Decoding never panics and never reads past the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("message truncated")]
    Truncated,
    #[error("invalid length")]
    BadLength,
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("unsupported tag {0:#04x}")]
    UnsupportedTag(u8),
    #[error("invalid integer")]
    BadInteger,
    #[error("invalid object identifier")]
    BadOid,
    #[error("trailing data after the message")]
    TrailingData,
    #[error("unsupported SNMP version {0}")]
    UnsupportedVersion(i32),
    #[error("unsupported security model {0}")]
    UnsupportedSecurityModel(i32),
}
