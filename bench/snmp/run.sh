#!/usr/bin/env bash
# Side-by-side CPU cost per successful GET: switchyard-snmp (examples/getload) vs gosnmp
# (gosnmp_get, one gosnmp instance per goroutine), same local snmpd, same concurrency, same
# duration, v2c and v3 authPriv (SHA/AES-128). CPU = user+sys of each client process, from
# /usr/bin/time (getrusage of the child).
#
# Each client runs ROUNDS times per mode (default 3, order alternating); medians are compared.
#
# Usage: [ROUNDS=3] bench/snmp/run.sh [DURATION_SECONDS] [CONCURRENCY]
# Needs Debian packages: snmpd, golang-go, golang-github-gosnmp-gosnmp-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${1:-5}"
CONC="${2:-16}"
ROUNDS="${ROUNDS:-3}"
WORK="$(mktemp -d)"
trap 'kill "${SNMPD_PID:-0}" 2>/dev/null || true; wait "${SNMPD_PID:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v snmpd >/dev/null || PATH="$PATH:/usr/sbin"
command -v snmpd >/dev/null || { echo "snmpd missing: apt-get install snmpd" >&2; exit 1; }
[ -d /usr/share/gocode/src/github.com/gosnmp/gosnmp ] || { echo "gosnmp missing: apt-get install golang-github-gosnmp-gosnmp-dev" >&2; exit 1; }

echo "building clients..." >&2
cargo build --release -q -p switchyard-snmp --example getload
RUST_BIN="${CARGO_TARGET_DIR:-target}/release/examples/getload"
( cd bench/snmp/gosnmp_get && GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$WORK/gocache" go build -o "$WORK/gosnmp_get" . )

PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/persist"
cat > "$WORK/snmpd.conf" <<CONF
agentAddress udp:127.0.0.1:$PORT
rocommunity public 127.0.0.1
createUser bench SHA benchauthpass AES benchprivpass
rouser bench priv
CONF
SNMPCONFPATH="$WORK:$WORK/persist" MIBS= snmpd -f -Lf "$WORK/snmpd.log" -p "$WORK/snmpd.pid" \
    --persistentDir="$WORK/persist" &
SNMPD_PID=$!
for _ in $(seq 50); do
    snmpget -v2c -c public -t 0.2 -r 0 "127.0.0.1:$PORT" 1.3.6.1.2.1.1.3.0 >/dev/null 2>&1 && break
    sleep 0.1
done

# run NAME CMD... -> prints "ok cpu_seconds"
run() {
    local out
    out=$( { /usr/bin/time -f "CPU %U %S" "$@" ; } 2>&1 )
    local ok cpu
    ok=$(echo "$out" | awk '/^ok /{print $2}')
    cpu=$(echo "$out" | awk '/^CPU /{print $2 + $3}')
    echo "$ok $cpu"
}

median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }

echo "load: $(uptime | sed 's/.*load average: //')  rounds: $ROUNDS x ${DUR}s, concurrency $CONC"
printf "\n%-6s %-5s %-12s %10s %10s %10s %12s\n" "mode" "round" "client" "GETs" "GET/s" "CPU s" "CPU us/GET"
declare -A PER RATE
for mode in v2c v3; do
    if [ "$mode" = v2c ]; then
        RARGS=(-v 2c -c public); GARGS=(-v 2c -c public)
    else
        RARGS=(-v 3 -u bench -A benchauthpass -X benchprivpass); GARGS=(-v 3 -u bench -A benchauthpass -X benchprivpass)
    fi
    for round in $(seq "$ROUNDS"); do
        # Alternate which client goes first so drift in machine load hits both alike.
        if [ $((round % 2)) = 1 ]; then order="switchyard gosnmp"; else order="gosnmp switchyard"; fi
        for c in $order; do
            if [ $c = switchyard ]; then
                read -r ok cpu < <(run "$RUST_BIN" -host 127.0.0.1 -port "$PORT" "${RARGS[@]}" -n "$CONC" -d "${DUR}s")
            else
                read -r ok cpu < <(run "$WORK/gosnmp_get" -host 127.0.0.1 -port "$PORT" "${GARGS[@]}" -n "$CONC" -d "${DUR}s")
            fi
            per=$(awk -v c="$cpu" -v n="$ok" 'BEGIN{ if (n>0) printf "%.2f", c*1e6/n; else print "inf" }')
            rate=$(awk -v n="$ok" -v d="$DUR" 'BEGIN{printf "%.0f", n/d}')
            PER[$mode-$c]="${PER[$mode-$c]:-} $per"
            RATE[$mode-$c]="${RATE[$mode-$c]:-} $rate"
            printf "%-6s %-5s %-12s %10s %10s %10s %12s\n" "$mode" "$round" "$c" "$ok" "$rate" "$cpu" "$per"
        done
    done
done
echo
printf "%-6s %-12s %14s %14s\n" "mode" "client" "median GET/s" "median us/GET"
for mode in v2c v3; do
    for c in switchyard gosnmp; do
        printf "%-6s %-12s %14s %14s\n" "$mode" "$c" "$(echo ${RATE[$mode-$c]} | tr ' ' '\n' | median)" "$(echo ${PER[$mode-$c]} | tr ' ' '\n' | median)"
    done
done
echo
for mode in v2c v3; do
    a=$(echo ${PER[$mode-switchyard]} | tr ' ' '\n' | median)
    b=$(echo ${PER[$mode-gosnmp]} | tr ' ' '\n' | median)
    awk -v a="$a" -v b="$b" -v m="$mode" \
        'BEGIN{ printf "%s: switchyard CPU per GET = %.2fx gosnmp (median of rounds; goal <= 0.25)\n", m, a/b }'
done
echo "load: $(uptime | sed 's/.*load average: //')"
