//! The sans-IO SNMP codec: BER, values, PDUs and messages. No sockets, no clock.

pub mod ber;
mod error;
mod message;
mod oid;
mod pdu;
mod value;

#[cfg(test)]
mod tests;

pub use error::DecodeError;
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
