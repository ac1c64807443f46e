//! PDUs and variable bindings (RFC 3416 section 3). Decoding validates the whole varbind list
//! once and then iterates it in place, without allocating.

use std::fmt;

use super::ber::{Reader, Writer, tag};
use super::error::DecodeError;
use super::oid::{Oid, OidRef};
use super::value::{Value, ValueRef};

/// PDU tags (context-specific, constructed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PduType {
    Get = 0xa0,
    GetNext = 0xa1,
    Response = 0xa2,
    Set = 0xa3,
    GetBulk = 0xa5,
    Inform = 0xa6,
    TrapV2 = 0xa7,
    Report = 0xa8,
}

impl PduType {
    pub fn from_tag(t: u8) -> Result<Self, DecodeError> {
        Ok(match t {
            0xa0 => PduType::Get,
            0xa1 => PduType::GetNext,
            0xa2 => PduType::Response,
            0xa3 => PduType::Set,
            0xa5 => PduType::GetBulk,
            0xa6 => PduType::Inform,
            0xa7 => PduType::TrapV2,
            0xa8 => PduType::Report,
            other => return Err(DecodeError::UnsupportedTag(other)),
        })
    }
}

/// The error-status field of a response (RFC 3416 section 3, RFC 1157 for 1..5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorStatus {
    NoError,
    TooBig,
    NoSuchName,
    BadValue,
    ReadOnly,
    GenErr,
    NoAccess,
    WrongType,
    WrongLength,
    WrongEncoding,
    WrongValue,
    NoCreation,
    InconsistentValue,
    ResourceUnavailable,
    CommitFailed,
    UndoFailed,
    AuthorizationError,
    NotWritable,
    InconsistentName,
    /// A status outside RFC 3416's list.
    Other(i32),
}

impl ErrorStatus {
    pub fn from_i32(v: i32) -> Self {
        use ErrorStatus::*;
        const ALL: [ErrorStatus; 19] = [
            NoError,
            TooBig,
            NoSuchName,
            BadValue,
            ReadOnly,
            GenErr,
            NoAccess,
            WrongType,
            WrongLength,
            WrongEncoding,
            WrongValue,
            NoCreation,
            InconsistentValue,
            ResourceUnavailable,
            CommitFailed,
            UndoFailed,
            AuthorizationError,
            NotWritable,
            InconsistentName,
        ];
        usize::try_from(v).ok().and_then(|i| ALL.get(i).copied()).unwrap_or(Other(v))
    }

    pub fn as_i32(self) -> i32 {
        use ErrorStatus::*;
        match self {
            NoError => 0,
            TooBig => 1,
            NoSuchName => 2,
            BadValue => 3,
            ReadOnly => 4,
            GenErr => 5,
            NoAccess => 6,
            WrongType => 7,
            WrongLength => 8,
            WrongEncoding => 9,
            WrongValue => 10,
            NoCreation => 11,
            InconsistentValue => 12,
            ResourceUnavailable => 13,
            CommitFailed => 14,
            UndoFailed => 15,
            AuthorizationError => 16,
            NotWritable => 17,
            InconsistentName => 18,
            Other(v) => v,
        }
    }
}

impl fmt::Display for ErrorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorStatus::Other(v) => write!(f, "error-status {v}"),
            s => write!(f, "{s:?}"),
        }
    }
}

/// One decoded variable binding, borrowing from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarBindRef<'a> {
    pub oid: OidRef<'a>,
    pub value: ValueRef<'a>,
}

impl VarBindRef<'_> {
    pub fn to_owned(&self) -> VarBind {
        VarBind { oid: self.oid.to_oid(), value: self.value.to_value() }
    }
}

/// An owned variable binding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VarBind {
    pub oid: Oid,
    pub value: Value,
}

impl VarBind {
    pub fn new(oid: Oid, value: Value) -> Self {
        Self { oid, value }
    }

    /// A binding with a NULL value, as requests carry.
    pub fn null(oid: Oid) -> Self {
        Self { oid, value: Value::Null }
    }
}

/// A validated varbind list that iterates in place.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VarBinds<'a> {
    raw: &'a [u8],
    len: usize,
}

impl<'a> VarBinds<'a> {
    fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let raw = r.read(tag::SEQUENCE)?;
        let mut it = VarBindIter { r: Reader::new(raw) };
        let mut len = 0;
        while !it.r.is_empty() {
            it.next_checked()?;
            len += 1;
        }
        Ok(Self { raw, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> VarBindIter<'a> {
        VarBindIter { r: Reader::new(self.raw) }
    }

    pub fn get(&self, i: usize) -> Option<VarBindRef<'a>> {
        self.iter().nth(i)
    }

    pub fn to_vec(&self) -> Vec<VarBind> {
        self.iter().map(|v| v.to_owned()).collect()
    }

    /// The raw BER content of the list, for re-encoding without decoding.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

impl fmt::Debug for VarBinds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for VarBinds<'a> {
    type Item = VarBindRef<'a>;
    type IntoIter = VarBindIter<'a>;
    fn into_iter(self) -> VarBindIter<'a> {
        self.iter()
    }
}

/// Iterator over a validated varbind list.
#[derive(Clone, Debug)]
pub struct VarBindIter<'a> {
    r: Reader<'a>,
}

impl<'a> VarBindIter<'a> {
    fn next_checked(&mut self) -> Result<VarBindRef<'a>, DecodeError> {
        let mut vb = self.r.enter(tag::SEQUENCE)?;
        let oid = OidRef::parse(vb.read(tag::OBJECT_IDENTIFIER)?)?;
        let value = ValueRef::decode(&mut vb)?;
        vb.finish()?;
        Ok(VarBindRef { oid, value })
    }
}

impl<'a> Iterator for VarBindIter<'a> {
    type Item = VarBindRef<'a>;
    fn next(&mut self) -> Option<VarBindRef<'a>> {
        if self.r.is_empty() {
            return None;
        }
        // The list was validated when it was decoded, so this cannot fail.
        self.next_checked().ok()
    }
}

/// A decoded PDU. For GetBulk, `error_status` and `error_index` carry non-repeaters and
/// max-repetitions (RFC 3416 section 4.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduRef<'a> {
    pub pdu_type: PduType,
    pub request_id: i32,
    pub error_status: i32,
    pub error_index: i32,
    pub varbinds: VarBinds<'a>,
}

impl<'a> PduRef<'a> {
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let (t, content, off) = r.read_any()?;
        let pdu_type = PduType::from_tag(t)?;
        let mut p = Reader::with_base(content, off);
        let request_id = p.read_i32()?;
        let error_status = p.read_i32()?;
        let error_index = p.read_i32()?;
        let varbinds = VarBinds::decode(&mut p)?;
        p.finish()?;
        Ok(Self { pdu_type, request_id, error_status, error_index, varbinds })
    }

    pub fn status(&self) -> ErrorStatus {
        ErrorStatus::from_i32(self.error_status)
    }
}

/// Something that can be written as a varbind list.
pub trait EncodeVarBinds {
    fn encode_varbinds(&self, w: &mut Writer<'_>);
}

/// OIDs alone encode as bindings with NULL values (a request).
impl EncodeVarBinds for [Oid] {
    fn encode_varbinds(&self, w: &mut Writer<'_>) {
        for oid in self {
            let m = w.begin(tag::SEQUENCE);
            w.oid(oid);
            w.null(tag::NULL);
            w.end(m);
        }
    }
}

impl EncodeVarBinds for [VarBind] {
    fn encode_varbinds(&self, w: &mut Writer<'_>) {
        for vb in self {
            let m = w.begin(tag::SEQUENCE);
            w.oid(&vb.oid);
            vb.value.encode(w);
            w.end(m);
        }
    }
}

impl EncodeVarBinds for [VarBindRef<'_>] {
    fn encode_varbinds(&self, w: &mut Writer<'_>) {
        for vb in self {
            let m = w.begin(tag::SEQUENCE);
            w.raw(tag::OBJECT_IDENTIFIER, vb.oid.as_bytes());
            vb.value.encode(w);
            w.end(m);
        }
    }
}

impl EncodeVarBinds for VarBinds<'_> {
    fn encode_varbinds(&self, w: &mut Writer<'_>) {
        w.buf_mut().extend_from_slice(self.raw);
    }
}

/// The fixed fields of a PDU to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PduHeader {
    pub pdu_type: PduType,
    pub request_id: i32,
    pub error_status: i32,
    pub error_index: i32,
}

impl PduHeader {
    pub fn request(pdu_type: PduType, request_id: i32) -> Self {
        Self { pdu_type, request_id, error_status: 0, error_index: 0 }
    }

    pub fn bulk(request_id: i32, non_repeaters: i32, max_repetitions: i32) -> Self {
        Self {
            pdu_type: PduType::GetBulk,
            request_id,
            error_status: non_repeaters,
            error_index: max_repetitions,
        }
    }
}

pub fn encode_pdu<V: EncodeVarBinds + ?Sized>(w: &mut Writer<'_>, h: &PduHeader, vbs: &V) {
    let m = w.begin(h.pdu_type as u8);
    w.i32(h.request_id);
    w.i32(h.error_status);
    w.i32(h.error_index);
    let l = w.begin(tag::SEQUENCE);
    vbs.encode_varbinds(w);
    w.end(l);
    w.end(m);
}
