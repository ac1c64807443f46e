//! Spans of background work: a configuration reload (live, with the log lines written within
//! it carrying its trace id) and a probe round (built from the engine's report when the round
//! ends).

use std::time::{Instant, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer};
use opentelemetry_sdk::trace::Span;
use switchyard_probe::{RoundObserver, RoundReport};

/// A traced unit of background work, or nothing when it is not sampled: every method is then
/// a no-op.
#[derive(Debug, Default)]
pub struct Operation {
    span: Option<Span>,
}

impl Operation {
    /// A configuration reload, traced when the ratio samples it.
    pub fn reload() -> Self {
        let Some(state) = super::state() else { return Self::default() };
        if !state.sampler.root() {
            return Self::default();
        }
        let span =
            state.tracer.span_builder("reload").with_kind(SpanKind::Internal).start(&state.tracer);
        Self { span: Some(span) }
    }

    /// Whether this work is traced.
    pub fn is_traced(&self) -> bool {
        self.span.is_some()
    }

    /// A `tracing` span to run the work in, so that its log lines carry the trace and span
    /// ids (see [`super::logs`]); a disabled span when not traced.
    pub fn log_span(&self) -> tracing::Span {
        let Some(span) = &self.span else { return tracing::Span::none() };
        let cx = span.span_context();
        tracing::info_span!(
            "reload",
            trace_id = %cx.trace_id(),
            span_id = %cx.span_id(),
        )
    }

    /// Adds attributes.
    pub fn attributes(&mut self, kvs: impl IntoIterator<Item = KeyValue>) {
        if let Some(span) = &mut self.span {
            span.set_attributes(kvs);
        }
    }

    /// Ends the span; `error` marks it failed with that description.
    pub fn end(mut self, error: Option<String>) {
        if let Some(mut span) = self.span.take() {
            if let Some(e) = error {
                span.set_status(Status::error(e));
            }
            span.end();
        }
    }
}

/// Traces probe rounds the ratio samples: a `probe_round` span per sampled round, from the
/// probe's start to its result being applied, with the node, the check's kind, the verdict
/// and the node's health before and after.
#[derive(Debug, Default)]
pub struct ProbeRounds;

impl RoundObserver for ProbeRounds {
    fn round(&self, r: &RoundReport<'_>) {
        let Some(state) = super::state() else { return };
        if !state.sampler.root() {
            return;
        }
        let now = (SystemTime::now(), Instant::now());
        let at = |i: Instant| now.0 - now.1.saturating_duration_since(i);
        let o = r.outcome;
        let mut attributes = vec![
            KeyValue::new("switchyard.node", r.node.to_owned()),
            KeyValue::new("switchyard.probe.kind", r.kind),
            KeyValue::new("server.address", r.addr.ip().to_string()),
            KeyValue::new("server.port", i64::from(r.addr.port())),
            KeyValue::new("switchyard.probe.verdict", o.verdict.as_str()),
            KeyValue::new("switchyard.probe.tier", o.tier.as_str()),
            KeyValue::new("switchyard.health.before", r.before.as_str()),
            KeyValue::new("switchyard.health.after", r.after.as_str()),
            KeyValue::new("switchyard.probe.duration_ms", o.phases.total.as_secs_f64() * 1e3),
        ];
        if let Some(cause) = o.cause {
            attributes.push(KeyValue::new("switchyard.probe.cause", cause.as_str()));
        }
        if let Some(status) = o.status {
            attributes.push(KeyValue::new("switchyard.probe.status", i64::from(status)));
        }
        let mut span = state
            .tracer
            .span_builder("probe_round")
            .with_kind(SpanKind::Client)
            .with_start_time(at(r.started))
            .with_attributes(attributes)
            .start(&state.tracer);
        if let Some(cause) = o.cause {
            span.set_status(Status::error(cause.as_str()));
        }
        span.end_with_timestamp(at(r.finished));
    }
}
