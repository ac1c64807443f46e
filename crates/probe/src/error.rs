//! The probe layer's error type.

/// Errors of the probe layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The configuration has problems; every one is listed.
    #[error("invalid probe configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<switchyard_config::Problem>),
    /// A regex did not compile.
    #[error("invalid regex: {0}")]
    Regex(String),
    /// TLS client configuration could not be built (trust anchors, server name).
    #[error("tls setup: {0}")]
    Tls(String),
    /// DNS query settings are unusable.
    #[error("dns setup: {0}")]
    Dns(String),
    /// SNMP security settings are unusable.
    #[error("snmp setup: {0}")]
    Snmp(String),
    /// The engine has stopped.
    #[error("probe engine stopped")]
    Stopped,
}
