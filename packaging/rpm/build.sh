#!/usr/bin/env bash
# Build the SRPM and the RPMs from source, as a distribution would:
#
#   packaging/rpm/build.sh          (or: make rpm)
#
# scripts/dist.sh writes the two tarballs (HEAD and its vendored crates) into
# the SOURCES of an rpmbuild tree under target/rpmbuild (PKG_OUT=DIR: DIR/rpmbuild),
# then `rpmbuild -ba packaging/rpm/pam_smsotp.spec` builds offline from them.
# On Fedora or RHEL, install the BuildRequires first (dnf builddep). On Debian
# (package rpm) the rpm database does not know the build dependencies, so
# RPM_NODEPS=1 passes --nodeps (the default there); Fedora's macro packages
# are missing too, and the spec's fallbacks stand in for them. Prints the
# paths of the SRPM and the RPMs.
set -euo pipefail
umask 022
cd "$(dirname "$0")/../.."
out=${PKG_OUT:-target}
mkdir -p "$out"
out=$(cd "$out" && pwd)
topdir=$out/rpmbuild
rm -rf "$topdir"
mkdir -p "$topdir"/{BUILD,BUILDROOT,RPMS,SRPMS,SPECS,SOURCES}

DIST_DIR=$topdir/SOURCES scripts/dist.sh >&2
nodeps=()
if [ "${RPM_NODEPS:-$([ -e /etc/debian_version ] && echo 1 || echo 0)}" = 1 ]; then
  nodeps=(--nodeps)
fi
rpmbuild -ba "${nodeps[@]}" --define "_topdir $topdir" packaging/rpm/pam_smsotp.spec >&2
find "$topdir/SRPMS" "$topdir/RPMS" -name '*.rpm' | sort
