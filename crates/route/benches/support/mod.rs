//! Deterministic large fleet for the benchmarks: 10,000 nodes in 500 zones, 20 services,
//! 1,000,000 IPv4 and 100,000 IPv6 coverage prefixes.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use switchyard_route::{FleetSpec, HealthState, HealthView, NodeHealth};

pub const ZONES: usize = 500;
pub const NODES: usize = 10_000;
pub const SERVICES: usize = 20;
pub const V4_PREFIXES: usize = 1_000_000;
pub const V6_PREFIXES: usize = 100_000;

/// SplitMix64: small, seedable, good enough to spread test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub struct Fixture {
    pub spec: FleetSpec,
    pub czf_json: String,
    pub v4: Vec<(u32, u8)>,
    pub v6: Vec<(u128, u8)>,
    pub health: HealthView,
}

fn v4_len(r: &mut Rng) -> u8 {
    match r.below(100) {
        0..60 => 24,
        60..75 => 22 + r.below(2) as u8,
        75..85 => 16 + r.below(6) as u8,
        85..95 => 25 + r.below(4) as u8,
        _ => 8 + r.below(8) as u8,
    }
}

pub fn fixture() -> Fixture {
    let mut r = Rng::new(42);
    let mut toml = String::new();
    for z in 0..ZONES {
        let lat = r.below(140) as f64 - 70.0 + 0.5;
        let lon = r.below(350) as f64 - 175.0 + 0.5;
        let backup = (z + 1) % ZONES;
        writeln!(
            toml,
            "[[zones]]\nname = \"z{z}\"\nlatitude = {lat}\nlongitude = {lon}\nbackups = [\"z{backup}\"]"
        )
        .unwrap();
    }
    for n in 0..NODES {
        let z = n % ZONES;
        let a = Ipv4Addr::from(0x0A00_0000u32 + n as u32);
        let cap = 10_000 + 1000 * r.below(30);
        writeln!(
            toml,
            "[[nodes]]\nid = \"edge-{n}\"\nzone = \"z{z}\"\nipv4 = \"{a}\"\nipv6 = \"2001:db8::{n:x}\"\ncapacity_mbps = {cap}"
        )
        .unwrap();
    }
    for s in 0..SERVICES {
        writeln!(
            toml,
            "[[services]]\nname = \"svc{s}\"\nhostnames = [\"svc{s}.cdn.example.com\"]\ndns_answers = 2\ndefault_zone = \"z{s}\""
        )
        .unwrap();
    }
    let spec: FleetSpec = toml::from_str(&toml).expect("fleet");

    let mut v4 = Vec::with_capacity(V4_PREFIXES);
    let mut zones_v4: Vec<Vec<usize>> = vec![Vec::new(); ZONES];
    for i in 0..V4_PREFIXES {
        let len = v4_len(&mut r);
        let addr = (r.next() as u32) & (u32::MAX << (32 - len));
        v4.push((addr, len));
        zones_v4[r.below(ZONES as u64) as usize].push(i);
    }
    let mut v6 = Vec::with_capacity(V6_PREFIXES);
    let mut zones_v6: Vec<Vec<usize>> = vec![Vec::new(); ZONES];
    for i in 0..V6_PREFIXES {
        let len = [32u8, 40, 48, 48, 56, 64][r.below(6) as usize];
        let addr = ((0x2000u128 | u128::from(r.below(0x1000) as u16)) << 112)
            | (u128::from(r.next()) << 48);
        let addr = addr & (u128::MAX << (128 - len));
        v6.push((addr, len));
        zones_v6[r.below(ZONES as u64) as usize].push(i);
    }
    let mut json = String::with_capacity(32 * (V4_PREFIXES + V6_PREFIXES));
    json.push_str("{\"revision\": \"bench\", \"coverageZones\": {\n");
    for z in 0..ZONES {
        if z > 0 {
            json.push_str(",\n");
        }
        write!(json, "\"z{z}\": {{\"network\": [").unwrap();
        for (k, &i) in zones_v4[z].iter().enumerate() {
            let (a, l) = v4[i];
            let sep = if k > 0 { "," } else { "" };
            write!(json, "{sep}\"{}/{l}\"", Ipv4Addr::from(a)).unwrap();
        }
        json.push_str("], \"network6\": [");
        for (k, &i) in zones_v6[z].iter().enumerate() {
            let (a, l) = v6[i];
            let sep = if k > 0 { "," } else { "" };
            write!(json, "{sep}\"{}/{l}\"", Ipv6Addr::from(a)).unwrap();
        }
        json.push_str("]}");
    }
    json.push_str("}}\n");

    let mut health = HealthView::new(1);
    for n in 0..NODES {
        let util = r.below(80) as f32 / 100.0;
        health.nodes.insert(
            format!("edge-{n}"),
            NodeHealth {
                utilization: Some(util),
                latency_ewma_ms: Some(5.0),
                ..NodeHealth::state(HealthState::Up)
            },
        );
    }
    Fixture { spec, czf_json: json, v4, v6, health }
}

/// Addresses inside random prefixes of the fixture (so lookups mostly hit).
pub fn client_ips(f: &Fixture, n: usize, seed: u64) -> Vec<IpAddr> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let (a, l) = f.v4[r.below(f.v4.len() as u64) as usize];
            let host = if l == 32 { 0 } else { (r.next() as u32) & (u32::MAX >> l) };
            IpAddr::V4(Ipv4Addr::from(a | host))
        })
        .collect()
}

pub fn client_ips_v6(f: &Fixture, n: usize, seed: u64) -> Vec<IpAddr> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let (a, l) = f.v6[r.below(f.v6.len() as u64) as usize];
            let host = (u128::from(r.next()) << 64 | u128::from(r.next())) & (u128::MAX >> l);
            IpAddr::V6(Ipv6Addr::from(a | host))
        })
        .collect()
}
