//! HMAC authentication (RFC 3414 sections 6 and 7, RFC 7860 section 4): the MAC over the whole
//! message with the authentication parameters zeroed, truncated per protocol.

use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

use super::keys::KeyBytes;
use super::protocol::AuthProtocol;

/// A keyed HMAC ready to clone per message, so the two key-pad compressions are paid once per
/// localized key rather than once per message.
#[derive(Clone)]
pub enum AuthKey {
    Md5(Hmac<Md5>),
    Sha1(Hmac<Sha1>),
    Sha224(Hmac<Sha224>),
    Sha256(Hmac<Sha256>),
    Sha384(Hmac<Sha384>),
    Sha512(Hmac<Sha512>),
}

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey(<redacted>)")
    }
}

fn keyed<M: KeyInit>(k: &KeyBytes) -> M {
    // HMAC accepts keys of any length.
    M::new_from_slice(k.as_slice()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
}

fn mac_parts<M: Mac + Clone>(m: &M, parts: &[&[u8]], out: &mut [u8]) {
    let mut m = m.clone();
    for p in parts {
        m.update(p);
    }
    let full = m.finalize().into_bytes();
    out.copy_from_slice(&full[..out.len()]);
}

impl AuthKey {
    pub fn new(proto: AuthProtocol, localized: &KeyBytes) -> Self {
        match proto {
            AuthProtocol::Md5 => AuthKey::Md5(keyed(localized)),
            AuthProtocol::Sha1 => AuthKey::Sha1(keyed(localized)),
            AuthProtocol::Sha224 => AuthKey::Sha224(keyed(localized)),
            AuthProtocol::Sha256 => AuthKey::Sha256(keyed(localized)),
            AuthProtocol::Sha384 => AuthKey::Sha384(keyed(localized)),
            AuthProtocol::Sha512 => AuthKey::Sha512(keyed(localized)),
        }
    }

    pub fn protocol(&self) -> AuthProtocol {
        match self {
            AuthKey::Md5(_) => AuthProtocol::Md5,
            AuthKey::Sha1(_) => AuthProtocol::Sha1,
            AuthKey::Sha224(_) => AuthProtocol::Sha224,
            AuthKey::Sha256(_) => AuthProtocol::Sha256,
            AuthKey::Sha384(_) => AuthProtocol::Sha384,
            AuthKey::Sha512(_) => AuthProtocol::Sha512,
        }
    }

    /// Computes the truncated MAC over the concatenation of `parts` into `out`, whose length
    /// must be the protocol's MAC length.
    fn compute(&self, parts: &[&[u8]], out: &mut [u8]) {
        match self {
            AuthKey::Md5(m) => mac_parts(m, parts, out),
            AuthKey::Sha1(m) => mac_parts(m, parts, out),
            AuthKey::Sha224(m) => mac_parts(m, parts, out),
            AuthKey::Sha256(m) => mac_parts(m, parts, out),
            AuthKey::Sha384(m) => mac_parts(m, parts, out),
            AuthKey::Sha512(m) => mac_parts(m, parts, out),
        }
    }

    /// Signs an outgoing message whose authentication parameters at `offset` are zero.
    pub fn sign(&self, msg: &mut [u8], offset: usize) {
        let n = self.protocol().mac_len();
        let mut mac = [0u8; 48];
        self.compute(&[msg], &mut mac[..n]);
        msg[offset..offset + n].copy_from_slice(&mac[..n]);
    }

    /// Verifies a received message in place of a copy: the MAC is computed over the bytes
    /// before the parameters, zeros, and the bytes after them. Constant-time comparison.
    pub fn verify(&self, msg: &[u8], offset: usize, received: &[u8]) -> bool {
        let n = self.protocol().mac_len();
        if received.len() != n || offset + n > msg.len() {
            return false;
        }
        let zeros = [0u8; 48];
        let mut mac = [0u8; 48];
        self.compute(&[&msg[..offset], &zeros[..n], &msg[offset + n..]], &mut mac[..n]);
        mac[..n].ct_eq(received).into()
    }
}
