//! Fixed-count decision loops for instruction-count profiling (`valgrind --tool=callgrind
//! --toggle-collect='*run_http*'`): the fleet shape of the criterion fixture (10,000 nodes
//! in 500 zones, 20 services) with a small coverage file, so setup is quick under valgrind.
//!
//! `cargo run --release -p switchyard-route --example decision_profile -- [iterations] [--time]`
//! (`--time` also prints the fastest of several timed passes)

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use switchyard_route::{
    CoverageZones, DnsRequest, Family, FleetSpec, HealthState, HealthView, HttpRequest, NodeHealth,
    RoutingTable, ServiceIndex,
};

const ZONES: u32 = 500;
const NODES: u32 = 10_000;
const SERVICES: u32 = 20;

fn fleet() -> (FleetSpec, String, HealthView) {
    let mut toml = String::new();
    for z in 0..ZONES {
        let (lat, lon) = (f64::from(z % 140) - 69.5, f64::from((z * 7) % 350) - 174.5);
        let backup = (z + 1) % ZONES;
        writeln!(
            toml,
            "[[zones]]\nname = \"z{z}\"\nlatitude = {lat}\nlongitude = {lon}\nbackups = [\"z{backup}\"]"
        )
        .unwrap();
    }
    for n in 0..NODES {
        let a = Ipv4Addr::from(0x0A00_0000u32 + n);
        writeln!(
            toml,
            "[[nodes]]\nid = \"edge-{n}\"\nzone = \"z{}\"\nipv4 = \"{a}\"\nipv6 = \"2001:db8::{n:x}\"\ncapacity_mbps = {}",
            n % ZONES,
            10_000 + 1000 * (n % 30)
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
    // Four /24s per zone under 100.64.0.0/10.
    let mut json = String::from("{\"coverageZones\": {");
    for z in 0..ZONES {
        let sep = if z > 0 { "," } else { "" };
        write!(json, "{sep}\"z{z}\": {{\"network\": [").unwrap();
        for k in 0..4 {
            let a = Ipv4Addr::from(0x6440_0000u32 + ((z * 4 + k) << 8));
            let sep = if k > 0 { "," } else { "" };
            write!(json, "{sep}\"{a}/24\"").unwrap();
        }
        json.push_str("]}");
    }
    json.push_str("}}");
    let mut health = HealthView::new(1);
    for n in 0..NODES {
        health.nodes.insert(
            format!("edge-{n}"),
            NodeHealth {
                utilization: Some((n % 80) as f32 / 100.0),
                ..NodeHealth::state(HealthState::Up)
            },
        );
    }
    (spec, json, health)
}

fn client(i: u32) -> IpAddr {
    let i = i.wrapping_mul(2_654_435_761) % (ZONES * 4 * 256);
    IpAddr::V4(Ipv4Addr::from(0x6440_0000u32 + i))
}

#[inline(never)]
fn run_http(table: &RoutingTable, svc: ServiceIndex, paths: &[String], n: u32) -> usize {
    let mut sum = 0;
    for i in 0..n {
        let req = HttpRequest {
            service: svc,
            client_ip: client(i),
            path: &paths[i as usize % paths.len()],
            query: "",
            seed: u64::from(i),
        };
        sum += black_box(table.route_http(black_box(&req), false)).map_or(0, |d| d.nodes().len());
    }
    sum
}

#[inline(never)]
fn run_dns(table: &RoutingTable, svc: ServiceIndex, n: u32) -> usize {
    let mut sum = 0;
    for i in 0..n {
        let req = DnsRequest {
            service: svc,
            client_ip: client(i),
            qname: "svc3.cdn.example.com",
            want: Family::V4,
            seed: u64::from(i),
        };
        sum += black_box(table.route_dns(black_box(&req))).map_or(0, |d| d.nodes().len());
    }
    sum
}

#[inline(never)]
fn run_lookup(czf: &CoverageZones, n: u32) -> usize {
    let index = czf.index();
    (0..n).filter(|&i| black_box(index.lookup(black_box(client(i)))).is_some()).count()
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let (spec, json, health) = fleet();
    let czf = CoverageZones::from_czf_json(&json).expect("czf");
    let table = RoutingTable::build(&spec, &czf, None, &health).expect("table");
    let svc = table.service_for_host("svc3.cdn.example.com").expect("service");
    let paths: Vec<String> =
        (0..4096).map(|i| format!("/video/title-{i}/seg-{}.ts", i * 7)).collect();
    let http = run_http(&table, svc, &paths, n);
    let dns = run_dns(&table, svc, n);
    let hits = run_lookup(&czf, n);
    println!("{n} iterations: {http} http nodes, {dns} dns answers, {hits} prefix hits");
    if std::env::args().any(|a| a == "--time") {
        // Fastest of several passes: on a shared machine interference only adds time.
        let fastest = |f: &dyn Fn() -> usize| {
            (0..7)
                .map(|_| {
                    let t = std::time::Instant::now();
                    black_box(f());
                    t.elapsed().as_nanos() as f64 / f64::from(n)
                })
                .fold(f64::INFINITY, f64::min)
        };
        let h = fastest(&|| run_http(&table, svc, &paths, n));
        let d = fastest(&|| run_dns(&table, svc, n));
        let l = fastest(&|| run_lookup(&czf, n));
        println!("fastest pass, ns per call: http {h:.1}, dns {d:.1}, prefix lookup {l:.1}");
    }
}
