#!/usr/bin/env bash
# Benchmark pam_smsotp side by side with pam_permit and pam_google_authenticator:
# whole pamtester logins under pam_wrapper, timed by hyperfine, plus max RSS and
# the module's size. Prints a Markdown section; with --write also rewrites
# BENCHMARKS.md (keeping its "## Notes"). Needs root (apt-get, root-owned files).
#   bench/run.sh [--write]        BENCH_RUNS=N sets hyperfine's --runs (default 200)
set -euo pipefail

write=0
case ${1:-} in
--write) write=1 ;;
"") ;;
*) echo "usage: $0 [--write]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${BENCH_RUNS:-200}
warmup=3
. "$root/scripts/multiarch.sh"
sec=/usr/lib/$multiarch/security
so=$root/target/release/libpam_smsotp.so
stacks=(permit smsotp smsotp-redis google-authenticator google-authenticator-defaults)

die() { echo "run.sh: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root"
# The logins run in a private mount namespace whose /dev has a /dev/log (see
# private_dev): the machine's own /dev stays as it is.
if [[ -z ${BENCH_IN_NAMESPACE:-} ]]; then
    command -v unshare >/dev/null 2>&1 || die "unshare (util-linux) is needed"
    exec unshare -m --propagation private env BENCH_IN_NAMESPACE=1 "$0" "$@"
fi

# 1. Tools
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have pamtester || missing+=(pamtester)
[[ -e /usr/lib/$multiarch/libpam_wrapper.so ]] || missing+=(libpam-wrapper)
have hyperfine || missing+=(hyperfine)
[[ -e $sec/pam_google_authenticator.so ]] || missing+=(libpam-google-authenticator)
have oathtool || missing+=(oathtool)
[[ -x /usr/bin/time ]] || missing+=(time)
have strip || missing+=(binutils)
have python3 || missing+=(python3)
have redis-server || missing+=(redis-server)
have inotifywait || missing+=(inotify-tools)
if ((${#missing[@]})); then
    echo "run.sh: installing ${missing[*]}" >&2
    apt-get -o DPkg::Lock::Timeout=300 update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "${missing[@]}" >&2
fi

# 2. Build
(cd "$root" && cargo build --release >&2)
[[ -f $so ]] || die "$so was not built"

# 3. Private dir with the three PAM stacks
dir=$(mktemp -d)
chmod 0700 "$dir"
trap 'rm -rf --one-file-system "$dir"' EXIT
export BENCH_DIR=$dir
export BENCH_USER=${BENCH_USER:-nobody}
umask 077
mkdir "$dir/pam.d" "$dir/spool"

account="account required $sec/pam_permit.so"
printf 'auth required %s\n' "$sec/pam_deny.so" >"$dir/pam.d/other"
printf 'auth required %s\n%s\n' "$sec/pam_permit.so" "$account" >"$dir/pam.d/permit"
printf 'auth required %s config=%s\n%s\n' "$so" "$dir/pam_smsotp.toml" "$account" >"$dir/pam.d/smsotp"
printf 'auth required %s secret=%s user=root\n%s\n' "$sec/pam_google_authenticator.so" "$dir/ga_secret" "$account" \
    >"$dir/pam.d/google-authenticator"
printf 'auth required %s secret=%s user=root\n%s\n' "$sec/pam_google_authenticator.so" "$dir/ga_secret_defaults" "$account" \
    >"$dir/pam.d/google-authenticator-defaults"

# [limits] and [state] keep a persistent store (if the module gains one) from
# capping the ~200 sends of a run and from touching /var/lib.
cat >"$dir/pam_smsotp.toml" <<EOF
[message]
template = "Code {code} for {user}"
[limits]
max_sends_per_hour = 1000
resend_cooldown = 0
[state]
dir = "$dir/state"
[[directory]]
type = "file"
path = "$dir/phones"
[[connector]]
type = "spool"
path = "$dir/spool/outbox.jsonl"
EOF
mkdir "$dir/state"
# The user logging in exists in the name service, as every real login's does
# (pam_unix would refuse one that does not); a name unknown to /etc/passwd
# would make the module's identity lookup fall through to nss-systemd.
echo "$BENCH_USER +15551234567" >"$dir/phones"
chown root:root "$dir/pam_smsotp.toml" "$dir/phones"
chmod 0600 "$dir/pam_smsotp.toml" "$dir/phones"

# TOTP only: no DISALLOW_REUSE / RATE_LIMIT, so a code can be reused across runs.
# The same module with the fleet backend: a redis-server on loopback (AOF on,
# fsync every second as the README recommends), an ACL user limited to the
# key prefix, stopped by PID when the run ends.
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'bench-redis-pw\n' >"$dir/redis.pw"
chmod 0600 "$dir/redis.pw"
printf 'user default off\nuser pam on >bench-redis-pw resetkeys ~smsotp:* resetchannels -@all +auth +ping +role +select +evalsha +script|load +smembers +wait +time +get +set +del +zscore +zadd +zrange +zrangebyscore +zremrangebyscore +zcard +zpopmin +pexpire +srem +scard\n' >"$dir/users.acl"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --appendfsync everysec --save '' \
    --aclfile "$dir/users.acl" --daemonize no --logfile "$dir/redis.log" &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; rm -rf --one-file-system "$dir"' EXIT

# A syslog socket at /dev/log, read and dropped by a listener (as journald or
# rsyslog would take the lines): a module that calls syslog(3) where no
# /dev/log exists falls back to writing to /dev/console, which costs ~1.4 ms
# a login on a serial console (pam_google_authenticator does; pam_smsotp logs
# through pam_syslog, which pam_wrapper takes). /dev becomes the end-to-end
# tests' small tmpfs (tests/support/private-dev.sh) with the socket.
private_dev() {
    python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
print(flush=True)
while True:
    s.recv(65536)' "$dir/log.sock" >"$dir/log.ready" &
    log_pid=$!
    for _ in $(seq 100); do [[ -s $dir/log.ready ]] && break; sleep 0.05; done
    [[ -S $dir/log.sock ]] || die "the syslog listener did not start"
    sh "$root/tests/support/private-dev.sh" "$dir"
}
private_dev
trap 'kill "$redis_pid" "$log_pid" 2>/dev/null; rm -rf --one-file-system "$dir"' EXIT
for _ in $(seq 100); do redis-cli -p "$redis_port" --user pam --pass bench-redis-pw --no-auth-warning ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
sed -e "s|^dir = .*|dir = \"$dir/state-redis\"\nbackend = \"redis\"\n\n[state.redis]\nurl = \"redis://127.0.0.1:$redis_port/0\"\nusername = \"pam\"\npassword_file = \"$dir/redis.pw\"|" \
    "$dir/pam_smsotp.toml" >"$dir/pam_smsotp-redis.toml"
chmod 0600 "$dir/pam_smsotp-redis.toml"
mkdir "$dir/state-redis"
printf 'auth required %s config=%s\n%s\n' "$so" "$dir/pam_smsotp-redis.toml" "$account" >"$dir/pam.d/smsotp-redis"

printf 'JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n' >"$dir/ga_secret"
# As google-authenticator(1) writes it when its recommendations are taken:
# rate limiting and no reuse of a code, so that every login rewrites the file
# (a new file, fsync, rename). Put back before each timed login, as
# pam_smsotp's state is, so that the one code of a 30 s window works again.
printf 'JBSWY3DPEHPK3PXP\n" RATE_LIMIT 3 30\n" DISALLOW_REUSE\n" TOTP_AUTH\n' >"$dir/ga_secret_defaults.orig"
cp "$dir/ga_secret_defaults.orig" "$dir/ga_secret_defaults"
chown root:root "$dir/ga_secret" "$dir/ga_secret_defaults.orig" "$dir/ga_secret_defaults"
chmod 0400 "$dir/ga_secret" "$dir/ga_secret_defaults.orig" "$dir/ga_secret_defaults"

feed=$root/bench/feed.sh
spool=$dir/spool/outbox.jsonl
check_spool() {
    if [[ $(wc -l <"$spool") != 1 ]] || ! grep -q '"text":"Code [0-9]\{6\} for '"$BENCH_USER"'"' "$spool"; then
        die "unexpected spool content after $1: $(cat "$spool")"
    fi
}

# Each stack must log in once before it is timed.
for s in "${stacks[@]}"; do
    if ! out=$(bash "$feed" "$s" 2>&1); then
        die "stack $s failed its check login: $out"
    fi
    grep -q 'successfully authenticated' <<<"$out" || die "stack $s: unexpected pamtester output: $out"
done
check_spool "the check login"
# The user has logged in before: two more logins bring the state directory to
# its steady form (the state file and both redo-record files, a page each),
# and that is put back before each timed pam_smsotp login. Otherwise 200 logins
# in a minute would pile up a send history of 200 entries (the limits above
# allow 1000) that no real user has, and that each login decodes and digests.
for _ in 1 2; do
    bash "$feed" smsotp >/dev/null 2>&1 || die "stack smsotp failed a login"
done
cp -a "$dir/state" "$dir/state-before"
# The directory is made to hold exactly those files. A file whose size is the
# same is overwritten in place, as a login's own write does: truncating it
# (cp) would make the next flush of a record allocate its block and write its
# inode again.
cat >"$dir/restore" <<'EOF'
for t in "$2"/*; do
    [ -e "$1/${t##*/}" ] || rm -f "$t"
done
for f in "$1"/*; do
    t="$2/${f##*/}"
    if [ -f "$t" ] && [ "$(stat -c %s "$f")" = "$(stat -c %s "$t")" ]; then
        dd if="$f" of="$t" conv=notrunc status=none
    else
        cp -p "$f" "$t"
    fi
done
EOF
cp -p "$dir/ga_secret_defaults.orig" "$dir/ga_secret_defaults"

# 4. Timing: rounds of one hyperfine run for all stacks, the runs of all rounds
# pooled. hyperfine times one command's runs one after another; on a shared
# VM the machine's speed drifts over seconds, so one long run per stack would
# compare different moments (pam_permit once came out slower than a stack
# that runs it and more). No shell is needed (-N): the pipe is inside feed.sh,
# so every command is one exec of the same feeder.
# CPU idle over the second before timing: other load on the machine skews it.
read -r _ u1 n1 s1 i1 w1 q1 sq1 _ </proc/stat
sleep 1
read -r _ u2 n2 s2 i2 w2 q2 sq2 _ </proc/stat
total=$(((u2 + n2 + s2 + i2 + w2 + q2 + sq2) - (u1 + n1 + s1 + i1 + w1 + q1 + sq1)))
idle=$((100 * (i2 - i1) / (total > 0 ? total : 1)))
rounds=${BENCH_ROUNDS:-10}
per_round=$(((runs + rounds - 1) / rounds))
((per_round >= 2)) || die "BENCH_RUNS must be at least twice BENCH_ROUNDS"
# what runs before each timed login of a stack (not timed), in the order of $stacks
declare -A prepare=(
    [permit]=true
    [smsotp]="sh $dir/restore $dir/state-before $dir/state"
    [smsotp-redis]=true
    [google-authenticator]=true
    [google-authenticator-defaults]="cp -p $dir/ga_secret_defaults.orig $dir/ga_secret_defaults"
)
# Each round starts with the next stack: within a round the stacks run one
# after another, and where a stack stands in that order moved its median by
# up to 0.15 ms here.
for ((round = 0; round < rounds; round++)); do
    args=()
    for ((i = 0; i < ${#stacks[@]}; i++)); do
        s=${stacks[(round + i) % ${#stacks[@]}]}
        args+=(--prepare "${prepare[$s]}")
    done
    for ((i = 0; i < ${#stacks[@]}; i++)); do
        s=${stacks[(round + i) % ${#stacks[@]}]}
        args+=(-n "$s" "bash $feed $s")
    done
    hyperfine -N --style basic --warmup "$warmup" --runs "$per_round" --export-json "$dir/hyperfine.$round.json" "${args[@]}" >&2
done
check_spool "the timed logins"

# 5. Max RSS of pamtester, one login per stack
for s in "${stacks[@]}"; do
    cp -p "$dir/ga_secret_defaults.orig" "$dir/ga_secret_defaults"
    FEED_TIME=$dir/rss.$s bash "$feed" "$s" >/dev/null 2>&1 || die "stack $s failed its RSS login"
done

# 6. Size and dependencies of the module
strip -o "$dir/stripped.so" "$so"
size=$(stat -c %s "$so")
stripped=$(stat -c %s "$dir/stripped.so")
ldd "$so" >"$dir/ldd"

# 7. Report
machine="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
versions="rustc $(rustc --version | cut -d' ' -f2), $(hyperfine --version), pamtester $(dpkg-query -W -f '${Version}' pamtester), libpam-google-authenticator $(dpkg-query -W -f '${Version}' libpam-google-authenticator), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (work tree modified)')"

python3 - "$dir" "$rounds" "$per_round" "$warmup" "$size" "$stripped" "$versions" "$idle" >"$dir/report.md" <<'PY'
import glob, json, statistics, sys
d, rounds, per_round, warmup, size, stripped, versions, idle = sys.argv[1:]
times = {}
for f in glob.glob(f"{d}/hyperfine.*.json"):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
results = {c: {"median": statistics.median(t), "mean": statistics.mean(t), "stddev": statistics.stdev(t),
               "min": min(t), "max": max(t)} for c, t in times.items()}
stacks = ["permit", "smsotp", "smsotp-redis", "google-authenticator", "google-authenticator-defaults"]
label = {"permit": "pam_permit", "smsotp": "pam_smsotp", "smsotp-redis": "pam_smsotp (Redis backend)",
         "google-authenticator": "pam_google_authenticator (TOTP only)",
         "google-authenticator-defaults": "pam_google_authenticator (RATE_LIMIT, DISALLOW_REUSE)"}
ms = lambda x: x * 1000
med = {s: ms(results[s]["median"]) for s in stacks}
rss = {s: int(open(f"{d}/rss.{s}").read().split()[-1]) for s in stacks}
deps = [l.split()[0] for l in open(f"{d}/ldd") if l.strip()]
kb = lambda b: f"{int(b) / 1024:,.0f}"

out = ["<!-- BEGIN GENERATED by bench/run.sh: do not edit by hand -->", "## Results", ""]
out += [f"Versions: {versions}.  ",
        f"hyperfine: {rounds} rounds of one invocation for all {len(stacks)} stacks, `--warmup {warmup} --runs {per_round}` "
        f"each, the runs of all rounds pooled; "
        f"CPU idle in the second before it: {idle}%.", ""]
out += ["### Login time (whole pamtester process)", "",
        "| stack | median (ms) | mean ± stddev (ms) | min … max (ms) | median / pam_permit | median − pam_permit (ms) |",
        "|---|---:|---:|---:|---:|---:|"]
for s in stacks:
    r = results[s]
    out.append(f"| {label[s]} | {med[s]:.2f} | {ms(r['mean']):.2f} ± {ms(r['stddev']):.2f} | "
               f"{ms(r['min']):.2f} … {ms(r['max']):.2f} | {med[s] / med['permit']:.2f}× | {med[s] - med['permit']:+.2f} |")
out += ["", f"pam_smsotp / pam_google_authenticator (medians): **{med['smsotp'] / med['google-authenticator-defaults']:.2f}×** "
        f"with its recommended RATE_LIMIT and DISALLOW_REUSE (each login a durable rewrite of its file, as each of "
        f"pam_smsotp's is), **{med['smsotp'] / med['google-authenticator']:.2f}×** TOTP only (no write); "
        f"the Redis backend adds {med['smsotp-redis'] - med['smsotp']:+.2f} ms to the file backend's login.", ""]
out += ["### Max RSS of pamtester (one login, `/usr/bin/time -f %M`)", "",
        "| " + " | ".join(label[s] for s in stacks) + " |", "|" + "---:|" * len(stacks),
        "| " + " | ".join(f"{rss[s]:,} KB" for s in stacks) + " |", ""]
out += ["### libpam_smsotp.so", "",
        "| as built | stripped (`strip`) | shared-library dependencies (`ldd` lines) |", "|---:|---:|---|",
        f"| {kb(size)} KB | {kb(stripped)} KB | {len(deps)}: {', '.join(deps)} |", "",
        "<!-- END GENERATED -->"]
print("\n".join(out))
PY

intro=$(cat <<EOF
# Benchmarks

What is measured: whole-process \`pamtester … authenticate\` logins under
pam_wrapper, one stack per run, timed side by side with \`pam_permit\` (a
stack that does nothing) and \`pam_google_authenticator\` (a TOTP second
factor), so the ratios say what pam_smsotp costs a login. Every run is fed its
answer on stdin by the same feeder, \`bench/feed.sh\`, and must succeed. The
feeder's start, pamtester and pam_wrapper are common to all stacks, so "median −
pam_permit" is what a stack adds to a login. pam_smsotp's figure includes
writing the SMS to the spool connector and the feeder reading it back (it
waits on inotify for the spool's write, started while pamtester starts, as
pam_google_authenticator's feeder forks oathtool), so it is an upper bound on
the module's own cost. The user logging in (\`nobody\`, \`BENCH_USER\`) exists in the name
service, as every real login's does, and has logged in before: before each
timed login (hyperfine \`--prepare\`, not timed) the state directory is put
back to what three earlier logins left (three sends, the pinned number, both
redo-record files), so that 200 logins in a minute do not pile up a send
history no real user has.
\`pam_smsotp (Redis backend)\` is the same module with \`[state] backend =
"redis"\` on a local redis-server (AOF, fsync every second, an ACL user).
pam_google_authenticator runs twice: TOTP only (it writes nothing), and as
google-authenticator(1) sets it up when its recommendations are taken
(\`RATE_LIMIT 3 30\`, \`DISALLOW_REUSE\`: every login rewrites the secret file
durably, as every pam_smsotp login writes its state), its file put back
before each timed login as pam_smsotp's state is. The logins run in a
private mount namespace whose \`/dev/log\` is a socket read by a listener, as
journald's is on a real machine (this one has none: a module's syslog(3)
then writes to the serial console, ~1.4 ms).

Produced by \`bench/run.sh --write\` (as root) on:
$machine.
EOF
)

printf '%s\n\n' "$intro"
cat "$dir/report.md"

if ((write)); then
    md=$root/BENCHMARKS.md
    notes=$(cat <<'EOF'
## Notes

<!-- Free text: `bench/run.sh --write` rewrites everything above this heading and keeps everything from it on. -->

- The feeder waits for the spool's write with inotifywait (started beside
  pamtester, no polling); pam_google_authenticator's answer (`oathtool`) is
  likewise computed while pamtester starts.
- The benchmark config adds `[limits]` (`max_sends_per_hour = 1000`,
  `resend_cooldown = 0`) and a private `[state] dir`, so that a persistent
  store would neither refuse the repeated logins nor write to /var/lib.
- Timings are sensitive to other load on the 2 cores: see the CPU idle figure
  above, and rerun on a quiet machine when it is low.
EOF
)
    if [[ -f $md ]] && grep -q '^## Notes' "$md"; then
        notes=$(sed -n '/^## Notes/,$p' "$md")
    fi
    umask 022
    { printf '%s\n\n' "$intro"; cat "$dir/report.md"; printf '\n%s\n' "$notes"; } >"$md.tmp"
    mv "$md.tmp" "$md"
    echo "run.sh: wrote $md" >&2
fi
