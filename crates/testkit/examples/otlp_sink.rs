//! An OTLP/gRPC trace receiver for benchmarks: `otlp_sink ADDR` listens on `ADDR` and prints
//! the spans and export calls received every `--every` seconds (default 5), and once more at
//! SIGTERM or SIGINT. Spans are counted and kept only as counts (see `switchyard_testkit::otlp`).

use std::time::Duration;

use switchyard_testkit::otlp::OtlpReceiver;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:4317".to_owned());
    let every = match (args.next().as_deref(), args.next()) {
        (Some("--every"), Some(s)) => s.parse().expect("--every SECONDS"),
        _ => 5,
    };
    let receiver = OtlpReceiver::counting_on(addr.parse().expect("ADDR as IP:PORT"))
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("otlp sink listening on {}", receiver.addr());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = term.recv() => break,
                _ = tokio::signal::ctrl_c() => break,
            }
            println!("spans {} requests {}", receiver.received(), receiver.requests());
        }
    });
    println!("spans {} requests {}", receiver.received(), receiver.requests());
}
