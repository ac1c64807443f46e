use std::io::{Read, Write};
use std::net::TcpListener;

use super::*;

#[test]
fn a_url_without_a_path_checks_livez_and_one_without_a_port_takes_80() {
    let t = parse_url("http://127.0.0.1:9090").unwrap();
    assert_eq!(t, Target { tls: false, authority: "127.0.0.1:9090".into(), path: "/livez".into() });
    assert_eq!(parse_url("http://127.0.0.1:9090/").unwrap().path, "/livez");
    assert_eq!(parse_url("http://127.0.0.1:9090?verbose").unwrap().path, "/livez?verbose");
    assert_eq!(parse_url("http://[::1]:9090/readyz").unwrap().authority, "[::1]:9090");
    assert_eq!(parse_url("http://[::1]/readyz").unwrap().authority, "[::1]:80");
    assert_eq!(parse_url("http://localhost/livez").unwrap().authority, "localhost:80");
}

#[test]
fn http_and_https_urls_with_a_host_are_taken() {
    for bad in ["ftp://127.0.0.1:9090/livez", "127.0.0.1:9090", "http:///livez", "http://u@h:1/"] {
        assert!(parse_url(bad).is_err(), "{bad}");
    }
    let t = parse_url("https://[::1]/readyz").unwrap();
    assert_eq!((t.tls, t.authority.as_str(), t.path.as_str()), (true, "[::1]:443", "/readyz"));
    assert_eq!(t.to_string(), "https://[::1]:443/readyz");
}

#[test]
fn the_admin_address_comes_from_the_configuration_and_an_unspecified_one_is_reached_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[listen]\nadmin = \"0.0.0.0:9191\"\n[inventory]\nfleet_file = \"gone.toml\"\n",
    )
    .unwrap();
    let args =
        HealthcheckArgs { url: None, config: Some(file.clone()), timeout_ms: 100, quiet: true };
    assert_eq!(target(&args).unwrap().authority, "127.0.0.1:9191");

    std::fs::write(&file, "[listen]\nadmin = \"[::]:9192\"\n").unwrap();
    assert_eq!(target(&args).unwrap().authority, "[::1]:9192");

    std::fs::write(&file, "[lifecycle]\ndrain_timeout_seconds = 3\n").unwrap();
    assert_eq!(target(&args).unwrap().authority, "127.0.0.1:9090", "the default admin address");

    std::fs::write(&file, "[listen]\nadmin = 9090\n").unwrap();
    assert!(target(&args).unwrap_err().contains("listen.admin"));

    std::fs::write(&file, "[listen]\nadmin = \"127.0.0.1:9193\"\n[admin.tls]\ncert_file = \"a\"\n")
        .unwrap();
    let t = target(&args).unwrap();
    assert_eq!((t.tls, t.authority.as_str()), (true, "127.0.0.1:9193"), "[admin.tls]: HTTPS");

    let none = HealthcheckArgs { config: None, ..args };
    assert_eq!(target(&none).unwrap().authority, "127.0.0.1:9090");
}

#[test]
fn status_lines_are_read_once_whole() {
    assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n").unwrap(), Some(200));
    assert_eq!(status_code(b"HTTP/1.0 500 Internal\r\nx").unwrap(), Some(500));
    assert_eq!(status_code(b"HTTP/1.1 20").unwrap(), None, "not yet a whole line");
    assert!(status_code(b"SSH-2.0-OpenSSH\r\n").is_err());
    assert!(status_code(b"HTTP/1.1 2x0 OK\r\n").is_err());
}

/// Serves one connection on loopback with `answer`, returning the request head it read.
fn serve_once(answer: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        s.write_all(answer).unwrap();
        String::from_utf8(head).unwrap()
    });
    (addr, handle)
}

#[test]
fn a_200_passes_and_the_request_is_a_plain_get_with_a_host() {
    let (addr, server) = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let target = Target { tls: false, authority: addr.to_string(), path: "/livez".into() };
    let deadline = Instant::now() + Duration::from_secs(5);
    assert_eq!(get_status(&target, deadline).unwrap(), 200);
    let head = server.join().unwrap();
    assert!(head.starts_with("GET /livez HTTP/1.1\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nHost: {addr}\r\n")), "{head}");
}

#[test]
fn any_other_status_a_silent_peer_or_a_closed_port_fails() {
    let (addr, server) = serve_once(b"HTTP/1.1 500 Internal Server Error\r\n\r\n[-]ping failed\n");
    let target = Target { tls: false, authority: addr.to_string(), path: "/livez".into() };
    assert_eq!(get_status(&target, Instant::now() + Duration::from_secs(5)).unwrap(), 500);
    server.join().unwrap();

    // Accepts and never answers: the deadline ends it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = Target {
        tls: false,
        authority: silent.local_addr().unwrap().to_string(),
        path: "/livez".into(),
    };
    let started = Instant::now();
    let err = get_status(&target, Instant::now() + Duration::from_millis(200)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{err}");

    let closed = silent.local_addr().unwrap();
    drop(silent);
    let target = Target { tls: false, authority: closed.to_string(), path: "/livez".into() };
    let err = get_status(&target, Instant::now() + Duration::from_secs(2)).unwrap_err();
    assert!(err.starts_with("connect "), "{err}");
}
