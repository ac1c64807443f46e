#!/usr/bin/env bash
# DNS answers/s: switchyard's listener vs PowerDNS Authoritative, measured with dnsperf.
#
# Targets, all on loopback, each given the same query file for the same duration, RUNS times
# interleaved (so noise on the shared machine hits every target alike); the median is shown:
#   pdns-static    PowerDNS bind backend, two static A records (served from its packet cache)
#   pdns-lua       PowerDNS LUA record ifportup() over two loopback addresses kept up here
#   switchyard     dns_bench_server: every answer routed per query from the live table
#   switchyard-ecs the same with an EDNS Client Subnet option on every query
#
# A second table gives server CPU time per answered query at a fixed offered rate (RATE,
# default 20000 qps), which the other tenants of a shared machine disturb far less than qps.
#
# Env: DURATION (s per run, default 10), RUNS (default 3), SOCKETS (UDP sockets / pdns
# receiver threads, default 2), CLIENTS (dnsperf clients, default 4), BASE_PORT (15350),
# SERVER_BIN (a prebuilt dns_bench_server; default: built here with cargo).
set -euo pipefail

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
SOCKETS=${SOCKETS:-2}
CLIENTS=${CLIENTS:-4}
BASE_PORT=${BASE_PORT:-15350}
RATE=${RATE:-20000}
root=$(cd "$(dirname "$0")/../.." && pwd)

for tool in pdns_server dnsperf dig python3 cargo; do
    command -v "$tool" >/dev/null || {
        echo "missing $tool: apt-get install pdns-server pdns-backend-bind dnsperf bind9-dnsutils" >&2
        exit 1
    }
done
[[ -e /usr/lib/x86_64-linux-gnu/pdns/libbindbackend.so || -n "$(find /usr/lib -name libbindbackend.so 2>/dev/null)" ]] || {
    echo "missing the PowerDNS bind backend: apt-get install pdns-backend-bind" >&2
    exit 1
}

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

server_bin=${SERVER_BIN:-}
if [[ -z $server_bin ]]; then
    echo "building dns_bench_server (release)..." >&2
    (cd "$root" && cargo build -q --release -p switchyard --example dns_bench_server)
    server_bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/dns_bench_server
fi

# Health-check target for ifportup: TCP listeners on two loopback addresses.
check_port=$((BASE_PORT + 9))
python3 - "$check_port" <<'PY' &
import select, socket, sys
port = int(sys.argv[1])
socks = []
for addr in ("127.0.0.1", "127.0.0.2"):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    socks.append(s)
while True:
    ready, _, _ = select.select(socks, [], [])
    for s in ready:
        c, _ = s.accept()
        c.close()
PY
pids+=($!)

declare -A server_pid

# pdns_instance NAME PORT RECORDS: a PowerDNS bind-backend server for cdn.example.com.
pdns_instance() {
    local name=$1 port=$2 records=$3 dir=$work/$1
    mkdir -p "$dir"
    cat >"$dir/cdn.example.com.zone" <<ZONE
\$ORIGIN cdn.example.com.
@     3600 IN SOA ns1 hostmaster 1 3600 600 604800 60
@     3600 IN NS  ns1
ns1   3600 IN A   127.0.0.53
$records
ZONE
    echo "zone \"cdn.example.com\" { type master; file \"$dir/cdn.example.com.zone\"; };" >"$dir/named.conf"
    cat >"$dir/pdns.conf" <<CONF
launch=bind
bind-config=$dir/named.conf
local-address=127.0.0.1
local-port=$port
socket-dir=$dir
daemon=no
guardian=no
disable-syslog=yes
loglevel=3
receiver-threads=$SOCKETS
reuseport=yes
enable-lua-records=yes
webserver=no
api=no
CONF
    pdns_server --config-dir="$dir" >"$dir/log" 2>&1 &
    pids+=($!)
    server_pid[$name]=$!
}

pdns_instance pdns-static $((BASE_PORT + 1)) "video 30 IN A 127.1.0.1
video 30 IN A 127.1.0.2"
pdns_instance pdns-lua $((BASE_PORT + 2)) "video 30 IN LUA A \"ifportup($check_port, {'127.0.0.1', '127.0.0.2'})\""

sy_port=$((BASE_PORT + 3))
"$server_bin" serve "127.0.0.1:$sy_port" "$SOCKETS" >"$work/switchyard.log" 2>&1 &
pids+=($!)
server_pid[switchyard]=$!

wait_ready() {
    local port=$1 name=$2
    for _ in $(seq 1 100); do
        if dig @127.0.0.1 -p "$port" +time=1 +tries=1 +short video.cdn.example.com A | grep -q '^127\.'; then
            return 0
        fi
        sleep 0.1
    done
    echo "$name on port $port did not answer; log:" >&2
    cat "$work/$name/log" "$work/$name.log" 2>/dev/null >&2 || true
    exit 1
}
wait_ready $((BASE_PORT + 1)) pdns-static
wait_ready $((BASE_PORT + 2)) pdns-lua
wait_ready "$sy_port" switchyard

echo "video.cdn.example.com A" >"$work/queries.txt"

# run NAME PORT [extra dnsperf args] -> qps; the full dnsperf report goes to the log.
run() {
    local name=$1 port=$2
    shift 2
    dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$DURATION" -c "$CLIENTS" -T 1 -q 500 "$@" \
        >"$work/dnsperf-$name.txt" 2>&1
    grep -E "Queries lost|Response codes" "$work/dnsperf-$name.txt" | sed "s/^ */  $name: /" >&2
    awk '/Queries per second:/ {print $4}' "$work/dnsperf-$name.txt"
}

# cpu_ticks PID -> utime + stime of the process, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A results cpu
targets=(pdns-static pdns-lua switchyard switchyard-ecs)
for r in $(seq 1 "$RUNS"); do
    for t in "${targets[@]}"; do
        ecs=()
        case $t in
        pdns-static) port=$((BASE_PORT + 1)) pid=${server_pid[pdns-static]} ;;
        pdns-lua) port=$((BASE_PORT + 2)) pid=${server_pid[pdns-lua]} ;;
        switchyard) port=$sy_port pid=${server_pid[switchyard]} ;;
        switchyard-ecs) port=$sy_port pid=${server_pid[switchyard]} ecs=(-E 8:000118000a0102) ;;
        esac
        q=$(run "$t" "$port" "${ecs[@]}")
        echo "run $r $t: $q qps" >&2
        results[$t]="${results[$t]:-} $q"
        # Fixed offered rate: CPU microseconds the server spends per answered query.
        before=$(cpu_ticks "$pid")
        run "$t-rate" "$port" -Q "$RATE" "${ecs[@]}" >/dev/null
        after=$(cpu_ticks "$pid")
        answered=$(awk '/Queries completed:/ {print $3}' "$work/dnsperf-$t-rate.txt")
        us=$(awk -v d=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$answered" \
            'BEGIN {printf "%.2f", (n > 0) ? (d / hz * 1e6 / n) : 0}')
        echo "run $r $t: ${us} us CPU/query at $RATE qps offered" >&2
        cpu[$t]="${cpu[$t]:-} $us"
    done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo
printf '%-16s %12s %16s   %s\n' target "median qps" "us CPU/query" "runs (qps | us CPU/query)"
for t in "${targets[@]}"; do
    printf '%-16s %12.0f %16.2f   %s |%s\n' "$t" "$(echo "${results[$t]}" | median)" \
        "$(echo "${cpu[$t]}" | median)" "${results[$t]}" "${cpu[$t]}"
done
base=$(echo "${results[pdns-static]}" | median)
sy=$(echo "${results[switchyard]}" | median)
lua=$(echo "${results[pdns-lua]}" | median)
cbase=$(echo "${cpu[pdns-static]}" | median)
csy=$(echo "${cpu[switchyard]}" | median)
awk -v s="$sy" -v b="$base" -v l="$lua" -v cb="$cbase" -v cs="$csy" 'BEGIN {
    printf "\nqps: switchyard / pdns-static = %.2f   switchyard / pdns-lua = %.2f\n", s/b, s/l
    printf "CPU per query: pdns-static / switchyard = %.2f\n", cb/cs
}'
echo "(${DURATION}s x ${RUNS} runs each, ${CLIENTS} dnsperf clients, ${SOCKETS} server sockets/threads, $(nproc) cores shared with dnsperf)"
