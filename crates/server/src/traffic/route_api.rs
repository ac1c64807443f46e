//! `GET /v1/route?host=&ip=&path=&explain=`: the routing decision as JSON, for clients and
//! operators that want the answer rather than a redirect.

use std::net::IpAddr;

use switchyard_route::HttpRequest;

use super::client_ip::{AddrSource, ClientAddr};
use super::errors::ApiError;
use super::query;
use super::request::{Incoming, Shared};
use super::respond::{self, Reply};
use crate::sampling::Sample;
use crate::telemetry;
use crate::views::DecisionView;

/// Traffic Router's query parameter naming the client to route for, honoured only with
/// `http.allow_fake_client_ip`.
pub(super) const FAKE_CLIENT_IP: &str = "fakeClientIpAddress";

/// The client for localization: `ip=` when given, else [`routed_client`].
pub(super) fn client(shared: &Shared, req: &Incoming<'_>, q: &str) -> Result<ClientAddr, ApiError> {
    if let Some(ip) = query::get(q, "ip")? {
        return Ok(ClientAddr::new(parse_ip("ip", &ip)?, AddrSource::Parameter));
    }
    routed_client(shared, req)
}

/// The client a request is routed for, as Traffic Router decides it: `X-MM-Client-IP` from
/// a trusted proxy (already resolved by admission), else `fakeClientIpAddress=` when
/// `http.allow_fake_client_ip` is on, else the admission layer's address. Costs one flag
/// test when fake addresses are off, and a scan of the query (no allocation) when on.
pub(super) fn routed_client(shared: &Shared, req: &Incoming<'_>) -> Result<ClientAddr, ApiError> {
    if !shared.allow_fake_client_ip || req.client.source == AddrSource::MmClientIp {
        return Ok(req.client);
    }
    match query::get(req.query, FAKE_CLIENT_IP)? {
        Some(ip) => Ok(ClientAddr::new(parse_ip(FAKE_CLIENT_IP, &ip)?, AddrSource::FakeClientIp)),
        None => Ok(req.client),
    }
}

/// An address given in parameter `name`, IPv4-mapped IPv6 taken as IPv4.
fn parse_ip(name: &'static str, value: &str) -> Result<IpAddr, ApiError> {
    let ip = value.trim().parse::<IpAddr>().map_err(|_| {
        ApiError::bad(name, format!("{:?} is not an IPv4 or IPv6 address", truncate(value)))
    })?;
    Ok(ip.to_canonical())
}

/// Cuts client-supplied text echoed in errors to a sane length.
pub(super) fn truncate(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The `/v1/route` answer.
///
/// The host is `host=`; without it (or with it empty), the request's own `Host` when that
/// names a service, so a client that reached the router under a service's name may leave it
/// out. Otherwise the request is a 400 `bad_parameter` for `host`, as on `/d`: a `Host` that
/// names the router itself is not a host the caller asked about, and a 404 for it would
/// blame a name the caller never gave.
pub(super) fn answer(shared: &Shared, req: &Incoming<'_>) -> Result<Reply, ApiError> {
    if !req.readable {
        return Err(ApiError::MethodNotAllowed);
    }
    let q = req.query;
    let host_param = query::get(q, "host")?.filter(|h| !h.is_empty());
    let client = client(shared, req, q)?;
    let path_param = query::get(q, "path")?;
    let full = path_param.as_deref().unwrap_or("/");
    let (path, content_query) = full.split_once('?').unwrap_or((full, ""));
    let explain = query::flag(q, "explain");

    let table = shared.table.load();
    let host = match (&host_param, req.host) {
        (Some(h), _) => h.as_ref(),
        (None, Some(h)) if table.service_for_host(h).is_some() => h,
        (None, header) => return Err(missing_host(header)),
    };
    let Some(service) = table.service_for_host(host) else {
        shared.metrics.decision("", "none", "unknown_host");
        return Err(ApiError::UnknownHost(truncate(host).to_owned()));
    };
    let name = table.service(service).map_or("", |s| s.name());
    let path = if path.is_empty() { "/" } else { path };
    shared.samples.record(|| Some(Sample::http(host, name, client.ip, path, content_query)));
    let request = HttpRequest {
        service,
        client_ip: client.ip,
        path,
        query: content_query,
        seed: rand::random(),
    };
    let d = shared.decide(name, telemetry::route_http(req.trace, &table, &request, explain))?;
    let nodes = shared.node_json(&table);
    let view = DecisionView::new(&table, name, client.ip, client.source.as_str(), &d, explain)
        .with_node_json(&nodes);
    Ok(respond::decision(&view))
}

/// The 400 for a `/v1/route` without a usable host, saying what the `Host` header held.
fn missing_host(header: Option<&str>) -> ApiError {
    let reason = match header {
        Some(h) => {
            format!("missing: give host= (the Host header {:?} names no service)", truncate(h))
        }
        None => "missing: give host= or a Host header naming a service".to_owned(),
    };
    ApiError::bad("host", reason)
}
