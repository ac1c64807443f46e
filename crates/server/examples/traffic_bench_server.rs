//! Serves the traffic router over a generated fleet for load benchmarks
//! (`bench/http/run.sh`): `traffic_bench_server [ADDR] [WORKER_THREADS]`, default
//! `127.0.0.1:8081` on one thread. Prints `listening on ADDR` once bound.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use switchyard::metrics::Metrics;
use switchyard::traffic::{self, TrafficConfig, TrafficContext};
use switchyard_route::{CoverageZones, FleetSpec, HealthView, RoutingTable};

/// Eight zones of eight nodes, one service, coverage zones with a /24 per zone and
/// loopback in zone 0: a small but realistic decision (localize, zone walk, rendezvous).
fn table() -> RoutingTable {
    let mut spec = String::new();
    let mut czf = String::from(r#"{"coverageZones": {"#);
    for z in 0..8 {
        let backup = (z + 1) % 8;
        writeln!(spec, "[[zones]]\nname = \"z{z}\"\nbackups = [\"z{backup}\"]").unwrap();
        for n in 0..8 {
            writeln!(
                spec,
                "[[nodes]]\nid = \"z{z}-n{n}\"\nzone = \"z{z}\"\nipv4 = \"10.{z}.0.{}\"\nipv6 = \"2001:db8:{z}::{}\"",
                n + 1,
                n + 1
            )
            .unwrap();
        }
        let extra = if z == 0 { r#", "127.0.0.0/8""# } else { "" };
        let sep = if z == 7 { "" } else { "," };
        write!(czf, r#""z{z}": {{"network": ["198.51.{z}.0/24"{extra}]}}{sep}"#).unwrap();
    }
    czf.push_str("}}");
    spec.push_str("[[services]]\nname = \"video\"\nhostnames = [\"video.cdn.example.com\"]\n");
    let spec: FleetSpec = toml::from_str(&spec).expect("generated fleet parses");
    let czf = CoverageZones::from_czf_json(&czf).expect("generated CZF parses");
    RoutingTable::build(&spec, &czf, None, &HealthView::new(1)).expect("generated fleet builds")
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:8081").parse()?;
    let threads: usize = args.next().as_deref().unwrap_or("1").parse()?;
    let config = TrafficConfig {
        max_concurrent_requests: 100_000,
        worker_threads: threads as u32,
        ..TrafficConfig::default()
    };
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?
    };
    runtime.block_on(async move {
        let table = Arc::new(ArcSwap::from_pointee(table()));
        let metrics = Metrics::new();
        let (front, _overload) = traffic::front_end(TrafficContext::new(table), &config, &metrics);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let stop = tokio_util::sync::CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            on_signal.cancel();
        });
        front.serve(listener, stop).await;
        anyhow::Ok(())
    })
}
