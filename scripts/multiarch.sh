# Sourced: sets $multiarch to the system's multiarch triple (x86_64-linux-gnu,
# aarch64-linux-gnu...), where Debian keeps libraries and PAM modules:
# dpkg-architecture (dpkg-dev), else gcc -print-multiarch, else the compiler's triple.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
[ -n "$multiarch" ] || multiarch=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$multiarch" ] || multiarch=$(cc -dumpmachine 2>/dev/null || true)
[ -n "$multiarch" ] || { echo "multiarch.sh: cannot tell the multiarch triple (install dpkg-dev)" >&2; exit 1; }
