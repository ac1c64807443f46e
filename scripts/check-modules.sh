#!/usr/bin/env bash
# Checks that no crate of the workspace has a cycle between its modules (`use` edges, as
# `cargo modules dependencies` reports them), except those listed in
# scripts/module-cycles.allow. Installs cargo-modules when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! cargo modules --version >/dev/null 2>&1; then
  echo "check-modules: installing cargo-modules"
  cargo install --locked cargo-modules --version 0.27.0 >/dev/null
fi
status=0
for manifest in crates/*/Cargo.toml; do
  package=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)
  echo "== $package"
  if ! cargo modules dependencies --package "$package" --lib 2>/dev/null \
      | python3 scripts/module-cycles.py --allow scripts/module-cycles.allow; then
    status=1
  fi
done
exit $status
