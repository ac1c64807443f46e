//! Time this process's cgroup spent throttled by its CPU quota (a container's CPU limit: a
//! Kubernetes `limits.cpu` is a CFS quota). While throttled no worker can run, so the queue
//! delay watch must not read that time as the workers idling on a crowded machine: busy
//! shares are taken over the time the process was allowed to run.
//!
//! Read from the `cpu.stat` of the process's own cgroup: `throttled_usec` under cgroup v2,
//! `throttled_time` (nanoseconds) under v1's `cpu` controller. Where neither can be read
//! (no quota, another platform) the time is always zero and nothing changes.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where this process's throttled time is read, if anywhere.
#[derive(Debug, Clone, Default)]
pub(crate) struct Throttling {
    stat: Option<(PathBuf, Version)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

impl Throttling {
    /// The `cpu.stat` of this process's cgroup, when one is found under `/sys/fs/cgroup`.
    pub(crate) fn of_this_process() -> Self {
        let Ok(cgroups) = std::fs::read_to_string("/proc/self/cgroup") else {
            return Self::default();
        };
        let stat = candidates(&cgroups, Path::new("/sys/fs/cgroup"))
            .into_iter()
            .find(|(path, version)| read(path, *version).is_some());
        Self { stat }
    }

    /// Throttled time so far (zero when it cannot be read).
    pub(crate) fn total(&self) -> Duration {
        self.stat.as_ref().and_then(|(path, version)| read(path, *version)).unwrap_or_default()
    }
}

/// The `cpu.stat` files that may hold this process's figures, given `/proc/self/cgroup`:
/// the v1 `cpu` controller's (mounted alone or with `cpuacct`), then the v2 group's.
fn candidates(cgroups: &str, root: &Path) -> Vec<(PathBuf, Version)> {
    let mut out = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let relative = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "cpu") {
            for mount in ["cpu", "cpu,cpuacct", "cpuacct,cpu"] {
                out.push((root.join(mount).join(relative).join("cpu.stat"), Version::V1));
            }
        } else if controllers.is_empty() {
            out.push((root.join(relative).join("cpu.stat"), Version::V2));
        }
    }
    out
}

fn read(path: &Path, version: Version) -> Option<Duration> {
    parse_stat(&std::fs::read_to_string(path).ok()?, version)
}

/// The throttled time in a `cpu.stat` text.
fn parse_stat(text: &str, version: Version) -> Option<Duration> {
    let (key, unit_ns) = match version {
        Version::V1 => ("throttled_time", 1),
        Version::V2 => ("throttled_usec", 1_000),
    };
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key)
            .then(|| v.trim().parse::<u64>().ok().map(|n| Duration::from_nanos(n * unit_ns)))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stat_file_is_found_from_the_cgroup_lines_and_read_in_its_unit() {
        let v1 = "4:memory:/x\n2:cpuacct:/\n1:cpu:/pods/a\n0::/\n";
        let found = candidates(v1, Path::new("/cg"));
        assert_eq!(found[0], (PathBuf::from("/cg/cpu/pods/a/cpu.stat"), Version::V1));
        assert_eq!(found[1].0, PathBuf::from("/cg/cpu,cpuacct/pods/a/cpu.stat"));
        assert_eq!(found.last().unwrap(), &(PathBuf::from("/cg/cpu.stat"), Version::V2));
        let joined = candidates("3:cpu,cpuacct:/\n", Path::new("/cg"));
        assert_eq!(joined[0].0, PathBuf::from("/cg/cpu/cpu.stat"));

        let v1_stat = "nr_periods 6589\nnr_throttled 6445\nthrottled_time 19263324835\n";
        assert_eq!(parse_stat(v1_stat, Version::V1), Some(Duration::from_nanos(19_263_324_835)));
        let v2_stat = "usage_usec 10\nnr_throttled 3\nthrottled_usec 2500\nnr_bursts 0\n";
        assert_eq!(parse_stat(v2_stat, Version::V2), Some(Duration::from_micros(2500)));
        assert_eq!(parse_stat("usage_usec 10\n", Version::V2), None);
        assert_eq!(Throttling::default().total(), Duration::ZERO);
    }
}
