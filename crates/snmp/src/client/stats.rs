//! Replies the client dropped, by reason: the manager-side counterparts of the agent's
//! usmStats and snmpInASNParseErrs counters.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::usm::UsmError;

/// A snapshot of [`super::Client::stats`]. Counters only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// v3 replies whose digest did not verify (usmStatsWrongDigests on an agent). The
    /// request keeps waiting for a genuine reply, as RFC 3414 section 3.2 step 6 discards
    /// such messages.
    pub wrong_digests: u64,
    /// v3 replies that authenticated but did not decrypt to a scopedPDU
    /// (usmStatsDecryptionErrors).
    pub decryption_errors: u64,
    /// Other v3 replies refused by security processing: below the request's security level,
    /// for another user, outside the time window, or from an engine without keys.
    pub security_drops: u64,
    /// Replies that were not a decodable SNMP message (snmpInASNParseErrs).
    pub parse_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    wrong_digests: AtomicU64,
    decryption_errors: AtomicU64,
    security_drops: AtomicU64,
    parse_errors: AtomicU64,
}

impl Counters {
    /// Counts a v3 reply that security processing refused.
    pub(crate) fn refused(&self, e: &UsmError) {
        let c = match e {
            UsmError::AuthFailure => &self.wrong_digests,
            UsmError::DecryptFailure => &self.decryption_errors,
            UsmError::Decode(_) => &self.parse_errors,
            _ => &self.security_drops,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn parse_error(&self) {
        self.parse_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            wrong_digests: get(&self.wrong_digests),
            decryption_errors: get(&self.decryption_errors),
            security_drops: get(&self.security_drops),
            parse_errors: get(&self.parse_errors),
        }
    }
}
