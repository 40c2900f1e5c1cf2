#!/bin/sh
# Usage: tests/support/private-dev.sh ROOT     (as root, inside `unshare -m`)
#
# Replaces /dev, in this mount namespace only, with a small tmpfs holding the
# usual nodes (bound from the machine's), a new devpts instance, /dev/shm, the
# /proc/self/fd links and, as /dev/log, the datagram socket ROOT/log.sock, so
# that a caller reads what syslog(3) and pam_syslog(3) log. Used by
# login-ns.sh (the end-to-end login tests) and bench/run.sh.
set -eu
R=$1
mkdir -p "$R/olddev"
mount --bind /dev "$R/olddev"
mount -t tmpfs -o mode=755,size=1m tmpfs /dev
for n in null zero full random urandom tty; do
  touch "/dev/$n"
  mount --bind "$R/olddev/$n" "/dev/$n"
done
mkdir /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,size=1m tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
touch /dev/log
mount --bind "$R/log.sock" /dev/log
umount -l "$R/olddev"
