//! The axum adapter: `/livez`, `/readyz`, `/healthz` and `/<endpoint>/<check>` on a router the
//! caller merges or nests into its admin listener.

use std::borrow::Cow;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use axum::response::Response;
use axum::routing::get;

use crate::check::Endpoint;
use crate::registry::HealthRegistry;
use crate::report::Rendered;

/// `Cache-Control` of every health answer, as the apiserver's `WithCacheControl` filter sets
/// it: a cached `ok` would hide the next failure from whoever reads it.
pub const CACHE_CONTROL_VALUE: &str = "no-cache, private";

/// A router serving the three endpoints and their single-check sub-paths (`GET` and `HEAD`).
///
/// Only those paths are routed, so the router merges cleanly with others. `/livez/` (a
/// trailing slash, no check name) is not the endpoint: the apiserver registers exact paths
/// only (`/livez`, `/livez/<check>`) and answers it `404`; so does this router, with the same
/// text as for an unknown check. Every answer, a `405` included, is
/// `Cache-Control: no-cache, private`.
pub fn router(health: HealthRegistry) -> Router {
    let mut router = Router::new();
    for endpoint in Endpoint::ALL {
        router = router
            .route(&format!("/{endpoint}/"), get(|| async { to_response(Rendered::not_found()) }))
            .route(
                &format!("/{endpoint}"),
                get(
                    move |State(health): State<HealthRegistry>, RawQuery(query): RawQuery| async move {
                        let query = crate::report::Query::parse(query.as_deref().unwrap_or(""));
                        to_response(health.evaluate(endpoint, &query).await.render())
                    },
                ),
            )
            .route(
                &format!("/{endpoint}/{{*check}}"),
                get(
                    move |State(health): State<HealthRegistry>,
                          Path(check): Path<String>,
                          RawQuery(query): RawQuery| async move {
                        let query = crate::report::Query::parse(query.as_deref().unwrap_or(""));
                        match health.evaluate_check(endpoint, &check, &query).await {
                            Some(report) => to_response(report.render()),
                            None => to_response(Rendered::not_found()),
                        }
                    },
                ),
            );
    }
    router.with_state(health).layer(axum::middleware::map_response(
        |mut response: Response| async {
            response
                .headers_mut()
                .entry(CACHE_CONTROL)
                .or_insert(HeaderValue::from_static(CACHE_CONTROL_VALUE));
            response
        },
    ))
}

/// Turns a framework-neutral [`Rendered`] into an axum response, with the apiserver's
/// `X-Content-Type-Options: nosniff` and `Cache-Control: no-cache, private`.
pub fn to_response(rendered: Rendered) -> Response {
    let body = match rendered.body {
        Cow::Borrowed(text) => Body::from(text),
        Cow::Owned(text) => Body::from(text),
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(rendered.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(rendered.content_type));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL_VALUE));
    response
}

#[cfg(test)]
mod tests;
