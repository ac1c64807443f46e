//! The `switchyard` binary: all logic lives in the library; see `switchyard::cli`.

#[cfg(feature = "jemalloc")]
use tikv_jemalloc_ctl::{background_thread, epoch, max_background_threads, stats};

/// jemalloc, not the system allocator: on a 200,000-node fleet glibc's malloc held half as
/// much memory again and spent twice the CPU (`bench/etcd/run.sh --only-big`), from the
/// many small, long-lived allocations of the health views and probe state and the arenas
/// it keeps per thread. Building without the `jemalloc` feature leaves the C library's `malloc`
/// in place, for heap profilers that hook it (heaptrack, valgrind's massif).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // Freed pages are given back on jemalloc's decay schedule by its own background thread,
    // not only when some later allocation happens to pass through the arena: a process
    // that goes quiet after a reload or a burst shrinks back instead of holding its peak.
    // One thread is plenty for that (the default is one per CPU). Refused only where the
    // platform has no threads for it; the allocator works either way.
    #[cfg(feature = "jemalloc")]
    {
        let _ = max_background_threads::write(1);
        let _ = background_thread::write(true);
        switchyard::metrics::report_heap_with(heap_stats);
    }
    switchyard::cli::main()
}

/// The allocator's figures for `/metrics`, refreshed (an epoch advance) at each read.
#[cfg(feature = "jemalloc")]
fn heap_stats() -> Option<switchyard::metrics::HeapStats> {
    epoch::advance().ok()?;
    Some(switchyard::metrics::HeapStats {
        allocated: stats::allocated::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
        retained: stats::retained::read().ok()? as u64,
    })
}
