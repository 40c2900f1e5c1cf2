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
  sh "$(dirname "$0")/private-dev.sh" "$R"
fi
exec "$@"
