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

/// Reference decision depth over the whole address space of a `bits`-wide family: the
/// smallest k such that every address sharing k leading bits with `ip` has `ip`'s naive
/// result. A block is checked at its first address and at every address where some prefix
/// starts or ends inside it, since between two such edges the set of covering prefixes,
/// and so the result, cannot change.
fn naive_depth(prefixes: &[(u128, u8, u32)], bits: u32, ip: u128) -> u8 {
    let max = last_addr(0, 0, bits);
    let mut edges: Vec<u128> = Vec::new();
    for &(start, len, _) in prefixes {
        let s = start & !(last_addr(0, len, bits)) & max;
        let e = last_addr(s, len, bits);
        edges.push(s);
        if e < max {
            edges.push(e + 1);
        }
    }
    let at_edges: Vec<(u128, Option<PrefixHit>)> =
        edges.iter().map(|&p| (p, naive(prefixes, bits, p))).collect();
    let mine = naive(prefixes, bits, ip);
    (0..=bits as u8)
        .find(|&k| {
            let first = ip & !last_addr(0, k, bits) & max;
            let last = last_addr(first, k, bits);
            naive(prefixes, bits, first) == mine
                && at_edges.iter().all(|&(p, h)| p <= first || p > last || h == mine)
        })
        .expect("the one-address block is uniform")
}

/// Per-prefix decision depth for prefixes whose values are all different:
/// max(m, 1 + the most bits `ip` shares with a prefix longer than the match m, capped at
/// that prefix's length minus one).
fn formula_depth(prefixes: &[(u128, u8, u32)], bits: u32, ip: u128) -> u8 {
    let m = naive(prefixes, bits, ip).map_or(0, |h| h.prefix_len);
    let top = 128 - bits;
    prefixes
        .iter()
        .filter(|&&(_, len, _)| len > m)
        .map(|&(start, len, _)| {
            let shared = ((ip ^ start).leading_zeros() - top) as u8;
            1 + shared.min(len - 1)
        })
        .fold(m, u8::max)
}

fn index_v4(prefixes: &[(u32, u8, u32)]) -> PrefixIndex {
    let mut b = PrefixIndexBuilder::new();
    for &(a, l, v) in prefixes {
        b.insert_v4(Ipv4Addr::from(a), l, v);
    }
    b.build().unwrap().0
}

fn index_v6(prefixes: &[(u128, u8, u32)]) -> PrefixIndex {
    let mut b = PrefixIndexBuilder::new();
    for &(a, l, v) in prefixes {
        b.insert_v6(Ipv6Addr::from(a), l, v);
    }
    b.build().unwrap().0
}

/// Every distinct prefix once, in its first-inserted form, with its own value.
fn distinct_values(prefixes: &[(u128, u8, u32)], bits: u32) -> Vec<(u128, u8, u32)> {
    let mut seen = std::collections::HashSet::new();
    let max = last_addr(0, 0, bits);
    prefixes
        .iter()
        .map(|&(a, l, _)| (a & !last_addr(0, l, bits) & max, l))
        .filter(|&p| seen.insert(p))
        .enumerate()
        .map(|(i, (a, l))| (a, l, i as u32))
        .collect()
}

/// Prefixes of length 24 to 32 inside 10.20.30.0/24, so a whole block around any of its
/// addresses can be enumerated; lengths near 24 make nesting and same-value neighbours
/// common.
fn small_v4_prefix() -> impl Strategy<Value = (u32, u8, u32)> {
    (0u32..256, 24u8..=32, 0u32..3).prop_map(|(low, len, v)| (0x0A14_1E00 | low, len, v))
}

fn small_v6_prefix() -> impl Strategy<Value = (u128, u8, u32)> {
    let base: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0000;
    (0u128..256, 120u8..=128, 0u32..3).prop_map(move |(low, len, v)| (base | low, len, v))
}

/// Checks `depth` for `ip` by enumeration: inside `space` (a /`width - 8` block holding every
/// prefix) each address is looked up; outside it nothing matches. Every address sharing
/// `depth` bits with `ip` must get `ip`'s result, and some address sharing `depth - 1` bits
/// must not.
fn exhaustive_check(
    lookup: impl Fn(u128) -> Option<PrefixHit>,
    space: u128,
    width: u32,
    ip: u128,
    depth: u8,
) -> Result<(), String> {
    let inner = width as u8 - 8;
    let mine = lookup(ip);
    let uniform = |k: u8| {
        if k >= inner {
            let host = last_addr(0, k, width);
            let first = ip & !host;
            (first..=first | host).all(|a| lookup(a) == mine)
        } else {
            // The block holds all of `space` and addresses outside it, which match nothing.
            mine.is_none() && (space..space + 256).all(|a| lookup(a).is_none())
        }
    };
    if !uniform(depth) {
        return Err(format!("addresses sharing {depth} bits get other results"));
    }
    if depth > 0 && uniform(depth - 1) {
        return Err(format!("{} bits would already do", depth - 1));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn v4_depth_holds_for_every_address_of_the_block(
        prefixes in prop::collection::vec(small_v4_prefix(), 0..12),
    ) {
        let index = index_v4(&prefixes);
        let space = 0x0A14_1E00u32;
        for low in 0..256u32 {
            let ip = space | low;
            let depth = index.decision_depth_v4(Ipv4Addr::from(ip));
            let lookup = |a: u128| index.lookup_v4(Ipv4Addr::from(a as u32));
            let r = exhaustive_check(lookup, u128::from(space), 32, u128::from(ip), depth);
            prop_assert!(r.is_ok(), "{}: depth {depth}: {r:?}", Ipv4Addr::from(ip));
        }
    }

    #[test]
    fn v6_depth_holds_for_every_address_of_the_block(
        prefixes in prop::collection::vec(small_v6_prefix(), 0..12),
    ) {
        let index = index_v6(&prefixes);
        let space: u128 = 0x2001_0db8_0000_0000_0000_0000_0000_0000;
        for low in 0..256u128 {
            let ip = space | low;
            let depth = index.decision_depth_v6(Ipv6Addr::from(ip));
            let lookup = |a: u128| index.lookup_v6(Ipv6Addr::from(a));
            let r = exhaustive_check(lookup, space, 128, ip, depth);
            prop_assert!(r.is_ok(), "{}: depth {depth}: {r:?}", Ipv6Addr::from(ip));
        }
    }

    #[test]
    fn v4_depth_matches_reference(prefixes in prop::collection::vec(v4_prefix(), 0..40),
                                  probes in prop::collection::vec(any::<u32>(), 30)) {
        let index = index_v4(&prefixes);
        let reference: Vec<(u128, u8, u32)> =
            prefixes.iter().map(|&(a, l, v)| (u128::from(a), l, v)).collect();
        let mut ips = probes;
        for &(a, l, _) in &prefixes {
            let s = a & mask_v4(l);
            let e = last_addr(u128::from(s), l, 32) as u32;
            ips.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
        }
        for ip in ips {
            prop_assert_eq!(index.decision_depth_v4(Ipv4Addr::from(ip)),
                            naive_depth(&reference, 32, u128::from(ip)),
                            "ip {}", Ipv4Addr::from(ip));
        }
    }

    #[test]
    fn v6_depth_matches_reference(prefixes in prop::collection::vec(v6_prefix(), 0..40),
                                  probes in prop::collection::vec(any::<u128>(), 30)) {
        let index = index_v6(&prefixes);
        let mut ips = probes;
        for &(a, l, _) in &prefixes {
            let s = a & mask_v6(l);
            let e = last_addr(s, l, 128);
            ips.extend([s, e, s.wrapping_sub(1), e.wrapping_add(1)]);
        }
        for ip in ips {
            prop_assert_eq!(index.decision_depth_v6(Ipv6Addr::from(ip)),
                            naive_depth(&prefixes, 128, ip), "ip {}", Ipv6Addr::from(ip));
        }
    }

    #[test]
    fn depth_is_the_per_prefix_formula_when_values_differ(
        v4 in prop::collection::vec(v4_prefix(), 0..40),
        v6 in prop::collection::vec(v6_prefix(), 0..40),
        probes4 in prop::collection::vec(any::<u32>(), 30),
        probes6 in prop::collection::vec(any::<u128>(), 30),
    ) {
        let wide: Vec<(u128, u8, u32)> =
            v4.iter().map(|&(a, l, v)| (u128::from(a), l, v)).collect();
        let v4 = distinct_values(&wide, 32);
        let v6 = distinct_values(&v6, 128);
        let index4 = index_v4(&v4.iter().map(|&(a, l, v)| (a as u32, l, v)).collect::<Vec<_>>());
        let index6 = index_v6(&v6);
        let mut ips4: Vec<u128> = probes4.into_iter().map(u128::from).collect();
        let mut ips6 = probes6;
        for (ips, prefixes, bits) in [(&mut ips4, &v4, 32), (&mut ips6, &v6, 128)] {
            for &(s, l, _) in prefixes.iter() {
                let e = last_addr(s, l, bits);
                let max = last_addr(0, 0, bits);
                ips.extend([s, e, s.wrapping_sub(1) & max, e.wrapping_add(1) & max]);
            }
        }
        for ip in ips4 {
            prop_assert_eq!(index4.decision_depth_v4(Ipv4Addr::from(ip as u32)),
                            formula_depth(&v4, 32, ip), "ip {}", Ipv4Addr::from(ip as u32));
        }
        for ip in ips6 {
            prop_assert_eq!(index6.decision_depth_v6(Ipv6Addr::from(ip)),
                            formula_depth(&v6, 128, ip), "ip {}", Ipv6Addr::from(ip));
        }
    }
}

fn depth_of(index: &PrefixIndex, ip: &str) -> u8 {
    index.decision_depth(ip.parse().unwrap())
}

#[test]
fn depth_excludes_more_specific_networks_elsewhere() {
    let mut b = PrefixIndexBuilder::new();
    b.insert("10.1.0.0/16".parse().unwrap(), 0);
    b.insert("10.2.0.0/16".parse().unwrap(), 1);
    b.insert("10.3.0.0/16".parse().unwrap(), 2);
    let (index, _) = b.build().unwrap();
    // A /8 client subnet is looked up at 10.0.0.0: unmatched, but 10.1.0.0/16 starts at
    // the next /16, so only 10.0.0.0/16 shares the answer.
    assert_eq!(index.lookup("10.0.0.0".parse().unwrap()), None);
    assert_eq!(depth_of(&index, "10.0.0.0"), 16);
    assert_eq!(depth_of(&index, "10.1.2.3"), 16);
    assert_eq!(depth_of(&index, "10.3.255.255"), 16);
    // 10.4.0.0/14 and 10.128.0.0/9 hold no coverage network: a wider scope than /16.
    assert_eq!(depth_of(&index, "10.4.0.0"), 14);
    assert_eq!(depth_of(&index, "10.128.0.0"), 9);
    assert_eq!(depth_of(&index, "11.0.0.0"), 8);
    assert_eq!(depth_of(&index, "0.0.0.0"), 5);

    // A /24 inside a /16 that maps elsewhere.
    let mut b = PrefixIndexBuilder::new();
    b.insert("10.1.0.0/16".parse().unwrap(), 0);
    b.insert("10.1.5.0/24".parse().unwrap(), 1);
    let (index, _) = b.build().unwrap();
    assert_eq!(index.lookup("10.1.0.0".parse().unwrap()).unwrap().prefix_len, 16);
    assert_eq!(depth_of(&index, "10.1.0.0"), 22, "10.1.0.0/22 ends before 10.1.5.0/24");
    assert_eq!(depth_of(&index, "10.1.4.0"), 24);
    assert_eq!(depth_of(&index, "10.1.5.9"), 24);
    assert_eq!(depth_of(&index, "10.1.6.0"), 23);
    assert_eq!(depth_of(&index, "10.1.128.0"), 17);
}

#[test]
fn depth_of_whole_space_and_merged_neighbours() {
    assert_eq!(depth_of(&PrefixIndex::default(), "192.0.2.1"), 0);
    let mut b = PrefixIndexBuilder::new();
    b.insert("0.0.0.0/0".parse().unwrap(), 0);
    b.insert("10.0.0.0/9".parse().unwrap(), 1);
    b.insert("10.128.0.0/9".parse().unwrap(), 1);
    let (index, _) = b.build().unwrap();
    assert_eq!(depth_of(&index, "192.0.2.1"), 1, "0.0.0.0/0 is split only by 10/8");
    assert_eq!(depth_of(&index, "11.0.0.0"), 8);
    // Both /9 halves give the same result, so the answer holds for all of 10/8.
    assert_eq!(depth_of(&index, "10.200.0.0"), 8);
}

#[test]
fn v6_depth_across_buckets_and_mapped_addresses() {
    let mut b = PrefixIndexBuilder::new();
    b.insert("2001:db8::/32".parse().unwrap(), 0);
    b.insert("10.1.0.0/16".parse().unwrap(), 1);
    let (index, _) = b.build().unwrap();
    assert_eq!(depth_of(&index, "2001:db8:1::"), 32);
    // Unmatched and a thousand buckets away from the nearest prefix.
    assert_eq!(depth_of(&index, "2400::"), 6);
    assert_eq!(depth_of(&index, "8000::"), 1);
    // IPv4-mapped addresses are looked up as IPv4: 96 bits plus the IPv4 depth.
    assert_eq!(depth_of(&index, "::ffff:10.1.2.3"), 112);
    assert_eq!(depth_of(&index, "::ffff:10.0.0.0"), 112);
    assert_eq!(depth_of(&index, "::ffff:192.0.2.1"), 97);
    // Other addresses near ::ffff:0:0/96 keep it out of their block: it answers from IPv4.
    assert_eq!(depth_of(&index, "::1"), 1 + 80);
    assert_eq!(depth_of(&index, "::fffe:0:0"), 96);
    assert_eq!(index.decision_depth_v6("::1".parse().unwrap()), 3);
}
