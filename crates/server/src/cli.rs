//! Command-line interface: `serve`, `check-config`, `version` (and the tools built on the
//! library crates).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Serve(crate::serve::ServeArgs),
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
    /// Shared inventory in etcd: import a configuration's inventory, export it back, show
    /// the members and their shares.
    Etcd(crate::etcd_cmd::EtcdArgs),
    /// GET the admin listener's `/livez` (or `--url`); exit 0 on 200, 1 otherwise. For image
    /// and exec probes where no curl is at hand.
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Print the version.
    Version,
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
        Command::Serve(args) => {
            raise_open_file_limit();
            run_async(crate::serve::run(args))
        }
        Command::Demo(args) => {
            raise_open_file_limit();
            run_async(crate::demo::run(args))
        }
        Command::Snmp(args) => run_async(crate::snmp_cmd::run(args)),
        Command::Etcd(args) => run_async(crate::etcd_cmd::run(args)),
        Command::Healthcheck(args) => crate::healthcheck::run(&args),
    }
}

/// `check-config`: the file and everything it names that `serve` reads before binding (the
/// admin token and exposure rule, the fleet, coverage zone and GeoIP files), every problem
/// located. Binds nothing.
fn check_config(file: &std::path::Path) -> ExitCode {
    let env_token = std::env::var(crate::config::token::TOKEN_ENV).ok();
    match crate::config::check_file(file, env_token) {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(report) => {
            eprintln!("{report}");
            eprintln!("{} problem(s) found", report.problem_count());
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft open-file limit to the hard one and logs both. Every traffic connection,
/// pooled probe connection and DNS TCP client holds a descriptor, and the usual soft default
/// (1024) is far below what the hard limit allows; a server that runs out fails `accept` on
/// every listener alike, health endpoints included. The traffic listener then keeps half of
/// the limit for itself at most (`http.max_connections`).
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let e = std::io::Error::last_os_error();
        return tracing::warn!("cannot read the open-file limit: {e}");
    }
    let (soft, hard) = (limit.rlim_cur, limit.rlim_max);
    if soft >= hard {
        return tracing::info!(soft, hard, "open-file limit");
    }
    limit.rlim_cur = hard;
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        tracing::info!(soft = hard, hard, was = soft, "open-file limit raised to the hard limit");
    } else {
        let e = std::io::Error::last_os_error();
        tracing::warn!(soft, hard, "cannot raise the open-file limit: {e}");
    }
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
            eprintln!("switchyard: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes joined by `: `, each said once. Many errors already end with
/// their source's message (`#[error("...: {0}")]`, or a wrapper displaying its inner error
/// as it is), so a cause whose message the text so far already ends with is skipped rather
/// than printed again, as anyhow's `{:#}` would.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(part.as_str()) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}
