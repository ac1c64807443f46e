#!/usr/bin/env bash
# Overload at full length: a release build of the binary, its HTTP traffic on one thread of
# its own and DNS on one UDP socket, each front end first measured closed loop (capacity),
# then driven open loop at FACTOR times that (latency from each request's scheduled time, no
# coordinated omission). Prints admitted and refused latency percentiles, refusals as the
# client saw them and as the server counted them, DNS answers and drops by reason, /livez
# during the run, resident memory and descriptors before, at the peak and after, and whether
# everything answers normally afterwards without a restart.
#
# The run is the integration test
# `overload::three_times_capacity_is_refused_fast_and_counted_and_leaves_no_trace` (8 s per
# phase in `make test`), built in release mode; with --etcd it is
# `overload::in_etcd_mode_three_times_capacity_is_refused_fast_and_counted_and_leaves_no_trace`.
#
# Usage: scripts/overload.sh [--seconds S] [--factor F] [--server-cpu C] [--etcd] [--out DIR]
#   --seconds S     length of each overload phase (default 30)
#   --factor F      offered load as a multiple of the measured capacity (default 3)
#   --server-cpu C  run the server in a cgroup with a CPU quota of C cores (e.g. 0.25), so
#                   that the generator, on the rest of the machine, can offer 3x on time
#                   (root; cgroup v2 with the cpu controller, or v1's cpu hierarchy)
#   --etcd          distributed mode: the inventory and the membership lease in a real etcd
#                   (installed by scripts/setup.sh; etcd itself is not capped)
#   --out DIR       overload-summary.txt and switchyard.log go there (default target/overload)
# CARGO overrides the cargo command (e.g. "flock /tmp/cargo-build.lock cargo").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=30
factor=3
server_cpu=
out="$root/target/overload"
test=overload::three_times_capacity_is_refused_fast_and_counted_and_leaves_no_trace
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --factor) factor="$2"; shift 2 ;;
    --server-cpu) server_cpu="$2"; shift 2 ;;
    --etcd) test=overload::in_etcd_mode_three_times_capacity_is_refused_fast_and_counted_and_leaves_no_trace; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "overload: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out="$root/$out" ;; esac
cargo="${CARGO:-cargo}"
mkdir -p "$out"
ulimit -Sn "$(ulimit -Hn)"

if [ -n "$server_cpu" ]; then
  # A cgroup of its own with a quota per 4 ms period (short periods keep throttling stalls
  # short), and a wrapper that moves the server into it before it starts.
  period=4000
  quota=$(awk -v c="$server_cpu" 'BEGIN { q = int(c * 4000); if (q < 1000) q = 1000; print q }')
  if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    group=/sys/fs/cgroup/switchyard-overload
    mkdir -p "$group"
    echo "$quota $period" > "$group/cpu.max"
  elif [ -d /sys/fs/cgroup/cpu ]; then
    group=/sys/fs/cgroup/cpu/switchyard-overload
    mkdir -p "$group"
    echo "$period" > "$group/cpu.cfs_period_us"
    echo "$quota" > "$group/cpu.cfs_quota_us"
  else
    echo "overload: --server-cpu needs a cgroup cpu controller (v2 or v1)" >&2
    exit 2
  fi
  $cargo build --release -p switchyard --bin switchyard
  wrapper="$out/switchyard-capped"
  printf '#!/bin/sh\necho $$ > %s/cgroup.procs\nexec %s "$@"\n' \
    "$group" "$root/target/release/switchyard" > "$wrapper"
  chmod +x "$wrapper"
  export SWITCHYARD_OVERLOAD_BIN="$wrapper"
  echo "overload: server capped at $quota us per $period us of CPU ($group)"
fi

export SWITCHYARD_OVERLOAD_SECONDS="$seconds" SWITCHYARD_OVERLOAD_FACTOR="$factor" \
  SWITCHYARD_OVERLOAD_OUT="$out"
echo "overload: ${factor}x capacity, $seconds s per front end, release build, output in $out"
$cargo test --release -p switchyard --test it -- --exact "$test" --nocapture
