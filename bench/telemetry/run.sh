#!/usr/bin/env bash
# What tracing costs the hot paths: /v1/route requests/s (wrk) and DNS answers/s (dnsperf) of
# the real release binary, side by side:
#
#   base   the binary built before traces existed (BASE_BIN; see below)
#   off    this build, no [telemetry]
#   1%     this build, [telemetry] with sampling_ratio = 0.01, exporting to a local OTLP
#          receiver (the test kit's `otlp_sink` example)
#
#   bench/telemetry/run.sh [DURATION_SECONDS] [RUNS]
#
# Each server runs its traffic on one thread pinned to CPU 0 (http.worker_threads = 1,
# dns.udp_sockets = 1; the 1% server's export thread shares that CPU); the load generator is
# pinned to CPU 1. Runs alternate base, off, 1% (never two at once), RUNS rounds (default 5),
# and the medians and their ratios to base are printed. Goals: off within 3% of base, 1%
# within 10%.
#
# BASE_BIN: a `switchyard` built from the commit before tracing, e.g.
#   git worktree add /tmp/base <commit> && (cd /tmp/base && \
#     CARGO_TARGET_DIR=/tmp/base-target cargo build --release -p switchyard --bin switchyard)
#   BASE_BIN=/tmp/base-target/release/switchyard bench/telemetry/run.sh
# Without it the base column is left out.
set -euo pipefail

DURATION=${1:-10}
RUNS=${2:-5}
CONNS=${CONNS:-64}
CLIENTS=${CLIENTS:-4}
BASE_PORT=${BASE_PORT:-17400}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk dnsperf taskset curl dig; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool (Debian: wrk dnsperf util-linux curl bind9-dnsutils)" >&2
    exit 1
  }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release -q -p switchyard --bin switchyard \
  && cargo build --release -q -p switchyard-testkit --example otlp_sink)
NEW_BIN="$CARGO_TARGET_DIR/release/switchyard"
SINK_BIN="$CARGO_TARGET_DIR/release/examples/otlp_sink"

names=()
declare -A bin http dns admin
add() { names+=("$1"); bin[$1]=$2; }
if [[ -n ${BASE_BIN:-} ]]; then add base "$BASE_BIN"; fi
add off "$NEW_BIN"
add "1%" "$NEW_BIN"

SINK_PORT=$((BASE_PORT + 99))
"$SINK_BIN" "127.0.0.1:$SINK_PORT" --every 60 >"$WORK/sink.log" 2>&1 &
PIDS+=($!)

# config NAME INDEX: one zone, two nodes probed (TCP, every 5 s) on the instance's own admin
# port, service video; the 1% instance exports to the sink.
config() {
  local name=$1 i=$2 telemetry=""
  local a=$((BASE_PORT + 10 * i)) h=$((BASE_PORT + 10 * i + 1)) d=$((BASE_PORT + 10 * i + 2))
  admin[$name]=$a http[$name]=$h dns[$name]=$d
  if [[ $name == "1%" ]]; then
    telemetry="[telemetry]
otlp_endpoint = \"http://127.0.0.1:$SINK_PORT\"
sampling_ratio = 0.01"
  fi
  cat <<TOML
[listen]
admin = "127.0.0.1:$a"
http = "127.0.0.1:$h"
dns = "127.0.0.1:$d"

[lifecycle]
shutdown_delay_seconds = 0

[http]
worker_threads = 1

[dns]
udp_sockets = 1

$telemetry

[probe.default]
check = { kind = "tcp" }
interval_ms = 5000

[[inventory.zones]]
name = "ams"

[[inventory.nodes]]
id = "ams-1"
zone = "ams"
ipv4 = "127.0.0.1"
port = $a

[[inventory.nodes]]
id = "ams-2"
zone = "ams"
ipv4 = "127.0.0.1"
port = $a

[[inventory.services]]
name = "video"
hostnames = ["video.cdn.example"]
zones = ["ams"]
default_zone = "ams"
TOML
}

i=0
for n in "${names[@]}"; do
  dir="$WORK/$i"
  mkdir -p "$dir"
  config "$n" "$i" >"$dir/switchyard.toml"
  taskset -c 0 "${bin[$n]}" --log-format json serve --config "$dir/switchyard.toml" \
    >"$dir/log" 2>&1 &
  PIDS+=($!)
  i=$((i + 1))
done

for n in "${names[@]}"; do
  ok=
  for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:${admin[$n]}/readyz" >/dev/null; then ok=1; break; fi
    sleep 0.1
  done
  [[ -n $ok ]] || { echo "$n never became ready" >&2; cat "$WORK"/*/log >&2; exit 1; }
done

url() { echo "http://127.0.0.1:${http[$1]}/v1/route?host=video.cdn.example&path=/vod/movie/seg-00042.ts"; }
for n in "${names[@]}"; do
  curl -sf "$(url "$n")" >/dev/null || { echo "$n did not answer $(url "$n")" >&2; exit 1; }
  dig @127.0.0.1 -p "${dns[$n]}" +short video.cdn.example A | grep -q '^127\.' \
    || { echo "$n did not answer DNS" >&2; exit 1; }
done
echo "video.cdn.example A" >"$WORK/queries.txt"

rps() { awk '/Requests\/sec/ {print $2}'; }
qps() { awk '/Queries per second:/ {print $4}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A H D
for r in $(seq 1 "$RUNS"); do
  for n in "${names[@]}"; do
    v=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s "$(url "$n")" | rps)
    H[$n]="${H[$n]:-} $v"
    echo "run $r http $n: $v requests/s" >&2
  done
  for n in "${names[@]}"; do
    v=$(taskset -c 1 dnsperf -s 127.0.0.1 -p "${dns[$n]}" -d "$WORK/queries.txt" \
      -l "$DURATION" -c "$CLIENTS" -T 1 -q 500 2>&1 | qps)
    D[$n]="${D[$n]:-} $v"
    echo "run $r dns $n: $v queries/s" >&2
  done
done

spans=$(curl -s "http://127.0.0.1:${admin[1%]}/metrics" \
  | awk '/^switchyard_telemetry_spans_exported_total/ {print $2}')

ref=${names[0]}
printf '\n%-8s %-38s %12s %8s   %-38s %12s %8s\n' "" "/v1/route requests/s (runs)" "median" \
  "vs $ref" "DNS answers/s (runs)" "median" "vs $ref"
for n in "${names[@]}"; do
  hm=$(printf '%s\n' ${H[$n]} | median)
  dm=$(printf '%s\n' ${D[$n]} | median)
  href=$(printf '%s\n' ${H[$ref]} | median)
  dref=$(printf '%s\n' ${D[$ref]} | median)
  printf '%-8s %-38s %12.0f %8.3f   %-38s %12.0f %8.3f\n' "$n" "${H[$n]# }" "$hm" \
    "$(awk -v a="$hm" -v b="$href" 'BEGIN {print a / b}')" "${D[$n]# }" "$dm" \
    "$(awk -v a="$dm" -v b="$dref" 'BEGIN {print a / b}')"
done
echo "spans exported by the 1% instance: ${spans:-0}"
