//! The export pipeline around the SDK's batch processor: a bound on spans waiting for export
//! (spans over it are dropped and counted rather than queued), and counters of what the
//! collector took and refused, as `switchyard_telemetry_*` metrics.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// Spans the collector accepted.
pub(super) static EXPORTED: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Spans dropped because `telemetry.max_queued_spans` were already waiting.
pub(super) static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Export calls that failed (collector unreachable, refused, timed out).
pub(super) static FAILED_EXPORTS: LazyLock<Counter> = LazyLock::new(Counter::default);
/// Spans of the failed export calls.
pub(super) static FAILED_SPANS: LazyLock<Counter> = LazyLock::new(Counter::default);

/// Registers the `switchyard_telemetry_*` counters in the `switchyard_`-prefixed registry.
/// They stay at zero while tracing is off.
pub fn register_metrics(registry: &mut Registry) {
    registry.register(
        "telemetry_spans_exported",
        "Trace spans the OTLP collector accepted",
        EXPORTED.clone(),
    );
    registry.register(
        "telemetry_spans_dropped",
        "Trace spans dropped because telemetry.max_queued_spans were waiting for export",
        DROPPED.clone(),
    );
    registry.register(
        "telemetry_export_errors",
        "OTLP export calls that failed (collector unreachable, refused or timed out); their \
         spans are lost",
        FAILED_EXPORTS.clone(),
    );
    registry.register(
        "telemetry_spans_failed",
        "Trace spans of failed OTLP export calls",
        FAILED_SPANS.clone(),
    );
}

/// The batch processor behind a bound counted here: a span ended while `capacity` are waiting
/// is dropped at once. The batch processor's own queue has the same capacity and is drained
/// before [`Counting`] sees a batch, so it never drops on its own.
#[derive(Debug)]
pub(super) struct Bounded {
    inner: BatchSpanProcessor,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
}

impl Bounded {
    pub(super) fn new(
        inner: BatchSpanProcessor,
        waiting: Arc<AtomicUsize>,
        capacity: usize,
    ) -> Self {
        Self { inner, waiting, capacity }
    }
}

impl SpanProcessor for Bounded {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            DROPPED.inc();
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The OTLP exporter, counting what it sends and logging a failing collector at most once a
/// minute (and its recovery once).
pub(super) struct Counting<E> {
    pub(super) inner: E,
    pub(super) waiting: Arc<AtomicUsize>,
    pub(super) endpoint: String,
    pub(super) failing: std::sync::Mutex<Option<Instant>>,
}

/// How often a collector that keeps failing is logged.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl<E> fmt::Debug for Counting<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counting").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        self.waiting.fetch_sub(n, Ordering::Relaxed);
        let result = self.inner.export(batch).await;
        let mut failing = self.failing.lock().unwrap_or_else(|e| e.into_inner());
        match &result {
            Ok(()) => {
                EXPORTED.inc_by(n as u64);
                if failing.take().is_some() {
                    tracing::info!(endpoint = %self.endpoint, "trace export recovered");
                }
            }
            Err(e) => {
                FAILED_EXPORTS.inc();
                FAILED_SPANS.inc_by(n as u64);
                let now = Instant::now();
                if failing.is_none_or(|last| now.duration_since(last) >= FAILURE_LOG_EVERY) {
                    *failing = Some(now);
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        spans = n,
                        "trace export failed, the spans are lost: {e}"
                    );
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}
