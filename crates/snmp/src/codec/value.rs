//! SNMP values (RFC 2578 SMIv2 types, the RFC 1442 UInteger32 and NsapAddress, and the
//! RFC 3416 exception values), borrowed and owned.
//!
//! Decoding a value never fails once its tag and length frame it: content this codec cannot
//! read becomes [`ValueRef::Other`], so one odd binding does not cost the rest of the reply.

use std::fmt;

use super::ber::{Reader, Writer, decode_i32, decode_u32, decode_u64, tag};
use super::error::DecodeError;
use super::oid::{Oid, OidRef};

/// A value decoded in place: octet strings and OIDs point into the message buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueRef<'a> {
    Integer(i32),
    OctetString(&'a [u8]),
    Null,
    ObjectId(OidRef<'a>),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    /// Opaque (RFC 2578 7.1.9). net-snmp's float, double and 64-bit integers travel wrapped
    /// in it; [`OpaqueValue::decode`] reads those.
    Opaque(&'a [u8]),
    /// NsapAddress (RFC 1442, tag 0x45), still sent by some older agents.
    NsapAddress(&'a [u8]),
    Counter64(u64),
    /// UInteger32 (RFC 1442, tag 0x47), still sent by some older agents.
    UInteger32(u32),
    /// RFC 3416 exception: the object is not supported by the agent (a value, not an error).
    NoSuchObject,
    /// RFC 3416 exception: the object exists but this instance does not.
    NoSuchInstance,
    /// RFC 3416 exception: the walk reached the end of the agent's MIB view.
    EndOfMibView,
    /// A value this codec cannot interpret: an unknown tag, or content that is not valid for
    /// its tag (an empty INTEGER, an IpAddress of five bytes). Kept as received, so it
    /// re-encodes unchanged.
    Other {
        tag: u8,
        content: &'a [u8],
    },
}

/// An owned value, as returned by the client.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    NsapAddress(Vec<u8>),
    Counter64(u64),
    UInteger32(u32),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
    /// See [`ValueRef::Other`].
    Other {
        tag: u8,
        content: Vec<u8>,
    },
}

impl<'a> ValueRef<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let (t, c, _) = r.read_any()?;
        Ok(Self::from_tlv(t, c))
    }

    /// Interprets the tag and content of one value. Lenient where net-snmp is (integers of up
    /// to eight octets, content after NULL and the exception tags ignored); whatever still
    /// cannot be read is [`ValueRef::Other`].
    #[inline]
    pub fn from_tlv(t: u8, c: &'a [u8]) -> Self {
        let parsed = match t {
            tag::INTEGER => decode_i32(c).map(ValueRef::Integer),
            tag::OCTET_STRING => return ValueRef::OctetString(c),
            tag::NULL => return ValueRef::Null,
            tag::OBJECT_IDENTIFIER => OidRef::parse(c).map(ValueRef::ObjectId),
            tag::IP_ADDRESS => {
                c.try_into().map(ValueRef::IpAddress).map_err(|_| DecodeError::BadLength)
            }
            tag::COUNTER32 => decode_u32(c).map(ValueRef::Counter32),
            tag::GAUGE32 => decode_u32(c).map(ValueRef::Gauge32),
            tag::TIMETICKS => decode_u32(c).map(ValueRef::TimeTicks),
            tag::OPAQUE => return ValueRef::Opaque(c),
            tag::NSAP_ADDRESS => return ValueRef::NsapAddress(c),
            tag::COUNTER64 => decode_u64(c).map(ValueRef::Counter64),
            tag::UINTEGER32 => decode_u32(c).map(ValueRef::UInteger32),
            tag::NO_SUCH_OBJECT => return ValueRef::NoSuchObject,
            tag::NO_SUCH_INSTANCE => return ValueRef::NoSuchInstance,
            tag::END_OF_MIB_VIEW => return ValueRef::EndOfMibView,
            _ => Err(DecodeError::UnsupportedTag(t)),
        };
        parsed.unwrap_or(ValueRef::Other { tag: t, content: c })
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        match *self {
            ValueRef::Integer(v) => w.i32(v),
            ValueRef::OctetString(v) => w.octets(v),
            ValueRef::Null => w.null(tag::NULL),
            ValueRef::ObjectId(o) => w.raw(tag::OBJECT_IDENTIFIER, o.as_bytes()),
            ValueRef::IpAddress(a) => w.raw(tag::IP_ADDRESS, &a),
            ValueRef::Counter32(v) => w.u64(tag::COUNTER32, v as u64),
            ValueRef::Gauge32(v) => w.u64(tag::GAUGE32, v as u64),
            ValueRef::TimeTicks(v) => w.u64(tag::TIMETICKS, v as u64),
            ValueRef::Opaque(v) => w.raw(tag::OPAQUE, v),
            ValueRef::NsapAddress(v) => w.raw(tag::NSAP_ADDRESS, v),
            ValueRef::Counter64(v) => w.u64(tag::COUNTER64, v),
            ValueRef::UInteger32(v) => w.u64(tag::UINTEGER32, v as u64),
            ValueRef::NoSuchObject => w.null(tag::NO_SUCH_OBJECT),
            ValueRef::NoSuchInstance => w.null(tag::NO_SUCH_INSTANCE),
            ValueRef::EndOfMibView => w.null(tag::END_OF_MIB_VIEW),
            ValueRef::Other { tag, content } => w.raw(tag, content),
        }
    }

    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Integer(v) => Value::Integer(v),
            ValueRef::OctetString(v) => Value::OctetString(v.to_vec()),
            ValueRef::Null => Value::Null,
            ValueRef::ObjectId(o) => Value::ObjectId(o.to_oid()),
            ValueRef::IpAddress(a) => Value::IpAddress(a),
            ValueRef::Counter32(v) => Value::Counter32(v),
            ValueRef::Gauge32(v) => Value::Gauge32(v),
            ValueRef::TimeTicks(v) => Value::TimeTicks(v),
            ValueRef::Opaque(v) => Value::Opaque(v.to_vec()),
            ValueRef::NsapAddress(v) => Value::NsapAddress(v.to_vec()),
            ValueRef::Counter64(v) => Value::Counter64(v),
            ValueRef::UInteger32(v) => Value::UInteger32(v),
            ValueRef::NoSuchObject => Value::NoSuchObject,
            ValueRef::NoSuchInstance => Value::NoSuchInstance,
            ValueRef::EndOfMibView => Value::EndOfMibView,
            ValueRef::Other { tag, content } => Value::Other { tag, content: content.to_vec() },
        }
    }

    /// True for the three RFC 3416 exception values.
    pub fn is_exception(&self) -> bool {
        matches!(self, ValueRef::NoSuchObject | ValueRef::NoSuchInstance | ValueRef::EndOfMibView)
    }
}

impl Value {
    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        match self {
            Value::Integer(v) => w.i32(*v),
            Value::OctetString(v) => w.octets(v),
            Value::Null => w.null(tag::NULL),
            Value::ObjectId(o) => w.oid(o),
            Value::IpAddress(a) => w.raw(tag::IP_ADDRESS, a),
            Value::Counter32(v) => w.u64(tag::COUNTER32, *v as u64),
            Value::Gauge32(v) => w.u64(tag::GAUGE32, *v as u64),
            Value::TimeTicks(v) => w.u64(tag::TIMETICKS, *v as u64),
            Value::Opaque(v) => w.raw(tag::OPAQUE, v),
            Value::NsapAddress(v) => w.raw(tag::NSAP_ADDRESS, v),
            Value::Counter64(v) => w.u64(tag::COUNTER64, *v),
            Value::UInteger32(v) => w.u64(tag::UINTEGER32, *v as u64),
            Value::NoSuchObject => w.null(tag::NO_SUCH_OBJECT),
            Value::NoSuchInstance => w.null(tag::NO_SUCH_INSTANCE),
            Value::EndOfMibView => w.null(tag::END_OF_MIB_VIEW),
            Value::Other { tag, content } => w.raw(*tag, content),
        }
    }

    pub fn is_exception(&self) -> bool {
        matches!(self, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView)
    }

    /// The value as an unsigned integer, for counters, gauges, ticks and non-negative
    /// integers.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Counter32(v)
            | Value::Gauge32(v)
            | Value::TimeTicks(v)
            | Value::UInteger32(v) => Some(v as u64),
            Value::Counter64(v) => Some(v),
            Value::Integer(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::OctetString(v) | Value::Opaque(v) | Value::NsapAddress(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Integer(v) => write!(f, "Integer({v})"),
            Value::OctetString(v) => write!(f, "OctetString({:?})", String::from_utf8_lossy(v)),
            Value::Null => f.write_str("Null"),
            Value::ObjectId(o) => write!(f, "ObjectId({o})"),
            Value::IpAddress(a) => write!(f, "IpAddress({}.{}.{}.{})", a[0], a[1], a[2], a[3]),
            Value::Counter32(v) => write!(f, "Counter32({v})"),
            Value::Gauge32(v) => write!(f, "Gauge32({v})"),
            Value::TimeTicks(v) => write!(f, "TimeTicks({v})"),
            Value::Opaque(v) => write!(f, "Opaque({v:02x?})"),
            Value::NsapAddress(v) => write!(f, "NsapAddress({v:02x?})"),
            Value::Counter64(v) => write!(f, "Counter64({v})"),
            Value::UInteger32(v) => write!(f, "UInteger32({v})"),
            Value::NoSuchObject => f.write_str("NoSuchObject"),
            Value::NoSuchInstance => f.write_str("NoSuchInstance"),
            Value::EndOfMibView => f.write_str("EndOfMibView"),
            Value::Other { tag, content } => write!(f, "Other({tag:#04x}, {content:02x?})"),
        }
    }
}

/// The typed values net-snmp wraps in an Opaque (its `OPAQUE_SPECIAL_TYPES`, on by default):
/// the Opaque content is itself a BER value whose tag is `0x9f` followed by a second octet
/// (`asn_parse_header` in net-snmp's `snmplib/asn1.c`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OpaqueValue {
    Float(f32),
    Double(f64),
    Int64(i64),
    UInt64(u64),
    Counter64(u64),
}

impl OpaqueValue {
    /// Reads the content of an Opaque; `None` when it is plain opaque data.
    pub fn decode(c: &[u8]) -> Option<Self> {
        let [0x9f, kind, rest @ ..] = c else { return None };
        let (len, n) = super::ber::read_length(rest).ok()?;
        let v = &rest[n..];
        if v.len() != len {
            return None;
        }
        Some(match kind {
            0x78 => OpaqueValue::Float(f32::from_be_bytes(v.try_into().ok()?)),
            0x79 => OpaqueValue::Double(f64::from_be_bytes(v.try_into().ok()?)),
            0x7a => OpaqueValue::Int64(super::ber::decode_i64(v).ok()?),
            0x7b => OpaqueValue::UInt64(decode_u64(v).ok()?),
            0x76 => OpaqueValue::Counter64(decode_u64(v).ok()?),
            _ => return None,
        })
    }
}
