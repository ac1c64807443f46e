#!/usr/bin/env bash
# Builds a static, stripped `switchyard` for x86_64 Linux (musl): the binary of the container
# image (Dockerfile) and of hosts without a matching glibc. Installs the musl target and
# musl-gcc (for ring's C code) when missing.
#
# Usage: scripts/build-static.sh [OUT]   (default OUT: target/static/switchyard)
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-unknown-linux-musl
out="${1:-target/static/switchyard}"
cargo_cmd=(${CARGO:-cargo})

if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$target"; then
  echo "build-static: adding the $target target"
  rustup target add "$target"
fi
if ! command -v musl-gcc >/dev/null 2>&1; then
  echo "build-static: installing musl-tools"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends musl-tools >/dev/null
fi

# The release profile keeps line tables for profiling; the image does not need them.
export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_STRIP=symbols
export CC_x86_64_unknown_linux_musl=musl-gcc
export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"

started=$(date +%s)
"${cargo_cmd[@]}" build --release --locked --target "$target" --bin switchyard
mkdir -p "$(dirname "$out")"
cp "target/$target/release/switchyard" "$out"
echo "build-static: $out ($(stat -c %s "$out") bytes) in $(( $(date +%s) - started )) s"
