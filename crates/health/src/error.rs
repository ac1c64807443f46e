//! Errors of the health layer: why a check failed, and why a registration was refused.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a health check failed.
///
/// The public, aggregated endpoints never show this text (k8s prints `reason withheld`); it is
/// logged, and shown only by the single-check endpoint (`/readyz/<name>`), as the apiserver does.
/// `Clone` because one cached run answers many concurrent requests.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The check ran and reported a problem.
    #[error("{}", Chain(.0.as_ref()))]
    Failed(Arc<dyn StdError + Send + Sync + 'static>),
    /// The check did not finish within its timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A readiness gate has not been opened yet.
    #[error("not started")]
    NotStarted,
    /// Shutdown has begun; the process should receive no new traffic.
    #[error("process is shutting down")]
    ShuttingDown,
    /// The check panicked; the panic was contained to this check.
    #[error("check panicked")]
    Panicked,
}

impl CheckError {
    /// A failure with a reason: a message (`&str`, `String`) or any error value.
    ///
    /// ```
    /// use switchyard_health::CheckError;
    /// let a = CheckError::new("maintenance: disk replacement");
    /// let b = CheckError::new(std::io::Error::other("etcd unreachable"));
    /// assert_eq!(a.to_string(), "maintenance: disk replacement");
    /// assert_eq!(b.to_string(), "etcd unreachable");
    /// ```
    pub fn new(reason: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        CheckError::Failed(Arc::from(reason.into()))
    }
}

impl From<&str> for CheckError {
    fn from(reason: &str) -> Self {
        CheckError::new(reason)
    }
}

impl From<String> for CheckError {
    fn from(reason: String) -> Self {
        CheckError::new(reason)
    }
}

impl From<std::io::Error> for CheckError {
    fn from(err: std::io::Error) -> Self {
        CheckError::new(err)
    }
}

/// Displays an error followed by its `source()` chain, `outer: inner: root`, so the log and the
/// single-check body carry the root cause without the caller formatting it.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// Why a check could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Names are unique per registry, since `/readyz/<name>` must address exactly one check.
    #[error("a health check named {0:?} is already registered")]
    Duplicate(String),
    /// Names become URL path segments and log fields: non-empty, no leading or trailing `/`,
    /// no whitespace, control characters, `?` or `#`.
    #[error("invalid health check name {0:?}")]
    InvalidName(String),
    /// A check must belong to at least one endpoint.
    #[error("health check {0:?} is registered for no endpoint")]
    NoEndpoint(String),
}
