//! A USM user (name, protocols, password-derived keys) and its keys localized to an engine.

use std::sync::Arc;

use super::auth::AuthKey;
use super::keys::{KeyBytes, localize, password_to_key};
use super::privacy::PrivKey;
use super::protocol::{AuthProtocol, PrivProtocol, SecurityLevel};

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
