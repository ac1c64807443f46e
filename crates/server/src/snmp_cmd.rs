//! `switchyard snmp get|walk|bulkwalk|set`: a net-snmp style command-line client on
//! `switchyard-snmp`, with the same flags as `snmpget`/`snmpwalk` and the same output lines.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use switchyard_snmp::client::{Client, Error, RequestOptions, Security, Target};
use switchyard_snmp::codec::{Oid, Value, VarBind};
use switchyard_snmp::display::format_varbind;
use switchyard_snmp::usm::{AuthProtocol, PrivProtocol, UsmUser};

#[derive(clap::Args, Debug)]
pub struct SnmpArgs {
    #[command(subcommand)]
    pub command: SnmpCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SnmpCommand {
    /// GET one or more OIDs (like snmpget).
    Get(OpArgs),
    /// Walk a subtree with GETNEXT (like snmpwalk).
    Walk(OpArgs),
    /// Walk a subtree with GETBULK (like snmpbulkwalk).
    Bulkwalk(OpArgs),
    /// SET values given as OID TYPE VALUE triples (like snmpset; types i u c C s x d n o t a).
    Set(OpArgs),
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
    /// Timeout in seconds per attempt.
    #[arg(short = 't', value_name = "SECONDS", default_value_t = 1.0)]
    pub timeout: f64,
    /// Retries.
    #[arg(short = 'r', value_name = "RETRIES", default_value_t = 5)]
    pub retries: u32,
    /// Starting max-repetitions for bulkwalk (snmpbulkwalk -Cr).
    #[arg(long = "max-repetitions", default_value_t = 25)]
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
            .field("agent", &self.agent)
            .field("oids", &self.oids)
            .finish_non_exhaustive()
    }
}

/// Runs one command; failures print a net-snmp style message on stderr and exit 1.
pub async fn run(args: SnmpArgs) -> anyhow::Result<ExitCode> {
    let (op, a) = match &args.command {
        SnmpCommand::Get(a) => ("get", a),
        SnmpCommand::Walk(a) => ("walk", a),
        SnmpCommand::Bulkwalk(a) => ("bulkwalk", a),
        SnmpCommand::Set(a) => ("set", a),
    };
    let addr = resolve_agent(&a.agent).await?;
    let security = security(a)?;
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
    let result = match op {
        "get" => target.get(&parse_oids(&a.oids)?).await,
        "set" => target.set(&parse_set(&a.oids)?).await,
        _ => walk(&target, op == "bulkwalk", &a.oids).await,
    };
    match result {
        Ok(vbs) => {
            let mut out = String::new();
            for vb in &vbs {
                out.push_str(&format_varbind(vb));
                out.push('\n');
            }
            print!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}", describe(&e, &a.agent));
            Ok(ExitCode::from(1))
        }
    }
}

async fn walk(t: &Target, bulk: bool, oids: &[String]) -> Result<Vec<VarBind>, Error> {
    // net-snmp walks MIB-2 when no OID is given.
    let roots = if oids.is_empty() {
        vec![Oid::from_static(&[1, 3, 6, 1, 2, 1])]
    } else {
        parse_oids(oids).map_err(|_| Error::InvalidRequest("bad OID"))?
    };
    let mut all = Vec::new();
    for r in &roots {
        all.extend(if bulk { t.bulk_walk(r).await? } else { t.walk(r).await? });
    }
    Ok(all)
}

fn describe(e: &Error, agent: &str) -> String {
    match e {
        Error::Timeout => format!("Timeout: No Response from {agent}."),
        Error::AuthFailure => {
            "Authentication failure (incorrect password, community or key)".into()
        }
        Error::DecryptFailure => "Decryption error".into(),
        Error::UnknownUser => "Unknown user name".into(),
        Error::UnsupportedSecurityLevel => "Unsupported security level".into(),
        Error::Agent { status, index, oid } => match oid {
            Some(o) => {
                format!("Error in packet.\nReason: {status} (index {index})\nFailed object: .{o}")
            }
            None => format!("Error in packet.\nReason: {status} (index {index})"),
        },
        other => format!("snmp: {other}"),
    }
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
                "s" | "d" if c[1] == "s" => Value::OctetString(v.as_bytes().to_vec()),
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

fn security(a: &OpArgs) -> anyhow::Result<Security> {
    match a.version.as_str() {
        "1" => return Ok(Security::v1(a.community.as_bytes())),
        "2c" | "2" => return Ok(Security::v2c(a.community.as_bytes())),
        "3" => {}
        other => bail!("{other}: unknown SNMP version (use 1, 2c or 3)"),
    }
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
    Ok(Security::v3(user))
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
