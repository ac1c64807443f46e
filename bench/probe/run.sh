#!/usr/bin/env bash
# Prober benchmarks: keep-alive HTTP probes/s against the loopback simulator, probes per
# CPU-second side by side with Prometheus blackbox_exporter (fresh connection per probe, same
# target), and 100,000 nodes at a 10 s interval (CPU and RSS), each measured end to end.
#
# Usage: bench/probe/run.sh [quick]
# Needs: prometheus-blackbox-exporter, wrk, taskset (Debian packages).
# Env: PROBER_CPU / TARGET_CPU (default 0 / 1), BENCH_NICE (default 0).
# Prober and target are pinned to different cores (PROBER_CPU, TARGET_CPU; default 0 and 1)
# for runs 1 and 3, so neither is charged for the other's user-space work.
set -euo pipefail
# With CFS autogroups, nice only ranks processes inside one session: run in a session of our
# own and give its group the same priority against the other sessions.
if [ "${BENCH_NICE:-0}" != 0 ] && [ -w /proc/self/autogroup ]; then
  if [ -z "${BENCH_OWN_SESSION:-}" ]; then
    BENCH_OWN_SESSION=1 exec setsid --wait bash "$(readlink -f "$0")" "$@"
  fi
  echo "${BENCH_NICE}" >/proc/self/autogroup 2>/dev/null || true
fi
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
QUICK="${1:-}"
SECS=10; [ "$QUICK" = quick ] && SECS=5
PROBER_CPU="${PROBER_CPU:-0}"
TARGET_CPU="${TARGET_CPU:-1}"
# Scheduling priority of every measured process (prober, simulator, blackbox_exporter, wrk);
# e.g. BENCH_NICE=-10 (as root) keeps background builds on a shared machine from starving
# them. Default 0.
N=(nice -n "${BENCH_NICE:-0}")

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is required (util-linux)" >&2; exit 1; }
BBE=/usr/bin/prometheus-blackbox-exporter
[ -x "$BBE" ] || { echo "$BBE is required (apt-get install prometheus-blackbox-exporter)" >&2; exit 1; }

cargo build --release -q -p switchyard-probe --example probe_bench
B="$CARGO_TARGET_DIR/release/examples/probe_bench"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# start_sim NODES FIRST_IP [cpu to pin to, with one worker] -> sets SIM_PORT and SIM_PID
start_sim() {
  local pin=() workers=2
  if [ -n "${3:-}" ]; then pin=(taskset -c "$3"); workers=1; fi
  "${N[@]}" "${pin[@]}" "$B" sim --nodes "$1" --first "$2" --workers "$workers" >"$WORK/sim.$2" 2>&1 &
  SIM_PID=$!; PIDS+=("$SIM_PID")
  for _ in $(seq 100); do grep -q READY "$WORK/sim.$2" 2>/dev/null && break; sleep 0.1; done
  SIM_PORT=$(awk '/READY/{print $2}' "$WORK/sim.$2")
}

# probe_with_target_cpu ARGS... : runs the pinned prober and prints the target's CPU beside it.
probe_with_target_cpu() {
  local t0 t1 start end
  t0=$(cpu_ticks "$SIM_PID"); start=$(date +%s.%N)
  "${N[@]}" taskset -c "$PROBER_CPU" "$B" probe --workers 1 "$@"
  t1=$(cpu_ticks "$SIM_PID"); end=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v s="$start" -v e="$end" \
    'BEGIN{printf "target (simulator, whole run incl. warm-up): cpu_cores=%.3f\n", (b-a)/100/(e-s)}'
}

echo "== machine: $(nproc) cores, load average $(load), nice ${BENCH_NICE:-0}, $(cat /proc/self/autogroup 2>/dev/null)"

echo "== 1. keep-alive HTTP probes/s: 2,200 nodes on 1,000 simulated addresses, 40 ms interval"
echo "      (~52,000/s offered); prober on cpu $PROBER_CPU, simulator on cpu $TARGET_CPU"
start_sim 1000 127.21.0.1 "$TARGET_CPU"
probe_with_target_cpu --nodes 2200 --addrs 1000 --first 127.21.0.1 --port "$SIM_PORT" \
  --interval-ms 40 --timeout-ms 30 --warmup-s 3 --seconds "$SECS" | tee "$WORK/keepalive"
echo "   load average after run 1: $(load)"

echo "== 2. fresh connection per probe, one target: switchyard vs blackbox_exporter"
start_sim 1 127.22.0.1
TARGET="http://127.22.0.1:$SIM_PORT/health"
cat >"$WORK/bbe.yml" <<YML
modules:
  http_2xx:
    prober: http
    timeout: 2s
    http:
      preferred_ip_protocol: ip4
YML
BBE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${N[@]}" "$BBE" --config.file="$WORK/bbe.yml" --web.listen-address="127.0.0.1:$BBE_PORT" >"$WORK/bbe.log" 2>&1 &
BBE_PID=$!; PIDS+=($BBE_PID)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$BBE_PORT/-/healthy" >/dev/null 2>&1 && break; sleep 0.1; done
URL="http://127.0.0.1:$BBE_PORT/probe?module=http_2xx&target=$TARGET"
curl -sf "$URL" | grep -q '^probe_success 1' || { echo "blackbox_exporter probe failed" >&2; exit 1; }
T0=$(cpu_ticks $BBE_PID)
"${N[@]}" wrk -t2 -c16 -d"${SECS}s" "$URL" >"$WORK/wrk.out"
T1=$(cpu_ticks $BBE_PID)
BBE_REQ=$(awk '/requests in/{print $1}' "$WORK/wrk.out")
BBE_RATE=$(awk '/Requests\/sec/{print $2}' "$WORK/wrk.out")
BBE_CPU=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.2f", (b-a)/100}')
BBE_PER_CPU=$(awk -v r="$BBE_REQ" -v c="$BBE_CPU" 'BEGIN{printf "%.0f", r/c}')
echo "blackbox_exporter: probes=$BBE_REQ probes_per_s=$BBE_RATE cpu_s=$BBE_CPU probes_per_cpu_s=$BBE_PER_CPU"
"${N[@]}" "$B" probe --nodes 1000 --addrs 1 --first 127.22.0.1 --port "$SIM_PORT" --fresh \
  --interval-ms 100 --warmup-s 2 --seconds "$SECS" | tee "$WORK/fresh"
OURS_PER_CPU=$(grep -o 'probes_per_cpu_s=[0-9]*' "$WORK/fresh" | cut -d= -f2)
echo "ratio switchyard/blackbox probes per CPU-second: $(awk -v a="$OURS_PER_CPU" -v b="$BBE_PER_CPU" 'BEGIN{printf "%.1fx", a/b}')"
# The kernel floor: one blocking thread doing only socket/setsockopt/connect/write/read/close.
"${N[@]}" "$B" floor --first 127.22.0.1 --port "$SIM_PORT" --seconds "$SECS"
"${N[@]}" "$B" probe --nodes 500 --addrs 1 --first 127.22.0.1 --port "$SIM_PORT" \
  --interval-ms 100 --warmup-s 2 --seconds "$SECS" | sed 's/^/(keep-alive, same target) /'
echo "   load average after run 2: $(load)"

echo "== 3. 100,000 nodes at a 10 s interval on 500 simulated addresses, fresh connections (the"
echo "      descriptor limit here, $(ulimit -n), cannot hold 100k pooled sockets); pinned as in 1"
start_sim 500 127.23.0.1 "$TARGET_CPU"
probe_with_target_cpu --nodes 100000 --addrs 500 --first 127.23.0.1 --port "$SIM_PORT" --fresh \
  --interval-ms 10000 --warmup-s 12 --seconds $((SECS * 2)) | tee "$WORK/100k"
echo "== 3b. 15,000 nodes at a 1 s interval with keep-alive (pooled sockets within the fd limit)"
probe_with_target_cpu --nodes 15000 --addrs 500 --first 127.23.0.1 --port "$SIM_PORT" \
  --interval-ms 1000 --warmup-s 3 --seconds "$SECS"
echo "   load average after run 3: $(load)"
