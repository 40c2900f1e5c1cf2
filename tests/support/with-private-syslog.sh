#!/bin/sh
# Run "$@" in the current (already private) mount namespace with /etc/pam.d
# replaced by $1/ and /dev/log replaced by the datagram socket $1/log.sock.
# Only this namespace sees the change; the machine's /etc and /dev stay as they are.
set -e
T=$1
shift
mkdir -p "$T/olddev"
mount --bind /dev "$T/olddev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero random urandom; do
  touch "/dev/$n"
  mount --bind "$T/olddev/$n" "/dev/$n"
done
touch /dev/log
mount --bind "$T/log.sock" /dev/log
mount --bind "$T" /etc/pam.d
exec "$@"
