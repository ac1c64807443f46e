//! OpenTelemetry traces through the real binary, exported to the test kit's OTLP/gRPC
//! receiver: the span tree of an HTTP decision (joined to the caller's `traceparent`) and of a
//! DNS decision, a probe round, a reload and its trace id in the JSON log; nothing exported
//! when sampling takes nothing or `[telemetry]` is absent; bad `[telemetry]` values refused
//! with their key.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

use switchyard_testkit::otlp::{OtlpReceiver, ReceivedSpan};

use crate::common::{BIN, Switchyard, get, request};

const WAIT: Duration = Duration::from_secs(30);
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
/// A caller that did not sample its trace.
const UNSAMPLED_TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

/// `SpanKind` numbers of the OTLP protobuf.
const SERVER: i32 = 2;
const INTERNAL: i32 = 1;

/// Zone `ams` (coverage network 10.1.0.0/16) with `ams-1`, probed on a port that accepts,
/// and `ams-2`, draining; service `video` answering on HTTP and DNS.
fn config(open_port: u16, telemetry: &str) -> String {
    format!(
        r#"[listen]
http = "127.0.0.1:0"
dns = "127.0.0.1:0"

[lifecycle]
shutdown_delay_seconds = 0

{telemetry}

[probe.default]
check = {{ kind = "tcp" }}
interval_ms = 1000
timeout_ms = 500
connect_timeout_ms = 300

[probe.engine]
first_probe_spread_ms = 0

[inventory]
coverage_zones_file = "czf.json"

[[inventory.zones]]
name = "ams"

[[inventory.nodes]]
id = "ams-1"
zone = "ams"
ipv4 = "127.0.0.1"
port = {open_port}

[[inventory.nodes]]
id = "ams-2"
zone = "ams"
ipv4 = "127.0.0.1"
port = {open_port}
admin = "drain"

[[inventory.services]]
name = "video"
hostnames = ["video.cdn.example"]
zones = ["ams"]
default_zone = "ams"
"#
    )
}

const CZF: &str = r#"{"coverageZones": {"ams": {"network": ["10.1.0.0/16"]}}}"#;

fn telemetry(endpoint: &str, ratio: f64) -> String {
    format!(
        "[telemetry]\notlp_endpoint = \"{endpoint}\"\nsampling_ratio = {ratio}\n\
         service_name = \"switchyard-it\"\n"
    )
}

/// A query for `name` A, with id `id`.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// Sends one A query over UDP; returns the reply's RCODE.
fn ask(dns: SocketAddr, id: u16, name: &str) -> u8 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(&dns_query(id, name), dns).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = sock.recv_from(&mut buf).expect("a DNS reply");
    assert!(n >= 12 && buf[..2] == id.to_be_bytes(), "{:?}", &buf[..n]);
    buf[3] & 0x0f
}

fn find(spans: &[ReceivedSpan], pred: impl Fn(&ReceivedSpan) -> bool) -> Option<&ReceivedSpan> {
    spans.iter().find(|s| pred(s))
}

/// The children of `parent`, by name: each must exist once, lie within the parent's time
/// and be of kind internal.
fn children<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan) -> Vec<&'a ReceivedSpan> {
    let kids: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
        .collect();
    let mut names: Vec<&str> = kids.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["answer", "localize", "select"], "{kids:#?}");
    for k in &kids {
        assert_eq!(k.kind, INTERNAL, "{k:#?}");
        assert!(
            parent.start_unix_nano <= k.start_unix_nano
                && k.start_unix_nano <= k.end_unix_nano
                && k.end_unix_nano <= parent.end_unix_nano,
            "{k:#?} not within {parent:#?}"
        );
    }
    kids
}

fn child<'a>(kids: &[&'a ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    kids.iter().find(|k| k.name == name).unwrap()
}

#[test]
fn decisions_probe_rounds_and_reloads_are_exported_as_span_trees() {
    let receiver = OtlpReceiver::start();
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let text = config(open.local_addr().unwrap().port(), &telemetry(&receiver.endpoint(), 1.0));
    let sy = Switchyard::start_with_files(&text, &[("czf.json", CZF)], &[], &[]);
    sy.wait_status("/readyz", 200, WAIT);
    let http = sy.listener("http");
    let dns = sy.listener("dns");

    // A caller that did not sample: followed, so nothing is exported for it. Sent first, on
    // the same path, so that its spans would be in the queue before the sampled one's.
    let unsampled = format!("00-{UNSAMPLED_TRACE_ID}-{CALLER_SPAN}-00");
    let route = "/v1/route?host=video.cdn.example&ip=10.1.2.3";
    let r = get(http, route, &[("traceparent", &unsampled)]);
    assert_eq!(r.status, 200, "{}", r.body);
    let parent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let r = get(http, route, &[("traceparent", &parent)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"ams-1\""), "{}", r.body);

    // HTTP: `request` is the caller's child, with localize, select and answer below it.
    let spans = receiver.wait("the HTTP request span", WAIT, |s| {
        s.iter().any(|s| s.trace_id == TRACE_ID && s.name == "request")
            && s.iter().filter(|s| s.trace_id == TRACE_ID).count() >= 4
    });
    assert!(
        !spans.iter().any(|s| s.trace_id == UNSAMPLED_TRACE_ID),
        "a trace its caller did not sample was exported"
    );
    let req = find(&spans, |s| s.trace_id == TRACE_ID && s.name == "request").unwrap();
    assert_eq!(req.parent_span_id, CALLER_SPAN, "{req:#?}");
    assert_eq!(req.kind, SERVER);
    assert_eq!(
        req.resource.get("service.name").map(|v| v.to_string()).as_deref(),
        Some("switchyard-it")
    );
    assert_eq!(req.str("switchyard.protocol"), Some("http"));
    assert_eq!(req.str("switchyard.service"), Some("video"));
    assert_eq!(req.str("switchyard.zone"), Some("ams"));
    assert_eq!(req.str("switchyard.node"), Some("ams-1"));
    assert_eq!(req.str("switchyard.localization.method"), Some("coverage_zone"));
    // ams-2 drains: passed over for a reason, and counted.
    assert_eq!(req.int("switchyard.skipped"), Some(1), "{req:#?}");
    assert_eq!(req.str("url.path"), Some("/v1/route"));
    assert_eq!(req.str("client.address"), Some("10.1.2.3"));
    assert_eq!(req.int("http.response.status_code"), Some(200));
    let kids = children(&spans, req);
    let localize = child(&kids, "localize");
    assert_eq!(localize.str("switchyard.localization.method"), Some("coverage_zone"));
    assert_eq!(localize.str("switchyard.localization.zone"), Some("ams"));
    let select = child(&kids, "select");
    assert_eq!(select.str("switchyard.node"), Some("ams-1"));
    assert_eq!(select.int("switchyard.skipped"), Some(1));
    assert!(localize.end_unix_nano <= select.start_unix_nano, "{localize:#?}\n{select:#?}");
    assert!(select.end_unix_nano <= child(&kids, "answer").start_unix_nano);

    // DNS: a root `request` (no caller), the same children; localized by the default zone.
    assert_eq!(ask(dns, 0x5a5a, "video.cdn.example"), 0);
    let spans = receiver.wait("the DNS request span", WAIT, |s| {
        s.iter().any(|s| s.name == "request" && s.str("switchyard.protocol") == Some("dns"))
    });
    let q = find(&spans, |s| s.name == "request" && s.str("switchyard.protocol") == Some("dns"))
        .unwrap();
    let spans = receiver.wait("the DNS decision's children", WAIT, |s| {
        s.iter().filter(|c| c.trace_id == q.trace_id).count() >= 4
    });
    assert!(q.parent_span_id.is_empty(), "{q:#?}");
    assert_eq!(q.str("dns.question.name"), Some("video.cdn.example"));
    assert_eq!(q.str("dns.question.type"), Some("A"));
    assert_eq!(q.str("dns.response_code"), Some("NOERROR"));
    assert_eq!(q.str("switchyard.service"), Some("video"));
    assert_eq!(q.str("switchyard.zone"), Some("ams"));
    assert_eq!(q.str("switchyard.node"), Some("ams-1"));
    assert_eq!(q.str("switchyard.localization.method"), Some("default"));
    assert_eq!(q.int("switchyard.skipped"), Some(1));
    children(&spans, q);

    // A probe round of the node that accepts.
    let spans = receiver.wait("a probe round span", WAIT, |s| {
        s.iter().any(|s| s.name == "probe_round" && s.str("switchyard.node") == Some("ams-1"))
    });
    let round =
        find(&spans, |s| s.name == "probe_round" && s.str("switchyard.node") == Some("ams-1"))
            .unwrap();
    assert_eq!(round.str("switchyard.probe.kind"), Some("tcp"));
    assert_eq!(round.str("switchyard.probe.verdict"), Some("pass"), "{round:#?}");
    assert!(round.start_unix_nano <= round.end_unix_nano);

    // A reload: its span, and its log lines carrying its trace id.
    let r = request(sy.admin, "POST", "/admin/reload", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let spans = receiver.wait("the reload span", WAIT, |s| s.iter().any(|s| s.name == "reload"));
    let reload = find(&spans, |s| s.name == "reload").unwrap();
    assert_eq!(reload.str("switchyard.reload.result"), Some("ok"), "{reload:#?}");
    assert_eq!(reload.int("switchyard.nodes"), Some(2));
    let line = sy.log.wait_for("configuration reloaded", WAIT);
    let log: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(log["trace_id"], reload.trace_id.as_str(), "{line}");
    assert_eq!(log["span_id"], reload.span_id.as_str(), "{line}");
    // Lines outside a traced span carry none.
    let ready = sy.log.wait_for("start-up complete", WAIT);
    assert!(!ready.contains("trace_id"), "{ready}");

    // What was exported is counted.
    let metrics = get(sy.admin, "/metrics", &[]).body;
    let exported = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_telemetry_spans_exported_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_default();
    assert!(exported >= 10.0, "{metrics}");
    drop(open);
}

/// Runs work through an instance (HTTP with an unsampled caller and without one, DNS, a
/// reload, then a request whose caller sampled it when `marker` names its trace), and stops
/// it: once it has exited, whatever it would export has been sent.
fn run_and_stop(telemetry: &str, marker: Option<&str>) {
    let open = TcpListener::bind("127.0.0.1:0").unwrap();
    let text = config(open.local_addr().unwrap().port(), telemetry);
    let mut sy = Switchyard::start_with_files(&text, &[("czf.json", CZF)], &[], &[]);
    sy.wait_status("/readyz", 200, WAIT);
    let (http, dns) = (sy.listener("http"), sy.listener("dns"));
    let route = "/v1/route?host=video.cdn.example&ip=10.1.2.3";
    for i in 0..20u16 {
        assert_eq!(get(http, route, &[]).status, 200);
        let unsampled = format!("00-{UNSAMPLED_TRACE_ID}-{CALLER_SPAN}-00");
        assert_eq!(get(http, route, &[("traceparent", &unsampled)]).status, 200);
        assert_eq!(ask(dns, i, "video.cdn.example"), 0);
    }
    assert_eq!(request(sy.admin, "POST", "/admin/reload", &[], "").status, 200);
    if let Some(trace) = marker {
        // A caller that samples is followed whatever the ratio: the one trace exported.
        let parent = format!("00-{trace}-{CALLER_SPAN}-01");
        assert_eq!(get(http, route, &[("traceparent", &parent)]).status, 200);
    }
    sy.signal("TERM");
    assert!(sy.wait_exit(WAIT).success());
    drop(open);
}

#[test]
fn nothing_is_exported_when_sampling_takes_nothing_or_telemetry_is_off() {
    // Ratio 0: only the trace a caller sampled arrives (a barrier: it is exported after every
    // span that went before it, which would have been queued first); at exit the queue is
    // flushed, and still nothing else came.
    let receiver = OtlpReceiver::start();
    run_and_stop(&telemetry(&receiver.endpoint(), 0.0), Some(TRACE_ID));
    let spans = receiver.spans();
    assert!(!spans.is_empty(), "the sampled caller's trace must arrive");
    let others: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id != TRACE_ID).collect();
    assert!(others.is_empty(), "exported with sampling_ratio = 0: {others:#?}");
    assert_eq!(spans.len(), 4, "{spans:#?}");

    // No [telemetry]: the receiver is never called, not even at exit.
    let idle = OtlpReceiver::start();
    run_and_stop("", Some(TRACE_ID));
    assert_eq!(idle.requests(), 0, "{:#?}", idle.spans());
}

#[test]
fn bad_telemetry_values_are_refused_naming_their_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchyard.toml");
    std::fs::write(
        &path,
        "[telemetry]\notlp_endpoint = \"https://collector:4317\"\nsampling_ratio = 2.0\n\
         service_name = \"\"\nexport_timeout_ms = 0\n",
    )
    .unwrap();
    let out = Command::new(BIN).arg("check-config").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (key, line) in [
        ("telemetry.otlp_endpoint", 2),
        ("telemetry.sampling_ratio", 3),
        ("telemetry.service_name", 4),
        ("telemetry.export_timeout_ms", 5),
    ] {
        assert!(err.contains(&format!("switchyard.toml:{line}:")), "{key} at line {line}: {err}");
        assert!(err.contains(&format!("{key}: ")), "{key}: {err}");
    }
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[telemetry]\nendpoint = \"http://127.0.0.1:4317\"\n").unwrap();
    let out = Command::new(BIN).arg("check-config").arg(&unknown).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("telemetry.endpoint") || err.contains("`endpoint`"), "{err}");
}
