//! A memory watermark: resident memory against a limit, with hysteresis, for a readiness
//! check and for load shedding.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::check::Check;
use crate::error::CheckError;

/// Tracks the process's resident memory against a high and a low mark. Above the high mark
/// it is "over" (readiness fails, the caller sheds load) until usage falls below the low
/// mark, so a process hovering at the limit does not flap in and out of rotation.
///
/// ```
/// use switchyard_health::MemoryWatermark;
/// let mem = MemoryWatermark::new(1000, 0.9, 0.8).unwrap();
/// assert!(!mem.observe(850));
/// assert!(mem.observe(950)); // above 900: over
/// assert!(mem.observe(850)); // still above 800: stays over
/// assert!(!mem.observe(790)); // below the low mark: recovered
/// ```
#[derive(Debug, Clone)]
pub struct MemoryWatermark {
    inner: Arc<Marks>,
}

#[derive(Debug)]
struct Marks {
    limit: u64,
    high: u64,
    low: u64,
    over: AtomicBool,
    rss: AtomicU64,
}

impl MemoryWatermark {
    /// Marks at `high` and `low` fractions of `limit` bytes; `0 < low < high <= 1`.
    pub fn new(limit: u64, high: f64, low: f64) -> Result<MemoryWatermark, String> {
        if limit == 0 {
            return Err("the memory limit must be > 0".into());
        }
        if !(low > 0.0 && low < high && high <= 1.0) {
            return Err(format!("need 0 < low ({low}) < high ({high}) <= 1"));
        }
        let mark = |f: f64| (limit as f64 * f) as u64;
        Ok(MemoryWatermark {
            inner: Arc::new(Marks {
                limit,
                high: mark(high),
                low: mark(low),
                over: AtomicBool::new(false),
                rss: AtomicU64::new(0),
            }),
        })
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.inner.limit
    }

    /// Records a reading of resident memory in bytes and returns whether the process is now
    /// over the watermark.
    pub fn observe(&self, rss: u64) -> bool {
        let m = &self.inner;
        m.rss.store(rss, Ordering::Relaxed);
        let was = m.over.load(Ordering::Acquire);
        let now = if was { rss >= m.low } else { rss > m.high };
        if now != was {
            m.over.store(now, Ordering::Release);
            if now {
                tracing::warn!(rss, high = m.high, limit = m.limit, "memory above the high mark");
            } else {
                tracing::info!(rss, low = m.low, "memory back below the low mark");
            }
        }
        now
    }

    /// Reads this process's resident memory and records it; `None` where it cannot be read.
    pub fn sample(&self) -> Option<bool> {
        resident_bytes().map(|rss| self.observe(rss))
    }

    /// Whether the process is over the watermark (cheap: one atomic load).
    pub fn is_over(&self) -> bool {
        self.inner.over.load(Ordering::Acquire)
    }

    /// The last reading, bytes.
    pub fn last_rss(&self) -> u64 {
        self.inner.rss.load(Ordering::Relaxed)
    }

    /// Samples every `every` until the runtime stops (a task on the current runtime).
    pub fn spawn_sampler(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if this.sample().is_none() {
                    tracing::warn!("cannot read resident memory; the watermark stops sampling");
                    return;
                }
            }
        })
    }

    /// A readiness check named `name` failing while over the watermark.
    pub fn check(&self, name: &str) -> Check {
        let this = self.clone();
        Check::immediate(name, move || {
            if !this.is_over() {
                return Ok(());
            }
            let m = &this.inner;
            Err(CheckError::new(format!(
                "resident memory {} MiB above the high mark {} MiB (limit {} MiB); ready again \
                 below {} MiB",
                mib(m.rss.load(Ordering::Relaxed)),
                mib(m.high),
                mib(m.limit),
                mib(m.low)
            )))
        })
    }
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

/// This process's resident set size in bytes (Linux `/proc/self/statm`).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions; it returns -1 for a name it does not know.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|&p| p > 0)?)
}

/// The memory limit of this process's cgroup (v2 `memory.max`, or v1
/// `memory.limit_in_bytes`), `None` when there is none or it cannot be read.
pub fn cgroup_memory_limit() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_limit_under(Path::new("/sys/fs/cgroup"), &membership)
}

/// The limit for a process whose `/proc/self/cgroup` reads `membership`, with the cgroup
/// file system mounted at `root`.
pub(crate) fn cgroup_limit_under(root: &Path, membership: &str) -> Option<u64> {
    let read = |p: &Path| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        let limit = if controllers.is_empty() {
            read(&root.join(rel).join("memory.max"))
        } else if controllers.split(',').any(|c| c == "memory") {
            read(&root.join("memory").join(rel).join("memory.limit_in_bytes"))
        } else {
            continue;
        };
        // "max" (v2) and a near-2^63 value (v1) mean no limit.
        return limit.and_then(|v| v.parse::<u64>().ok()).filter(|&v| v < 1 << 60);
    }
    None
}

#[cfg(test)]
mod tests;
