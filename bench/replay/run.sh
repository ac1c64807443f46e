#!/usr/bin/env bash
# Open-loop latency of the real release binary, from decisions recorded off its own traffic
# with `switchyard replay`, where the http section's half-load figures come from wrk's paced
# closed loop (which waits for each answer, so a slow answer delays the requests behind it
# and hides itself: coordinated omission).
#
#   bench/replay/run.sh [SECONDS_PER_RATE] [RATES...]
#
# 1. Record: an instance (`serve`, one traffic thread, pinned to CPU 0) answers 300 DNS
#    queries with ECS subnets, then HTTP route requests for clients spread over two coverage
#    zones and an unmatched network, while `replay record` samples 5,000 of them from its
#    admin listener.
# 2. Capacity: wrk -t1 -c64 on CPU 1 against one recorded request, closed loop, 5 s.
# 3. Open loop: `replay run` on CPU 1 sends the recording at each fixed rate (default 1000
#    5000 and 10%, 25%, 50% of the measured capacity) for SECONDS_PER_RATE (default 10);
#    latency percentiles per rate, and how many requests the generator could not send on
#    schedule (beyond its in-flight limit), which says where the generator, not the server,
#    is the limit. Latency counts from each request's due time, so it includes the
#    generator's own lateness: its timer wakes on a millisecond tick (tokio), which alone
#    puts a p50 near 1 ms at low rates, and on this 2-core machine it runs out of its core
#    somewhere between 25% and 50% of the server's capacity.
# 4. Agreement: the recording sent to two instances at once (this build twice, or this build
#    and OTHER_BIN, e.g. the previous release), counting answers that differ.
set -euo pipefail

SECONDS_PER_RATE=${1:-10}
shift || true
RATES=("$@")
BASE_PORT=${BASE_PORT:-17600}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk taskset curl dig python3; do
  command -v "$tool" >/dev/null || {
    echo "missing $tool (Debian: wrk util-linux curl bind9-dnsutils python3)" >&2
    exit 1
  }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release -q -p switchyard --bin switchyard)
BIN="$CARGO_TARGET_DIR/release/switchyard"
OTHER=${OTHER_BIN:-$BIN}

cat >"$WORK/czf.json" <<'JSON'
{"coverageZones": {
  "ams": {"network": ["10.1.0.0/16"]},
  "fra": {"network": ["10.2.0.0/16"]}
}}
JSON

# config INDEX: two zones of three nodes each, probed (TCP, every 5 s) on the instance's own
# admin port; service video over both.
config() {
  local i=$1
  local a=$((BASE_PORT + 10 * i)) h=$((BASE_PORT + 10 * i + 1)) d=$((BASE_PORT + 10 * i + 2))
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

[probe.default]
check = { kind = "tcp" }
interval_ms = 5000

[inventory]
coverage_zones_file = "$WORK/czf.json"

[[inventory.zones]]
name = "ams"
backups = ["fra"]

[[inventory.zones]]
name = "fra"
backups = ["ams"]
TOML
  for z in ams fra; do
    for n in 1 2 3; do
      cat <<TOML

[[inventory.nodes]]
id = "$z-$n"
zone = "$z"
ipv4 = "127.0.0.$((n + 1))"
port = $a
TOML
    done
  done
  cat <<TOML

[[inventory.services]]
name = "video"
hostnames = ["video.cdn.example"]
zones = ["ams", "fra"]
default_zone = "ams"
TOML
}

start() {
  local i=$1 bin=$2
  mkdir -p "$WORK/$i"
  config "$i" >"$WORK/$i/switchyard.toml"
  taskset -c 0 "$bin" --log-format json serve --config "$WORK/$i/switchyard.toml" \
    >"$WORK/$i/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$((BASE_PORT + 10 * i))/readyz" >/dev/null && return 0
    sleep 0.1
  done
  echo "instance $i never became ready" >&2
  cat "$WORK/$i/log" >&2
  exit 1
}
start 0 "$BIN"
start 1 "$OTHER"
A_ADMIN=127.0.0.1:$BASE_PORT
A=http=127.0.0.1:$((BASE_PORT + 1)),dns=127.0.0.1:$((BASE_PORT + 2))
B=http=127.0.0.1:$((BASE_PORT + 11)),dns=127.0.0.1:$((BASE_PORT + 12))
A_HTTP=127.0.0.1:$((BASE_PORT + 1))

# 1. Record.
cat >"$WORK/spread.lua" <<'LUA'
math.randomseed(7)
request = function()
  local ip = "10." .. math.random(1, 3) .. "." .. math.random(0, 255) .. "." .. math.random(1, 254)
  local path = "/vod/title-" .. math.random(1, 500) .. "/seg-" .. math.random(1, 900) .. ".ts"
  return wrk.format("GET", "/v1/route?host=video.cdn.example&ip=" .. ip .. "&path=" .. path)
end
LUA
"$BIN" replay record --server "$A_ADMIN" --out "$WORK/rec.jsonl" --count 5000 --seconds 20 \
  >"$WORK/record.log" 2>&1 &
RECORD=$!
sleep 0.3
# DNS first (300 queries), then HTTP until the recording is full.
for k in $(seq 1 300); do
  dig @127.0.0.1 -p $((BASE_PORT + 2)) +short +tries=1 +time=1 \
    "+subnet=10.$((k % 3 + 1)).$((k % 250)).0/24" video.cdn.example A >/dev/null || true
done
taskset -c 1 wrk -t1 -c4 -d3s -s "$WORK/spread.lua" "http://$A_HTTP" >/dev/null &
LOAD=$!
wait "$LOAD" "$RECORD"
cat "$WORK/record.log"

# 2. Capacity, closed loop.
cat >"$WORK/one.py" <<'PY'
import json, sys, urllib.parse
for line in sys.stdin:
    s = json.loads(line) if line.startswith("{") else None
    if s and s.get("protocol") == "http":
        q = {"host": s["host"], "ip": s["client"], "path": s.get("path") or "/"}
        print("/v1/route?" + urllib.parse.urlencode(q))
        break
PY
one=$(python3 "$WORK/one.py" <"$WORK/rec.jsonl")
capacity=$(taskset -c 1 wrk -t1 -c64 -d5s "http://$A_HTTP$one" | awk '/Requests\/sec/ {printf "%d", $2}')
echo "capacity (wrk -t1 -c64, closed loop): $capacity requests/s"
if [ ${#RATES[@]} -eq 0 ]; then
  RATES=(1000 5000 $((capacity / 10)) $((capacity / 4)) $((capacity / 2)))
fi

# 3. Open loop, one target.
cat >"$WORK/report.py" <<'PY'
import json, sys
r = json.load(sys.stdin)
if sys.argv[1:] == ["agree"]:
    print(f"{r['compared']} compared, {r['differences']} differ")
    sys.exit(0)
t = r["targets"][0]
l = t["latency_ms"]
print(f"{r['rate']:>9.0f} {r['send_rate']:>9.0f} {r['not_sent']:>9} {t['errors']:>7} "
      f"{l['p50']:>8.3f} {l['p90']:>8.3f} {l['p99']:>8.3f} {l['p99_9']:>8.3f} {l['max']:>8.2f}")
PY
report() { python3 "$WORK/report.py" "$@"; }
echo
echo "open loop against one instance (replay run on CPU 1), ${SECONDS_PER_RATE} s per rate"
printf '%9s %9s %9s %7s %8s %8s %8s %8s %8s\n' rate/s sent/s not_sent errors p50_ms p90_ms \
  p99_ms p99.9_ms max_ms
for rate in "${RATES[@]}"; do
  taskset -c 1 "$BIN" replay run "$WORK/rec.jsonl" --target "$A" --rate "$rate" \
    --seconds "$SECONDS_PER_RATE" --json | report
done

# 4. Agreement between two instances.
echo
agree=$( (taskset -c 1 "$BIN" replay run "$WORK/rec.jsonl" --target "$A" --target "$B" \
  --rate 2000 --seconds "$SECONDS_PER_RATE" --json || true) | report agree)
echo "agreement, $([ "$OTHER" = "$BIN" ] && echo "this build twice" || echo "this build and $OTHER") at 2000/s: $agree"
