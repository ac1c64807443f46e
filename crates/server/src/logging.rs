//! Log output through `tracing`: human-readable or one JSON object per line, filtered by a
//! `RUST_LOG`-style directive string.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable, one event per line.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global subscriber. `filter` overrides `RUST_LOG`; without either, `info`.
/// Returns an error for a filter that does not parse, naming it.
pub fn init(format: LogFormat, filter: Option<&str>) -> anyhow::Result<()> {
    let directives = match filter {
        Some(f) => f.to_string(),
        None => std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()),
    };
    let filter = EnvFilter::try_new(&directives)
        .map_err(|e| anyhow::anyhow!("invalid log filter {directives:?}: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Pretty => {
            use std::io::IsTerminal;
            builder.with_target(true).with_ansi(std::io::stderr().is_terminal()).try_init()
        }
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    // A second init (tests calling into the library twice) keeps the first subscriber.
    let _ = result;
    Ok(())
}
