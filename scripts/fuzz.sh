#!/usr/bin/env bash
# Fuzz every target in fuzz/fuzz_targets for SECONDS_PER_TARGET seconds (default 20).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Installs cargo-fuzz (pinned) if missing, builds all targets once, then runs
# each from its seed corpus (fuzz/corpus/TARGET, read only) plus the inputs
# that once crashed it (fuzz/regressions/TARGET). Corpus growth goes to
# fuzz/target/corpus/TARGET, crashes to fuzz/artifacts/TARGET/.
# Prints "fuzz ok: TARGET ..." or "fuzz FAILED: TARGET ..." per target and
# exits non-zero when any target crashed (panic, overflow, timeout, OOM) or the
# build failed.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds=${1:-20}
# No sanitizer by default: the fuzzed code is safe Rust, panics and overflow
# checks catch its bugs, and the build takes half the time of an ASan one.
# FUZZ_SANITIZER=address for a deeper run.
sanitizer=${FUZZ_SANITIZER:-none}
case $seconds in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;; esac

# libfuzzer-sys compiles libFuzzer (C++); the targets link libpam
scripts/install-deps.sh g++ || { echo "fuzz FAILED: setup: scripts/install-deps.sh g++"; exit 1; }
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked || { echo "fuzz FAILED: setup: cargo install cargo-fuzz"; exit 1; }
fi

cd fuzz
# cargo-fuzz passes -Zsanitizer=...: allow it on the stable toolchain
export RUSTC_BOOTSTRAP=1
echo "== building the fuzz targets (sanitizer: $sanitizer)"
if ! cargo fuzz build -s "$sanitizer"; then
  echo "fuzz FAILED: build"
  exit 1
fi

failed=0
for source in fuzz_targets/*.rs; do
  target=$(basename "$source" .rs)
  case $target in
    phone_map | ldif_lookup)
      if [ "$(id -u)" -ne 0 ]; then
        echo "SKIPPED: fuzz $target: the directories read only root-owned files; run as root" >&2
        continue
      fi
      ;;
  esac
  work=target/corpus/$target
  mkdir -p "$work" "artifacts/$target"
  inputs=("$work" "corpus/$target")
  [ -d "regressions/$target" ] && inputs+=("regressions/$target")
  log=target/fuzz-$target.log
  touch target/fuzz-started
  if cargo fuzz run -s "$sanitizer" "$target" "${inputs[@]}" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 > "$log" 2>&1; then
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log")
    echo "fuzz ok: $target (${runs:-?})"
  else
    failed=1
    crash=$(find "artifacts/$target" -type f -newer target/fuzz-started | head -n 1)
    echo "fuzz FAILED: $target: crashing input: $([ -n "$crash" ] && echo "fuzz/$crash" || echo "none written, see fuzz/$log")"
    grep -m1 -A12 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" | sed 's/^/    /' || tail -n 20 "$log" | sed 's/^/    /'
    echo "    reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s $sanitizer $target ${crash:-INPUT}"
  fi
done
exit $failed
