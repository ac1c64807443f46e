//! Command-line interface: `serve`, `check-config`, `version` (and the tools built on the
//! library crates: `demo`, `snmp`, `etcd`, `healthcheck`, `import`, `route`, `replay`,
//! `completions`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

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
    #[command(after_help = SERVE_EXAMPLES)]
    Serve(crate::serve::ServeArgs),
    /// Parse and validate a configuration file, print every problem, exit 1 if any.
    #[command(after_help = CHECK_CONFIG_EXAMPLES)]
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Run on a built-in simulated fleet (three zones of HTTP nodes on loopback, with nodes
    /// failing and recovering), printing example commands.
    #[command(after_help = DEMO_EXAMPLES)]
    Demo(crate::demo::DemoArgs),
    /// SNMP tools with net-snmp's flags and output: get, walk, bulkwalk, set.
    #[command(after_help = SNMP_EXAMPLES)]
    Snmp(crate::snmp_cmd::SnmpArgs),
    /// Shared inventory in etcd: import a configuration's inventory, export it back, show
    /// the members and their shares.
    #[command(after_help = ETCD_EXAMPLES)]
    Etcd(crate::etcd_cmd::EtcdArgs),
    /// GET the admin listener's `/livez` (or `--url`); exit 0 on 200, 1 otherwise. For image
    /// and exec probes where no curl is at hand.
    #[command(after_help = HEALTHCHECK_EXAMPLES)]
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Write a configuration from another router's inventory (a Traffic Ops CRConfig
    /// snapshot) to stdout, and what could not be mapped to stderr.
    #[command(after_help = IMPORT_EXAMPLES)]
    Import(crate::import_tr::ImportArgs),
    /// Ask a running instance where it would send a client, and why: the chosen node, the
    /// zone and how the client was localized, the alternates, and each candidate skipped.
    #[command(after_help = ROUTE_EXAMPLES)]
    Route(crate::route_cmd::RouteArgs),
    /// Record the inputs of a running instance's decisions, and replay them at a fixed
    /// open-loop rate against one instance (latency, errors) or two (and their differences).
    #[command(after_help = REPLAY_EXAMPLES)]
    Replay(crate::replay::ReplayArgs),
    /// Print a shell completion script for bash, zsh, fish, elvish or PowerShell.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
        Command::Import(args) => crate::import_tr::run(&args),
        Command::Route(args) => crate::route_cmd::run(&args),
        Command::Replay(args) => run_async(crate::replay::execute(args)),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "switchyard", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

const SERVE_EXAMPLES: &str = "\
Examples:
  switchyard serve --config /etc/switchyard/switchyard.toml
  switchyard serve -c switchyard.toml --http-listen 0.0.0.0:80 --dns-listen 0.0.0.0:53
  switchyard serve -c switchyard.toml --etcd http://10.0.0.1:2379 --instance-id edge-a
  switchyard --log-format json --log-filter info,switchyard_probe=debug serve -c switchyard.toml

SIGHUP reloads the file; SIGTERM drains (readiness fails, then listeners close).";

const CHECK_CONFIG_EXAMPLES: &str = "\
Examples:
  switchyard check-config /etc/switchyard/switchyard.toml
  SWITCHYARD_ADMIN_TOKEN=secret switchyard check-config switchyard.toml

Every problem is printed as file:line:col: key: message; the exit status is 1 if any.";

const DEMO_EXAMPLES: &str = "\
Examples:
  switchyard demo
  switchyard demo --nodes-per-zone 8 --chaos-period-seconds 10
  switchyard demo --admin-listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --dns-listen 127.0.0.1:0";

const SNMP_EXAMPLES: &str = "\
Examples:
  switchyard snmp get -v 2c -c public 192.0.2.10 1.3.6.1.2.1.1.3.0
  switchyard snmp bulkwalk -v 3 -u ops -l authPriv -a SHA-256 -A authpass -x AES -X privpass \\
      192.0.2.10 1.3.6.1.2.1.31.1.1";

const ETCD_EXAMPLES: &str = "\
Examples:
  switchyard etcd import fleet.toml --etcd http://10.0.0.1:2379
  switchyard etcd import fleet.toml --prune --etcd http://10.0.0.1:2379,http://10.0.0.2:2379
  switchyard etcd export --coverage-out czf.json --etcd http://10.0.0.1:2379 > switchyard.toml
  switchyard etcd status --replicas 2 --etcd http://10.0.0.1:2379";

const HEALTHCHECK_EXAMPLES: &str = "\
Examples:
  switchyard healthcheck
  switchyard healthcheck --config /etc/switchyard/switchyard.toml
  switchyard healthcheck --url http://127.0.0.1:9090/readyz --timeout-ms 500";

const IMPORT_EXAMPLES: &str = "\
Examples:
  switchyard import traffic-router CRConfig.json > switchyard.toml
  switchyard import traffic-router CRConfig.json --czf czf.json > switchyard.toml
  switchyard check-config switchyard.toml

See docs/migrating-from-traffic-router.md for what maps to what.";

const ROUTE_EXAMPLES: &str = "\
Examples:
  switchyard route video.cdn.example --ip 10.2.0.1 --path /movies/a/seg1.ts
  switchyard route --server 10.0.0.5:9090 video.cdn.example --ip 2001:db8::1
  switchyard route video.cdn.example --ip 10.2.0.1 --dns A
  switchyard route video.cdn.example --ip 10.2.0.1 --json

Asks the admin listener's /debug/pick. The exit status is 1 when no node can be chosen.";

const REPLAY_EXAMPLES: &str = "\
Examples:
  SWITCHYARD_ADMIN_TOKEN=secret switchyard replay record --server 10.0.0.5:9090 --out decisions.jsonl --count 5000
  switchyard replay run decisions.jsonl --target http=127.0.0.1:8080,dns=127.0.0.1:5353 --rate 500 --seconds 30
  switchyard replay run decisions.jsonl --target 10.0.0.5:80 --target 10.0.0.6:80 --rate 200

With two targets every request goes to both and each differing answer is counted; the exit
status is then 3 when any differs.";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  switchyard completions bash > /etc/bash_completion.d/switchyard
  switchyard completions zsh > \"${fpath[1]}/_switchyard\"
  switchyard completions fish > ~/.config/fish/completions/switchyard.fish";

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
