//! Benchmark target for the DNS listener: builds a routing table for a generated fleet and
//! serves it with `switchyard::dns::spawn` until SIGINT/SIGTERM, or measures the in-process
//! answer path.
//!
//! ```text
//! dns_bench_server serve 127.0.0.1:5300 [udp_sockets]   # for dnsperf (bench/dns/run.sh)
//! dns_bench_server inproc [queries]                      # ns per answer() call, no sockets
//! ```
//!
//! Fleet: 4 zones x 8 nodes (loopback addresses, never contacted), service
//! `video.cdn.example.com` with 2 answers per query; 127.0.0.0/8 and 10.0.0.0/8 are in the
//! coverage file, so every query is localized and routed per query.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use switchyard::dns::{Authority, DnsConfig, Outcome, Transport, answer};
use switchyard_route::{CoverageZones, FleetSpec, HealthView, RoutingTable};

fn table() -> RoutingTable {
    let mut src = String::new();
    for z in 0..4 {
        src.push_str(&format!("[[zones]]\nname = \"z{z}\"\nbackups = [\"z{}\"]\n", (z + 1) % 4));
        for n in 0..8 {
            src.push_str(&format!(
                "[[nodes]]\nid = \"z{z}-n{n}\"\nzone = \"z{z}\"\nipv4 = \"127.1.{z}.{}\"\n",
                n + 1
            ));
        }
    }
    src.push_str(
        "[[services]]\nname = \"video\"\nhostnames = [\"video.cdn.example.com\"]\n\
         dns_answers = 2\nttl_seconds = 30\ndefault_zone = \"z0\"\n",
    );
    let spec: FleetSpec = toml::from_str(&src).expect("generated fleet parses");
    let czf = CoverageZones::from_czf_json(
        r#"{"coverageZones": {
            "z0": {"network": ["127.0.0.0/8"]},
            "z1": {"network": ["10.1.0.0/16"]},
            "z2": {"network": ["10.2.0.0/16"]},
            "z3": {"network": ["10.3.0.0/16"]}
        }}"#,
    )
    .expect("coverage zones parse");
    RoutingTable::build(&spec, &czf, None, &HealthView::new(1)).expect("table builds")
}

fn inproc(queries: u64) {
    let t = table();
    let auth = Authority::new(&DnsConfig::default());
    let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["video", "cdn", "example", "com"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut out = vec![0u8; 1232];
    let src: IpAddr = "127.0.0.1".parse().unwrap();
    let start = Instant::now();
    let mut bytes = 0usize;
    for i in 0..queries {
        match answer(&auth, &t, &q, src, Transport::Udp, i, &mut out) {
            Outcome::Reply { len, .. } => bytes += len,
            Outcome::Drop => panic!("query dropped"),
        }
    }
    let ns = start.elapsed().as_nanos() as f64 / queries as f64;
    println!("answer(): {ns:.0} ns/query, {:.0} queries/s on one core ({bytes} bytes)", 1e9 / ns);
}

fn serve(addr: SocketAddr, sockets: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(sockets.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let metrics = switchyard::metrics::Metrics::new();
        let stop = tokio_util::sync::CancellationToken::new();
        let mut set = tokio::task::JoinSet::new();
        let config = DnsConfig { udp_sockets: sockets, ..DnsConfig::default() };
        let table = Arc::new(ArcSwap::from_pointee(table()));
        // Ready at once: the table is built.
        let ready = tokio_util::sync::CancellationToken::new();
        ready.cancel();
        let bound =
            switchyard::dns::spawn(&mut set, addr, &config, table, &metrics, stop.clone(), ready)
                .await?;
        println!("listening on {bound}");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        stop.cancel();
        while set.join_next().await.is_some() {}
        for line in metrics.encode().lines().filter(|l| l.starts_with("switchyard_dns_")) {
            if !line.ends_with(" 0") {
                eprintln!("{line}");
            }
        }
        Ok(())
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => {
            let addr = args.get(1).map_or("127.0.0.1:5300", String::as_str).parse()?;
            let sockets = args.get(2).map_or(Ok(2), |s| s.parse())?;
            serve(addr, sockets)
        }
        Some("inproc") => {
            inproc(args.get(1).map_or(Ok(2_000_000), |s| s.parse())?);
            Ok(())
        }
        _ => anyhow::bail!("usage: dns_bench_server serve ADDR [SOCKETS] | inproc [QUERIES]"),
    }
}
