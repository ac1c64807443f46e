//! The process-wide Prometheus registry, the `/metrics` encoder, and the standard `process_*`
//! metrics read from `/proc` on each scrape.
//!
//! Switchyard's own metrics live under the `switchyard_` prefix; the process metrics keep the
//! unprefixed names every Prometheus client library exports, so stock dashboards work.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

/// Content type of the OpenMetrics text exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Shared registry. Components register while the server is being wired; scrapes take the
/// read lock only.
#[derive(Clone)]
pub struct Metrics {
    root: Arc<RwLock<Registry>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the process collector already in place.
    pub fn new() -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector::new()));
        Self { root: Arc::new(RwLock::new(root)) }
    }

    /// Runs `f` with the `switchyard_`-prefixed sub-registry.
    pub fn register<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut root = self.root.write().unwrap_or_else(|e| e.into_inner());
        f(root.sub_registry_with_prefix("switchyard"))
    }

    /// Runs `f` with the root registry, for components whose metric names already carry the
    /// `switchyard_` prefix (the probe engine, the health registry): they are used on their own
    /// too, and registering them under [`Metrics::register`] would name them
    /// `switchyard_switchyard_*`.
    pub fn register_prefixed<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut root = self.root.write().unwrap_or_else(|e| e.into_inner());
        f(&mut root)
    }

    /// Encodes every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let root = self.root.read().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &root);
        out
    }
}

/// `process_*` metrics from `/proc/self`.
#[derive(Debug)]
struct ProcessCollector {
    ticks_per_second: f64,
    page_size: f64,
    start_time_seconds: f64,
}

impl ProcessCollector {
    fn new() -> Self {
        // SAFETY: sysconf has no preconditions; it returns -1 for unknown names.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let start = process_start_time().unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
        });
        Self {
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: if page > 0 { page as f64 } else { 4096.0 },
            start_time_seconds: start,
        }
    }
}

/// Fields of `/proc/self/stat` after the command name, which may itself contain spaces.
fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

fn process_start_time() -> Option<f64> {
    // Field 22 (starttime, in clock ticks since boot) is index 19 after the command name.
    let fields = stat_fields()?;
    let start_ticks: f64 = fields.get(19)?.parse().ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let btime: f64 = boot.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(btime + start_ticks / ticks)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(f) = stat_fields() {
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // utime and stime are fields 14 and 15 (indexes 11 and 12 here).
            let cpu = (num(11) + num(12)) / self.ticks_per_second;
            let counter = ConstCounter::new(cpu);
            // The encoder appends the unit and, for a counter, `_total` to the sample name:
            // this family is exposed as `process_cpu_seconds_total`.
            let m = encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent in seconds.",
                Some(&Unit::Seconds),
                counter.metric_type(),
            )?;
            counter.encode(m)?;
            gauge(
                &mut encoder,
                "process_virtual_memory",
                "Virtual memory size in bytes.",
                Some(Unit::Bytes),
                num(20),
            )?;
            gauge(
                &mut encoder,
                "process_resident_memory",
                "Resident memory size in bytes.",
                Some(Unit::Bytes),
                num(21) * self.page_size,
            )?;
            gauge(&mut encoder, "process_threads", "Number of OS threads.", None, num(17))?;
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors.",
                None,
                dir.count() as f64,
            )?;
        }
        gauge(
            &mut encoder,
            "process_start_time",
            "Start time of the process since unix epoch in seconds.",
            Some(Unit::Seconds),
            self.start_time_seconds,
        )
    }
}

/// Encodes one gauge family. `name` excludes the unit, which the encoder appends
/// (`process_start_time` with seconds is exposed as `process_start_time_seconds`).
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    let m = encoder.encode_descriptor(name, help, unit.as_ref(), g.metric_type())?;
    g.encode(m)
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    /// Sample lines (name and labels, without the value) of a family, and its TYPE line.
    fn family<'t>(text: &'t str, family: &str) -> (Vec<&'t str>, Option<&'t str>) {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name))
            .filter(|name| name.starts_with(family))
            .collect();
        let type_line = text.lines().find(|l| l.starts_with(&format!("# TYPE {family} ")));
        (samples, type_line)
    }

    #[test]
    fn process_metrics_keep_the_standard_names() {
        let text = Metrics::new().encode();
        assert_eq!(
            family(&text, "process_cpu_seconds"),
            (vec!["process_cpu_seconds_total"], Some("# TYPE process_cpu_seconds counter")),
            "{text}"
        );
        assert!(!text.contains("_total_total"), "{text}");
        for name in [
            "process_virtual_memory_bytes",
            "process_resident_memory_bytes",
            "process_threads",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            let (samples, type_line) = family(&text, name);
            assert_eq!(samples, vec![name], "{text}");
            assert_eq!(type_line, Some(format!("# TYPE {name} gauge").as_str()), "{text}");
        }
    }
}
