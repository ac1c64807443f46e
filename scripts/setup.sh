#!/usr/bin/env bash
# Installs what building, testing or benchmarking Switchyard needs on a Debian machine, and
# only what is missing. Usage: scripts/setup.sh [test|bench]
set -euo pipefail

want=(protobuf-compiler snmpd snmp bind9-dnsutils knot-dnsutils etcd-server prometheus
      python3-prometheus-client)
if [ "${1:-test}" = bench ]; then
  want+=(wrk dnsperf nginx-light hyperfine golang-go golang-github-gosnmp-gosnmp-dev
         prometheus-blackbox-exporter pdns-server pdns-backend-bind)
fi

missing=()
for pkg in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The packages start system daemons on well-known ports; the tests start their own.
  for svc in snmpd etcd nginx pdns; do
    $sudo_cmd systemctl stop "$svc" >/dev/null 2>&1 || true
    $sudo_cmd service "$svc" stop >/dev/null 2>&1 || true
  done
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed; install the Rust toolchain first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest >/dev/null
fi
