#!/bin/bash
# bench/live/latency.sh — live response command latency on an idle online
# device: the time from a person's line to its rendered answer, through the
# server's grammar, the command channel's long poll, the agent's re-check
# and command, the result and the rendering. Measured with the real CLI in
# one session (`yamori live HOST -f`, one line after another), so each
# figure includes the CLI's request and its follow-up poll.
#
#   bench/live/latency.sh [REL_BUILD_DIR] [COMMANDS]     (default: build/rel, 100)
#
# Runs `yamori up` in a temporary directory (server as nobody, port on
# loopback), then times COMMANDS `fileinfo /etc/hostname` (answered by the
# agent) and COMMANDS `status` (answered by the server alone) and prints
# the mean round trip of each.
set -u
cd "$(dirname "$0")/../.."
REL=$(cd "${1:-build/rel}" && pwd)
N=${2:-100}
[ "$(id -u)" -eq 0 ] || { echo "live latency: needs root (the agent)"; exit 1; }
T=$(mktemp -d /tmp/yamori-livelat.XXXXXX)
chmod 755 "$T"
UP=
trap '[ -n "$UP" ] && kill -TERM $UP && wait $UP; rm -rf "$T"' EXIT
export HOME="$T/home"
mkdir -p "$HOME"
PORT=$((20000 + RANDOM % 20000))
"$REL/yamori" up --data-dir "$T/data" --listen "127.0.0.1:$PORT" --server-user nobody \
    --agent-config-dir "$T/etc" --agent-state-dir "$T/state" >"$T/up.log" 2>&1 &
UP=$!
for _ in $(seq 1 600); do grep -q '^Yamori is running' "$T/up.log" && break; sleep 0.2; done
grep -q '^Yamori is running' "$T/up.log" || { echo "live latency: yamori up failed"; tail "$T/up.log"; exit 1; }
for _ in $(seq 1 120); do "$REL/yamori" devices --json 2>/dev/null | grep -q '"health": *"active"' && break; sleep 0.5; done
sleep 2
HOST=$(hostname)
measure() {   # measure LINE: mean ms per command of N in one session
    local line=$1 t0 t1
    for _ in $(seq 1 "$N"); do echo "$line"; done >"$T/script"
    t0=$(date +%s%N)
    "$REL/yamori" live "$HOST" -f "$T/script" >"$T/out" 2>&1 || { echo "live latency: $line failed: $(tail -3 "$T/out")"; exit 1; }
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / N / 1000 ))
}
"$REL/yamori" live "$HOST" -c status >/dev/null 2>&1   # a first session warms the caches
agent_us=$(measure "fileinfo /etc/hostname")
server_us=$(measure "status")
printf 'live response round trip, mean of %d in one session: agent command %d.%03d ms, server command %d.%03d ms\n' \
    "$N" $((agent_us / 1000)) $((agent_us % 1000)) $((server_us / 1000)) $((server_us % 1000))
