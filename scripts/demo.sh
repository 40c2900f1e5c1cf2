#!/usr/bin/env bash
# The main job: build pam_smsotp and walk one SMS-verified login through real
# libpam (pamtester under pam_wrapper, pam_matrix as the password step), with
# the spool connector standing in for the SMS gateway. Touches nothing in /etc.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root: the module only trusts root-owned config files" >&2; exit 1; }

scripts/install-deps.sh
echo "== building pam_smsotp (cargo build --release)"
cargo build --release --quiet
module="$PWD/target/release/libpam_smsotp.so"

demo=$(mktemp -d /tmp/pam_smsotp-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
spool="$demo/spool/outbox.jsonl"
cat > "$demo/pam_smsotp.toml" <<EOT
[state]
dir = "$demo/state"

[message]
template = "{code} is your login code for {host}. It expires in {ttl_minutes} min."

[[directory]]
type = "file"
path = "$demo/phones"

[[connector]]
name = "spool"
type = "spool"
path = "$spool"
EOT
echo "alice  +1 555 0100 123" > "$demo/phones"
echo "alice:secret:smsotp-demo" > "$demo/passdb"
chmod 600 "$demo/pam_smsotp.toml" "$demo/phones" "$demo/passdb"
. scripts/multiarch.sh
security=/usr/lib/$multiarch/security
cat > "$demo/smsotp-demo" <<EOT
auth     requisite  /usr/lib/$multiarch/pam_wrapper/pam_matrix.so passdb=$demo/passdb
auth     required   $module config=$demo/pam_smsotp.toml
account  required   $security/pam_permit.so
EOT
printf "auth required $security/pam_deny.so\naccount required $security/pam_deny.so\n" > "$demo/other"

echo "== the PAM stack (service smsotp-demo):"
sed 's/^/   /' "$demo/smsotp-demo"
echo "== logging in as alice: password 'secret', then the code from the SMS"

# The user at the keyboard: types the password, waits for the SMS, types its code.
user_types() {
  echo "secret"
  for _ in $(seq 1000); do [ -s "$spool" ] && break; sleep 0.01; done
  text=$(sed -n 's/.*"text":"\([^"]*\)".*/\1/p' "$spool" | tail -n 1)
  {
    echo
    echo "   +--------------------------------------------------------------+"
    echo "   | SMS to +1 555 0100 123 (from the spool connector):"
    echo "   |   $text"
    echo "   +--------------------------------------------------------------+"
  } >&2
  echo "${text%% *}"
}

user_types | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$demo" \
  pamtester -v smsotp-demo alice authenticate
echo "== the login passed: the password, then a code that arrived by SMS"
