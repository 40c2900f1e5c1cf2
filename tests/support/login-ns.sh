#!/bin/sh
# Usage (from tests/logins.rs):
#   unshare -m --propagation private tests/support/login-ns.sh ROOT COMMAND [ARG...]
#
# Gives COMMAND a private view of the machine, for one end-to-end login test:
#   ROOT/etc/{pam.d,passwd,shadow,group,sudoers}  bound over the same names in /etc
#   a tmpfs on /run (with /run/sshd, sshd's privilege-separation directory)
#   ROOT/var/{wtmp,btmp,lastlog}                  bound over /var/log/* (sshd and login write them)
#   a private /dev holding the usual nodes and, as /dev/log, the datagram socket
#   ROOT/log.sock, so that the test reads what pam_syslog(3), sudo, su and login log.
# Only this mount namespace sees any of it: the machine's /etc, /run, /var/log
# and /dev stay exactly as they are. Must run as root, already inside `unshare -m`.
set -eu
R=$1
shift
for f in pam.d passwd shadow group sudoers; do
  if [ -e "$R/etc/$f" ] && [ -e "/etc/$f" ]; then mount --bind "$R/etc/$f" "/etc/$f"; fi
done
mount -t tmpfs -o mode=755,size=16m tmpfs /run
mkdir -m 755 /run/sshd
for f in wtmp btmp lastlog; do
  if [ -e "/var/log/$f" ] && [ -e "$R/var/$f" ]; then mount --bind "$R/var/$f" "/var/log/$f"; fi
done
if [ -S "$R/log.sock" ]; then
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
fi
exec "$@"
