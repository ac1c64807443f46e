#!/usr/bin/env bash
# What the container image holds, without a container engine: builds the static binary the
# Dockerfile builds (scripts/build-static.sh), checks it is static and small, runs it the way
# the image does (`--version`, `serve`, the HEALTHCHECK's `healthcheck --config`), and lints
# the Dockerfile. A release build for musl takes minutes, so `make image-check` runs this, not
# `make test`. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=target/static/switchyard
limit_mib=30
# distroless/static-debian12 (CA certificates, tzdata, passwd): about 2 MiB.
base_kib=2048
passed=0
failed=0
ok() { echo "image-check: ok: $*"; passed=$((passed + 1)); }
bad() { echo "image-check: FAILED: $*"; failed=$((failed + 1)); }

scripts/build-static.sh "$bin"

if command -v readelf >/dev/null 2>&1; then
  if readelf -lW "$bin" | grep -q "INTERP"; then bad "$bin has an ELF interpreter: not static"; else ok "static (no ELF interpreter)"; fi
else
  if ldd "$bin" 2>&1 | grep -Eq "not a dynamic executable|statically linked"; then ok "static (ldd)"; else bad "$bin is dynamic"; fi
fi

size=$(stat -c %s "$bin")
image_kib=$(( size / 1024 + base_kib ))
echo "image-check: binary $size bytes ($(( size / 1024 / 1024 )) MiB); image about $(( image_kib / 1024 )) MiB on distroless/static"
if [ "$image_kib" -lt $(( limit_mib * 1024 )) ]; then ok "image under $limit_mib MiB"; else bad "image over $limit_mib MiB"; fi

if "$bin" --version | grep -q "^switchyard "; then ok "--version: $("$bin" --version)"; else bad "--version"; fi

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/switchyard.toml" <<TOML
[listen]
admin = "127.0.0.1:$port"
[lifecycle]
shutdown_delay_seconds = 1
drain_timeout_seconds = 5
TOML
"$bin" serve --config "$dir/switchyard.toml" 2> "$dir/log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 1 200); do
  "$bin" healthcheck --quiet --config "$dir/switchyard.toml" 2>/dev/null && break
  sleep 0.05
done
if "$bin" healthcheck --config "$dir/switchyard.toml"; then ok "healthcheck --config: 0 while serving"; else bad "healthcheck while serving"; cat "$dir/log"; fi
kill -TERM "$pid"
if wait "$pid"; then ok "serve exits 0 after SIGTERM"; else bad "serve exit status $?"; fi
if "$bin" healthcheck --quiet --config "$dir/switchyard.toml" 2>/dev/null; then bad "healthcheck passed with nothing listening"; else ok "healthcheck: 1 once stopped"; fi

venv="${SWITCHYARD_DEPLOY_VENV:-$HOME/.cache/switchyard/deploy}"
hadolint="$(command -v hadolint || echo "$venv/bin/hadolint")"
if [ -x "$hadolint" ]; then
  if "$hadolint" --failure-threshold info Dockerfile; then ok "hadolint"; else bad "hadolint"; fi
else
  echo "image-check: hadolint not installed (scripts/test-deploy.sh installs it)"
fi

echo "image-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
