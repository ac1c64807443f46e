//! Pieces of a JSON writer for the answers on the hot path.
//!
//! `serde_json` spends most of a `/v1/route` answer's serialization on what is known in
//! advance: it escapes every key, checks every string byte by byte through its escape table,
//! and formats addresses through `core::fmt`. These functions write literal keys as they are,
//! copy strings that need no escape in one piece, and format addresses by hand, into the
//! same bytes `serde_json` writes (tests hold them to it). Anything unusual (a string that
//! needs escaping) goes through `serde_json` itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A JSON string: copied as it is when no byte needs an escape, else escaped by serde_json.
pub fn str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// A string or `null`.
pub fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// An unsigned integer.
pub fn uint(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `true` or `false`.
pub fn bool(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// An address as a JSON string, in the text `Display` gives it.
pub fn ip(out: &mut Vec<u8>, ip: IpAddr) {
    out.push(b'"');
    match ip {
        IpAddr::V4(v4) => ipv4(out, v4),
        IpAddr::V6(v6) => ipv6(out, v6),
    }
    out.push(b'"');
}

/// An address or `null`.
pub fn opt_ip(out: &mut Vec<u8>, a: Option<IpAddr>) {
    match a {
        Some(a) => ip(out, a),
        None => out.extend_from_slice(b"null"),
    }
}

fn ipv4(out: &mut Vec<u8>, a: Ipv4Addr) {
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        uint(out, octet);
    }
}

/// RFC 5952 text, as `Ipv6Addr`'s `Display` writes it: lowercase hex without leading zeros,
/// the longest run of two or more zero groups (the first of equals) as `::`, and an
/// IPv4-mapped address as `::ffff:a.b.c.d`.
fn ipv6(out: &mut Vec<u8>, a: Ipv6Addr) {
    if let Some(v4) = a.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        return ipv4(out, v4);
    }
    let groups = a.segments();
    let (mut best, mut best_len, mut run, mut run_len) = (0, 0, 0, 0);
    for (i, &g) in groups.iter().enumerate() {
        if g != 0 {
            run_len = 0;
            continue;
        }
        if run_len == 0 {
            run = i;
        }
        run_len += 1;
        if run_len > best_len {
            (best, best_len) = (run, run_len);
        }
    }
    if best_len < 2 {
        return hex_groups(out, &groups);
    }
    hex_groups(out, &groups[..best]);
    out.extend_from_slice(b"::");
    hex_groups(out, &groups[best + best_len..]);
}

fn hex_groups(out: &mut Vec<u8>, groups: &[u16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, &g) in groups.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        let digits = (4 - g.leading_zeros() as usize / 4).max(1);
        for shift in (0..digits).rev() {
            out.push(HEX[usize::from(g >> (shift * 4)) & 0xf]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn addresses_read_as_display_and_serde_write_them() {
        let mut samples: Vec<IpAddr> = [
            "0.0.0.0",
            "127.0.0.1",
            "255.255.255.255",
            "10.0.100.9",
            "::",
            "::1",
            "1::",
            "::ffff:192.0.2.1",
            "::192.0.2.1",
            "2001:db8::1",
            "2001:db8:0:0:1:0:0:1",
            "2001:0:0:1::1",
            "fe80::1:0:0:0",
            "1:0:1:0:1:0:1:0",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "0:0:1::",
            "64:ff9b::192.0.2.33",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        // Every pattern of zero and non-zero groups, with values of one to four digits.
        for mask in 0u32..256 {
            let groups: Vec<u16> = (0..8)
                .map(|i| if mask >> i & 1 == 1 { [0x1, 0x2a, 0xdb8, 0xfe80][i % 4] } else { 0 })
                .collect();
            let g: [u16; 8] = groups.try_into().unwrap();
            samples.push(IpAddr::V6(Ipv6Addr::from(g)));
        }
        for a in samples {
            let ours = text(|o| ip(o, a));
            assert_eq!(ours, serde_json::to_string(&a).unwrap(), "{a}");
            assert_eq!(ours, format!("\"{a}\""));
        }
        assert_eq!(text(|o| opt_ip(o, None)), "null");
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        for s in [
            "",
            "plain",
            "zone-1.edge",
            "quote\"d",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "é ü 東京",
            "\u{7f}",
        ] {
            assert_eq!(text(|o| str(o, s)), serde_json::to_string(s).unwrap(), "{s:?}");
        }
        assert_eq!(text(|o| opt_str(o, None)), "null");
        assert_eq!(text(|o| uint(o, u64::MAX)), u64::MAX.to_string());
        assert_eq!(text(|o| bool(o, true)), "true");
    }
}
