#!/bin/bash
# bench/detect/latency.sh — detection latency end to end: a process starts
# on this machine → the agent reports it → the server stores it → the rule
# matches → the alert is stored. Measured per alert as the alert's creation
# time minus the Timestamp of the event that raised it (one clock: same
# machine), on an otherwise idle system, with the whole rule pack plus one
# probe rule loaded.
#
#   bench/detect/latency.sh [REL_BUILD_DIR] [PROBES]     (default: build/rel, 50)
#
# Runs `yamori up` in a temporary directory (server as nobody, port on
# loopback), starts PROBES processes 0.3 s apart whose command line the
# probe rule matches, then reads the alerts back and prints p50/p99/max.
set -u
cd "$(dirname "$0")/../.."
REL=$(cd "${1:-build/rel}" && pwd)
N=${2:-50}
[ "$(id -u)" -eq 0 ] || { echo "latency: needs root (the sensor)"; exit 1; }
T=$(mktemp -d /tmp/yamori-latency.XXXXXX)
chmod 755 "$T"
UP=
trap '[ -n "$UP" ] && kill -TERM $UP && wait $UP; rm -rf "$T"' EXIT
export HOME="$T/home"
mkdir -p "$HOME" "$T/rules"
MARK="yamori-latency-probe-$$"
cat > "$T/rules/probe.yml" <<R
title: Latency probe
id: 0d2c1f7e-1a1b-4c2d-9e3f-00000000a11e
status: test
description: Matches the benchmark's probe processes.
logsource: {product: linux, category: process_creation}
detection:
    sel:
        CommandLine|contains: '$MARK'
    condition: sel
level: low
R
chmod -R a+rX "$T/rules"
PORT=$((20000 + RANDOM % 20000))
"$REL/yamori" up --data-dir "$T/data" --listen "127.0.0.1:$PORT" --server-user nobody \
    --agent-config-dir "$T/etc" --agent-state-dir "$T/state" --set "rule_dirs=$T/rules" >"$T/up.log" 2>&1 &
UP=$!
for _ in $(seq 1 600); do grep -q '^Yamori is running' "$T/up.log" && break; sleep 0.2; done
grep -q '^Yamori is running' "$T/up.log" || { echo "latency: yamori up failed"; tail "$T/up.log"; exit 1; }
for _ in $(seq 1 120); do "$REL/yamori" devices --json 2>/dev/null | grep -q '"health": *"active"' && break; sleep 0.5; done
sleep 2   # past the start-up snapshot: an idle system
for i in $(seq 1 "$N"); do
    /bin/true "$MARK-$i"
    sleep 0.3
done
# every probe's alert, as "first_event created" pairs
for _ in $(seq 1 120); do
    "$REL/yamori" alerts --json --limit 1000 >"$T/alerts.json" 2>/dev/null
    [ "$(grep -c '"title": *"Latency probe"' "$T/alerts.json")" -ge "$N" ] && break
    sleep 0.5
done
got=$(grep -c '"title": *"Latency probe"' "$T/alerts.json")
# one alert object per line after flattening; pick the probe's times
tr -d '\n' <"$T/alerts.json" | sed 's/},\s*{/}\n{/g' | grep '"title": *"Latency probe"' \
    | sed -E 's/.*"first_event": *"([^"]*)".*"created": *"([^"]*)".*/\1 \2/' >"$T/pairs"
while read -r first created; do
    a=$(date -d "$first" +%s%N); b=$(date -d "$created" +%s%N)
    echo $(( (b - a) / 1000000 ))
done <"$T/pairs" | sort -n >"$T/ms"
n=$(wc -l <"$T/ms")
[ "$n" -gt 0 ] || { echo "latency: no probe alert read back ($got counted)"; exit 1; }
p50=$(sed -n "$(( (n + 1) / 2 ))p" "$T/ms")
p99=$(sed -n "$(( (n * 99 + 99) / 100 ))p" "$T/ms")
max=$(tail -1 "$T/ms")
echo "alert latency end to end (event Timestamp -> alert stored), $n of $N probes alerted:"
echo "  p50 ${p50} ms, p99 ${p99} ms, max ${max} ms"
