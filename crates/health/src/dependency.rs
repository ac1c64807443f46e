//! Ready-made checks of the services a process depends on, by how deep they look:
//!
//! | tier | proves | kinds |
//! |---|---|---|
//! | L1 [`Tier::Reachable`] | a TCP connection opens | every kind |
//! | L2 [`Tier::Handshake`] | the peer speaks the protocol | TLS handshake, an HTTP response of any status, an HTTP/2 connection for gRPC |
//! | L3 [`Tier::Answer`] | the peer answers as a healthy one does | HTTP status in the expected range, gRPC health `SERVING`, a custom read (an etcd `get`) |
//!
//! Each becomes a [`Check`] with its own timeout and a cached result: the dependency is
//! probed at most once per period however many probes of `/readyz` arrive, and the last
//! error is returned in between (as the apiserver's etcd check does).

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::check::Check;
use crate::error::CheckError;

/// How deep a dependency check looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    /// L1: a TCP connection opens.
    Reachable,
    /// L2: the protocol's handshake completes.
    Handshake,
    /// L3: the dependency answers as a healthy one does.
    Answer,
}

impl Tier {
    /// `L1`, `L2` or `L3`, as shown in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Reachable => "L1",
            Tier::Handshake => "L2",
            Tier::Answer => "L3",
        }
    }
}

type ReadFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

#[derive(Clone)]
enum Target {
    Tcp {
        addr: String,
    },
    Tls {
        addr: String,
        server_name: String,
        roots: Arc<RootCertStore>,
    },
    Http {
        url: hyper::Uri,
        roots: Option<Arc<RootCertStore>>,
        expect: RangeInclusive<u16>,
    },
    #[cfg(feature = "grpc")]
    Grpc {
        uri: String,
        service: String,
    },
    Custom {
        read: Arc<dyn Fn() -> ReadFuture + Send + Sync>,
    },
}

/// A dependency of the process, checked at a tier; turn it into a [`Check`] with
/// [`into_check`](Self::into_check).
///
/// ```
/// use std::time::Duration;
/// use switchyard_health::{Dependency, Endpoints, HealthRegistry, Tier};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let health = HealthRegistry::default();
/// let origin = Dependency::http("origin", "http://127.0.0.1:8080/healthz")?
///     .expect_status(200..=299)
///     .timeout(Duration::from_millis(500))
///     .period(Duration::from_secs(5));
/// health.register(Endpoints::READYZ, origin.into_check())?;
/// let store = Dependency::tcp("store", "127.0.0.1:2379").tier(Tier::Reachable);
/// health.register(Endpoints::READYZ, store.into_check())?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Dependency {
    name: String,
    target: Target,
    tier: Tier,
    timeout: Duration,
    period: Duration,
}

impl Dependency {
    fn new(name: impl Into<String>, target: Target, tier: Tier) -> Dependency {
        Dependency {
            name: name.into(),
            target,
            tier,
            timeout: Duration::from_secs(1),
            period: Duration::from_secs(5),
        }
    }

    /// A TCP service at `addr` (`host:port`); only L1 applies.
    pub fn tcp(name: impl Into<String>, addr: impl Into<String>) -> Dependency {
        Dependency::new(name, Target::Tcp { addr: addr.into() }, Tier::Reachable)
    }

    /// A TLS service at `addr`, verified for `server_name` against `roots`; L2 by default.
    pub fn tls(
        name: impl Into<String>,
        addr: impl Into<String>,
        server_name: impl Into<String>,
        roots: RootCertStore,
    ) -> Dependency {
        let target = Target::Tls {
            addr: addr.into(),
            server_name: server_name.into(),
            roots: Arc::new(roots),
        };
        Dependency::new(name, target, Tier::Handshake)
    }

    /// An HTTP or HTTPS endpoint (`GET url`); L3 by default, passing on a 2xx status.
    /// HTTPS needs [`roots`](Self::roots).
    pub fn http(name: impl Into<String>, url: &str) -> Result<Dependency, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        match url.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(format!("{url}: the scheme must be http or https")),
        }
        if url.host().is_none() {
            return Err(format!("{url}: no host"));
        }
        let target = Target::Http { url, roots: None, expect: 200..=299 };
        Ok(Dependency::new(name, target, Tier::Answer))
    }

    /// A gRPC server at `uri` (`http://host:port`), asked `grpc.health.v1.Health/Check` for
    /// `service` (`""` for the whole server); L3 by default, passing on `SERVING`.
    #[cfg(feature = "grpc")]
    pub fn grpc(
        name: impl Into<String>,
        uri: impl Into<String>,
        service: impl Into<String>,
    ) -> Dependency {
        let target = Target::Grpc { uri: uri.into(), service: service.into() };
        Dependency::new(name, target, Tier::Answer)
    }

    /// An L3 check of anything the caller can read: `read` resolves to `Err(reason)` when the
    /// answer is not a healthy one (an etcd `get` of a known key, a database `SELECT 1`).
    pub fn custom<F, Fut>(name: impl Into<String>, read: F) -> Dependency
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let read = Arc::new(move || -> ReadFuture { Box::pin(read()) });
        Dependency::new(name, Target::Custom { read }, Tier::Answer)
    }

    /// Trust anchors for HTTPS.
    pub fn roots(mut self, roots: RootCertStore) -> Dependency {
        if let Target::Http { roots: r, .. } = &mut self.target {
            *r = Some(Arc::new(roots));
        }
        self
    }

    /// Statuses that count as healthy at L3 (default `200..=299`).
    pub fn expect_status(mut self, statuses: RangeInclusive<u16>) -> Dependency {
        if let Target::Http { expect, .. } = &mut self.target {
            *expect = statuses;
        }
        self
    }

    /// How deep to look; a tier the kind cannot reach is capped at its deepest (TCP: L1,
    /// TLS: L2).
    pub fn tier(mut self, tier: Tier) -> Dependency {
        self.tier = tier;
        self
    }

    /// The time limit of one probe (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Dependency {
        self.timeout = timeout;
        self
    }

    /// At most one probe per `period` (default 5 s); requests in between get its result.
    pub fn period(mut self, period: Duration) -> Dependency {
        self.period = period;
        self
    }

    /// The tier it will check at, after capping to what its kind can reach.
    pub fn effective_tier(&self) -> Tier {
        let deepest = match self.target {
            Target::Tcp { .. } => Tier::Reachable,
            Target::Tls { .. } => Tier::Handshake,
            _ => Tier::Answer,
        };
        self.tier.min(deepest)
    }

    /// Probes once now, under the timeout, returning the reason of a failure.
    pub async fn probe(&self) -> Result<(), String> {
        let tier = self.effective_tier();
        let run = probe(self.target.clone(), tier);
        match tokio::time::timeout(self.timeout, run).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{}: {e}", tier.as_str())),
            Err(_) => Err(format!("{}: no answer within {:?}", tier.as_str(), self.timeout)),
        }
    }

    /// The cached check: at most one probe per period, each under the timeout.
    pub fn into_check(self) -> Check {
        let (timeout, period) = (self.timeout, self.period);
        let name = self.name.clone();
        let dep = Arc::new(self);
        // The check's own timeout is a little longer than the probe's so the probe's
        // message (which names the tier) is what a timeout reports.
        Check::new(name, move || {
            let dep = Arc::clone(&dep);
            async move { dep.probe().await.map_err(CheckError::new) }
        })
        .timeout(timeout + Duration::from_millis(100))
        .cached(period)
    }
}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency")
            .field("name", &self.name)
            .field("tier", &self.effective_tier())
            .field("timeout", &self.timeout)
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

async fn connect(addr: &str) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

async fn tls_over(
    stream: TcpStream,
    server_name: &str,
    roots: Arc<RootCertStore>,
    alpn: &[&[u8]],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| format!("server name {server_name:?}: {e}"))?;
    TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS handshake with {server_name}: {e}"))
}

async fn probe(target: Target, tier: Tier) -> Result<(), String> {
    match target {
        Target::Tcp { addr } => connect(&addr).await.map(drop),
        Target::Tls { addr, server_name, roots } => {
            let stream = connect(&addr).await?;
            if tier == Tier::Reachable {
                return Ok(());
            }
            tls_over(stream, &server_name, roots, &[]).await.map(drop)
        }
        Target::Http { url, roots, expect } => {
            let host = url.host().unwrap_or_default().trim_matches(['[', ']']).to_owned();
            let https = url.scheme_str() == Some("https");
            let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
            let addr = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            let stream = connect(&addr).await?;
            if tier == Tier::Reachable {
                return Ok(());
            }
            let status = if https {
                let roots = roots.ok_or("HTTPS needs trust anchors (Dependency::roots)")?;
                let tls = tls_over(stream, &host, roots, &[b"http/1.1"]).await?;
                http_get(tls, &url).await?
            } else {
                http_get(stream, &url).await?
            };
            if tier == Tier::Handshake || expect.contains(&status) {
                Ok(())
            } else {
                Err(format!(
                    "GET {url}: status {status}, expected {}-{}",
                    expect.start(),
                    expect.end()
                ))
            }
        }
        #[cfg(feature = "grpc")]
        Target::Grpc { uri, service } => grpc_probe(&uri, &service, tier).await,
        Target::Custom { read } => read().await,
    }
}

/// One HTTP/1.1 GET; the status of the answer.
async fn http_get<S>(io: S, url: &hyper::Uri) -> Result<u16, String>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    let conn = tokio::spawn(conn);
    let authority = url.authority().map(|a| a.as_str()).unwrap_or_default();
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::USER_AGENT, "switchyard-health")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = send.send_request(request).await.map_err(|e| format!("GET {url}: {e}"));
    conn.abort();
    Ok(response?.status().as_u16())
}

#[cfg(feature = "grpc")]
async fn grpc_probe(uri: &str, service: &str, tier: Tier) -> Result<(), String> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let endpoint = tonic::transport::Endpoint::from_shared(uri.to_owned())
        .map_err(|e| format!("invalid URI {uri:?}: {e}"))?;
    if tier == Tier::Reachable {
        let authority = endpoint.uri().authority().map(|a| a.to_string()).unwrap_or_default();
        return connect(&authority).await.map(drop);
    }
    let channel =
        endpoint.connect().await.map_err(|e| format!("HTTP/2 connection to {uri}: {e}"))?;
    if tier == Tier::Handshake {
        return Ok(());
    }
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest { service: service.to_owned() })
        .await
        .map_err(|status| format!("Health/Check: {}: {}", status.code(), status.message()))?;
    match answer.into_inner().status() {
        ServingStatus::Serving => Ok(()),
        other => Err(format!("Health/Check of {service:?}: {}", other.as_str_name())),
    }
}

#[cfg(test)]
mod tests;
