//! A registered check at run time: timeout, panic containment, result cache, rate-limited
//! failure logs and metrics.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::time::Instant;

use crate::check::{CheckKind, Endpoint, Toggle, Warning};
use crate::error::CheckError;
use crate::metrics::CheckMetrics;

/// The result of one run, shared by every request it answers.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) result: Result<(), CheckError>,
    pub(crate) duration: Duration,
}

pub(crate) struct Entry {
    pub(crate) name: Arc<str>,
    kind: CheckKind,
    timeout: Duration,
    cache: Option<Cache>,
    pub(crate) condition: Option<Toggle>,
    /// Asked after a passing run; see [`Check::warn_when`](crate::Check::warn_when).
    pub(crate) warning: Option<Warning>,
    metrics: CheckMetrics,
    log: LogLimiter,
}

/// Settings an entry takes from its registry.
pub(crate) struct EntryConfig {
    pub(crate) default_timeout: Duration,
    pub(crate) log_interval: Duration,
    pub(crate) epoch: Instant,
}

struct Cache {
    interval: Duration,
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    /// When the last completed run started, and what it returned.
    last: Option<(Instant, Outcome)>,
    /// The run in progress; every waiter polls this one future.
    inflight: Option<Shared<BoxFuture<'static, Outcome>>>,
}

impl Entry {
    pub(crate) fn new(
        name: Arc<str>,
        kind: CheckKind,
        timeout: Option<Duration>,
        cache_interval: Option<Duration>,
        condition: Option<Toggle>,
        metrics: CheckMetrics,
        config: &EntryConfig,
    ) -> Entry {
        Entry {
            name,
            kind,
            timeout: timeout.unwrap_or(config.default_timeout),
            cache: cache_interval
                .map(|interval| Cache { interval, state: Mutex::new(CacheState::default()) }),
            condition,
            warning: None,
            metrics,
            log: LogLimiter::new(config.epoch, config.log_interval),
        }
    }

    /// Runs the check for a request to `endpoint`, or answers from its cache. A failed run is
    /// counted under the endpoint that started it.
    pub(crate) async fn run(self: &Arc<Self>, endpoint: Endpoint) -> Outcome {
        match &self.cache {
            None => self.run_fresh(endpoint).await,
            Some(cache) => self.run_cached(cache, endpoint).await,
        }
    }

    /// Records what an endpoint reported for this check in its status gauge.
    pub(crate) fn report_status(&self, endpoint: Endpoint, passed: bool) {
        if let Some(gauge) = &self.metrics.status[endpoint.index()] {
            gauge.set(i64::from(passed));
        }
    }

    async fn run_cached(self: &Arc<Self>, cache: &Cache, endpoint: Endpoint) -> Outcome {
        let run = {
            let mut state = lock(&cache.state);
            if let Some((started, outcome)) = &state.last
                && started.elapsed() < cache.interval
            {
                return outcome.clone();
            }
            match &state.inflight {
                Some(run) => run.clone(),
                None => {
                    // The run is a task of its own so it completes, and fills the cache, even
                    // if every request waiting for it goes away; an abandoned future would
                    // resume later with its timeout already spent.
                    let entry = Arc::clone(self);
                    let task = tokio::spawn(async move {
                        let started = Instant::now();
                        let outcome = entry.run_fresh(endpoint).await;
                        if let Some(cache) = &entry.cache {
                            let mut state = lock(&cache.state);
                            state.last = Some((started, outcome.clone()));
                            state.inflight = None;
                        }
                        outcome
                    });
                    let entry = Arc::clone(self);
                    let run = async move {
                        task.await.unwrap_or_else(|_| {
                            // Cancelled with its runtime: let the next request start afresh.
                            if let Some(cache) = &entry.cache {
                                lock(&cache.state).inflight = None;
                            }
                            Outcome { result: Err(CheckError::Panicked), duration: Duration::ZERO }
                        })
                    }
                    .boxed()
                    .shared();
                    state.inflight = Some(run.clone());
                    run
                }
            }
        };
        run.await
    }

    async fn run_fresh(&self, endpoint: Endpoint) -> Outcome {
        let started = Instant::now();
        let result = match &self.kind {
            CheckKind::Immediate(check) => std::panic::catch_unwind(AssertUnwindSafe(|| check()))
                .unwrap_or(Err(CheckError::Panicked)),
            CheckKind::Async(check) => match std::panic::catch_unwind(AssertUnwindSafe(|| check()))
            {
                Err(_) => Err(CheckError::Panicked),
                Ok(future) => {
                    let mut future = AssertUnwindSafe(future).catch_unwind();
                    // Most checks answer on their first poll; only those that wait pay for a
                    // timer.
                    let finished = match futures::poll!(&mut future) {
                        Poll::Ready(finished) => Some(finished),
                        Poll::Pending => tokio::time::timeout(self.timeout, future).await.ok(),
                    };
                    match finished {
                        Some(Ok(result)) => result,
                        Some(Err(_)) => Err(CheckError::Panicked),
                        None => Err(CheckError::Timeout(self.timeout)),
                    }
                }
            },
        };
        let duration = started.elapsed();
        self.metrics.duration.observe(duration.as_secs_f64());
        match &result {
            Ok(()) => self.log.passed(&self.name),
            Err(err) => {
                if let Some(failures) = &self.metrics.failures[endpoint.index()] {
                    failures.inc();
                }
                self.log.failed(&self.name, err);
            }
        }
        Outcome { result, duration }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The state stays consistent across a panic (plain assignments), so poisoning is ignored.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Logs a failing check with its real reason at most once per interval, counting what it
/// suppressed, and logs the recovery only after a failure was logged, so a flapping check
/// costs at most two lines per interval.
struct LogLimiter {
    epoch: Instant,
    interval_ms: u64,
    /// Milliseconds since `epoch` of the last failure log, plus one; 0 = never.
    last_ms: AtomicU64,
    suppressed: AtomicU64,
    reported: AtomicBool,
}

impl LogLimiter {
    fn new(epoch: Instant, interval: Duration) -> LogLimiter {
        LogLimiter {
            epoch,
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        }
    }

    fn failed(&self, name: &str, err: &CheckError) {
        let now = u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval_ms;
        if due
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            self.reported.store(true, Ordering::Relaxed);
            tracing::warn!(check = name, error = %err, suppressed, "health check failed");
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn passed(&self, name: &str) {
        if self.reported.load(Ordering::Relaxed) && self.reported.swap(false, Ordering::Relaxed) {
            tracing::info!(check = name, "health check recovered");
        }
    }
}

#[cfg(test)]
mod tests;
