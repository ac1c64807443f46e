//! The `[http.tls]` and `[admin.tls]` sections: certificate files, the names each serves,
//! and the lowest TLS version offered.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// TLS on a listener: a default certificate and certificates chosen by the name the client
/// asks for (SNI). Files are PEM, relative paths resolve against the configuration file's
/// folder, and every file is read again on reload (SIGHUP, `POST /admin/reload`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The default certificate chain (PEM, leaf first), served when no entry of
    /// `certificates` matches the client's server name, or when the client sends none.
    /// Needs `key_file`. Default: none; such a client's handshake then fails (a fatal
    /// `access_denied` alert).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// The private key of `cert_file` (PEM: PKCS#8, PKCS#1 or SEC1). Default: none.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Certificates chosen by server name (SNI), each for the names it lists, for the host
    /// names of a service, or else for the DNS names the certificate itself carries.
    /// Default: empty.
    #[serde(default)]
    pub certificates: Vec<CertificateConfig>,
    /// The lowest TLS version offered: `"1.2"` or `"1.3"`. Default `"1.2"`.
    #[serde(default)]
    pub min_version: TlsVersion,
}

/// One certificate served by SNI.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// Server names this certificate answers: exact (`video.example.com`) or a wildcard of
    /// one label (`*.example.com`, as RFC 6125 §6.4.3 matches it). Case-insensitive.
    /// Default: the DNS names of the certificate's subjectAltName, unless `service` is set.
    #[serde(default)]
    pub names: Vec<String>,
    /// A service (inventory `services[].name`) whose host names this certificate answers,
    /// as the routing table matches them at handshake time (so a host name added to the
    /// service is covered at once). Only in `[http.tls]`. Default: none.
    #[serde(default)]
    pub service: Option<String>,
    /// The certificate chain (PEM, leaf first). Required.
    pub cert_file: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1). Required.
    pub key_file: PathBuf,
}

/// The lowest TLS version a listener offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    Tls13,
}
