//! net-snmp style text for values (`snmpget -On` output: `.1.3.6.1.2.1.1.3.0 = Timeticks:
//! (145) 0:00:01.45`), so output can be compared with net-snmp's tools line by line.

use std::fmt::Write;

use crate::codec::ber::{decode_i64, tag};
use crate::codec::{OpaqueValue, Value, VarBind};

/// `OID = TYPE: value` as `snmpget -On` prints it without MIBs.
pub fn format_varbind(vb: &VarBind) -> String {
    format!(".{} = {}", vb.oid, format_value(&vb.value))
}

/// The right-hand side of a net-snmp output line.
pub fn format_value(v: &Value) -> String {
    match v {
        Value::Integer(i) => format!("INTEGER: {i}"),
        Value::OctetString(s) if s.is_empty() => "\"\"".to_string(),
        Value::OctetString(s) if is_printable(s) => format!("STRING: \"{}\"", escape(s)),
        Value::OctetString(s) => format!("Hex-STRING: {}", hex_lines(s)),
        Value::Null => "NULL".to_string(),
        Value::ObjectId(o) => format!("OID: .{o}"),
        Value::IpAddress(a) => format!("IpAddress: {}.{}.{}.{}", a[0], a[1], a[2], a[3]),
        Value::Counter32(c) => format!("Counter32: {c}"),
        Value::Gauge32(g) => format!("Gauge32: {g}"),
        Value::TimeTicks(t) => format!("Timeticks: ({t}) {}", ticks(*t)),
        Value::Opaque(o) => match OpaqueValue::decode(o) {
            Some(v) => format_opaque(v),
            None => format!("OPAQUE: {}", hex_lines(o)),
        },
        // Without a MIB that declares the object NsapAddress, net-snmp has no way to print
        // the type (`sprint_realloc_by_type` has no case for it).
        Value::NsapAddress(_) => BAD_TYPE.to_string(),
        Value::Counter64(c) => format!("Counter64: {c}"),
        // `sprint_realloc_uinteger`: the number alone, no type label.
        Value::UInteger32(u) => u.to_string(),
        Value::NoSuchObject => "No Such Object available on this agent at this OID".to_string(),
        Value::NoSuchInstance => "No Such Instance currently exists at this OID".to_string(),
        Value::EndOfMibView => {
            "No more variables left in this MIB View (It is past the end of the MIB tree)"
                .to_string()
        }
        Value::Other { tag, content } => format_other(*tag, content),
    }
}

/// net-snmp's text for a value whose type it cannot print.
const BAD_TYPE: &str = "Variable has bad type";

/// Opaque-wrapped values as `sprint_realloc_float`, `_double` and `_counter64` print them:
/// printf `%f` for both float and double (both labelled `Float`, as net-snmp does).
fn format_opaque(v: OpaqueValue) -> String {
    match v {
        OpaqueValue::Float(f) => format!("Opaque: Float: {}", printf_f(f as f64)),
        OpaqueValue::Double(d) => format!("Opaque: Float: {}", printf_f(d)),
        OpaqueValue::Int64(i) => format!("Opaque: Int64: {i}"),
        OpaqueValue::UInt64(u) => format!("Opaque: UInt64: {u}"),
        OpaqueValue::Counter64(c) => format!("Opaque: Counter64: {c}"),
    }
}

/// C's `printf("%f")`: six decimals; infinities and NaN spelled as glibc spells them.
fn printf_f(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    format!("{v:.6}")
}

/// A value the codec could not interpret. An INTEGER of five to eight octets is printed as
/// net-snmp prints it after its 32-bit truncation (`CHECK_OVERFLOW_S` in `asn1.c`), an ASN.1
/// BIT STRING as `sprint_realloc_bitstring` does; other content net-snmp cannot parse either
/// is shown in hex with the type it claims, and an unknown tag as net-snmp shows it.
fn format_other(t: u8, content: &[u8]) -> String {
    const BIT_STRING: u8 = 0x03;
    match t {
        tag::INTEGER if content.len() > 4 => match decode_i64(content) {
            Ok(v) => {
                let v = if v > i32::MAX as i64 {
                    v & 0xffff_ffff
                } else if v < i32::MIN as i64 {
                    -(v & 0xffff_ffff)
                } else {
                    v
                };
                format!("INTEGER: {v}")
            }
            Err(_) => invalid("INTEGER", content),
        },
        BIT_STRING if content.first().is_some_and(|&unused| unused <= 7) => {
            let mut out = format!("BITS: {}", hex_lines(content));
            for (i, b) in content.iter().enumerate() {
                for bit in 0..8 {
                    if b & (0x80 >> bit) != 0 {
                        let _ = write!(out, "{} ", i * 8 + bit);
                    }
                }
            }
            out
        }
        // net-snmp reads `06 00` as a one-arc OID (`asn_parse_objid`).
        tag::OBJECT_IDENTIFIER if content.is_empty() => "OID: .0".to_string(),
        tag::INTEGER => invalid("INTEGER", content),
        tag::NULL => invalid("NULL", content),
        tag::OBJECT_IDENTIFIER => invalid("OID", content),
        tag::IP_ADDRESS => invalid("IpAddress", content),
        tag::COUNTER32 => invalid("Counter32", content),
        tag::GAUGE32 => invalid("Gauge32", content),
        tag::TIMETICKS => invalid("Timeticks", content),
        tag::COUNTER64 => invalid("Counter64", content),
        tag::UINTEGER32 => invalid("UInteger32", content),
        _ => BAD_TYPE.to_string(),
    }
}

/// Content that is not a valid encoding of its type (net-snmp would reject the whole PDU).
fn invalid(label: &str, content: &[u8]) -> String {
    format!("Invalid {label} encoding: {}", hex_lines(content))
}

/// net-snmp prints a string as text when every byte is printable or whitespace.
fn is_printable(s: &[u8]) -> bool {
    s.iter().all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
}

fn escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            _ => out.push(b as char),
        }
    }
    out
}

/// Upper-case hex bytes each followed by a space, a line break after every 16 bytes.
fn hex_lines(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for (i, b) in s.iter().enumerate() {
        if i > 0 && i % 16 == 0 {
            out.push('\n');
        }
        let _ = write!(out, "{b:02X} ");
    }
    out
}

/// `D days, H:MM:SS.cc` as net-snmp's uptime_string.
pub fn ticks(t: u32) -> String {
    let cs = t % 100;
    let secs = t / 100;
    let (d, h, m, s) = (secs / 86400, (secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    match d {
        0 => format!("{h}:{m:02}:{s:02}.{cs:02}"),
        1 => format!("1 day, {h}:{m:02}:{s:02}.{cs:02}"),
        _ => format!("{d} days, {h}:{m:02}:{s:02}.{cs:02}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_net_snmp_text() {
        assert_eq!(format_value(&Value::TimeTicks(145)), "Timeticks: (145) 0:00:01.45");
        assert_eq!(
            format_value(&Value::TimeTicks(12345678)),
            "Timeticks: (12345678) 1 day, 10:17:36.78"
        );
        assert_eq!(format_value(&Value::OctetString(b"lo".to_vec())), "STRING: \"lo\"");
        assert_eq!(
            format_value(&Value::OctetString(vec![0x72, 0x6b, 0xd1])),
            "Hex-STRING: 72 6B D1 "
        );
        assert_eq!(format_value(&Value::OctetString(vec![])), "\"\"");
        let vb = VarBind::new(
            "1.3.6.1.2.1.1.2.0".parse().unwrap(),
            Value::ObjectId("1.3.6.1.4.1.8072".parse().unwrap()),
        );
        assert_eq!(format_varbind(&vb), ".1.3.6.1.2.1.1.2.0 = OID: .1.3.6.1.4.1.8072");
    }

    #[test]
    fn every_type_as_net_snmp_prints_it() {
        let opaque = |c: &[u8]| format_value(&Value::Opaque(c.to_vec()));
        assert_eq!(opaque(&[0x9f, 0x78, 4, 0x3f, 0xc0, 0, 0]), "Opaque: Float: 1.500000");
        assert_eq!(
            opaque(&[0x9f, 0x79, 8, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
            "Opaque: Float: 1.500000",
            "net-snmp labels doubles Float too"
        );
        assert_eq!(opaque(&[0x9f, 0x78, 4, 0x3e, 0xeb, 0x85, 0x1f]), "Opaque: Float: 0.460000");
        assert_eq!(opaque(&[0x9f, 0x78, 4, 0x7f, 0xc0, 0, 0]), "Opaque: Float: nan");
        assert_eq!(opaque(&[0x9f, 0x78, 4, 0xff, 0x80, 0, 0]), "Opaque: Float: -inf");
        assert_eq!(opaque(&[0x9f, 0x7a, 1, 0xfb]), "Opaque: Int64: -5");
        assert_eq!(opaque(&[0x9f, 0x7b, 1, 7]), "Opaque: UInt64: 7");
        assert_eq!(opaque(&[0x9f, 0x76, 1, 7]), "Opaque: Counter64: 7");
        assert_eq!(opaque(&[1, 2, 3]), "OPAQUE: 01 02 03 ");
        assert_eq!(format_value(&Value::UInteger32(42)), "42");
        assert_eq!(format_value(&Value::NsapAddress(vec![0x47, 0, 5])), "Variable has bad type");
        let other = |tag: u8, c: &[u8]| format_value(&Value::Other { tag, content: c.to_vec() });
        assert_eq!(other(0x02, &[0, 0xff, 0xff, 0xff, 0xff]), "INTEGER: 4294967295");
        assert_eq!(other(0x02, &[1, 0, 0, 0, 5]), "INTEGER: 5");
        assert_eq!(other(0x02, &[0xfe, 0xff, 0xff, 0xff, 0xff]), "INTEGER: -4294967295");
        assert_eq!(other(0x06, &[]), "OID: .0");
        assert_eq!(other(0x03, &[0x00, 0xa0]), "BITS: 00 A0 8 10 ");
        assert_eq!(other(0x02, &[]), "Invalid INTEGER encoding: ");
        assert_eq!(other(0x40, &[10, 0, 0, 1, 9]), "Invalid IpAddress encoding: 0A 00 00 01 09 ");
        assert_eq!(other(0x48, &[1]), "Variable has bad type");
    }
}
