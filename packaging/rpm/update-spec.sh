#!/usr/bin/env bash
# Rewrite what packaging/rpm/pam_smsotp.spec derives from Cargo.toml and
# Cargo.lock: the Version, and between the GENERATED markers the License
# expression and one `Provides: bundled(crate(NAME)) = VERSION` per Rust crate
# linked into the binaries (packaging/crates.sh: normal dependencies for this
# platform, without proc-macros and build-only crates, which is what Fedora's
# packaging rules count as bundled). Offline: cargo's cache or vendor/.
#
#   packaging/rpm/update-spec.sh           rewrite the spec
#   packaging/rpm/update-spec.sh --check   exit 1 (and show the diff) if it is stale
set -euo pipefail
cd "$(dirname "$0")/../.."
spec=packaging/rpm/pam_smsotp.spec
crates=$(packaging/crates.sh)
[ -n "$crates" ] || { echo "update-spec.sh: cargo listed no crates (is the crate cache or vendor/ there?)" >&2; exit 1; }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)

# one SPDX expression: MIT (ours) AND each other crate licence, OR-alternatives sorted
license=$(printf '%s\n' "$crates" | cut -d' ' -f3- | sed 's|/| OR |g' | while read -r expr; do
    case "$expr" in
      *"("*) printf '(%s)\n' "$expr" ;;
      *" OR "*) printf '(%s)\n' "$(printf '%s\n' "$expr" | sed 's/ OR /\n/g' | sort -u | paste -sd'\t' | sed 's/\t/ OR /g')" ;;
      *" AND "*) printf '(%s)\n' "$expr" ;;
      *) printf '%s\n' "$expr" ;;
    esac
  done | sort -u | grep -vx MIT | { printf 'MIT'; while read -r l; do printf ' AND %s' "$l"; done; echo; })

generated=$(
  echo "# BEGIN GENERATED (packaging/rpm/update-spec.sh)"
  echo "# pam_smsotp is MIT; the rest are the licences of the statically linked crates"
  printf 'License:        %s\n' "$license"
  # as rust2rpm: semver build metadata ("+...") dropped, a pre-release "-" is rpm's "~"
  printf '%s\n' "$crates" | while read -r name ver _; do
    printf 'Provides:       bundled(crate(%s)) = %s\n' "$name" "$(printf '%s' "${ver%%+*}" | tr '-' '~')"
  done
  echo "# END GENERATED"
)
new=$(awk -v gen="$generated" -v version="$version" '
  /^# BEGIN GENERATED/ { print gen; skip = 1; next }
  /^# END GENERATED/ { skip = 0; next }
  skip { next }
  /^Version:/ { printf "Version:        %s\n", version; next }
  { print }' "$spec")
if [ "${1:-}" = --check ]; then
  if ! diff -u "$spec" <(printf '%s\n' "$new"); then
    echo "update-spec.sh: $spec is stale: run make generated (or packaging/rpm/update-spec.sh)" >&2
    exit 1
  fi
else
  printf '%s\n' "$new" > "$spec"
fi
