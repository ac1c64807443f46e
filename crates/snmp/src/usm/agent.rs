//! The authoritative side of USM (RFC 3414 section 3.2 as an agent applies it), for agent
//! simulators and responders: checks engine ID, user, level, digest, time window and
//! decrypts, or says which report to send.

use std::collections::HashMap;
use std::time::Instant;

use crate::codec::{
    EncodeVarBinds, HeaderData, Oid, PduHeader, PduType, SECURITY_MODEL_USM, ScopedData, ScopedOut,
    ScopedPduRef, UsmParamsOut, V3Message, Value, VarBind, encode_scoped_pdu, encode_v3, flags,
};

use super::protocol::SecurityLevel;
use super::session::report;
use super::user::{LocalizedKeys, UsmUser};

/// Who sent a request and how, so the response goes back with the same security.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub msg_id: i32,
    pub max_size: i32,
    pub user: Vec<u8>,
    pub level: SecurityLevel,
    pub context_name: Vec<u8>,
}

/// A request that passed security processing.
#[derive(Debug)]
pub struct AuthorizedRequest<'a> {
    pub context: RequestContext,
    pub scoped: ScopedPduRef<'a>,
}

/// What to do with a request that failed security processing.
#[derive(Debug)]
pub enum Rejection {
    /// Send this report (already encoded by [`AuthoritativeEngine::process`] into `out`).
    Report,
    /// Drop silently (malformed, or not reportable).
    Drop,
}

struct AgentUser {
    level: SecurityLevel,
    keys: LocalizedKeys,
}

/// usmStats counters of an agent (RFC 3414 section 5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsmStats {
    pub unsupported_sec_levels: u32,
    pub not_in_time_windows: u32,
    pub unknown_user_names: u32,
    pub unknown_engine_ids: u32,
    pub wrong_digests: u32,
    pub decryption_errors: u32,
}

/// An authoritative SNMP engine: its ID, boots, clock and users.
pub struct AuthoritativeEngine {
    engine_id: Vec<u8>,
    boots: u32,
    booted_at: Instant,
    users: HashMap<Vec<u8>, AgentUser>,
    salt: u64,
    plain: Vec<u8>,
    cipher: Vec<u8>,
    pub stats: UsmStats,
}

impl std::fmt::Debug for AuthoritativeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthoritativeEngine")
            .field("engine_id", &crate::codec::Hex(&self.engine_id))
            .field("boots", &self.boots)
            .field("users", &self.users.len())
            .finish()
    }
}

impl AuthoritativeEngine {
    pub fn new(engine_id: Vec<u8>, boots: u32, now: Instant, users: &[UsmUser]) -> Self {
        let users = users
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    AgentUser { level: u.level(), keys: LocalizedKeys::new(u, &engine_id) },
                )
            })
            .collect();
        Self {
            engine_id,
            boots,
            booted_at: now,
            users,
            salt: rand::random(),
            plain: Vec::new(),
            cipher: Vec::new(),
            stats: UsmStats::default(),
        }
    }

    pub fn engine_id(&self) -> &[u8] {
        &self.engine_id
    }

    pub fn boots(&self) -> u32 {
        self.boots
    }

    /// snmpEngineTime in seconds.
    pub fn time(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.booted_at).as_secs().min(i32::MAX as u64) as u32
    }

    /// A reboot: snmpEngineBoots increases and snmpEngineTime restarts at zero.
    pub fn reboot(&mut self, now: Instant) {
        self.boots = self.boots.saturating_add(1).min(i32::MAX as u32);
        self.booted_at = now;
    }

    /// Security processing of a request. On rejection a report may have been written to
    /// `out`.
    pub fn process<'b>(
        &mut self,
        now: Instant,
        msg: &'b [u8],
        scratch: &'b mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<AuthorizedRequest<'b>, Rejection> {
        let m = V3Message::decode(msg).map_err(|_| Rejection::Drop)?;
        let reportable = m.header.flags & flags::REPORTABLE != 0;
        let level = match m.header.flags & (flags::AUTH | flags::PRIV) {
            0 => SecurityLevel::NoAuthNoPriv,
            f if f == flags::AUTH => SecurityLevel::AuthNoPriv,
            f if f == flags::AUTH | flags::PRIV => SecurityLevel::AuthPriv,
            _ => return Err(Rejection::Drop),
        };
        let request_id = match &m.data {
            ScopedData::Plain(s) => s.pdu.request_id,
            ScopedData::Encrypted(_) => 0,
        };
        let mut ctx = RequestContext {
            msg_id: m.header.msg_id,
            max_size: m.header.max_size,
            user: m.usm.user.to_vec(),
            level: SecurityLevel::NoAuthNoPriv,
            context_name: Vec::new(),
        };
        if m.usm.engine_id != self.engine_id.as_slice() {
            self.stats.unknown_engine_ids += 1;
            return self.reject(
                now,
                reportable,
                &ctx,
                request_id,
                &report::UNKNOWN_ENGINE_IDS,
                self.stats.unknown_engine_ids,
                out,
            );
        }
        let Some(user) = self.users.get(m.usm.user) else {
            self.stats.unknown_user_names += 1;
            return self.reject(
                now,
                reportable,
                &ctx,
                request_id,
                &report::UNKNOWN_USER_NAMES,
                self.stats.unknown_user_names,
                out,
            );
        };
        if level != user.level {
            self.stats.unsupported_sec_levels += 1;
            return self.reject(
                now,
                reportable,
                &ctx,
                request_id,
                &report::UNSUPPORTED_SEC_LEVELS,
                self.stats.unsupported_sec_levels,
                out,
            );
        }
        if let Some(a) = &user.keys.auth
            && !a.verify(&msg[..m.len], m.usm.auth_offset, m.usm.auth_params)
        {
            self.stats.wrong_digests += 1;
            return self.reject(
                now,
                reportable,
                &ctx,
                request_id,
                &report::WRONG_DIGESTS,
                self.stats.wrong_digests,
                out,
            );
        }
        if level >= SecurityLevel::AuthNoPriv {
            // RFC 3414 3.2.7 (a): boots must match and time be within 150 s.
            let t = self.time(now);
            if m.usm.boots != self.boots
                || m.usm.boots == i32::MAX as u32
                || m.usm.time.abs_diff(t) > 150
            {
                self.stats.not_in_time_windows += 1;
                ctx.level = SecurityLevel::AuthNoPriv;
                return self.reject(
                    now,
                    reportable,
                    &ctx,
                    request_id,
                    &report::NOT_IN_TIME_WINDOWS,
                    self.stats.not_in_time_windows,
                    out,
                );
            }
        }
        let scoped = match m.data {
            ScopedData::Plain(s) => s,
            ScopedData::Encrypted(c) => {
                let pk = self
                    .users
                    .get(m.usm.user)
                    .and_then(|u| u.keys.privacy.as_ref())
                    .ok_or(Rejection::Drop)?;
                let ok = pk.decrypt(m.usm.boots, m.usm.time, m.usm.priv_params, c, scratch).is_ok();
                match ok.then(|| ScopedPduRef::decode(scratch, true)) {
                    Some(Ok(s)) => s,
                    _ => {
                        self.stats.decryption_errors += 1;
                        let n = self.stats.decryption_errors;
                        return self.reject(
                            now,
                            reportable,
                            &ctx,
                            0,
                            &report::DECRYPTION_ERRORS,
                            n,
                            out,
                        );
                    }
                }
            }
        };
        ctx.level = level;
        ctx.context_name = scoped.context_name.to_vec();
        Ok(AuthorizedRequest { context: ctx, scoped })
    }

    #[allow(clippy::too_many_arguments)]
    fn reject<T>(
        &mut self,
        now: Instant,
        reportable: bool,
        ctx: &RequestContext,
        request_id: i32,
        oid: &[u32],
        count: u32,
        out: &mut Vec<u8>,
    ) -> Result<T, Rejection> {
        if !reportable {
            return Err(Rejection::Drop);
        }
        let vbs = [VarBind::new(Oid::from_static(oid), Value::Counter32(count))];
        let h = PduHeader::request(PduType::Report, request_id);
        self.encode(now, ctx, &h, &vbs[..], out);
        Err(Rejection::Report)
    }

    /// Encodes a response (or report) to a request with the request's security level.
    pub fn encode<V: EncodeVarBinds + ?Sized>(
        &mut self,
        now: Instant,
        ctx: &RequestContext,
        pdu: &PduHeader,
        varbinds: &V,
        out: &mut Vec<u8>,
    ) {
        let user = self.users.get(&ctx.user);
        let keys = user.map(|u| &u.keys);
        let level = if user.is_some() { ctx.level } else { SecurityLevel::NoAuthNoPriv };
        let (boots, time) = (self.boots, self.time(now));
        self.plain.clear();
        encode_scoped_pdu(&mut self.plain, &self.engine_id, &ctx.context_name, pdu, varbinds);
        let mut f = 0;
        let mut priv_params = [0u8; 8];
        let mut data = ScopedOut::Plain(&self.plain);
        if level == SecurityLevel::AuthPriv
            && let Some(pk) = keys.and_then(|k| k.privacy.as_ref())
        {
            self.salt = self.salt.wrapping_add(1);
            priv_params = pk.encrypt(boots, time, self.salt, &self.plain, &mut self.cipher);
            data = ScopedOut::Encrypted(&self.cipher);
            f |= flags::PRIV;
        }
        let auth = if level >= SecurityLevel::AuthNoPriv {
            keys.and_then(|k| k.auth.as_ref())
        } else {
            None
        };
        if auth.is_some() {
            f |= flags::AUTH;
        }
        let h = HeaderData {
            msg_id: ctx.msg_id,
            max_size: 65507,
            flags: f,
            security_model: SECURITY_MODEL_USM,
        };
        let usm = UsmParamsOut {
            engine_id: &self.engine_id,
            boots,
            time,
            user: if user.is_some() { &ctx.user } else { b"" },
            auth_len: auth.map_or(0, |a| a.protocol().mac_len()),
            priv_params: if f & flags::PRIV != 0 { &priv_params } else { b"" },
        };
        let start = out.len();
        let off = encode_v3(out, &h, &usm, data);
        if let Some(a) = auth {
            a.sign(&mut out[start..], off - start);
        }
    }
}
