//! `tls`: handshake with SNI and ALPN, certificate verification and expiry thresholds; also the
//! TLS layer under `https`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::ProbeError;
use crate::outcome::{DegradedCause, FailureCause, ProbeOutcome, Tier};
use serde::{Deserialize, Serialize};
use switchyard_config::Problems;

/// TLS client settings shared by `tls` and `https` checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsClient {
    /// Server name sent in SNI and verified against the certificate. Default: the `host` of an
    /// HTTP check, else `localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// ALPN protocols to offer, e.g. `["h2", "http/1.1"]`. Default none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// PEM file of trust anchors. Default: `/etc/ssl/certs/ca-certificates.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Skip chain and name verification (expiry is still measured and judged). Default false.
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

/// `kind = "tls"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCheck {
    /// Client settings.
    #[serde(flatten)]
    pub client: TlsClient,
    /// ALPN protocol the server must select, if set. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_alpn: Option<String>,
    /// Degraded when the certificate expires in fewer days than this. Default 14.
    #[serde(default = "d_degraded_days")]
    pub expiry_degraded_days: i64,
    /// Down when the certificate expires in fewer days than this. Default 2.
    #[serde(default = "d_down_days")]
    pub expiry_down_days: i64,
}

fn d_degraded_days() -> i64 {
    14
}
fn d_down_days() -> i64 {
    2
}

impl Default for TlsCheck {
    fn default() -> Self {
        TlsCheck {
            client: TlsClient::default(),
            expect_alpn: None,
            expiry_degraded_days: d_degraded_days(),
            expiry_down_days: d_down_days(),
        }
    }
}

impl TlsClient {
    /// Problems the TLS setup would otherwise only meet when the probe is compiled, where they
    /// carry no field path. `default_name` is the field and value the server name is taken from
    /// when `sni` is not set (the `host` of an HTTP check, the `authority` host of a gRPC one).
    pub(crate) fn problems(&self, p: &mut Problems, default_name: Option<(&str, &str)>) {
        match (&self.sni, default_name) {
            (Some(name), _) if !is_server_name(name) => p.push(
                "sni",
                format!(
                    "`{name}` is not a valid server name: use a DNS name such as \
                     `api.example.com` or an IP address, without port, scheme or spaces"
                ),
            ),
            (None, Some((field, name))) if !is_server_name(name) => p.push(
                "sni",
                format!(
                    "is not set, so the server name is taken from `{field}` (`{name}`), which is \
                     not a valid server name: set `sni` to a DNS name or IP address"
                ),
            ),
            _ => {}
        }
        for (i, proto) in self.alpn.iter().enumerate() {
            if proto.is_empty() || proto.len() > 255 {
                p.push(
                    &format!("alpn[{i}]"),
                    format!(
                        "is {} bytes long; an ALPN protocol name is 1 to 255 bytes, e.g. `h2` or \
                         `http/1.1`",
                        proto.len()
                    ),
                );
            }
        }
        if let Some(path) = &self.ca_file
            && let Err(why) = ca_file_problem(path)
        {
            p.push("ca_file", format!("`{}` {why}", path.display()));
        }
    }
}

/// Whether rustls accepts `name` for SNI and certificate verification: a DNS name or an IP
/// address, as the compile step in `kind::tls` demands.
fn is_server_name(name: &str) -> bool {
    ServerName::try_from(name).is_ok()
}

/// Why `path` cannot serve as trust anchors. Read here so a typo is reported with its field
/// when the config is checked, not when the probe is built.
fn ca_file_problem(path: &Path) -> Result<(), String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file: name a PEM file of CA certificates".to_owned());
    }
    let mut certs = 0;
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("cannot be read: {e}"))? {
        cert.map_err(|e| format!("is not a valid PEM file: {e}"))?;
        certs += 1;
    }
    if certs == 0 {
        return Err("holds no PEM certificate (`-----BEGIN CERTIFICATE-----`), so no server \
                    could be verified"
            .to_owned());
    }
    Ok(())
}

/// Runs `client.problems` with paths under `field` of `p` (e.g. `check.tls.sni`).
pub(crate) fn tls_client_problems(
    p: &mut Problems,
    field: &str,
    client: &TlsClient,
    default_name: Option<(&str, &str)>,
) {
    let mut section = p.section(field);
    client.problems(&mut section, default_name);
    p.merge(section);
}

impl TlsCheck {
    pub(crate) fn problems(&self, p: &mut Problems) {
        if self.expiry_down_days > self.expiry_degraded_days {
            p.push("expiry_down_days", "must not exceed expiry_degraded_days");
        }
        // The client is flattened into the check, so its fields sit beside the check's own.
        self.client.problems(p, None);
        if let Some(want) = &self.expect_alpn
            && !self.client.alpn.contains(want)
        {
            p.push(
                "expect_alpn",
                format!(
                    "`{want}` is not offered in `alpn` ({:?}); a server can only select a \
                     protocol the probe offers, so add it to `alpn`",
                    self.client.alpn
                ),
            );
        }
    }
}

/// Debian's bundle of system trust anchors.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A built client configuration and the name to present.
#[derive(Clone)]
pub(crate) struct TlsSetup {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup").field("server_name", &self.server_name).finish()
    }
}

impl TlsSetup {
    pub(crate) fn new(c: &TlsClient, default_name: Option<&str>) -> Result<Self, ProbeError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ProbeError::Tls(e.to_string()))?;
        let mut config = if c.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
                .with_no_client_auth()
        } else {
            let path = c.ca_file.as_deref().unwrap_or(Path::new(SYSTEM_CA_FILE));
            builder
                .with_root_certificates(load_roots(path, c.ca_file.is_some())?)
                .with_no_client_auth()
        };
        config.alpn_protocols = c.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        // One session cache per spec: resumption makes fresh-connection probes cheaper.
        let name = c.sni.as_deref().or(default_name).unwrap_or("localhost");
        let server_name = ServerName::try_from(name.to_owned())
            .map_err(|_| ProbeError::Tls(format!("`{name}` is not a valid server name")))?;
        Ok(TlsSetup { connector: TlsConnector::from(Arc::new(config)), server_name })
    }

    /// Handshakes over `tcp`, recording the TLS phase and tier.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        out: &mut ProbeOutcome,
        start: Instant,
    ) -> Option<TlsStream<TcpStream>> {
        match self.connector.connect(self.server_name.clone(), tcp).await {
            Ok(s) => {
                out.phases.tls = Some(start.elapsed());
                out.tier = out.tier.max(Tier::L2Handshake);
                out.cert_days_left = cert_days_left(&s);
                Some(s)
            }
            Err(e) => {
                // rustls reports protocol and certificate failures as InvalidData.
                let cause = match e.kind() {
                    std::io::ErrorKind::InvalidData => FailureCause::Tls,
                    std::io::ErrorKind::UnexpectedEof => FailureCause::Tls,
                    _ => FailureCause::from_io(&e),
                };
                out.fail(cause);
                None
            }
        }
    }
}

fn load_roots(path: &Path, explicit: bool) -> Result<RootCertStore, ProbeError> {
    let mut roots = RootCertStore::empty();
    let iter = match CertificateDer::pem_file_iter(path) {
        Ok(i) => i,
        // Without a system bundle every verified handshake fails, which the probe reports.
        Err(_) if !explicit => return Ok(roots),
        Err(e) => return Err(ProbeError::Tls(format!("{}: {e}", path.display()))),
    };
    for cert in iter {
        let cert = cert.map_err(|e| ProbeError::Tls(format!("{}: {e}", path.display())))?;
        let _ = roots.add(cert);
    }
    Ok(roots)
}

/// Whole days until the leaf certificate's notAfter (negative once expired).
pub(crate) fn cert_days_left(s: &TlsStream<TcpStream>) -> Option<i64> {
    let leaf = s.get_ref().1.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some((not_after - now).div_euclid(86_400))
}

/// Accepts any certificate chain but still checks handshake signatures, so the peer must own
/// the key of the certificate it shows (`insecure_skip_verify`, and `switchyard healthcheck`).
#[derive(Debug)]
pub struct AcceptAnyCert(Arc<CryptoProvider>);

impl AcceptAnyCert {
    /// Signatures checked with `provider`'s algorithms.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        Self(provider)
    }
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[derive(Debug)]
pub(crate) struct CompiledTls {
    setup: TlsSetup,
    expect_alpn: Option<Vec<u8>>,
    degraded_days: i64,
    down_days: i64,
}

impl CompiledTls {
    pub(crate) fn new(c: &TlsCheck) -> Result<Self, ProbeError> {
        Ok(CompiledTls {
            setup: TlsSetup::new(&c.client, None)?,
            expect_alpn: c.expect_alpn.as_ref().map(|a| a.as_bytes().to_vec()),
            degraded_days: c.expiry_degraded_days,
            down_days: c.expiry_down_days,
        })
    }

    pub(crate) async fn run(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        out: &mut ProbeOutcome,
        start: Instant,
    ) {
        let Some(tcp) = super::connect(addr, connect_timeout, out, start).await else { return };
        let Some(s) = self.setup.handshake(tcp, out, start).await else { return };
        out.tier = Tier::L3Service;
        if let Some(want) = &self.expect_alpn
            && s.get_ref().1.alpn_protocol() != Some(want.as_slice())
        {
            return out.fail(FailureCause::Protocol);
        }
        judge_expiry(out, self.degraded_days, self.down_days);
    }
}

/// Down below `down_days`, degraded below `degraded_days`, else pass.
pub(crate) fn judge_expiry(out: &mut ProbeOutcome, degraded_days: i64, down_days: i64) {
    match out.cert_days_left {
        Some(d) if d < down_days => out.fail(FailureCause::CertExpiring),
        Some(d) if d < degraded_days => out.pass(Some(DegradedCause::CertExpiring)),
        _ => out.pass(None),
    }
}
