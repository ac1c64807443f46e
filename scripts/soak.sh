#!/usr/bin/env bash
# Soak: the real binary under steady HTTP and DNS traffic while its fleet churns (nodes added
# and removed through the fleet file and SIGHUP every 5 s, nodes flapping), sampled from
# /proc (resident memory, open descriptors, threads) about 60 times. Checks that the last
# third's medians are within 5% of the middle third's highest sample, that no request
# failed and that nothing was logged at ERROR; then plots the samples.
#
# The run is the integration test `soak::soak_steady_traffic_with_fleet_churn_stays_flat`
# (3 minutes in `make test`), given a length and an output folder; with --etcd it is
# `soak::soak_in_etcd_mode_with_inventory_churn_in_etcd_stays_flat` (2 minutes in `make
# test`): the inventory in a real etcd, churned with `switchyard etcd import --prune`.
#
# Usage: scripts/soak.sh [--minutes N] [--release] [--etcd] [--out DIR] [--plot FILE]
#   --minutes N   length (default 30)
#   --release     soak a release build of the binary (default: the debug build of the tests)
#   --etcd        the distributed-mode soak (its files go into DIR/etcd)
#   --out DIR     soak.csv, soak-summary.txt and switchyard.log go there (default target/soak)
#   --plot FILE   the PNG written from soak.csv (default DIR/soak.png)
# CARGO overrides the cargo command.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

minutes=30
release=0
test=soak::soak_steady_traffic_with_fleet_churn_stays_flat
sub=""
out="$root/target/soak"
plot=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --release) release=1; shift ;;
    --etcd) test=soak::soak_in_etcd_mode_with_inventory_churn_in_etcd_stays_flat; sub=etcd; shift ;;
    --out) out="$2"; shift 2 ;;
    --plot) plot="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "soak: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$out" in /*) ;; *) out="$root/$out" ;; esac
plot="${plot:-$out/${sub:+$sub/}soak.png}"
cargo="${CARGO:-cargo}"
mkdir -p "$out"

if [ "$release" = 1 ]; then
  $cargo build --release -p switchyard --bin switchyard
  export SWITCHYARD_SOAK_BIN="$root/target/release/switchyard"
fi
export SWITCHYARD_SOAK_MINUTES="$minutes" SWITCHYARD_SOAK_OUT="$out"
echo "soak: $minutes minutes, output in $out"
status=0
# cargo test rather than nextest: the suite's per-test time limit is for the short version.
$cargo test -p switchyard --test it -- --exact "$test" --nocapture || status=$?

files="$out/${sub:+$sub/}"
if [ -s "${files}soak.csv" ]; then
  python3 "$root/scripts/soak-plot.py" "${files}soak.csv" "$plot" || status=$?
fi
[ -f "${files}soak-summary.txt" ] && cat "${files}soak-summary.txt"
exit "$status"
