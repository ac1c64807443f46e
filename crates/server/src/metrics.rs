//! The process-wide Prometheus registry, the `/metrics` encoder in both exposition formats,
//! `switchyard_build_info`, the standard `process_*` metrics read from `/proc` on each
//! scrape, and the allocator's own figures (`switchyard_heap_*_bytes`) when the binary
//! installs a reader for them ([`report_heap_with`]).
//!
//! Switchyard's own metrics live under the `switchyard_` prefix; the process metrics keep the
//! unprefixed names every Prometheus client library exports, so stock dashboards work.
//!
//! `/metrics` answers OpenMetrics when the `Accept` header asks for it and the Prometheus
//! text format 0.0.4 otherwise, as Prometheus's own client libraries do (client_golang's
//! `expfmt.NegotiateIncludingOpenMetrics`): a scraper asks for OpenMetrics, while `curl` and
//! `promtool check metrics` (which reads 0.0.4 only) get the classic text.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

/// Content type of the OpenMetrics text exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Content type of the Prometheus text exposition format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `switchyard_runtime_tasks`: tasks alive on the main async runtime, at the scrape.
pub const RUNTIME_TASKS: &str = "switchyard_runtime_tasks";

/// `switchyard_build_info{version,profile,target}`: always 1; the labels say what runs.
pub const BUILD_INFO: &str = "switchyard_build";

/// An exposition format of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus text format 0.0.4.
    Text,
}

impl Format {
    /// The format an `Accept` header asks for: its media ranges by falling `q` (ties in
    /// header order), the first one served wins: `application/openmetrics-text` (version
    /// 1.0.0, 0.0.1 or none) or `text/plain` (version 0.0.4 or none). Anything else, and no
    /// header, gets the text format, as in Prometheus's client libraries.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else { return Self::Text };
        let mut ranges: Vec<(f32, Option<Self>)> = accept
            .split(',')
            .map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().unwrap_or("");
                let (mut q, mut version) = (1.0f32, "");
                for param in parts {
                    match param.split_once('=').map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                    {
                        Some((k, v)) if k.eq_ignore_ascii_case("q") => q = v.parse().unwrap_or(0.0),
                        Some((k, v)) if k.eq_ignore_ascii_case("version") => version = v,
                        _ => {}
                    }
                }
                let served = if media.eq_ignore_ascii_case("application/openmetrics-text") {
                    matches!(version, "" | "1.0.0" | "0.0.1").then_some(Self::OpenMetrics)
                } else if media.eq_ignore_ascii_case("text/plain") {
                    matches!(version, "" | "0.0.4").then_some(Self::Text)
                } else {
                    None
                };
                (q, served)
            })
            .filter(|(q, _)| *q > 0.0)
            .collect();
        // Stable: equal weights keep the header's order.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges.into_iter().find_map(|(_, served)| served).unwrap_or(Self::Text)
    }

    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Self::Text => TEXT_CONTENT_TYPE,
        }
    }
}

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
        let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
        let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
        root.register(
            BUILD_INFO,
            "Switchyard build: version, build profile and target",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION").to_owned()),
                ("profile", profile.to_owned()),
                ("target", target),
            ]),
        );
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

    /// Encodes every metric in `format`.
    pub fn encode_as(&self, format: Format) -> String {
        let open = self.encode();
        match format {
            Format::OpenMetrics => open,
            Format::Text => to_text_format(&open),
        }
    }
}

/// Rewrites an OpenMetrics exposition (as `prometheus-client` writes it: `# HELP`, `# TYPE`,
/// `# UNIT`, then the samples of each family) in the Prometheus text format 0.0.4. The two
/// differ in their metadata, not their samples: a 0.0.4 counter family is named with its
/// `_total` and an info family with its `_info` (typed `gauge`), and 0.0.4 has no `# UNIT`,
/// no `# EOF`, no `_created` samples and no exemplars. HELP text escapes only `\\` and `\n`.
pub fn to_text_format(open: &str) -> String {
    let mut out = String::with_capacity(open.len());
    // Family name in the OpenMetrics text -> (type, family name in 0.0.4).
    let mut family: Option<(&str, &str, String)> = None;
    let lines: Vec<&str> = open.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = lines
                .get(i + 1)
                .and_then(|l| l.strip_prefix("# TYPE "))
                .and_then(|t| t.strip_prefix(name))
                .and_then(|t| t.strip_prefix(' '))
                .unwrap_or("unknown");
            let renamed = match kind {
                "counter" => format!("{name}_total"),
                "info" => format!("{name}_info"),
                _ => name.to_owned(),
            };
            out.push_str("# HELP ");
            out.push_str(&renamed);
            out.push(' ');
            out.push_str(&help.replace("\\\"", "\""));
            out.push('\n');
            family = Some((name, kind, renamed));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let renamed = match &family {
                Some((n, _, renamed)) if *n == name => renamed.clone(),
                _ => name.to_owned(),
            };
            let kind = match kind {
                "info" => "gauge",
                "unknown" | "gaugehistogram" | "stateset" => "untyped",
                k => k,
            };
            out.push_str(&format!("# TYPE {renamed} {kind}\n"));
        } else if line.starts_with('#') {
            // `# UNIT`, `# EOF`.
        } else if !line.is_empty() {
            let sample = without_exemplar(line);
            let created = family.as_ref().is_some_and(|(name, kind, _)| {
                matches!(*kind, "counter" | "histogram" | "summary")
                    && sample.strip_prefix(name).is_some_and(|r| r.starts_with("_created"))
            });
            if !created {
                out.push_str(sample);
                out.push('\n');
            }
        }
    }
    out
}

/// A sample line without its exemplar (` # {labels} value`), found after the label set so a
/// `#` inside a label value is left alone.
fn without_exemplar(line: &str) -> &str {
    let after_labels = match line.find('{') {
        Some(open) => {
            let (mut quoted, mut escaped, mut end) = (false, false, line.len());
            for (i, c) in line[open..].char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' if quoted => escaped = true,
                    '"' => quoted = !quoted,
                    '}' if !quoted => {
                        end = open + i;
                        break;
                    }
                    _ => {}
                }
            }
            end
        }
        None => 0,
    };
    match line[after_labels..].find(" # ") {
        Some(at) => &line[..after_labels + at],
        None => line,
    }
}

/// The allocator's view of the heap, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes in live allocations: what the program holds. A leak shows here first, free of
    /// the allocator's page caching.
    pub allocated: u64,
    /// Bytes of the allocator's pages that are resident: live allocations, their
    /// fragmentation, metadata, and freed pages not yet given back.
    pub resident: u64,
    /// Bytes of address space kept mapped for reuse after its pages were given back.
    pub retained: u64,
}

/// Where the heap figures come from: set once, by the binary that chose the allocator.
static HEAP_STATS: OnceLock<fn() -> Option<HeapStats>> = OnceLock::new();

/// Exports `switchyard_heap_allocated_bytes`, `switchyard_heap_resident_bytes` and
/// `switchyard_heap_retained_bytes`, read with `read` at each scrape. The library does not
/// choose the global allocator, so it cannot read its figures itself; the binary that does
/// installs the reader before anything else runs. A second call is ignored.
pub fn report_heap_with(read: fn() -> Option<HeapStats>) {
    let _ = HEAP_STATS.set(read);
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
        // Tasks of the runtime answering the scrape: the main one (admin, prober, DNS over
        // TCP, HTTP traffic unless `http.worker_threads` gives it its own). Read from tokio's
        // stable runtime metrics, so a leak of tasks shows without `tokio_unstable`.
        // Refusals the kernel makes for every listener: a full accept queue turns connection
        // attempts away before the process sees them. The kernel counts them per network
        // namespace only, which in a pod is the pod's.
        let netstat = std::fs::read_to_string("/proc/self/net/netstat").ok();
        if let Some(n) =
            netstat.as_deref().and_then(|t| netstat_value(t, "TcpExt", "ListenOverflows"))
        {
            let counter = ConstCounter::new(n);
            let m = encoder.encode_descriptor(
                LISTEN_OVERFLOWS,
                "Connection attempts the kernel turned away because a listener's accept queue \
                 was full, in this process's network namespace (every listener in it).",
                None,
                counter.metric_type(),
            )?;
            counter.encode(m)?;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            gauge(
                &mut encoder,
                RUNTIME_TASKS,
                "Tasks alive on the main async runtime.",
                None,
                rt.metrics().num_alive_tasks() as f64,
            )?;
        }
        if let Some(heap) = HEAP_STATS.get().and_then(|read| read()) {
            for (name, help, value) in [
                ("switchyard_heap_allocated", "Bytes in live heap allocations.", heap.allocated),
                (
                    "switchyard_heap_resident",
                    "Bytes of heap pages resident in memory, in use or cached by the allocator.",
                    heap.resident,
                ),
                (
                    "switchyard_heap_retained",
                    "Bytes of heap address space kept for reuse, its pages given back.",
                    heap.retained,
                ),
            ] {
                gauge(&mut encoder, name, help, Some(Unit::Bytes), value as f64)?;
            }
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

/// `switchyard_tcp_listen_overflows_total`, read from the kernel at each scrape.
pub const LISTEN_OVERFLOWS: &str = "switchyard_tcp_listen_overflows";

/// The value of `field` in the `group` of a `/proc/net/netstat` (or `/proc/net/snmp`) text:
/// each group is a line of names followed by a line of values, both starting `group:`.
fn netstat_value(text: &str, group: &str, field: &str) -> Option<u64> {
    let mut lines = text.lines().filter_map(|l| l.strip_prefix(group)?.strip_prefix(':'));
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let at = names.split_whitespace().position(|n| n == field);
        if let Some(at) = at {
            return values.split_whitespace().nth(at)?.parse().ok();
        }
    }
    None
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
    use super::{Format, Metrics, netstat_value, to_text_format};

    #[test]
    fn netstat_values_are_found_by_group_and_name() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n\
                    TcpExt: 1 27 31\n\
                    IpExt: InNoRoutes ListenOverflows\n\
                    IpExt: 5 99\n";
        assert_eq!(netstat_value(text, "TcpExt", "ListenOverflows"), Some(27));
        assert_eq!(netstat_value(text, "TcpExt", "ListenDrops"), Some(31));
        assert_eq!(netstat_value(text, "IpExt", "ListenOverflows"), Some(99));
        assert_eq!(netstat_value(text, "TcpExt", "Missing"), None);
        assert_eq!(netstat_value("TcpExt: ListenOverflows\n", "TcpExt", "ListenOverflows"), None);
        let real = std::fs::read_to_string("/proc/self/net/netstat").unwrap();
        assert!(netstat_value(&real, "TcpExt", "ListenOverflows").is_some(), "{real}");
    }

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

    #[test]
    fn accept_headers_choose_the_format_as_client_libraries_do() {
        let cases = [
            (None, Format::Text),
            (Some("*/*"), Format::Text),
            (Some("text/plain"), Format::Text),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            // What Prometheus 2.x sends.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                     version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                Format::OpenMetrics,
            ),
            (
                Some("text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5"),
                Format::Text,
            ),
            (Some("application/openmetrics-text; q=0"), Format::Text),
            (Some("application/openmetrics-text; version=2.0.0"), Format::Text),
            (Some("application/json, Application/OpenMetrics-Text"), Format::OpenMetrics),
        ];
        for (accept, want) in cases {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn the_text_format_names_counter_and_info_families_by_their_samples() {
        let open = "# HELP requests Requests \\\"served\\\".\n# TYPE requests counter\n\
                    requests_total{path=\"/a # b\"} 3 # {trace_id=\"x\"} 1.0\n\
                    requests_created 1.7e9\n\
                    # HELP up_seconds Uptime.\n# TYPE up_seconds gauge\n# UNIT up_seconds seconds\n\
                    up_seconds 5\n# HELP build Build.\n# TYPE build info\nbuild_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            to_text_format(open),
            "# HELP requests_total Requests \"served\".\n# TYPE requests_total counter\n\
             requests_total{path=\"/a # b\"} 3\n\
             # HELP up_seconds Uptime.\n# TYPE up_seconds gauge\nup_seconds 5\n\
             # HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{v=\"1\"} 1\n"
        );
    }

    #[test]
    fn build_info_is_in_both_formats() {
        let m = Metrics::new();
        let sample = format!(
            "switchyard_build_info{{version=\"{}\",profile=\"debug\",",
            env!("CARGO_PKG_VERSION")
        );
        for format in [Format::OpenMetrics, Format::Text] {
            let text = m.encode_as(format);
            assert!(text.lines().any(|l| l.starts_with(&sample) && l.ends_with("} 1")), "{text}");
        }
        let text = m.encode_as(Format::Text);
        assert!(text.contains("# TYPE switchyard_build_info gauge\n"), "{text}");
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    }
}
