//! SNMP values (RFC 2578 SMIv2 types and the RFC 3416 exception values), borrowed and owned.

use std::fmt;

use super::DecodeError;
use super::ber::{Reader, Writer, decode_i32, decode_u32, decode_u64, tag};
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
    Opaque(&'a [u8]),
    Counter64(u64),
    /// RFC 3416 exception: the object is not supported by the agent (a value, not an error).
    NoSuchObject,
    /// RFC 3416 exception: the object exists but this instance does not.
    NoSuchInstance,
    /// RFC 3416 exception: the walk reached the end of the agent's MIB view.
    EndOfMibView,
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
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl<'a> ValueRef<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let (t, c, _) = r.read_any()?;
        Ok(match t {
            tag::INTEGER => ValueRef::Integer(decode_i32(c)?),
            tag::OCTET_STRING => ValueRef::OctetString(c),
            tag::NULL => {
                expect_empty(c)?;
                ValueRef::Null
            }
            tag::OBJECT_IDENTIFIER => ValueRef::ObjectId(OidRef::parse(c)?),
            tag::IP_ADDRESS => {
                ValueRef::IpAddress(c.try_into().map_err(|_| DecodeError::BadLength)?)
            }
            tag::COUNTER32 => ValueRef::Counter32(decode_u32(c)?),
            tag::GAUGE32 => ValueRef::Gauge32(decode_u32(c)?),
            tag::TIMETICKS => ValueRef::TimeTicks(decode_u32(c)?),
            tag::OPAQUE => ValueRef::Opaque(c),
            tag::COUNTER64 => ValueRef::Counter64(decode_u64(c)?),
            tag::NO_SUCH_OBJECT => {
                expect_empty(c)?;
                ValueRef::NoSuchObject
            }
            tag::NO_SUCH_INSTANCE => {
                expect_empty(c)?;
                ValueRef::NoSuchInstance
            }
            tag::END_OF_MIB_VIEW => {
                expect_empty(c)?;
                ValueRef::EndOfMibView
            }
            other => return Err(DecodeError::UnsupportedTag(other)),
        })
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
            ValueRef::Counter64(v) => w.u64(tag::COUNTER64, v),
            ValueRef::NoSuchObject => w.null(tag::NO_SUCH_OBJECT),
            ValueRef::NoSuchInstance => w.null(tag::NO_SUCH_INSTANCE),
            ValueRef::EndOfMibView => w.null(tag::END_OF_MIB_VIEW),
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
            ValueRef::Counter64(v) => Value::Counter64(v),
            ValueRef::NoSuchObject => Value::NoSuchObject,
            ValueRef::NoSuchInstance => Value::NoSuchInstance,
            ValueRef::EndOfMibView => Value::EndOfMibView,
        }
    }

    /// True for the three RFC 3416 exception values.
    pub fn is_exception(&self) -> bool {
        matches!(self, ValueRef::NoSuchObject | ValueRef::NoSuchInstance | ValueRef::EndOfMibView)
    }
}

fn expect_empty(c: &[u8]) -> Result<(), DecodeError> {
    if c.is_empty() { Ok(()) } else { Err(DecodeError::BadLength) }
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
            Value::Counter64(v) => w.u64(tag::COUNTER64, *v),
            Value::NoSuchObject => w.null(tag::NO_SUCH_OBJECT),
            Value::NoSuchInstance => w.null(tag::NO_SUCH_INSTANCE),
            Value::EndOfMibView => w.null(tag::END_OF_MIB_VIEW),
        }
    }

    pub fn is_exception(&self) -> bool {
        matches!(self, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView)
    }

    /// The value as an unsigned integer, for counters, gauges, ticks and non-negative
    /// integers.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => Some(v as u64),
            Value::Counter64(v) => Some(v),
            Value::Integer(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::OctetString(v) | Value::Opaque(v) => Some(v),
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
            Value::Counter64(v) => write!(f, "Counter64({v})"),
            Value::NoSuchObject => f.write_str("NoSuchObject"),
            Value::NoSuchInstance => f.write_str("NoSuchInstance"),
            Value::EndOfMibView => f.write_str("EndOfMibView"),
        }
    }
}
