//! `switchyard snmp get|walk|bulkwalk|set`: a net-snmp style command-line client on
//! `switchyard-snmp`, with the same flags as `snmpget`/`snmpwalk` and the same output: rows
//! on stdout as `-On` prints them, errors on stderr in the tools' words, and their exit
//! status (1 for timeouts and protocol errors, 2 for an error-status from the agent).

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use switchyard_snmp::client::{Client, Error, RequestOptions, Security, Target, WalkEnd};
use switchyard_snmp::codec::{ErrorStatus, Oid, Value, VarBind};
use switchyard_snmp::display::format_varbind;
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};

#[derive(clap::Args, Debug)]
pub struct SnmpArgs {
    #[command(subcommand)]
    pub command: SnmpCommand,
}

/// The operations; their flags are boxed so the CLI's command enum stays small.
#[derive(clap::Subcommand, Debug)]
pub enum SnmpCommand {
    /// GET one or more OIDs (like snmpget).
    Get(Box<OpArgs>),
    /// Walk a subtree with GETNEXT (like snmpwalk).
    Walk(Box<OpArgs>),
    /// Walk a subtree with GETBULK (like snmpbulkwalk).
    Bulkwalk(Box<OpArgs>),
    /// SET values given as OID TYPE VALUE triples (like snmpset; types i u c C s x d n o t a).
    Set(Box<OpArgs>),
}

/// The flags net-snmp's tools use, then the agent, then OIDs.
#[derive(clap::Args)]
pub struct OpArgs {
    /// SNMP version: 1, 2c or 3.
    #[arg(short = 'v', value_name = "1|2c|3", default_value = "2c")]
    pub version: String,
    /// Community string (v1/v2c).
    #[arg(short = 'c', value_name = "COMMUNITY", default_value = "public")]
    pub community: String,
    /// Security name (v3).
    #[arg(short = 'u', value_name = "USER")]
    pub user: Option<String>,
    /// Security level (v3): noAuthNoPriv, authNoPriv or authPriv.
    #[arg(short = 'l', value_name = "LEVEL")]
    pub level: Option<String>,
    /// Authentication protocol: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512.
    #[arg(short = 'a', value_name = "PROTOCOL", default_value = "MD5")]
    pub auth_protocol: String,
    /// Authentication pass phrase.
    #[arg(short = 'A', value_name = "PASSPHRASE")]
    pub auth_pass: Option<String>,
    /// Privacy protocol: DES, AES, AES192, AES256, AES192C, AES256C.
    #[arg(short = 'x', value_name = "PROTOCOL", default_value = "DES")]
    pub priv_protocol: String,
    /// Privacy pass phrase.
    #[arg(short = 'X', value_name = "PASSPHRASE")]
    pub priv_pass: Option<String>,
    /// Context name (v3), as given.
    #[arg(short = 'n', value_name = "CONTEXT")]
    pub context: Option<String>,
    /// Security (authoritative) engine ID (v3) in hex, e.g. 800000020109840301; engine
    /// discovery is skipped.
    #[arg(short = 'e', value_name = "ENGINE-ID")]
    pub engine_id: Option<String>,
    /// Context engine ID (v3) in hex; the agent's engine ID by default.
    #[arg(short = 'E', value_name = "ENGINE-ID")]
    pub context_engine_id: Option<String>,
    /// Output options: only `n` (numeric OIDs), which is how this tool always prints.
    #[arg(short = 'O', value_name = "OPTIONS")]
    pub output: Option<String>,
    /// Timeout in seconds per attempt.
    #[arg(short = 't', value_name = "SECONDS", default_value_t = 1.0)]
    pub timeout: f64,
    /// Retries.
    #[arg(short = 'r', value_name = "RETRIES", default_value_t = 5)]
    pub retries: u32,
    /// max-repetitions for bulkwalk (snmpbulkwalk -Cr, whose default is 10); halved while
    /// the agent answers tooBig or not at all.
    #[arg(long = "max-repetitions", default_value_t = 10)]
    pub max_repetitions: u32,
    /// Agent: [udp:|udp6:]HOST[:PORT], IPv6 as [ADDR]:PORT.
    pub agent: String,
    /// OIDs (numeric), or OID TYPE VALUE triples for set.
    pub oids: Vec<String>,
}

/// Secrets stay out of debug output.
impl std::fmt::Debug for OpArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpArgs")
            .field("version", &self.version)
            .field("user", &self.user)
            .field("level", &self.level)
            .field("context", &self.context)
            .field("agent", &self.agent)
            .field("oids", &self.oids)
            .finish_non_exhaustive()
    }
}

/// Which net-snmp tool a subcommand stands for: their messages differ in small ways
/// (`snmpget` writes "Error in packet" and "Timeout: ... ." where the others write
/// "Error in packet." and no final period).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Get,
    Walk,
    Bulkwalk,
    Set,
}

/// Runs one command; the exit status is net-snmp's for the same outcome.
pub async fn run(args: SnmpArgs) -> anyhow::Result<ExitCode> {
    let (tool, a) = match &args.command {
        SnmpCommand::Get(a) => (Tool::Get, a),
        SnmpCommand::Walk(a) => (Tool::Walk, a),
        SnmpCommand::Bulkwalk(a) => (Tool::Bulkwalk, a),
        SnmpCommand::Set(a) => (Tool::Set, a),
    };
    if let Some(o) = a.output.as_deref().filter(|o| o.chars().any(|c| c != 'n')) {
        bail!("-O{o}: only -On (numeric OIDs) is supported, and is the default");
    }
    let security = match security(a)? {
        Ok(s) => s,
        Err(usage) => {
            eprintln!("{usage}");
            return Ok(ExitCode::from(1));
        }
    };
    let addr = resolve_agent(&a.agent).await?;
    let opts = RequestOptions {
        timeout: Duration::try_from_secs_f64(a.timeout)
            .context("-t must be a positive number of seconds")?,
        retries: a.retries,
        backoff: 1.0,
        max_repetitions: a.max_repetitions.max(1),
        ..Default::default()
    };
    let client = Client::new().context("opening the SNMP socket")?;
    let target = client.target_with(addr, security, opts);
    let mut out = Output { tool, agent: &a.agent, stdout: std::io::stdout().lock() };
    let code = match tool {
        Tool::Get => get(&target, parse_oids(&a.oids)?, &mut out).await,
        Tool::Set => {
            let vbs = parse_set(&a.oids)?;
            match target.set(&vbs).await {
                Ok(vbs) => out.rows(&vbs),
                Err(e) => out.error(&e),
            }
        }
        Tool::Walk | Tool::Bulkwalk => {
            // net-snmp walks MIB-2 when no OID is given.
            let roots = if a.oids.is_empty() {
                vec![Oid::from_static(&[1, 3, 6, 1, 2, 1])]
            } else {
                parse_oids(&a.oids)?
            };
            let mut code = 0;
            for root in &roots {
                code = walk(&target, root, &mut out).await;
                if code != 0 {
                    break;
                }
            }
            code
        }
    };
    out.flush();
    Ok(ExitCode::from(code))
}

/// Where rows and errors go: rows to stdout as they arrive, errors to stderr after what
/// came before them was flushed (snmpwalk's `fflush(stdout)`).
struct Output<'a> {
    tool: Tool,
    agent: &'a str,
    stdout: std::io::StdoutLock<'static>,
}

impl Output<'_> {
    fn row(&mut self, vb: &VarBind) {
        let _ = writeln!(self.stdout, "{}", format_varbind(vb));
    }

    /// Prints rows; exit status 0.
    fn rows(&mut self, vbs: &[VarBind]) -> u8 {
        for vb in vbs {
            self.row(vb);
        }
        0
    }

    fn flush(&mut self) {
        let _ = self.stdout.flush();
    }

    /// Prints an error the way the tool does and returns its exit status. A reply that does
    /// not answer the request has its bindings printed first, as net-snmp prints whatever
    /// came back, before the error this tool adds.
    fn error(&mut self, e: &Error) -> u8 {
        if let Error::Mismatch(m) = e {
            self.rows(&m.received);
        }
        self.flush();
        let (text, code) = describe(e, self.tool, self.agent);
        eprint!("{text}");
        code
    }
}

/// net-snmp's words for an error and the tool's exit status. Every text ends with its
/// newline(s): `fprint_objid` ends an OID with one, so an OID line is followed by an empty
/// line, exactly as the tools print it.
fn describe(e: &Error, tool: Tool, agent: &str) -> (String, u8) {
    match e {
        Error::Timeout if tool == Tool::Get => (format!("Timeout: No Response from {agent}.\n"), 1),
        Error::Timeout => (format!("Timeout: No Response from {agent}\n"), 1),
        Error::Agent { status, index, oid } => {
            let head = if tool == Tool::Get { "Error in packet" } else { "Error in packet." };
            let mut s = format!("{head}\nReason: {}\n", error_status_text(*status));
            if *index != 0 {
                s.push_str("Failed object: ");
                if let Some(o) = oid {
                    s.push_str(&format!(".{o}\n"));
                }
                s.push('\n');
            }
            (s, 2)
        }
        Error::NonIncreasing(n) => {
            (format!("Error: OID not increasing: .{}\n >= .{}\n\n", n.previous, n.returned), 1)
        }
        Error::Mismatch(m) => (format!("Error: {m}\n"), 1),
        Error::AuthFailure => {
            ("Authentication failure (incorrect password, community or key)\n".into(), 1)
        }
        Error::DecryptFailure => ("Decryption error\n".into(), 1),
        Error::UnknownUser => ("Unknown user name\n".into(), 1),
        Error::UnsupportedSecurityLevel => ("Unsupported security level\n".into(), 1),
        Error::UnknownEngine => ("Unknown engine ID\n".into(), 1),
        Error::NotInTimeWindow => ("Not in time window\n".into(), 1),
        Error::UnknownContext => ("Bad context specified\n".into(), 1),
        Error::UnknownReport => ("Unknown Report message\n".into(), 1),
        other => (format!("snmp: {other}\n"), 1),
    }
}

/// `snmp_errstring` of net-snmp's `snmp_client.c` (current spelling: 5.9 wrote "occured").
fn error_status_text(s: ErrorStatus) -> String {
    use ErrorStatus::*;
    match s {
        NoError => "(noError) No Error",
        TooBig => "(tooBig) Response message would have been too large.",
        NoSuchName => "(noSuchName) There is no such variable name in this MIB.",
        BadValue => "(badValue) The value given has the wrong type or length.",
        ReadOnly => {
            "(readOnly) The two parties used do not have access to use the specified SNMP PDU."
        }
        GenErr => "(genError) A general failure occurred",
        NoAccess => "noAccess",
        WrongType => "wrongType (The set datatype does not match the data type the agent expects)",
        WrongLength => {
            "wrongLength (The set value has an illegal length from what the agent expects)"
        }
        WrongEncoding => "wrongEncoding",
        WrongValue => "wrongValue (The set value is illegal or unsupported in some way)",
        NoCreation => {
            "noCreation (That table does not support row creation or that object can not ever be created)"
        }
        InconsistentValue => {
            "inconsistentValue (The set value is illegal or unsupported in some way)"
        }
        ResourceUnavailable => {
            "resourceUnavailable (This is likely a out-of-memory failure within the agent)"
        }
        CommitFailed => "commitFailed",
        UndoFailed => "undoFailed",
        AuthorizationError => "authorizationError (access denied to that object)",
        NotWritable => "notWritable (That object does not support modification)",
        InconsistentName => "inconsistentName (That object can not currently be created)",
        _ => "Unknown Error",
    }
    .to_string()
}

/// `snmpget`: on an error-status naming one of several bindings, that binding is dropped and
/// the rest asked for again (net-snmp's `snmp_fix_pdu`); the exit status stays 2.
async fn get(t: &Target, mut oids: Vec<Oid>, out: &mut Output<'_>) -> u8 {
    let mut code = 0;
    loop {
        match t.get(&oids).await {
            Ok(vbs) => return out.rows(&vbs).max(code),
            Err(e @ Error::Agent { index, .. }) => {
                code = out.error(&e);
                let i = index as usize;
                if i == 0 || i > oids.len() || oids.len() == 1 {
                    return code;
                }
                oids.remove(i - 1);
            }
            Err(e) => return out.error(&e),
        }
    }
}

/// `snmpwalk` / `snmpbulkwalk` of one subtree: rows as they come, then how it ended. When
/// nothing was printed and the agent did answer, the root itself is asked for with a GET and
/// whatever comes back is printed, as both tools do.
async fn walk(t: &Target, root: &Oid, out: &mut Output<'_>) -> u8 {
    let mut printed = 0usize;
    let res = if out.tool == Tool::Bulkwalk {
        let o = &mut *out;
        t.bulk_walk_with(root, |vb| {
            o.row(&vb);
            printed += 1;
        })
        .await
    } else {
        let o = &mut *out;
        t.walk_with(root, |vb| {
            o.row(&vb);
            printed += 1;
        })
        .await
    };
    let answered = matches!(res, Ok(_) | Err(Error::Agent { .. } | Error::Mismatch(_)));
    let code = match &res {
        Ok(WalkEnd::NoSuchName) => {
            let _ = writeln!(out.stdout, "End of MIB");
            0
        }
        Ok(_) => 0,
        Err(e) => out.error(e),
    };
    if printed == 0 && answered {
        match t.get(std::slice::from_ref(root)).await {
            Ok(vbs) => {
                out.rows(&vbs);
            }
            Err(Error::Mismatch(m)) => {
                out.rows(&m.received);
            }
            Err(_) => {}
        }
    }
    code
}

fn parse_oids(oids: &[String]) -> anyhow::Result<Vec<Oid>> {
    if oids.is_empty() {
        bail!("missing object name");
    }
    oids.iter()
        .map(|o| {
            o.parse::<Oid>()
                .with_context(|| format!("{o}: unknown object identifier (numeric OIDs only)"))
        })
        .collect()
}

/// net-snmp's snmpset type letters.
fn parse_set(args: &[String]) -> anyhow::Result<Vec<VarBind>> {
    if args.is_empty() || !args.len().is_multiple_of(3) {
        bail!("set takes OID TYPE VALUE triples");
    }
    args.chunks(3)
        .map(|c| {
            let oid: Oid = c[0].parse().with_context(|| format!("{}: bad OID", c[0]))?;
            let v = &c[2];
            let value = match c[1].as_str() {
                "i" => Value::Integer(v.parse()?),
                "u" => Value::Gauge32(v.parse()?),
                "c" => Value::Counter32(v.parse()?),
                "C" => Value::Counter64(v.parse()?),
                "t" => Value::TimeTicks(v.parse()?),
                "s" => Value::OctetString(v.as_bytes().to_vec()),
                "d" => Value::OctetString(
                    v.split(['.', ' '])
                        .filter(|p| !p.is_empty())
                        .map(str::parse)
                        .collect::<Result<_, _>>()?,
                ),
                "x" => Value::OctetString(parse_hex(v)?),
                "n" => Value::Null,
                "o" => Value::ObjectId(v.parse()?),
                "a" => Value::IpAddress(v.parse::<std::net::Ipv4Addr>()?.octets()),
                other => bail!("{other}: unknown type (use i u c C t s d x n o a)"),
            };
            Ok(VarBind::new(oid, value))
        })
        .collect()
}

fn parse_hex(s: &str) -> anyhow::Result<Vec<u8>> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace() && *c != ':').collect();
    if !digits.len().is_multiple_of(2) {
        bail!("hex string needs an even number of digits");
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).context("bad hex digit"))
        .collect()
}

/// An engine ID as net-snmp's `-e`/`-E` take it (`snmpv3_parse_arg`,
/// `netsnmp_hex_to_binary`): hex digit pairs after an optional `0x`, spaces allowed between
/// pairs, 5 to 32 bytes (RFC 3411 SnmpEngineID). The error is net-snmp's message.
fn parse_engine_id(s: &str, flag: char) -> Result<Vec<u8>, String> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s).as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < hex.len() {
        let pair = hex.get(i..i + 2).filter(|p| p.iter().all(u8::is_ascii_hexdigit));
        match pair {
            Some(p) => {
                let digits = std::str::from_utf8(p).map_err(|_| String::new());
                let byte =
                    digits.and_then(|d| u8::from_str_radix(d, 16).map_err(|_| String::new()));
                out.push(byte.map_err(|_| format!("Bad engine ID value after -3{flag} flag."))?);
                i += 2;
            }
            None if hex[i] == b' ' => i += 1,
            None => return Err(format!("Bad engine ID value after -3{flag} flag.")),
        }
    }
    if !(5..=32).contains(&out.len()) {
        return Err(format!("Invalid engine ID value after -{flag} flag."));
    }
    Ok(out)
}

/// The security settings; the inner `Err` is a net-snmp usage message (exit status 1).
fn security(a: &OpArgs) -> anyhow::Result<Result<Security, String>> {
    match a.version.as_str() {
        "1" => return Ok(Ok(Security::v1(a.community.as_bytes()))),
        "2c" | "2" => return Ok(Ok(Security::v2c(a.community.as_bytes()))),
        "3" => {}
        other => bail!("{other}: unknown SNMP version (use 1, 2c or 3)"),
    }
    let engine = |s: &Option<String>, flag| s.as_deref().map(|e| parse_engine_id(e, flag));
    let (engine_id, context_engine_id) = match (
        engine(&a.engine_id, 'e').transpose(),
        engine(&a.context_engine_id, 'E').transpose(),
    ) {
        (Ok(e), Ok(c)) => (e, c),
        (Err(msg), _) | (_, Err(msg)) => return Ok(Err(msg)),
    };
    let name = a.user.as_deref().context("-u USER is required with -v 3")?;
    let mut user = UsmUser::no_auth(name).context("bad user name")?;
    let level = a.level.as_deref().unwrap_or("noAuthNoPriv").to_ascii_lowercase();
    let (auth, privacy) = match level.as_str() {
        "noauthnopriv" | "noauth" | "nanp" => (false, false),
        "authnopriv" | "auth" | "anp" => (true, false),
        "authpriv" | "priv" | "ap" => (true, true),
        other => bail!("{other}: unknown security level (noAuthNoPriv, authNoPriv, authPriv)"),
    };
    if auth {
        let p = AuthProtocol::from_name(&a.auth_protocol)
            .with_context(|| format!("{}: unknown authentication protocol", a.auth_protocol))?;
        let pass =
            a.auth_pass.as_deref().context("-A PASSPHRASE is required for authNoPriv/authPriv")?;
        user = user.with_auth(p, pass.as_bytes()).context("authentication pass phrase")?;
    }
    if privacy {
        let p = PrivProtocol::from_name(&a.priv_protocol)
            .with_context(|| format!("{}: unknown privacy protocol", a.priv_protocol))?;
        let pass = a.priv_pass.as_deref().context("-X PASSPHRASE is required for authPriv")?;
        user = user.with_privacy(p, pass.as_bytes()).context("privacy pass phrase")?;
    }
    Ok(Ok(Security::V3 {
        user,
        context_name: a.context.clone().unwrap_or_default().into_bytes(),
        context_engine_id,
        engine_id,
    }))
}

/// Parses net-snmp's agent syntax: `[udp:|udp6:]host[:port]`, IPv6 in brackets.
async fn resolve_agent(spec: &str) -> anyhow::Result<SocketAddr> {
    let (v6_only, rest) = if let Some(r) = spec.strip_prefix("udp6:") {
        (true, r)
    } else {
        (false, spec.strip_prefix("udp:").unwrap_or(spec))
    };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, tail) = r.split_once(']').context("unterminated [ in agent address")?;
        (h.to_string(), tail.strip_prefix(':').map(str::to_string))
    } else if rest.matches(':').count() > 1 {
        (rest.to_string(), None)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (rest.to_string(), None),
        }
    };
    let port = port.as_deref().unwrap_or("161");
    let port: u16 = port
        .parse()
        .with_context(|| format!("{spec}: bad agent port {port:?}, expected 0..=65535"))?;
    let mut addrs = tokio::net::lookup_host((host.as_str(), port))
        .await
        .with_context(|| format!("{spec}: unknown host"))?;
    addrs.find(|a| !v6_only || a.is_ipv6()).with_context(|| format!("{spec}: no usable address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_ids_as_net_snmp_takes_them() {
        let id = [0x80, 0x00, 0x4f, 0xb8, 0x05, 0x76, 0x6d, 0x6a, 0x78, 0x0e, 0x80];
        assert_eq!(parse_engine_id("0x80004fb805766d6a780e80", 'e').unwrap(), id);
        assert_eq!(parse_engine_id("80004fb805766d6a780e80", 'E').unwrap(), id);
        assert_eq!(parse_engine_id("80 00 4f b8 05 76 6d 6a 78 0e 80", 'e').unwrap(), id);
        let bad = "Bad engine ID value after -3e flag.";
        assert_eq!(parse_engine_id("80004fb8057", 'e').unwrap_err(), bad, "odd digits");
        assert_eq!(parse_engine_id("80004fb8zz", 'e').unwrap_err(), bad);
        assert_eq!(parse_engine_id("8 0004fb80576", 'e').unwrap_err(), bad, "split pair");
        assert_eq!(
            parse_engine_id("80004fb8", 'E').unwrap_err(),
            "Invalid engine ID value after -E flag.",
            "four bytes"
        );
        assert_eq!(
            parse_engine_id(&"ab".repeat(33), 'e').unwrap_err(),
            "Invalid engine ID value after -e flag."
        );
    }

    #[test]
    fn error_texts_follow_the_tools() {
        let agent = "127.0.0.1:1161";
        let failed = Error::Agent {
            status: ErrorStatus::ResourceUnavailable,
            index: 1,
            oid: Some("1.3.6.1.2.1.1.5.0".parse().unwrap()),
        };
        assert_eq!(
            describe(&failed, Tool::Walk, agent),
            (
                "Error in packet.\nReason: resourceUnavailable (This is likely a out-of-memory \
                 failure within the agent)\nFailed object: .1.3.6.1.2.1.1.5.0\n\n"
                    .to_string(),
                2
            )
        );
        let past = Error::Agent { status: ErrorStatus::GenErr, index: 7, oid: None };
        assert_eq!(
            describe(&past, Tool::Get, agent).0,
            "Error in packet\nReason: (genError) A general failure occurred\nFailed object: \n"
        );
        assert_eq!(
            describe(&Error::Timeout, Tool::Get, agent).0,
            "Timeout: No Response from 127.0.0.1:1161.\n"
        );
        assert_eq!(
            describe(&Error::Timeout, Tool::Walk, agent).0,
            "Timeout: No Response from 127.0.0.1:1161\n"
        );
        assert_eq!(error_status_text(ErrorStatus::Other(99)), "Unknown Error");
    }
}
