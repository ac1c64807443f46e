//! `/crs/stats` and `/crs/stats/ip/{ip}`: Traffic Router's `StatTracker` answer, tallied from
//! the metrics registry rather than from counters of its own, and where each localization
//! method places an address.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchyard_route::Coordinates;

use super::model::{View, geo_properties, location_properties};
use super::{NOT_FOUND, parse_ip};
use crate::admin::context::AdminContext;

/// Tallies of one service: coverage zone, GeoIP and deep coverage zone answers, misses.
#[derive(Default, Clone, Copy)]
struct Tally {
    cz: u64,
    geo: u64,
    deep_cz: u64,
    miss: u64,
}

/// `GET /crs/stats`: `{"app": {..}, "stats": {..}}`.
///
/// `httpMap` has one entry per service, under its first host name, from
/// `switchyard_http_decisions_total`: coverage zone, GeoIP and deep coverage zone answers
/// as `czCount`, `geoCount` and `deepCzCount`, requests no node could answer as
/// `missCount`; an answer from the service's default zone (Traffic Router's `GEO_DS`, which
/// it does not tally either) counts in `totalHttpCount` only. Unknown hosts are
/// `totalDsMissCount`. The DNS front end counts queries but not per service, so `dnsMap` is
/// empty and only `totalDnsCount` and `averageDnsTime` are filled.
pub(super) async fn stats(State(ctx): State<AdminContext>) -> Response {
    let view = View::new(&ctx.app.routing);
    let text = ctx.app.metrics.encode();
    let decisions = format!("switchyard_{}_total", crate::traffic::metrics::DECISIONS);
    let mut by_service: HashMap<String, Tally> = HashMap::new();
    let (mut total_http, mut ds_miss) = (0u64, 0u64);
    for (labels, value) in samples(&text, &decisions) {
        let n = value as u64;
        let result = label(&labels, "result");
        if result == "unknown_host" {
            ds_miss += n;
            continue;
        }
        total_http += n;
        let t = by_service.entry(label(&labels, "service").to_owned()).or_default();
        match (result, label(&labels, "method")) {
            ("ok", "coverage_zone") => t.cz += n,
            ("ok", "geoip") => t.geo += n,
            ("ok", "deep_coverage_zone") => t.deep_cz += n,
            ("ok", _) => {}
            _ => t.miss += n,
        }
    }
    let mut http_map = Map::new();
    for (_, s) in view.table.services() {
        let key = s.hostnames().first().map_or(s.name(), String::as_str).to_ascii_lowercase();
        let t = by_service.get(label_cut(s.name())).copied().unwrap_or_default();
        http_map.insert(key, tallies(t));
    }
    let http_duration = format!("switchyard_{}", crate::traffic::metrics::REQUEST_DURATION);
    let dns_queries = format!("switchyard_{}_total", crate::dns::metrics::QUERIES);
    let dns_duration = format!("switchyard_{}_seconds", crate::dns::metrics::DURATION);
    let total_dns: f64 = samples(&text, &dns_queries).map(|(_, v)| v).sum();
    let start = samples(&text, "process_start_time_seconds").map(|(_, v)| v).next();
    axum::Json(json!({
        "app": { "name": "switchyard", "version": env!("CARGO_PKG_VERSION") },
        "stats": {
            "dnsMap": {},
            "httpMap": http_map,
            "totalDnsCount": total_dns as u64,
            "totalHttpCount": total_http,
            "totalDsMissCount": ds_miss,
            "appStartTime": start.map_or(0, |s| (s * 1000.0) as u64),
            "averageDnsTime": average_ms(&text, &dns_duration),
            "averageHttpTime": average_ms(&text, &http_duration),
            "updateTracker": {},
        }
    }))
    .into_response()
}

fn tallies(t: Tally) -> Value {
    json!({
        "czCount": t.cz,
        "geoCount": t.geo,
        "deepCzCount": t.deep_cz,
        "missCount": t.miss,
        "dsrCount": 0,
        "errCount": 0,
        "staticRouteCount": 0,
        "fedCount": 0,
        "regionalDeniedCount": 0,
        "regionalAlternateCount": 0,
    })
}

/// `GET /crs/stats/ip/{ip}`: where the coverage zones, GeoIP and the deep coverage zones
/// place an address, each `"not found"` when they do not. Federations do not exist here.
pub(super) async fn stats_ip(State(ctx): State<AdminContext>, Path(raw): Path<String>) -> Response {
    let ip = match parse_ip("ip", &raw) {
        Ok(ip) => ip,
        Err(r) => return r,
    };
    let view = View::new(&ctx.app.routing);
    let coverage = &view.inventory.coverage;
    let by_cz = coverage
        .lookup(ip)
        .and_then(|(zone, _)| view.table.zone_by_name(zone).map(|z| (zone, z)))
        .map(|(zone, z)| location_properties(zone, view.table.zone_coordinates(z)));
    let by_geo = view
        .inventory
        .geo
        .as_ref()
        .and_then(|g| g.locate(ip))
        .map(|hit| Value::Object(geo_properties(Some(hit.coordinates))));
    let by_deep = coverage.deep().and_then(|d| d.lookup(ip)).map(|(zone, _)| {
        // Traffic Router places a deep zone without coordinates at 0, 0.
        let at = zone.coordinates.unwrap_or(Coordinates::new(0.0, 0.0));
        let caches: Vec<&str> =
            zone.caches.iter().filter(|c| view.node(c).is_some()).map(String::as_str).collect();
        json!({
            "properties": location_properties(&format!("deep.{}", zone.name), Some(at)),
            "caches": caches,
        })
    });
    let or_not_found = |v: Option<Value>| v.unwrap_or_else(|| json!(NOT_FOUND));
    axum::Json(json!({
        "requestIp": raw,
        "locationByCoverageZone": or_not_found(by_cz),
        "locationByGeo": or_not_found(by_geo),
        "locationByFederation": NOT_FOUND,
        "locationByDeepCoverageZone": or_not_found(by_deep),
    }))
    .into_response()
}

/// A service name as the decision metric's label holds it (cut at 48 bytes).
fn label_cut(name: &str) -> &str {
    let mut end = name.len().min(48);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The samples of metric `name` in a Prometheus or OpenMetrics text: labels and value.
pub(super) fn samples<'a>(
    text: &'a str,
    name: &'a str,
) -> impl Iterator<Item = (BTreeMap<&'a str, String>, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, value) = match rest.as_bytes().first()? {
            b'{' => {
                let end = rest.rfind('}')?;
                (parse_labels(&rest[1..end])?, &rest[end + 1..])
            }
            b' ' => (BTreeMap::new(), rest),
            _ => return None,
        };
        let value = value.split_whitespace().next()?.parse().ok()?;
        Some((labels, value))
    })
}

/// `a="x",b="y\"z"` into a map, undoing the text format's escapes.
fn parse_labels(s: &str) -> Option<BTreeMap<&str, String>> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        out.insert(key.trim_start_matches(','), value);
        rest = &after[end + 1..];
    }
    Some(out)
}

pub(super) fn label<'a>(labels: &'a BTreeMap<&str, String>, key: &str) -> &'a str {
    labels.get(key).map_or("", String::as_str)
}

/// Mean of a histogram in whole milliseconds (Traffic Router's integer average), 0 when
/// it is empty.
fn average_ms(text: &str, histogram: &str) -> u64 {
    let sum: f64 = samples(text, &format!("{histogram}_sum")).map(|(_, v)| v).sum();
    let count: f64 = samples(text, &format!("{histogram}_count")).map(|(_, v)| v).sum();
    if count > 0.0 { (sum * 1000.0 / count) as u64 } else { 0 }
}
