//! `/debug/localize` and `/debug/pick`: what the router would do for a client, and why each
//! candidate it passed over was skipped.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchyard_route::{Decision, DnsRequest, Family, HttpRequest, NodeChoice, RoutingTable};

use super::context::AdminContext;
use super::respond::error_response;

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

// The helpers below return the finished error response, handed straight back by the
// handlers; its size does not matter.

#[allow(clippy::result_large_err)]
fn params(q: Params) -> Result<HashMap<String, String>, Response> {
    q.map(|Query(p)| p)
        .map_err(|e| error_response(StatusCode::BAD_REQUEST, "bad_parameter", &e.body_text()))
}

#[allow(clippy::result_large_err)]
fn ip_param(p: &HashMap<String, String>) -> Result<IpAddr, Response> {
    let raw = p.get("ip").ok_or_else(|| {
        error_response(StatusCode::BAD_REQUEST, "bad_parameter", "parameter `ip` is required")
    })?;
    raw.parse().map_err(|_| {
        error_response(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            &format!("parameter `ip`: {raw:?} is not an IPv4 or IPv6 address"),
        )
    })
}

/// `GET /debug/localize?ip=`: zone, method and matched prefix.
pub async fn localize(State(ctx): State<AdminContext>, q: Params) -> Response {
    let p = match params(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ip = match ip_param(&p) {
        Ok(ip) => ip,
        Err(r) => return r,
    };
    let table = ctx.app.routing.current();
    axum::Json(localization_json(&table, ip)).into_response()
}

fn localization_json(table: &RoutingTable, ip: IpAddr) -> Value {
    let loc = table.localize(ip);
    json!({
        "ip": ip.to_string(),
        "zone": loc.zone.and_then(|z| table.zone_name(z)),
        "method": loc.method.as_str(),
        "matched_prefix_len": loc.matched_prefix_len,
    })
}

/// `GET /debug/pick?host=&ip=&path=[&query=][&dns=A|AAAA]`: the full decision with the
/// reason every skipped candidate was skipped.
pub async fn pick(State(ctx): State<AdminContext>, q: Params) -> Response {
    let p = match params(q) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ip = match ip_param(&p) {
        Ok(ip) => ip,
        Err(r) => return r,
    };
    let Some(host) = p.get("host") else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "parameter `host` is required",
        );
    };
    let table = ctx.app.routing.current();
    let Some(service) = table.service_for_host(host) else {
        return error_response(
            StatusCode::NOT_FOUND,
            "unknown_host",
            &format!("no service serves {host:?}"),
        );
    };
    let result = match p.get("dns").map(|t| t.to_ascii_uppercase()) {
        None => {
            let path = p.get("path").map(String::as_str).unwrap_or("/");
            let query = p.get("query").map(String::as_str).unwrap_or("");
            let req = HttpRequest { service, client_ip: ip, path, query, seed: 0 };
            table.route_http(&req, true)
        }
        Some(t) => {
            let want = match t.as_str() {
                "A" => Family::V4,
                "AAAA" => Family::V6,
                _ => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "bad_parameter",
                        &format!("parameter `dns`: {t:?} is not A or AAAA"),
                    );
                }
            };
            let req = DnsRequest { service, client_ip: ip, qname: host, want, seed: 0 };
            table.route_dns_explained(&req, true)
        }
    };
    let service_name = table.service(service).map(|s| s.name().to_string());
    match result {
        Ok(d) => axum::Json(decision_json(&table, service_name, ip, &d)).into_response(),
        Err(e) => {
            let body = json!({
                "service": service_name,
                "client": localization_json(&table, ip),
                "error": { "code": "no_decision", "message": e.to_string() },
            });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

fn node_json(n: NodeChoice<'_>) -> Value {
    json!({
        "id": n.id,
        "zone": n.zone,
        "ipv4": n.ipv4.map(|a| a.to_string()),
        "ipv6": n.ipv6.map(|a| a.to_string()),
        "hostname": n.hostname,
        "port": n.port,
    })
}

fn decision_json(
    table: &RoutingTable,
    service: Option<String>,
    ip: IpAddr,
    d: &Decision<'_>,
) -> Value {
    let skipped: Vec<Value> = d
        .skipped()
        .iter()
        .map(|s| {
            let mut v = json!({ "zone": s.zone, "node": s.node, "reason": s.reason.as_str() });
            if let switchyard_route::SkipReason::Overloaded { utilization } = s.reason {
                v["utilization"] = json!(utilization);
            }
            v
        })
        .collect();
    json!({
        "service": service,
        "client": localization_json(table, ip),
        "zone": d.zone_name(),
        "zone_source": format!("{:?}", d.zone_source).to_lowercase(),
        "nodes": d.nodes().map(node_json).collect::<Vec<_>>(),
        "alternates": d.alternates().map(node_json).collect::<Vec<_>>(),
        "ttl_seconds": d.ttl_seconds,
        "panic": d.panic,
        "degraded": d.degraded,
        "skipped": skipped,
        "health_version": table.health_version(),
    })
}
