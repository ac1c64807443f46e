//! OpenTelemetry traces, set up in one place: `[telemetry]` builds an OTLP/gRPC exporter
//! (tonic) behind the SDK's batch processor, and the front ends, the prober and the reload
//! ask here whether a unit of work is traced.
//!
//! Why the SDK is used directly rather than through `tracing-opentelemetry`: a decision must
//! cost nothing when it is not traced. Here the answer is one relaxed atomic load while
//! tracing is off ([`on`]), and one draw of a per-thread generator (or the parse of a
//! `traceparent`) when it is on; only a sampled decision records its steps' times
//! ([`DecisionTrace`]) and builds its spans, after its answer is written. A bridge from
//! `tracing` spans would instead build a span in the subscriber for every decision, sampled
//! or not, and would export the exporter's own tonic and h2 spans whenever the log filter
//! lets them through. Log lines written within a traced reload or probe round still carry
//! its trace id ([`logs`]).
//!
//! Sampling is decided here, before the SDK sees a span (its sampler is `AlwaysOn`):
//! `parentbased_traceidratio` by default (see [`sampling::Sampler`]).

mod decision;
mod export;
pub mod logs;
mod operation;
mod sampling;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler as SdkSampler, SdkTracer, SdkTracerProvider,
};

pub use decision::{DecisionTrace, route_dns, route_http};
pub use export::register_metrics;
pub use operation::{Operation, ProbeRounds};
pub use sampling::{Parent, Sampler};

use crate::config::TelemetryConfig;

/// Set once an exporter is installed; what the hot paths read.
static ON: AtomicBool = AtomicBool::new(false);
/// The installed pipeline.
static STATE: OnceLock<Tracing> = OnceLock::new();

/// What a traced unit of work needs: the tracer and the sampling policy.
struct Tracing {
    tracer: SdkTracer,
    sampler: Sampler,
    /// Taken at shutdown.
    provider: Mutex<Option<SdkTracerProvider>>,
}

/// How often spans are sent when fewer than a batch are waiting.
const EXPORT_EVERY: Duration = Duration::from_secs(1);
/// Spans in one export call at most.
const BATCH: usize = 512;

/// Whether tracing is on: one relaxed load, for the hot paths to test before anything else.
#[inline(always)]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

fn state() -> Option<&'static Tracing> {
    STATE.get()
}

/// Starts exporting as `config` says (nothing when it names no endpoint). Must run inside
/// the Tokio runtime, which the gRPC channel lives on. Returns whether tracing is on.
pub fn start(config: &TelemetryConfig) -> anyhow::Result<bool> {
    let Some(endpoint) = &config.otlp_endpoint else { return Ok(false) };
    let timeout = Duration::from_millis(config.export_timeout_ms);
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .with_timeout(timeout)
        .build()
        .with_context(|| format!("telemetry.otlp_endpoint {endpoint}"))?;
    let waiting = Arc::new(AtomicUsize::new(0));
    let counting = export::Counting {
        inner: exporter,
        waiting: waiting.clone(),
        endpoint: endpoint.clone(),
        failing: Mutex::new(None),
    };
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(config.max_queued_spans)
        .with_max_export_batch_size(BATCH.min(config.max_queued_spans))
        .with_scheduled_delay(EXPORT_EVERY)
        .build();
    let processor = BatchSpanProcessor::builder(counting).with_batch_config(batch).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(export::Bounded::new(processor, waiting, config.max_queued_spans))
        .with_sampler(SdkSampler::AlwaysOn)
        .with_resource(Resource::builder().with_service_name(config.service_name.clone()).build())
        .build();
    let tracer = provider.tracer("switchyard");
    let state = Tracing {
        tracer,
        sampler: Sampler::new(config.sampling_ratio, config.parent_based),
        provider: Mutex::new(Some(provider)),
    };
    if STATE.set(state).is_err() {
        anyhow::bail!("telemetry is already started");
    }
    ON.store(true, Ordering::Release);
    tracing::info!(
        endpoint = %endpoint,
        sampling_ratio = config.sampling_ratio,
        parent_based = config.parent_based,
        service_name = %config.service_name,
        "trace export on"
    );
    Ok(true)
}

/// Exports what is waiting and stops, within `timeout`; blocks the calling thread (run it
/// off the async workers). Spans ended afterwards are dropped.
pub fn shutdown(timeout: Duration) {
    ON.store(false, Ordering::Release);
    let Some(state) = state() else { return };
    let provider = state.provider.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(provider) = provider
        && let Err(e) = provider.shutdown_with_timeout(timeout)
    {
        tracing::warn!("trace export did not finish at shutdown: {e}");
    }
}
