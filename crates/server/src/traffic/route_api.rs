//! `GET /v1/route?host=&ip=&path=&explain=`: the routing decision as JSON, for clients and
//! operators that want the answer rather than a redirect.

use std::net::IpAddr;

use axum::http::StatusCode;
use switchyard_route::HttpRequest;

use super::client_ip::{AddrSource, ClientAddr};
use super::errors::ApiError;
use super::query;
use super::request::{Incoming, Shared};
use super::respond::{self, Reply};
use crate::views::DecisionView;

/// The client for localization: `ip=` when given, else the admission layer's address.
pub(super) fn client(req: &Incoming<'_>, q: &str) -> Result<ClientAddr, ApiError> {
    if let Some(ip) = query::get(q, "ip")? {
        let ip = ip.trim().parse::<IpAddr>().map_err(|_| {
            ApiError::bad("ip", format!("{:?} is not an IPv4 or IPv6 address", truncate(&ip)))
        })?;
        return Ok(ClientAddr { ip: ip.to_canonical(), source: AddrSource::Parameter });
    }
    Ok(req.client)
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
    let client = client(req, q)?;
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
    let request = HttpRequest {
        service,
        client_ip: client.ip,
        path: if path.is_empty() { "/" } else { path },
        query: content_query,
        seed: rand::random(),
    };
    let d = shared.decide(name, table.route_http(&request, explain))?;
    let view = DecisionView::new(&table, name, client.ip, client.source.as_str(), &d, explain);
    Ok(respond::json(StatusCode::OK, &view))
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
