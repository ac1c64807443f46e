//! Command-line interface: `serve`, `check-config`, `version` (and the tools built on the
//! library crates).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::logging::{self, LogFormat};

/// Switchyard: a CDN traffic scheduler with a built-in fleet health prober.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax (e.g. `info,switchyard_probe=debug`); overrides RUST_LOG.
    #[arg(long, global = true)]
    pub log_filter: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scheduler with a configuration file.
    Serve(ServeArgs),
    /// Parse and validate a configuration file, print every problem, exit 1 if any.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Run on a built-in simulated fleet (three zones of HTTP nodes on loopback, with nodes
    /// failing and recovering), printing example commands.
    Demo(crate::demo::DemoArgs),
    /// SNMP tools with net-snmp's flags and output: get, walk, bulkwalk, set.
    Snmp(crate::snmp_cmd::SnmpArgs),
    /// Print the version.
    Version,
}

/// Listener overrides shared by `serve` and `demo`.
#[derive(Debug, Clone, Default, Args)]
pub struct ListenOverrides {
    /// Admin listener address (overrides `listen.admin`).
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// HTTP traffic listener address (overrides `listen.http`).
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// DNS listener address, UDP and TCP (overrides `listen.dns`).
    #[arg(long, value_name = "ADDR")]
    pub dns_listen: Option<SocketAddr>,
}

/// Arguments of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    #[command(flatten)]
    pub listen: ListenOverrides,
    /// Delay the start-up work (inventory load) by this many milliseconds after the listeners
    /// are bound; for exercising readiness gating.
    #[arg(long, hide = true, default_value_t = 0)]
    pub startup_delay_ms: u64,
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format, cli.log_filter.as_deref()) {
        eprintln!("switchyard: {e:#}");
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Version => {
            println!("switchyard {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::CheckConfig { file } => check_config(&file),
        Command::Serve(args) => run_async(crate::serve::run(args)),
        Command::Demo(args) => run_async(crate::demo::run(args)),
        Command::Snmp(args) => run_async(crate::snmp_cmd::run(args)),
    }
}

/// `check-config`: the file, then the fleet file it names, every problem located.
fn check_config(file: &std::path::Path) -> ExitCode {
    let config = match crate::config::load_file(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{} problem(s) found", e.problems.len());
            return ExitCode::FAILURE;
        }
    };
    if let Some(fleet) = &config.inventory.fleet_file {
        let path = file.parent().unwrap_or(std::path::Path::new(".")).join(fleet);
        if let Err(e) = crate::config::load_fleet_file(&path) {
            eprintln!("{e}");
            eprintln!("{} problem(s) found", e.problems.len());
            return ExitCode::FAILURE;
        }
    }
    println!("{}: ok", file.display());
    ExitCode::SUCCESS
}

/// Runs a future on a multi-threaded runtime, printing an error chain on failure.
fn run_async(fut: impl Future<Output = anyhow::Result<ExitCode>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("switchyard: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}
