//! Password-to-key and key localization (RFC 3414 appendix A.2, RFC 7860 section 9.3), with a
//! process-wide cache because turning a password into a key hashes a whole MiB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::protocol::AuthProtocol;

/// Key material that is wiped when dropped and never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBytes(Vec<u8>);

impl KeyBytes {
    pub fn new(v: Vec<u8>) -> Self {
        Self(v)
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // Volatile so the wipe is not optimised away.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBytes(<redacted>)")
    }
}

fn hash_with<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().to_vec()
}

/// One-shot hash of the concatenation of `parts` with the protocol's digest.
pub fn digest(proto: AuthProtocol, parts: &[&[u8]]) -> Vec<u8> {
    match proto {
        AuthProtocol::Md5 => hash_with::<Md5>(parts),
        AuthProtocol::Sha1 => hash_with::<Sha1>(parts),
        AuthProtocol::Sha224 => hash_with::<Sha224>(parts),
        AuthProtocol::Sha256 => hash_with::<Sha256>(parts),
        AuthProtocol::Sha384 => hash_with::<Sha384>(parts),
        AuthProtocol::Sha512 => hash_with::<Sha512>(parts),
    }
}

fn stretch<D: Digest>(password: &[u8]) -> Vec<u8> {
    const TOTAL: usize = 1 << 20;
    let mut d = D::new();
    let mut block = [0u8; 64];
    let mut idx = 0usize;
    let mut done = 0usize;
    while done < TOTAL {
        for b in block.iter_mut() {
            *b = password[idx];
            idx = if idx + 1 == password.len() { 0 } else { idx + 1 };
        }
        d.update(block);
        done += 64;
    }
    d.finalize().to_vec()
}

/// RFC 3414 A.2: hash 1 MiB of the repeated password. Uncached; see [`password_to_key`].
pub fn password_to_key_uncached(proto: AuthProtocol, password: &[u8]) -> KeyBytes {
    if password.is_empty() {
        return KeyBytes(Vec::new());
    }
    KeyBytes(match proto {
        AuthProtocol::Md5 => stretch::<Md5>(password),
        AuthProtocol::Sha1 => stretch::<Sha1>(password),
        AuthProtocol::Sha224 => stretch::<Sha224>(password),
        AuthProtocol::Sha256 => stretch::<Sha256>(password),
        AuthProtocol::Sha384 => stretch::<Sha384>(password),
        AuthProtocol::Sha512 => stretch::<Sha512>(password),
    })
}

type CacheKey = (AuthProtocol, Vec<u8>);

fn cache() -> &'static Mutex<HashMap<CacheKey, Arc<KeyBytes>>> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Arc<KeyBytes>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Password-to-key with a cache per (hash, password). The cache is keyed by a SHA-256 of the
/// password, never the password itself.
pub fn password_to_key(proto: AuthProtocol, password: &[u8]) -> Arc<KeyBytes> {
    let id = (proto, hash_with::<Sha256>(&[b"switchyard-usm-cache", password]));
    if let Some(k) = cache().lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return k.clone();
    }
    let k = Arc::new(password_to_key_uncached(proto, password));
    cache().lock().unwrap_or_else(|e| e.into_inner()).insert(id, k.clone());
    k
}

/// RFC 3414 section 2.6: Kul = H(Ku || engineID || Ku).
pub fn localize(proto: AuthProtocol, ku: &KeyBytes, engine_id: &[u8]) -> KeyBytes {
    KeyBytes(digest(proto, &[ku.as_slice(), engine_id, ku.as_slice()]))
}

/// How a localized key shorter than an AES-192/256 key is extended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyExtension {
    /// draft-blumenthal-aes-usm-04 section 3.1.2.1: append H(everything so far) until long
    /// enough (net-snmp `AES192`/`AES256`).
    Blumenthal,
    /// draft-reeder-snmpv3-usm-3desede-00 section 2.1, used by Cisco: append
    /// localize(password_to_key(everything so far)) (net-snmp `AES192C`/`AES256C`).
    Reeder,
}

/// Extends a localized privacy key to `len` bytes.
pub fn extend_key(
    proto: AuthProtocol,
    ext: KeyExtension,
    kul: &KeyBytes,
    engine_id: &[u8],
    len: usize,
) -> KeyBytes {
    let mut k = kul.as_slice().to_vec();
    while k.len() < len {
        let more = match ext {
            KeyExtension::Blumenthal => digest(proto, &[&k]),
            KeyExtension::Reeder => {
                let ku = password_to_key_uncached(proto, &k);
                localize(proto, &ku, engine_id).as_slice().to_vec()
            }
        };
        k.extend_from_slice(&more);
    }
    k.truncate(len);
    KeyBytes(k)
}
