//! `switchyard replay`: record the inputs of a running instance's decisions
//! ([`record`]), and send them again, at a fixed open-loop rate, to one instance (latency
//! and errors) or two (and every answer on which they disagree) ([`run`]).
//!
//! The file is JSON lines of [`crate::sampling::Sample`]; lines starting with `#` are
//! comments.

mod dns;
mod file;
mod http;
mod record;
mod run;
mod stats;

use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use file::{parse, read_file};

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
pub async fn execute(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ReplayCommand::Record(a) => record::run(a).await,
        ReplayCommand::Run(a) => run::run(a).await,
    }
}

#[cfg(test)]
mod tests;
