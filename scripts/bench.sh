#!/usr/bin/env bash
# Runs every benchmark side by side with its reference and prints the results, section by
# section, then one summary table of the headline lines. The machine is shared and noisy:
# each section reports medians or ratios measured in one run.
# Usage: scripts/bench.sh [SECTION...]   (sections: coldstart readyz route health snmp probe http tls dns replay telemetry etcd)
set -uo pipefail
cd "$(dirname "$0")/.."
sections=("$@")
[ ${#sections[@]} -eq 0 ] && sections=(coldstart readyz route health snmp probe http tls dns replay telemetry etcd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() {
  local name=$1; shift
  echo "=== $name: $*"
  if "$@" 2>&1 | tee "$out/$name.log"; then :; else echo "!!! $name failed" | tee -a "$out/$name.log"; fi
  echo
}

for s in "${sections[@]}"; do
  case $s in
    coldstart)
      run coldstart cargo bench -q -p switchyard --bench coldstart -- 20
      run coldstart-large cargo bench -q -p switchyard --bench coldstart -- 5 large ;;
    readyz) run readyz bench/server/readyz.sh 10 32 ;;
    route) run route cargo bench -q -p switchyard-route --bench routing -- --warm-up-time 1 --measurement-time 4 ;;
    health) run health cargo bench -q -p switchyard-health --bench evaluate -- --warm-up-time 1 --measurement-time 3 ;;
    snmp)
      run snmp bench/snmp/run.sh
      run snmp-loopback cargo bench -q -p switchyard-snmp --bench loopback ;;
    probe) run probe bench/probe/run.sh ;;
    http) run http bench/http/run.sh ;;
    tls) run tls bench/tls/run.sh ;;
    dns) run dns bench/dns/run.sh ;;
    replay) run replay bench/replay/run.sh ;;
    # Set BASE_BIN to a build of the commit before tracing for the base column.
    telemetry) run telemetry bench/telemetry/run.sh ;;
    etcd) run etcd bench/etcd/run.sh ;;
    *) echo "unknown section $s" >&2; exit 2 ;;
  esac
done

echo "=== summary"
for f in "$out"/*.log; do
  name=$(basename "$f" .log)
  # Headline lines: medians, ratios, rates and criterion estimates.
  grep -E "median|ratio|req/s|qps|probes/s|/s\b|time: +\[|x of|×" "$f" | sed "s/^/$name | /" | head -20
done
