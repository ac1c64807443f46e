#!/usr/bin/env bash
# HTTP route-decision throughput and latency vs nginx serving a static 200, at the same CPU
# budget: each server runs one worker pinned to CPU 0, wrk runs one thread pinned to CPU 1.
#
#   bench/http/run.sh [DURATION_SECONDS] [CONNECTIONS] [RUNS]
#
# 1. Saturation: wrk -t1 -c$CONNECTIONS against switchyard's /v1/route and nginx's static
#    200, alternating (never both at once), RUNS runs each (default 3); the median is kept.
# 2. Half load: wrk's Lua delay() paces every connection (a random 0-2 ms think time), with as
#    many connections as half of each server's median rate needs (calibrated by a short
#    paced run, then corrected once by the rate a second short run achieves); p50/p99 come
#    from wrk --latency. wrk2 is not available, so this is paced closed-loop load, not a
#    true open-loop schedule (coordinated omission applies).
# 3. Switchyard with a worker per core and no pinning, same wrk command, RUNS runs.
set -euo pipefail

DURATION=${1:-10}
CONNS=${2:-64}
RUNS=${3:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
SY_PORT=18081
NGX_PORT=18082
SY2_PORT=18083
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk nginx taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool (Debian: wrk nginx-light util-linux)" >&2; exit 1; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release -q -p switchyard --example traffic_bench_server)
SERVER="$CARGO_TARGET_DIR/release/examples/traffic_bench_server"

cat >"$WORK/nginx.conf" <<NGX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/body;
  proxy_temp_path $WORK/proxy;
  fastcgi_temp_path $WORK/fastcgi;
  uwsgi_temp_path $WORK/uwsgi;
  scgi_temp_path $WORK/scgi;
  server {
    listen 127.0.0.1:$NGX_PORT reuseport;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
}
NGX

taskset -c 0 "$SERVER" "127.0.0.1:$SY_PORT" 1 >"$WORK/sy.log" 2>&1 &
PIDS+=($!)
taskset -c 0 nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 never opened" >&2
  exit 1
}
wait_port "$SY_PORT"
wait_port "$NGX_PORT"

SY_URL="http://127.0.0.1:$SY_PORT/v1/route?host=video.cdn.example.com&path=/vod/movie/seg-00042.ts"
NGX_URL="http://127.0.0.1:$NGX_PORT/"

rps() { awk '/Requests\/sec/ {print $2}'; }
# wrk --latency prints e.g. "50%  123.00us"; normalise to microseconds.
pct() {
  awk -v p="$1%" '$1 == p {
    v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
    if (u == "ms") v *= 1000; else if (u == "s") v *= 1000000;
    printf "%.0f", v }'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_wrk() { taskset -c 1 wrk -t1 -c"$2" -d"${DURATION}s" --timeout 5s --latency "${@:3}" "$1"; }

# Check the endpoint answers before measuring.
curl -sf "$SY_URL" >/dev/null || { echo "switchyard did not answer $SY_URL" >&2; exit 1; }

declare -a SY NG
for _ in $(seq 1 "$RUNS"); do
  SY+=("$(run_wrk "$SY_URL" "$CONNS" | rps)")
  NG+=("$(run_wrk "$NGX_URL" "$CONNS" | rps)")
done
SY_MED=$(printf '%s\n' "${SY[@]}" | median)
NG_MED=$(printf '%s\n' "${NG[@]}" | median)

# A think time of 0, 1 or 2 ms (1 ms on average): a fixed 1 ms would make every connection
# fire on the same timer tick, and the bursts, not the server, would set the tail.
cat >"$WORK/pace.lua" <<'LUA'
function delay() return math.random(0, 2) end
LUA
# Paced connections rarely reach 1000 requests/s each (timer granularity, round trips), so
# a short calibration run measures what one paced connection achieves and the connection
# count is derived from that.
paced_conns() {
  local url=$1 target=$2 probe per
  probe=$(DURATION=2 run_wrk "$url" 4 -s "$WORK/pace.lua" | rps)
  awk -v t="$target" -v p="$probe" 'BEGIN { per = p / 4; if (per < 1) per = 1;
    c = int(t / per + 0.5); if (c < 1) c = 1; print c }'
}
SY_C=$(paced_conns "$SY_URL" "$(awk -v r="$SY_MED" 'BEGIN {print r / 2}')")
NG_C=$(paced_conns "$NGX_URL" "$(awk -v r="$NG_MED" 'BEGIN {print r / 2}')")
# One correction pass: scale the connection count by target / achieved of a short run.
correct() {
  local url=$1 conns=$2 target=$3 got
  got=$(DURATION=2 run_wrk "$url" "$conns" -s "$WORK/pace.lua" | rps)
  awk -v c="$conns" -v t="$target" -v g="$got" 'BEGIN { if (g < 1) g = 1;
    n = int(c * t / g + 0.5); if (n < 1) n = 1; if (n > 4000) n = 4000; print n }'
}
SY_C=$(correct "$SY_URL" "$SY_C" "$(awk -v r="$SY_MED" 'BEGIN {print r / 2}')")
NG_C=$(correct "$NGX_URL" "$NG_C" "$(awk -v r="$NG_MED" 'BEGIN {print r / 2}')")
SY_HALF=$(run_wrk "$SY_URL" "$SY_C" -s "$WORK/pace.lua")
NG_HALF=$(run_wrk "$NGX_URL" "$NG_C" -s "$WORK/pace.lua")

# Switchyard with its default threading (a worker per core, not pinned) under the same wrk.
"$SERVER" "127.0.0.1:$SY2_PORT" "$(nproc)" >"$WORK/sy2.log" 2>&1 &
PIDS+=($!)
wait_port "$SY2_PORT"
declare -a SY2
for _ in $(seq 1 "$RUNS"); do
  SY2+=("$(run_wrk "${SY_URL/:$SY_PORT/:$SY2_PORT}" "$CONNS" | rps)")
done
SY2_MED=$(printf '%s\n' "${SY2[@]}" | median)

printf '\n%-34s %14s %14s %8s\n' "" "switchyard" "nginx" "ratio"
printf '%-34s %14s %14s %8s\n' "runs, requests/s (wrk -c$CONNS)" "${SY[*]}" "" ""
printf '%-34s %14s %14s %8s\n' "" "" "${NG[*]}" ""
printf '%-34s %14.0f %14.0f %8.2f\n' "median requests/s" "$SY_MED" "$NG_MED" \
  "$(awk -v a="$SY_MED" -v b="$NG_MED" 'BEGIN {print a / b}')"
printf '%-34s %14.0f %14.0f\n' "half load: achieved requests/s" \
  "$(echo "$SY_HALF" | rps)" "$(echo "$NG_HALF" | rps)"
printf '%-34s %14s %14s\n' "half load: paced connections" "$SY_C" "$NG_C"
printf '%-34s %14s %14s\n' "half load: p50 latency (us)" "$(echo "$SY_HALF" | pct 50)" "$(echo "$NG_HALF" | pct 50)"
printf '%-34s %14s %14s\n' "half load: p99 latency (us)" "$(echo "$SY_HALF" | pct 99)" "$(echo "$NG_HALF" | pct 99)"
printf '%-34s %14.0f %14s\n' "default threads ($(nproc)), median r/s" "$SY2_MED" "(${SY2[*]})"
