//! `GET /v1/route?host=&ip=&path=&explain=`: the routing decision as JSON, for clients and
//! operators that want the answer rather than a redirect.

use std::net::IpAddr;

use axum::http::StatusCode;
use serde::Serialize;
use serde::ser::SerializeSeq;
use switchyard_route::{Decision, HttpRequest, RoutingTable, Skipped, ZoneSource};

use super::client_ip::{AddrSource, ClientAddr};
use super::errors::ApiError;
use super::query;
use super::request::{Incoming, Shared};
use super::respond::{self, NodeView, Reply};

/// A routing decision as JSON: the `/v1/route` answer, and with `location` the
/// `?format=json` answer of the redirect path, so both carry the same decision fields.
#[derive(Serialize)]
pub(super) struct Answer<'a> {
    /// Where the redirect for this request would point.
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    service: &'a str,
    client: ClientView<'a>,
    node: NodeView<'a>,
    zone: &'a str,
    zone_source: &'static str,
    alternates: Nodes<'a, 'a>,
    ttl_seconds: u32,
    panic: bool,
    degraded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<SkippedView<'a>>,
}

impl<'a> Answer<'a> {
    /// The decision `d` of service `name` for `client`; `explain` adds the skipped
    /// candidates (the decision must have been made with explanation on).
    pub fn new(
        table: &'a RoutingTable,
        name: &'a str,
        client: ClientAddr,
        d: &'a Decision<'a>,
        explain: bool,
    ) -> Self {
        Self {
            location: None,
            service: name,
            client: ClientView::new(table, client, d),
            node: NodeView::new(d.node(), client.ip),
            zone: d.zone_name(),
            zone_source: zone_source(d.zone_source),
            alternates: Nodes(d.alternates(), client.ip),
            ttl_seconds: d.ttl_seconds,
            panic: d.panic,
            degraded: d.degraded,
            skipped: explain.then_some(SkippedView(d.skipped())),
        }
    }

    /// The same decision with the redirect's `Location`, for `?format=json`.
    pub fn with_location(self, location: &'a str) -> Self {
        Self { location: Some(location), ..self }
    }
}

/// Where the client was placed.
#[derive(Serialize)]
pub(super) struct ClientView<'a> {
    pub ip: IpAddr,
    pub source: &'static str,
    pub zone: Option<&'a str>,
    pub localization: &'static str,
    pub matched_prefix_len: Option<u8>,
}

impl<'a> ClientView<'a> {
    pub fn new(table: &'a RoutingTable, client: ClientAddr, d: &Decision<'_>) -> Self {
        Self {
            ip: client.ip,
            source: client.source.as_str(),
            zone: d.localization.zone.and_then(|z| table.zone_name(z)),
            localization: d.localization.method.as_str(),
            matched_prefix_len: d.localization.matched_prefix_len,
        }
    }
}

/// Nodes serialized as a JSON array without collecting views first.
pub(super) struct Nodes<'d, 't>(pub switchyard_route::Nodes<'d, 't>, pub IpAddr);

impl Serialize for Nodes<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for n in self.0.clone() {
            seq.serialize_element(&NodeView::new(n, self.1))?;
        }
        seq.end()
    }
}

struct SkippedView<'a>(&'a [Skipped<'a>]);

impl Serialize for SkippedView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct One<'a> {
            zone: &'a str,
            node: Option<&'a str>,
            reason: &'static str,
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for k in self.0 {
            let one = One { zone: k.zone, node: k.node, reason: k.reason.as_str() };
            seq.serialize_element(&one)?;
        }
        seq.end()
    }
}

/// Stable name of a zone source for JSON.
pub(super) fn zone_source(z: ZoneSource) -> &'static str {
    match z {
        ZoneSource::Localized => "localized",
        ZoneSource::Backup => "backup",
        ZoneSource::Nearest => "nearest",
        ZoneSource::Default => "default",
    }
}

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
    Ok(respond::json(StatusCode::OK, &Answer::new(&table, name, client, &d, explain)))
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
