//! What every traffic handler works with: the state they share, the borrowed view of a
//! request (`Incoming`, from hyper's parse or the fast path's) and the form of its target.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, Uri};
use ipnet::IpNet;
use switchyard_route::{Decision, RouteError, RoutingTable};

use super::client_ip::{self, ClientAddr};
use super::errors::ApiError;
use super::metrics::TrafficMetrics;
use super::respond;
use crate::telemetry::DecisionTrace;
use crate::views::NodeJson;

/// State shared by the handlers.
pub(crate) struct Shared {
    pub(crate) table: Arc<ArcSwap<RoutingTable>>,
    /// Decision inputs, recorded while `switchyard replay record` samples them.
    pub(crate) samples: Arc<crate::sampling::DecisionSampler>,
    pub(crate) metrics: TrafficMetrics,
    pub(crate) trusted: Arc<[IpNet]>,
    /// `http.trust_forwarded`: whether the trusted proxies' `Forwarded` names the client.
    pub(crate) trust_forwarded: bool,
    /// `http.allow_fake_client_ip`: whether `fakeClientIpAddress=` names the client.
    pub(crate) allow_fake_client_ip: bool,
    pub(crate) max_hosts: usize,
    pub(crate) retry_after: u32,
    /// Node objects of the decision answers, for the fleet of the table last answered from.
    pub(crate) node_json: ArcSwap<NodeJson>,
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
    pub(crate) fn of(uri: &Uri) -> Self {
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
    /// The client, after a trusted proxy's `X-MM-Client-IP`, `Forwarded` or
    /// `X-Forwarded-For`.
    pub client: ClientAddr,
    /// Whether the request came over TLS (the HTTPS listener): its scheme is `https`.
    pub tls: bool,
    /// The decision's trace, when it is sampled (`crate::telemetry`).
    pub trace: Option<&'a DecisionTrace>,
}

/// Marks a request the HTTPS listener handed to the router (a request extension).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OverTls;

impl<'a> Incoming<'a> {
    pub(crate) fn from_request(shared: &Shared, req: &'a Request<Body>) -> Self {
        Self {
            readable: matches!(*req.method(), Method::GET | Method::HEAD),
            options: req.method() == Method::OPTIONS,
            target: Target::of(req.uri()),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
            host: respond::request_host(req.uri(), req.headers()),
            client: shared.client(req),
            tls: req.extensions().get::<OverTls>().is_some(),
            trace: None,
        }
    }
}

impl Shared {
    /// The client address the admission layer resolved, or the peer when the router runs
    /// without that layer.
    pub(crate) fn client(&self, req: &Request<Body>) -> ClientAddr {
        if let Some(c) = req.extensions().get::<ClientAddr>() {
            return *c;
        }
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let trust = client_ip::Trust {
            proxies: &self.trusted,
            forwarded: self.trust_forwarded,
            metrics: Some(&self.metrics),
        };
        client_ip::resolve_with(peer, req.headers(), trust)
    }

    /// Node objects for answers from `table`: the cache in place while the inventory stays
    /// the same, else a new one for the new inventory (which replaces it).
    pub(crate) fn node_json(&self, table: &RoutingTable) -> Guard<Arc<NodeJson>> {
        let current = self.node_json.load();
        if current.fits(table) {
            return current;
        }
        let fresh = Arc::new(NodeJson::new(table));
        self.node_json.store(fresh.clone());
        Guard::from_inner(fresh)
    }

    /// Counts the outcome and maps a routing error to its answer.
    pub(crate) fn decide<'t>(
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
