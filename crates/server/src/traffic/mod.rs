//! HTTP traffic front end: the route API, HTTPDNS, 302 redirects and admission control.
//!
//! Served as an `axum::Router` (see [`router`]): the caller runs it with
//! `axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())`, so
//! the TCP peer reaches the handlers as `ConnectInfo<SocketAddr>`. Endpoints:
//!
//! - `GET /v1/route?host=&ip=&path=&explain=1`: the decision as JSON ([`route_api`]).
//! - `GET /d?host=&ip=&query=4,6` and `/d?hosts=a,b`: HTTPDNS JSON ([`httpdns`]).
//! - anything else with a service's `Host`: `302` to the chosen node ([`redirect`]).
//!
//! Errors are JSON `{"error": {"code", "message"}}` with stable codes ([`errors`]);
//! admission control (header/body limits, shedding concurrency limit, per-client rate limit)
//! runs before routing ([`admission`]).
//!
//! Serving stays with `axum::serve` rather than a hand-written hyper accept loop: on the
//! benchmark (`bench/http/run.sh`) a `/v1/route` answer costs about the same as a bare 404
//! from the same stack, and an HTTP/1.1-only hyper loop with `TCP_NODELAY` measured the
//! same requests/s as `axum::serve`, so the time goes to HTTP parsing and syscalls, not to
//! routing. Header limits are enforced in the admission layer instead of the parser.

pub mod admission;
pub mod client_ip;
pub mod config;
pub mod errors;
pub mod httpdns;
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
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::routing::any;
use ipnet::IpNet;
use switchyard_route::{Decision, RouteError, RoutingTable};

pub use admission::{AdmissionLayer, Overload};
pub use client_ip::{AddrSource, ClientAddr};
pub use config::TrafficConfig;
pub use errors::ApiError;
pub use metrics::TrafficMetrics;

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

impl Shared {
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
    /// records how long it took.
    fn timed(
        &self,
        endpoint: metrics::Endpoint,
        req: &Request<Body>,
        answer: fn(&Shared, &Request<Body>) -> Result<axum::http::Response<Body>, ApiError>,
    ) -> axum::http::Response<Body> {
        let start = std::time::Instant::now();
        let resp = answer(self, req).unwrap_or_else(ApiError::into_response);
        self.metrics.observe(endpoint, start.elapsed().as_secs_f64());
        resp
    }

    fn read_method(&self, req: &Request<Body>) -> bool {
        matches!(*req.method(), Method::GET | Method::HEAD)
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
        .route("/v1/route", any(route_api::handle))
        .route("/d", any(httpdns::handle))
        .fallback(redirect::handle)
        .layer(layer)
        .with_state(shared);
    (router, overload)
}
