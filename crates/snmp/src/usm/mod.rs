//! The User-based Security Model (RFC 3414) for the non-authoritative side (a manager), with the
//! SHA-2 protocols of RFC 7860 and AES of RFC 3826 and draft-blumenthal-aes-usm-04. Sans-IO:
//! the caller passes `now` from a monotonic clock.

pub mod agent;
mod auth;
mod keys;
mod privacy;
mod session;

#[cfg(test)]
mod tests;

pub use auth::AuthKey;
pub use keys::{
    KeyBytes, KeyExtension, digest, extend_key, localize, password_to_key, password_to_key_uncached,
};
pub use privacy::{DecryptError, PrivKey};
pub use session::{Engine, Incoming, UsmSession, report};

use std::sync::Arc;

use crate::codec::DecodeError;

/// Authentication protocols with their MAC lengths (RFC 3414 6/7: 96 bits; RFC 7860 4.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl AuthProtocol {
    /// Length of msgAuthenticationParameters.
    pub fn mac_len(self) -> usize {
        match self {
            AuthProtocol::Md5 | AuthProtocol::Sha1 => 12,
            AuthProtocol::Sha224 => 16,
            AuthProtocol::Sha256 => 24,
            AuthProtocol::Sha384 => 32,
            AuthProtocol::Sha512 => 48,
        }
    }

    /// The net-snmp `-a` name.
    pub fn name(self) -> &'static str {
        match self {
            AuthProtocol::Md5 => "MD5",
            AuthProtocol::Sha1 => "SHA",
            AuthProtocol::Sha224 => "SHA-224",
            AuthProtocol::Sha256 => "SHA-256",
            AuthProtocol::Sha384 => "SHA-384",
            AuthProtocol::Sha512 => "SHA-512",
        }
    }

    /// Parses a net-snmp `-a` value (case-insensitive; `SHA1` accepted for `SHA`).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "MD5" => AuthProtocol::Md5,
            "SHA" | "SHA1" | "SHA-1" => AuthProtocol::Sha1,
            "SHA-224" | "SHA224" => AuthProtocol::Sha224,
            "SHA-256" | "SHA256" => AuthProtocol::Sha256,
            "SHA-384" | "SHA384" => AuthProtocol::Sha384,
            "SHA-512" | "SHA512" => AuthProtocol::Sha512,
            _ => return None,
        })
    }
}

/// Privacy protocols. AES-192/256 come in two key-extension variants that do not
/// interoperate: `Aes192`/`Aes256` follow draft-blumenthal-aes-usm-04 (net-snmp `AES192`,
/// `AES256`); `Aes192Reeder`/`Aes256Reeder` follow the Reeder 3DES draft as Cisco does
/// (net-snmp `AES192C`, `AES256C`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
    Aes192Reeder,
    Aes256Reeder,
}

impl PrivProtocol {
    pub fn name(self) -> &'static str {
        match self {
            PrivProtocol::Des => "DES",
            PrivProtocol::Aes128 => "AES",
            PrivProtocol::Aes192 => "AES192",
            PrivProtocol::Aes256 => "AES256",
            PrivProtocol::Aes192Reeder => "AES192C",
            PrivProtocol::Aes256Reeder => "AES256C",
        }
    }

    /// Parses a net-snmp `-x` value (case-insensitive; `AES128` accepted for `AES`).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "DES" => PrivProtocol::Des,
            "AES" | "AES128" | "AES-128" => PrivProtocol::Aes128,
            "AES192" | "AES-192" => PrivProtocol::Aes192,
            "AES256" | "AES-256" => PrivProtocol::Aes256,
            "AES192C" => PrivProtocol::Aes192Reeder,
            "AES256C" => PrivProtocol::Aes256Reeder,
            _ => return None,
        })
    }
}

/// msgSecurityLevel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecurityLevel {
    NoAuthNoPriv,
    AuthNoPriv,
    AuthPriv,
}

/// A USM user: name, protocols and password-derived keys (`Ku`, not yet localized). Passwords
/// are hashed into keys at construction (cached per password) and not kept.
#[derive(Clone)]
pub struct UsmUser {
    pub(crate) name: Vec<u8>,
    pub(crate) auth: Option<(AuthProtocol, Arc<KeyBytes>)>,
    pub(crate) privacy: Option<(PrivProtocol, Arc<KeyBytes>)>,
}

impl std::fmt::Debug for UsmUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsmUser")
            .field("name", &String::from_utf8_lossy(&self.name))
            .field("auth", &self.auth.as_ref().map(|a| a.0))
            .field("privacy", &self.privacy.as_ref().map(|p| p.0))
            .finish()
    }
}

/// Why a user could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    #[error("passwords must be at least 8 characters (RFC 3414 section 11.2)")]
    PasswordTooShort,
    #[error("privacy needs authentication")]
    PrivacyWithoutAuth,
    #[error("user names are 1 to 32 bytes")]
    BadName,
}

impl UsmUser {
    /// A user with no authentication and no privacy.
    pub fn no_auth(name: impl Into<Vec<u8>>) -> Result<Self, UserError> {
        let name = name.into();
        if name.is_empty() || name.len() > 32 {
            return Err(UserError::BadName);
        }
        Ok(Self { name, auth: None, privacy: None })
    }

    /// Adds authentication; the password is hashed into `Ku` here (about a millisecond per
    /// MiB, cached per (protocol, password)).
    pub fn with_auth(mut self, proto: AuthProtocol, password: &[u8]) -> Result<Self, UserError> {
        if password.len() < 8 {
            return Err(UserError::PasswordTooShort);
        }
        self.auth = Some((proto, password_to_key(proto, password)));
        Ok(self)
    }

    /// Adds privacy; the privacy key is derived with the authentication hash.
    pub fn with_privacy(mut self, proto: PrivProtocol, password: &[u8]) -> Result<Self, UserError> {
        let Some((auth, _)) = self.auth else { return Err(UserError::PrivacyWithoutAuth) };
        if password.len() < 8 {
            return Err(UserError::PasswordTooShort);
        }
        self.privacy = Some((proto, password_to_key(auth, password)));
        Ok(self)
    }

    pub fn name(&self) -> &[u8] {
        &self.name
    }

    pub fn level(&self) -> SecurityLevel {
        match (&self.auth, &self.privacy) {
            (None, _) => SecurityLevel::NoAuthNoPriv,
            (Some(_), None) => SecurityLevel::AuthNoPriv,
            (Some(_), Some(_)) => SecurityLevel::AuthPriv,
        }
    }
}

/// Keys localized to one engine ID.
#[derive(Clone, Debug)]
pub struct LocalizedKeys {
    pub auth: Option<AuthKey>,
    pub privacy: Option<PrivKey>,
}

impl LocalizedKeys {
    pub fn new(user: &UsmUser, engine_id: &[u8]) -> Self {
        let auth = user.auth.as_ref().map(|(p, ku)| AuthKey::new(*p, &localize(*p, ku, engine_id)));
        let privacy = match (&user.auth, &user.privacy) {
            (Some((ap, _)), Some((pp, ku))) => {
                Some(PrivKey::new(*pp, *ap, &localize(*ap, ku, engine_id), engine_id))
            }
            _ => None,
        };
        Self { auth, privacy }
    }
}

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
