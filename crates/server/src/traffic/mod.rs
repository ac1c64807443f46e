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
pub mod errors;
pub mod fast;
pub mod httpdns;
pub mod listener;
pub mod metrics;
pub mod query;
pub mod redirect;
pub mod respond;
pub mod route_api;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Method, Request, Response, Uri};
use axum::routing::any;
use ipnet::IpNet;
use switchyard_route::{Decision, RouteError, RoutingTable};

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
}

impl TrafficContext {
    /// A context over `table`.
    pub fn new(table: Arc<ArcSwap<RoutingTable>>) -> Self {
        Self { table }
    }
}

/// State shared by the handlers.
pub(crate) struct Shared {
    table: Arc<ArcSwap<RoutingTable>>,
    metrics: TrafficMetrics,
    trusted: Arc<[IpNet]>,
    max_hosts: usize,
    retry_after: u32,
}

/// How a request target names what it asks about (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A resource: origin-form `/path?query`, or absolute-form `http(s)://authority/path`
    /// whose path and query are used the same way.
    Resource,
    /// Asterisk-form `*`: the server itself, meaningful for `OPTIONS` only (§3.2.4).
    Server,
    /// Authority-form (a proxy's `CONNECT` target), or absolute-form with a scheme other than
    /// `http`/`https`: nothing this origin server can answer or redirect.
    Unusable,
}

impl Target {
    /// The form of a target hyper parsed. Authority-form has no path; absolute-form keeps
    /// its scheme, also on HTTP/2 where every request carries `:scheme`.
    fn of(uri: &Uri) -> Self {
        let web = |s: &str| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https");
        match uri.path() {
            "*" => Self::Server,
            p if p.starts_with('/') && uri.scheme_str().is_none_or(web) => Self::Resource,
            _ => Self::Unusable,
        }
    }
}

/// What a handler reads of a request, borrowed from hyper's parsed request (the axum
/// router) or from the fast path's own parse ([`fast`]).
pub(crate) struct Incoming<'a> {
    /// `GET` or `HEAD`, the only methods the endpoints answer.
    pub readable: bool,
    /// `OPTIONS`, answered for the asterisk-form target.
    pub options: bool,
    /// The form of the request target; only [`Target::Resource`] reaches an endpoint.
    pub target: Target,
    /// Path, percent-encoded as sent.
    pub path: &'a str,
    /// Raw query string without `?` (empty when none).
    pub query: &'a str,
    /// Host without port: the URI authority, else the one `Host` header.
    pub host: Option<&'a str>,
    /// The client, after trusted `X-Forwarded-For` hops.
    pub client: ClientAddr,
}

impl<'a> Incoming<'a> {
    fn from_request(shared: &Shared, req: &'a Request<Body>) -> Self {
        Self {
            readable: matches!(*req.method(), Method::GET | Method::HEAD),
            options: req.method() == Method::OPTIONS,
            target: Target::of(req.uri()),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
            host: respond::request_host(req.uri(), req.headers()),
            client: shared.client(req),
        }
    }
}

impl Shared {
    /// Answers one request the way the router would: `/v1/route`, `/d`, else a redirect.
    pub(crate) fn dispatch(&self, req: &Incoming<'_>) -> Reply {
        match req.path {
            "/v1/route" => self.timed(metrics::Endpoint::Route, req, route_api::answer),
            "/d" => self.timed(metrics::Endpoint::Httpdns, req, httpdns::answer),
            _ => self.timed(metrics::Endpoint::Redirect, req, redirect::answer),
        }
    }

    /// The client address the admission layer resolved, or the peer when the router runs
    /// without that layer.
    fn client(&self, req: &Request<Body>) -> ClientAddr {
        if let Some(c) = req.extensions().get::<ClientAddr>() {
            return *c;
        }
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        client_ip::resolve(peer, req.headers(), &self.trusted)
    }

    /// Runs one endpoint's answer, turning its error into the JSON error response, and
    /// records how long it took. A target that names no resource never reaches the
    /// endpoint: its path (`*`, empty) would otherwise be routed like a content path.
    fn timed(
        &self,
        endpoint: metrics::Endpoint,
        req: &Incoming<'_>,
        answer: fn(&Shared, &Incoming<'_>) -> Result<Reply, ApiError>,
    ) -> Reply {
        let start = std::time::Instant::now();
        let resp = match req.target {
            Target::Resource => answer(self, req),
            Target::Server if req.options => Ok(Reply::server_options()),
            Target::Server => Err(ApiError::BadTarget("the asterisk-form `*` is for OPTIONS only")),
            Target::Unusable => Err(ApiError::BadTarget(
                "give an origin-form path or an http(s) absolute URI; this is not a proxy",
            )),
        }
        .unwrap_or_else(ApiError::into_reply);
        self.metrics.observe(endpoint, start.elapsed().as_secs_f64());
        resp
    }

    /// Counts the outcome and maps a routing error to its answer.
    fn decide<'t>(
        &self,
        service: &str,
        result: Result<Decision<'t>, RouteError>,
    ) -> Result<Decision<'t>, ApiError> {
        // A decision always carries at least one node.
        match result {
            Ok(d) => {
                self.metrics.decision(service, d.localization.method.as_str(), "ok");
                Ok(d)
            }
            Err(e) => {
                let e = ApiError::from_route(&e, self.retry_after);
                self.metrics.decision(service, "none", e.code());
                Err(e)
            }
        }
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
    let shared = Arc::new(Shared {
        table: ctx.table,
        metrics,
        trusted: config.trusted_networks().into(),
        max_hosts: config.httpdns_max_hosts.max(1) as usize,
        retry_after: config.no_node_retry_after_seconds.max(1),
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
    let incoming = Incoming::from_request(&shared, &req);
    shared.timed(metrics::Endpoint::Route, &incoming, route_api::answer).into_response()
}

async fn handle_httpdns(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response<Body> {
    let incoming = Incoming::from_request(&shared, &req);
    shared.timed(metrics::Endpoint::Httpdns, &incoming, httpdns::answer).into_response()
}

async fn handle_redirect(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response<Body> {
    let incoming = Incoming::from_request(&shared, &req);
    shared.timed(metrics::Endpoint::Redirect, &incoming, redirect::answer).into_response()
}
