#!/usr/bin/env bash
# One pamtester login under pam_wrapper, fed its answer on stdin:
#   BENCH_DIR=DIR bench/feed.sh permit|smsotp*|google-authenticator*
# DIR is the temp dir made by bench/run.sh (service files in DIR/pam.d).
# FEED_TIME=FILE writes pamtester's max RSS (KB, GNU time %M) to FILE.
set -euo pipefail

stack=${1:?usage: BENCH_DIR=DIR feed.sh permit|smsotp*|google-authenticator*}
dir=${BENCH_DIR:?BENCH_DIR is not set}
spool=$dir/spool/outbox.jsonl
ga_secret=JBSWY3DPEHPK3PXP

answer() {
    case $stack in
    permit) ;;
    google-authenticator*) oathtool --totp -b "$ga_secret" ;;
    smsotp*)
        # Wait for the module's write without polling: inotifywait starts while
        # pamtester does (as oathtool does for pam_google_authenticator) and
        # answers when the spool file is closed after a write. An event is
        # printed as "." alone: bash reads a pipe one byte per read(2), and
        # the default event line (the path and the event names) took ~50.
        local i line rest
        coproc WATCH { exec inotifywait -e close_write --format . -t 5 "$spool" 2>&1; }
        while read -r -u "${WATCH[0]}" line && [[ $line != "Watches established." ]]; do :; done
        for ((i = 0; i < 5; i++)); do
            # the drained outbox holds this login's SMS alone: its first line;
            # parameter expansion only (no regex, no here-string) between the
            # write and the answer
            line=
            [[ -s $spool ]] && IFS= read -r line <"$spool"
            if [[ $line == *'"text":"Code '* ]]; then
                rest=${line#*\"text\":\"Code }
                printf '%s\n' "${rest%% *}"
                kill "$WATCH_PID" 2>/dev/null || true
                return 0
            fi
            # the write event (or the watch's 5 s timeout)
            read -r -u "${WATCH[0]}" line || sleep 0.001
        done
        echo "feed.sh: no new SMS in $spool after 5 s" >&2
        return 1
        ;;
    *) echo "feed.sh: unknown stack $stack" >&2; return 2 ;;
    esac
}

pamtester_() {
    if [[ -n ${FEED_TIME:-} ]]; then
        exec /usr/bin/time -f %M -o "$FEED_TIME" pamtester "$@"
    fi
    exec pamtester "$@"
}

# Drain the outbox (as a gateway would), so this login's SMS is its only line
# and polling reads a one-line file however many runs came before.
if [[ $stack == smsotp* ]]; then
    : >"$spool"
fi
answer | LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$dir/pam.d" \
    pamtester_ "$stack" "${BENCH_USER:-nobody}" authenticate
