//! Prometheus metrics of the checks: last status per endpoint, failed runs per endpoint, run
//! duration.
//!
//! Mirrors the apiserver's `kubernetes_healthcheck{name,type}` gauge, with the label names of
//! this crate and a unit suffix on the duration.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::check::Endpoint;

/// Default prefix of every metric name (`switchyard_health_check_status`).
pub const DEFAULT_PREFIX: &str = "switchyard";
/// Gauge, 1 when the check passed at the last evaluation of the endpoint, 0 when it failed.
pub const STATUS: &str = "health_check_status";
/// Counter of real runs that failed, labelled like [`STATUS`] with the endpoint whose request
/// started the run, so a check shared by `/livez`, `/readyz` and `/healthz` keeps one series
/// per endpoint. A cached result served again is not counted.
pub const FAILURES: &str = "health_check_failures";
/// Histogram of the duration of real runs, in seconds.
pub const DURATION: &str = "health_check_duration";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct EndpointLabels {
    endpoint: &'static str,
    check: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(crate) struct CheckLabels {
    check: Arc<str>,
}

type DurationFamily = Family<CheckLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 0.5 ms .. ~4 s: an in-memory flag to a check at its default 2 s timeout.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// The metric families of one registry. Handles per check are created once at registration.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    prefix: Option<String>,
    status: Family<EndpointLabels, Gauge>,
    failures: Family<EndpointLabels, Counter>,
    duration: DurationFamily,
}

/// The per-check handles, so a run touches atomics only.
#[derive(Debug, Clone)]
pub(crate) struct CheckMetrics {
    pub(crate) status: [Option<Gauge>; 3],
    /// Indexed like `status`; `None` for an endpoint the check is not registered for.
    pub(crate) failures: [Option<Counter>; 3],
    pub(crate) duration: Histogram,
}

impl Metrics {
    pub(crate) fn new(prefix: Option<String>) -> Metrics {
        Metrics {
            prefix,
            status: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
        }
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        let registry = match &self.prefix {
            Some(prefix) => registry.sub_registry_with_prefix(prefix),
            None => registry,
        };
        registry.register(
            STATUS,
            "Health check status at the last evaluation of the endpoint (1 passed, 0 failed)",
            self.status.clone(),
        );
        registry.register(
            FAILURES,
            "Health check runs that failed, by the endpoint whose request started the run",
            self.failures.clone(),
        );
        registry.register_with_unit(
            DURATION,
            "Duration of health check runs",
            Unit::Seconds,
            self.duration.clone(),
        );
    }

    pub(crate) fn for_check(
        &self,
        name: &Arc<str>,
        serves: impl Fn(Endpoint) -> bool,
    ) -> CheckMetrics {
        // Every series of the check exists from registration, so a rate over it starts from
        // zero; the endpoints are the three fixed ones, which bounds the label set.
        let per_endpoint = |endpoint: Endpoint| {
            serves(endpoint)
                .then(|| EndpointLabels { endpoint: endpoint.as_str(), check: name.clone() })
        };
        let status = Endpoint::ALL
            .map(|endpoint| per_endpoint(endpoint).map(|l| self.status.get_or_create_owned(&l)));
        let failures = Endpoint::ALL
            .map(|endpoint| per_endpoint(endpoint).map(|l| self.failures.get_or_create_owned(&l)));
        let labels = CheckLabels { check: name.clone() };
        CheckMetrics { status, failures, duration: self.duration.get_or_create_owned(&labels) }
    }
}
