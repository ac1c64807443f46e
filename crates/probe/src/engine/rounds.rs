//! A hook on every finished probe round, for tracing: the engine reports what it knows of the
//! round (node, kind, times, outcome, health before and after) to an observer the embedding
//! program gives it, which decides whether to record it. No observer: one `None` test per round.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::HealthState;
use crate::outcome::ProbeOutcome;

/// One finished probe round of one node.
#[derive(Debug)]
pub struct RoundReport<'a> {
    /// The node probed.
    pub node: &'a str,
    /// The address probed.
    pub addr: SocketAddr,
    /// The check's kind (`http`, `tcp`, ...).
    pub kind: &'static str,
    /// When the probe started.
    pub started: Instant,
    /// When its result was applied to the node's health.
    pub finished: Instant,
    /// What the probe found.
    pub outcome: &'a ProbeOutcome,
    /// The node's effective health before the result was applied.
    pub before: HealthState,
    /// And after.
    pub after: HealthState,
}

/// Receives every finished probe round. Called on the scheduler task: it must not block.
pub trait RoundObserver: Send + Sync + 'static {
    /// One round finished.
    fn round(&self, report: &RoundReport<'_>);
}

/// The observer an engine reports its rounds to, if any (`EngineConfig::rounds`).
#[derive(Clone, Default)]
pub struct Rounds(Option<Arc<dyn RoundObserver>>);

impl Rounds {
    /// Reports to `observer`.
    pub fn to(observer: Arc<dyn RoundObserver>) -> Self {
        Self(Some(observer))
    }

    /// Passes `report` on, when there is an observer; the report is built only then.
    #[inline]
    pub(crate) fn report<'a>(&self, report: impl FnOnce() -> RoundReport<'a>) {
        if let Some(o) = &self.0 {
            o.round(&report());
        }
    }
}

impl fmt::Debug for Rounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Rounds(observed)" } else { "Rounds(none)" })
    }
}
