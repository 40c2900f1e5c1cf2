#!/usr/bin/env bash
# Build the Debian package: target/pam-smsotp_<version>_<arch>.deb
#
#   packaging/deb/build.sh          (or: make deb)
#
# Works offline with this machine's tools: `cargo build --release` (crates from
# the local cache), then `make install` into a staged tree, which dpkg-deb packs
# with --root-owner-group (no fakeroot, no debhelper). Needs dpkg-dev
# (dpkg-architecture, dpkg-shlibdeps, dpkg-parsechangelog), make, gzip and
# binutils (strip). SKIP_CARGO_BUILD=1 packs the binaries already in
# target/release. The version is packaging/deb/changelog's, whose upstream part
# must equal Cargo.toml's. PKG_OUT=DIR puts the work tree and the .deb in DIR
# instead of target/ (the tests use their own). Prints the path of the .deb as
# its last line.
set -euo pipefail
umask 022
cd "$(dirname "$0")/../.."
top=$PWD
pkg=pam-smsotp
changelog=packaging/deb/changelog

if [ "${SKIP_CARGO_BUILD:-0}" != 1 ]; then
  cargo build --release >&2
fi

cargo_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
version=$(dpkg-parsechangelog -l "$changelog" -SVersion)
if [ "${version%-*}" != "$cargo_version" ]; then
  echo "build.sh: $changelog is at $version but Cargo.toml at $cargo_version: add a changelog entry" >&2
  exit 1
fi
maintainer=$(dpkg-parsechangelog -l "$changelog" -SMaintainer)
# reproducible: file dates in the .deb are clamped to the changelog's date
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(dpkg-parsechangelog -l "$changelog" -STimestamp)}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

out=${PKG_OUT:-target}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/deb
stage=$work/debian/$pkg
rm -rf "$work"
mkdir -p "$stage/DEBIAN"

make --no-print-directory -s install DESTDIR="$stage" PREFIX=/usr \
  LIBDIR="/usr/lib/$multiarch" DOCDIR="/usr/share/doc/$pkg" INSTALL_STATEDIR=no >/dev/null

# what dh_strip does
module=$stage/usr/lib/$multiarch/security/pam_smsotp.so
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$module"
strip --remove-section=.comment --remove-section=.note "$stage/usr/sbin/smsotp"

doc=$stage/usr/share/doc/$pkg
gzip -9n "$doc/README.md"
gzip -9n -c "$changelog" > "$doc/changelog.Debian.gz"
# copyright: ours, plus the Rust crates statically linked into the binaries
{
  sed '/^$/q' packaging/copyright | sed '$d'
  crates=$(packaging/crates.sh)
  if [ -n "$crates" ]; then
    echo "Comment: The binaries statically include these Rust crates, each under"
    echo " the license its Cargo manifest states (name, version, license):"
    echo " ."
    printf '%s\n' "$crates" | sed 's/^/ /'
  fi
  echo
  sed '1,/^$/d' packaging/copyright
} > "$doc/copyright"
find "$doc" -maxdepth 1 -type f -exec chmod 0644 {} +

install -D -m 0644 packaging/deb/lintian-overrides "$stage/usr/share/lintian/overrides/$pkg"

# Depends: the shared libraries the binaries link (libc6, libgcc-s1, libpam0g),
# as dpkg-shlibdeps computes them from the installed packages' symbols files;
# libpam-runtime for pam-auth-update (called by the maintainer scripts);
# ca-certificates for the HTTPS trust roots (/etc/ssl/certs/ca-certificates.crt).
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" > "$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "debian/$pkg/usr/sbin/smsotp" \
  "debian/$pkg/usr/lib/$multiarch/security/pam_smsotp.so" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
depends="$shlibs, libpam-runtime (>= 1.0.1-6), ca-certificates"

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Description: SMS one-time password as a second login factor (PAM module)
 pam_smsotp adds an SMS one-time password to Linux logins (SSH, sudo, su,
 the console), after the password or sshd's public key. It finds the user's
 mobile number in a phone map, an LDIF export or LDAP, sends a fresh code
 through an SMS gateway (any HTTP API, presets for ten providers including
 Kannel, a program, or a spool file), and enforces the code's expiry,
 attempts, resends, lockout, send limits and single-use backup codes.
 .
 This package holds the module, the smsotp administration command, an
 annotated configuration and man pages. It changes no PAM stack: enable the
 module with "pam-auth-update --enable smsotp", or add it to the files in
 /etc/pam.d by hand (see pam_smsotp(8) and the examples).
EOF

printf '/etc/security/pam_smsotp.toml\n/etc/security/pam_smsotp.phones\n' > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/deb/$script" "$stage/DEBIAN/$script"
done
# md5sums of everything but the conffiles (dpkg tracks those itself)
(cd "$stage" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

deb=$out/${pkg}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "${deb#"$top"/}"
