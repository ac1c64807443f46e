use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::*;
use crate::{Endpoints, HealthRegistry};

/// What a test server does with a connection.
#[derive(Clone, Copy)]
enum Serve {
    /// Answers every request head with this status.
    Status(u16),
    /// Reads and never answers.
    Silent,
}

/// A loopback HTTP/1.1 server (over TLS when `tls` is given) counting its connections.
async fn server(serve: Serve, tls: Option<TlsAcceptor>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(stream).await {
                            answer(s, serve).await;
                        }
                    }
                    None => answer(stream, serve).await,
                }
            });
        }
    });
    (addr, accepted)
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, serve: Serve) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    match serve {
        Serve::Status(code) => {
            let reply = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
            let _ = s.write_all(reply.as_bytes()).await;
            let _ = s.flush().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Serve::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
    }
}

/// A self-signed certificate for `localhost`, as a server acceptor and the client's roots.
fn certificate() -> (TlsAcceptor, RootCertStore) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    (TlsAcceptor::from(Arc::new(config)), roots)
}

/// A loopback port nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn l1_tcp_reachable_or_refused() {
    let (addr, _) = server(Serve::Status(200), None).await;
    assert_eq!(Dependency::tcp("db", &addr).probe().await, Ok(()));
    let closed = closed_port().await;
    let err = Dependency::tcp("db", &closed).probe().await.unwrap_err();
    assert!(err.starts_with(&format!("L1: connect {closed}:")), "{err}");
}

#[tokio::test]
async fn http_tiers_judge_reachability_handshake_and_status() {
    let (addr, _) = server(Serve::Status(503), None).await;
    let url = format!("http://{addr}/healthz");
    let dep = Dependency::http("origin", &url).unwrap();
    assert_eq!(dep.clone().tier(Tier::Reachable).probe().await, Ok(()));
    assert_eq!(dep.clone().tier(Tier::Handshake).probe().await, Ok(()), "any answer is L2");
    let err = dep.clone().probe().await.unwrap_err();
    assert_eq!(err, format!("L3: GET {url}: status 503, expected 200-299"));
    assert_eq!(dep.expect_status(500..=503).probe().await, Ok(()));
}

#[tokio::test]
async fn a_silent_peer_times_out_naming_the_tier() {
    let (addr, _) = server(Serve::Silent, None).await;
    let dep = Dependency::http("origin", &format!("http://{addr}/"))
        .unwrap()
        .timeout(Duration::from_millis(200));
    assert_eq!(dep.probe().await.unwrap_err(), "L3: no answer within 200ms");
}

#[tokio::test]
async fn tls_handshake_verifies_the_name_and_https_reads_the_status() {
    let (acceptor, roots) = certificate();
    let (addr, _) = server(Serve::Status(204), Some(acceptor)).await;
    let ok = Dependency::tls("vault", &addr, "localhost", roots.clone());
    assert_eq!(ok.effective_tier(), Tier::Handshake);
    assert_eq!(ok.clone().tier(Tier::Answer).effective_tier(), Tier::Handshake, "capped");
    assert_eq!(ok.probe().await, Ok(()));
    let wrong = Dependency::tls("vault", &addr, "other.example", roots.clone()).probe().await;
    assert!(
        wrong.as_ref().unwrap_err().starts_with("L2: TLS handshake with other.example"),
        "{wrong:?}"
    );

    let port = addr.rsplit_once(':').unwrap().1;
    let url = format!("https://localhost:{port}/ready");
    let https = Dependency::http("api", &url).unwrap().roots(roots);
    assert_eq!(https.probe().await, Ok(()));
    let no_roots = Dependency::http("api", &url).unwrap().probe().await.unwrap_err();
    assert!(no_roots.contains("trust anchors"), "{no_roots}");
}

#[tokio::test]
async fn a_dependency_check_probes_at_most_once_per_period_and_repeats_its_error() {
    let (addr, accepted) = server(Serve::Status(500), None).await;
    let health = HealthRegistry::builder().ping(false).build();
    let dep = Dependency::http("origin", &format!("http://{addr}/"))
        .unwrap()
        .period(Duration::from_secs(60));
    health.register(Endpoints::READYZ, dep.into_check()).unwrap();
    for _ in 0..5 {
        let one = health.respond("/readyz/origin", None).await;
        assert_eq!(one.status, 500);
        assert!(one.body.contains("L3: GET"), "{}", one.body);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one probe answers every request");
}

#[tokio::test]
async fn a_custom_read_is_an_l3_check() {
    let dep = Dependency::custom("etcd", || async { Err("no leader".to_owned()) });
    assert_eq!(dep.probe().await.unwrap_err(), "L3: no leader");
    let dep = Dependency::custom("etcd", || async { Ok(()) }).tier(Tier::Reachable);
    assert_eq!(dep.probe().await, Ok(()));
}

#[test]
fn urls_are_checked_when_built() {
    assert!(Dependency::http("x", "ftp://host/").unwrap_err().contains("scheme"));
    assert!(Dependency::http("x", "/relative").is_err());
}

#[cfg(feature = "grpc")]
#[tokio::test]
async fn grpc_health_serving_or_not() {
    use tonic::transport::Server;
    use tonic::transport::server::TcpIncoming;
    use tonic_health::ServingStatus;

    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("edge", ServingStatus::NotServing).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder().add_service(service).serve_with_incoming(TcpIncoming::from(listener)),
    );
    let uri = format!("http://{addr}");
    assert_eq!(Dependency::grpc("edge", &uri, "").probe().await, Ok(()));
    let err = Dependency::grpc("edge", &uri, "edge").probe().await.unwrap_err();
    assert_eq!(err, r#"L3: Health/Check of "edge": NOT_SERVING"#);
    assert_eq!(Dependency::grpc("edge", &uri, "edge").tier(Tier::Handshake).probe().await, Ok(()));
    reporter.set_service_status("edge", ServingStatus::Serving).await;
    assert_eq!(Dependency::grpc("edge", &uri, "edge").probe().await, Ok(()));
    let closed = closed_port().await;
    let err = Dependency::grpc("edge", format!("http://{closed}"), "").probe().await.unwrap_err();
    assert!(err.starts_with("L3: HTTP/2 connection"), "{err}");
}
