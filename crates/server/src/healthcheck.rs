//! `switchyard healthcheck`: one HTTP/1.1 GET of the admin listener's `/livez`, exit 0 on
//! `200` and 1 otherwise, for images whose base has no shell or curl (a container engine's
//! `HEALTHCHECK`, an orchestrator's exec probe).
//!
//! Over HTTPS when the URL says `https://` or the configuration has `[admin.tls]`. The
//! server's certificate is not verified, as the kubelet does not verify an HTTPS probe's: the
//! check sends nothing secret and judges only the status, and an admin certificate seldom
//! names the loopback address the check connects to. The handshake itself is checked as
//! usual (the server must hold the key of the certificate it shows).
//!
//! Blocking std I/O on purpose: no runtime to start, one connection, a deadline on each step.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

/// The admin address when neither `--url` nor `--config` says otherwise (`listen.admin`'s
/// default).
const DEFAULT_ADMIN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9090);

/// The path asked when `--url` names none.
const DEFAULT_PATH: &str = "/livez";

/// Bytes of the answer read at most: the status line is all that is judged.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Arguments of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to GET, `http[s]://HOST:PORT[/PATH]` (path default `/livez`). Wins over
    /// `--config`.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Configuration file whose `listen.admin` is checked (an unspecified address such as
    /// `0.0.0.0` is reached over loopback), over HTTPS when it has `[admin.tls]`. Default
    /// without either: `http://127.0.0.1:9090`.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time limit of the whole check, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub timeout_ms: u64,
    /// Print nothing on success.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// What to GET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Over TLS.
    pub tls: bool,
    /// `Host` header value (`host:port` as given).
    pub authority: String,
    /// Request target, starting with `/`.
    pub path: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

/// Runs the check: exit 0 on `200`, 1 otherwise (with the reason on stderr).
pub fn run(args: &HealthcheckArgs) -> ExitCode {
    let target = match target(args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("switchyard healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms);
    match get_status(&target, deadline) {
        Ok(200) => {
            if !args.quiet {
                println!("{target}: 200");
            }
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!("switchyard healthcheck: {target}: {status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("switchyard healthcheck: {target}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The target from `--url`, else `--config`'s `listen.admin`, else the default.
pub fn target(args: &HealthcheckArgs) -> Result<Target, String> {
    if let Some(url) = &args.url {
        return parse_url(url);
    }
    let (addr, tls) = match &args.config {
        Some(file) => admin_address(file)?,
        None => (DEFAULT_ADMIN, false),
    };
    Ok(Target { tls, authority: reachable(addr).to_string(), path: DEFAULT_PATH.to_owned() })
}

/// `http[s]://HOST:PORT[/PATH]` split into scheme, authority and path.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => return Err(format!("{url:?}: only http:// and https:// URLs are supported")),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?}: expected http[s]://HOST:PORT[/PATH]"));
    }
    let path = match path {
        "" | "/" => DEFAULT_PATH.to_owned(),
        p if p.starts_with('?') => format!("{DEFAULT_PATH}{p}"),
        p => p.to_owned(),
    };
    let default_port = if tls { 443 } else { 80 };
    let authority = if has_port(authority) {
        authority.to_owned()
    } else {
        format!("{authority}:{default_port}")
    };
    Ok(Target { tls, authority, path })
}

/// Whether `authority` ends in `:PORT` (`[::1]` alone has none).
fn has_port(authority: &str) -> bool {
    let tail = authority.rsplit_once(']').map_or(authority, |(_, t)| t);
    tail.rsplit_once(':')
        .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `listen.admin` of the configuration file and whether it has `[admin.tls]`, without
/// loading or checking the rest of it: a probe must not fail because an inventory file
/// moved.
pub fn admin_address(file: &Path) -> Result<(SocketAddr, bool), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc: toml::Table = text.parse().map_err(|e| format!("{}: {e}", file.display()))?;
    let tls = doc.get("admin").and_then(|a| a.get("tls")).is_some();
    let Some(admin) = doc.get("listen").and_then(|l| l.get("admin")) else {
        return Ok((DEFAULT_ADMIN, tls));
    };
    let addr = admin
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{}: listen.admin is not an address (ip:port)", file.display()))?;
    Ok((addr, tls))
}

/// An address a client can connect to: an unspecified listen address (`0.0.0.0`, `::`) is
/// reached through loopback of its family.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// GETs `target` and returns the status code; every step is bounded by `deadline`.
pub fn get_status(target: &Target, deadline: Instant) -> Result<u16, String> {
    let addrs: Vec<SocketAddr> = target
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.authority))?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect {addr}: {e}"),
        }
    }
    let tcp = stream.ok_or(last)?;
    let mut stream: Box<dyn ReadWrite> = if target.tls {
        tcp.set_read_timeout(Some(remaining(deadline)?)).map_err(|e| e.to_string())?;
        tcp.set_write_timeout(Some(remaining(deadline)?)).map_err(|e| e.to_string())?;
        Box::new(tls::connect(tcp, &target.authority)?)
    } else {
        Box::new(tcp)
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: switchyard-healthcheck/{}\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION"),
    );
    stream.set_timeout(Some(remaining(deadline)?), false).map_err(|e| e.to_string())?;
    stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
    stream.flush().map_err(|e| format!("send: {e}"))?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(status) = status_code(&buf)? {
            return Ok(status);
        }
        if buf.len() >= MAX_RESPONSE_BYTES {
            return Err("no status line in the first 64 KiB".into());
        }
        stream.set_timeout(Some(remaining(deadline)?), true).map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err("connection closed before a status line".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
}

/// The status code once `buf` holds a whole status line (`HTTP/1.x NNN ...\r\n`).
pub fn status_code(buf: &[u8]) -> Result<Option<u16>, String> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else { return Ok(None) };
    let line = String::from_utf8_lossy(&buf[..end]);
    let mut parts = line.trim_end().splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(format!("not an HTTP/1 status line: {:?}", line.trim_end()));
    }
    code.parse().map(Some).map_err(|_| format!("bad status code {code:?}"))
}

/// A connection, plain or TLS, whose socket timeouts can be set.
trait ReadWrite: Read + Write {
    /// Sets the read (`read` true) or write timeout of the socket underneath.
    fn set_timeout(&self, t: Option<Duration>, read: bool) -> std::io::Result<()>;
}

impl ReadWrite for TcpStream {
    fn set_timeout(&self, t: Option<Duration>, read: bool) -> std::io::Result<()> {
        if read { self.set_read_timeout(t) } else { self.set_write_timeout(t) }
    }
}

impl ReadWrite for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn set_timeout(&self, t: Option<Duration>, read: bool) -> std::io::Result<()> {
        self.sock.set_timeout(t, read)
    }
}

mod tls {
    //! The client side of the check's TLS: any certificate accepted (see the module above),
    //! the handshake's signatures verified.

    use std::net::TcpStream;
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection};
    use switchyard_probe::AcceptAnyCert;

    /// A TLS session over `tcp` to `authority` (`host:port`; the host is sent by SNI when it
    /// is a name), handshake done.
    pub(super) fn connect(
        tcp: TcpStream,
        authority: &str,
    ) -> Result<rustls::StreamOwned<ClientConnection, TcpStream>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new(provider)))
            .with_no_client_auth();
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
        let mut conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let mut tcp = tcp;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(|e| format!("TLS handshake: {e}"))?;
        }
        Ok(rustls::StreamOwned::new(conn, tcp))
    }
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err("timed out".into()) } else { Ok(left) }
}

#[cfg(test)]
mod tests;
