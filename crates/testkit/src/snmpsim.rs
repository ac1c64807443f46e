//! Starts `snmpsim-command-responder` (the Python `snmpsim` package) on a loopback port,
//! serving recordings of real devices from the `snmpsim-data` package.
//!
//! Each instance copies the recordings it serves into a private temporary directory (data and
//! index cache) and listens on an ephemeral UDP port. A recording is served under the v1/v2c
//! community, and the v3 context name, equal to its path without the extension
//! (`network/switch/cisco-c3560`). The process is killed when the [`Snmpsim`] is dropped. A
//! missing simulator or data package is an error, never a silent skip: `scripts/setup.sh`
//! installs both.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The v3 user every instance serves (authNoPriv): the simulator's documented defaults.
pub const V3_USER: &str = "simulator";
/// Authentication pass phrase of [`V3_USER`], with SHA (SHA-1).
pub const V3_AUTH_KEY: &str = "auctoritas";

/// How long start-up (indexing the recordings) may take.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running simulator.
#[derive(Debug)]
pub struct Snmpsim {
    child: Child,
    port: u16,
    engine_id: Vec<u8>,
    dir: tempfile::TempDir,
}

/// The virtualenv `scripts/setup.sh` installs the simulator into, unless
/// `SWITCHYARD_SNMPSIM_VENV` names another.
pub fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("SWITCHYARD_SNMPSIM_VENV") {
        return v.into();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
    home.join(".cache/switchyard/snmpsim")
}

fn missing(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "{what} not found: run scripts/setup.sh (installs snmpsim, pysmi and snmpsim-data)"
        ),
    )
}

/// Locates `snmpsim-command-responder`: the setup virtualenv, then PATH.
pub fn responder_binary() -> io::Result<PathBuf> {
    let in_venv = venv().join("bin/snmpsim-command-responder");
    if in_venv.is_file() {
        return Ok(in_venv);
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.join("snmpsim-command-responder"))
        .find(|p| p.is_file())
        .ok_or_else(|| missing("snmpsim-command-responder"))
}

/// The directory of real-device recordings shipped by `snmpsim-data`, found with the Python
/// interpreter the responder runs on.
pub fn recordings_dir(responder: &Path) -> io::Result<PathBuf> {
    let python = responder
        .parent()
        .map(|bin| bin.join("python"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| "python3".into());
    let out = Command::new(python)
        .args(["-c", "import os, snmpsim_data; print(os.path.dirname(snmpsim_data.__file__))"])
        .output()?;
    if !out.status.success() {
        return Err(missing("the snmpsim-data package"));
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("data");
    if dir.is_dir() { Ok(dir) } else { Err(missing("the snmpsim-data recordings")) }
}

fn free_udp_port() -> io::Result<u16> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

impl Snmpsim {
    /// Serves the named `snmpsim-data` recordings (paths without extension, such as
    /// `os/linux/slackware`) and waits until the simulator answers.
    pub fn start(recordings: &[&str]) -> io::Result<Snmpsim> {
        let bin = responder_binary()?;
        let source = recordings_dir(&bin)?;
        let dir = tempfile::Builder::new().prefix("switchyard-snmpsim").tempdir()?;
        let data = dir.path().join("data");
        for name in recordings {
            let file = ["snmprec.bz2", "snmprec"]
                .iter()
                .map(|ext| source.join(format!("{name}.{ext}")))
                .find(|p| p.is_file())
                .ok_or_else(|| missing(&format!("recording {name}")))?;
            let to = data.join(file.strip_prefix(&source).map_err(io::Error::other)?);
            std::fs::create_dir_all(to.parent().unwrap_or(&data))?;
            std::fs::copy(&file, &to)?;
        }
        std::fs::create_dir_all(dir.path().join("cache"))?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_udp_port()?;
            match spawn(&bin, dir.path(), port) {
                Ok((child, engine_id)) => return Ok(Snmpsim { child, port, engine_id, dir }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("snmpsim did not start")))
    }

    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// The simulator's snmpEngineID, as its start-up log prints it.
    pub fn engine_id(&self) -> &[u8] {
        &self.engine_id
    }

    /// The simulator's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("snmpsim.log")).unwrap_or_default()
    }
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(bin: &Path, d: &Path, port: u16) -> io::Result<(Child, Vec<u8>)> {
    let log = std::fs::File::create(d.join("snmpsim.log"))?;
    let mut child = Command::new(bin)
        .arg(format!("--data-dir={}", d.join("data").display()))
        .arg(format!("--cache-dir={}", d.join("cache").display()))
        .arg(format!("--agent-udpv4-endpoint=127.0.0.1:{port}"))
        .arg(format!("--v3-user={V3_USER}"))
        .arg(format!("--v3-auth-key={V3_AUTH_KEY}"))
        .arg("--v3-auth-proto=SHA")
        // The simulator refuses to run as root unless told to (CI runs as root).
        .env("SNMPSIM_ALLOW_ROOT", "true")
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    match wait_ready(&mut child, d, port) {
        Ok(id) => Ok((child, id)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// The engine ID from the start-up line `SNMPv3 EngineID: 0x80004fb805...`.
fn engine_id_in(log: &str) -> Option<Vec<u8>> {
    let hex = log.lines().find_map(|l| l.trim().strip_prefix("SNMPv3 EngineID: 0x"))?;
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}

/// Sends SNMPv3 discovery probes until the simulator answers (it indexes its recordings
/// first, which takes a few seconds), then reads its engine ID from the log.
fn wait_ready(child: &mut Child, d: &Path, port: u16) -> io::Result<Vec<u8>> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut probe = Vec::new();
    switchyard_snmp::usm::UsmSession::encode_discovery(1, 1, &mut probe);
    let start = Instant::now();
    let log = || std::fs::read_to_string(d.join("snmpsim.log")).unwrap_or_default();
    let mut buf = [0u8; 2048];
    while start.elapsed() < READY_WITHIN {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("snmpsim exited with {status}: {}", log())));
        }
        sock.send_to(&probe, (Ipv4Addr::LOCALHOST, port))?;
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && n > 0
        {
            return engine_id_in(&log())
                .ok_or_else(|| io::Error::other(format!("no engine ID in the log: {}", log())));
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, format!("snmpsim did not answer: {}", log())))
}
