//! `/debug/localize` and `/debug/pick`: what the router would do for a client, and why each
//! candidate it passed over was skipped.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchyard_route::{DnsRequest, Family, HttpRequest};

use super::context::AdminContext;
use super::respond::error_response;
use crate::views::{ClientView, DecisionView, ErrorDetail, ErrorView};

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
    axum::Json(ClientView::localize(&table, ip, PARAMETER)).into_response()
}

/// Where the client address of a debug request comes from: always `ip=`.
const PARAMETER: &str = "parameter";

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
    let service_name = table.service(service).map_or("", |s| s.name());
    match result {
        Ok(d) => axum::Json(DecisionView::new(&table, service_name, ip, PARAMETER, &d, true))
            .into_response(),
        Err(e) => {
            let message = e.to_string();
            let body = FailedPick {
                service: service_name,
                client: ClientView::localize(&table, ip, PARAMETER),
                error: ErrorView::new("no_decision", &message).error,
            };
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

/// A `/debug/pick` that found no node: where the client was placed, and why.
#[derive(Serialize)]
struct FailedPick<'a> {
    service: &'a str,
    client: ClientView<'a>,
    error: ErrorDetail<'a>,
}
