use std::path::Path;

use super::*;
use crate::{Endpoints, HealthRegistry};

#[test]
fn marks_need_a_limit_and_ordered_ratios() {
    assert!(MemoryWatermark::new(0, 0.9, 0.8).is_err());
    assert!(MemoryWatermark::new(100, 0.8, 0.9).is_err());
    assert!(MemoryWatermark::new(100, 1.2, 0.9).is_err());
    assert!(MemoryWatermark::new(100, 0.9, 0.0).is_err());
}

#[tokio::test]
async fn readiness_fails_above_the_high_mark_until_below_the_low_mark() {
    let mib = 1 << 20;
    let health = HealthRegistry::builder().ping(false).build();
    let mem = MemoryWatermark::new(1000 * mib, 0.9, 0.8).unwrap();
    health.register(Endpoints::READYZ, mem.check("memory")).unwrap();

    mem.observe(850 * mib);
    assert_eq!(health.respond("/readyz", None).await.status, 200);
    mem.observe(950 * mib);
    let one = health.respond("/readyz/memory", None).await;
    assert_eq!(one.status, 500);
    assert_eq!(
        one.body,
        "internal server error: resident memory 950 MiB above the high mark 900 MiB (limit \
         1000 MiB); ready again below 800 MiB\n"
    );
    mem.observe(850 * mib);
    assert!(mem.is_over(), "between the marks it stays over");
    mem.observe(799 * mib);
    assert_eq!(health.respond("/readyz", None).await.status, 200);
}

#[test]
fn resident_memory_of_this_process_is_read() {
    let rss = resident_bytes().expect("Linux /proc/self/statm");
    assert!(rss > 1 << 20, "{rss}");
    let mem = MemoryWatermark::new(u64::MAX >> 1, 0.9, 0.8).unwrap();
    assert_eq!(mem.sample(), Some(false));
    assert!(mem.last_rss() > 0);
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn cgroup_limits_are_read_for_v2_and_v1_and_max_means_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "kubepods/pod1/memory.max", "536870912\n");
    assert_eq!(cgroup_limit_under(root, "0::/kubepods/pod1\n"), Some(536_870_912));
    write(root, "free/memory.max", "max\n");
    assert_eq!(cgroup_limit_under(root, "0::/free\n"), None);
    write(root, "memory/docker/abc/memory.limit_in_bytes", "268435456\n");
    let v1 = "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n";
    assert_eq!(cgroup_limit_under(root, v1), Some(268_435_456));
    write(root, "memory/unlimited/memory.limit_in_bytes", "9223372036854771712\n");
    assert_eq!(cgroup_limit_under(root, "4:memory:/unlimited\n"), None);
    assert_eq!(cgroup_limit_under(root, "0::/absent\n"), None);
}
