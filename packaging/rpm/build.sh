#!/usr/bin/env bash
# Build the RPM: target/pam_smsotp-<version>-1.<arch>.rpm
#
#   packaging/rpm/build.sh          (or: make rpm)
#
# `cargo build --release` (SKIP_CARGO_BUILD=1 to pack what target/release has),
# then rpmbuild -bb on packaging/rpm/pam_smsotp.spec with the repository as
# %{_sourcedir} and target/rpmbuild as %{_topdir}. Offline; works with Fedora's
# rpmbuild and with Debian's (package rpm), where --nodeps stands in for the
# missing rpm database (Debian 12's rpm also prints "brp-compress: read: Illegal
# option -d": its script is run by dash; harmless, the man pages are already
# gzipped). PKG_OUT=DIR puts the rpmbuild tree and the .rpm in DIR
# instead of target/ (the tests use their own). Prints the path of the .rpm as
# its last line.
set -euo pipefail
umask 022
cd "$(dirname "$0")/../.."
src=$PWD

if [ "${SKIP_CARGO_BUILD:-0}" != 1 ]; then
  cargo build --release >&2
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
out=${PKG_OUT:-target}
mkdir -p "$out"
out=$(cd "$out" && pwd)
topdir=$out/rpmbuild
rm -rf "$topdir"
mkdir -p "$topdir"/{BUILD,BUILDROOT,RPMS,SRPMS,SPECS,SOURCES}

# the statically linked crates: bundled(crate(...)) provides and the License tag
packaging/crates.sh > "$topdir/bundled-crates.txt"
# one SPDX expression: MIT AND (each other crate licence, its OR-alternatives sorted)
license=$(cut -d' ' -f3- "$topdir/bundled-crates.txt" | sed 's|/| OR |g' | while read -r expr; do
    case "$expr" in
      *" OR "*) printf '(%s)\n' "$(printf '%s\n' $expr | grep -vx OR | sort -u | paste -sd' ' | sed 's/ / OR /g')" ;;
      *" AND "*) printf '(%s)\n' "$expr" ;;
      *) printf '%s\n' "$expr" ;;
    esac
  done | sort -u | grep -vx MIT | { printf 'MIT'; while read -r l; do printf ' AND %s' "$l"; done; echo; })

rpmbuild -bb --nodeps --quiet \
  --define "_topdir $topdir" \
  --define "_sourcedir $src" \
  --define "pkg_version $version" \
  --define "pkg_license $license" \
  --define "bundled_file $topdir/bundled-crates.txt" \
  packaging/rpm/pam_smsotp.spec >&2

rpm=$(find "$topdir/RPMS" -name "pam_smsotp-$version-1*.rpm" | head -n 1)
[ -n "$rpm" ] || { echo "build.sh: rpmbuild made no package" >&2; exit 1; }
cp "$rpm" "$out/"
result=$out/$(basename "$rpm")
echo "${result#"$src"/}"
