//! Traffic Router's `/crs` API on the admin listener, in its JSON shapes, so tooling written
//! against Traffic Router keeps working. Its concepts map onto Switchyard's: cache group /
//! location = zone, cache = node, delivery service id = service name.
//!
//! Every answer is read from one routing table snapshot and the inventory it was built
//! from, and every "which cache" question is answered by the router's own decision
//! ([`RoutingTable::route_http_deep`]), so the API cannot disagree with the traffic
//! listener. What Switchyard has no equivalent for keeps Traffic Router's default value
//! (federations are "not found", `hashValues` is empty: rendezvous hashing has no ring).
//!
//! Endpoints (all `GET`, `HEAD` too):
//! - `/crs/stats`, `/crs/stats/ip/{ip}` ([`stats`])
//! - `/crs/locations`, `/crs/locations/caches`, `/crs/locations/{location}/caches`
//! - `/crs/coveragezone/caches?deliveryServiceId=&cacheLocationId=` (or `ip=` instead of
//!   `cacheLocationId=`)
//! - `/crs/coveragezone/cachelocation` and `/crs/deepcoveragezone/cachelocation`
//!   `?ip=&deliveryServiceId=`
//! - `/crs/consistenthash/cache/coveragezone` and `/crs/consistenthash/cache/deep/coveragezone`
//!   `?ip=&deliveryServiceId=&requestPath=`
//!
//! Lookups that find nothing answer as Traffic Router does (404, with `{}` from the
//! consistent hash endpoints and an empty body from the others); malformed or missing
//! parameters, unknown services and unknown locations are the admin API's JSON errors.

mod model;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::IpAddr;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use switchyard_route::decision::DeepCaching;
use switchyard_route::{
    Coordinates, Decision, HttpRequest, LocalizationMethod, RoutingTable, ServiceIndex, ZoneSource,
};

use super::context::AdminContext;
use super::respond::error_response;
use model::View;

/// Traffic Router's word for a lookup that found nothing.
const NOT_FOUND: &str = "not found";

/// The `/crs` routes, to merge into the admin router.
pub fn router() -> Router<AdminContext> {
    Router::new()
        .route("/crs/stats", get(stats::stats))
        .route("/crs/stats/ip/{ip}", get(stats::stats_ip))
        .route("/crs/locations", get(locations))
        .route("/crs/locations/caches", get(all_location_caches))
        .route("/crs/locations/{location}/caches", get(location_caches))
        .route("/crs/coveragezone/caches", get(coverage_zone_caches))
        .route("/crs/coveragezone/cachelocation", get(coverage_zone_location))
        .route("/crs/deepcoveragezone/cachelocation", get(deep_coverage_zone_location))
        .route("/crs/consistenthash/cache/coveragezone", get(hash_coverage_zone))
        .route("/crs/consistenthash/cache/deep/coveragezone", get(hash_deep_coverage_zone))
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

// The helpers below return the finished error response, handed straight back by the
// handlers; its size does not matter.

#[allow(clippy::result_large_err)]
fn params(q: Params) -> Result<HashMap<String, String>, Response> {
    q.map(|Query(p)| p).map_err(|e| bad_parameter(&e.body_text()))
}

#[allow(clippy::result_large_err)]
fn parse_ip(name: &str, raw: &str) -> Result<IpAddr, Response> {
    raw.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()).map_err(|_| {
        bad_parameter(&format!("parameter `{name}`: {raw:?} is not an IPv4 or IPv6 address"))
    })
}

#[allow(clippy::result_large_err)]
fn required<'p>(p: &'p HashMap<String, String>, name: &str) -> Result<&'p str, Response> {
    p.get(name)
        .map(String::as_str)
        .ok_or_else(|| bad_parameter(&format!("parameter `{name}` is required")))
}

#[allow(clippy::result_large_err)]
fn service(view: &View<'_>, name: &str) -> Result<ServiceIndex, Response> {
    view.table.service_by_name(name).ok_or_else(|| {
        error_response(
            StatusCode::NOT_FOUND,
            "unknown_service",
            &format!("no delivery service (service) named {name:?}"),
        )
    })
}

fn bad_parameter(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "bad_parameter", message)
}

fn unknown_location(zone: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "unknown_location",
        &format!("no location (zone) {zone:?}"),
    )
}

/// Traffic Router's answer to a lookup that found nothing: 404, empty body.
fn nothing() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// `GET /crs/locations`: every zone, sorted.
async fn locations(State(ctx): State<AdminContext>) -> Response {
    let view = View::new(&ctx.app.routing);
    let mut names: Vec<&str> = view.inventory.spec.zones.iter().map(|z| z.name.as_str()).collect();
    names.sort_unstable();
    axum::Json(json!({ "locations": names })).into_response()
}

/// `GET /crs/locations/caches`: every zone's nodes.
async fn all_location_caches(State(ctx): State<AdminContext>) -> Response {
    let view = View::new(&ctx.app.routing);
    let zones: Map<String, Value> = view
        .inventory
        .spec
        .zones
        .iter()
        .map(|z| {
            let caches: Vec<Value> = view.nodes_in(&z.name).map(|n| view.cache_model(n)).collect();
            (z.name.clone(), Value::Array(caches))
        })
        .collect();
    axum::Json(json!({ "locations": zones })).into_response()
}

/// `GET /crs/locations/{location}/caches`: one zone's nodes.
async fn location_caches(State(ctx): State<AdminContext>, Path(zone): Path<String>) -> Response {
    let view = View::new(&ctx.app.routing);
    if !view.has_zone(&zone) {
        return unknown_location(&zone);
    }
    let caches: Vec<Value> = view.nodes_in(&zone).map(|n| view.cache_model(n)).collect();
    axum::Json(json!({ "caches": caches })).into_response()
}

/// `GET /crs/coveragezone/caches`: the available nodes of a zone the service may use, as a
/// JSON array, or an empty 404 when there are none. The zone is `cacheLocationId=` (as in
/// Traffic Router) or, in its place, the coverage zone of `ip=`; `deliveryServiceId=` is
/// required, as there.
async fn coverage_zone_caches(State(ctx): State<AdminContext>, q: Params) -> Response {
    let view = View::new(&ctx.app.routing);
    let (service, zone) = match service_and_zone(&view, q) {
        Ok(found) => found,
        Err(r) => return r,
    };
    let caches: Vec<Value> = if view.serves(service, &zone) {
        view.nodes_in(&zone).filter(|n| view.available(n)).map(|n| view.cache(n)).collect()
    } else {
        Vec::new()
    };
    if caches.is_empty() {
        return nothing();
    }
    axum::Json(Value::Array(caches)).into_response()
}

/// The service and zone of a `/crs/coveragezone/caches` question.
#[allow(clippy::result_large_err)]
fn service_and_zone(view: &View<'_>, q: Params) -> Result<(ServiceIndex, String), Response> {
    let p = params(q)?;
    let service = service(view, required(&p, "deliveryServiceId")?)?;
    let zone = match (p.get("cacheLocationId"), p.get("ip")) {
        (Some(zone), _) if view.has_zone(zone) => zone.clone(),
        (Some(zone), _) => return Err(unknown_location(zone)),
        (None, Some(raw)) => {
            let loc = view.table.localize(parse_ip("ip", raw)?);
            match loc.zone.and_then(|z| view.table.zone_name(z)) {
                Some(z) if loc.method == LocalizationMethod::CoverageZone => z.to_owned(),
                _ => return Err(nothing()),
            }
        }
        (None, None) => {
            return Err(bad_parameter("parameter `cacheLocationId` or `ip` is required"));
        }
    };
    Ok((service, zone))
}

/// A coverage zone question: `ip`, `deliveryServiceId` and (where asked) `requestPath`.
struct Question {
    ip: IpAddr,
    service: ServiceIndex,
    path: String,
    query: String,
}

impl Question {
    #[allow(clippy::result_large_err)]
    fn parse(view: &View<'_>, q: Params, with_path: bool) -> Result<Self, Response> {
        let p = params(q)?;
        let ip = parse_ip("ip", required(&p, "ip")?)?;
        let service = service(view, required(&p, "deliveryServiceId")?)?;
        let request_path = if with_path { required(&p, "requestPath")? } else { "/" };
        let (path, query) = request_path.split_once('?').unwrap_or((request_path, ""));
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        Ok(Self { ip, service, path, query: query.to_owned() })
    }

    /// The router's HTTP decision, with or without the deep coverage zones whatever the
    /// service says, and a fixed seed so that the same question gets the same answer.
    fn decide<'t>(&self, table: &'t RoutingTable, deep: DeepCaching) -> Option<Decision<'t>> {
        let req = HttpRequest {
            service: self.service,
            client_ip: self.ip,
            path: &self.path,
            query: &self.query,
            seed: 0,
        };
        table.route_http_deep(&req, false, deep).ok()
    }
}

/// A decision the coverage zones made (the localized zone, a backup or a nearest zone; not
/// GeoIP and not the service's default zone), as Traffic Router's coverage zone lookup
/// finds it.
fn by_coverage_zone(d: &Decision<'_>) -> bool {
    d.localization.method == LocalizationMethod::CoverageZone
        && d.zone_source != ZoneSource::Default
}

fn by_deep_coverage_zone(d: &Decision<'_>) -> bool {
    d.localization.method == LocalizationMethod::DeepCoverageZone
}

/// `GET /crs/coveragezone/cachelocation?ip=&deliveryServiceId=`: the zone the coverage
/// zones route the client to for the service, as a `CacheLocation`.
async fn coverage_zone_location(State(ctx): State<AdminContext>, q: Params) -> Response {
    let view = View::new(&ctx.app.routing);
    let q = match Question::parse(&view, q, false) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some(d) = q.decide(&view.table, DeepCaching::Never).filter(by_coverage_zone) else {
        return nothing();
    };
    let zone = d.zone_name();
    let spec = view.inventory.spec.zones.iter().find(|z| z.name == zone);
    let closest = view.table.service(q.service).is_some_and(|s| s.spec().fallback_to_nearest);
    let body = view.cache_location(
        zone,
        view.table.zone_coordinates(d.zone),
        view.nodes_in(zone),
        spec.map(|z| z.backups.as_slice()),
        closest,
    );
    axum::Json(body).into_response()
}

/// `GET /crs/deepcoveragezone/cachelocation?ip=&deliveryServiceId=`: the client's deep
/// coverage zone as a `CacheLocation` named `deep.<zone>` with its caches, when one of them
/// can serve the service.
async fn deep_coverage_zone_location(State(ctx): State<AdminContext>, q: Params) -> Response {
    let view = View::new(&ctx.app.routing);
    let q = match Question::parse(&view, q, false) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let deep =
        q.decide(&view.table, DeepCaching::Always).is_some_and(|d| by_deep_coverage_zone(&d));
    let zone = view.inventory.coverage.deep().and_then(|d| d.lookup(q.ip)).map(|(z, _)| z);
    let (true, Some(zone)) = (deep, zone) else {
        return nothing();
    };
    let at = zone.coordinates.unwrap_or(Coordinates::new(0.0, 0.0));
    let caches = zone.caches.iter().filter_map(|c| view.node(c));
    let body = view.cache_location(&format!("deep.{}", zone.name), Some(at), caches, None, true);
    axum::Json(body).into_response()
}

/// `GET /crs/consistenthash/cache/coveragezone?ip=&deliveryServiceId=&requestPath=`: the
/// node the coverage zones and the content hash choose for this path, as a `Cache`.
async fn hash_coverage_zone(State(ctx): State<AdminContext>, q: Params) -> Response {
    hash(&ctx, q, DeepCaching::Never, by_coverage_zone)
}

/// The same from the client's deep coverage zone's caches.
async fn hash_deep_coverage_zone(State(ctx): State<AdminContext>, q: Params) -> Response {
    hash(&ctx, q, DeepCaching::Always, by_deep_coverage_zone)
}

fn hash(
    ctx: &AdminContext,
    q: Params,
    deep: DeepCaching,
    accept: fn(&Decision<'_>) -> bool,
) -> Response {
    let view = View::new(&ctx.app.routing);
    let q = match Question::parse(&view, q, true) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let decision = q.decide(&view.table, deep).filter(accept);
    match decision.and_then(|d| view.node(d.node().id)) {
        Some(n) => axum::Json(view.cache(n)).into_response(),
        None => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/json")], "{}")
            .into_response(),
    }
}
