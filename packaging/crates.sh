#!/usr/bin/env bash
# Print "name version license" for every Rust crate linked into the release
# binaries and the module (normal dependencies of both workspace members, whose
# trees cargo separates with a blank line; without proc-macros and build-only crates),
# from the local Cargo cache: no network. Used for the Debian copyright file and
# the RPM's bundled(crate(...)) provides. Prints nothing if cargo cannot say.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo tree --offline --locked -e normal,no-proc-macro --prefix none -f '{p} {l}' 2>/dev/null \
  | sed -e 's/ (\*)$//' -e 's/^\([^ ]*\) v\([^ ]*\) /\1 \2 /' \
  | grep -v ' (/' | grep -v '^pam_smsotp ' | grep -v '^$' | sort -u || true
