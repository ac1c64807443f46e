//! Which endpoint answers a request, timed and with its error turned into the JSON error
//! answer: the one entry both the fast path and the router's handlers call.

use super::errors::ApiError;
use super::metrics;
use super::request::{Incoming, Shared, Target};
use super::respond::Reply;
use super::{httpdns, redirect, route_api};

/// Answers one request the way the router would: `/v1/route`, `/d`, else a redirect.
pub(crate) fn dispatch(shared: &Shared, req: &Incoming<'_>) -> Reply {
    match req.path {
        "/v1/route" => timed(shared, metrics::Endpoint::Route, req, route_api::answer),
        "/d" => timed(shared, metrics::Endpoint::Httpdns, req, httpdns::answer),
        _ => timed(shared, metrics::Endpoint::Redirect, req, redirect::answer),
    }
}

/// Runs one endpoint's answer, turning its error into the JSON error response, and
/// records how long it took. A target that names no resource never reaches the
/// endpoint: its path (`*`, empty) would otherwise be routed like a content path.
pub(crate) fn timed(
    shared: &Shared,
    endpoint: metrics::Endpoint,
    req: &Incoming<'_>,
    answer: fn(&Shared, &Incoming<'_>) -> Result<Reply, ApiError>,
) -> Reply {
    let start = std::time::Instant::now();
    let resp = match req.target {
        Target::Resource => answer(shared, req),
        Target::Server if req.options => Ok(Reply::server_options()),
        Target::Server => Err(ApiError::BadTarget("the asterisk-form `*` is for OPTIONS only")),
        Target::Unusable => Err(ApiError::BadTarget(
            "give an origin-form path or an http(s) absolute URI; this is not a proxy",
        )),
    }
    .unwrap_or_else(ApiError::into_reply);
    shared.metrics.observe(endpoint, start.elapsed().as_secs_f64());
    resp
}
