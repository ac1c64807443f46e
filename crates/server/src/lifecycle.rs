//! The shutdown sequence: one cancellation tree driven by SIGTERM/SIGINT.
//!
//! First signal: the `shutdown` readiness check fails at once (load balancers stop sending
//! new clients), traffic is still served for `shutdown_delay`, then every listener stops
//! accepting and in-flight requests get `drain_timeout` to finish. A second signal exits at
//! once.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Exit code for an immediate exit on a second signal (128 + SIGINT, like shells).
pub const FORCED_EXIT_CODE: i32 = 130;

/// The tokens of the shutdown tree.
#[derive(Debug, Clone, Default)]
pub struct ShutdownTokens {
    /// Cancelled at the first signal (or an admin drain): readiness fails from here on.
    pub begun: CancellationToken,
    /// Cancelled after the shutdown delay: listeners stop accepting and drain. Child of
    /// nothing: it fires only through [`run_signal_sequence`].
    pub stop_accepting: CancellationToken,
    /// Cancelled after draining: background work (prober, watchers) stops.
    pub background: CancellationToken,
}

/// Waits for SIGTERM or SIGINT.
async fn next_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install the SIGTERM handler: {e}");
            return std::future::pending().await;
        }
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot install the SIGINT handler: {e}");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Drives the sequence: waits for the first signal (or `tokens.begun` being cancelled by
/// someone else), calls `on_begin`, keeps serving for `delay`, then cancels
/// `stop_accepting`. A second signal at any point exits the process at once.
pub async fn run_signal_sequence(tokens: ShutdownTokens, delay: Duration, on_begin: impl FnOnce()) {
    let why = tokio::select! {
        s = next_signal() => s,
        _ = tokens.begun.cancelled() => "admin request",
    };
    tokens.begun.cancel();
    on_begin();
    tracing::info!(
        reason = why,
        shutdown_delay_ms = delay.as_millis() as u64,
        "shutting down: readiness now fails; still serving during the shutdown delay"
    );
    // From here a further signal means "now".
    tokio::spawn(async {
        let s = next_signal().await;
        tracing::warn!(signal = s, "second signal: exiting at once");
        std::process::exit(FORCED_EXIT_CODE);
    });
    tokio::time::sleep(delay).await;
    tracing::info!("shutdown delay over: listeners stop accepting, draining in-flight requests");
    tokens.stop_accepting.cancel();
}

/// Waits for every listener task to finish, at most `timeout`. Returns how many were still
/// running (and were aborted) when time ran out.
pub async fn drain(mut listeners: JoinSet<()>, timeout: Duration) -> usize {
    let all_done = async {
        while let Some(res) = listeners.join_next().await {
            if let Err(e) = res
                && e.is_panic()
            {
                tracing::error!("a listener task panicked during drain: {e}");
            }
        }
    };
    if tokio::time::timeout(timeout, all_done).await.is_ok() {
        return 0;
    }
    let left = listeners.len();
    tracing::warn!(
        listeners = left,
        drain_timeout_ms = timeout.as_millis() as u64,
        "drain timeout reached: abandoning requests still in flight"
    );
    listeners.abort_all();
    while listeners.join_next().await.is_some() {}
    left
}
