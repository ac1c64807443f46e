//! A minimal MaxMind DB writer for tests: an IPv6 tree (IPv4 under `::/96`), 24-bit
//! records, and records holding `location.latitude`/`longitude` (MaxMind DB spec 2.0).

use std::net::IpAddr;

/// One network and its location; `None` writes a record without a location.
pub(crate) type Entry = (ipnet::IpNet, Option<(f64, f64)>);

#[derive(Clone, Copy)]
enum Slot {
    Empty,
    Node(usize),
    Data(usize),
}

fn bits_of(net: &ipnet::IpNet) -> (u128, u8) {
    match net {
        ipnet::IpNet::V4(n) => (u128::from(u32::from(n.network())), 96 + n.prefix_len()),
        ipnet::IpNet::V6(n) => (u128::from(n.network()), n.prefix_len()),
    }
}

fn ctrl(out: &mut Vec<u8>, kind: u8, size: usize) {
    assert!(size < 29);
    if kind <= 7 {
        out.push((kind << 5) | size as u8);
    } else {
        out.push(size as u8);
        out.push(kind - 7);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    ctrl(out, 2, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn double(out: &mut Vec<u8>, v: f64) {
    out.push((3 << 5) | 8);
    out.extend_from_slice(&v.to_be_bytes());
}

fn uint(out: &mut Vec<u8>, kind: u8, v: u64, width: usize) {
    ctrl(out, kind, width);
    out.extend_from_slice(&v.to_be_bytes()[8 - width..]);
}

fn record(loc: Option<(f64, f64)>) -> Vec<u8> {
    let mut out = Vec::new();
    match loc {
        Some((lat, lon)) => {
            ctrl(&mut out, 7, 1);
            string(&mut out, "location");
            ctrl(&mut out, 7, 2);
            string(&mut out, "latitude");
            double(&mut out, lat);
            string(&mut out, "longitude");
            double(&mut out, lon);
        }
        None => {
            ctrl(&mut out, 7, 1);
            string(&mut out, "country");
            ctrl(&mut out, 7, 1);
            string(&mut out, "iso_code");
            string(&mut out, "ZZ");
        }
    }
    out
}

/// Serializes `entries` into a MaxMind DB image.
pub(crate) fn build(entries: &[Entry]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Slot; 2]> = vec![[Slot::Empty, Slot::Empty]];
    for (net, loc) in entries {
        let offset = data.len();
        data.extend(record(*loc));
        let (addr, len) = bits_of(net);
        let mut node = 0;
        for depth in 0..len {
            let bit = ((addr >> (127 - depth)) & 1) as usize;
            if depth + 1 == len {
                nodes[node][bit] = Slot::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Slot::Node(n) => n,
                    _ => {
                        nodes.push([Slot::Empty, Slot::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Slot::Node(n);
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for n in &nodes {
        for slot in n {
            let v = match *slot {
                Slot::Empty => count,
                Slot::Node(i) => i,
                Slot::Data(off) => count + 16 + off,
            };
            out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend(data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    ctrl(&mut out, 7, 9);
    string(&mut out, "node_count");
    uint(&mut out, 6, count as u64, 4);
    string(&mut out, "record_size");
    uint(&mut out, 5, 24, 2);
    string(&mut out, "ip_version");
    uint(&mut out, 5, 6, 2);
    string(&mut out, "database_type");
    string(&mut out, "Switchyard-Test");
    string(&mut out, "languages");
    ctrl(&mut out, 11, 1);
    string(&mut out, "en");
    string(&mut out, "binary_format_major_version");
    uint(&mut out, 5, 2, 2);
    string(&mut out, "binary_format_minor_version");
    uint(&mut out, 5, 0, 2);
    string(&mut out, "build_epoch");
    uint(&mut out, 9, 1_700_000_000, 8);
    string(&mut out, "description");
    ctrl(&mut out, 7, 1);
    string(&mut out, "en");
    string(&mut out, "test");
    out
}

/// Shorthand for tests: parse `net` and pair it with a location.
pub(crate) fn entry(net: &str, loc: Option<(f64, f64)>) -> Entry {
    (net.parse().expect("network"), loc)
}

/// Parses an address, for tests.
pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}
