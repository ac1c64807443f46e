#!/usr/bin/env bash
# HTTPS keep-alive route decisions per second vs nginx serving a static 200 over TLS, at the
# same CPU budget: the switchyard release binary (HTTPS listener, one traffic worker) and
# nginx (worker_processes 1) each pinned, every thread, to CPU 0; wrk (one thread, keep-alive,
# OpenSSL) pinned to CPU 1. Same certificate type (ECDSA P-256, generated here with openssl),
# same protocol (TLS 1.3 only on both servers), same wrk command. Runs alternate, never both
# servers loaded at once; the median of RUNS runs each is kept and their ratio printed. The
# same servers also listen on plain HTTP, measured the same way for reference: the ratio
# there shows how much of the gap is the answer itself (a decision of ~1 KB of JSON against
# nginx's 11 bytes) rather than TLS. A third row measures the other form a decision takes,
# Traffic Router's HTTP routing: the content request itself answered with a 302 to the node
# (a Location header, no body), over HTTPS on the same listener.
#
#   bench/tls/run.sh [DURATION_SECONDS] [CONNECTIONS] [RUNS]
#
# With PERF=1 (and perf installed), one more switchyard run is recorded with `perf record -g`
# and the hottest symbols are printed; PERF_DATA=FILE keeps the recording there, and
# PERF_CALLGRAPH="--call-graph dwarf" records call chains through frames without pointers.
set -euo pipefail

DURATION=${1:-10}
CONNS=${2:-64}
RUNS=${3:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
SY_PORT=18443
SY_ADMIN=18490
NGX_PORT=18444
SY_PLAIN=18081
NGX_PLAIN=18082
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk nginx taskset openssl curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (Debian: wrk nginx-light util-linux openssl curl)" >&2; exit 1; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
(cd "$ROOT" && cargo build --release -q -p switchyard --bin switchyard)
BIN="$CARGO_TARGET_DIR/release/switchyard"

# One ECDSA P-256 certificate for both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=video.cdn.example.com" -addext "subjectAltName=DNS:video.cdn.example.com" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# The fleet of bench/http: eight zones of eight nodes, one service, a /24 per zone and
# loopback in zone 0.
{
  cat <<CFG
[listen]
admin = "127.0.0.1:$SY_ADMIN"
https = "127.0.0.1:$SY_PORT"
http = "127.0.0.1:$SY_PLAIN"

[lifecycle]
shutdown_delay_seconds = 0

[http]
worker_threads = 1
max_concurrent_requests = 100000

[http.tls]
cert_file = "cert.pem"
key_file = "key.pem"
min_version = "1.3"

[inventory]
coverage_zones_file = "czf.json"

[[inventory.services]]
name = "video"
hostnames = ["video.cdn.example.com"]
CFG
  for z in 0 1 2 3 4 5 6 7; do
    printf '\n[[inventory.zones]]\nname = "z%d"\nbackups = ["z%d"]\n' "$z" $(((z + 1) % 8))
    for n in 1 2 3 4 5 6 7 8; do
      printf '\n[[inventory.nodes]]\nid = "z%d-n%d"\nzone = "z%d"\nipv4 = "10.%d.0.%d"\nipv6 = "2001:db8:%d::%d"\n' \
        "$z" "$n" "$z" "$z" "$n" "$z" "$n"
    done
  done
} >"$WORK/switchyard.toml"
{
  printf '{"coverageZones": {'
  for z in 0 1 2 3 4 5 6 7; do
    extra=""; [ "$z" = 0 ] && extra=', "127.0.0.0/8"'
    sep=","; [ "$z" = 7 ] && sep=""
    printf '"z%d": {"network": ["198.51.%d.0/24"%s]}%s' "$z" "$z" "$extra" "$sep"
  done
  printf '}}\n'
} >"$WORK/czf.json"

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
    listen 127.0.0.1:$NGX_PORT ssl reuseport;
    listen 127.0.0.1:$NGX_PLAIN reuseport;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.3;
    keepalive_requests 1000000;
    location / { default_type application/json; return 200 '{"ok":true}'; }
  }
}
NGX

taskset -c 0 "$BIN" --log-format json serve --config "$WORK/switchyard.toml" >"$WORK/sy.log" 2>&1 &
PIDS+=($!)
taskset -c 0 nginx -p "$WORK" -e "$WORK/nginx-error.log" -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$SY_ADMIN/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$SY_ADMIN/readyz" >/dev/null || { echo "switchyard never ready:" >&2; cat "$WORK/sy.log" >&2; exit 1; }

SY_URL="https://127.0.0.1:$SY_PORT/v1/route?host=video.cdn.example.com&path=/vod/movie/seg-00042.ts"
NGX_URL="https://127.0.0.1:$NGX_PORT/"
SY_REDIRECT_URL="https://127.0.0.1:$SY_PORT/vod/movie/seg-00042.ts"
HOST="Host: video.cdn.example.com"
for u in "$SY_URL" "$NGX_URL"; do
  curl -sfk --tlsv1.3 "$u" >/dev/null || { echo "no answer from $u" >&2; exit 1; }
done
code=$(curl -sk --tlsv1.3 -o /dev/null -w '%{http_code}' -H "$HOST" "$SY_REDIRECT_URL")
[ "$code" = 302 ] || { echo "no redirect from $SY_REDIRECT_URL: $code" >&2; exit 1; }
# What each server negotiates with an OpenSSL client like wrk's.
for port in "$SY_PORT" "$NGX_PORT"; do
  printf 'port %s: ' "$port"
  openssl s_client -connect "127.0.0.1:$port" -servername video.cdn.example.com -brief </dev/null 2>&1 \
    | awk '/Protocol version|Ciphersuite|Peer signature type/ {printf "%s; ", $0} END {print ""}'
done

rps() { awk '/Requests\/sec/ {print $2}'; }
bytes() { curl -sk -o /dev/null -w '%{size_download}' "$1"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run_wrk() { local url=$1; shift; taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s "$@" "$url"; }

# Warm both (handshakes, caches), then alternate.
DURATION=2 run_wrk "$SY_URL" >/dev/null
DURATION=2 run_wrk "$NGX_URL" >/dev/null
declare -a SY NG RD
for _ in $(seq 1 "$RUNS"); do
  SY+=("$(run_wrk "$SY_URL" | rps)")
  NG+=("$(run_wrk "$NGX_URL" | rps)")
  RD+=("$(run_wrk "$SY_REDIRECT_URL" -H "$HOST" | rps)")
done
SY_MED=$(printf '%s\n' "${SY[@]}" | median)
NG_MED=$(printf '%s\n' "${NG[@]}" | median)
RD_MED=$(printf '%s\n' "${RD[@]}" | median)
SY_P_URL="http://127.0.0.1:$SY_PLAIN/v1/route?host=video.cdn.example.com&path=/vod/movie/seg-00042.ts"
NGX_P_URL="http://127.0.0.1:$NGX_PLAIN/"
declare -a SYP NGP
for _ in $(seq 1 "$RUNS"); do
  SYP+=("$(run_wrk "$SY_P_URL" | rps)")
  NGP+=("$(run_wrk "$NGX_P_URL" | rps)")
done
SYP_MED=$(printf '%s\n' "${SYP[@]}" | median)
NGP_MED=$(printf '%s\n' "${NGP[@]}" | median)
if [ "${PERF:-0}" = 1 ]; then
  SY_PID=${PIDS[0]}
  perf record -q ${PERF_CALLGRAPH:--g} -p "$SY_PID" -o "$WORK/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
  PERF_PID=$!
  run_wrk "$SY_URL" >/dev/null
  wait "$PERF_PID" || true
  [ -n "${PERF_DATA:-}" ] && cp "$WORK/perf.data" "$PERF_DATA"
  perf report -i "$WORK/perf.data" --no-children --percent-limit 0.7 --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -60
  for target in "$SY_URL" "$NGX_URL"; do
    pid=$SY_PID; [ "$target" = "$NGX_URL" ] && pid=$(pgrep -P "${PIDS[1]}" | head -1)
    DURATION=4 run_wrk "$target" >"$WORK/wrk.out" &
    WRK_PID=$!
    sleep 1
    timeout 2 strace -c -f -p "$pid" 2>&1 | awk 'NR <= 12' || true
    wait "$WRK_PID"
    echo "  ($(rps <"$WORK/wrk.out") requests/s under strace)"
  done
  perf report -i "$WORK/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -8
  perf report -i "$WORK/perf.data" --no-children --stdio -g none 2>/dev/null \
    | awk '/rustls|ring_core|ring::|tokio_rustls/ {s += $1} /serde_json|views::/ {j += $1}
           END {printf "TLS library symbols: %.1f%%  JSON: %.1f%%\n", s, j}'
fi
errors=$(curl -sf "http://127.0.0.1:$SY_ADMIN/metrics" | awk '/^switchyard_http_decisions_total/ && !/result="ok"/ {s += $2} END {print s + 0}')

printf '\n%-40s %14s %14s %8s\n' "HTTPS keep-alive, wrk -t1 -c$CONNS" "switchyard" "nginx" "ratio"
printf '%-40s %14s %14s\n' "runs, requests/s" "${SY[*]}" ""
printf '%-40s %14s %14s\n' "" "" "${NG[*]}"
printf '%-40s %14.0f %14.0f %8.2f\n' "median requests/s (one core each)" "$SY_MED" "$NG_MED" \
  "$(awk -v a="$SY_MED" -v b="$NG_MED" 'BEGIN {print a / b}')"
printf '%-40s %14s %14s\n' "302 redirect runs, requests/s" "${RD[*]}" ""
printf '%-40s %14.0f %14.0f %8.2f\n' "302 redirect decisions, median r/s" "$RD_MED" "$NG_MED" \
  "$(awk -v a="$RD_MED" -v b="$NG_MED" 'BEGIN {print a / b}')"
printf '%-40s %14.0f %14.0f %8.2f\n' "plain HTTP for reference, median r/s" "$SYP_MED" "$NGP_MED" \
  "$(awk -v a="$SYP_MED" -v b="$NGP_MED" 'BEGIN {print a / b}')"
printf '%-40s %14.2f %14.2f\n' "HTTPS / plain HTTP" "$(awk -v a="$SY_MED" -v b="$SYP_MED" 'BEGIN {print a / b}')" \
  "$(awk -v a="$NG_MED" -v b="$NGP_MED" 'BEGIN {print a / b}')"
printf '%-40s %14s %14s\n' "response body bytes" "$(bytes "$SY_URL")" "$(bytes "$NGX_URL")"
printf '%-40s %14s\n' "decisions that were not ok" "$errors"
