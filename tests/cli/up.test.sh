#!/bin/bash
# up.test.sh — `yamori up`: the server, a logged-in CLI and an enrolled
# local agent from one command; events of this machine reach the store;
# Ctrl-C (SIGTERM) stops everything; a second `up` on the same data
# directory reuses the admin, the CA and the enrollment; a later start
# whose server fails says so (the ready line of an earlier run in the same
# log does not count), and a login the server refuses is reported with the
# server's answer.
#
# Everything lives in a temporary directory (data, agent configuration and
# state, the CLI's HOME); the server runs as `nobody`, so no user is added
# to the machine. The agent is the real sensor (root needed).
set -u
BIN="${YAMORI_SAN_BIN:-build/san}"
Y="$BIN/yamori"
pass() { echo "PASS cli_up/$1"; }
fail() { echo "FAIL cli_up/$1: $2"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP cli_up/all: needs root (it starts the sensor)"
    exit 0
fi
T=$(mktemp -d /tmp/yamori-up-test.XXXXXX)
chmod 755 "$T"
UP=
cleanup() {
    [ -n "$UP" ] && kill -TERM "$UP" 2>/dev/null && wait "$UP" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
PORT=$((20000 + RANDOM % 20000))
export HOME="$T/home"
mkdir -p "$HOME"

start_up() {   # start_up LOG: starts `yamori up`, waits for its banner
    "$Y" up --data-dir "$T/data" --listen "127.0.0.1:$PORT" --server-user nobody \
        --agent-config-dir "$T/etc" --agent-state-dir "$T/state" >"$1" 2>&1 &
    UP=$!
    for _ in $(seq 1 600); do
        grep -q '^Yamori is running' "$1" && return 0
        kill -0 "$UP" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

# waits (bounded) until CMD's output matches PATTERN; prints the last output
. tests/lib/wait_for.sh

if start_up "$T/up1.log" && grep -q "password" "$T/up1.log" && grep -q "CA  *SHA256:" "$T/up1.log"; then
    pass starts_and_prints_credentials
else
    fail starts_and_prints_credentials "$(cat "$T/up1.log" "$T/data/server.log" 2>/dev/null | tail -20)"
    exit 0
fi

host=$(hostname)
if out=$(wait_for 120 '"health": *"active"' "$Y" devices --json) && grep -q "\"$host\"" <<<"$out"; then
    pass local_agent_enrolled_and_active
else
    fail local_agent_enrolled_and_active "$out"
fi

marker="yamori-up-marker-$$-$RANDOM"
/bin/sh -c "true $marker"
if out=$(wait_for 120 "$marker" "$Y" events --device "$host" --type process --since 10m --limit 10000 --json); then
    pass events_of_this_machine_stored
else
    fail events_of_this_machine_stored "no event with $marker: $(tail -c 600 <<<"$out")"
fi

kill -TERM "$UP"; wait "$UP"; rc=$?; UP=
left=$(pgrep -f -- "$T/" | grep -v "^$$\$" || true)
if [ "$rc" -eq 0 ] && [ -z "$left" ]; then
    pass sigterm_stops_server_and_agent
else
    fail sigterm_stops_server_and_agent "rc=$rc, still running: $left"
fi

pw1=$(grep -o 'password [A-Za-z0-9]*' "$T/up1.log")
if start_up "$T/up2.log" && [ "$(grep -o 'password [A-Za-z0-9]*' "$T/up2.log")" = "$pw1" ] \
   && out=$(wait_for 120 '"health": *"active"' "$Y" devices --json) \
   && [ "$(grep -o '"id": *"' <<<"$out" | wc -l)" -eq 1 ] && [ ! -e "$T/data/onboarding-local.json" ]; then
    pass second_start_reuses_everything
else
    fail second_start_reuses_everything "$(tail -5 "$T/up2.log"): $out"
fi

kill -TERM "$UP" 2>/dev/null; wait "$UP"; UP=

# The server log is kept across starts: a start whose server never gets
# ready must say so, not trust the ready line of the run before (which sent
# the login to a server still starting, or to none at all).
out=$(timeout 120 "$Y" up --data-dir "$T/data" --listen "127.0.0.1:$PORT" --server-user nobody --no-agent \
      --set threads=0 2>&1); rc=$?
if [ "$rc" -ne 0 ] && grep -q "the server did not start" <<<"$out" && ! grep -q "cannot log the CLI in" <<<"$out" \
   && ! grep -q "did not stop" <<<"$out"; then
    pass failed_start_not_taken_for_ready
else
    fail failed_start_not_taken_for_ready "rc=$rc: $out"
fi

# A login the server refuses is reported with the server's own answer, and
# the server started for it is stopped.
cp "$T/data/admin-password" "$T/admin-password.kept"
echo "not-the-admin-password" >"$T/data/admin-password"
out=$(timeout 120 "$Y" up --data-dir "$T/data" --listen "127.0.0.1:$PORT" --server-user nobody --no-agent 2>&1); rc=$?
left=$(pgrep -f -- "$T/" | grep -v "^$$\$" || true)
if [ "$rc" -ne 0 ] && grep -q "cannot log the CLI in: .*wrong user name or password (HTTP 401)" <<<"$out" \
   && [ -z "$left" ]; then
    pass refused_login_shows_the_answer
else
    fail refused_login_shows_the_answer "rc=$rc, still running: $left: $out"
fi
cp "$T/admin-password.kept" "$T/data/admin-password"
