//! Cold start: time from exec to the first `/livez` 200 and to the first `/readyz` 200, the
//! median over repeated runs. `cargo bench -p switchyard --bench coldstart [-- RUNS [CONFIG]]`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).ok()?;
    std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let runs: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20);
    let config = args.get(1).cloned().unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/switchyard.toml").to_string()
    });
    let bin = env!("CARGO_BIN_EXE_switchyard");
    let (mut livez, mut readyz) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let t0 = Instant::now();
        let mut child = Command::new(bin)
            .args(["serve", "--config", &config, "--admin-listen", &addr.to_string()])
            .args(["--http-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn switchyard");
        let deadline = t0 + Duration::from_secs(30);
        while status(addr, "/livez") != Some(200) {
            assert!(Instant::now() < deadline, "no /livez 200 within 30 s");
        }
        livez.push(t0.elapsed());
        while status(addr, "/readyz") != Some(200) {
            assert!(Instant::now() < deadline, "no /readyz 200 within 30 s");
        }
        readyz.push(t0.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    println!("cold start over {runs} runs ({config}):");
    println!("  exec -> /livez 200   median {:>8.2} ms", median(&mut livez).as_secs_f64() * 1e3);
    println!("  exec -> /readyz 200  median {:>8.2} ms", median(&mut readyz).as_secs_f64() * 1e3);
}
