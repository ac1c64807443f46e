//! net-snmp style text for values (`snmpget -On` output: `.1.3.6.1.2.1.1.3.0 = Timeticks:
//! (145) 0:00:01.45`), so output can be compared with net-snmp's tools line by line.

use std::fmt::Write;

use crate::codec::{Value, VarBind};

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
        Value::Opaque(o) => format!("OPAQUE: {}", hex_lines(o)),
        Value::Counter64(c) => format!("Counter64: {c}"),
        Value::NoSuchObject => "No Such Object available on this agent at this OID".to_string(),
        Value::NoSuchInstance => "No Such Instance currently exists at this OID".to_string(),
        Value::EndOfMibView => {
            "No more variables left in this MIB View (It is past the end of the MIB tree)"
                .to_string()
        }
    }
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
}
