//! TLS through the real binary: the HTTPS traffic listener (certificates chosen by SNI, the
//! route API, redirects by scheme, keep-alive, HTTP/2 through ALPN, `curl` as a real peer),
//! RFC 7239 `Forwarded` from a trusted proxy, the admin listener over TLS with its token, and
//! certificates swapped by SIGHUP without dropping the listener, a broken file keeping the
//! certificate in force.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use switchyard_testkit::pki::{Leaf, TestCa};
use switchyard_testkit::process::{Response, parse_response};

use crate::common::{Switchyard, get, request};

const CZF: &str = r#"{"coverageZones": {
  "ams": {"network": ["10.1.0.0/16", "127.0.0.0/8"]},
  "fra": {"network": ["10.2.0.0/16"]}
}}"#;

/// A fleet of two zones, one node each (HTTP on 8080, HTTPS on 8443 in `ams`), and three
/// services: `video` (redirects follow the request's scheme), `img` (always `https`) and
/// `plain` (always `http`).
const INVENTORY: &str = r#"
[inventory]
coverage_zones_file = "czf.json"

[[inventory.zones]]
name = "ams"
backups = ["fra"]

[[inventory.zones]]
name = "fra"

[[inventory.nodes]]
id = "ams-1"
zone = "ams"
ipv4 = "127.0.10.1"
port = 8080
https_port = 8443

[[inventory.nodes]]
id = "fra-1"
zone = "fra"
ipv4 = "127.0.20.1"

[[inventory.services]]
name = "video"
hostnames = ["video.example.test"]

[[inventory.services]]
name = "img"
hostnames = ["img.example.test"]
redirect_scheme = "https"

[[inventory.services]]
name = "plain"
hostnames = ["plain.example.test"]
redirect_scheme = "http"
"#;

/// A TLS connection to `addr`, the handshake done, asking for `name` by SNI (none for an
/// address).
struct Tls {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Tls {
    fn connect(addr: SocketAddr, name: &str, config: Arc<rustls::ClientConfig>) -> Self {
        Self::try_connect(addr, name, config)
            .unwrap_or_else(|e| panic!("TLS to {addr} as {name}: {e}"))
    }

    fn try_connect(
        addr: SocketAddr,
        name: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<Self, rustls::Error> {
        let server = ServerName::try_from(name.to_owned()).unwrap();
        let mut conn = rustls::ClientConnection::new(config, server).unwrap();
        let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while conn.is_handshaking() {
            match conn.complete_io(&mut tcp) {
                Ok(_) => {}
                Err(e) => {
                    return Err(e
                        .into_inner()
                        .and_then(|i| i.downcast::<rustls::Error>().ok())
                        .map(|e| *e)
                        .unwrap_or(rustls::Error::General("connection closed".into())));
                }
            }
        }
        Ok(Self { stream: rustls::StreamOwned::new(conn, tcp) })
    }

    /// The leaf certificate the server presented.
    fn leaf(&self) -> CertificateDer<'static> {
        self.stream.conn.peer_certificates().expect("a certificate")[0].clone()
    }

    fn alpn(&self) -> Option<Vec<u8>> {
        self.stream.conn.alpn_protocol().map(<[u8]>::to_vec)
    }

    /// One request on this connection (kept open unless `headers` say otherwise); reads one
    /// response by its `Content-Length`.
    fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut req = format!("GET {path} HTTP/1.1\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.stream.write_all(req.as_bytes()).unwrap();
        self.stream.flush().unwrap();
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            let n = self.stream.read(&mut byte).unwrap();
            assert_eq!(n, 1, "connection closed inside a response head: {raw:?}");
            raw.push(byte[0]);
        }
        let head = parse_response(&String::from_utf8_lossy(&raw));
        let len: usize = head.header("content-length").map_or(0, |l| l.parse().unwrap());
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).unwrap();
        raw.extend_from_slice(&body);
        parse_response(&String::from_utf8_lossy(&raw))
    }
}

/// `GET` on a fresh TLS connection, `Connection: close`.
fn tls_get(
    addr: SocketAddr,
    name: &str,
    config: &Arc<rustls::ClientConfig>,
    path: &str,
    host: &str,
    extra: &[(&str, &str)],
) -> (Response, CertificateDer<'static>) {
    let mut c = Tls::connect(addr, name, config.clone());
    let mut headers = vec![("Host", host), ("Connection", "close")];
    headers.extend_from_slice(extra);
    (c.get(path, &headers), c.leaf())
}

fn files(dir: &[(&str, &Leaf)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, leaf) in dir {
        out.push((format!("{name}.crt"), leaf.cert_pem.clone()));
        out.push((format!("{name}.key"), leaf.key_pem.clone()));
    }
    out
}

/// A counter or gauge of the exposition, 0 when absent.
fn metric(admin_metrics: &str, series: &str) -> f64 {
    admin_metrics
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[test]
fn https_listener_chooses_certificates_by_sni_and_redirects_by_scheme() {
    let ca = TestCa::new("switchyard test CA");
    let fallback = ca.leaf(&["router.example.test", "127.0.0.1"]);
    let video = ca.leaf(&["video.example.test", "plain.example.test"]);
    let img = ca.leaf(&["img.example.test"]);
    let config = format!(
        r#"[lifecycle]
shutdown_delay_seconds = 0

[http]
trusted_proxies = ["127.0.0.1"]
trust_forwarded = true

[http.tls]
cert_file = "default.crt"
key_file = "default.key"
min_version = "1.3"

[[http.tls.certificates]]
names = ["video.example.test", "plain.example.test"]
cert_file = "video.crt"
key_file = "video.key"

[[http.tls.certificates]]
service = "img"
cert_file = "img.crt"
key_file = "img.key"
{INVENTORY}"#
    );
    let mut written = files(&[("default", &fallback), ("video", &video), ("img", &img)]);
    written.push(("czf.json".into(), CZF.into()));
    let written: Vec<(&str, &str)> =
        written.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let sy = Switchyard::start_with_files(
        &config,
        &written,
        &["--http-listen", "127.0.0.1:0", "--https-listen", "127.0.0.1:0"],
        &[],
    );
    sy.wait_status("/readyz", 200, Duration::from_secs(20));
    let http = sy.listener("http");
    let https = sy.listener("https");
    let client = ca.client_config(&["http/1.1"]);

    // SNI picks the certificate: by name, by the service the name belongs to, else the
    // default (also for a client that sends no name).
    let route = "/v1/route?host=video.example.test&ip=10.1.0.7&path=/a.ts";
    let (r, leaf) = tls_get(https, "video.example.test", &client, route, "video.example.test", &[]);
    assert_eq!(leaf, video.der);
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["node"]["id"], "ams-1", "{v}");
    let (_, leaf) = tls_get(https, "img.example.test", &client, "/x", "img.example.test", &[]);
    assert_eq!(leaf, img.der);
    let (_, leaf) =
        tls_get(https, "router.example.test", &client, route, "router.example.test", &[]);
    assert_eq!(leaf, fallback.der);
    let (_, leaf) = tls_get(https, "127.0.0.1", &client, route, "127.0.0.1", &[]);
    assert_eq!(leaf, fallback.der, "no SNI: the default certificate");
    // A name with no certificate of its own gets the default, which the client refuses.
    let refused = Tls::try_connect(https, "unknown.example.test", client.clone()).err();
    assert!(
        matches!(refused, Some(rustls::Error::InvalidCertificate(_))),
        "the default certificate does not name unknown.example.test: {refused:?}"
    );
    // TLS 1.2 is not offered with min_version = "1.3".
    assert!(Tls::try_connect(https, "video.example.test", tls12_only(&ca)).is_err());

    // Redirects: `video` follows the request's scheme, `img` is always https, `plain` http.
    let location = |r: &Response| r.header("location").unwrap_or_default().to_owned();
    let ams = [("X-MM-Client-IP", "10.1.0.7")];
    let (r, _) =
        tls_get(https, "video.example.test", &client, "/v/a.ts?x=1", "video.example.test", &ams);
    assert_eq!((r.status, location(&r)), (302, "https://127.0.10.1:8443/v/a.ts?x=1".into()));
    let r = get(http, "/v/a.ts?x=1", &[("Host", "video.example.test"), ams[0]]);
    assert_eq!((r.status, location(&r)), (302, "http://127.0.10.1:8080/v/a.ts?x=1".into()));
    let r = get(http, "/i.png", &[("Host", "img.example.test"), ams[0]]);
    assert_eq!(location(&r), "https://127.0.10.1:8443/i.png");
    let (r, _) = tls_get(https, "plain.example.test", &client, "/p", "plain.example.test", &ams);
    assert_eq!(location(&r), "http://127.0.10.1:8080/p");
    // Behind a proxy that terminates TLS (the test, a trusted peer), the scheme the proxy
    // says the client used: Forwarded's `proto=` of the client's element, X-Forwarded-Proto.
    let video = ("Host", "video.example.test");
    let r = get(http, "/v/a.ts", &[video, ("Forwarded", "for=10.1.0.7;proto=https")]);
    assert_eq!((r.status, location(&r)), (302, "https://127.0.10.1:8443/v/a.ts".into()));
    let r = get(http, "/v/a.ts", &[video, ams[0], ("X-Forwarded-Proto", "https")]);
    assert_eq!(location(&r), "https://127.0.10.1:8443/v/a.ts");
    let (r, _) = tls_get(
        https,
        "video.example.test",
        &client,
        "/v/a.ts",
        "video.example.test",
        &[ams[0], ("X-Forwarded-Proto", "http")],
    );
    assert_eq!(location(&r), "http://127.0.10.1:8080/v/a.ts");
    // On hyper's path too (a request with a body goes there).
    let r =
        request(http, "GET", "/v/a.ts", &[video, ("Forwarded", "for=10.1.0.7;proto=https")], "x");
    assert_eq!((r.status, location(&r)), (302, "https://127.0.10.1:8443/v/a.ts".into()));
    // A node without https_port: 443, left out of the URL; the JSON forms carry the scheme.
    let fra = [("X-MM-Client-IP", "10.2.0.7")];
    let (r, _) = tls_get(https, "video.example.test", &client, "/b", "video.example.test", &fra);
    assert_eq!(location(&r), "https://127.0.20.1/b");
    let (r, _) =
        tls_get(https, "video.example.test", &client, "/b?format=json", "video.example.test", &fra);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["location"], "https://127.0.20.1/b", "{v}");

    // Keep-alive: several requests on one TLS connection, every answer on it.
    let mut c = Tls::connect(https, "video.example.test", client.clone());
    for i in 0..5 {
        let r = c.get(&format!("{route}&n={i}"), &[("Host", "video.example.test")]);
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
        assert_eq!(r.header("connection"), None, "kept open");
    }
    // A request the fast path hands to hyper (a body) on the same connection.
    let r = c.get(route, &[("Host", "video.example.test"), ("Upgrade", "x-none")]);
    assert_eq!(r.status, 200, "{r:?}");
    let r = c.get(route, &[("Host", "video.example.test")]);
    assert_eq!(r.status, 200, "{r:?}");

    // HTTP/2 through ALPN, answered by hyper behind the fast path.
    let h2 = Tls::connect(https, "video.example.test", ca.client_config(&["h2", "http/1.1"]));
    assert_eq!(h2.alpn().as_deref(), Some(&b"h2"[..]));

    // Forwarded from the trusted proxy (the test, on 127.0.0.1), on both paths and listeners.
    let fwd = [("Forwarded", "for=\"[2001:db8::7]:4711\", for=10.2.0.9;proto=https")];
    let route = "/v1/route?host=video.example.test&path=/a.ts";
    let (r, _) = tls_get(https, "video.example.test", &client, route, "video.example.test", &fwd);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (&v["client"]["ip"], &v["client"]["source"]),
        (&"10.2.0.9".into(), &"forwarded".into()),
        "{v}"
    );
    let r = request(http, "GET", route, &[("Host", "video.example.test"), fwd[0]], "x");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["client"]["source"], "forwarded", "hyper path: {v}");
    let r = get(http, route, &[("Host", "video.example.test"), ("Forwarded", "for=[::1]")]);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["client"]["source"], "peer", "a malformed Forwarded is not believed: {v}");

    // curl, a real peer: HTTP/2 and HTTP/1.1 over TLS with the test CA.
    let ca_file = sy.path("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    for version in ["--http2", "--http1.1"] {
        let out = Command::new("curl")
            .args(["-sS", version, "--cacert"])
            .arg(&ca_file)
            .args(["--resolve", &format!("video.example.test:{}:127.0.0.1", https.port())])
            .args(["-w", "\n%{http_code} %{http_version}"])
            .arg(format!("https://video.example.test:{}{route}", https.port()))
            .output()
            .expect("curl runs (scripts/setup.sh installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "curl {version}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = text.lines().last().unwrap_or_default();
        let want = if version == "--http2" { "200 2" } else { "200 1.1" };
        assert_eq!(last, want, "curl {version}: {text}");
        assert!(text.contains("\"ams-1\""), "{text}");
    }

    // openssl s_client, asking for the service-chosen certificate by name.
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &https.to_string(), "-servername", "img.example.test"])
        .arg("-CAfile")
        .arg(&ca_file)
        .args(["-verify_hostname", "img.example.test", "-verify_return_error"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    assert!(text.contains("CN = img.example.test"), "{text}");

    let metrics = get(sy.admin, "/metrics", &[]).body;
    let count = |s: &str| metric(&metrics, s);
    assert!(count("switchyard_tls_handshakes_total{listener=\"https\",result=\"ok\"}") >= 10.0);
    assert!(count("switchyard_tls_handshakes_total{listener=\"https\",result=\"failed\"}") >= 2.0);
    assert!(
        count("switchyard_tls_certificate_selections_total{listener=\"https\",by=\"name\"}") >= 5.0
    );
    assert!(
        count("switchyard_tls_certificate_selections_total{listener=\"https\",by=\"service\"}")
            >= 1.0
    );
    assert!(
        count("switchyard_tls_certificate_selections_total{listener=\"https\",by=\"default\"}")
            >= 3.0
    );
    assert!(
        count("switchyard_http_client_address_headers_invalid_total{header=\"forwarded\"}") >= 1.0
    );
    let expiry = count(
        "switchyard_tls_certificate_expiry_timestamp_seconds{listener=\"https\",certificate=\"certificates[0]\"}",
    );
    assert!(expiry > 1.7e9, "{expiry}");
}

/// A client that speaks TLS 1.2 alone and trusts `ca`.
fn tls12_only(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(ca.cert_pem().as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Waits until the log holds `n` lines containing `needle`.
fn wait_lines(sy: &Switchyard, needle: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sy.log.all().matches(needle).count() < n {
        assert!(
            Instant::now() < deadline,
            "fewer than {n} lines with {needle:?}:\n{}",
            sy.log.all()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn admin_over_tls_and_certificates_reloaded_by_sighup() {
    let ca = TestCa::new("switchyard test CA");
    let first = ca.leaf(&["video.example.test", "admin.example.test"]);
    let second = ca.leaf(&["video.example.test", "admin.example.test"]);
    let config = format!(
        r#"[lifecycle]
shutdown_delay_seconds = 0

[admin.tls]
cert_file = "tls.crt"
key_file = "tls.key"

[http.tls]
cert_file = "tls.crt"
key_file = "tls.key"
{INVENTORY}"#
    );
    let written = files(&[("tls", &first)]);
    let mut written: Vec<(&str, &str)> =
        written.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    written.push(("czf.json", CZF));
    let token = "tls-test-token-0123456789";
    let sy = Switchyard::start_with_files(
        &config,
        &written,
        &["--https-listen", "127.0.0.1:0"],
        &[("SWITCHYARD_ADMIN_TOKEN", token)],
    );
    let https = sy.listener("https");
    let client = ca.client_config(&["http/1.1"]);
    let admin = |path: &str, headers: &[(&str, &str)]| {
        tls_get(sy.admin, "admin.example.test", &client, path, "admin.example.test", headers)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while admin("/readyz", &[]).0.status != 200 {
        assert!(Instant::now() < deadline, "not ready over TLS:\n{}", sy.log.all());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Plain HTTP to the admin listener gets no answer.
    let mut plain = TcpStream::connect(sy.admin).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    plain.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = plain.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"), "{buf:?}");

    // `switchyard healthcheck` speaks HTTPS: by URL, and by the configuration's
    // `[admin.tls]` (its `listen.admin` set to the ephemeral address the test got).
    let healthcheck = |args: &[&str]| {
        let out = Command::new(crate::common::BIN).arg("healthcheck").args(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let url = format!("https://{}/readyz", sy.admin);
    let (code, text) = healthcheck(&["--url", &url]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text.trim(), format!("{url}: 200"));
    let checked = sy.path("checked.toml");
    let listen = format!("[listen]\nadmin = \"{}\"\n", sy.admin);
    std::fs::write(&checked, format!("{listen}{config}")).unwrap();
    let (code, text) = healthcheck(&["--config", checked.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("https://"), "{text}");
    let (code, text) = healthcheck(&["--url", &format!("http://{}/livez", sy.admin)]);
    assert_eq!(code, Some(1), "plain HTTP to a TLS listener fails: {text}");

    // The token is needed over TLS as over HTTP.
    let mutate = |auth: Option<&str>| {
        let mut c = Tls::connect(sy.admin, "admin.example.test", client.clone());
        let auth = auth.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Host", "admin.example.test"), ("Connection", "close")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        let body = r#"{"enabled": false}"#;
        let len = body.len().to_string();
        headers.push(("Content-Length", &len));
        headers.push(("Content-Type", "application/json"));
        let mut req = "POST /admin/maintenance HTTP/1.1\r\n".to_owned();
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        c.stream.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let _ = c.stream.read_to_end(&mut raw);
        parse_response(&String::from_utf8_lossy(&raw)).status
    };
    assert_eq!(mutate(None), 401);
    assert_eq!(mutate(Some(token)), 200);

    let (r, leaf) = admin("/livez", &[]);
    assert_eq!((r.status, leaf), (200, first.der.clone()));
    let route = "/v1/route?host=video.example.test&ip=10.1.0.7";
    // A keep-alive connection opened before the reload keeps working after it.
    let mut kept = Tls::connect(https, "video.example.test", client.clone());
    assert_eq!(kept.leaf(), first.der);
    assert_eq!(kept.get(route, &[("Host", "video.example.test")]).status, 200);

    // New files, SIGHUP: new connections get the new certificate on both listeners.
    std::fs::write(sy.path("tls.crt"), &second.cert_pem).unwrap();
    std::fs::write(sy.path("tls.key"), &second.key_pem).unwrap();
    sy.signal("HUP");
    wait_lines(&sy, "configuration reloaded", 1);
    let (r, leaf) = tls_get(https, "video.example.test", &client, route, "video.example.test", &[]);
    assert_eq!((r.status, leaf), (200, second.der.clone()));
    assert_eq!(admin("/livez", &[]).1, second.der);
    assert_eq!(kept.get(route, &[("Host", "video.example.test")]).status, 200);

    // A broken certificate file: the reload is refused, named, and the certificate stays.
    std::fs::write(sy.path("tls.crt"), "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    sy.signal("HUP");
    wait_lines(&sy, "configuration reload refused", 1);
    let refused = sy.log.all();
    assert!(
        refused.contains("http.tls.cert_file") && refused.contains("admin.tls.cert_file"),
        "{refused}"
    );
    let (r, leaf) = tls_get(https, "video.example.test", &client, route, "video.example.test", &[]);
    assert_eq!((r.status, leaf), (200, second.der.clone()));
    let (metrics, _) = admin("/metrics", &[]);
    assert_eq!(metric(&metrics.body, "switchyard_config_last_reload_successful"), 0.0);
    assert_eq!(metric(&metrics.body, "switchyard_config_reloads_total{result=\"error\"}"), 1.0);

    // A key that does not match: refused too, through the admin API over TLS.
    std::fs::write(sy.path("tls.crt"), &first.cert_pem).unwrap();
    let reload = || {
        let mut c = Tls::connect(sy.admin, "admin.example.test", client.clone());
        let auth = format!("Bearer {token}");
        c.stream
            .write_all(
                format!(
                    "POST /admin/reload HTTP/1.1\r\nHost: a\r\nAuthorization: {auth}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        let mut raw = Vec::new();
        let _ = c.stream.read_to_end(&mut raw);
        parse_response(&String::from_utf8_lossy(&raw))
    };
    let r = reload();
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("does not match the certificate"), "{}", r.body);
    assert!(!r.body.contains("PRIVATE KEY"), "{}", r.body);
    assert_eq!(admin("/livez", &[]).1, second.der);
    assert_eq!(kept.get(route, &[("Host", "video.example.test")]).status, 200);

    // min_version reloads too: TLS 1.2 is offered, then after SIGHUP no longer, on both
    // listeners, while a connection made before keeps working.
    std::fs::write(sy.path("tls.crt"), &second.cert_pem).unwrap();
    let tls12 = tls12_only(&ca);
    let mut old12 = Tls::connect(https, "video.example.test", tls12.clone());
    assert!(Tls::try_connect(sy.admin, "admin.example.test", tls12.clone()).is_ok());
    let raised = config
        .replace("key_file = \"tls.key\"\n", "key_file = \"tls.key\"\nmin_version = \"1.3\"\n");
    assert_eq!(raised.matches("min_version").count(), 2, "{raised}");
    std::fs::write(sy.path("switchyard.toml"), &raised).unwrap();
    let r = reload();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"restart_required\":[]"), "min_version needs no restart: {}", r.body);
    assert!(Tls::try_connect(https, "video.example.test", tls12.clone()).is_err());
    assert!(Tls::try_connect(sy.admin, "admin.example.test", tls12).is_err());
    assert_eq!(old12.get(route, &[("Host", "video.example.test")]).status, 200);
    let (r, leaf) = tls_get(https, "video.example.test", &client, route, "video.example.test", &[]);
    assert_eq!((r.status, leaf), (200, second.der.clone()));
}
