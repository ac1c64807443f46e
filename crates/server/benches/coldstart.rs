//! Cold start: time from exec to the first `/livez` 200 and to the first `/readyz` 200, the
//! median over repeated runs.
//!
//! `cargo bench -p switchyard --bench coldstart [-- RUNS [CONFIG | large]]`: `large` generates
//! a fleet of 10,000 nodes in 500 zones with 20 services and a coverage zone file of 1,000,000
//! IPv4 and 100,000 IPv6 prefixes (nodes are probed over TCP on loopback addresses where
//! nothing listens, so every probe ends at once with "refused").

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
    let large_dir = tempfile::tempdir().unwrap();
    let config = match args.get(1).map(String::as_str) {
        Some("large") => write_large(large_dir.path()),
        Some(path) => path.to_string(),
        None => concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/switchyard.toml").to_string(),
    };
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

/// Writes the large fleet's configuration and coverage zone file; returns the config path.
fn write_large(dir: &std::path::Path) -> String {
    use std::fmt::Write as _;
    const ZONES: usize = 500;
    const NODES: usize = 10_000;
    let c = String::from(
        "[lifecycle]\nshutdown_delay_seconds = 0\n\n[probe.default]\ncheck = { kind = \"tcp\" }\n\
         interval_ms = 2000\ntimeout_ms = 500\nconnect_timeout_ms = 200\n\n\
         [probe.engine]\nfirst_probe_spread_ms = 300\n\n\
         [inventory]\ncoverage_zones_file = \"czf.json\"\nfleet_file = \"fleet.toml\"\n",
    );
    std::fs::write(dir.join("switchyard.toml"), c).unwrap();
    let mut c = String::new();
    for z in 0..ZONES {
        let _ = write!(c, "\n[[zones]]\nname = \"z{z}\"\nbackups = [\"z{}\"]\n", (z + 1) % ZONES);
    }
    for n in 0..NODES {
        // 127.1.0.0/16 upwards; port 9 has no listener, so probes end with "refused".
        let ip = 0x7f01_0000u32 + n as u32;
        let ip = std::net::Ipv4Addr::from(ip);
        let _ = write!(
            c,
            "\n[[nodes]]\nid = \"n{n}\"\nzone = \"z{}\"\nipv4 = \"{ip}\"\nport = 9\n",
            n % ZONES
        );
    }
    for s in 0..20 {
        let _ = write!(
            c,
            "\n[[services]]\nname = \"s{s}\"\nhostnames = [\"s{s}.cdn.example\"]\ndefault_zone = \"z0\"\n"
        );
    }
    std::fs::write(dir.join("fleet.toml"), c).unwrap();

    // 1,000,000 IPv4 /24s (2,000 per zone) and 100,000 IPv6 /48s (200 per zone).
    let mut czf = String::with_capacity(40 << 20);
    czf.push_str("{\"coverageZones\": {");
    for z in 0..ZONES {
        if z > 0 {
            czf.push(',');
        }
        let _ = write!(czf, "\"z{z}\": {{\"network\": [");
        for i in 0..2000u32 {
            let p = (z as u32 * 2000 + i) << 8;
            let a = std::net::Ipv4Addr::from(0x0100_0000u32.wrapping_add(p));
            let _ = write!(czf, "{}\"{a}/24\"", if i > 0 { "," } else { "" });
        }
        czf.push_str("], \"network6\": [");
        for i in 0..200u32 {
            let k = z as u32 * 200 + i;
            let _ = write!(
                czf,
                "{}\"2001:{:x}:{:x}::/48\"",
                if i > 0 { "," } else { "" },
                0x1000 + (k >> 16),
                k & 0xffff
            );
        }
        let _ = write!(
            czf,
            "], \"coordinates\": {{\"latitude\": {}, \"longitude\": {}}}}}",
            (z % 180) as f64 - 89.0,
            (z % 360) as f64 - 179.0
        );
    }
    czf.push_str("}}\n");
    std::fs::write(dir.join("czf.json"), czf).unwrap();
    dir.join("switchyard.toml").display().to_string()
}
