//! Log output through `tracing`: human-readable or one JSON object per line on stderr,
//! filtered by a `RUST_LOG`-style directive string that the admin API can replace at run time
//! (`/admin/log-level`, through `tracing-subscriber`'s reload layer).
//!
//! Lines go to stderr through [`StderrSink`], which never panics and never reports an error
//! to the formatter: a line that cannot be written (the reader of a pipe went away, EPIPE) is
//! dropped and counted in `switchyard_log_lines_dropped_total`. `tracing-subscriber`'s own
//! stderr writer reports a failed write with `eprintln!`, which panics on a closed stderr,
//! so `switchyard serve 2>&1 | head -2` used to die at its third log line. SIGPIPE stays
//! ignored, as the Rust runtime sets it before `main`, so the write fails with EPIPE rather
//! than killing the process.

use std::io::Write;
use std::sync::{LazyLock, Mutex, OnceLock};

use clap::ValueEnum;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry as Subscribers, reload};

use crate::telemetry::logs::{TraceIds, WithTraceIds};

/// `switchyard_log_lines_dropped_total`: log lines that could not be written to stderr.
pub const LOG_LINES_DROPPED: &str = "log_lines_dropped";

/// Lines dropped because stderr refused them; registered by [`register_metrics`].
static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The installed subscriber's filter, once [`init`] ran.
static CONTROL: OnceLock<LogControl> = OnceLock::new();

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable, one event per line.
    #[default]
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Why a filter was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilterError {
    /// The text is empty; `off` silences logging.
    #[error("the filter is empty (use \"off\" to silence logging)")]
    Empty,
    /// A directive does not parse.
    #[error("invalid log filter {text:?}: {reason}")]
    Invalid {
        /// The text given.
        text: String,
        /// The parser's message, naming the directive at fault.
        reason: String,
    },
    /// The subscriber is gone (only while the process exits).
    #[error("the log subscriber is not running: {0}")]
    Unavailable(String),
}

/// Parses a filter in `RUST_LOG` syntax, refusing what `EnvFilter` would refuse.
pub fn parse_filter(text: &str) -> Result<EnvFilter, FilterError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FilterError::Empty);
    }
    EnvFilter::try_new(text).map_err(|e| {
        // `EnvFilter` says what is wrong but not where: name the first directive that does
        // not parse on its own (a span field filter may itself hold commas, so this is a
        // best effort and the whole text is named otherwise).
        let at_fault = text
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .find_map(|d| EnvFilter::try_new(d).err().map(|e| format!("directive {d:?}: {e}")));
        FilterError::Invalid { text: text.to_owned(), reason: at_fault.unwrap_or(e.to_string()) }
    })
}

/// The run-time handle on the log filter.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Subscribers>,
    /// The directives in force, as they were given (`EnvFilter`'s `Display` reorders them).
    current: Mutex<String>,
}

impl LogControl {
    /// The directives in force.
    pub fn current(&self) -> String {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the filter; a filter that does not parse leaves the old one in force.
    /// Returns the previous directives.
    pub fn set(&self, text: &str) -> Result<String, FilterError> {
        let filter = parse_filter(text)?;
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        self.handle.reload(filter).map_err(|e| FilterError::Unavailable(e.to_string()))?;
        Ok(std::mem::replace(&mut *current, text.trim().to_owned()))
    }
}

/// The filter control of the installed subscriber; `None` when [`init`] has not run (or a
/// subscriber of someone else's was installed first).
pub fn control() -> Option<&'static LogControl> {
    CONTROL.get()
}

/// Installs the global subscriber. `filter` overrides `RUST_LOG`; without either, `info`.
/// Returns an error for a filter that does not parse, naming it.
pub fn init(format: LogFormat, filter: Option<&str>) -> anyhow::Result<()> {
    let directives = match filter {
        Some(f) => f.to_string(),
        None => std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string()),
    };
    let parsed = parse_filter(&directives)?;
    let (filter_layer, handle) = reload::Layer::new(parsed);
    // One of the two is installed; each is typed for its own place in the stack.
    let (pretty, json) = match format {
        LogFormat::Pretty => {
            use std::io::IsTerminal;
            let ansi = std::io::stderr().is_terminal();
            (Some(stderr_layer().with_target(true).with_ansi(ansi)), None)
        }
        LogFormat::Json => {
            // A line inside a traced span gets its trace and span ids (`telemetry::logs`).
            let format = fmt::format().json().flatten_event(true).with_current_span(false);
            let json = stderr_layer()
                .fmt_fields(fmt::format::JsonFields::new())
                .event_format(WithTraceIds(format));
            (None, Some(json))
        }
    };
    let trace_ids = json.is_some().then_some(TraceIds);
    let installed = tracing_subscriber::registry()
        .with(filter_layer)
        .with(pretty)
        .with(json)
        .with(trace_ids)
        .try_init();
    // A second init (tests calling into the library twice) keeps the first subscriber.
    if installed.is_ok() {
        let _ =
            CONTROL.set(LogControl { handle, current: Mutex::new(directives.trim().to_owned()) });
    }
    Ok(())
}

/// A formatting layer writing to [`StderrSink`] that reports no write error of its own (the
/// default reports one with `eprintln!`, which panics when stderr is closed).
fn stderr_layer<S>() -> fmt::Layer<S, fmt::format::DefaultFields, fmt::format::Format, StderrSink>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fmt::layer().with_writer(StderrSink).log_internal_errors(false)
}

/// Registers `switchyard_log_lines_dropped_total` in the `switchyard_`-prefixed registry.
pub fn register_metrics(registry: &mut Registry) {
    registry.register(
        LOG_LINES_DROPPED,
        "Log lines dropped because stderr refused them (a closed pipe, a full non-blocking \
         descriptor)",
        DROPPED.clone(),
    );
}

/// Log lines dropped so far.
pub fn dropped_lines() -> u64 {
    DROPPED.get()
}

/// Writes each formatted event to stderr in one `write_all` under stderr's lock, so lines of
/// different threads never interleave and no line is lost while stderr accepts them. A write
/// that fails drops the line, counts it, and reports success: the formatter must not see an
/// error, and the process must not stop because its log reader did.
///
/// A reader that stays connected but stops reading still blocks the writing thread once the
/// pipe is full, as with any stderr logger; a reader that goes away costs one failed `write`
/// per line.
#[derive(Debug, Clone, Copy, Default)]
pub struct StderrSink;

impl<'a> MakeWriter<'a> for StderrSink {
    type Writer = StderrLine;

    fn make_writer(&'a self) -> Self::Writer {
        StderrLine
    }
}

/// One event's output; see [`StderrSink`].
#[derive(Debug)]
pub struct StderrLine;

impl Write for StderrLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::io::stderr().lock().write_all(buf).is_err() {
            DROPPED.inc();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{FilterError, parse_filter};

    #[test]
    fn filters_parse_or_name_the_directive_at_fault() {
        assert!(parse_filter("info,switchyard_probe=debug").is_ok());
        assert!(parse_filter(" off ").is_ok());
        assert!(matches!(parse_filter("  "), Err(FilterError::Empty)));
        let e = parse_filter("info,switchyard_probe=loud").unwrap_err();
        assert!(matches!(e, FilterError::Invalid { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains("switchyard_probe=loud"), "{text}");
    }
}
