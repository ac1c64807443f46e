//! Self-signed certificates with a chosen expiry for HTTPS nodes.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Certificate settings of an HTTPS fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPlan {
    /// Days from now until the certificate expires; negative for an already expired one.
    pub valid_days: i64,
    /// DNS names (SANs) the certificate is issued for.
    pub names: Vec<String>,
    /// ALPN protocols the nodes offer, in preference order.
    pub alpn: Vec<String>,
}

impl Default for TlsPlan {
    fn default() -> Self {
        TlsPlan {
            valid_days: 90,
            names: vec!["localhost".to_owned(), "sim.switchyard.test".to_owned()],
            alpn: vec!["http/1.1".to_owned()],
        }
    }
}

pub(crate) struct ServerTls {
    pub acceptor: TlsAcceptor,
    pub cert_pem: String,
}

impl ServerTls {
    pub(crate) fn generate(plan: &TlsPlan) -> std::io::Result<ServerTls> {
        let err = |e: String| std::io::Error::other(e);
        let mut params =
            rcgen::CertificateParams::new(plan.names.clone()).map_err(|e| err(e.to_string()))?;
        let now = time::OffsetDateTime::now_utc();
        // An expired certificate still needs not_before < not_after.
        params.not_before = now - time::Duration::days(plan.valid_days.min(0).abs() + 30);
        params.not_after = now + time::Duration::days(plan.valid_days);
        let key = rcgen::KeyPair::generate().map_err(|e| err(e.to_string()))?;
        let cert = params.self_signed(&key).map_err(|e| err(e.to_string()))?;
        let cert_pem = cert.pem();
        let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| err(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| err(e.to_string()))?;
        config.alpn_protocols = plan.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(ServerTls { acceptor: TlsAcceptor::from(Arc::new(config)), cert_pem })
    }
}
