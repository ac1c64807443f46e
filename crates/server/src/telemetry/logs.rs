//! Trace ids in JSON log lines: a line written inside a `tracing` span that carries
//! `trace_id` and `span_id` fields (a traced reload's, [`super::Operation::log_span`]) gets
//! both as top-level fields, where log shippers and trace backends look for them to join a
//! line to its trace.
//!
//! [`TraceIds`] notes the two fields of a span when it is created; [`WithTraceIds`] wraps the
//! JSON event format and adds them to the object of every line inside such a span. A line
//! outside one is written by the inner format untouched.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The ids a span carries, kept in its extensions.
#[derive(Debug, Clone, Default)]
struct Ids {
    trace_id: String,
    span_id: String,
}

impl Visit for Ids {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "trace_id" => self.trace_id = value.to_owned(),
            "span_id" => self.span_id = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "trace_id" | "span_id") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// Notes the `trace_id` and `span_id` of every span that has them.
#[derive(Debug, Default)]
pub struct TraceIds;

impl<S> Layer<S> for TraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let fields = attrs.metadata().fields();
        if fields.field("trace_id").is_none() {
            return;
        }
        let mut ids = Ids::default();
        attrs.record(&mut ids);
        if let Some(span) = ctx.span(id)
            && is_hex(&ids.trace_id)
            && is_hex(&ids.span_id)
        {
            span.extensions_mut().insert(ids);
        }
    }
}

/// The ids are written into JSON unescaped: only hex digits are kept.
fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A JSON event format with the innermost traced span's ids added to each line.
#[derive(Debug)]
pub struct WithTraceIds<F>(pub F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx
            .event_scope()
            .and_then(|scope| scope.into_iter().find_map(|s| s.extensions().get::<Ids>().cloned()));
        let Some(ids) = ids else { return self.0.format_event(ctx, writer, event) };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The object's closing brace, before the line's end.
        if let Some(end) = line.rfind('}') {
            let mut extra = String::new();
            write!(extra, ",\"trace_id\":\"{}\",\"span_id\":\"{}\"", ids.trace_id, ids.span_id)?;
            line.insert_str(end, &extra);
        }
        writer.write_str(&line)
    }
}
