//! Per-agent USM state for a manager: the authoritative engine's ID, boots and time (advanced
//! by the local monotonic clock), localized keys, and the processing of outgoing and incoming
//! messages (RFC 3414 sections 3.1, 3.2 and 4).

use std::time::{Duration, Instant};

use crate::codec::{
    DecodeError, EncodeVarBinds, HeaderData, Oid, PduHeader, PduType, SECURITY_MODEL_USM,
    ScopedData, ScopedOut, ScopedPduRef, UsmParamsOut, V3Message, encode_scoped_pdu, encode_v3,
    flags,
};

use super::error::UsmError;
use super::protocol::SecurityLevel;
use super::user::{LocalizedKeys, UsmUser};

/// usmStats counters carried by Report PDUs (RFC 3414 section 5).
pub mod report {
    pub const UNSUPPORTED_SEC_LEVELS: [u32; 11] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 1, 0];
    pub const NOT_IN_TIME_WINDOWS: [u32; 11] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0];
    pub const UNKNOWN_USER_NAMES: [u32; 11] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 3, 0];
    pub const UNKNOWN_ENGINE_IDS: [u32; 11] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0];
    pub const WRONG_DIGESTS: [u32; 11] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0];
    pub const DECRYPTION_ERRORS: [u32; 11] = [1, 3, 6, 1, 6, 3, 15, 1, 1, 6, 0];
    /// SNMP-TARGET-MIB (RFC 3413): the context is known but not served now, or unknown.
    pub const UNAVAILABLE_CONTEXTS: [u32; 10] = [1, 3, 6, 1, 6, 3, 12, 1, 4, 0];
    pub const UNKNOWN_CONTEXTS: [u32; 10] = [1, 3, 6, 1, 6, 3, 12, 1, 5, 0];
}

/// RFC 3414 section 2.2.3: the time window is 150 seconds.
const TIME_WINDOW: u32 = 150;
const MAX_BOOTS: u32 = i32::MAX as u32;

/// What the manager knows of an authoritative engine.
#[derive(Clone, Debug)]
pub struct Engine {
    pub id: Vec<u8>,
    pub boots: u32,
    time: u32,
    synced_at: Instant,
    latest_received_time: u32,
    /// Whether boots/time came from an authenticated message, as RFC 3414 section 3.2.7
    /// requires before they are trusted; discovery values are provisional.
    pub authenticated: bool,
}

impl Engine {
    /// snmpEngineTime now, estimated from the last sync and the local clock.
    pub fn time_at(&self, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.synced_at).as_secs();
        (self.time as u64 + elapsed).min(MAX_BOOTS as u64) as u32
    }
}

/// The result of processing an incoming message. An `Err` from [`UsmSession::process`]
/// means the message itself failed security processing (a wrong digest, undecryptable, not
/// at the request's security level, outside the time window): a manager drops it and keeps
/// waiting, as RFC 3414 section 3.2 discards such messages. Only a Report ends a request.
#[derive(Debug)]
pub enum Incoming<'a> {
    /// A PDU that passed security processing.
    Pdu(ScopedPduRef<'a>),
    /// The engine ID or clock was (re)learned from a report: resend the request.
    Resync,
    /// The agent reported that it could not process the request (RFC 3412 section 7.1.3c):
    /// wrong digest, unknown user, unknown context and so on.
    Report(UsmError),
}

/// USM state for one (user, agent) pair.
pub struct UsmSession {
    user: UsmUser,
    engine: Option<Engine>,
    /// contextEngineID for requests; the agent's own engine ID when `None`.
    context_engine_id: Option<Vec<u8>>,
    keys: Option<LocalizedKeys>,
    salt: u64,
    plain: Vec<u8>,
    cipher: Vec<u8>,
}

impl std::fmt::Debug for UsmSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsmSession")
            .field("user", &self.user)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

fn oid_is(o: &crate::codec::OidRef<'_>, arcs: &[u32]) -> bool {
    o.iter().eq(arcs.iter().copied())
}

impl UsmSession {
    /// `salt_seed` starts the per-message privacy salt; use a random value so salts differ
    /// across process restarts (RFC 3826 section 3.1.2.1).
    pub fn new(user: UsmUser, salt_seed: u64) -> Self {
        Self {
            user,
            engine: None,
            context_engine_id: None,
            keys: None,
            salt: salt_seed,
            plain: Vec::new(),
            cipher: Vec::new(),
        }
    }

    pub fn user(&self) -> &UsmUser {
        &self.user
    }

    pub fn engine(&self) -> Option<&Engine> {
        self.engine.as_ref()
    }

    /// Sends requests with this contextEngineID instead of the agent's engine ID (net-snmp's
    /// `-E`), for proxies and agents that serve several context engines.
    pub fn set_context_engine_id(&mut self, id: Option<Vec<u8>>) {
        self.context_engine_id = id;
    }

    /// Forgets the engine so the next request starts with discovery (agent replaced).
    pub fn forget_engine(&mut self) {
        self.engine = None;
        self.keys = None;
    }

    /// Sets a known engine ID (skipping discovery); boots and time are learned from the
    /// first authenticated reply or notInTimeWindow report.
    pub fn set_engine(&mut self, id: &[u8], boots: u32, time: u32, now: Instant) {
        self.learn(id, boots, time, now, false);
    }

    fn learn(&mut self, id: &[u8], boots: u32, time: u32, now: Instant, authenticated: bool) {
        let same = self.engine.as_ref().is_some_and(|e| e.id == id);
        if !same {
            self.keys = Some(LocalizedKeys::new(&self.user, id));
        }
        self.engine = Some(Engine {
            id: id.to_vec(),
            boots,
            time,
            synced_at: now,
            latest_received_time: time,
            authenticated,
        });
    }

    /// A discovery probe (RFC 3414 section 4): noAuthNoPriv, reportable, empty engine ID and
    /// user, an empty GET.
    pub fn encode_discovery(msg_id: i32, request_id: i32, out: &mut Vec<u8>) {
        let mut scoped = Vec::with_capacity(32);
        let vbs: [Oid; 0] = [];
        encode_scoped_pdu(
            &mut scoped,
            b"",
            b"",
            &PduHeader::request(PduType::Get, request_id),
            &vbs[..],
        );
        let h = HeaderData {
            msg_id,
            max_size: 65507,
            flags: flags::REPORTABLE,
            security_model: SECURITY_MODEL_USM,
        };
        let usm = UsmParamsOut {
            engine_id: b"",
            boots: 0,
            time: 0,
            user: b"",
            auth_len: 0,
            priv_params: b"",
        };
        encode_v3(out, &h, &usm, ScopedOut::Plain(&scoped));
    }

    /// Encodes a request. Fails with [`UsmError::UnknownEngine`] before discovery.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_request<V: EncodeVarBinds + ?Sized>(
        &mut self,
        now: Instant,
        msg_id: i32,
        max_size: i32,
        context_name: &[u8],
        pdu: &PduHeader,
        varbinds: &V,
        out: &mut Vec<u8>,
    ) -> Result<(), UsmError> {
        let (Some(engine), Some(keys)) = (&self.engine, &self.keys) else {
            return Err(UsmError::UnknownEngine);
        };
        let level = self.user.level();
        let mut f = flags::REPORTABLE;
        if level >= SecurityLevel::AuthNoPriv {
            f |= flags::AUTH;
        }
        if level == SecurityLevel::AuthPriv {
            f |= flags::PRIV;
        }
        let (boots, time) = (engine.boots, engine.time_at(now));
        self.plain.clear();
        let context_engine_id = self.context_engine_id.as_deref().unwrap_or(&engine.id);
        encode_scoped_pdu(&mut self.plain, context_engine_id, context_name, pdu, varbinds);
        let mut priv_params = [0u8; 8];
        let data = match &keys.privacy {
            Some(pk) => {
                self.salt = self.salt.wrapping_add(1);
                priv_params = pk.encrypt(boots, time, self.salt, &self.plain, &mut self.cipher);
                ScopedOut::Encrypted(&self.cipher)
            }
            None => ScopedOut::Plain(&self.plain),
        };
        let auth_len = keys.auth.as_ref().map_or(0, |a| a.protocol().mac_len());
        let h = HeaderData { msg_id, max_size, flags: f, security_model: SECURITY_MODEL_USM };
        let usm = UsmParamsOut {
            engine_id: &engine.id,
            boots,
            time,
            user: &self.user.name,
            auth_len,
            priv_params: if keys.privacy.is_some() { &priv_params } else { b"" },
        };
        let start = out.len();
        let off = encode_v3(out, &h, &usm, data);
        if let Some(a) = &keys.auth {
            a.sign(&mut out[start..], off - start);
        }
        Ok(())
    }

    /// Processes a received message (RFC 3414 section 3.2). `scratch` receives the decrypted
    /// scopedPDU; the returned PDU borrows from `msg` or `scratch`.
    pub fn process<'b>(
        &mut self,
        now: Instant,
        msg: &'b [u8],
        scratch: &'b mut Vec<u8>,
    ) -> Result<Incoming<'b>, UsmError> {
        let m = V3Message::decode(msg)?;
        let level = self.user.level();
        let authed = m.header.flags & flags::AUTH != 0;
        if m.header.flags & flags::PRIV != 0 && !authed {
            return Err(UsmError::Decode(DecodeError::BadInteger));
        }
        if !authed {
            let ScopedData::Plain(scoped) = m.data else { return Err(UsmError::DecryptFailure) };
            if scoped.pdu.pdu_type == PduType::Report {
                return self.unauthenticated_report(now, &m, &scoped);
            }
            if level > SecurityLevel::NoAuthNoPriv {
                // A reply below the requested level is not accepted (RFC 3412 section 7.2).
                return Err(UsmError::AuthFailure);
            }
            if m.usm.user != self.user.name.as_slice() {
                return Err(UsmError::UnknownUser);
            }
            return Ok(Incoming::Pdu(scoped));
        }
        if level == SecurityLevel::NoAuthNoPriv || m.usm.user != self.user.name.as_slice() {
            return Err(UsmError::UnknownUser);
        }
        let known = self.engine.as_ref().is_some_and(|e| e.id == m.usm.engine_id);
        // A differently keyed engine (agent replaced) is only trusted if the MAC verifies.
        let fresh = (!known).then(|| LocalizedKeys::new(&self.user, m.usm.engine_id));
        {
            let keys = fresh.as_ref().or(self.keys.as_ref()).ok_or(UsmError::UnknownEngine)?;
            let auth = keys.auth.as_ref().ok_or(UsmError::AuthFailure)?;
            if !auth.verify(&msg[..m.len], m.usm.auth_offset, m.usm.auth_params) {
                return Err(UsmError::AuthFailure);
            }
        }
        let (boots, time) = (m.usm.boots, m.usm.time);
        match self.engine.as_mut() {
            Some(e) if known => {
                // RFC 3414 3.2.7 (b): adopt newer values, reject stale messages.
                if boots > e.boots
                    || (boots == e.boots && time > e.latest_received_time)
                    || !e.authenticated
                {
                    e.boots = boots;
                    e.time = time;
                    e.synced_at = now;
                    e.latest_received_time = time;
                    e.authenticated = true;
                } else if boots == MAX_BOOTS
                    || boots < e.boots
                    || time.saturating_add(TIME_WINDOW) < e.latest_received_time
                {
                    return Err(UsmError::NotInTimeWindow);
                }
            }
            _ => {
                self.engine = Some(Engine {
                    id: m.usm.engine_id.to_vec(),
                    boots,
                    time,
                    synced_at: now,
                    latest_received_time: time,
                    authenticated: true,
                });
                self.keys = fresh;
            }
        }
        let keys = self.keys.as_ref().ok_or(UsmError::UnknownEngine)?;
        let scoped = match m.data {
            ScopedData::Plain(s) => {
                // Reports come back authNoPriv even to authPriv requests (RFC 3414 3.1.1 b).
                if level == SecurityLevel::AuthPriv && s.pdu.pdu_type != PduType::Report {
                    return Err(UsmError::UnsupportedSecurityLevel);
                }
                s
            }
            ScopedData::Encrypted(c) => {
                let pk = keys.privacy.as_ref().ok_or(UsmError::UnsupportedSecurityLevel)?;
                pk.decrypt(boots, time, m.usm.priv_params, c, scratch)
                    .map_err(|_| UsmError::DecryptFailure)?;
                ScopedPduRef::decode(scratch, true).map_err(|_| UsmError::DecryptFailure)?
            }
        };
        if scoped.pdu.pdu_type == PduType::Report {
            let Some(vb) = scoped.pdu.varbinds.get(0) else {
                return Ok(Incoming::Report(UsmError::UnknownReport));
            };
            if oid_is(&vb.oid, &report::NOT_IN_TIME_WINDOWS)
                || oid_is(&vb.oid, &report::UNKNOWN_ENGINE_IDS)
            {
                return Ok(Incoming::Resync);
            }
            return Ok(Incoming::Report(report_error(&vb.oid)));
        }
        Ok(Incoming::Pdu(scoped))
    }

    fn unauthenticated_report<'b>(
        &mut self,
        now: Instant,
        m: &V3Message<'b>,
        scoped: &ScopedPduRef<'b>,
    ) -> Result<Incoming<'b>, UsmError> {
        let Some(vb) = scoped.pdu.varbinds.get(0) else {
            return Ok(Incoming::Report(UsmError::UnknownReport));
        };
        if oid_is(&vb.oid, &report::UNKNOWN_ENGINE_IDS) {
            if m.usm.engine_id.is_empty() {
                return Err(UsmError::Decode(DecodeError::BadLength));
            }
            let trusted =
                self.engine.as_ref().is_some_and(|e| e.authenticated && e.id == m.usm.engine_id);
            if !trusted {
                // Discovery values are provisional until an authenticated message confirms
                // them (RFC 3414 section 4).
                self.learn(m.usm.engine_id, m.usm.boots, m.usm.time, now, false);
            }
            return Ok(Incoming::Resync);
        }
        if oid_is(&vb.oid, &report::NOT_IN_TIME_WINDOWS) {
            // Unauthenticated time is only used before any authenticated sync.
            match self.engine.as_mut() {
                Some(e) if !e.authenticated && e.id == m.usm.engine_id => {
                    e.boots = m.usm.boots;
                    e.time = m.usm.time;
                    e.latest_received_time = m.usm.time;
                    e.synced_at = now;
                    return Ok(Incoming::Resync);
                }
                _ => return Ok(Incoming::Report(UsmError::NotInTimeWindow)),
            }
        }
        Ok(Incoming::Report(report_error(&vb.oid)))
    }

    /// How long ago the engine clock was synced, for callers that want to refresh it.
    pub fn since_sync(&self, now: Instant) -> Option<Duration> {
        self.engine.as_ref().map(|e| now.saturating_duration_since(e.synced_at))
    }
}

/// What a Report's first binding says (RFC 3414 section 5, RFC 3413 section 4.1.2), the way
/// net-snmp's `snmpv3_get_report_type` reads it.
fn report_error(oid: &crate::codec::OidRef<'_>) -> UsmError {
    if oid_is(oid, &report::WRONG_DIGESTS) {
        UsmError::AuthFailure
    } else if oid_is(oid, &report::UNKNOWN_USER_NAMES) {
        UsmError::UnknownUser
    } else if oid_is(oid, &report::DECRYPTION_ERRORS) {
        UsmError::DecryptFailure
    } else if oid_is(oid, &report::UNSUPPORTED_SEC_LEVELS) {
        UsmError::UnsupportedSecurityLevel
    } else if oid_is(oid, &report::NOT_IN_TIME_WINDOWS) {
        UsmError::NotInTimeWindow
    } else if oid_is(oid, &report::UNKNOWN_ENGINE_IDS) {
        UsmError::UnknownEngine
    } else if oid_is(oid, &report::UNKNOWN_CONTEXTS) || oid_is(oid, &report::UNAVAILABLE_CONTEXTS) {
        UsmError::UnknownContext
    } else {
        UsmError::UnknownReport
    }
}
