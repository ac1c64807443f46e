#!/usr/bin/env bash
# /readyz under load: wrk with keep-alive against the admin listener of a release build
# serving examples/switchyard.toml. Prints requests/s and latency percentiles.
# Usage: bench/server/readyz.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
command -v wrk >/dev/null || { echo "wrk is not installed (scripts/setup.sh bench)" >&2; exit 1; }
cargo build --release --bin switchyard -q
bin=${CARGO_TARGET_DIR:-target}/release/switchyard
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn $bin serve --config examples/switchyard.toml --admin-listen 127.0.0.1:$port \
  --http-listen 127.0.0.1:0 >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/readyz || true)
  [ "$code" = 200 ] && break
  sleep 0.05
done
[ "$code" = 200 ] || { echo "readyz never passed" >&2; exit 1; }
out=$(wrk -t1 -c"$conns" -d"${secs}s" --latency http://127.0.0.1:$port/readyz)
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
p50=$(echo "$out" | awk '$1=="50%" {print $2}')
p99=$(echo "$out" | awk '$1=="99%" {print $2}')
echo "readyz under wrk (1 thread, $conns connections, ${secs}s, keep-alive): $rps req/s, p50 $p50, p99 $p99"
