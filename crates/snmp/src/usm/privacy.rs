//! Privacy: DES-CBC (RFC 3414 section 8), AES-128-CFB (RFC 3826) and AES-192/256-CFB
//! (draft-blumenthal-aes-usm-04, with Blumenthal or Reeder key extension).

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use des::Des;

use super::keys::{KeyBytes, KeyExtension, extend_key};
use super::protocol::{AuthProtocol, PrivProtocol};

/// A localized privacy key, already extended to the cipher's key length.
#[derive(Clone, Debug)]
pub struct PrivKey {
    proto: PrivProtocol,
    key: KeyBytes,
}

/// Why decryption was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptError;

impl PrivKey {
    /// Derives the key from the localized privacy key (`Kul` computed with the user's
    /// authentication hash, RFC 3414 section 2.6).
    pub fn new(proto: PrivProtocol, auth: AuthProtocol, kul: &KeyBytes, engine_id: &[u8]) -> Self {
        let key = match proto {
            PrivProtocol::Des => extend_key(auth, KeyExtension::Blumenthal, kul, engine_id, 16),
            PrivProtocol::Aes128 => extend_key(auth, KeyExtension::Blumenthal, kul, engine_id, 16),
            PrivProtocol::Aes192 => extend_key(auth, KeyExtension::Blumenthal, kul, engine_id, 24),
            PrivProtocol::Aes256 => extend_key(auth, KeyExtension::Blumenthal, kul, engine_id, 32),
            PrivProtocol::Aes192Reeder => {
                extend_key(auth, KeyExtension::Reeder, kul, engine_id, 24)
            }
            PrivProtocol::Aes256Reeder => {
                extend_key(auth, KeyExtension::Reeder, kul, engine_id, 32)
            }
        };
        Self { proto, key }
    }

    pub fn protocol(&self) -> PrivProtocol {
        self.proto
    }

    /// Encrypts `plain` into `out` (cleared first). `salt` is the 64-bit per-message value
    /// the caller keeps unique; the returned msgPrivacyParameters go into the message.
    pub fn encrypt(
        &self,
        boots: u32,
        time: u32,
        salt: u64,
        plain: &[u8],
        out: &mut Vec<u8>,
    ) -> [u8; 8] {
        out.clear();
        out.extend_from_slice(plain);
        let k = self.key.as_slice();
        match self.proto {
            PrivProtocol::Des => {
                // RFC 3414 8.1.1.1: salt = engineBoots || local counter; IV = pre-IV XOR salt.
                let mut params = [0u8; 8];
                params[..4].copy_from_slice(&boots.to_be_bytes());
                params[4..].copy_from_slice(&(salt as u32).to_be_bytes());
                let iv = des_iv(&k[8..16], &params);
                let pad = (8 - out.len() % 8) % 8;
                out.resize(out.len() + pad, 0);
                let n = out.len();
                let enc = cbc::Encryptor::<Des>::new_from_slices(&k[..8], &iv)
                    .unwrap_or_else(|_| unreachable!("DES key and IV are 8 bytes"));
                let _ = enc.encrypt_padded::<NoPadding>(out, n);
                params
            }
            _ => {
                let params = salt.to_be_bytes();
                let iv = aes_iv(boots, time, &params);
                aes_cfb(self.proto, k, &iv, out, true);
                params
            }
        }
    }

    /// Decrypts `cipher` into `out` (cleared first).
    pub fn decrypt(
        &self,
        boots: u32,
        time: u32,
        params: &[u8],
        cipher: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let params: &[u8; 8] = params.try_into().map_err(|_| DecryptError)?;
        out.clear();
        out.extend_from_slice(cipher);
        let k = self.key.as_slice();
        match self.proto {
            PrivProtocol::Des => {
                if out.is_empty() || !out.len().is_multiple_of(8) {
                    return Err(DecryptError);
                }
                let iv = des_iv(&k[8..16], params);
                let dec = cbc::Decryptor::<Des>::new_from_slices(&k[..8], &iv)
                    .unwrap_or_else(|_| unreachable!("DES key and IV are 8 bytes"));
                dec.decrypt_padded::<NoPadding>(out).map_err(|_| DecryptError)?;
            }
            _ => {
                let iv = aes_iv(boots, time, params);
                aes_cfb(self.proto, k, &iv, out, false);
            }
        }
        Ok(())
    }
}

fn des_iv(pre_iv: &[u8], salt: &[u8; 8]) -> [u8; 8] {
    let mut iv = [0u8; 8];
    for i in 0..8 {
        iv[i] = pre_iv[i] ^ salt[i];
    }
    iv
}

/// RFC 3826 section 3.1.2.1: IV = engineBoots || engineTime || salt.
fn aes_iv(boots: u32, time: u32, salt: &[u8; 8]) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&boots.to_be_bytes());
    iv[4..8].copy_from_slice(&time.to_be_bytes());
    iv[8..].copy_from_slice(salt);
    iv
}

fn aes_cfb(proto: PrivProtocol, key: &[u8], iv: &[u8; 16], buf: &mut [u8], encrypt: bool) {
    fn run<C>(key: &[u8], iv: &[u8; 16], buf: &mut [u8], encrypt: bool)
    where
        C: cbc::cipher::BlockCipherEncrypt
            + cbc::cipher::KeyInit
            + cbc::cipher::BlockSizeUser<BlockSize = cbc::cipher::consts::U16>,
    {
        if encrypt {
            cfb_mode::Encryptor::<C>::new_from_slices(key, iv)
                .unwrap_or_else(|_| unreachable!("key length fixed by protocol"))
                .encrypt(buf);
        } else {
            cfb_mode::Decryptor::<C>::new_from_slices(key, iv)
                .unwrap_or_else(|_| unreachable!("key length fixed by protocol"))
                .decrypt(buf);
        }
    }
    match proto {
        PrivProtocol::Aes128 => run::<Aes128>(key, iv, buf, encrypt),
        PrivProtocol::Aes192 | PrivProtocol::Aes192Reeder => run::<Aes192>(key, iv, buf, encrypt),
        PrivProtocol::Aes256 | PrivProtocol::Aes256Reeder => run::<Aes256>(key, iv, buf, encrypt),
        PrivProtocol::Des => unreachable!("DES is CBC"),
    }
}
