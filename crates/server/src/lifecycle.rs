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

/// SIGTERM and SIGINT, each delivery counted once.
///
/// The handler (registered through `signal-hook-registry`, as tokio's own is) writes the
/// signal's number into a socket pair, one byte per delivery, and [`Signals::next`] reads one
/// byte at a time. tokio's `Signal` streams coalesce deliveries that arrive before the stream
/// is polled, and miss any that arrive while no stream exists, so a second SIGTERM sent right
/// after the first (as `timeout` and a process-group kill do) could go unseen and the drain
/// run its full length. Here every delivery the kernel makes is read, whenever it is read.
/// (The kernel itself merges a signal sent while the same one is still pending; no process can
/// see that one.)
pub struct Signals {
    reader: tokio::net::UnixStream,
    ids: Vec<signal_hook_registry::SigId>,
}

impl Signals {
    /// Installs the handlers. Must run inside the tokio runtime.
    pub fn install() -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        // A full buffer (thousands of unread signals) must not block the handler.
        writer.set_nonblocking(true)?;
        let writer = std::sync::Arc::new(writer);
        let mut ids = Vec::new();
        for signal in [libc::SIGTERM, libc::SIGINT] {
            let writer = writer.clone();
            let action = move || {
                let byte = signal as u8;
                // SAFETY: `write` is async-signal-safe; the descriptor stays open as long as
                // the action exists, since the action owns the socket.
                unsafe { libc::write(writer.as_raw_fd(), (&byte as *const u8).cast(), 1) };
            };
            // SAFETY: the action only calls `write`, which is async-signal-safe, and neither
            // allocates nor locks.
            match unsafe { signal_hook_registry::register(signal, action) } {
                Ok(id) => ids.push(id),
                Err(e) => {
                    for id in ids {
                        signal_hook_registry::unregister(id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(Self { reader: tokio::net::UnixStream::from_std(reader)?, ids })
    }

    /// The next delivery not read yet: `"SIGTERM"` or `"SIGINT"`. Cancel-safe.
    pub async fn next(&mut self) -> &'static str {
        use tokio::io::AsyncReadExt;
        let mut byte = [0u8; 1];
        loop {
            match self.reader.read(&mut byte).await {
                Ok(1) if i32::from(byte[0]) == libc::SIGINT => return "SIGINT",
                Ok(1) => return "SIGTERM",
                // The writer lives in the handlers, which live as long as `self`.
                Ok(_) => return std::future::pending().await,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::error!("cannot read the signal pipe: {e}");
                    return std::future::pending().await;
                }
            }
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook_registry::unregister(id);
        }
    }
}

/// Drives the sequence: waits for the first signal (or `tokens.begun` being cancelled by
/// someone else), calls `on_begin`, keeps serving for `delay`, then cancels
/// `stop_accepting`. A further signal at any point after the first exits the process at once
/// with [`FORCED_EXIT_CODE`]. `signals` is `None` when the handlers could not be installed:
/// then only an admin drain starts the sequence.
pub async fn run_signal_sequence(
    tokens: ShutdownTokens,
    delay: Duration,
    signals: Option<Signals>,
    on_begin: impl FnOnce(),
) {
    let mut signals = signals;
    let why = match &mut signals {
        Some(signals) => tokio::select! {
            s = signals.next() => s,
            _ = tokens.begun.cancelled() => "admin request",
        },
        None => {
            tokens.begun.cancelled().await;
            "admin request"
        }
    };
    tokens.begun.cancel();
    on_begin();
    tracing::info!(
        reason = why,
        shutdown_delay_ms = delay.as_millis() as u64,
        "shutting down: readiness now fails; still serving during the shutdown delay"
    );
    // From here a further signal means "now". The same stream is kept, so a signal that
    // arrived since the first one was read is the next one read.
    if let Some(mut signals) = signals {
        tokio::spawn(async move {
            let s = signals.next().await;
            tracing::warn!(signal = s, "second signal: exiting at once");
            std::process::exit(FORCED_EXIT_CODE);
        });
    }
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
