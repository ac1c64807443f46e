//! Criterion benchmarks of the routing core at fleet scale (see `support` for the fixture).
//! Memory figures are printed before the timings.
//!
//! The hot-path groups (`lookup`, `decision`, `update`) time each sample in thread CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`) rather than wall time: the benchmark machine is shared and
//! oversubscribed, and wall time there measures the scheduler more than the code. The `build`
//! group uses wall time.

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use switchyard_route::{
    CoverageZones, DnsRequest, Family, HealthState, HttpRequest, NodeHealth, RoutingTable,
};

/// Thread CPU time now.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `iters` times and returns the thread CPU time spent.
fn cpu<O>(iters: u64, mut f: impl FnMut() -> O) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        black_box(f());
    }
    thread_cpu() - start
}

fn benches(c: &mut Criterion) {
    let t0 = Instant::now();
    let f = support::fixture();
    eprintln!("fixture generated in {:?} ({} bytes of CZF JSON)", t0.elapsed(), f.czf_json.len());

    let t0 = Instant::now();
    let czf = CoverageZones::from_czf_json(&f.czf_json).expect("czf");
    eprintln!("CZF parse + index (one shot): {:?}", t0.elapsed());
    let t0 = Instant::now();
    let table = RoutingTable::build(&f.spec, &czf, None, &f.health).expect("table");
    eprintln!("table build from parsed CZF (one shot): {:?}", t0.elapsed());

    let index = czf.index();
    let (p4, p6) = index.prefix_counts();
    let (r4, r6) = index.range_counts();
    eprintln!(
        "memory: index {} B total; IPv4 part {} B for {p4} prefixes ({r4} ranges) = {:.2} B/prefix; \
         IPv6 {r6} ranges for {p6} prefixes; table total {:.1} MiB",
        index.memory_bytes(),
        index.memory_bytes_v4(),
        index.memory_bytes_v4() as f64 / p4 as f64,
        table.memory_bytes() as f64 / (1024.0 * 1024.0),
    );

    let ips = support::client_ips(&f, 1 << 16, 7);
    let ips6 = support::client_ips_v6(&f, 1 << 16, 8);
    let paths: Vec<String> =
        (0..4096).map(|i| format!("/video/title-{i}/seg-{}.ts", i * 7)).collect();

    let mut g = c.benchmark_group("lookup");
    let mut i = 0usize;
    g.bench_function("prefix_lookup_v4", |b| {
        b.iter_custom(|n| {
            cpu(n, || {
                i = (i + 1) & 0xFFFF;
                index.lookup(black_box(ips[i]))
            })
        })
    });
    g.bench_function("prefix_lookup_v6", |b| {
        b.iter_custom(|n| {
            cpu(n, || {
                i = (i + 1) & 0xFFFF;
                index.lookup(black_box(ips6[i]))
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("decision");
    let svc = table.service_for_host("svc3.cdn.example.com").expect("service");
    g.bench_function("http_decision", |b| {
        b.iter_custom(|n| {
            cpu(n, || {
                i = (i + 1) & 0xFFFF;
                let req = HttpRequest {
                    service: svc,
                    client_ip: ips[i],
                    path: &paths[i & 4095],
                    query: "",
                    seed: i as u64,
                };
                table.route_http(black_box(&req), false)
            })
        })
    });
    // Same decision with clients from one /16 of one zone: separates the computation from
    // the cache misses of touching a random zone per request.
    let hot_ip = ips[0];
    let base = match hot_ip {
        std::net::IpAddr::V4(a) => u32::from(a) & 0xFFFF_FF00,
        std::net::IpAddr::V6(_) => unreachable!("IPv4 fixture"),
    };
    g.bench_function("http_decision_one_zone", |b| {
        b.iter_custom(|n| {
            cpu(n, || {
                i = (i + 1) & 0xFFFF;
                let req = HttpRequest {
                    service: svc,
                    client_ip: std::net::Ipv4Addr::from(base | (i as u32 & 0xFF)).into(),
                    path: &paths[i & 4095],
                    query: "",
                    seed: i as u64,
                };
                table.route_http(black_box(&req), false)
            })
        })
    });
    g.bench_function("dns_decision_2_answers", |b| {
        b.iter_custom(|n| {
            cpu(n, || {
                i = (i + 1) & 0xFFFF;
                let req = DnsRequest {
                    service: svc,
                    client_ip: ips[i],
                    qname: "svc3.cdn.example.com",
                    want: Family::V4,
                    seed: i as u64,
                };
                table.route_dns(black_box(&req))
            })
        })
    });
    g.bench_function("localize_only", |b| {
        b.iter_custom(|n| {
            cpu(n, || {
                i = (i + 1) & 0xFFFF;
                table.localize(black_box(ips[i]))
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("update");
    g.bench_function("with_node_health_one_node", |b| {
        let ids: Vec<String> = (0..10_000).map(|n| format!("edge-{n}")).collect();
        let mut k = 0u64;
        b.iter_custom(|n| {
            cpu(n, || {
                k += 1;
                let state = if k.is_multiple_of(2) { HealthState::Down } else { HealthState::Up };
                table.with_node_health(&ids[(k % 10_000) as usize], NodeHealth::state(state), k)
            })
        })
    });
    let mut view = f.health.clone();
    g.bench_function("with_health_full_view_10k", |b| {
        let mut k = 0u64;
        b.iter_custom(|n| {
            cpu(n, || {
                k += 1;
                view.version = k;
                table.with_health(&view)
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("table_build_from_parsed_czf", |b| {
        b.iter(|| black_box(RoutingTable::build(&f.spec, &czf, None, &f.health).expect("table")))
    });
    g.bench_function("czf_parse_and_index_1.1M_prefixes", |b| {
        b.iter(|| black_box(CoverageZones::from_czf_json(&f.czf_json).expect("czf")))
    });
    g.finish();
}

criterion_group!(routing, benches);
criterion_main!(routing);
