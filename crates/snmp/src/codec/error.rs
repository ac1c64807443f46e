//! Why a message could not be decoded: the one error type of the codec, below every part
//! of it.

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
