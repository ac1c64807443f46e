//! `[telemetry]`: OpenTelemetry traces of decisions, probe rounds and reloads, exported over
//! OTLP/gRPC. Off unless `otlp_endpoint` is set; read at start only.

use serde::{Deserialize, Serialize};
use switchyard_config::{Problem, Problems};

/// Where traces go and how many are taken.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector, `http://HOST:PORT` (plaintext gRPC, as a collector's `4317`
    /// receiver listens by default). Default: none, and tracing is off: the front ends then
    /// pay one relaxed atomic load per decision.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// Fraction of root decisions, probe rounds and reloads traced, `0..=1`. An HTTP request
    /// carrying a W3C `traceparent` follows its caller's sampled flag instead while
    /// `parent_based` is on. Default 0.01.
    #[serde(default = "default_ratio")]
    pub sampling_ratio: f64,
    /// Follow a `traceparent`'s sampled flag (OpenTelemetry's `parentbased_traceidratio`).
    /// `false`: the ratio decides for every request, from the caller's trace id when there is
    /// one (so services sampling by the same ratio agree); a traced request still joins the
    /// caller's trace. Default `true`.
    #[serde(default = "yes")]
    pub parent_based: bool,
    /// `service.name` of the exported resource, 1-255 printable ASCII characters. Default
    /// `"switchyard"`.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// Spans waiting for export at most; beyond it a span is dropped and counted in
    /// `switchyard_telemetry_spans_dropped_total`. `1..=1048576`, default 4096.
    #[serde(default = "default_queue")]
    pub max_queued_spans: usize,
    /// Time limit of one export call, ms, `1..=60000`. Default 10000.
    #[serde(default = "default_export_timeout")]
    pub export_timeout_ms: u64,
}

fn default_ratio() -> f64 {
    0.01
}
fn yes() -> bool {
    true
}
fn default_service_name() -> String {
    "switchyard".to_owned()
}
fn default_queue() -> usize {
    4096
}
fn default_export_timeout() -> u64 {
    10_000
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sampling_ratio: default_ratio(),
            parent_based: true,
            service_name: default_service_name(),
            max_queued_spans: default_queue(),
            export_timeout_ms: default_export_timeout(),
        }
    }
}

impl TelemetryConfig {
    /// Whether traces are exported at all.
    pub fn enabled(&self) -> bool {
        self.otlp_endpoint.is_some()
    }

    /// Every problem, paths prefixed with `at`.
    pub fn validate(&self, at: &str) -> Vec<Problem> {
        let mut p = Problems::new(at);
        if let Some(endpoint) = &self.otlp_endpoint
            && let Err(why) = check_endpoint(endpoint)
        {
            p.push("otlp_endpoint", why);
        }
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            p.push("sampling_ratio", "must be a fraction between 0 and 1");
        }
        let name = &self.service_name;
        if name.is_empty() || name.len() > 255 || !name.bytes().all(|b| b.is_ascii_graphic()) {
            p.push("service_name", "must be 1-255 printable ASCII characters, without spaces");
        }
        if !(1..=1 << 20).contains(&self.max_queued_spans) {
            p.push("max_queued_spans", "must be between 1 and 1048576");
        }
        if !(1..=60_000).contains(&self.export_timeout_ms) {
            p.push("export_timeout_ms", "must be between 1 and 60000 ms");
        }
        p.into_vec()
    }
}

/// `http://HOST:PORT`, optionally with a final `/`: what the tonic exporter dials.
fn check_endpoint(text: &str) -> Result<(), String> {
    let uri: axum::http::Uri =
        text.parse().map_err(|e| format!("{text:?} is not a URL ({e}); give http://HOST:PORT"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{text:?}: TLS to the collector is not supported; give http://HOST:PORT (a \
                 collector or agent on the same host or network)"
            ));
        }
        _ => return Err(format!("{text:?} must start with http://")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("{text:?} names no host; give http://HOST:PORT"));
    };
    if authority.host().is_empty() || authority.port_u16().is_none() {
        return Err(format!("{text:?} must name a host and a port, e.g. http://127.0.0.1:4317"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("{text:?}: give only http://HOST:PORT, without a path or query"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::TelemetryConfig;

    fn problems(c: &TelemetryConfig) -> Vec<String> {
        c.validate("telemetry").into_iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn defaults_are_valid_and_off() {
        let c = TelemetryConfig::default();
        assert!(problems(&c).is_empty());
        assert!(!c.enabled());
    }

    #[test]
    fn every_bad_value_names_its_key() {
        let c = TelemetryConfig {
            otlp_endpoint: Some("grpc://collector:4317".into()),
            sampling_ratio: 1.5,
            parent_based: true,
            service_name: "my service".into(),
            max_queued_spans: 0,
            export_timeout_ms: 0,
        };
        let p = problems(&c);
        for key in [
            "telemetry.otlp_endpoint",
            "telemetry.sampling_ratio",
            "telemetry.service_name",
            "telemetry.max_queued_spans",
            "telemetry.export_timeout_ms",
        ] {
            assert!(p.iter().any(|m| m.starts_with(&format!("{key}: "))), "{key}: {p:#?}");
        }
        let nan = TelemetryConfig { sampling_ratio: f64::NAN, ..TelemetryConfig::default() };
        assert_eq!(problems(&nan).len(), 1, "{:?}", problems(&nan));
    }

    #[test]
    fn endpoints_need_http_a_host_and_a_port() {
        for good in ["http://127.0.0.1:4317", "http://collector.example:4317/", "http://[::1]:4317"]
        {
            let c = TelemetryConfig { otlp_endpoint: Some(good.into()), ..Default::default() };
            assert!(problems(&c).is_empty(), "{good}: {:?}", problems(&c));
        }
        for bad in [
            "https://collector:4317",
            "collector:4317",
            "http://collector",
            "http://collector:4317/v1/traces",
            "not a url",
            "",
        ] {
            let c = TelemetryConfig { otlp_endpoint: Some(bad.into()), ..Default::default() };
            let p = problems(&c);
            assert!(p.len() == 1 && p[0].starts_with("telemetry.otlp_endpoint: "), "{bad}: {p:?}");
        }
    }
}
