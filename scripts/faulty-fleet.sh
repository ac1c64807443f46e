#!/usr/bin/env bash
# Faulty fleet at full size: a release build of the binary probing 10,000 simulated nodes on
# loopback (127.40.0.1 and up), half of them hanging, resetting, dripping a byte a second,
# answering garbage or flapping every 2-4 s, for a few minutes. Prints the probe schedule's
# lateness (p50/p99/p99.9 over the fault phase), overruns, how many faulty nodes were found
# out, whether any healthy node ever left `up`, and descriptors, runtime tasks, threads and
# resident memory before, at the peak of, and after the faults.
#
# The run is the integration test `faulty_fleet::a_faulty_fleet_costs_no_healthy_node_and_leaks_nothing`
# (1,000 nodes and 25 s of faults in `make test`), built in release mode and given a size;
# with --etcd it is `faulty_fleet::in_etcd_mode_a_faulty_fleet_costs_no_healthy_node_and_leaks_nothing`.
#
# Usage: scripts/faulty-fleet.sh [--nodes N] [--seconds S] [--etcd] [--out DIR]
#   --nodes N     simulated nodes (default 10000)
#   --seconds S   length of the fault phase (default 120)
#   --etcd        distributed mode: the inventory in a real etcd (installed by
#                 scripts/setup.sh), every verdict written there
#   --out DIR     faulty-fleet-summary.txt and switchyard.log go there (default target/faulty-fleet)
# CARGO overrides the cargo command (e.g. "flock /tmp/cargo-build.lock cargo").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

nodes=10000
seconds=120
out="$root/target/faulty-fleet"
test=faulty_fleet::a_faulty_fleet_costs_no_healthy_node_and_leaks_nothing
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --etcd) test=faulty_fleet::in_etcd_mode_a_faulty_fleet_costs_no_healthy_node_and_leaks_nothing; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "faulty-fleet: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out="$root/$out" ;; esac
cargo="${CARGO:-cargo}"
mkdir -p "$out"

# The simulator (one listener for the fleet) and the binary each hold a connection per node.
want=$((nodes + 4096))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || {
    echo "faulty-fleet: the hard open-file limit $(ulimit -Hn) is below $want" >&2
    exit 1
  }
fi
ulimit -Sn "$(ulimit -Hn)"

export SWITCHYARD_FAULTY_NODES="$nodes" SWITCHYARD_FAULTY_SECONDS="$seconds" SWITCHYARD_FAULTY_OUT="$out"
echo "faulty-fleet: $nodes nodes, $seconds s of faults, release build, output in $out"
# cargo test rather than nextest: the suite's per-test time limit is for the short version.
$cargo test --release -p switchyard --test it -- --exact "$test" --nocapture
