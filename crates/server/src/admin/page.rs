//! The status page at `/` of the admin listener: one HTML file, a script and a style sheet,
//! compiled into the binary, that read the same JSON the APIs serve (`/api/v1/fleet`,
//! `/api/v1/nodes/<id>`, `/readyz?verbose&format=json`, `/debug/pick`) and call the
//! token-protected `/admin/*` endpoints for maintenance and drain. Nothing is loaded from
//! elsewhere, so it works on a machine cut off from the internet.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::etag;
use super::respond::error_response;

/// One embedded file.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    etag: LazyLock<HeaderValue>,
}

macro_rules! asset {
    ($file:literal, $content_type:literal) => {
        Asset {
            content_type: $content_type,
            body: include_str!(concat!("page/", $file)),
            etag: LazyLock::new(|| etag::etag_of(include_str!(concat!("page/", $file)).as_bytes())),
        }
    };
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("app.css", "text/css; charset=utf-8");

/// Only this origin's script, style and `fetch` (the page builds every element itself, with
/// no inline script or style), no framing: the page carries the operator controls, so no
/// other site may embed it and trick a click.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve(&headers, &INDEX)
}

/// `GET /ui/<file>`: the page's script and style sheet.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match file.as_str() {
        "app.js" => serve(&headers, &SCRIPT),
        "app.css" => serve(&headers, &STYLE),
        _ => error_response(StatusCode::NOT_FOUND, "not_found", &format!("no file {file:?}")),
    }
}

/// The file with its `ETag` (or a `304`), revalidated on every use so a new binary's page is
/// picked up at once.
fn serve(headers: &HeaderMap, asset: &Asset) -> Response {
    let etag = (*asset.etag).clone();
    let mut response =
        etag::respond_tagged(headers, asset.content_type, etag::REVALIDATE, etag, asset.body);
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    response
}
