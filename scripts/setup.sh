#!/usr/bin/env bash
# Installs what building, testing or benchmarking Switchyard needs on a Debian machine, and
# only what is missing. Usage: scripts/setup.sh [test|bench]
set -euo pipefail

CARGO_DENY_VERSION=0.20.2
CARGO_MODULES_VERSION=0.27.0

want=(protobuf-compiler libprotobuf-dev snmpd snmp bind9-dnsutils knot-dnsutils etcd-server prometheus
      python3-prometheus-client curl openssl)
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
# `make test` checks the dependency policy (deny.toml) and the module graph
# (scripts/check-modules.sh).
if [ "${1:-test}" = test ]; then
  if ! cargo deny --version >/dev/null 2>&1; then
    echo "setup: installing cargo-deny"
    cargo install --locked cargo-deny --version "$CARGO_DENY_VERSION" >/dev/null
  fi
  if ! cargo modules --version >/dev/null 2>&1; then
    echo "setup: installing cargo-modules"
    cargo install --locked cargo-modules --version "$CARGO_MODULES_VERSION" >/dev/null
  fi
fi

# The SNMP command-line tests compare `switchyard snmp` with net-snmp's tools on recordings
# of real devices, served by the Python SNMP simulator. It goes into its own virtualenv
# (crates/testkit/src/snmpsim.rs looks there). snmpsim imports pysmi without declaring it;
# snmpsim-data brings a pysmi it accepts.
snmpsim_venv="${SWITCHYARD_SNMPSIM_VENV:-$HOME/.cache/switchyard/snmpsim}"
if ! "$snmpsim_venv/bin/python" -c 'import snmpsim, pysmi, snmpsim_data' >/dev/null 2>&1; then
  echo "setup: installing snmpsim, pysmi and snmpsim-data into $snmpsim_venv"
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m venv --help >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
  fi
  python3 -m venv "$snmpsim_venv"
  "$snmpsim_venv/bin/pip" install -q "snmpsim==1.2.2" "snmpsim-data==1.0.1" pysmi
fi
