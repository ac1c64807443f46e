//! `switchyard replay`: record the inputs of a running instance's decisions
//! ([`record`]), and send them again, at a fixed open-loop rate, to one instance (latency
//! and errors) or two (and every answer on which they disagree) ([`run`]).
//!
//! The file is JSON lines of [`crate::sampling::Sample`]; lines starting with `#` are
//! comments.

mod dns;
mod http;
mod record;
mod run;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::sampling::Sample;

/// Arguments of `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub command: ReplayCommand,
}

/// The `replay` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// Sample the inputs of a running instance's next decisions into a file.
    Record(record::RecordArgs),
    /// Send a file's decisions to one or two instances at a fixed rate.
    Run(run::RunArgs),
}

/// Runs `replay record` or `replay run`.
pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ReplayCommand::Record(a) => record::run(a).await,
        ReplayCommand::Run(a) => run::run(a).await,
    }
}

/// Reads a replay file: one [`Sample`] per line, `#` comments and blank lines skipped.
pub fn read_file(path: &PathBuf) -> anyhow::Result<Vec<Sample>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text).with_context(|| format!("{}", path.display()))
}

/// Parses the text of a replay file, naming the first bad line.
pub fn parse(text: &str) -> anyhow::Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample: Sample =
            serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        out.push(sample);
    }
    Ok(out)
}

/// `HOST:PORT` or `http://HOST:PORT`, resolved to its first address.
fn socket_addr(text: &str) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let authority = text.strip_prefix("http://").unwrap_or(text).trim_end_matches('/');
    authority
        .to_socket_addrs()
        .with_context(|| format!("{text:?}: HOST:PORT expected"))?
        .next()
        .with_context(|| format!("{text:?} resolves to no address"))
}

#[cfg(test)]
mod tests;
