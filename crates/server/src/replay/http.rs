//! Replaying an HTTP decision: `GET /v1/route?host=&ip=&path=` on a pooled keep-alive
//! client, the answer reduced to what decides where the client goes.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::sampling::{ClientKey, Sample};

/// A pooled HTTP/1.1 client for one traffic listener.
#[derive(Clone)]
pub(super) struct HttpTarget {
    addr: SocketAddr,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl HttpTarget {
    pub(super) fn new(addr: SocketAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Self { addr, client }
    }

    /// Sends the sample; the answer is `status` and the chosen node ids (`200 ams-1`), or
    /// `status code` for an error answer (`503 no_eligible_node`).
    pub(super) async fn send(&self, sample: &Sample) -> Result<String, String> {
        let uri = format!("http://{}{}", self.addr, target(sample));
        let resp = self.client.get(uri.parse().map_err(|e| format!("{e}"))?).await;
        let resp = resp.map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.map_err(|e| format!("body: {e}"))?;
        Ok(summary(status, &body.to_bytes()))
    }
}

/// The `/v1/route` request target for a sample.
pub(super) fn target(sample: &Sample) -> String {
    let ip = match sample.client {
        ClientKey::Addr(a) => a,
        ClientKey::Subnet(n) => n.addr(),
    };
    let path = sample.path.as_deref().unwrap_or("/");
    format!(
        "/v1/route?host={}&ip={}&path={}",
        encode(&sample.host),
        encode(&ip.to_string()),
        encode(path)
    )
}

/// What of an answer is compared between targets.
pub(super) fn summary(status: u16, body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if status == 200 {
        let ids: Vec<&str> = v["nodes"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
            .unwrap_or_default();
        format!("{status} {}", ids.join(","))
    } else {
        format!("{status} {}", v["error"]["code"].as_str().unwrap_or("-"))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
