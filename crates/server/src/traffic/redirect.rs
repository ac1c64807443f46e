//! Any other request whose `Host` is a service: `302 Found` to the chosen node, keeping path
//! and query, as Traffic Router's HTTP routing does. `?format=json` answers the decision as
//! `/v1/route` does plus its `location`, and `?trred=false` answers `{"locations": [...]}`
//! (the node and its alternates), both as Traffic Router does.
//!
//! `format=json` and `trred=false` are instructions to this router, not part of the content
//! address: they are taken out of the query before routing and out of every location, the
//! other parameters kept as sent and in order, so the locations are those the plain request
//! would be redirected to. So is `fakeClientIpAddress=` when `http.allow_fake_client_ip`
//! is on (the client is then routed as if it were at that address, Traffic Router's test
//! aid); when it is off the parameter is content like any other.
//!
//! The scheme follows the service's `redirect_scheme`: `http` to the node's `port`, `https`
//! to its `https_port`, or by default the scheme the request came over (a client of the
//! HTTPS listener is sent to `https://`), as Traffic Router's delivery-service `protocol`;
//! behind a trusted proxy, the scheme it says the client used (`Forwarded` `proto=`,
//! `X-Forwarded-Proto`).

use std::borrow::Cow;
use std::fmt::Write;
use std::net::IpAddr;

use axum::http::{HeaderValue, StatusCode};
use serde::Serialize;
use switchyard_route::{HttpRequest, NodeChoice, RedirectScheme};

use super::errors::ApiError;
use super::query;
use super::request::{Incoming, Shared};
use super::respond::{self, Reply};
use super::route_api::{FAKE_CLIENT_IP, routed_client, truncate};
use crate::sampling::Sample;
use crate::telemetry;
use crate::views::{DecisionView, address_for};

/// `http://<hostname or address>[:port]<path>[?<query>]`; IPv6 literals in brackets and
/// port 80 left out (RFC 3986 §3.2.2-3.2.3). `None` when the node has no usable address.
pub fn location(n: &NodeChoice, client: IpAddr, path: &str, query: &str) -> Option<String> {
    location_for(n, false, client, path, query)
}

/// [`location`] with the scheme chosen: `https://` to the node's `https_port` (443 left
/// out) when `https`, else `http://` to its `port`.
pub fn location_for(
    n: &NodeChoice,
    https: bool,
    client: IpAddr,
    path: &str,
    query: &str,
) -> Option<String> {
    let mut s = String::with_capacity(25 + path.len() + query.len());
    let (port, default_port) = if https { (n.https_port, 443) } else { (n.port, 80) };
    s.push_str(if https { "https://" } else { "http://" });
    match (&n.hostname, address_for(n, client)) {
        (Some(h), _) => s.push_str(h),
        (None, Some(IpAddr::V6(a))) => write!(s, "[{a}]").ok()?,
        (None, Some(IpAddr::V4(a))) => write!(s, "{a}").ok()?,
        (None, None) => return None,
    }
    if port != default_port {
        write!(s, ":{port}").ok()?;
    }
    s.push_str(if path.is_empty() { "/" } else { path });
    if !query.is_empty() {
        s.push('?');
        s.push_str(query);
    }
    Some(s)
}

#[derive(Serialize)]
struct Locations<'a> {
    locations: &'a [String],
}

/// The `format=json` pair: answer the decision instead of redirecting.
fn is_json(key: &str, value: &str) -> bool {
    key == "format" && value == "json"
}

/// The `trred=false` pair: answer every location instead of redirecting.
fn is_list(key: &str, value: &str) -> bool {
    key == "trred" && value.eq_ignore_ascii_case("false")
}

/// The answer for every path other than `/v1/route` and `/d`.
pub(super) fn answer(shared: &Shared, req: &Incoming<'_>) -> Result<Reply, ApiError> {
    let host = req.host.ok_or_else(|| ApiError::bad("host", "missing or repeated Host header"))?;
    let table = shared.table.load();
    let Some(service) = table.service_for_host(host) else {
        shared.metrics.decision("", "none", "unknown_host");
        return Err(ApiError::UnknownHost(truncate(host).to_owned()));
    };
    let info = table.service(service);
    let name = info.map_or("", |s| s.name());
    let https = match info.map_or(RedirectScheme::default(), |s| s.spec().redirect_scheme) {
        RedirectScheme::Http => false,
        RedirectScheme::Https => true,
        // Behind a proxy that terminates TLS, the scheme the client used is the proxy's word.
        RedirectScheme::Request => req.client.https.unwrap_or(req.tls),
    };
    let client = routed_client(shared, req)?;
    let path = req.path;
    // The first occurrence decides, as for every other parameter.
    let json = query::raw(req.query, "format").is_some_and(|v| is_json("format", v));
    let list = query::raw(req.query, "trred").is_some_and(|v| is_list("trred", v));
    let fake = shared.allow_fake_client_ip && query::raw(req.query, FAKE_CLIENT_IP).is_some();
    let q: Cow<'_, str> = if json || list || fake {
        query::without(req.query, |k, v| {
            is_json(k, v) || is_list(k, v) || (fake && k == FAKE_CLIENT_IP)
        })
    } else {
        Cow::Borrowed(req.query)
    };
    shared.samples.record(|| Some(Sample::http(host, name, client.ip, path, &q)));
    let request =
        HttpRequest { service, client_ip: client.ip, path, query: &q, seed: rand::random() };
    let d = shared.decide(name, telemetry::route_http(req.trace, &table, &request, false))?;
    let no_address = || ApiError::NoEligibleNode { retry_after_seconds: shared.retry_after };
    let target = location_for(&d.node(), https, client.ip, path, &q).ok_or_else(no_address)?;

    if list {
        let all: Vec<String> = d
            .nodes()
            .chain(d.alternates())
            .filter_map(|n| location_for(&n, https, client.ip, path, &q))
            .collect();
        return Ok(respond::json(StatusCode::OK, &Locations { locations: &all }));
    }
    if json {
        let nodes = shared.node_json(&table);
        let answer = DecisionView::new(&table, name, client.ip, client.source.as_str(), &d, false)
            .with_location(&target)
            .with_node_json(&nodes);
        return Ok(respond::decision(&answer));
    }
    let value = HeaderValue::try_from(target)
        .map_err(|_| ApiError::bad("path", "not representable in a Location header"))?;
    Ok(Reply::found(value))
}
