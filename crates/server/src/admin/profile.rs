//! `GET /debug/pprof/profile`: a CPU profile of the running process, as gzipped pprof
//! protobuf (what `go tool pprof` fetches from Go's `net/http/pprof`) or an SVG flamegraph.
//!
//! Sampling is the `pprof` crate's: a `SIGPROF` interval timer at [`FREQUENCY_HZ`] and a
//! backtrace per tick. Both the timer and the crate's collector are process-wide, so one
//! profile runs at a time ([`BUSY`]); a second request is refused at once rather than queued
//! behind a minute-long profile.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use pprof::protos::Message;

use super::context::AdminContext;
use super::respond::error_response;

/// Samples per second. 99 rather than 100 so the ticks do not march in step with work done
/// on round periods (the choice of Go's and Linux perf's examples); a few hundred samples per
/// busy core-second cost well under 1% of a core.
pub const FREQUENCY_HZ: i32 = 99;
/// Profile length when `seconds` is not given, in seconds (Go's default is 30; shorter here
/// since the admin listener holds the request open that long).
pub const DEFAULT_SECONDS: u64 = 10;
/// Longest profile, in seconds.
pub const MAX_SECONDS: u64 = 60;

/// Shared libraries whose frames the sampler does not walk: libgcc's unwinder is not
/// async-signal-safe and a tick that lands inside it (or libc's, or the vDSO with its
/// unreliable unwind tables) can deadlock; the pprof crate's documentation gives this list.
const BLOCKLIST: [&str; 4] = ["libc", "libgcc", "pthread", "vdso"];

/// Set while a profile runs; the sampler is process-wide.
static BUSY: AtomicBool = AtomicBool::new(false);

/// Clears [`BUSY`] when the profile ends, however it ends.
struct Running;

impl Running {
    fn claim() -> Option<Self> {
        BUSY.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).ok().map(|_| Self)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        BUSY.store(false, Ordering::Release);
    }
}

/// What the profile is returned as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// gzipped `perftools.profiles.Profile`, `go tool pprof`'s input.
    Pprof,
    /// An SVG flamegraph (inferno's, as `cargo flamegraph` draws).
    Svg,
}

/// The validated query of a profile request.
#[derive(Debug, PartialEq, Eq)]
struct ProfileRequest {
    seconds: u64,
    format: Format,
}

impl ProfileRequest {
    /// Reads `seconds` (1..=[`MAX_SECONDS`], default [`DEFAULT_SECONDS`]) and `format`
    /// (`pprof`, the default, `proto` as its alias, or `svg`), naming the parameter at fault.
    fn parse(params: &HashMap<String, String>) -> Result<Self, String> {
        let seconds = match params.get("seconds") {
            None => DEFAULT_SECONDS,
            Some(raw) => match raw.parse::<u64>() {
                Ok(s) if (1..=MAX_SECONDS).contains(&s) => s,
                _ => {
                    return Err(format!(
                        "parameter `seconds`: {raw:?} is not a whole number of seconds from 1 to \
                         {MAX_SECONDS}"
                    ));
                }
            },
        };
        let format = match params.get("format").map(String::as_str) {
            None | Some("pprof" | "proto") => Format::Pprof,
            Some("svg") => Format::Svg,
            Some(other) => {
                return Err(format!("parameter `format`: {other:?} is not `pprof` or `svg`"));
            }
        };
        Ok(Self { seconds, format })
    }
}

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// `GET /debug/pprof/profile?seconds=N[&format=svg]`. Samples for `seconds` (cut short when
/// the listener starts draining, returning what was gathered), then answers 200 with the
/// profile; 400 for a bad parameter, 409 while another profile runs, 500 when the sampler
/// cannot start or the report cannot be built.
pub async fn cpu(State(ctx): State<AdminContext>, q: Params) -> Response {
    let params = match q {
        Ok(Query(p)) => p,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "bad_parameter", &e.body_text()),
    };
    let req = match ProfileRequest::parse(&params) {
        Ok(r) => r,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "bad_parameter", &message),
    };
    let Some(running) = Running::claim() else {
        return busy();
    };
    tracing::info!(seconds = req.seconds, format = ?req.format, "CPU profile started");
    let guard = match tokio::task::spawn_blocking(start).await {
        Ok(Ok(guard)) => guard,
        Ok(Err(pprof::Error::Running)) => return busy(),
        Ok(Err(e)) => return failed(&format!("cannot start the CPU sampler: {e}")),
        Err(e) => return failed(&format!("cannot start the CPU sampler: {e}")),
    };
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(req.seconds)) => {}
        () = ctx.stop.cancelled() => {
            tracing::info!("CPU profile cut short: the admin listener is draining");
        }
    }
    // Symbolizing and encoding take a while on a large binary: off the runtime's threads.
    let format = req.format;
    let built = tokio::task::spawn_blocking(move || {
        let out = render(&guard, format);
        drop(guard);
        drop(running);
        out
    })
    .await;
    match built {
        Ok(Ok(body)) => {
            tracing::info!(bytes = body.len(), "CPU profile done");
            let content_type = match format {
                Format::Pprof => "application/octet-stream",
                Format::Svg => "image/svg+xml",
            };
            let disposition = match format {
                Format::Pprof => "attachment; filename=\"profile.pb.gz\"",
                Format::Svg => "inline; filename=\"profile.svg\"",
            };
            let headers = [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_DISPOSITION, disposition),
                (header::CACHE_CONTROL, "no-store"),
            ];
            (headers, body).into_response()
        }
        Ok(Err(message)) => failed(&message),
        Err(e) => failed(&format!("building the profile failed: {e}")),
    }
}

/// Starts the sampler.
fn start() -> pprof::Result<pprof::ProfilerGuard<'static>> {
    pprof::ProfilerGuardBuilder::default().frequency(FREQUENCY_HZ).blocklist(&BLOCKLIST).build()
}

/// The finished profile in `format`.
fn render(guard: &pprof::ProfilerGuard<'static>, format: Format) -> Result<Vec<u8>, String> {
    let report = guard.report().build().map_err(|e| format!("cannot build the report: {e}"))?;
    match format {
        Format::Pprof => {
            let profile = report.pprof().map_err(|e| format!("cannot encode the profile: {e}"))?;
            gzip(&profile.encode_to_vec()).map_err(|e| format!("cannot compress the profile: {e}"))
        }
        Format::Svg if report.data.is_empty() => Ok(EMPTY_SVG.as_bytes().to_vec()),
        Format::Svg => {
            let mut svg = Vec::new();
            report.flamegraph(&mut svg).map_err(|e| format!("cannot draw the flamegraph: {e}"))?;
            Ok(svg)
        }
    }
}

/// What a flamegraph of no samples (an idle process) shows; inferno draws nothing then.
const EMPTY_SVG: &str = "<?xml version=\"1.0\" standalone=\"no\"?>\n\
<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"40\">\
<text x=\"10\" y=\"25\">no samples: the process was idle</text></svg>\n";

/// gzip, as `go tool pprof` writes profiles and as Go's `net/http/pprof` serves them.
fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn busy() -> Response {
    error_response(
        StatusCode::CONFLICT,
        "profile_in_progress",
        "another CPU profile is running; try again when it has finished",
    )
}

fn failed(message: &str) -> Response {
    tracing::warn!("CPU profile failed: {message}");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "profile_failed", message)
}

#[cfg(test)]
mod tests;
