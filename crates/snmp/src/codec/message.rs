//! Whole SNMP messages: community-based v1/v2c (RFC 1157, RFC 1901) and v3 with the USM
//! security parameters (RFC 3412 section 6, RFC 3414 section 2.4).

use super::ber::{Reader, Writer, tag};
use super::error::DecodeError;
use super::pdu::{EncodeVarBinds, PduHeader, PduRef, encode_pdu};

/// The msgVersion field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2c,
    V3,
}

impl Version {
    pub fn as_i32(self) -> i32 {
        match self {
            Version::V1 => 0,
            Version::V2c => 1,
            Version::V3 => 3,
        }
    }

    pub fn from_i32(v: i32) -> Result<Self, DecodeError> {
        match v {
            0 => Ok(Version::V1),
            1 => Ok(Version::V2c),
            3 => Ok(Version::V3),
            other => Err(DecodeError::UnsupportedVersion(other)),
        }
    }
}

/// A decoded v1 or v2c message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommunityMessage<'a> {
    pub version: Version,
    pub community: &'a [u8],
    pub pdu: PduRef<'a>,
}

impl<'a> CommunityMessage<'a> {
    /// Decodes a message. Bytes after the message's SEQUENCE in the datagram are ignored, as
    /// net-snmp ignores them (its length checks only bound the message by the datagram).
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut outer = Reader::new(buf);
        let mut r = outer.enter(tag::SEQUENCE)?;
        let version = Version::from_i32(r.read_i32()?)?;
        if version == Version::V3 {
            return Err(DecodeError::UnsupportedVersion(3));
        }
        let community = r.read_octets()?;
        let pdu = PduRef::decode(&mut r)?;
        r.finish()?;
        Ok(Self { version, community, pdu })
    }
}

/// Appends a v1/v2c message to `out`.
pub fn encode_community<V: EncodeVarBinds + ?Sized>(
    out: &mut Vec<u8>,
    version: Version,
    community: &[u8],
    header: &PduHeader,
    varbinds: &V,
) {
    let mut w = Writer::new(out);
    let m = w.begin(tag::SEQUENCE);
    w.i32(version.as_i32());
    w.octets(community);
    encode_pdu(&mut w, header, varbinds);
    w.end(m);
}

/// msgFlags bits (RFC 3412 section 6.4).
pub mod flags {
    pub const AUTH: u8 = 0x01;
    pub const PRIV: u8 = 0x02;
    pub const REPORTABLE: u8 = 0x04;
}

/// The USM security model number (RFC 3411).
pub const SECURITY_MODEL_USM: i32 = 3;

/// msgGlobalData.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderData {
    pub msg_id: i32,
    pub max_size: i32,
    pub flags: u8,
    pub security_model: i32,
}

/// UsmSecurityParameters as found in a received message. `auth_offset` is the position of
/// the authentication parameters in the whole message, needed to verify the HMAC.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct UsmParams<'a> {
    pub engine_id: &'a [u8],
    pub boots: u32,
    pub time: u32,
    pub user: &'a [u8],
    pub auth_params: &'a [u8],
    pub auth_offset: usize,
    pub priv_params: &'a [u8],
}

impl std::fmt::Debug for UsmParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsmParams")
            .field("engine_id", &Hex(self.engine_id))
            .field("boots", &self.boots)
            .field("time", &self.time)
            .field("user", &String::from_utf8_lossy(self.user))
            .finish_non_exhaustive()
    }
}

/// Hex formatting of an engine ID.
pub struct Hex<'a>(pub &'a [u8]);

impl std::fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A scopedPDU (RFC 3412 section 6.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopedPduRef<'a> {
    pub context_engine_id: &'a [u8],
    pub context_name: &'a [u8],
    pub pdu: PduRef<'a>,
}

impl<'a> ScopedPduRef<'a> {
    /// Decodes a plaintext scopedPDU. A decrypted one may carry padding after the sequence
    /// (DES pads to 8 bytes), which is ignored as RFC 3414 section 8.1.1.3 allows.
    pub fn decode(buf: &'a [u8], allow_padding: bool) -> Result<Self, DecodeError> {
        let mut outer = Reader::new(buf);
        let mut r = outer.enter(tag::SEQUENCE)?;
        if !allow_padding {
            outer.finish()?;
        }
        let context_engine_id = r.read_octets()?;
        let context_name = r.read_octets()?;
        let pdu = PduRef::decode(&mut r)?;
        r.finish()?;
        Ok(Self { context_engine_id, context_name, pdu })
    }
}

/// The msgData of a v3 message: plaintext or still encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopedData<'a> {
    Plain(ScopedPduRef<'a>),
    Encrypted(&'a [u8]),
}

/// A decoded v3 message (security processing not yet applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V3Message<'a> {
    pub header: HeaderData,
    pub usm: UsmParams<'a>,
    pub data: ScopedData<'a>,
    /// Length of the message in the datagram. Anything after it is not part of the message
    /// and not covered by its digest (RFC 3414 section 6.3.2 authenticates wholeMsg).
    pub len: usize,
}

fn non_negative(v: i32) -> Result<u32, DecodeError> {
    u32::try_from(v).map_err(|_| DecodeError::BadInteger)
}

impl<'a> V3Message<'a> {
    /// Decodes a message; bytes after it in the datagram are ignored (see [`V3Message::len`]).
    pub fn decode(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut outer = Reader::new(buf);
        let mut r = outer.enter(tag::SEQUENCE)?;
        let len = outer.offset();
        let version = r.read_i32()?;
        if version != 3 {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let mut h = r.enter(tag::SEQUENCE)?;
        let msg_id = h.read_i32()?;
        let max_size = h.read_i32()?;
        let flag_bytes = h.read_octets()?;
        let security_model = h.read_i32()?;
        h.finish()?;
        let &[flags] = flag_bytes else {
            return Err(DecodeError::BadLength);
        };
        if msg_id < 0 || max_size < 484 {
            return Err(DecodeError::BadInteger);
        }
        if security_model != SECURITY_MODEL_USM {
            return Err(DecodeError::UnsupportedSecurityModel(security_model));
        }
        let (t, sp, sp_off) = r.read_any()?;
        if t != tag::OCTET_STRING {
            return Err(DecodeError::UnexpectedTag { expected: tag::OCTET_STRING, found: t });
        }
        let mut so = Reader::with_base(sp, sp_off);
        let mut s = so.enter(tag::SEQUENCE)?;
        so.finish()?;
        let engine_id = s.read_octets()?;
        let boots = non_negative(s.read_i32()?)?;
        let time = non_negative(s.read_i32()?)?;
        let user = s.read_octets()?;
        let (t, auth_params, auth_offset) = s.read_any()?;
        if t != tag::OCTET_STRING {
            return Err(DecodeError::UnexpectedTag { expected: tag::OCTET_STRING, found: t });
        }
        let priv_params = s.read_octets()?;
        s.finish()?;
        if engine_id.len() > 32 || user.len() > 32 {
            return Err(DecodeError::BadLength);
        }
        let usm = UsmParams { engine_id, boots, time, user, auth_params, auth_offset, priv_params };
        let data = if flags & flags::PRIV != 0 {
            ScopedData::Encrypted(r.read_octets()?)
        } else {
            let (t, c, off) = r.read_any()?;
            if t != tag::SEQUENCE {
                return Err(DecodeError::UnexpectedTag { expected: tag::SEQUENCE, found: t });
            }
            let mut sr = Reader::with_base(c, off);
            let context_engine_id = sr.read_octets()?;
            let context_name = sr.read_octets()?;
            let pdu = PduRef::decode(&mut sr)?;
            sr.finish()?;
            ScopedData::Plain(ScopedPduRef { context_engine_id, context_name, pdu })
        };
        r.finish()?;
        Ok(Self { header: HeaderData { msg_id, max_size, flags, security_model }, usm, data, len })
    }
}

/// Appends a scopedPDU (to be sent in clear or encrypted).
pub fn encode_scoped_pdu<V: EncodeVarBinds + ?Sized>(
    out: &mut Vec<u8>,
    context_engine_id: &[u8],
    context_name: &[u8],
    header: &PduHeader,
    varbinds: &V,
) {
    let mut w = Writer::new(out);
    let m = w.begin(tag::SEQUENCE);
    w.octets(context_engine_id);
    w.octets(context_name);
    encode_pdu(&mut w, header, varbinds);
    w.end(m);
}

/// Outgoing USM parameters; the authentication parameters are written as `auth_len` zero
/// bytes to be filled in after the HMAC is computed (RFC 3414 section 6.3.1).
#[derive(Clone, Copy)]
pub struct UsmParamsOut<'a> {
    pub engine_id: &'a [u8],
    pub boots: u32,
    pub time: u32,
    pub user: &'a [u8],
    pub auth_len: usize,
    pub priv_params: &'a [u8],
}

/// The msgData to encode: an already encoded plaintext scopedPDU or the encrypted one.
#[derive(Clone, Copy, Debug)]
pub enum ScopedOut<'a> {
    Plain(&'a [u8]),
    Encrypted(&'a [u8]),
}

/// Appends a v3 message to `out` and returns the absolute offset of the authentication
/// parameters placeholder in `out`.
pub fn encode_v3(
    out: &mut Vec<u8>,
    h: &HeaderData,
    usm: &UsmParamsOut<'_>,
    data: ScopedOut<'_>,
) -> usize {
    let mut w = Writer::new(out);
    let m = w.begin(tag::SEQUENCE);
    w.i32(3);
    let hm = w.begin(tag::SEQUENCE);
    w.i32(h.msg_id);
    w.i32(h.max_size);
    w.octets(&[h.flags]);
    w.i32(h.security_model);
    w.end(hm);
    let so = w.begin(tag::OCTET_STRING);
    let s = w.begin(tag::SEQUENCE);
    w.octets(usm.engine_id);
    w.i64(tag::INTEGER, usm.boots as i64);
    w.i64(tag::INTEGER, usm.time as i64);
    w.octets(usm.user);
    let auth_at = w.placeholder(tag::OCTET_STRING, usm.auth_len);
    w.octets(usm.priv_params);
    // Closing a sequence that started before the placeholder moves it by the size of the
    // length field that closing added.
    let mut shift = 0;
    let l = w.len();
    w.end(s);
    shift += w.len() - l;
    let l = w.len();
    w.end(so);
    shift += w.len() - l;
    match data {
        ScopedOut::Plain(p) => w.buf_mut().extend_from_slice(p),
        ScopedOut::Encrypted(e) => w.octets(e),
    }
    let l = w.len();
    w.end(m);
    shift += w.len() - l;
    auth_at + shift
}

/// What a receiver needs to route a reply to its waiter without a full decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    Community { version: Version, community: &'a [u8], request_id: i32 },
    V3 { msg_id: i32 },
}

/// Reads just enough of a message to route it.
pub fn peek_route(buf: &[u8]) -> Result<Route<'_>, DecodeError> {
    let mut outer = Reader::new(buf);
    let mut r = outer.enter(tag::SEQUENCE)?;
    let version = Version::from_i32(r.read_i32()?)?;
    if version == Version::V3 {
        let mut h = r.enter(tag::SEQUENCE)?;
        return Ok(Route::V3 { msg_id: h.read_i32()? });
    }
    let community = r.read_octets()?;
    let (_, content, _) = r.read_any()?;
    let request_id = Reader::new(content).read_i32()?;
    Ok(Route::Community { version, community, request_id })
}
