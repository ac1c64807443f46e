use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::{Check, CheckError, Endpoints};

fn health() -> HealthRegistry {
    let health = HealthRegistry::default();
    health.register(Endpoints::ALL, Check::new("config", || async { Ok(()) })).unwrap();
    health
        .register(
            Endpoints::READYZ,
            Check::new("etcd", || async { Err(CheckError::new("no leader")) }),
        )
        .unwrap();
    health
        .register(Endpoints::READYZ, Check::immediate("poststarthook/routes", || Ok(())))
        .unwrap();
    health
}

async fn get(router: &Router, method: Method, uri: &str) -> (StatusCode, HeaderMapLite, String) {
    let response = router
        .clone()
        .oneshot(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = HeaderMapLite {
        content_type: header(&response, CONTENT_TYPE),
        nosniff: header(&response, X_CONTENT_TYPE_OPTIONS),
        cache_control: header(&response, CACHE_CONTROL),
    };
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[derive(Debug, PartialEq)]
struct HeaderMapLite {
    content_type: String,
    nosniff: String,
    cache_control: String,
}

fn header(response: &Response, name: axum::http::HeaderName) -> String {
    response.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

fn text() -> HeaderMapLite {
    HeaderMapLite {
        content_type: "text/plain; charset=utf-8".into(),
        nosniff: "nosniff".into(),
        cache_control: "no-cache, private".into(),
    }
}

#[tokio::test]
async fn serves_the_three_endpoints_with_k8s_headers() {
    let router = router(health());
    assert_eq!(get(&router, Method::GET, "/livez").await, (StatusCode::OK, text(), "ok".into()));
    assert_eq!(
        get(&router, Method::GET, "/healthz?verbose").await,
        (StatusCode::OK, text(), "[+]ping ok\n[+]config ok\nhealthz check passed\n".into())
    );
    assert_eq!(
        get(&router, Method::GET, "/readyz").await,
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            text(),
            "[+]ping ok\n[+]config ok\n[-]etcd failed: reason withheld\n\
             [+]poststarthook/routes ok\nreadyz check failed\n"
                .into()
        )
    );
    assert_eq!(
        get(&router, Method::GET, "/readyz?exclude=etcd&exclude=nope").await,
        (StatusCode::OK, text(), "ok".into())
    );
}

#[tokio::test]
async fn serves_single_checks_and_404s_unknown_ones() {
    let router = router(health());
    assert_eq!(
        get(&router, Method::GET, "/readyz/etcd").await,
        (StatusCode::INTERNAL_SERVER_ERROR, text(), "internal server error: no leader\n".into())
    );
    assert_eq!(
        get(&router, Method::GET, "/readyz/poststarthook/routes").await,
        (StatusCode::OK, text(), "ok".into())
    );
    for uri in ["/readyz/nope", "/livez/etcd", "/metrics"] {
        let (status, _, _) = get(&router, Method::GET, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn json_format_and_head_requests() {
    let router = router(health());
    let (status, headers, body) = get(&router, Method::GET, "/readyz?format=json").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers.content_type, "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["checks"][2]["name"], "etcd");
    assert_eq!(json["checks"][2]["error"], "reason withheld");

    let (status, headers, body) = get(&router, Method::HEAD, "/livez").await;
    assert_eq!((status, headers, body), (StatusCode::OK, text(), String::new()));
    let (status, _, _) = get(&router, Method::POST, "/livez").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn nests_under_a_prefix_and_merges_with_other_routes() {
    let app = Router::new()
        .route("/metrics", axum::routing::get(|| async { "metrics" }))
        .nest("/admin", router(health()));
    assert_eq!(get(&app, Method::GET, "/admin/livez").await, (StatusCode::OK, text(), "ok".into()));
    assert_eq!(
        get(&app, Method::GET, "/admin/readyz/config").await,
        (StatusCode::OK, text(), "ok".into())
    );
    let (status, _, body) = get(&app, Method::GET, "/metrics").await;
    assert_eq!((status, &*body), (StatusCode::OK, "metrics"));
}

#[tokio::test]
async fn a_trailing_slash_is_not_the_endpoint_and_every_answer_is_uncached() {
    let router = router(health());
    for uri in ["/livez/", "/readyz/", "/healthz/", "/livez/config/"] {
        assert_eq!(
            get(&router, Method::GET, uri).await,
            (StatusCode::NOT_FOUND, text(), "404 page not found\n".into()),
            "{uri}"
        );
    }
    let (status, headers, _) = get(&router, Method::POST, "/livez").await;
    assert_eq!(
        (status, &*headers.cache_control),
        (StatusCode::METHOD_NOT_ALLOWED, "no-cache, private")
    );
    let (_, headers, body) = get(&router, Method::GET, "/readyz?format=json").await;
    assert_eq!(headers.cache_control, "no-cache, private", "{body}");
}
