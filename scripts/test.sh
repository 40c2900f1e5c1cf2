#!/usr/bin/env bash
# The whole test suite: installs what the tests need, runs the demo (README's
# first command) as a smoke test, then every unit and integration test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  scripts/install-deps.sh
  echo "== demo (scripts/demo.sh)"
  scripts/demo.sh
else
  echo "== not root: the tests that need root or pam_wrapper will say SKIPPED"
fi
echo "== cargo test"
cargo test --no-fail-fast 2>&1
