//! A runtime heartbeat: a task that ticks on a fixed interval and measures how late each tick
//! runs, so a check can report a stalled async runtime (a blocking call on a worker thread,
//! CPU starvation).
//!
//! The interval is slept with `tokio::time` (so the task is an ordinary timer-driven task,
//! subject to exactly the scheduling delays other tasks see) but the lateness is measured with
//! the wall clock (`std::time::Instant`): a thread blocked for 300 ms shows 300 ms of lag even
//! in a test whose tokio clock is paused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::Notify;

use crate::check::Check;
use crate::error::CheckError;

/// Settings of a [`Heartbeat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Time between ticks (default 100 ms).
    pub interval: Duration,
    /// A tick later than this, or no tick for `interval + max_lag`, fails the check
    /// (default 1 s).
    pub max_lag: Duration,
    /// How long the check keeps failing after a late tick, so a stall that has already ended
    /// stays visible to the next probe (default 10 s).
    pub hold: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            interval: Duration::from_millis(100),
            max_lag: Duration::from_secs(1),
            hold: Duration::from_secs(10),
        }
    }
}

/// Handle to a running heartbeat task; clones share it. The task ends once every handle
/// (including checks made by [`Heartbeat::check`]) is dropped.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    config: HeartbeatConfig,
    base: Instant,
    /// Wall-clock nanoseconds since `base` of the last tick.
    last_tick_ns: AtomicU64,
    last_lag_ns: AtomicU64,
    /// Nanoseconds since `base` of the last tick later than `max_lag`, plus one; 0 = never.
    last_stall_ns: AtomicU64,
    /// The lag of that late tick.
    stall_lag_ns: AtomicU64,
    ticks: AtomicU64,
    ticked: Notify,
    lag_gauge: Gauge<f64, AtomicU64>,
    late_ticks: Counter,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Heartbeat {
    /// Spawns the heartbeat task on the current tokio runtime: the runtime it watches.
    ///
    /// # Panics
    /// Outside a tokio runtime, like `tokio::spawn`.
    pub fn spawn(config: HeartbeatConfig) -> Heartbeat {
        let state = Arc::new(State {
            config,
            base: Instant::now(),
            last_tick_ns: AtomicU64::new(0),
            last_lag_ns: AtomicU64::new(0),
            last_stall_ns: AtomicU64::new(0),
            stall_lag_ns: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            ticked: Notify::new(),
            lag_gauge: Gauge::default(),
            late_ticks: Counter::default(),
        });
        tokio::spawn(beat(Arc::downgrade(&state)));
        Heartbeat { state }
    }

    /// How late the last tick ran.
    pub fn last_lag(&self) -> Duration {
        Duration::from_nanos(self.state.last_lag_ns.load(Ordering::Relaxed))
    }

    /// Time since the last tick (since the start before the first tick).
    pub fn since_last_tick(&self) -> Duration {
        let last = Duration::from_nanos(self.state.last_tick_ns.load(Ordering::Relaxed));
        self.state.base.elapsed().saturating_sub(last)
    }

    /// Number of ticks so far.
    pub fn ticks(&self) -> u64 {
        self.state.ticks.load(Ordering::Relaxed)
    }

    /// Waits for the next tick.
    pub async fn tick(&self) {
        self.state.ticked.notified().await;
    }

    /// The check's verdict now: fails while ticks are overdue, or within `hold` of a late tick.
    pub fn status(&self) -> Result<(), CheckError> {
        let config = &self.state.config;
        let since = self.since_last_tick();
        if since > config.interval + config.max_lag {
            return Err(CheckError::new(format!(
                "runtime stalled: no heartbeat for {since:?} (limit {:?})",
                config.interval + config.max_lag
            )));
        }
        let stall = self.state.last_stall_ns.load(Ordering::Relaxed);
        if stall != 0 {
            let at = Duration::from_nanos(stall - 1);
            let ago = self.state.base.elapsed().saturating_sub(at);
            if ago < config.hold {
                let lag = Duration::from_nanos(self.state.stall_lag_ns.load(Ordering::Relaxed));
                return Err(CheckError::new(format!(
                    "runtime stalled: heartbeat ran {lag:?} late {ago:?} ago (limit {:?})",
                    config.max_lag
                )));
            }
        }
        Ok(())
    }

    /// Registers `runtime_heartbeat_lag_seconds` (gauge, lag of the last tick) and
    /// `runtime_heartbeat_late_ticks_total` (ticks later than `max_lag`), under `prefix`
    /// (e.g. [`crate::metrics::DEFAULT_PREFIX`]) or bare when `None`. Call once.
    pub fn register_metrics(&self, registry: &mut Registry, prefix: Option<&str>) {
        let registry = match prefix {
            Some(prefix) if !prefix.is_empty() => registry.sub_registry_with_prefix(prefix),
            _ => registry,
        };
        registry.register_with_unit(
            "runtime_heartbeat_lag",
            "How late the last runtime heartbeat tick ran",
            Unit::Seconds,
            self.state.lag_gauge.clone(),
        );
        registry.register(
            "runtime_heartbeat_late_ticks",
            "Runtime heartbeat ticks later than the stall threshold",
            self.state.late_ticks.clone(),
        );
    }

    /// An immediate check named `name` reporting [`status`](Self::status).
    pub fn check(&self, name: &str) -> Check {
        let heartbeat = self.clone();
        Check::immediate(name, move || heartbeat.status())
    }
}

async fn beat(state: Weak<State>) {
    let interval = match state.upgrade() {
        Some(state) => state.config.interval,
        None => return,
    };
    let mut expected = Instant::now() + interval;
    loop {
        tokio::time::sleep(interval).await;
        let Some(state) = state.upgrade() else { return };
        let now = Instant::now();
        let lag = now.saturating_duration_since(expected);
        let at = nanos(now.saturating_duration_since(state.base));
        state.last_lag_ns.store(nanos(lag), Ordering::Relaxed);
        state.lag_gauge.set(lag.as_secs_f64());
        if lag > state.config.max_lag {
            state.late_ticks.inc();
            state.stall_lag_ns.store(nanos(lag), Ordering::Relaxed);
            state.last_stall_ns.store(at.saturating_add(1), Ordering::Relaxed);
            tracing::warn!(lag_ms = lag.as_millis() as u64, "runtime heartbeat ran late");
        }
        state.last_tick_ns.store(at, Ordering::Relaxed);
        state.ticks.fetch_add(1, Ordering::Relaxed);
        state.ticked.notify_waiters();
        expected = now + interval;
    }
}

#[cfg(test)]
mod tests;
