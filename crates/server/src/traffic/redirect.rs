//! Any other request whose `Host` is a service: `302 Found` to the chosen node, keeping path
//! and query, as Traffic Router's HTTP routing does. `?format=json` answers
//! `{"location": ...}` with 200 instead, and `?trred=false` answers
//! `{"locations": [...]}` (the node and its alternates), both as Traffic Router does.

use std::fmt::Write;
use std::net::IpAddr;

use axum::http::{HeaderValue, StatusCode};
use serde::Serialize;
use switchyard_route::{HttpRequest, NodeChoice};

use super::errors::ApiError;
use super::respond::{self, NodeView, Reply};
use super::route_api::{ClientView, Nodes, truncate, zone_source};
use super::{Incoming, Shared, query};

/// `http://<hostname or address>[:port]<path>[?<query>]`; IPv6 literals in brackets and
/// port 80 left out (RFC 3986 §3.2.2-3.2.3). `None` when the node has no usable address.
pub fn location(n: &NodeChoice, client: IpAddr, path: &str, query: &str) -> Option<String> {
    let mut s = String::with_capacity(24 + path.len() + query.len());
    s.push_str("http://");
    match (&n.hostname, respond::address_for(n, client)) {
        (Some(h), _) => s.push_str(h),
        (None, Some(IpAddr::V6(a))) => write!(s, "[{a}]").ok()?,
        (None, Some(IpAddr::V4(a))) => write!(s, "{a}").ok()?,
        (None, None) => return None,
    }
    if n.port != 80 {
        write!(s, ":{}", n.port).ok()?;
    }
    s.push_str(if path.is_empty() { "/" } else { path });
    if !query.is_empty() {
        s.push('?');
        s.push_str(query);
    }
    Some(s)
}

#[derive(Serialize)]
struct JsonAnswer<'a> {
    location: &'a str,
    service: &'a str,
    client: ClientView<'a>,
    node: NodeView<'a>,
    zone: &'a str,
    zone_source: &'static str,
    alternates: Nodes<'a, 'a>,
    ttl_seconds: u32,
}

#[derive(Serialize)]
struct Locations<'a> {
    locations: &'a [String],
}

/// The answer for every path other than `/v1/route` and `/d`.
pub(super) fn answer(shared: &Shared, req: &Incoming<'_>) -> Result<Reply, ApiError> {
    let host = req.host.ok_or_else(|| ApiError::bad("host", "missing or repeated Host header"))?;
    let table = shared.table.load();
    let Some(service) = table.service_for_host(host) else {
        shared.metrics.decision("", "none", "unknown_host");
        return Err(ApiError::UnknownHost(truncate(host).to_owned()));
    };
    let name = table.service(service).map_or("", |s| s.name());
    let client = req.client;
    let (path, q) = (req.path, req.query);
    let request =
        HttpRequest { service, client_ip: client.ip, path, query: q, seed: rand::random() };
    let d = shared.decide(name, table.route_http(&request, false))?;
    let no_address = || ApiError::NoEligibleNode { retry_after_seconds: shared.retry_after };
    let target = location(&d.node(), client.ip, path, q).ok_or_else(no_address)?;

    if query::raw(q, "trred").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
        let all: Vec<String> = d
            .nodes()
            .chain(d.alternates())
            .filter_map(|n| location(&n, client.ip, path, q))
            .collect();
        return Ok(respond::json(StatusCode::OK, &Locations { locations: &all }));
    }
    if query::raw(q, "format") == Some("json") {
        let answer = JsonAnswer {
            location: &target,
            service: name,
            client: ClientView::new(&table, client, &d),
            node: NodeView::new(d.node(), client.ip),
            zone: d.zone_name(),
            zone_source: zone_source(d.zone_source),
            alternates: Nodes(d.alternates(), client.ip),
            ttl_seconds: d.ttl_seconds,
        };
        return Ok(respond::json(StatusCode::OK, &answer));
    }
    let value = HeaderValue::try_from(target)
        .map_err(|_| ApiError::bad("path", "not representable in a Location header"))?;
    Ok(Reply::found(value))
}
