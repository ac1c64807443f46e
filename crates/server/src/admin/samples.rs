//! `GET /debug/replay/samples`: records the inputs of this instance's next decisions (HTTP
//! and DNS) and answers them as JSON lines, the format of a `switchyard replay` file.
//!
//! Recording is switched on only for the request's duration, so the front ends pay one
//! relaxed atomic load per decision the rest of the time ([`crate::sampling`]). One
//! recording at a time: the buffer is shared.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::context::AdminContext;
use super::respond::error_response;
use crate::sampling::Sample;

/// Samples answered when `count` is not given.
pub const DEFAULT_COUNT: usize = 1000;
/// Most samples one request may ask for (about 100 bytes each).
pub const MAX_COUNT: usize = 100_000;
/// How long to wait for `count` decisions when `seconds` is not given.
pub const DEFAULT_SECONDS: u64 = 10;
/// Longest wait.
pub const MAX_SECONDS: u64 = 300;
/// How often the buffer is drained while recording.
const DRAIN_EVERY: Duration = Duration::from_millis(20);

/// Header carrying how many decisions were passed over because the buffer was full.
const DROPPED_HEADER: &str = "x-switchyard-samples-dropped";

/// The validated query.
#[derive(Debug, PartialEq, Eq)]
struct SamplesRequest {
    count: usize,
    seconds: u64,
    every: u64,
}

fn bounded<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
    params: &HashMap<String, String>,
    name: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, String> {
    let Some(raw) = params.get(name) else { return Ok(default) };
    match raw.parse::<T>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(format!(
            "parameter `{name}`: {raw:?} is not a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

impl SamplesRequest {
    fn parse(params: &HashMap<String, String>) -> Result<Self, String> {
        Ok(Self {
            count: bounded(params, "count", DEFAULT_COUNT, 1..=MAX_COUNT)?,
            seconds: bounded(params, "seconds", DEFAULT_SECONDS, 1..=MAX_SECONDS)?,
            every: bounded(params, "every", 1, 1..=1_000_000)?,
        })
    }
}

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// `GET /debug/replay/samples?count=N&seconds=S&every=K`: records one decision in `every`
/// until `count` are recorded or `seconds` have passed (or the listener drains), then
/// answers them as `application/x-ndjson`, oldest first. 400 for a bad parameter, 409 while
/// another recording runs.
pub async fn samples(State(ctx): State<AdminContext>, q: Params) -> Response {
    let params = match q {
        Ok(Query(p)) => p,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "bad_parameter", &e.body_text()),
    };
    let req = match SamplesRequest::parse(&params) {
        Ok(r) => r,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, "bad_parameter", &message),
    };
    let Some(recording) = ctx.app.samples.start(req.every) else {
        return error_response(
            StatusCode::CONFLICT,
            "recording_in_progress",
            "another recording of decision samples is running; try again when it has finished",
        );
    };
    tracing::info!(
        count = req.count,
        seconds = req.seconds,
        every = req.every,
        "sampling decisions"
    );
    let mut out: Vec<Sample> = Vec::with_capacity(req.count.min(4096));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(req.seconds);
    let mut tick = tokio::time::interval(DRAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while out.len() < req.count {
        tokio::select! {
            _ = tick.tick() => {}
            () = tokio::time::sleep_until(deadline) => break,
            () = ctx.stop.cancelled() => break,
        }
        let room = req.count - out.len();
        recording.drain(&mut out, room);
    }
    let room = req.count - out.len();
    recording.drain(&mut out, room);
    let dropped = recording.dropped();
    drop(recording);
    tracing::info!(samples = out.len(), dropped, "decision sampling done");
    let mut body = Vec::with_capacity(out.len() * 96);
    for sample in &out {
        // Serializing these plain structs cannot fail.
        let _ = serde_json::to_writer(&mut body, sample);
        body.push(b'\n');
    }
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(HeaderName::from_static(DROPPED_HEADER), HeaderValue::from(dropped));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<SamplesRequest, String> {
        let params = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        SamplesRequest::parse(&params)
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(parse(&[]).unwrap(), SamplesRequest { count: 1000, seconds: 10, every: 1 });
        let r = parse(&[("count", "5"), ("seconds", "300"), ("every", "10")]).unwrap();
        assert_eq!(r, SamplesRequest { count: 5, seconds: 300, every: 10 });
        for (k, v) in [("count", "0"), ("count", "100001"), ("seconds", "0"), ("every", "x")] {
            let e = parse(&[(k, v)]).unwrap_err();
            assert!(e.contains(&format!("`{k}`")), "{e}");
        }
    }
}
