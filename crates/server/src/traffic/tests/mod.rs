//! Tests of the traffic front end: pure helpers, in-process router requests, admission.

mod admission;
mod forwarded;
mod helpers;
mod router;

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use switchyard_route::{
    CoverageZones, FleetSpec, HealthState, HealthView, NodeHealth, RoutingTable,
};
use tower::ServiceExt;

use super::{Overload, TrafficConfig, TrafficContext};
use crate::metrics::Metrics;

pub(super) const FLEET: &str = r#"
[[zones]]
name = "east"
backups = ["west"]
[[zones]]
name = "west"
[[zones]]
name = "south"

[[nodes]]
id = "east-1"
zone = "east"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
[[nodes]]
id = "west-1"
zone = "west"
ipv4 = "192.0.2.2"
hostname = "west-1.cdn.example.net"
port = 8080
[[nodes]]
id = "south-1"
zone = "south"
ipv4 = "192.0.2.9"

[[services]]
name = "video"
hostnames = ["video.cdn.example.com", "*.img.example.com"]
ttl_seconds = 60
[[services]]
name = "dead"
hostnames = ["dead.cdn.example.com"]
zones = ["south"]
default_zone = "south"
"#;

pub(super) const CZF: &str = r#"{"coverageZones": {
    "east": {"network": ["198.51.100.0/24"], "network6": ["2001:db8:e::/48"]},
    "west": {"network": ["203.0.113.0/24", "127.0.0.0/8"]}
}}"#;

/// The test fleet with `down` nodes observed down.
pub(super) fn table_with(down: &[&str]) -> RoutingTable {
    let spec: FleetSpec = toml::from_str(FLEET).unwrap();
    let czf = CoverageZones::from_czf_json(CZF).unwrap();
    let mut health = HealthView::new(1).with("south-1", NodeHealth::state(HealthState::Down));
    for id in down {
        health = health.with(*id, NodeHealth::state(HealthState::Down));
    }
    RoutingTable::build(&spec, &czf, None, &health).unwrap()
}

pub(super) struct App {
    pub router: Router,
    pub overload: Overload,
    pub metrics: Metrics,
    pub table: Arc<ArcSwap<RoutingTable>>,
}

pub(super) fn app(config: TrafficConfig) -> App {
    let table = Arc::new(ArcSwap::from_pointee(table_with(&[])));
    let metrics = Metrics::new();
    let (router, overload) = super::router(TrafficContext::new(table.clone()), &config, &metrics);
    App { router, overload, metrics, table }
}

pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// Sends one request from `peer` with `headers` through `router`.
pub(super) async fn send(
    router: &Router,
    method: &str,
    uri: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).unwrap();
    let peer: SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(peer));
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer { status, headers, body }
}

pub(super) async fn get(
    router: &Router,
    uri: &str,
    peer: &str,
    headers: &[(&str, &str)],
) -> Answer {
    send(router, "GET", uri, peer, headers).await
}
