//! Runs a real `switchyard` binary for integration tests, benchmarks and soak scripts: a
//! temporary configuration folder, port 0 listeners (addresses read back from the JSON log),
//! a tiny blocking HTTP/1.1 client, and cleanup on drop. The binary's path is given by the
//! caller (`env!("CARGO_BIN_EXE_switchyard")` in the server's tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Log lines collected from the child's stderr, with a condition variable to wait on.
#[derive(Default)]
pub struct Log {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Log {
    /// Waits until a line contains `needle`; returns it.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut lines = self.lines.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no log line containing {needle:?} within {timeout:?}; log:\n{}",
                lines.join("\n")
            );
            lines = self.changed.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Every line so far.
    pub fn all(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

/// A running `switchyard` process.
pub struct Switchyard {
    /// The process.
    pub child: Child,
    /// The admin listener's address.
    pub admin: SocketAddr,
    /// Its log lines (stderr, JSON).
    pub log: Arc<Log>,
    /// The folder holding its configuration.
    pub dir: tempfile::TempDir,
}

impl Switchyard {
    /// Writes `config` to a temp dir and runs `switchyard serve` on it with the admin
    /// listener on an ephemeral port; waits until the admin listener is bound.
    pub fn start(bin: &str, config: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with_files(bin, config, &[], extra_args, env)
    }

    /// Like [`start`](Self::start), with extra files (coverage zones...) written beside the
    /// configuration first.
    pub fn start_with_files(
        bin: &str,
        config: &str,
        files: &[(&str, &str)],
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, config).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let mut cmd = Command::new(bin);
        cmd.args(["--log-format", "json", "serve", "--config"])
            .arg(&path)
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(extra_args)
            .env_remove("SWITCHYARD_ADMIN_TOKEN");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd, dir)
    }

    /// Runs `switchyard demo` with every listener on an ephemeral port.
    pub fn demo(bin: &str, extra_args: &[&str]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.args(["--log-format", "json", "demo"])
            .args(["--admin-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
            .args(["--dns-listen", "127.0.0.1:0"])
            .args(extra_args);
        Self::spawn(cmd, tempfile::tempdir().unwrap())
    }

    /// Runs `cmd` (a `switchyard` command line with `--log-format json` and an admin listener)
    /// and waits until the admin listener is bound.
    pub fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Self {
        cmd.env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn switchyard");
        let log = Arc::new(Log::default());
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lines.lock().unwrap().push(line);
                sink.changed.notify_all();
            }
        });
        let line = log.wait_for("admin listener ready", Duration::from_secs(20));
        let admin = json_field(&line, "addr").parse().expect("admin addr in log");
        Self { child, admin, log, dir }
    }

    /// The address a listener logged as bound, e.g. `listener("http")` for
    /// `--http-listen 127.0.0.1:0`.
    pub fn listener(&self, name: &str) -> SocketAddr {
        let line = self.log.wait_for(&format!("{name} listener ready"), Duration::from_secs(20));
        json_field(&line, "addr").parse().expect("listener addr in log")
    }

    /// Rewrites the configuration file (for reload tests).
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path("switchyard.toml"), text).unwrap();
    }

    /// GET on the admin listener, parsing the body as JSON.
    pub fn json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = get(self.admin, path, &[]);
        let v = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {}", r.body));
        (r.status, v)
    }

    /// A file in the configuration folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for exit, failing the test after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "switchyard did not exit within {timeout:?}; log:\n{}",
                self.log.all()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `GET path` on the admin listener until it answers `status`.
    pub fn wait_status(&self, path: &str, status: u16, timeout: Duration) -> Response {
        let deadline = Instant::now() + timeout;
        loop {
            let r = get(self.admin, path, &[]);
            if r.status == status {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} stayed {} (wanted {status}): {}\nlog:\n{}",
                r.status,
                r.body,
                self.log.all()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Switchyard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Extracts a string field from a JSON log line.
pub fn json_field(line: &str, field: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
    v.get(field)
        .and_then(|f| f.as_str())
        .unwrap_or_else(|| panic!("no {field} in {line}"))
        .to_string()
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, in order.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: String,
}

impl Response {
    /// The first header named `name`, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `GET` on a fresh connection.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", path, headers, "")
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    read_response(&mut s)
}

/// Reads a response to the end of the connection.
pub fn read_response(s: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&String::from_utf8_lossy(&raw))
}

/// Parses a whole HTTP/1.1 response.
pub fn parse_response(text: &str) -> Response {
    let (head, body) =
        text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Response { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}
