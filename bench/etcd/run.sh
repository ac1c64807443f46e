#!/usr/bin/env bash
# Distributed mode on a real etcd with the release binary: import, steady-state writes,
# propagation of 10,000 changes, route-around of a killed node, CPU and RSS on a big fleet.
# Usage: bench/etcd/run.sh [--big NODES] [--only-big]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v etcd >/dev/null || { echo "etcd is not installed (scripts/setup.sh)" >&2; exit 1; }
cargo build --release --bin switchyard -q
exec python3 bench/etcd/run.py "${CARGO_TARGET_DIR:-target}/release/switchyard" "$@"
