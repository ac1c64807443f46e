//! The User-based Security Model (RFC 3414) for the non-authoritative side (a manager), with the
//! SHA-2 protocols of RFC 7860 and AES of RFC 3826 and draft-blumenthal-aes-usm-04. Sans-IO:
//! the caller passes `now` from a monotonic clock.

pub mod agent;
mod auth;
mod error;
mod keys;
mod privacy;
mod protocol;
mod session;
mod user;

#[cfg(test)]
mod tests;

pub use auth::AuthKey;
pub use error::UsmError;
pub use keys::{
    KeyBytes, KeyExtension, digest, extend_key, localize, password_to_key, password_to_key_uncached,
};
pub use privacy::{DecryptError, PrivKey};
pub use protocol::{AuthProtocol, PrivProtocol, SecurityLevel};
pub use session::{Engine, Incoming, UsmSession, report};
pub use user::{LocalizedKeys, UserError, UsmUser};
