//! Starts a real etcd (the Debian `etcd-server` package) as a one-member cluster on loopback, for
//! the tests of the distributed mode.
//!
//! Every instance gets a private temporary directory (data and log) and its own client and peer
//! ports, so tests can run several at once. It can be stopped, killed, paused and restarted on the
//! same ports and data to stage outages; it is killed and its directory removed on drop. A missing
//! `etcd` binary is an error naming `scripts/setup.sh`, never a silent skip.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// How many times a first start draws new ports after losing a race for them.
const START_ATTEMPTS: usize = 5;
/// How long one `/health` probe may take; etcd answers in milliseconds when it is up.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long [`Etcd::stop`] waits after SIGTERM before it kills.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Log lines quoted in failure messages.
const TAIL_LINES: usize = 40;

/// How etcd compacts its history on its own (`--auto-compaction-mode` and
/// `--auto-compaction-retention`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keeps about this much time of history (`periodic` mode).
    Periodic(Duration),
    /// Keeps this many revisions (`revision` mode).
    Revisions(u64),
}

/// Settings for [`Etcd::start_with`]. The defaults favour quick tests.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Member name (`--name`). Default `switchyard-test`.
    pub name: String,
    /// Raft tick (`--heartbeat-interval`). Default 10 ms: a one-member cluster sends no
    /// heartbeats over the network, so a short tick only makes the first election quick.
    pub heartbeat: Duration,
    /// Raft election timeout (`--election-timeout`); etcd wants at least five heartbeats.
    /// Default 100 ms.
    pub election_timeout: Duration,
    /// How often a watcher that asked for progress notifications gets one
    /// (`--experimental-watch-progress-notify-interval`, 10 minutes in etcd). Default 1 s.
    /// Passed only when `etcd --help` lists the flag (3.4 and later); see
    /// [`Etcd::watch_progress_notify`].
    pub watch_progress_notify: Option<Duration>,
    /// Automatic compaction. Default `None`: all history is kept, as in etcd.
    pub auto_compaction: Option<AutoCompaction>,
    /// How long a start or a restart waits for `/health`. Default 20 s (the machine running
    /// the tests may be busy).
    pub start_timeout: Duration,
    /// Further command-line arguments, appended as given (`--quota-backend-bytes=...`).
    pub extra_args: Vec<String>,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            name: "switchyard-test".into(),
            heartbeat: Duration::from_millis(10),
            election_timeout: Duration::from_millis(100),
            watch_progress_notify: Some(Duration::from_secs(1)),
            auto_compaction: None,
            start_timeout: Duration::from_secs(20),
            extra_args: Vec::new(),
        }
    }
}

impl EtcdOptions {
    fn validate(&self) -> io::Result<()> {
        let mut problems = Vec::new();
        if self.name.is_empty() || self.name.contains([',', '=']) {
            problems.push(format!("name {:?} must be non-empty without ',' or '='", self.name));
        }
        if self.heartbeat.as_millis() == 0 {
            problems.push("heartbeat must be at least 1 ms".to_string());
        }
        if self.election_timeout.as_millis() < 5 * self.heartbeat.as_millis() {
            problems.push(format!(
                "election_timeout {:?} must be at least five heartbeats ({:?})",
                self.election_timeout, self.heartbeat
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::InvalidInput, problems.join("; ")))
        }
    }
}

/// A running (or stopped, between [`stop`](Etcd::stop) and [`restart`](Etcd::restart)) etcd.
#[derive(Debug)]
pub struct Etcd {
    child: Option<Child>,
    client_port: u16,
    peer_port: u16,
    bin: PathBuf,
    opts: EtcdOptions,
    progress_flag: Option<&'static str>,
    dir: tempfile::TempDir,
}

/// Locates `etcd` (PATH, then /usr/bin and /usr/local/bin).
pub fn etcd_binary() -> io::Result<PathBuf> {
    let dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")]);
    for d in dirs {
        let p = d.join("etcd");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "etcd not found on PATH nor in /usr/bin: run scripts/setup.sh, which installs the \
         Debian `etcd-server` package",
    ))
}

/// `etcd --help`, read once: flags differ between releases (3.6 drops `experimental-` from
/// the progress notification flag and only logs through zap).
fn help_text(bin: &Path) -> io::Result<&'static str> {
    static HELP: OnceLock<String> = OnceLock::new();
    if let Some(h) = HELP.get() {
        return Ok(h);
    }
    let out = Command::new(bin).arg("--help").stdin(Stdio::null()).output()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(HELP.get_or_init(|| text))
}

/// Whether the help text lists `flag` (as `  --flag 'default'`), not merely as a suffix of a
/// longer flag.
fn has_flag(help: &str, flag: &str) -> bool {
    help.lines().any(|l| {
        l.trim_start()
            .strip_prefix(flag)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '=', '\t']))
    })
}

/// Where test ports are drawn from: below the kernel's ephemeral range when there is room. A
/// port found by binding port 0 lies inside that range, and while an etcd is stopped for an
/// outage test, any outgoing connection on the machine may take its port as a source port and
/// make the restart fail; ports below the range are only ever taken by explicit binds.
fn port_pool() -> Range<u16> {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low >= 12_000 { 10_000..low } else { 10_000..u16::MAX }
}

fn port_free(port: u16) -> bool {
    // std sets SO_REUSEADDR on Unix, as Go does for etcd's listeners: connections in TIME_WAIT
    // do not make a port look busy.
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

fn pick_port(pool: &Range<u16>, not: u16) -> io::Result<u16> {
    for _ in 0..200 {
        let port = rand::random_range(pool.clone());
        if port != not && port_free(port) {
            return Ok(port);
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, format!("no free loopback port in {pool:?}")))
}

fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Why a spawned etcd did not become healthy.
enum NotReady {
    Exited(ExitStatus),
    TimedOut,
    Io(io::Error),
}

impl Etcd {
    /// Starts etcd with [`EtcdOptions::default`] and waits until `/health` says so.
    ///
    /// # Panics
    /// When etcd is missing or does not become healthy; the message carries the log's tail.
    #[track_caller]
    pub fn start() -> Etcd {
        Self::start_with(EtcdOptions::default())
    }

    /// Like [`start`](Self::start), with options.
    #[track_caller]
    pub fn start_with(opts: EtcdOptions) -> Etcd {
        Self::try_start_with(opts).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts etcd and waits until it is healthy. Ports are drawn at random and checked free;
    /// when another process binds one between the check and etcd's own bind, new ports are
    /// drawn (up to five times).
    pub fn try_start_with(opts: EtcdOptions) -> io::Result<Etcd> {
        opts.validate()?;
        let bin = etcd_binary()?;
        let help = help_text(&bin)?;
        let progress_flag = opts.watch_progress_notify.and_then(|_| {
            ["--watch-progress-notify-interval", "--experimental-watch-progress-notify-interval"]
                .into_iter()
                .find(|f| has_flag(help, f))
        });
        let dir = tempfile::Builder::new().prefix("switchyard-etcd").tempdir()?;
        let mut etcd =
            Etcd { child: None, client_port: 0, peer_port: 0, bin, opts, progress_flag, dir };
        let pool = port_pool();
        for attempt in 1..=START_ATTEMPTS {
            etcd.client_port = pick_port(&pool, 0)?;
            etcd.peer_port = pick_port(&pool, etcd.client_port)?;
            etcd.spawn(help)?;
            match etcd.wait_ready(etcd.opts.start_timeout) {
                Ok(()) => return Ok(etcd),
                Err(NotReady::Exited(status)) if attempt < START_ATTEMPTS && etcd.ports_taken() => {
                    tracing::debug!(%status, attempt, "etcd lost its ports to another process");
                    // A member directory written for the lost ports would pin them.
                    let _ = std::fs::remove_dir_all(etcd.data_dir());
                }
                Err(e) => return Err(etcd.failure(e)),
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, "etcd lost its ports on every attempt"))
    }

    /// `http://127.0.0.1:PORT`, for clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.client_addr())
    }

    /// The client listener (gRPC, and the `/v3` HTTP gateway, `/health`, `/version`).
    pub fn client_addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.client_port).into()
    }

    /// The peer (raft) listener.
    pub fn peer_addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.peer_port).into()
    }

    /// The data directory, kept across [`restart`](Self::restart).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The progress notification interval etcd runs with, `None` when not asked for or when the
    /// binary has no such flag.
    pub fn watch_progress_notify(&self) -> Option<Duration> {
        self.progress_flag.and(self.opts.watch_progress_notify)
    }

    /// The last `lines` lines of etcd's log (its stderr, across restarts), for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read(self.log_path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// One `/health` probe (500 ms at most): whether etcd answers `{"health":"true"}`.
    pub fn is_healthy(&self) -> bool {
        healthy(self.client_addr())
    }

    /// Waits until etcd is healthy again, after [`resume`](Self::resume) for instance.
    ///
    /// # Panics
    /// When it is not within `timeout` or has exited; the message carries the log's tail.
    #[track_caller]
    pub fn wait_healthy(&mut self, timeout: Duration) {
        if let Err(e) = self.wait_ready(timeout) {
            panic!("{}", self.failure(e));
        }
    }

    /// Stops etcd with SIGTERM (continuing it first if paused) and waits for it to exit; kills
    /// it if it is still running after ten seconds. Does nothing when it is not running.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = signal(&child, libc::SIGTERM);
            let _ = signal(&child, libc::SIGCONT);
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            tracing::warn!(endpoint = %self.endpoint(), "etcd ignored SIGTERM; killing it");
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills etcd with SIGKILL, as a crash or a power cut would, and reaps it. Does nothing
    /// when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data directory (stopping it first if it still
    /// runs) and waits until it is healthy. If another process holds one of the ports, waits for
    /// it to be released until the start timeout.
    ///
    /// # Panics
    /// When etcd does not come back; the message carries the log's tail.
    #[track_caller]
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + self.opts.start_timeout;
        let help = help_text(&self.bin).unwrap_or_else(|e| panic!("etcd --help: {e}"));
        loop {
            while self.ports_taken() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Err(e) = self.spawn(help) {
                panic!("{}", self.failure(NotReady::Io(e)));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.wait_ready(left) {
                Ok(()) => return,
                Err(NotReady::Exited(_)) if self.ports_taken() && Instant::now() < deadline => {}
                Err(e) => panic!("{}", self.failure(e)),
            }
        }
    }

    /// Freezes etcd with SIGSTOP: connections stay open and nothing answers, as with a hung
    /// host.
    ///
    /// # Panics
    /// When etcd is not running.
    #[track_caller]
    pub fn pause(&mut self) {
        self.send(libc::SIGSTOP);
    }

    /// Continues etcd after [`pause`](Self::pause) with SIGCONT.
    #[track_caller]
    pub fn resume(&mut self) {
        self.send(libc::SIGCONT);
    }

    /// Writes `key` = `value` through etcd's v3 HTTP gateway (`POST /v3/kv/put`), so tests can
    /// seed and check data without an etcd client.
    ///
    /// # Panics
    /// When etcd does not accept the write.
    #[track_caller]
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        let body = serde_json::json!({
            "key": BASE64.encode(key.as_ref()),
            "value": BASE64.encode(value.as_ref()),
        });
        self.gateway("/v3/kv/put", &body);
    }

    /// Deletes `key` through the v3 HTTP gateway (`POST /v3/kv/deleterange`).
    ///
    /// # Panics
    /// When etcd does not accept the delete.
    #[track_caller]
    pub fn delete(&self, key: impl AsRef<[u8]>) {
        let body = serde_json::json!({ "key": BASE64.encode(key.as_ref()) });
        self.gateway("/v3/kv/deleterange", &body);
    }

    /// Reads `key` through the v3 HTTP gateway (`POST /v3/kv/range`).
    ///
    /// # Panics
    /// When etcd does not answer.
    #[track_caller]
    pub fn get(&self, key: impl AsRef<[u8]>) -> Option<Vec<u8>> {
        let body = serde_json::json!({ "key": BASE64.encode(key.as_ref()) });
        let answer = self.gateway("/v3/kv/range", &body);
        let kv = answer.get("kvs")?.get(0)?;
        // proto3 JSON leaves out empty fields: a key with an empty value has no "value".
        let value = kv.get("value").and_then(|v| v.as_str()).unwrap_or("");
        Some(
            BASE64
                .decode(value)
                .unwrap_or_else(|e| panic!("etcd sent a value that is not base64 ({e}): {kv}")),
        )
    }

    /// Compacts the whole history up to the current revision, physically, through the v3
    /// HTTP gateway (`POST /v3/kv/compaction`): a watch that resumes from an older revision
    /// is then refused and its client must list again. Returns the revision compacted to.
    ///
    /// # Panics
    /// When etcd does not answer or refuses.
    #[track_caller]
    pub fn compact(&self) -> i64 {
        let answer = self.gateway("/v3/kv/range", &serde_json::json!({ "key": "AA==" }));
        // proto3 JSON writes 64-bit integers as strings.
        let revision: i64 = answer["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("no revision in {answer}"));
        self.gateway(
            "/v3/kv/compaction",
            &serde_json::json!({ "revision": revision.to_string(), "physical": true }),
        );
        revision
    }

    #[track_caller]
    fn gateway(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let headers = [("Content-Type", "application/json")];
        let r =
            crate::process::request(self.client_addr(), "POST", path, &headers, &body.to_string());
        assert_eq!(r.status, 200, "POST {path} {body}: {}", r.body);
        serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {}", r.body))
    }

    #[track_caller]
    fn send(&self, sig: libc::c_int) {
        let child = self.child.as_ref().expect("etcd is not running");
        signal(child, sig).unwrap_or_else(|e| panic!("signal {sig} to etcd: {e}"));
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    fn ports_taken(&self) -> bool {
        !port_free(self.client_port) || !port_free(self.peer_port)
    }

    fn args(&self, help: &str) -> Vec<OsString> {
        let client = self.endpoint();
        let peer = format!("http://{}", self.peer_addr());
        let o = &self.opts;
        let mut args: Vec<OsString> = vec!["--data-dir".into(), self.data_dir().into()];
        let mut flag = |name: &str, value: String| args.push(format!("{name}={value}").into());
        flag("--name", o.name.clone());
        flag("--listen-client-urls", client.clone());
        flag("--advertise-client-urls", client);
        flag("--listen-peer-urls", peer.clone());
        flag("--initial-advertise-peer-urls", peer.clone());
        flag("--initial-cluster", format!("{}={peer}", o.name));
        // Read only on the first start; a restart goes on from the member directory.
        flag("--initial-cluster-state", "new".into());
        flag("--initial-cluster-token", format!("switchyard-test-{}", self.client_port));
        flag("--heartbeat-interval", o.heartbeat.as_millis().to_string());
        flag("--election-timeout", o.election_timeout.as_millis().to_string());
        if has_flag(help, "--logger") {
            flag("--logger", "zap".into());
        }
        flag("--log-outputs", "stderr".into());
        if let (Some(name), Some(every)) = (self.progress_flag, o.watch_progress_notify) {
            flag(name, go_duration(every));
        }
        match o.auto_compaction {
            None => {}
            Some(AutoCompaction::Periodic(keep)) => {
                flag("--auto-compaction-mode", "periodic".into());
                flag("--auto-compaction-retention", go_duration(keep));
            }
            Some(AutoCompaction::Revisions(n)) => {
                flag("--auto-compaction-mode", "revision".into());
                flag("--auto-compaction-retention", n.to_string());
            }
        }
        args.extend(o.extra_args.iter().map(OsString::from));
        args
    }

    fn spawn(&mut self, help: &str) -> io::Result<()> {
        let args = self.args(help);
        let mut log = OpenOptions::new().create(true).append(true).open(self.log_path())?;
        let line: Vec<_> = args.iter().map(|a| a.to_string_lossy()).collect();
        writeln!(log, "### {} {}", self.bin.display(), line.join(" "))?;
        let mut cmd = Command::new(&self.bin);
        cmd.args(&args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        // etcd reads every ETCD_* variable as a flag; the caller's environment must not
        // reconfigure (or, by repeating a flag given here, stop) the test's etcd.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(|n| n.starts_with("ETCD_")) {
                cmd.env_remove(name);
            }
        }
        self.child = Some(cmd.spawn()?);
        Ok(())
    }

    /// Polls `/health` until it answers, the child exits or `timeout` passes; a child that did
    /// not become healthy is killed.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), NotReady> {
        let deadline = Instant::now() + timeout;
        let addr = self.client_addr();
        loop {
            let Some(child) = self.child.as_mut() else {
                return Err(NotReady::Io(io::Error::other("etcd is not running")));
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Err(NotReady::Exited(status));
                }
                Ok(None) => {}
                Err(e) => return Err(NotReady::Io(e)),
            }
            if healthy(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(NotReady::TimedOut);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn failure(&self, why: NotReady) -> io::Error {
        let (kind, what) = match why {
            NotReady::Exited(status) => {
                (io::ErrorKind::Other, format!("exited ({status}) before answering /health"))
            }
            NotReady::TimedOut => {
                (io::ErrorKind::TimedOut, "did not answer /health in time".into())
            }
            NotReady::Io(e) => (e.kind(), format!("could not be run: {e}")),
        };
        io::Error::new(
            kind,
            format!(
                "etcd on {} {what}; log {}:\n{}",
                self.endpoint(),
                self.log_path().display(),
                self.log_tail(TAIL_LINES)
            ),
        )
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal(child: &Child, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    // SAFETY: kill(2) has no memory effects. The child is not reaped yet (the `Child` is held
    // and not waited for), so the pid still names it.
    if unsafe { libc::kill(pid, sig) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn healthy(addr: SocketAddr) -> bool {
    let Ok(body) = http_get(addr, "/health") else {
        return false;
    };
    // Take the JSON object whatever the framing (etcd may answer chunked).
    let (Some(start), Some(end)) = (body.find('{'), body.rfind('}')) else {
        return false;
    };
    serde_json::from_str::<serde_json::Value>(&body[start..=end])
        .is_ok_and(|v| v.get("health").and_then(|h| h.as_str()) == Some("true"))
}

/// A minimal GET that never panics, for probing an etcd that may be half up: the body of a
/// `200` answer.
fn http_get(addr: SocketAddr, path: &str) -> io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    s.set_read_timeout(Some(PROBE_TIMEOUT))?;
    s.set_write_timeout(Some(PROBE_TIMEOUT))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| io::Error::other("no header"))?;
    if head.split(' ').nth(1) != Some("200") {
        return Err(io::Error::other(format!("answered {}", head.lines().next().unwrap_or(""))));
    }
    Ok(body.to_string())
}
