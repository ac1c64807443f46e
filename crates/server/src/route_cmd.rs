//! `switchyard route [--server ADDR] HOST [--ip IP] [--path P] [--dns A|AAAA]`: asks a running
//! instance's admin listener (`/debug/pick`) where it would send a client, and prints the
//! decision readably: the service, how the client was localized, the chosen node and zone,
//! the alternates, and every candidate passed over with the reason.
//!
//! Blocking std I/O, as `healthcheck`: one request, a deadline on each step.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::Value;

/// Largest answer read: a decision with every skipped candidate of a big zone is well under.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Arguments of `route`.
#[derive(Debug, Clone, Args)]
pub struct RouteArgs {
    /// The instance's admin listener, `HOST:PORT` or `http://HOST:PORT`.
    #[arg(long, short = 's', value_name = "ADDR", default_value = "127.0.0.1:9090")]
    pub server: String,
    /// The host name a client asks for (a service's host name).
    #[arg(value_name = "HOST")]
    pub host: String,
    /// The client's address. Default: this machine's address on the connection to the
    /// server.
    #[arg(long, value_name = "IP")]
    pub ip: Option<IpAddr>,
    /// The request path (with its query, if any), for HTTP decisions.
    #[arg(long, value_name = "PATH", default_value = "/")]
    pub path: String,
    /// A DNS decision for this record type instead of an HTTP one.
    #[arg(long, value_enum, value_name = "TYPE")]
    pub dns: Option<RecordType>,
    /// Print the instance's JSON answer as it is.
    #[arg(long)]
    pub json: bool,
    /// Time limit of the whole request, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub timeout_ms: u64,
}

/// DNS record types a decision can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordType {
    /// IPv4 addresses.
    #[value(name = "A", alias = "a")]
    A,
    /// IPv6 addresses.
    #[value(name = "AAAA", alias = "aaaa")]
    Aaaa,
}

/// Runs `route`: exit 0 with a decision, 1 when there is none or the request failed.
pub fn run(args: &RouteArgs) -> ExitCode {
    match ask(args) {
        Ok((status, body, defaulted_ip)) => {
            if args.json {
                println!("{body}");
                return if status == 200 { ExitCode::SUCCESS } else { ExitCode::FAILURE };
            }
            let parsed: Result<Value, _> = serde_json::from_str(&body);
            match (status, parsed) {
                (200, Ok(v)) => {
                    print!("{}", describe(&v, defaulted_ip));
                    ExitCode::SUCCESS
                }
                (503, Ok(v)) if v.get("client").is_some() => {
                    print!("{}", describe_failure(&v, defaulted_ip));
                    ExitCode::FAILURE
                }
                (_, Ok(v)) => {
                    let code = v.pointer("/error/code").and_then(Value::as_str).unwrap_or("");
                    let msg = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
                    eprintln!("switchyard route: {} answered {status}: {code}: {msg}", args.server);
                    ExitCode::FAILURE
                }
                (_, Err(_)) => {
                    eprintln!(
                        "switchyard route: {} answered {status} with no JSON (is it the admin \
                         listener?): {}",
                        args.server,
                        body.chars().take(200).collect::<String>()
                    );
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("switchyard route: {}: {e}", args.server);
            ExitCode::FAILURE
        }
    }
}

/// Sends the request; returns the status, the body, and whether the client address is this
/// machine's (no `--ip`).
fn ask(args: &RouteArgs) -> Result<(u16, String, bool), String> {
    let authority = args.server.strip_prefix("http://").unwrap_or(&args.server);
    let authority = authority.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '@']) {
        return Err("expected HOST:PORT or http://HOST:PORT".into());
    }
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms);
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority} (HOST:PORT expected): {e}"))?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("connect {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let (ip, defaulted) = match args.ip {
        Some(ip) => (ip, false),
        None => (stream.local_addr().map_err(|e| e.to_string())?.ip(), true),
    };
    let (path, query) = args.path.split_once('?').unwrap_or((&args.path, ""));
    let mut target = format!(
        "/debug/pick?host={}&ip={}&path={}",
        encode(&args.host),
        encode(&ip.to_string()),
        encode(path)
    );
    if !query.is_empty() {
        let _ = write!(target, "&query={}", encode(query));
    }
    if let Some(t) = args.dns {
        target.push_str(match t {
            RecordType::A => "&dns=A",
            RecordType::Aaaa => "&dns=AAAA",
        });
    }
    let request = format!(
        "GET {target} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: switchyard-route/{}\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream.set_write_timeout(Some(remaining(deadline)?)).map_err(|e| e.to_string())?;
    stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        stream.set_read_timeout(Some(remaining(deadline)?)).map_err(|e| e.to_string())?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err("timed out".into());
            }
            Err(e) => return Err(format!("receive: {e}")),
        }
        if buf.len() > MAX_RESPONSE_BYTES {
            return Err("answer larger than 16 MiB".into());
        }
    }
    let (status, body) = split_response(&buf)?;
    Ok((status, body, defaulted))
}

/// Status code and body of a whole HTTP/1 response (`Content-Length` or read to close).
fn split_response(buf: &[u8]) -> Result<(u16, String), String> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("connection closed before the end of the response head")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let status_line = head.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {status_line:?}"));
    }
    let status: u16 = code.parse().map_err(|_| format!("bad status code {code:?}"))?;
    let mut body = &buf[end + 4..];
    let length = head.lines().skip(1).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
    });
    if let Some(len) = length {
        if body.len() < len {
            return Err(format!("answer cut short: {} of {len} body bytes", body.len()));
        }
        body = &body[..len];
    }
    Ok((status, String::from_utf8_lossy(body).into_owned()))
}

/// Percent-encodes a query parameter value (everything but RFC 3986's unreserved).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err("timed out".into()) } else { Ok(left) }
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `id (zone) address:port`.
fn node_line(n: &Value) -> String {
    let addr = s(n, "address");
    let port = n.get("port").and_then(Value::as_u64).unwrap_or(0);
    let shown =
        if addr.contains(':') { format!("[{addr}]:{port}") } else { format!("{addr}:{port}") };
    let mut line = format!("{} in zone {}  {shown}", s(n, "id"), s(n, "zone"));
    if let Some(h) = n.get("hostname").and_then(Value::as_str) {
        let _ = write!(line, " ({h})");
    }
    line
}

/// How the client was placed: `10.1.0.5: zone us-east by coverage_zone (matched /16)`.
fn client_line(c: &Value, defaulted_ip: bool) -> String {
    let mut line = s(c, "ip").to_owned();
    if defaulted_ip {
        line.push_str(" (this machine's address; --ip to choose another)");
    }
    let method = s(c, "localization");
    match c.get("zone").and_then(Value::as_str) {
        Some(zone) => {
            let _ = write!(line, ": zone {zone} by {method}");
        }
        None => {
            let _ = write!(line, ": not localized ({method}: the service's default zone decides)");
        }
    }
    if let Some(len) = c.get("matched_prefix_len").and_then(Value::as_u64) {
        let _ = write!(line, ", matched /{len}");
    }
    line
}

/// The readable form of a decision.
pub fn describe(v: &Value, defaulted_ip: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "service     {}", s(v, "service"));
    if let Some(c) = v.get("client") {
        let _ = writeln!(out, "client      {}", client_line(c, defaulted_ip));
    }
    let zone_source = s(v, "zone_source");
    let why = match zone_source {
        "localized" => "the client's own zone",
        "backup" => "a backup of the client's zone",
        "nearest" => "the nearest zone with a usable node",
        "default" => "the service's default zone",
        _ => "",
    };
    let _ = writeln!(out, "zone        {} ({zone_source}: {why})", s(v, "zone"));
    if let Some(n) = v.get("node") {
        let _ = writeln!(out, "chosen      {}", node_line(n));
    }
    let nodes = v.get("nodes").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for n in nodes.iter().skip(1) {
        let _ = writeln!(out, "also        {}", node_line(n));
    }
    let alternates =
        v.get("alternates").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for (i, n) in alternates.iter().enumerate() {
        let label = if i == 0 { "alternates" } else { "" };
        let _ = writeln!(out, "{label:<11} {}", node_line(n));
    }
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let _ = writeln!(
        out,
        "ttl         {} s; panic {}; only degraded nodes {}; health version {}",
        v.get("ttl_seconds").and_then(Value::as_u64).unwrap_or(0),
        if flag("panic") { "yes" } else { "no" },
        if flag("degraded") { "yes" } else { "no" },
        v.get("health_version").and_then(Value::as_u64).unwrap_or(0)
    );
    skipped(&mut out, v);
    out
}

/// The readable form of a `503` from `/debug/pick`: no node could be chosen.
pub fn describe_failure(v: &Value, defaulted_ip: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "service     {}", s(v, "service"));
    if let Some(c) = v.get("client") {
        let _ = writeln!(out, "client      {}", client_line(c, defaulted_ip));
    }
    let _ = writeln!(
        out,
        "no node     {}: {}",
        v.pointer("/error/code").and_then(Value::as_str).unwrap_or(""),
        v.pointer("/error/message").and_then(Value::as_str).unwrap_or("")
    );
    skipped(&mut out, v);
    out
}

fn skipped(out: &mut String, v: &Value) {
    let Some(list) = v.get("skipped").and_then(Value::as_array) else { return };
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "skipped");
    for k in list {
        let zone = s(k, "zone");
        let who = match k.get("node").and_then(Value::as_str) {
            Some(node) => format!("{node} (zone {zone})"),
            None => format!("zone {zone} (whole zone)"),
        };
        let mut reason = s(k, "reason").to_owned();
        if let Some(u) = k.get("utilization").and_then(Value::as_f64) {
            let _ = write!(reason, " (utilization {:.0}%)", u * 100.0);
        }
        let _ = writeln!(out, "  {who:<40} {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decision_reads_as_zone_node_alternates_and_skipped_reasons() {
        let v: Value = serde_json::json!({
            "service": "video",
            "client": {"ip": "10.1.0.5", "source": "parameter", "zone": "us-east",
                       "localization": "coverage_zone", "matched_prefix_len": 16},
            "node": {"id": "nyc-1", "zone": "us-east", "address": "192.0.2.11", "port": 80,
                     "hostname": "nyc-1.cdn.example"},
            "nodes": [{"id": "nyc-1", "zone": "us-east", "address": "192.0.2.11", "port": 80}],
            "zone": "us-east", "zone_source": "localized",
            "alternates": [{"id": "nyc-2", "zone": "us-east", "address": "2001:db8::2", "port": 8080}],
            "ttl_seconds": 60, "panic": false, "degraded": false, "health_version": 7,
            "skipped": [{"zone": "us-east", "node": "nyc-3", "reason": "maintenance"},
                        {"zone": "us-east", "node": "nyc-4", "reason": "overloaded", "utilization": 0.95},
                        {"zone": "us-west", "node": null, "reason": "zone_not_allowed"}]
        });
        let text = describe(&v, false);
        assert!(
            text.contains("client      10.1.0.5: zone us-east by coverage_zone, matched /16"),
            "{text}"
        );
        assert!(text.contains("zone        us-east (localized: the client's own zone)"), "{text}");
        assert!(
            text.contains("chosen      nyc-1 in zone us-east  192.0.2.11:80 (nyc-1.cdn.example)"),
            "{text}"
        );
        assert!(text.contains("alternates  nyc-2 in zone us-east  [2001:db8::2]:8080"), "{text}");
        assert!(text.contains("nyc-3 (zone us-east)"), "{text}");
        assert!(text.contains("overloaded (utilization 95%)"), "{text}");
        assert!(text.contains("zone us-west (whole zone)"), "{text}");
        assert!(text.contains("ttl         60 s; panic no"), "{text}");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("/a b?c=d&e"), "/a%20b%3Fc%3Dd%26e");
        assert_eq!(encode("2001:db8::1"), "2001:db8::1");
    }

    #[test]
    fn a_response_is_split_by_its_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}trailing";
        assert_eq!(split_response(raw).unwrap(), (200, "{}".to_owned()));
        assert!(split_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}").is_err());
        assert!(split_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
