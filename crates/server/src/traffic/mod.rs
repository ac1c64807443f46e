//! HTTP traffic front end: the route API, HTTPDNS, 302 redirects and admission control.
//!
//! [`front_end`] builds it and [`FrontEnd::serve`] runs it on a listener: an HTTP/1.1 fast
//! path ([`fast`]) answers plain `GET`/`HEAD` requests itself and hands every other
//! connection to hyper serving the axum [`router`] (also usable alone, e.g. in tests).
//! Endpoints:
//!
//! - `GET /v1/route?host=&ip=&path=&explain=1`: the decision as JSON ([`route_api`]).
//! - `GET /d?host=&ip=&query=4,6` and `/d?hosts=a,b`: HTTPDNS JSON ([`httpdns`]).
//! - anything else with a service's `Host`: `302` to the chosen node ([`redirect`]).
//! - `OPTIONS *`: `204` with `Allow: GET, HEAD, OPTIONS`, whatever the `Host`.
//!
//! Only a request target naming a resource (origin-form, or absolute-form `http(s)://`,
//! which RFC 9112 §3.2.2 obliges servers to accept) reaches an endpoint; the asterisk-form
//! of any other method, the authority-form and other schemes are a `400
//! bad_request_target`, never a redirect with the target glued onto the node's URL.
//!
//! Handlers read an `Incoming` view and return a [`Reply`], so both paths share them.
//! Errors are JSON `{"error": {"code", "message"}}` with stable codes ([`errors`]);
//! admission control (header/body limits, shedding concurrency limit, per-client rate limit)
//! runs before routing, with the same decisions on both paths ([`admission`]).

pub mod admission;
pub mod client_ip;
pub mod config;
pub(crate) mod dispatch;
pub mod errors;
pub mod fast;
pub mod forwarded;
pub mod httpdns;
pub mod listener;
pub mod metrics;
pub mod query;
pub mod redirect;
pub(crate) mod request;
pub mod respond;
pub mod route_api;
mod stamped;
#[cfg(test)]
mod tests;
mod throttling;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response};
use axum::routing::any;
use switchyard_route::RoutingTable;

use crate::sampling::DecisionSampler;
use crate::views::NodeJson;

use request::{Incoming, Shared};

pub use admission::{AdmissionLayer, Overload};
pub use client_ip::{AddrSource, ClientAddr};
pub use config::TrafficConfig;
pub use errors::ApiError;
pub use fast::FrontEnd;
pub use metrics::TrafficMetrics;
pub use respond::Reply;

/// What the traffic front end reads: the current routing snapshot, swapped by the server on
/// every health change and loaded once per request.
#[derive(Clone)]
pub struct TrafficContext {
    /// The current routing table.
    pub table: Arc<ArcSwap<RoutingTable>>,
    /// Where decision inputs are recorded while someone samples them.
    pub samples: Arc<DecisionSampler>,
}

impl TrafficContext {
    /// A context over `table`, its decisions recorded nowhere.
    pub fn new(table: Arc<ArcSwap<RoutingTable>>) -> Self {
        Self { table, samples: DecisionSampler::new() }
    }

    /// Records decision inputs into `samples` while it records.
    pub fn with_samples(mut self, samples: Arc<DecisionSampler>) -> Self {
        self.samples = samples;
        self
    }
}

/// Builds the traffic router with admission control, registering its metrics in
/// `registry`. Returns the [`Overload`] readiness check to register as `overloaded`.
pub fn router(
    ctx: TrafficContext,
    config: &TrafficConfig,
    registry: &crate::metrics::Metrics,
) -> (Router, Overload) {
    let (front, overload) = front_end(ctx, config, registry);
    (front.router.clone(), overload)
}

/// Builds the traffic front end served by [`FrontEnd::serve`]: the fast path and, for
/// everything else, the router of [`router`]. Registers the metrics in `registry`; returns
/// the [`Overload`] readiness check to register as `overloaded`.
pub fn front_end(
    ctx: TrafficContext,
    config: &TrafficConfig,
    registry: &crate::metrics::Metrics,
) -> (Arc<FrontEnd>, Overload) {
    let metrics = TrafficMetrics::register(registry);
    let (layer, overload) = AdmissionLayer::new(config, metrics.clone());
    let node_json = ArcSwap::from_pointee(NodeJson::new(&ctx.table.load()));
    let shared = Arc::new(Shared {
        table: ctx.table,
        samples: ctx.samples,
        metrics,
        trusted: config.trusted_networks().into(),
        trust_forwarded: config.trust_forwarded,
        allow_fake_client_ip: config.allow_fake_client_ip,
        max_hosts: config.httpdns_max_hosts.max(1) as usize,
        retry_after: config.no_node_retry_after_seconds.max(1),
        node_json,
    });
    let router = Router::new()
        .route("/v1/route", any(handle_route))
        .route("/d", any(handle_httpdns))
        .fallback(handle_redirect)
        .layer(layer.clone())
        .with_state(shared.clone());
    // Request line and header separators on top of the counted header bytes.
    let max_head = config.max_header_bytes as usize + 16 * 1024;
    let idle_timeout = (config.idle_timeout_ms > 0)
        .then(|| std::time::Duration::from_millis(config.idle_timeout_ms));
    let front = FrontEnd { shared, admission: layer, router, max_head, idle_timeout };
    (Arc::new(front), overload)
}

async fn handle_route(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response<Body> {
    traced(&shared, metrics::Endpoint::Route, &req, route_api::answer)
}

async fn handle_httpdns(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response<Body> {
    let incoming = Incoming::from_request(&shared, &req);
    dispatch::timed(&shared, metrics::Endpoint::Httpdns, &incoming, httpdns::answer).into_response()
}

async fn handle_redirect(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response<Body> {
    traced(&shared, metrics::Endpoint::Redirect, &req, redirect::answer)
}

/// An HTTP decision on the hyper path, traced as on the fast path when it is sampled (its
/// spans are built once the response is handed to hyper).
fn traced(
    shared: &Shared,
    endpoint: metrics::Endpoint,
    req: &Request<Body>,
    answer: fn(&Shared, &Incoming<'_>) -> Result<Reply, ApiError>,
) -> Response<Body> {
    let trace = match crate::telemetry::on() {
        false => None,
        true => crate::telemetry::DecisionTrace::http(
            req.headers().get("traceparent").map(|v| v.as_bytes()),
            req.method() == axum::http::Method::HEAD,
            req.uri().path(),
        ),
    };
    let mut incoming = Incoming::from_request(shared, req);
    incoming.trace = trace.as_ref();
    let reply = dispatch::timed(shared, endpoint, &incoming, answer);
    let Some(trace) = trace else { return reply.into_response() };
    trace.answered_http(reply.status.as_u16());
    let response = reply.into_response();
    trace.emit();
    response
}
