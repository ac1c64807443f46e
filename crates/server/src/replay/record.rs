//! `switchyard replay record`: asks an instance's admin listener for sampled decision
//! inputs (`/debug/replay/samples`) and writes them as a replay file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::token::TOKEN_ENV;

/// Arguments of `replay record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The instance's admin listener, `HOST:PORT` or `http://HOST:PORT`. The admin token,
    /// when it has one, is read from SWITCHYARD_ADMIN_TOKEN.
    #[arg(long, short = 's', value_name = "ADMIN_ADDR", default_value = "127.0.0.1:9090")]
    pub server: String,
    /// Where to write the samples (JSON lines).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,
    /// How many decisions to record (1-100000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub count: u64,
    /// Stop after this long even with fewer decisions (1-300).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub seconds: u64,
    /// Record one decision in this many.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub every: u64,
}

/// Largest answer read: 100,000 samples of a few hundred bytes at most.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

pub(super) async fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let addr = super::file::socket_addr(&args.server)?;
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.trim().is_empty());
    let target = format!(
        "/debug/replay/samples?count={}&seconds={}&every={}",
        args.count, args.seconds, args.every
    );
    let auth = token.map(|t| format!("Authorization: Bearer {}\r\n", t.trim())).unwrap_or_default();
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\r\n");
    // The server answers when it has the samples or `seconds` have passed.
    let limit = Duration::from_secs(args.seconds + 30);
    let raw = tokio::time::timeout(limit, async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        s.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        s.take(MAX_RESPONSE_BYTES).read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    })
    .await
    .with_context(|| format!("{addr} did not answer within {} s", limit.as_secs()))??;
    let (status, body) = split_response(&raw)?;
    if status != 200 {
        bail!("{addr} answered {status}: {}", String::from_utf8_lossy(body).trim());
    }
    let text = std::str::from_utf8(body).context("the samples are not UTF-8")?;
    let samples = super::file::parse(text).context("the samples do not parse")?;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut file = format!(
        "# switchyard replay file: {} decision(s) recorded from {addr} at {now}\n",
        samples.len()
    );
    file.push_str(text);
    std::fs::write(&args.out, file)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let http = samples.iter().filter(|s| s.protocol == crate::sampling::Protocol::Http).count();
    println!(
        "{} decision(s) written to {} ({http} http, {} dns)",
        samples.len(),
        args.out.display(),
        samples.len() - http
    );
    Ok(ExitCode::SUCCESS)
}

/// Status and body of a whole `Connection: close` response (the server sends a length).
fn split_response(raw: &[u8]) -> anyhow::Result<(u16, &[u8])> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the answer has no complete HTTP head")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("the answer has no HTTP status")?;
    Ok((status, &raw[end + 4..]))
}
