//! Starts a real net-snmp `snmpd` on a loopback port with a configuration written for the test.
//!
//! Every instance gets a private temporary directory (configuration, persistent state, pid
//! and log file) and an ephemeral UDP port, so many test binaries can run agents at once. The
//! process is killed when the [`Snmpd`] is dropped. A missing `snmpd` binary is an error, never
//! a silent skip.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A v3 user created with a `createUser` line. Protocol names are net-snmp's (`MD5`, `SHA`,
/// `SHA-224`, `SHA-256`, `SHA-384`, `SHA-512`; `DES`, `AES`, `AES192`, `AES256`, `AES192C`,
/// `AES256C`).
#[derive(Clone)]
pub struct SnmpdUser {
    pub name: String,
    pub auth: Option<(String, String)>,
    pub privacy: Option<(String, String)>,
}

impl std::fmt::Debug for SnmpdUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnmpdUser")
            .field("name", &self.name)
            .field("auth", &self.auth.as_ref().map(|a| &a.0))
            .field("privacy", &self.privacy.as_ref().map(|p| &p.0))
            .finish()
    }
}

impl SnmpdUser {
    pub fn no_auth(name: &str) -> Self {
        Self { name: name.into(), auth: None, privacy: None }
    }
    pub fn auth(name: &str, proto: &str, pass: &str) -> Self {
        Self { name: name.into(), auth: Some((proto.into(), pass.into())), privacy: None }
    }
    pub fn auth_priv(name: &str, proto: &str, pass: &str, privacy: &str, ppass: &str) -> Self {
        Self {
            name: name.into(),
            auth: Some((proto.into(), pass.into())),
            privacy: Some((privacy.into(), ppass.into())),
        }
    }
    fn level(&self) -> &'static str {
        match (&self.auth, &self.privacy) {
            (None, _) => "noauth",
            (Some(_), None) => "auth",
            (Some(_), Some(_)) => "priv",
        }
    }
}

/// What the `snmpd.conf` written for the agent contains.
#[derive(Clone, Debug)]
pub struct SnmpdConfig {
    /// Read-only community (default `public`).
    pub ro_community: String,
    /// Read-write community (default `private`), allowed to set sysContact/sysName/sysLocation.
    pub rw_community: String,
    pub users: Vec<SnmpdUser>,
    /// Also listen on [::1] at the same port.
    pub ipv6: bool,
    /// Extra configuration lines appended verbatim.
    pub extra: Vec<String>,
}

impl Default for SnmpdConfig {
    fn default() -> Self {
        Self {
            ro_community: "public".into(),
            rw_community: "private".into(),
            users: Vec::new(),
            ipv6: false,
            extra: Vec::new(),
        }
    }
}

/// A running `snmpd`.
#[derive(Debug)]
pub struct Snmpd {
    child: Option<Child>,
    port: u16,
    ipv6: bool,
    dir: tempfile::TempDir,
}

/// Locates `snmpd` (PATH, then /usr/sbin).
pub fn snmpd_binary() -> io::Result<PathBuf> {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")]);
    for d in candidates {
        let p = d.join("snmpd");
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        "snmpd not found: install the Debian `snmpd` package (apt-get install snmpd snmp)",
    ))
}

fn free_udp_port() -> io::Result<u16> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

impl Snmpd {
    /// Starts an agent and waits until it answers. Retries on a port collision.
    pub fn start(cfg: &SnmpdConfig) -> io::Result<Snmpd> {
        let bin = snmpd_binary()?;
        let dir = tempfile::Builder::new().prefix("switchyard-snmpd").tempdir()?;
        std::fs::create_dir_all(dir.path().join("persist"))?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_udp_port()?;
            write_config(dir.path(), cfg, port)?;
            match spawn(&bin, dir.path(), port) {
                Ok(child) => return Ok(Snmpd { child: Some(child), port, ipv6: cfg.ipv6, dir }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("snmpd did not start")))
    }

    /// The agent's IPv4 address.
    pub fn addr(&self) -> SocketAddr {
        (Ipv4Addr::LOCALHOST, self.port).into()
    }

    /// The agent's IPv6 address (only when configured with `ipv6`).
    pub fn addr_v6(&self) -> Option<SocketAddr> {
        self.ipv6.then(|| (std::net::Ipv6Addr::LOCALHOST, self.port).into())
    }

    /// The agent's log so far, for failure messages.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    /// Stops and starts the agent on the same port and state directory: the engine ID is
    /// kept and snmpEngineBoots increases, as after a device reboot.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let bin = snmpd_binary()?;
        self.child = Some(spawn(&bin, self.dir.path(), self.port)?);
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM lets snmpd save its persistent state (engine boots).
            unsafe { libc_kill(c.id() as i32, 15) };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(bin: &Path, d: &Path, port: u16) -> io::Result<Child> {
    let mut child = Command::new(bin)
        // No -C: the default search path (SNMPCONFPATH, set to the private directory) is kept so
        // snmpd reads back its persistent state (engine ID and boots) after a restart.
        .arg("-f")
        .arg("-p")
        .arg(d.join("snmpd.pid"))
        .arg("-Lf")
        .arg(d.join("snmpd.log"))
        .arg(format!("--persistentDir={}", d.join("persist").display()))
        .env("MIBS", "")
        .env("MIBDIRS", d)
        // The persistent directory is listed explicitly: with SNMPCONFPATH set, snmpd does not
        // otherwise read its saved engine ID and boots back.
        .env("SNMPCONFPATH", format!("{}:{}", d.display(), d.join("persist").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    match wait_ready(&mut child, d, port) {
        Ok(()) => Ok(child),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

fn read_log(d: &Path) -> String {
    std::fs::read_to_string(d.join("snmpd.log")).unwrap_or_default()
}

/// Sends SNMPv3 discovery probes until the agent answers: any reply proves it is serving.
fn wait_ready(child: &mut Child, d: &Path, port: u16) -> io::Result<()> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut probe = Vec::new();
    switchyard_snmp::usm::UsmSession::encode_discovery(1, 1, &mut probe);
    let start = Instant::now();
    let mut buf = [0u8; 2048];
    while start.elapsed() < Duration::from_secs(20) {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("snmpd exited with {status}: {}", read_log(d))));
        }
        sock.send_to(&probe, (Ipv4Addr::LOCALHOST, port))?;
        if let Ok((n, _)) = sock.recv_from(&mut buf)
            && n > 0
        {
            return Ok(());
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, format!("snmpd did not answer: {}", read_log(d))))
}

fn write_config(dir: &Path, cfg: &SnmpdConfig, port: u16) -> io::Result<()> {
    let mut f = std::fs::File::create(dir.join("snmpd.conf"))?;
    let mut addrs = format!("udp:127.0.0.1:{port}");
    if cfg.ipv6 {
        addrs.push_str(&format!(",udp6:[::1]:{port}"));
    }
    writeln!(f, "agentAddress {addrs}")?;
    writeln!(f, "sysDescr switchyard test agent")?;
    writeln!(f, "sysLocation loopback")?;
    writeln!(f, "rocommunity {} 127.0.0.1", cfg.ro_community)?;
    writeln!(f, "rwcommunity {} 127.0.0.1", cfg.rw_community)?;
    if cfg.ipv6 {
        writeln!(f, "rocommunity6 {} ::1", cfg.ro_community)?;
        writeln!(f, "rwcommunity6 {} ::1", cfg.rw_community)?;
    }
    for u in &cfg.users {
        let mut line = format!("createUser {}", u.name);
        if let Some((a, p)) = &u.auth {
            line.push_str(&format!(" {a} {p}"));
            if let Some((x, xp)) = &u.privacy {
                line.push_str(&format!(" {x} {xp}"));
            }
        }
        writeln!(f, "{line}")?;
        writeln!(f, "rwuser {} {}", u.name, u.level())?;
    }
    for l in &cfg.extra {
        writeln!(f, "{l}")?;
    }
    Ok(())
}
