#!/usr/bin/env bash
# The whole test suite: installs what the tests need, runs the demo (README's
# first command) as a smoke test, then every unit and integration test, then
# each fuzz target for a few seconds (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  scripts/install-deps.sh kannel kannel-extras openssh-server openssh-client sudo expect slapd ldap-utils lintian rpm man-db groff-base dpkg-dev make binutils redis-server redis-sentinel debhelper file git iproute2 bzip2 selinux-policy-dev selinux-policy-default semodule-utils policycoreutils checkpolicy setools selinux-utils fail2ban
  echo "== demo (scripts/demo.sh)"
  scripts/demo.sh
else
  echo "== not root: the tests that need root or pam_wrapper will say SKIPPED"
fi
echo "== formatting and lints"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
cargo fmt --check
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --no-fail-fast 2>&1 | tee "$log" || status=$?
fuzz_seconds=10
echo "== fuzzing (scripts/fuzz.sh $fuzz_seconds: each target $fuzz_seconds s)"
scripts/fuzz.sh "$fuzz_seconds" 2>&1 | tee -a "$log" || status=1
skipped=$(grep -c '^SKIPPED' "$log" || true)
# a fuzz target counts as one test
awk '/^test result:/ { p += $4; f += $6 } /^fuzz ok:/ { p++ } /^fuzz FAILED:/ { f++ }
  END { printf "total: %d passed, %d failed\n", p, f }' "$log"
[ "$skipped" -eq 0 ] || echo "($skipped tests were SKIPPED; see the lines above)"
exit $status
