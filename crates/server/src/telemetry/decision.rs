//! The trace of one routing decision (an HTTP request or a DNS query): `request`, with the
//! children `localize`, `select` and `answer`.
//!
//! While a sampled decision runs, only the clock is read and the facts the spans carry are
//! copied; the spans are built by [`DecisionTrace::emit`], which the front ends call once the
//! answer is on its way. `localize` times the client's localization ([`RoutingTable::localize`],
//! the same function the pick starts with); `select` times the routing call, which for a
//! traced decision also lists the skipped candidates (`explain`) so their number can be
//! reported. Attributes on `request`: `switchyard.service`, `switchyard.zone`,
//! `switchyard.localization.method`, `switchyard.node` and `switchyard.skipped` (candidates
//! passed over for a reason: down, draining, overloaded, zone not allowed..., not those merely
//! ranked lower), with the protocol's own (`url.path`, `http.response.status_code`;
//! `dns.question.name`, `dns.question.type`, `dns.response_code`) and `client.address`.

use std::cell::RefCell;
use std::net::IpAddr;
use std::time::{Instant, SystemTime};

use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use switchyard_route::{Decision, DnsRequest, HttpRequest, RouteError, RoutingTable, SkipReason};

use super::sampling::Parent;

/// Which front end made the decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http,
    Dns,
}

/// A sampled decision being recorded. Handlers see it through a shared reference (the
/// request view is shared), hence the cell.
#[derive(Debug)]
pub struct DecisionTrace {
    parent: Option<Parent>,
    protocol: Protocol,
    wall: SystemTime,
    began: Instant,
    steps: RefCell<Steps>,
}

/// What the spans will say.
#[derive(Debug, Default)]
struct Steps {
    localize: Option<(Instant, Instant)>,
    select: Option<(Instant, Instant)>,
    end: Option<Instant>,
    /// On `request`, besides the decision's.
    request: Vec<KeyValue>,
    /// The decision's facts, on `request` and on the step they come from.
    localized: Vec<KeyValue>,
    selected: Vec<KeyValue>,
    /// The routing error's code, when routing found no node.
    error: Option<&'static str>,
    /// An error status for the whole request (HTTP 5xx, DNS SERVFAIL).
    failed: Option<String>,
}

impl DecisionTrace {
    /// An HTTP request's trace when it is sampled: as its caller's `traceparent` says (when
    /// it sent a valid one), else by the ratio. `None` while tracing is off.
    pub fn http(traceparent: Option<&[u8]>, head: bool, path: &str) -> Option<Self> {
        let state = super::state()?;
        let parent = traceparent.and_then(Parent::parse);
        let sampled = match &parent {
            Some(p) => state.sampler.child_of(p),
            None => state.sampler.root(),
        };
        if !sampled {
            return None;
        }
        let trace = Self::start(Protocol::Http, parent, Instant::now());
        trace.steps.borrow_mut().request.extend([
            KeyValue::new("http.request.method", if head { "HEAD" } else { "GET" }),
            KeyValue::new("url.path", path.to_owned()),
        ]);
        Some(trace)
    }

    /// A DNS query's trace when the ratio samples it; `received` is when it arrived.
    pub fn dns(received: Instant, transport: &'static str) -> Option<Self> {
        let state = super::state()?;
        if !state.sampler.root() {
            return None;
        }
        let trace = Self::start(Protocol::Dns, None, received);
        trace.steps.borrow_mut().request.push(KeyValue::new("network.transport", transport));
        Some(trace)
    }

    #[cold]
    fn start(protocol: Protocol, parent: Option<Parent>, began: Instant) -> Self {
        let wall = SystemTime::now() - began.elapsed();
        Self { parent, protocol, wall, began, steps: RefCell::new(Steps::default()) }
    }

    /// Adds an attribute to the `request` span.
    pub fn attribute(&self, kv: KeyValue) {
        self.steps.borrow_mut().request.push(kv);
    }

    /// [`RoutingTable::route_http`], timed in two steps.
    #[cold]
    #[inline(never)]
    pub fn route_http<'t>(
        &self,
        table: &'t RoutingTable,
        req: &HttpRequest<'_>,
    ) -> Result<Decision<'t>, RouteError> {
        self.localize(table, req.service, req.client_ip);
        let began = Instant::now();
        let decided = table.route_http(req, true);
        self.selected(began, &decided);
        decided
    }

    /// [`RoutingTable::route_dns`], timed in two steps. A query for both families (ANY)
    /// records the first decision.
    #[cold]
    #[inline(never)]
    pub fn route_dns<'t>(
        &self,
        table: &'t RoutingTable,
        req: &DnsRequest<'_>,
    ) -> Result<Decision<'t>, RouteError> {
        if self.steps.borrow().select.is_some() {
            return table.route_dns(req);
        }
        self.localize(table, req.service, req.client_ip);
        let began = Instant::now();
        let decided = table.route_dns_explained(req, true);
        self.selected(began, &decided);
        decided
    }

    fn localize(&self, table: &RoutingTable, service: switchyard_route::ServiceIndex, ip: IpAddr) {
        let began = Instant::now();
        let loc = table.localize(ip);
        let ended = Instant::now();
        let mut steps = self.steps.borrow_mut();
        steps.localize = Some((began, ended));
        let name = table.service(service).map_or("", |s| s.name());
        steps.request.push(KeyValue::new("switchyard.service", name.to_owned()));
        steps.request.push(KeyValue::new("client.address", ip.to_string()));
        steps.localized.push(KeyValue::new("switchyard.localization.method", loc.method.as_str()));
        if let Some(zone) = loc.zone.and_then(|z| table.zone_name(z)) {
            steps.localized.push(KeyValue::new("switchyard.localization.zone", zone.to_owned()));
        }
        if let Some(len) = loc.matched_prefix_len {
            steps
                .localized
                .push(KeyValue::new("switchyard.localization.prefix_len", i64::from(len)));
        }
    }

    fn selected(&self, began: Instant, decided: &Result<Decision<'_>, RouteError>) {
        let ended = Instant::now();
        let mut steps = self.steps.borrow_mut();
        steps.select = Some((began, ended));
        match decided {
            Ok(d) => {
                let skipped = d
                    .skipped()
                    .iter()
                    .filter(|s| s.node.is_some() && s.reason != SkipReason::Outranked)
                    .count();
                // The method actually used: a deep coverage zone shows here, not in
                // `localize`, which reads the coverage zones.
                steps.selected.extend([
                    KeyValue::new("switchyard.zone", d.zone_name().to_owned()),
                    KeyValue::new("switchyard.node", d.node().id.to_owned()),
                    KeyValue::new("switchyard.skipped", skipped as i64),
                    KeyValue::new("switchyard.zone_source", d.zone_source.as_str()),
                    KeyValue::new("switchyard.localization.method", d.localization.method.as_str()),
                ]);
                if d.panic {
                    steps.selected.push(KeyValue::new("switchyard.panic", true));
                }
                if d.degraded {
                    steps.selected.push(KeyValue::new("switchyard.degraded", true));
                }
            }
            Err(e) => steps.error = Some(route_error_code(e)),
        }
    }

    /// The HTTP answer is written with `status`.
    pub fn answered_http(&self, status: u16) {
        let mut steps = self.steps.borrow_mut();
        steps.end = Some(Instant::now());
        steps.request.push(KeyValue::new("http.response.status_code", i64::from(status)));
        if status >= 500 {
            steps.failed = Some(format!("HTTP {status}"));
        }
    }

    /// The DNS answer is sent with `rcode` (its name), or the query was dropped (`None`).
    pub fn answered_dns(&self, rcode: Option<&'static str>) {
        let mut steps = self.steps.borrow_mut();
        steps.end = Some(Instant::now());
        match rcode {
            Some(r) => {
                steps.request.push(KeyValue::new("dns.response_code", r));
                if r == "SERVFAIL" {
                    steps.failed = Some("SERVFAIL".to_owned());
                }
            }
            None => steps.request.push(KeyValue::new("dns.dropped", true)),
        }
    }

    /// Builds and ends the spans, with the times recorded; they go to the export queue.
    #[cold]
    #[inline(never)]
    pub fn emit(self) {
        let Some(state) = super::state() else { return };
        let steps = self.steps.into_inner();
        let end = steps.end.unwrap_or_else(Instant::now);
        let at = |i: Instant| self.wall + i.saturating_duration_since(self.began);
        let tracer = &state.tracer;
        let parent = match &self.parent {
            Some(p) => Context::new().with_remote_span_context(p.span_context()),
            None => Context::new(),
        };
        let protocol = match self.protocol {
            Protocol::Http => "http",
            Protocol::Dns => "dns",
        };
        let mut attributes = steps.request;
        attributes.push(KeyValue::new("switchyard.protocol", protocol));
        // The decision's facts go on the request too, where a trace search looks first;
        // the selection's method wins over the localization's (deep coverage zones).
        for kv in steps.localized.iter().chain(&steps.selected) {
            if let Some(old) = attributes.iter_mut().find(|a| a.key == kv.key) {
                *old = kv.clone();
            } else {
                attributes.push(kv.clone());
            }
        }
        if let Some(code) = steps.error {
            attributes.push(KeyValue::new("switchyard.route_error", code));
        }
        let mut root = tracer
            .span_builder("request")
            .with_kind(SpanKind::Server)
            .with_start_time(self.wall)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent);
        if let Some(why) = steps.failed {
            root.set_status(Status::error(why));
        }
        let cx = parent.with_span(root);
        let child = |name: &'static str, (from, to): (Instant, Instant), attrs: Vec<KeyValue>| {
            let mut span = tracer
                .span_builder(name)
                .with_kind(SpanKind::Internal)
                .with_start_time(at(from))
                .with_attributes(attrs)
                .start_with_context(tracer, &cx);
            span.end_with_timestamp(at(to));
        };
        let mut answer_from = self.began;
        if let Some(step) = steps.localize {
            child("localize", step, steps.localized);
            answer_from = step.1;
        }
        if let Some(step) = steps.select {
            let mut attrs = steps.selected;
            if let Some(code) = steps.error {
                attrs.push(KeyValue::new("switchyard.route_error", code));
            }
            child("select", step, attrs);
            answer_from = step.1;
        }
        child("answer", (answer_from, end.max(answer_from)), Vec::new());
        cx.span().end_with_timestamp(at(end));
    }
}

/// The HTTP route call: untraced (one `None` test), or timed step by step.
#[inline(always)]
pub fn route_http<'t>(
    trace: Option<&DecisionTrace>,
    table: &'t RoutingTable,
    req: &HttpRequest<'_>,
    explain: bool,
) -> Result<Decision<'t>, RouteError> {
    match trace {
        None => table.route_http(req, explain),
        Some(t) => t.route_http(table, req),
    }
}

/// The DNS route call: untraced (one `None` test), or timed step by step.
#[inline(always)]
pub fn route_dns<'t>(
    trace: Option<&DecisionTrace>,
    table: &'t RoutingTable,
    req: &DnsRequest<'_>,
) -> Result<Decision<'t>, RouteError> {
    match trace {
        None => table.route_dns(req),
        Some(t) => t.route_dns(table, req),
    }
}

/// Stable names of the routing errors.
fn route_error_code(e: &RouteError) -> &'static str {
    match e {
        RouteError::UnknownService => "unknown_service",
        RouteError::NotLocalized => "not_localized",
        RouteError::NoEligibleNode => "no_eligible_node",
        RouteError::PanicFailClosed => "panic_fail_closed",
        _ => "other",
    }
}
