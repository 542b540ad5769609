#!/bin/bash
# live.test.sh — ../shared/SCENARIO.md step 5 for real: after the awsd
# attack (awsd_attack.sh, run as root in a local shell of the sandbox), an
# analyst opens a live response session on the machine with `yamori live`
# and plays the session command by command, against the real agent:
#   dir /usr/lib            the payload is there
#   fileinfo, analyze file  not owned by any package, started by the awsd
#                           cron entry the alerted script wrote → a verdict
#                           of malicious or suspicious, with those reasons
#   processes -name runtime the payload runs
#   scheduledtasks          the awsd entry is listed
#   remediate scheduledtask awsd, then undo: gone, then back byte for byte
#   getfile                 a byte-identical copy of the payload
#   remediate file          the payload killed and quarantined
#   help                    lists every command
# and the abuse a session must refuse, each with a clear error and nothing
# run: shell metacharacters, path traversal, a huge argument, an unknown
# command, an advanced command for an analyst, a second session on the
# device.
#
# Everything runs inside the sandbox (sandbox.sh): server, agent, attack and
# CLI share its mount and network namespaces, so the agent's view of /usr/lib
# and /etc is the attacked copy, and remediation changes only the copy.
set -u
cd "$(dirname "$0")/../.."
BIN=$(cd "${YAMORI_SAN_BIN:-build/san}" && pwd)
Y="$BIN/yamori"
A="$BIN/yamori-agent"
ROOT=$(pwd)
pass() { echo "PASS scenario_live/$1"; }
fail() { echo "FAIL scenario_live/$1: $2"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP scenario_live/all: needs root (sandbox namespaces, the sensor)"
    exit 0
fi
for tool in nsenter unshare cmp; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP scenario_live/all: $tool is missing"
        exit 0
    fi
done
. tests/scenarios/sandbox.sh

T=$(mktemp -d /tmp/yamori-live.XXXXXX)
chmod 755 "$T"
SB="$T/sb"
cleanup() {
    [ -d "$SB" ] && sandbox_destroy "$SB" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
export HOME="$T/home"
mkdir -p "$HOME"
PORT=$((20000 + RANDOM % 20000))

. tests/lib/wait_for.sh
in_sb() { sandbox_run "$SB" "$@"; }
y() { sandbox_run "$SB" env HOME="$HOME" "$Y" "$@"; }
live() { sandbox_run "$SB" env HOME="$HOME" "$Y" live "$DEVICE" "$@"; }

# ---------------------------------------------------------------- server, agent, attack
if ! sandbox_create "$SB"; then
    fail setup "cannot create the sandbox"
    exit 0
fi
echo "admin-password-$RANDOM$RANDOM" > "$T/admin-password"
echo "analyst-password-$RANDOM$RANDOM" > "$T/analyst-password"
echo "responder-password-$RANDOM$RANDOM" > "$T/responder-password"
chmod 644 "$T"/*-password
mkdir -p "$T/data" && chown nobody "$T/data"
sandbox_spawn "$SB" "$T/server.log" "$Y" server --set "data_dir=$T/data" --set "listen=127.0.0.1:$PORT" \
    --set user=nobody --set "admin_password_file=$T/admin-password" \
    --set "public_url=https://127.0.0.1:$PORT" >/dev/null
if ! wait_for 300 '^yamori server ready' cat "$T/server.log" >/dev/null; then
    fail setup "the server did not start: $(tail -5 "$T/server.log")"
    exit 0
fi
if ! y login "https://127.0.0.1:$PORT" --user admin --password-file "$T/admin-password" \
        --ca "$T/data/tls/ca.pem" >"$T/login.log" 2>&1 \
   || ! y users add ana --role analyst --password-file "$T/analyst-password" >>"$T/login.log" 2>&1 \
   || ! y users add rita --role responder --password-file "$T/responder-password" >>"$T/login.log" 2>&1 \
   || ! y onboard --one-time --expires 1h --output "$T/pkg.json" >>"$T/login.log" 2>&1 \
   || ! in_sb "$A" enroll "$T/pkg.json" --config-dir "$T/etc" >>"$T/login.log" 2>&1; then
    fail setup "login/users/onboard/enroll: $(tail -5 "$T/login.log")"
    exit 0
fi
sandbox_spawn "$SB" "$T/agent.log" "$A" --config-dir "$T/etc" --state-dir "$T/state" \
    --status-file "$T/agent-status.json" >/dev/null
if ! wait_for 120 '"health": *"active"' y devices --json >/dev/null; then
    fail setup "the agent did not become active: $(tail -5 "$T/agent.log")"
    exit 0
fi
DEVICE=$(hostname)
READY="yamori-live-ready-$$"
in_sb /bin/sh -c "true $READY"
if ! wait_for 120 "$READY" y events --device "$DEVICE" --type process --limit 10000 --json >/dev/null; then
    fail setup "the agent's events do not reach the store: $(tail -5 "$T/agent.log")"
    exit 0
fi
sandbox_spawn "$SB" "$T/c2.log" "$BIN/helpers/c2_listener" 203.0.113.10 4444 "$T/c2-received" >/dev/null
in_sb bash "$ROOT/tests/scenarios/awsd_attack.sh" "$BIN/helpers/runtime_payload" 203.0.113.10 4444 \
    >"$T/attack.log" 2>&1
if ! wait_for 60 'beacon' cat "$T/c2-received" >/dev/null; then
    fail setup "the payload never reached its listener: $(tail -5 "$T/attack.log")"
    exit 0
fi
# analyze's reasons include the alerts on the payload: let detection see it first
wait_for 120 'Executable dropped in system path' y alerts --limit 200 >/dev/null
in_sb cat /etc/cron.d/awsd >"$T/awsd.before"
in_sb stat -c '%a %u %g %Y' /etc/cron.d/awsd >"$T/awsd.stat.before"
in_sb cat /usr/lib/runtime >"$T/runtime.original"

# ---------------------------------------------------------------- the analyst's session
check() {   # check NAME LINE PATTERN...: the command succeeds and its output matches every pattern
    local name=$1 line=$2 out pat; shift 2
    out=$(live -c "$line" 2>&1)
    local rc=$?
    for pat in "$@"; do
        if ! grep -qE -- "$pat" <<<"$out"; then
            fail "$name" "\`$line\` (exit $rc) lacks /$pat/: $(head -c 2000 <<<"$out")"
            return 1
        fi
    done
    if [ $rc -ne 0 ]; then
        fail "$name" "\`$line\` exited $rc: $(head -c 2000 <<<"$out")"
        return 1
    fi
    pass "$name"
    echo "$out" >"$T/out.$name"
}
check dir_shows_the_payload "dir /usr/lib" 'runtime'
check fileinfo_of_the_payload "fileinfo /usr/lib/runtime" "$(sha256sum "$T/runtime.original" | cut -c1-64)"
check analyze_calls_it_bad "analyze file /usr/lib/runtime" '(malicious|suspicious)' \
    '(no (installed )?package|not owned|unowned)' '/etc/cron.d/awsd'
check processes_show_it_running "processes -name runtime" '/usr/lib/runtime'
check scheduledtasks_list_awsd "scheduledtasks" 'awsd' '@reboot'
check help_lists_commands "help" 'remediate' 'scheduledtasks' 'getfile' 'analyze'

# remediate the cron entry, then undo: gone, then back byte for byte
if out=$(live -c "remediate scheduledtask awsd" 2>&1) && ! in_sb test -e /etc/cron.d/awsd; then
    pass remediate_scheduledtask_removes_it
else
    fail remediate_scheduledtask_removes_it "$(head -c 1500 <<<"$out")"
fi
if out=$(live -c "undo scheduledtask awsd" 2>&1) && in_sb cat /etc/cron.d/awsd >"$T/awsd.after" \
   && cmp -s "$T/awsd.before" "$T/awsd.after" \
   && [ "$(in_sb stat -c '%a %u %g %Y' /etc/cron.d/awsd)" = "$(cat "$T/awsd.stat.before")" ]; then
    pass undo_restores_it_byte_for_byte
else
    fail undo_restores_it_byte_for_byte "$(head -c 1500 <<<"$out")"
fi
if y actions --device "$DEVICE" 2>&1 | grep -q 'remove_persistence'; then
    pass action_center_lists_live_remediations
else
    fail action_center_lists_live_remediations "$(y actions --device "$DEVICE" 2>&1 | head -20)"
fi

# getfile: a byte-identical copy, downloaded into the current directory
mkdir -p "$T/dl" && chmod 777 "$T/dl"
# (nsenter starts in /: the CLI is started in the download directory by a shell inside)
if out=$(sandbox_run "$SB" env HOME="$HOME" sh -c 'cd "$1" && exec "$2" live "$3" -c "getfile /usr/lib/runtime"' \
            sh "$T/dl" "$Y" "$DEVICE" 2>&1) && cmp -s "$T/dl/runtime" "$T/runtime.original"; then
    pass getfile_is_byte_identical
else
    fail getfile_is_byte_identical "$(head -c 1500 <<<"$out"); $(ls -la "$T/dl")"
fi

# remediate file: the payload killed and quarantined
payload_pids() { for p in /proc/[0-9]*; do [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/lib/runtime ] && echo "${p#/proc/}"; done; }
before_pids=$(in_sb bash -c "$(declare -f payload_pids); payload_pids")
alive() {   # alive PID...: one of them still runs (a zombie waiting for its reaper does not)
    local p
    for p in "$@"; do
        [ -e "/proc/$p" ] && [ "$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)" != Z ] && return 0
    done
    return 1
}
if out=$(live -c "remediate file /usr/lib/runtime" 2>&1) && ! in_sb test -e /usr/lib/runtime \
   && [ -n "$before_pids" ] && ! alive $before_pids; then
    pass remediate_file_kills_and_quarantines
else
    fail remediate_file_kills_and_quarantines "pids before: ${before_pids:-none}; $(head -c 1500 <<<"$out")"
fi

# ---------------------------------------------------------------- abuse
refused() {   # refused NAME PATTERN LINE [USER-HOME]: exits non-zero, says PATTERN, runs nothing
    local name=$1 pat=$2 line=$3 out
    out=$(live -c "$line" 2>&1)
    if [ $? -ne 0 ] && grep -qiE -- "$pat" <<<"$out"; then
        pass "$name"
    else
        fail "$name" "\`$(head -c 200 <<<"$line")\`: $(head -c 1000 <<<"$out")"
    fi
}
# the canary lives on the sandbox's /var overlay, so it goes with the sandbox
in_sb touch /var/tmp/yamori-live-canary
refused metacharacters_refused 'shell|metacharacter' 'dir /tmp; rm -f /var/tmp/yamori-live-canary'
refused substitution_refused 'shell|metacharacter' 'dir $(rm -f /var/tmp/yamori-live-canary)'
if in_sb test -e /var/tmp/yamori-live-canary; then pass metacharacters_ran_nothing; else fail metacharacters_ran_nothing "the canary is gone"; fi
refused traversal_refused 'name|library' 'putfile ../../etc/passwd'
refused huge_argument_refused 'long|limit|too' "fileinfo /$(head -c 9000 /dev/zero | tr '\0' a)"
refused unknown_command_refused 'unknown|help' 'frobnicate /etc'

# an analyst may look, not act; a second person gets the holder's name
export HOME_ANA="$T/home-ana" HOME_RITA="$T/home-rita"
mkdir -p "$HOME_ANA" "$HOME_RITA"
sandbox_run "$SB" env HOME="$HOME_ANA" "$Y" login "https://127.0.0.1:$PORT" --user ana \
    --password-file "$T/analyst-password" --ca "$T/data/tls/ca.pem" >/dev/null 2>&1
sandbox_run "$SB" env HOME="$HOME_RITA" "$Y" login "https://127.0.0.1:$PORT" --user rita \
    --password-file "$T/responder-password" --ca "$T/data/tls/ca.pem" >/dev/null 2>&1
out=$(sandbox_run "$SB" env HOME="$HOME_ANA" "$Y" live "$DEVICE" -c "remediate file /etc/cron.d/awsd" 2>&1)
if [ $? -ne 0 ] && grep -qi 'responder' <<<"$out" && in_sb test -e /etc/cron.d/awsd; then
    pass analyst_refused_advanced_commands
else
    fail analyst_refused_advanced_commands "$(head -c 1000 <<<"$out")"
fi
# admin holds a session (a script whose input stays open) while rita tries
{ echo status; sleep 30; } | sandbox_run "$SB" env HOME="$HOME" "$Y" live "$DEVICE" >"$T/holder.out" 2>&1 &
HOLDER=$!
wait_for 40 'user: *admin' cat "$T/holder.out" >/dev/null
got=$(sandbox_run "$SB" env HOME="$HOME_RITA" "$Y" live "$DEVICE" -c "status" 2>&1)
rc=$?
pkill -P "$HOLDER" sleep 2>/dev/null
if [ $rc -ne 0 ] && grep -q 'admin' <<<"$got"; then
    pass second_session_names_the_holder
else
    fail second_session_names_the_holder "exit $rc: $(head -c 1000 <<<"$got"); holder: $(head -c 500 "$T/holder.out")"
fi
wait "$HOLDER" 2>/dev/null
# every command is in the audit log
if y audit --limit 500 2>&1 | grep -q 'remediate scheduledtask awsd'; then
    pass commands_audited
else
    fail commands_audited "$(y audit --limit 30 2>&1 | tail -10)"
fi
