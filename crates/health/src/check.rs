//! What a check is: a name, the endpoints it belongs to, the function it runs and how long it
//! may take.

use std::fmt;
use std::future::Future;
use std::ops::BitOr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::error::CheckError;

/// One of the three health endpoints of the Kubernetes apiserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `/livez`: is the process alive, or should it be restarted?
    Livez,
    /// `/readyz`: should the process receive traffic now?
    Readyz,
    /// `/healthz`: the deprecated combined endpoint, kept for old probes.
    Healthz,
}

impl Endpoint {
    /// All endpoints, in the order they are documented.
    pub const ALL: [Endpoint; 3] = [Endpoint::Livez, Endpoint::Readyz, Endpoint::Healthz];

    /// The path segment and the word used in bodies (`readyz check passed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Livez => "livez",
            Endpoint::Readyz => "readyz",
            Endpoint::Healthz => "healthz",
        }
    }

    /// Parses `livez`, `readyz` or `healthz`.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        match name {
            "livez" => Some(Endpoint::Livez),
            "readyz" => Some(Endpoint::Readyz),
            "healthz" => Some(Endpoint::Healthz),
            _ => None,
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The set of endpoints a check is registered for; combine with `|`.
///
/// Follows the apiserver: `/healthz` runs the checks registered for it explicitly and every
/// check registered for both `/livez` and `/readyz` (k8s `AddHealthChecks` installs a check on
/// all three), while a readyz-only check such as `shutdown` stays out of `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Endpoints(u8);

impl Endpoints {
    /// No endpoint; registering with it is an error.
    pub const NONE: Endpoints = Endpoints(0);
    /// `/livez` only.
    pub const LIVEZ: Endpoints = Endpoints(1);
    /// `/readyz` only.
    pub const READYZ: Endpoints = Endpoints(2);
    /// `/healthz` only.
    pub const HEALTHZ: Endpoints = Endpoints(4);
    /// All three endpoints.
    pub const ALL: Endpoints = Endpoints(7);

    /// Whether a check registered with this set runs on `endpoint`.
    pub fn serves(self, endpoint: Endpoint) -> bool {
        match endpoint {
            Endpoint::Livez => self.0 & Self::LIVEZ.0 != 0,
            Endpoint::Readyz => self.0 & Self::READYZ.0 != 0,
            Endpoint::Healthz => {
                self.0 & Self::HEALTHZ.0 != 0
                    || self.0 & (Self::LIVEZ.0 | Self::READYZ.0) == Self::LIVEZ.0 | Self::READYZ.0
            }
        }
    }

    /// True when the set names no endpoint.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Endpoints {
    type Output = Endpoints;

    fn bitor(self, rhs: Endpoints) -> Endpoints {
        Endpoints(self.0 | rhs.0)
    }
}

impl From<Endpoint> for Endpoints {
    fn from(endpoint: Endpoint) -> Endpoints {
        match endpoint {
            Endpoint::Livez => Endpoints::LIVEZ,
            Endpoint::Readyz => Endpoints::READYZ,
            Endpoint::Healthz => Endpoints::HEALTHZ,
        }
    }
}

pub(crate) type CheckFuture = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send>>;

/// How a check computes its result.
#[derive(Clone)]
pub(crate) enum CheckKind {
    /// Reads state that is already at hand (a flag, a timestamp): run inline, no allocation,
    /// no timer.
    Immediate(Arc<dyn Fn() -> Result<(), CheckError> + Send + Sync>),
    /// Does I/O or waits: boxed future under a timeout.
    Async(Arc<dyn Fn() -> CheckFuture + Send + Sync>),
}

/// A named health check, ready to be registered.
///
/// ```
/// use std::time::Duration;
/// use switchyard_health::{Check, CheckError};
///
/// let etcd = Check::new("etcd", || async {
///     Err::<(), _>(CheckError::new("no leader"))
/// })
/// .timeout(Duration::from_millis(500))
/// .cached(Duration::from_secs(5));
/// assert_eq!(etcd.name(), "etcd");
/// ```
#[derive(Clone)]
pub struct Check {
    pub(crate) name: Arc<str>,
    pub(crate) kind: CheckKind,
    pub(crate) timeout: Option<Duration>,
    pub(crate) cache_interval: Option<Duration>,
    pub(crate) condition: Option<Toggle>,
    pub(crate) warning: Option<Warning>,
}

/// Says why a passing check deserves a look, or nothing ([`Check::warn_when`]).
pub(crate) type Warning = Arc<dyn Fn() -> Option<String> + Send + Sync>;

impl Check {
    /// An asynchronous check. Each evaluation calls `check` and awaits the future under the
    /// check's timeout (the registry default, 2 s, unless [`Check::timeout`] sets one).
    pub fn new<F, Fut>(name: impl Into<String>, check: F) -> Check
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
    {
        let run = move || -> CheckFuture { Box::pin(check()) };
        Check {
            name: Arc::from(name.into()),
            kind: CheckKind::Async(Arc::new(run)),
            timeout: None,
            cache_interval: None,
            condition: None,
            warning: None,
        }
    }

    /// A check that answers at once from state it can read without waiting (an atomic flag,
    /// a timestamp). It runs inline in the request: no task, no allocation, no timer, so it
    /// must never block.
    pub fn immediate<F>(name: impl Into<String>, check: F) -> Check
    where
        F: Fn() -> Result<(), CheckError> + Send + Sync + 'static,
    {
        Check {
            name: Arc::from(name.into()),
            kind: CheckKind::Immediate(Arc::new(check)),
            timeout: None,
            cache_interval: None,
            condition: None,
            warning: None,
        }
    }

    /// How long one run may take before it counts as failed with [`CheckError::Timeout`].
    /// Ignored by [`Check::immediate`] checks, which cannot wait.
    pub fn timeout(mut self, timeout: Duration) -> Check {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the check for real at most once per `interval`; requests in between get the last
    /// result, and concurrent requests during a run wait for that one run instead of starting
    /// their own. For expensive checks (a database round trip) probed by many load balancers.
    pub fn cached(mut self, interval: Duration) -> Check {
        self.cache_interval = Some(interval);
        self
    }

    /// Makes the check conditional: it runs only while `toggle` is on. While off it is not
    /// run and reports `[+]name inactive: ok`, so a check of a dependency that only a
    /// switched-off feature needs never fails the endpoint. The toggle can flip at run time.
    pub fn when(mut self, toggle: Toggle) -> Check {
        self.condition = Some(toggle);
        self
    }

    /// Adds a warning to the check while it passes: `warning` is asked after each passing
    /// run, and what it returns is shown as a `warn: name: ...` line of the verbose text and
    /// in the JSON's `warnings` and the check's `warning`. The endpoint still passes, and the
    /// terse `ok` body stays as it is. For a degraded state that must not take the process
    /// out of rotation but should be seen: serving a stale copy of a dependency's data.
    ///
    /// `warning` runs inline in the request, like an [`Check::immediate`] check: it must not
    /// block.
    pub fn warn_when<F>(mut self, warning: F) -> Check
    where
        F: Fn() -> Option<String> + Send + Sync + 'static,
    {
        self.warning = Some(Arc::new(warning));
        self
    }

    /// The check's name, as shown in `[+]name ok` and addressed by `/readyz/<name>`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("cache_interval", &self.cache_interval)
            .field("condition", &self.condition.as_ref().map(Toggle::is_on))
            .field("warns", &self.warning.is_some())
            .finish_non_exhaustive()
    }
}

/// A run-time on/off switch for conditional checks ([`Check::when`]): a feature flag or a
/// configuration key that a reload can change. Clones share the switch. Made by
/// [`HealthRegistry::toggle`](crate::HealthRegistry::toggle), so flipping it wakes the
/// pollers of readiness (the gRPC health service) at once.
#[derive(Debug, Clone)]
pub struct Toggle {
    on: Arc<AtomicBool>,
    changed: watch::Sender<u64>,
}

impl Toggle {
    pub(crate) fn new(on: bool, changed: watch::Sender<u64>) -> Toggle {
        Toggle { on: Arc::new(AtomicBool::new(on)), changed }
    }

    /// Switches the conditional checks on or off; returns whether it was on before.
    pub fn set(&self, on: bool) -> bool {
        let was = self.on.swap(on, Ordering::AcqRel);
        if was != on {
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        was
    }

    /// Whether the checks behind this toggle run.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }
}

/// Names become URL path segments (`/readyz/<name>`, `poststarthook/x` style allowed) and log
/// fields, so they are restricted to visible characters that need no escaping in a path.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '?' | '#' | '%'))
}
