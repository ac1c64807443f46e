//! TLS for the HTTPS traffic listener and the admin listener: certificates loaded from PEM
//! files, chosen per handshake by the server name the client asks for (SNI), and swapped as
//! a whole on reload.
//!
//! Each listener has one `rustls::ServerConfig` for its life; its certificate resolver
//! ([`Certificates`]) reads one immutable [`CertSet`] through an `ArcSwap`, so a reload
//! swaps every certificate at once while handshakes in progress finish with the set they
//! began with. A set is built only when every file of the section reads, parses and has a
//! private key matching its certificate; otherwise the set in force stays (the reload is
//! refused and reported like any configuration problem).

pub mod config;
pub mod listener;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use switchyard_config::Problem;
use switchyard_route::RoutingTable;

pub use config::{CertificateConfig, TlsConfig, TlsVersion};
pub use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// Which listener a certificate set and its metrics belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listener {
    /// The HTTPS traffic listener (`listen.https`, `[http.tls]`).
    Https,
    /// The admin listener (`[admin.tls]`).
    Admin,
}

impl Listener {
    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Admin => "admin",
        }
    }
}

/// TLS sessions remembered for resumption, per listener.
const SESSION_CACHE: usize = 4096;

/// The crypto provider every listener uses (the workspace builds rustls with `ring` only).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// One loaded certificate: the chain and key rustls serves, and when it expires.
#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    /// DNS names of the leaf's subjectAltName, lowercase.
    dns_names: Vec<String>,
    /// The leaf's notAfter, seconds since the epoch.
    not_after: i64,
}

/// Every certificate of one listener, as one immutable value.
#[derive(Default)]
pub struct CertSet {
    exact: HashMap<Box<str>, Arc<CertifiedKey>>,
    /// Keyed by the parent domain of a `*.` name (`example.com` for `*.example.com`).
    wildcard: HashMap<Box<str>, Arc<CertifiedKey>>,
    services: HashMap<Box<str>, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    /// `(key path, notAfter)` of each certificate, for the expiry gauge.
    expiry: Vec<(String, i64)>,
}

impl fmt::Debug for CertSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertSet")
            .field("names", &self.exact.len())
            .field("wildcards", &self.wildcard.len())
            .field("services", &self.services.len())
            .field("default", &self.default.is_some())
            .finish()
    }
}

/// How a handshake's certificate was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// An exact or wildcard name of `certificates`.
    Name,
    /// The service the routing table maps the name to.
    Service,
    /// No entry matched (or no name was sent): the default certificate.
    Default,
    /// Nothing to serve: the handshake fails.
    None,
}

impl Match {
    fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Service => "service",
            Self::Default => "default",
            Self::None => "none",
        }
    }
}

impl CertSet {
    /// Reads every certificate `config` names; relative paths resolve against `base_dir`.
    /// Problems carry key paths relative to the section (`certificates[1].key_file`).
    /// `services` says whether entries may name a service (the traffic listener only).
    pub fn load(config: &TlsConfig, base_dir: &Path, services: bool) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut set = CertSet::default();
        match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => match load_pair(&base_dir.join(cert), &base_dir.join(key)) {
                Ok(loaded) => {
                    set.expiry.push(("default".into(), loaded.not_after));
                    set.default = Some(loaded.key);
                }
                Err((field, msg)) => problems.push(Problem::at(field, msg)),
            },
            (Some(_), None) => problems.push(Problem::at("key_file", "needed with cert_file")),
            (None, Some(_)) => problems.push(Problem::at("cert_file", "needed with key_file")),
            (None, None) if config.certificates.is_empty() => problems.push(Problem::at(
                "",
                "names no certificate: give cert_file and key_file, or [[certificates]]",
            )),
            (None, None) => {}
        }
        // Where each explicit name was first listed, to report a name listed twice.
        let mut listed: HashMap<String, usize> = HashMap::new();
        for (i, entry) in config.certificates.iter().enumerate() {
            let at = format!("certificates[{i}]");
            let before = problems.len();
            for (j, name) in entry.names.iter().enumerate() {
                let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
                if !valid_name(&name) {
                    problems.push(Problem::at(
                        format!("{at}.names[{j}]"),
                        format!(
                            "{name:?} is not a host name or a one-label wildcard (*.example.com)"
                        ),
                    ));
                } else if let Some(first) = listed.insert(name.clone(), i) {
                    problems.push(Problem::at(
                        format!("{at}.names[{j}]"),
                        format!("{name} is already listed by certificates[{first}]"),
                    ));
                }
            }
            match (&entry.service, services) {
                (Some(_), false) => problems.push(Problem::at(
                    format!("{at}.service"),
                    "only [http.tls] certificates can be chosen by service",
                )),
                (Some(s), true) if s.trim().is_empty() => {
                    problems.push(Problem::at(format!("{at}.service"), "must not be empty"))
                }
                (Some(s), true) if set.services.contains_key(s.as_str()) => problems.push(
                    Problem::at(format!("{at}.service"), format!("{s} already has a certificate")),
                ),
                _ => {}
            }
            let loaded = match load_pair(
                &base_dir.join(&entry.cert_file),
                &base_dir.join(&entry.key_file),
            ) {
                Ok(l) => l,
                Err((field, msg)) => {
                    problems.push(Problem::at(format!("{at}.{field}"), msg));
                    continue;
                }
            };
            if entry.names.is_empty() && entry.service.is_none() && loaded.dns_names.is_empty() {
                problems.push(Problem::at(
                    format!("{at}.names"),
                    "the certificate carries no DNS name: list names or a service",
                ));
            }
            if problems.len() > before {
                continue;
            }
            set.expiry.push((at, loaded.not_after));
            if let Some(service) = &entry.service {
                set.services.insert(service.as_str().into(), loaded.key.clone());
            }
            let explicit = !entry.names.is_empty();
            let names: Vec<String> = if explicit {
                entry
                    .names
                    .iter()
                    .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
                    .collect()
            } else if entry.service.is_none() {
                loaded.dns_names.iter().filter(|n| valid_name(n)).cloned().collect()
            } else {
                Vec::new()
            };
            for name in names {
                let (map, key) = match name.strip_prefix("*.") {
                    Some(parent) => (&mut set.wildcard, parent.to_owned()),
                    None => (&mut set.exact, name),
                };
                // An explicit name wins over one read from a certificate; otherwise the
                // first entry that has a name keeps it.
                if explicit || !map.contains_key(key.as_str()) {
                    map.insert(key.into(), loaded.key.clone());
                }
            }
        }
        if problems.is_empty() { Ok(set) } else { Err(problems) }
    }

    /// The certificate for `name` (lowercase, as sent in SNI): an exact name, a wildcard
    /// one label up, the service `service_of` maps the name to, else the default.
    fn choose(
        &self,
        name: Option<&str>,
        service_of: impl FnOnce(&str) -> Option<String>,
    ) -> (Option<Arc<CertifiedKey>>, Match) {
        let Some(name) = name else {
            return (
                self.default.clone(),
                if self.default.is_some() { Match::Default } else { Match::None },
            );
        };
        if let Some(k) = self.exact.get(name) {
            return (Some(k.clone()), Match::Name);
        }
        if let Some(k) = name.split_once('.').and_then(|(_, parent)| self.wildcard.get(parent)) {
            return (Some(k.clone()), Match::Name);
        }
        if !self.services.is_empty()
            && let Some(k) = service_of(name).and_then(|s| self.services.get(s.as_str()))
        {
            return (Some(k.clone()), Match::Service);
        }
        match &self.default {
            Some(k) => (Some(k.clone()), Match::Default),
            None => (None, Match::None),
        }
    }
}

/// A host name (`a.example.com`) or a wildcard of one left-most label (`*.example.com`),
/// lowercase, with at least two labels after a wildcard.
fn valid_name(name: &str) -> bool {
    let (rest, wildcard) = match name.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    let labels: Vec<&str> = rest.split('.').collect();
    !rest.is_empty()
        && rest.len() <= 253
        && (!wildcard || labels.len() >= 2)
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// Reads a certificate chain and its key. The error names the field at fault (`cert_file`
/// or `key_file`) and what is wrong, never the key's content.
fn load_pair(cert_path: &Path, key_path: &Path) -> Result<Loaded, (&'static str, String)> {
    let cert_pem = std::fs::read(cert_path)
        .map_err(|e| ("cert_file", format!("cannot read {}: {e}", cert_path.display())))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ("cert_file", format!("{} is not PEM: {e}", cert_path.display())))?;
    if chain.is_empty() {
        return Err(("cert_file", format!("{} holds no CERTIFICATE block", cert_path.display())));
    }
    let (dns_names, not_after) = leaf_facts(&chain[0]).map_err(|e| {
        ("cert_file", format!("{}: the first certificate {e}", cert_path.display()))
    })?;
    let key_pem = std::fs::read(key_path)
        .map_err(|e| ("key_file", format!("cannot read {}: {e}", key_path.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        (
            "key_file",
            format!("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", key_path.display()),
        )
    })?;
    let key = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        let what = match e {
            rustls::Error::InconsistentKeys(_) => "does not match the certificate".to_owned(),
            other => format!("cannot be used: {other}"),
        };
        ("key_file", format!("the key in {} {what}", key_path.display()))
    })?;
    Ok(Loaded { key: Arc::new(key), dns_names, not_after })
}

/// The DNS names of a certificate's subjectAltName (lowercase) and its notAfter.
fn leaf_facts(der: &CertificateDer<'_>) -> Result<(Vec<String>, i64), String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("does not parse: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let GeneralName::DNSName(d) = n {
                names.push(d.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    Ok((names, cert.validity().not_after.timestamp()))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    listener: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SelectionLabels {
    listener: &'static str,
    by: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExpiryLabels {
    listener: &'static str,
    certificate: String,
}

/// The TLS metrics, shared by the listeners.
#[derive(Clone, Default)]
pub struct TlsMetrics {
    handshakes: Family<HandshakeLabels, Counter>,
    selections: Family<SelectionLabels, Counter>,
    expiry: Family<ExpiryLabels, Gauge>,
}

/// How a TLS handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Completed.
    Ok,
    /// Failed: an alert, a protocol error, or the peer went away.
    Failed,
    /// Not complete within `http.request_header_timeout_ms`.
    TimedOut,
}

impl TlsMetrics {
    fn register(metrics: &Metrics) -> Self {
        let m = Self::default();
        metrics.register(|r| {
            r.register(
                "tls_handshakes",
                "TLS handshakes by listener (https, admin) and result (ok, failed, timeout)",
                m.handshakes.clone(),
            );
            r.register(
                "tls_certificate_selections",
                "Certificates chosen for a handshake by listener and how (name, service, \
                 default, none: no certificate, the handshake failed)",
                m.selections.clone(),
            );
            r.register(
                "tls_certificate_expiry_timestamp_seconds",
                "notAfter of each certificate in force, by listener and configuration entry \
                 (default, certificates[N])",
                m.expiry.clone(),
            );
        });
        m
    }

    /// Counts one handshake of `listener`.
    pub fn handshake(&self, listener: Listener, result: Handshake) {
        let result = match result {
            Handshake::Ok => "ok",
            Handshake::Failed => "failed",
            Handshake::TimedOut => "timeout",
        };
        self.handshakes
            .get_or_create(&HandshakeLabels { listener: listener.as_str(), result })
            .inc();
    }

    /// Shows the expiry of the certificates of `new` in place of those of `old`.
    fn set_expiry(&self, listener: Listener, old: &CertSet, new: &CertSet) {
        let labels = |certificate: &String| ExpiryLabels {
            listener: listener.as_str(),
            certificate: certificate.clone(),
        };
        for (certificate, _) in &old.expiry {
            self.expiry.remove(&labels(certificate));
        }
        for (certificate, not_after) in &new.expiry {
            self.expiry.get_or_create(&labels(certificate)).set(*not_after);
        }
    }
}

/// The sessions a listener can resume, forgotten when its certificates change: a client
/// resuming a session resumes the authentication of the certificate it was made with, so a
/// certificate replaced (say, because its key leaked) must not live on in resumed sessions.
#[derive(Debug)]
struct Sessions(ArcSwap<Arc<dyn StoresServerSessions>>);

impl Sessions {
    fn new() -> Self {
        Self(ArcSwap::from_pointee(ServerSessionMemoryCache::new(SESSION_CACHE)))
    }

    fn forget(&self) {
        self.0.store(Arc::new(ServerSessionMemoryCache::new(SESSION_CACHE)));
    }
}

impl StoresServerSessions for Sessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.load().put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.load().get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.load().take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The certificate resolver of one listener: the set in force, swapped on reload.
pub struct Certificates {
    listener: Listener,
    set: ArcSwap<CertSet>,
    sessions: Arc<Sessions>,
    /// The routing table, for certificates chosen by service (traffic listener only).
    table: Option<Arc<ArcSwap<RoutingTable>>>,
    metrics: TlsMetrics,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("listener", &self.listener)
            .field("set", &*self.set.load())
            .finish()
    }
}

impl Certificates {
    /// Swaps in `set`; handshakes already past certificate selection keep the old one, and
    /// no session made before can be resumed.
    pub fn replace(&self, set: CertSet) {
        self.metrics.set_expiry(self.listener, &self.set.load(), &set);
        self.set.store(Arc::new(set));
        self.sessions.forget();
    }

    /// The metrics this resolver counts into.
    pub fn metrics(&self) -> &TlsMetrics {
        &self.metrics
    }

    /// Which listener this is.
    pub fn listener(&self) -> Listener {
        self.listener
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let set = self.set.load();
        let lower;
        let name = match hello.server_name() {
            Some(n) if n.bytes().any(|b| b.is_ascii_uppercase()) => {
                lower = n.to_ascii_lowercase();
                Some(lower.as_str())
            }
            other => other,
        };
        let (key, how) = set.choose(name, |name| {
            let table = self.table.as_ref()?.load();
            let service = table.service_for_host(name)?;
            table.service(service).map(|s| s.name().to_owned())
        });
        let labels = SelectionLabels { listener: self.listener.as_str(), by: how.as_str() };
        self.metrics.selections.get_or_create(&labels).inc();
        key
    }
}

/// What a listener needs to serve TLS: its `rustls::ServerConfig`, swapped on a reload that
/// changes `min_version`, and the certificates it resolves from.
#[derive(Clone)]
pub struct TlsServer {
    config: Arc<ArcSwap<rustls::ServerConfig>>,
    /// The certificates in force and the TLS metrics.
    pub certs: Arc<Certificates>,
}

impl TlsServer {
    /// An acceptor with the configuration in force now (a handshake keeps the one it began
    /// with).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.load_full())
    }
}

/// One listener's TLS in force: its certificates, and its server configuration.
struct Running {
    certs: Arc<Certificates>,
    config: Arc<ArcSwap<rustls::ServerConfig>>,
}

/// The TLS state of the process: each listener's certificates and protocol versions,
/// reloaded together with the configuration.
#[derive(Default)]
pub struct TlsState {
    https: OnceLock<Running>,
    admin: OnceLock<Running>,
    metrics: OnceLock<TlsMetrics>,
}

/// What a reload puts in force for one listener.
struct Reloaded {
    set: CertSet,
    config: rustls::ServerConfig,
}

/// Certificate sets and server configurations read for a reload, swapped in by
/// [`Staged::commit`].
#[must_use]
pub struct Staged<'a> {
    state: &'a TlsState,
    https: Option<Reloaded>,
    admin: Option<Reloaded>,
}

impl Staged<'_> {
    /// Puts the staged sets and configurations in force.
    pub fn commit(self) {
        for (staged, running) in [(self.https, &self.state.https), (self.admin, &self.state.admin)]
        {
            if let (Some(r), Some(running)) = (staged, running.get()) {
                running.certs.replace(r.set);
                running.config.store(Arc::new(r.config));
            }
        }
    }
}

/// The server configuration of a listener: its lowest protocol version, its certificates.
fn server_config(
    min_version: TlsVersion,
    certs: &Arc<Certificates>,
) -> Result<rustls::ServerConfig, Vec<Problem>> {
    let versions: &[&rustls::SupportedProtocolVersion] = match min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| vec![Problem::at("min_version", e.to_string())])?
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    server.session_storage = certs.sessions.clone();
    Ok(server)
}

impl TlsState {
    /// The TLS server of `listener` for `config`, its certificates loaded now (`Err` with
    /// located problems, relative to the section, when a file is wrong). Registers the TLS
    /// metrics in `metrics` the first time. `table` lets certificates be chosen by service.
    pub fn acceptor(
        &self,
        listener: Listener,
        config: &TlsConfig,
        base_dir: &Path,
        table: Option<Arc<ArcSwap<RoutingTable>>>,
        metrics: &Metrics,
    ) -> Result<TlsServer, Vec<Problem>> {
        let set = CertSet::load(config, base_dir, table.is_some())?;
        let metrics = self.metrics.get_or_init(|| TlsMetrics::register(metrics)).clone();
        let certs = Arc::new(Certificates {
            listener,
            set: ArcSwap::from_pointee(CertSet::default()),
            table,
            metrics,
            sessions: Arc::new(Sessions::new()),
        });
        certs.replace(set);
        let server = Arc::new(ArcSwap::from_pointee(server_config(config.min_version, &certs)?));
        let slot = match listener {
            Listener::Https => &self.https,
            Listener::Admin => &self.admin,
        };
        let _ = slot.set(Running { certs: certs.clone(), config: server.clone() });
        Ok(TlsServer { config: server, certs })
    }

    /// Reads the certificates of the listeners that run TLS from the new sections, and builds
    /// their server configurations (a new `min_version` applies to new handshakes), without
    /// putting them in force. A listener whose section is gone keeps its certificates (the
    /// listener itself only changes on restart). Problems are located under `http.tls` and
    /// `admin.tls`.
    pub fn stage(
        &self,
        https: Option<&TlsConfig>,
        admin: Option<&TlsConfig>,
        base_dir: &Path,
    ) -> Result<Staged<'_>, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut load =
            |running: &OnceLock<Running>, config: Option<&TlsConfig>, at: &str, services: bool| {
                let running = running.get()?;
                let config = config?;
                let loaded = CertSet::load(config, base_dir, services).and_then(|set| {
                    Ok(Reloaded { set, config: server_config(config.min_version, &running.certs)? })
                });
                match loaded {
                    Ok(r) => Some(r),
                    Err(p) => {
                        problems.extend(p.into_iter().map(|p| p.under(at)));
                        None
                    }
                }
            };
        let https = load(&self.https, https, "http.tls", true);
        let admin = load(&self.admin, admin, "admin.tls", false);
        if problems.is_empty() { Ok(Staged { state: self, https, admin }) } else { Err(problems) }
    }
}

/// Checks a TLS section as `check-config` and every load do: every file is read and parsed,
/// each key matched against its certificate. Problems are located under `at`.
pub fn validate(config: &TlsConfig, at: &str, base_dir: &Path, services: bool) -> Vec<Problem> {
    match CertSet::load(config, base_dir, services) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.into_iter().map(|p| p.under(at)).collect(),
    }
}
