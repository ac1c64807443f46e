#!/usr/bin/env bash
# Browser tests of the status page: headless Debian Chromium, driven by playwright-core from
# npm (its own browser downloads are never used), against a `switchyard demo` of this build on
# free loopback ports. Installs what is missing (Debian chromium and fonts, Node.js and npm,
# the locked npm packages), builds target/debug/switchyard, runs tests/browser/ and keeps the
# screenshots and the demo's log in target/browser-artifacts/. Any missing piece is an error.
#
# Usage: scripts/test-browser.sh   (CARGO, CHROMIUM_PATH and SWITCHYARD_BIN override the
# defaults: cargo, /usr/bin/chromium, target/debug/switchyard built here)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

fail() {
  echo "test-browser: $*" >&2
  exit 1
}

sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
missing=()
for pkg in chromium fonts-dejavu-core nodejs npm; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    # A Node.js from elsewhere (not Debian's) is fine when it is on PATH.
    case "$pkg" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test-browser: installing ${missing[*]}"
  $sudo_cmd apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null || fail "cannot install ${missing[*]}"
fi

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$chromium" ] || fail "no Chromium at $chromium"
"$chromium" --headless --no-sandbox --version >/dev/null 2>&1 || fail "$chromium does not start"
command -v node >/dev/null 2>&1 || fail "node is not installed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "Node.js 20 or newer is needed (playwright-core), found $(node --version)"

# npm ci only when the installed playwright-core is not the locked one.
(
  cd tests/browser
  locked=$(node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version')
  installed=$(node -p 'require("./node_modules/playwright-core/package.json").version' 2>/dev/null || true)
  if [ "$locked" != "$installed" ]; then
    echo "test-browser: npm ci"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error \
      || fail "npm ci failed in tests/browser"
  fi
  [ -f node_modules/playwright-core/package.json ] || fail "playwright-core is not installed"
)

if [ -z "${SWITCHYARD_BIN:-}" ]; then
  # shellcheck disable=SC2086 # CARGO may carry a wrapper, e.g. "flock /tmp/lock cargo".
  ${CARGO:-cargo} build -p switchyard --bin switchyard || fail "cargo build failed"
  SWITCHYARD_BIN="$root/target/debug/switchyard"
fi
[ -x "$SWITCHYARD_BIN" ] || fail "no switchyard binary at $SWITCHYARD_BIN"

artifacts="$root/target/browser-artifacts"
rm -rf "$artifacts"
mkdir -p "$artifacts"
cd tests/browser
status=0
SWITCHYARD_BIN="$SWITCHYARD_BIN" CHROMIUM_PATH="$chromium" BROWSER_ARTIFACTS="$artifacts" \
  node --test --test-concurrency=1 --test-reporter=spec status-page.test.mjs large-fleet.test.mjs \
  || status=$?
shots=$(find "$artifacts" -name '*.png' | wc -l)
echo "test-browser: $shots screenshots and the demo's log in $artifacts"
[ "$status" -eq 0 ] || fail "browser tests failed (exit $status)"
