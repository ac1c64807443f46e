//! The `switchyard` binary: all logic lives in the library; see `switchyard::cli`.

/// jemalloc, not the system allocator: on a 200,000-node fleet glibc's malloc held half as
/// much memory again and spent twice the CPU (`bench/etcd/run.sh --only-big`), from the
/// many small, long-lived allocations of the health views and probe state and the arenas
/// it keeps per thread.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    switchyard::cli::main()
}
