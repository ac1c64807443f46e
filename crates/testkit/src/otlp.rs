//! An OTLP/gRPC trace receiver for tests and benchmarks: the collector's `TraceService`
//! from the published OpenTelemetry protobuf definitions (`opentelemetry-proto`'s generated
//! tonic service), served on `127.0.0.1:0` by a runtime of its own, keeping every span it is
//! sent. Blocking tests read the spans back and wait for them with [`OtlpReceiver::wait`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use tokio_util::sync::CancellationToken;

/// An attribute value as sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// Anything else (arrays, maps, bytes), as its debug text.
    Other(String),
}

impl Value {
    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Other(o) => f.write_str(o),
        }
    }
}

/// One received span, flattened with its resource's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// Trace id, 32 lower-case hex digits.
    pub trace_id: String,
    /// Span id, 16 lower-case hex digits.
    pub span_id: String,
    /// Parent span id, 16 hex digits; empty for a root.
    pub parent_span_id: String,
    /// Span name.
    pub name: String,
    /// `SpanKind` as its protobuf number (1 internal, 2 server, 3 client, ...).
    pub kind: i32,
    /// Start, ns since the Unix epoch.
    pub start_unix_nano: u64,
    /// End, ns since the Unix epoch.
    pub end_unix_nano: u64,
    /// The span's attributes.
    pub attributes: BTreeMap<String, Value>,
    /// Its resource's attributes (`service.name`, ...).
    pub resource: BTreeMap<String, Value>,
    /// Status code (0 unset, 1 ok, 2 error) and message.
    pub status: (i32, String),
}

impl ReceivedSpan {
    /// A string attribute.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    /// An integer attribute.
    pub fn int(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(Value::as_int)
    }
}

/// What the receiver holds.
#[derive(Default)]
struct Store {
    spans: Mutex<Vec<ReceivedSpan>>,
    changed: Condvar,
    requests: AtomicU64,
    received: AtomicU64,
    /// Whether spans are kept, or only counted (a benchmark's long run).
    keep: bool,
}

#[derive(Clone)]
struct Service(Arc<Store>);

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = Vec::new();
        for rs in request.into_inner().resource_spans {
            let resource = rs.resource.map(|r| attributes(r.attributes)).unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    got.push(ReceivedSpan {
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent_span_id: hex(&s.parent_span_id),
                        name: s.name,
                        kind: s.kind,
                        start_unix_nano: s.start_time_unix_nano,
                        end_unix_nano: s.end_time_unix_nano,
                        attributes: attributes(s.attributes),
                        resource: resource.clone(),
                        status: s.status.map(|st| (st.code, st.message)).unwrap_or_default(),
                    });
                }
            }
        }
        self.0.requests.fetch_add(1, Ordering::Relaxed);
        self.0.received.fetch_add(got.len() as u64, Ordering::Relaxed);
        if self.0.keep {
            self.0.spans.lock().unwrap().extend(got);
        }
        self.0.changed.notify_all();
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(kvs: Vec<KeyValue>) -> BTreeMap<String, Value> {
    kvs.into_iter().map(|kv| (kv.key, value(kv.value))).collect()
}

fn value(v: Option<AnyValue>) -> Value {
    match v.and_then(|v| v.value) {
        Some(any_value::Value::StringValue(s)) => Value::Str(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::Int(i),
        Some(any_value::Value::DoubleValue(d)) => Value::Double(d),
        other => Value::Other(format!("{other:?}")),
    }
}

/// A running receiver; stops when dropped.
pub struct OtlpReceiver {
    addr: SocketAddr,
    store: Arc<Store>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Starts a receiver on `127.0.0.1:0`.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("address"))
            .expect("binding the OTLP receiver on 127.0.0.1:0")
    }

    /// Starts a receiver on `addr` (a benchmark's fixed port).
    pub fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        Self::serve(addr, true)
    }

    /// Starts a receiver on `addr` that counts spans without keeping them, for long runs.
    pub fn counting_on(addr: SocketAddr) -> std::io::Result<Self> {
        Self::serve(addr, false)
    }

    fn serve(addr: SocketAddr, keep: bool) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Store { keep, ..Store::default() });
        let stop = CancellationToken::new();
        let service = TraceServiceServer::new(Service(store.clone()));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("otlp-receiver".into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("OTLP receiver runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let incoming = tokio_stream_listener(listener);
                let _ = tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, stopped.cancelled())
                    .await;
            });
        })?;
        Ok(Self { addr, store, stop, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OTLP/gRPC endpoint to configure: `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far (none when only counting).
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.store.spans.lock().unwrap().clone()
    }

    /// Spans received so far, kept or not.
    pub fn received(&self) -> u64 {
        self.store.received.load(Ordering::Relaxed)
    }

    /// Export calls received so far.
    pub fn requests(&self) -> u64 {
        self.store.requests.load(Ordering::Relaxed)
    }

    /// Waits until `done` holds for the spans received, returning them; panics after
    /// `timeout` with what was received.
    pub fn wait(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        let mut spans = self.store.spans.lock().unwrap();
        loop {
            if done(&spans) {
                return spans.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {what} within {timeout:?}; received:\n{:#?}", *spans);
            spans = self.store.changed.wait_timeout(spans, left).unwrap().0;
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The accepted connections of `listener`, as tonic's `serve_with_incoming` takes them.
fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let accepted = l.accept().await.map(|(s, _)| s);
        Some((accepted, l))
    })
}
