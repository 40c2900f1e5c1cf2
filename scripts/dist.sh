#!/usr/bin/env bash
# The release tarballs the source packages build from (make dist):
#
#   DIR/pam_smsotp-VERSION.tar.gz         git archive of HEAD, top directory pam_smsotp-VERSION/
#   DIR/pam_smsotp-VERSION-vendor.tar.gz  vendor/ (cargo vendor of Cargo.lock's crates) and
#                                         .cargo/config.toml pointing cargo at it; unpack it
#                                         inside the source directory
#
# DIR is $DIST_DIR or target/dist. Vendoring uses cargo's local cache when it
# holds every crate (--offline) and asks crates.io otherwise; building from the
# two tarballs then needs no network (cargo build --offline --locked). Both
# tarballs are reproducible: file dates are HEAD's commit time, owners 0, names
# sorted. Prints the two paths.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
top=$PWD
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
name=pam_smsotp-$version
out=${DIST_DIR:-target/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
epoch=$(git log -1 --format=%ct HEAD)

if ! git diff --quiet HEAD -- 2>/dev/null; then
  echo "dist.sh: the tarball is HEAD; uncommitted changes are not in it" >&2
fi
git archive --format=tar --prefix="$name/" HEAD | gzip -9n > "$out/$name.tar.gz"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# vendor from a copy of HEAD's manifest and lock file, so that the crates are exactly HEAD's
git archive --format=tar HEAD Cargo.toml Cargo.lock | tar -x -C "$work"
mkdir -p "$work/src" && : > "$work/src/lib.rs"
# the manifest names its targets' files; cargo vendor only reads the manifest and the lock
git archive --format=tar HEAD src module | tar -x -C "$work"
(cd "$work" && { cargo vendor --offline --locked --versioned-dirs vendor >/dev/null 2>"$work/vendor.log" \
  || { rm -rf vendor; cargo vendor --locked --versioned-dirs vendor >/dev/null; }; })
mkdir -p "$work/.cargo"
cat > "$work/.cargo/config.toml" <<'CONF'
# From pam_smsotp's vendor tarball (scripts/dist.sh): build with the crates in
# vendor/ only (cargo build --offline --locked).
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "vendor"
CONF
tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner --format=gnu \
  -C "$work" -c vendor .cargo/config.toml | gzip -9n > "$out/$name-vendor.tar.gz"
echo "${out#"$top"/}/$name.tar.gz"
echo "${out#"$top"/}/$name-vendor.tar.gz"
