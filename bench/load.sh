#!/usr/bin/env bash
# Load: LOGINS logins from CLIENTS parallel libpam clients (pamclient.py under
# pam_wrapper, one process per login) against one state directory, half right
# codes and half wrong ones. The run fails unless every right code was
# accepted, every wrong one refused, each counter is exact and no file is left
# behind; it prints the login times' percentiles (whole client process,
# Python start and pam_wrapper's serialized start included). Needs root.
#   bench/load.sh [LOGINS [CLIENTS]]     default 2000 50
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
logins=${1:-2000}
clients=${2:-50}
out=$(SMSOTP_LOAD_LOGINS=$logins SMSOTP_LOAD_CLIENTS=$clients cargo test -q --test concurrency load_many_clients -- --ignored --nocapture 2>&1) || {
  echo "$out" | tail -40
  exit 1
}
echo "### Load: $logins logins from $clients parallel clients"
echo
echo "Command: \`bench/load.sh $logins $clients\`"
echo
echo "$out" | sed -n 's/^load logins=\([0-9]*\) clients=\([0-9]*\) wall_s=\([0-9.]*\) p50_ms=\([0-9.]*\) p90_ms=\([0-9.]*\) p99_ms=\([0-9.]*\) max_ms=\([0-9.]*\)$/| logins | clients | wall (s) | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |\n|---:|---:|---:|---:|---:|---:|---:|\n| \1 | \2 | \3 | \4 | \5 | \6 | \7 |/p'
