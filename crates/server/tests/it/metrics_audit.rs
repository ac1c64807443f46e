//! `/metrics` as an operator reads it: the standard `process_*` names, DNS query labels by
//! the transport the query really used, a response-time histogram that fills at low traffic,
//! and health-check failures split by endpoint, and both exposition formats checked by the
//! tools operators use (`promtool check metrics` for the text format, the Prometheus Python
//! client's OpenMetrics parser). Driven through the real binary (`switchyard demo`, scraped
//! over HTTP, queried with `dig`) and through the in-process DNS listener.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::common::{Switchyard, get};
use crate::dns_common::{Server, metric_value, status};
use switchyard::dns::DnsConfig;

/// A query for `name` (type `qtype`, class IN, no EDNS) with message id `id`.
pub(crate) fn query_bytes(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    q
}

/// Sends `n` A queries for `name` over UDP one after the other, each after the previous
/// answer arrived; returns how many were answered.
fn udp_queries(server: SocketAddr, name: &str, n: u16) -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(server).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1500];
    let mut answered = 0;
    for id in 0..n {
        sock.send(&query_bytes(id, name, 1)).unwrap();
        if let Ok(len) = sock.recv(&mut buf) {
            assert!(len >= 12 && buf[..2] == id.to_be_bytes(), "reply to query {id}");
            answered += 1;
        }
    }
    answered
}

/// Runs `dig @127.0.0.1 -p port <args>`.
fn dig(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let out = std::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port, "+norec", "+time=5", "+tries=1"])
        .args(args)
        .output()
        .expect("dig (bind9-dnsutils) must be installed: run scripts/setup.sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The transport dig reports having used (`;; SERVER: 127.0.0.1#53(127.0.0.1) (UDP)`).
fn dig_transport(out: &str) -> &str {
    let server = out.lines().find(|l| l.starts_with(";; SERVER:")).unwrap_or("");
    if server.ends_with("(UDP)") {
        "udp"
    } else if server.ends_with("(TCP)") {
        "tcp"
    } else {
        panic!("no transport in dig output:\n{out}")
    }
}

/// The `Accept` header a Prometheus server scrapes with.
const OPENMETRICS: (&str, &str) = (
    "Accept",
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;\
     q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
);

/// Scrapes `/metrics` (as Prometheus does, in OpenMetrics) until `metric{labels}` reaches `at_least` (the server counts an answer
/// just after sending it, so a scrape can precede the count); bounded at ten seconds.
fn scrape_until(sy: &Switchyard, metric: &str, labels: &[&str], at_least: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = get(sy.admin, "/metrics", &[OPENMETRICS]).body;
        let v = metric_value(&text, metric, labels);
        if v >= at_least {
            return text;
        }
        assert!(Instant::now() < deadline, "{metric}{labels:?} stuck at {v} < {at_least}:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sample lines (name and labels, value cut) whose name starts with `prefix`.
fn samples<'t>(text: &'t str, prefix: &str) -> Vec<&'t str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name))
        .collect()
}

#[test]
fn metrics_endpoint_names_and_labels_as_operators_expect() {
    let sy = Switchyard::demo(&["--nodes-per-zone", "2"]);
    let dns = sy.listener("dns");
    sy.wait_status("/readyz", 200, Duration::from_secs(30));

    // dig asks ANY over TCP unless told otherwise (+ignore only stops a TC retry); +notcp
    // sends it over UDP. Each must be counted under the transport dig reports.
    let over_udp = dig(dns.port(), &["+notcp", "+ignore", "video.demo.example", "ANY"]);
    assert_eq!(dig_transport(&over_udp), "udp", "{over_udp}");
    let default_any = dig(dns.port(), &["+ignore", "video.demo.example", "ANY"]);
    assert_eq!(dig_transport(&default_any), "tcp", "{default_any}");

    let answered = udp_queries(dns, "video.demo.example", 50);
    assert_eq!(answered, 50);
    let udp_answers = 1.0 + f64::from(answered);
    let text =
        scrape_until(&sy, "switchyard_dns_response_duration_seconds_count", &[], udp_answers);

    // 1. The CPU counter carries `_total` once, like every Prometheus client library's.
    assert_eq!(samples(&text, "process_cpu"), vec!["process_cpu_seconds_total"], "{text}");
    assert!(text.lines().any(|l| l == "# TYPE process_cpu_seconds counter"), "{text}");
    assert!(!text.contains("_total_total"), "{text}");
    for gauge in ["process_resident_memory_bytes", "process_start_time_seconds"] {
        assert_eq!(samples(&text, gauge), vec![gauge], "{text}");
    }
    // The binary's allocator reports its heap: live bytes below what its resident pages
    // hold, and both below the process's resident memory.
    let heap = |g: &str| metric_value(&text, g, &[]);
    let (allocated, resident) =
        (heap("switchyard_heap_allocated_bytes"), heap("switchyard_heap_resident_bytes"));
    let rss = heap("process_resident_memory_bytes");
    assert!(0.0 < allocated && allocated <= resident && resident <= rss, "{text}");
    assert_eq!(samples(&text, "switchyard_heap_retained_bytes").len(), 1, "{text}");

    // 2. One ANY per transport, each under its own label.
    let any = |transport: &str| {
        let t = format!("transport=\"{transport}\"");
        metric_value(&text, "switchyard_dns_queries_total", &["qtype=\"ANY\"", &t])
    };
    assert_eq!((any("udp"), any("tcp")), (1.0, 1.0), "{text}");

    // 3. At this rate every UDP answer is in the histogram.
    let udp_total = metric_value(&text, "switchyard_dns_queries_total", &["transport=\"udp\""]);
    assert_eq!(udp_total, udp_answers, "{text}");
    assert_eq!(
        metric_value(&text, "switchyard_dns_response_duration_seconds_count", &[]),
        udp_answers,
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("# HELP switchyard_dns_response_duration_seconds ")
            && l.contains("every answer")),
        "{text}"
    );

    // 4. The failure counter has the status gauge's endpoint label.
    for endpoint in ["livez", "readyz", "healthz"] {
        let line = format!(
            "switchyard_health_check_failures_total{{endpoint=\"{endpoint}\",check=\"ping\"}}"
        );
        assert!(
            samples(&text, "switchyard_health_check_failures").contains(&line.as_str()),
            "{text}"
        );
    }
    assert!(!text.contains("switchyard_health_check_failures_total{check="), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_any_is_labelled_udp_and_every_low_rate_answer_is_timed() {
    let s = Server::start(DnsConfig { udp_sockets: 2, ..DnsConfig::default() }).await;
    // A failed assertion must still stop the UDP threads, or the runtime waits on them.
    let _stop_on_panic = s.stop.clone().drop_guard();

    let udp = s.dig(&["+notcp", "+ignore", "video.cdn.example.com", "ANY"]).await;
    assert_eq!(dig_transport(&udp), "udp", "{udp}");
    assert_ne!(status(&udp), "<none>", "{udp}");
    s.wait_metric("switchyard_dns_queries_total", &["qtype=\"ANY\"", "transport=\"udp\""], 1.0)
        .await;
    assert_eq!(
        s.metric("switchyard_dns_queries_total", &["qtype=\"ANY\"", "transport=\"tcp\""]),
        0.0
    );

    let tcp = s.dig(&["+tcp", "video.cdn.example.com", "ANY"]).await;
    assert_eq!(dig_transport(&tcp), "tcp", "{tcp}");
    s.wait_metric("switchyard_dns_queries_total", &["qtype=\"ANY\"", "transport=\"tcp\""], 1.0)
        .await;
    assert_eq!(
        s.metric("switchyard_dns_queries_total", &["qtype=\"ANY\"", "transport=\"udp\""]),
        1.0
    );

    let addr = s.addr;
    let answered =
        tokio::task::spawn_blocking(move || udp_queries(addr, "static.cdn.example.com", 50))
            .await
            .unwrap();
    assert_eq!(answered, 50);
    let udp_answers = 51.0;
    s.wait_metric("switchyard_dns_response_duration_seconds_count", &[], udp_answers).await;
    assert_eq!(s.metric("switchyard_dns_queries_total", &["transport=\"udp\""]), udp_answers);
    // TCP answers are not in the histogram.
    assert_eq!(s.metric("switchyard_dns_response_duration_seconds_count", &[]), udp_answers);
    s.shutdown().await;
}

/// Runs `program` with `text` on its standard input; returns its exit status and output.
fn pipe(program: &str, args: &[&str], text: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed (run scripts/setup.sh): {e}"));
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// Parses OpenMetrics text with the Prometheus Python client's parser (Debian's
/// `python3-prometheus-client`), which refuses what the format does not allow.
const OPENMETRICS_PARSER: &str = "import sys\n\
from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
families = list(text_string_to_metric_families(sys.stdin.read()))\n\
print(len(families), 'families')\n";

#[test]
fn metrics_negotiate_their_format_and_pass_the_standard_checkers() {
    let sy = Switchyard::demo(&["--nodes-per-zone", "2"]);
    let http = sy.listener("http");
    sy.wait_status("/readyz", 200, Duration::from_secs(30));
    // Some traffic, so labelled families have samples.
    let r = get(http, "/v1/route?host=video.demo.example&ip=10.3.0.1", &[]);
    assert_eq!(r.status, 200, "{}", r.body);

    // No Accept (curl): the Prometheus text format 0.0.4, which promtool reads and lints.
    let text = get(sy.admin, "/metrics", &[]);
    assert_eq!(text.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    assert_eq!(text.header("vary"), Some("Accept"));
    let (ok, said) = pipe("promtool", &["check", "metrics"], &text.body);
    assert!(ok, "promtool check metrics:\n{said}\n{}", text.body);
    assert!(!text.body.contains("# EOF"), "{}", text.body);
    assert!(text.body.contains("\n# TYPE switchyard_probes_total counter\n"), "{}", text.body);

    // Prometheus's Accept: OpenMetrics, which the reference parser accepts.
    let open = get(sy.admin, "/metrics", &[OPENMETRICS]);
    assert_eq!(
        open.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
    let (ok, said) = pipe("/usr/bin/python3", &["-c", OPENMETRICS_PARSER], &open.body);
    assert!(ok, "OpenMetrics parser:\n{said}\n{}", open.body);
    // The same samples either way.
    let samples = |t: &str| -> Vec<String> {
        let mut v: Vec<String> = t
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(name, _)| name.to_owned()))
            .filter(|name| {
                name.starts_with("switchyard_probes_total") || name.starts_with("switchyard_build")
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(samples(&text.body), samples(&open.body));

    let build = format!("switchyard_build_info{{version=\"{}\",", env!("CARGO_PKG_VERSION"));
    for body in [&text.body, &open.body] {
        let line = body.lines().find(|l| l.starts_with(&build)).unwrap_or_else(|| panic!("{body}"));
        assert!(line.ends_with("} 1"), "{line}");
    }
}
