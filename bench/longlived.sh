#!/usr/bin/env bash
# A long-lived host: one process runs N logins in turn (pam_start,
# pam_authenticate, pam_end: the module is loaded and unloaded each time), with
# HTTPS sends to a local fake gateway and LDAP lookups in a local slapd among
# them. Prints RSS, open descriptors and threads sampled along the way as a
# Markdown table, for BENCHMARKS.md. Needs root (slapd, root-owned files).
#   bench/longlived.sh [CYCLES]     default 10000
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cycles=${1:-10000}
cd "$root"
out=$(SMSOTP_CYCLES=$cycles cargo test -q --test longlived -- --nocapture 2>&1) || { echo "$out" | tail -40; exit 1; }
echo "### Long-lived host: $cycles logins in one process"
echo
echo "Command: \`bench/longlived.sh $cycles\` (debug build of the module, as the tests load it)"
echo
echo "| after login | RSS (KiB) | open fds | threads |"
echo "|---:|---:|---:|---:|"
echo "$out" | sed -n 's/^longlived sample cycle=\([0-9]*\) rss_kb=\([0-9]*\) fds=\([0-9]*\) threads=\([0-9]*\)$/| \1 | \2 | \3 | \4 |/p'
