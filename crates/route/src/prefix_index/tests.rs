use super::*;
use proptest::prelude::*;

/// Reference: scan every prefix, keep the longest match; among exact duplicates the first.
fn naive(prefixes: &[(u128, u8, u32)], bits: u32, ip: u128) -> Option<PrefixHit> {
    let mut best: Option<PrefixHit> = None;
    for &(start, len, value) in prefixes {
        let host_bits = bits - u32::from(len);
        let mask = if host_bits == 128 { 0 } else { !((1u128 << host_bits) - 1) };
        let start = start & mask & last_addr(0, 0, bits);
        if ip & mask == start && best.is_none_or(|b| len > b.prefix_len) {
            best = Some(PrefixHit { value, prefix_len: len });
        }
    }
    best
}

fn v4_prefix() -> impl Strategy<Value = (u32, u8, u32)> {
    // Few distinct top bytes so prefixes nest and overlap often.
    (0u32..4, any::<u32>(), 0u8..=32, 0u32..6)
        .prop_map(|(top, rest, len, v)| ((top << 30) | (rest >> 2), len, v))
}

fn v6_prefix() -> impl Strategy<Value = (u128, u8, u32)> {
    (0u128..4, any::<u128>(), 0u8..=128, 0u32..6)
        .prop_map(|(top, rest, len, v)| ((top << 126) | (rest >> 2), len, v))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn v4_matches_naive(prefixes in prop::collection::vec(v4_prefix(), 0..60),
                        probes in prop::collection::vec(any::<u32>(), 50)) {
        let mut b = PrefixIndexBuilder::new();
        for &(a, l, v) in &prefixes {
            b.insert_v4(Ipv4Addr::from(a), l, v);
        }
        let (index, _) = b.build().unwrap();
        let reference: Vec<(u128, u8, u32)> =
            prefixes.iter().map(|&(a, l, v)| (u128::from(a), l, v)).collect();
        // Probe random addresses plus the edges of every prefix.
        let mut ips: Vec<u32> = probes;
        for &(a, l, _) in &prefixes {
            let s = a & mask_v4(l);
            let e = last_addr(u128::from(s), l, 32) as u32;
            ips.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
        }
        for ip in ips {
            prop_assert_eq!(index.lookup_v4(Ipv4Addr::from(ip)),
                            naive(&reference, 32, u128::from(ip)), "ip {}", Ipv4Addr::from(ip));
        }
    }

    #[test]
    fn v6_matches_naive(prefixes in prop::collection::vec(v6_prefix(), 0..60),
                        probes in prop::collection::vec(any::<u128>(), 50)) {
        let mut b = PrefixIndexBuilder::new();
        for &(a, l, v) in &prefixes {
            b.insert_v6(Ipv6Addr::from(a), l, v);
        }
        let (index, _) = b.build().unwrap();
        let mut ips = probes;
        for &(a, l, _) in &prefixes {
            let s = a & mask_v6(l);
            let e = last_addr(s, l, 128);
            ips.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
        }
        for ip in ips {
            prop_assert_eq!(index.lookup_v6(Ipv6Addr::from(ip)),
                            naive(&prefixes, 128, ip), "ip {}", Ipv6Addr::from(ip));
        }
    }
}

#[test]
fn longest_match_and_scope() {
    let mut b = PrefixIndexBuilder::new();
    b.insert("10.0.0.0/8".parse().unwrap(), 1);
    b.insert("10.1.0.0/16".parse().unwrap(), 2);
    b.insert("10.1.2.0/24".parse().unwrap(), 3);
    b.insert("2001:db8::/32".parse().unwrap(), 4);
    b.insert("2001:db8:1::/48".parse().unwrap(), 5);
    let (index, conflicts) = b.build().unwrap();
    assert!(conflicts.is_empty());
    let hit = |s: &str| index.lookup(s.parse().unwrap()).map(|h| (h.value, h.prefix_len));
    assert_eq!(hit("10.1.2.3"), Some((3, 24)));
    assert_eq!(hit("10.1.3.3"), Some((2, 16)));
    assert_eq!(hit("10.2.0.0"), Some((1, 8)));
    assert_eq!(hit("11.0.0.0"), None);
    assert_eq!(hit("::ffff:10.1.2.3"), Some((3, 24)));
    assert_eq!(hit("2001:db8:1::9"), Some((5, 48)));
    assert_eq!(hit("2001:db8:2::9"), Some((4, 32)));
    assert_eq!(hit("2001:db9::"), None);
    assert_eq!(index.prefix_counts(), (3, 2));
}

#[test]
fn default_routes_and_host_routes() {
    let mut b = PrefixIndexBuilder::new();
    b.insert("0.0.0.0/0".parse().unwrap(), 7);
    b.insert("255.255.255.255/32".parse().unwrap(), 8);
    b.insert("::/0".parse().unwrap(), 9);
    b.insert("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128".parse().unwrap(), 10);
    let (index, _) = b.build().unwrap();
    let hit = |s: &str| index.lookup(s.parse().unwrap()).map(|h| (h.value, h.prefix_len));
    assert_eq!(hit("0.0.0.0"), Some((7, 0)));
    assert_eq!(hit("255.255.255.254"), Some((7, 0)));
    assert_eq!(hit("255.255.255.255"), Some((8, 32)));
    assert_eq!(hit("::1"), Some((9, 0)));
    assert_eq!(hit("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), Some((10, 128)));
}

#[test]
fn conflicting_duplicates_keep_first_and_are_reported() {
    let mut b = PrefixIndexBuilder::new();
    b.insert("192.0.2.0/24".parse().unwrap(), 1);
    b.insert("192.0.2.0/24".parse().unwrap(), 1);
    b.insert("192.0.2.77/24".parse().unwrap(), 2);
    b.insert("2001:db8::/64".parse().unwrap(), 3);
    b.insert("2001:db8::/64".parse().unwrap(), 4);
    let (index, conflicts) = b.build().unwrap();
    assert_eq!(index.lookup("192.0.2.1".parse().unwrap()).unwrap().value, 1);
    assert_eq!(index.lookup("2001:db8::1".parse().unwrap()).unwrap().value, 3);
    assert_eq!(conflicts.len(), 2);
    assert_eq!(conflicts[0].prefix.to_string(), "192.0.2.0/24");
    assert_eq!((conflicts[0].kept, conflicts[0].dropped), (1, 2));
    assert_eq!((conflicts[1].kept, conflicts[1].dropped), (3, 4));
}

#[test]
fn empty_index_finds_nothing_and_is_small() {
    let index = PrefixIndex::default();
    assert_eq!(index.lookup("1.2.3.4".parse().unwrap()), None);
    assert_eq!(index.lookup("::1".parse().unwrap()), None);
    assert!(index.memory_bytes() < 2 * 1024 * 1024);
}
