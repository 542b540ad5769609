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
    [ -d "${SB2:-/nonexistent}" ] && sandbox_destroy "$SB2" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
export HOME="$T/home"
mkdir -p "$HOME"
PORT=$((20000 + RANDOM % 20000))
SSH_PORT=2222
PASSWORD="Tr0ub4dor-$RANDOM"

. tests/lib/wait_for.sh

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
# "active" comes with the first heartbeat, which may precede the sensor and
# the log source: a process of ours reaching the store says the agent's
# loop runs, so the SSH log is followed from here on
READY="yamori-takeover-ready-$$"
/bin/sh -c "true $READY"
if ! wait_for 120 "$READY" "$Y" events --device "$DEVICE" --type process --limit 10000 --json >/dev/null; then
    fail setup "the agent's events do not reach the store: $(tail -5 "$T/agent.log")"
    exit 0
fi
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
# every failed password sshd logged is in the store (an attempt that the
# loaded machine dropped before the password is not a logon)
FAILED_LOGGED=$(grep -c 'Failed password' "$SB/sshd.log")
logons_ok() {   # the brute force and the success, as the store has them
    local out
    out=$("$Y" events --device "$DEVICE" --type logon --since "$START" --limit 1000 --json 2>&1)
    [ "$FAILED_LOGGED" -ge 5 ] && [ "$(grep -c '"ActionType": *"LogonFailed"' <<<"$out")" -eq "$FAILED_LOGGED" ] \
        && grep -q '"ActionType": *"LogonSuccess"' <<<"$out" && grep -q '"RemoteIP": *"203.0.113.10"' <<<"$out"
}
ok=0
for _ in $(seq 1 120); do logons_ok && { ok=1; break; }; sleep 0.5; done
if [ $ok = 1 ]; then
    pass logons_from_the_attacker_stored
else
    out=$("$Y" events --device "$DEVICE" --type logon --since "$START" --limit 1000 --json 2>&1)
    fail logons_from_the_attacker_stored "$(grep -c '"LogonFailed"' <<<"$out") failures stored, $FAILED_LOGGED logged by sshd: $(grep -E '"(LogLine|RemotePort)"' <<<"$out" | tr -d ' \n' | head -c 1500) sshd: $(grep 'Failed password' "$SB/sshd.log" | grep -o 'port [0-9]*' | tr '\n' ' ')"
fi
if out=$(wait_for 120 '/etc/cron.d/awsd' "$Y" events --device "$DEVICE" --type file --since "$START" \
            --limit 10000 --json); then
    pass persistence_write_stored
else
    fail persistence_write_stored "no file event for /etc/cron.d/awsd"
fi

# ---------------------------------------------------------------- the incident
# The alerts SCENARIO.md names, in one incident.
WANT=("Multiple failed SSH logons followed by a success" "Suspicious behavior by bash was observed"
      "Security controls disabled" "Suspicious cron persistence"
      "Executable dropped in system path and run as root")
incident_of() {   # incident_of TITLE: the incident id of the newest alert titled so, since START
    "$Y" alerts --json --since "$START" --limit 1000 2>/dev/null | tr -d '\n' | sed 's/": */":/g; s/},\s*{/}\n{/g' \
        | grep -F "\"title\":\"$1\"" | grep -oE '"incident_id":[0-9]+' | head -1 | grep -oE '[0-9]+$'
}
all_alerted() {
    local t
    for t in "${WANT[@]}"; do [ -n "$(incident_of "$t")" ] || return 1; done
}
for _ in $(seq 1 120); do all_alerted && break; sleep 0.5; done
missing=() ids=()
for t in "${WANT[@]}"; do
    id=$(incident_of "$t")
    if [ -z "$id" ]; then missing+=("$t"); else ids+=("$id"); fi
done
INCIDENT=${ids[0]:-}
distinct=$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)
if [ ${#missing[@]} -eq 0 ] && [ "$distinct" -eq 1 ]; then
    pass one_incident_with_the_scenario_alerts
else
    fail one_incident_with_the_scenario_alerts "missing: ${missing[*]:-none}; incidents: ${ids[*]:-none}; alerts: $("$Y" alerts --since "$START" --limit 200 2>&1 | head -40)"
fi
if [ -n "$INCIDENT" ] && out=$("$Y" incident show "$INCIDENT" --json 2>&1) \
   && grep -qE '"name": *"Multi-stage incident involving [^"]* on one endpoint"' <<<"$out" \
   && grep -qE '"severity": *"high"' <<<"$out" && grep -q '"Persistence"' <<<"$out" \
   && grep -q '"Defense evasion"' <<<"$out" && grep -q '/etc/cron.d/awsd' <<<"$out" \
   && grep -q '/usr/lib/runtime' <<<"$out" && grep -q '203.0.113.10' <<<"$out"; then
    pass incident_named_and_with_its_evidence
else
    fail incident_named_and_with_its_evidence "$(grep -E '"(name|severity)"' <<<"${out:-}" | head -5)"
fi


# ---------------------------------------------------------------- the alert story
# The story of "Security controls disabled" (a command of the script) goes
# from the SSH session down to the script and each of its commands.
story_alert=$("$Y" alerts --json --since "$START" --limit 1000 2>/dev/null | tr -d '\n' \
    | sed 's/": */":/g; s/},\s*{/}\n{/g' | grep -F '"title":"Audit daemon stopped, disabled or its rules removed"' \
    | grep -oE '^\{"id":[0-9]+' | head -1 | grep -oE '[0-9]+$')
out=$("$Y" alert show "${story_alert:-0}" 2>&1)
[ -n "${YAMORI_SCENARIO_DEBUG:-}" ] && echo "$out" >&2
json=$("$Y" alert show "${story_alert:-0}" --json 2>&1 | sed 's/": */":/g')
if grep -q '"ancestry_end":"ssh' <<<"$json" && grep -q 'bash /root/setup.sh' <<<"$out" \
   && grep -q 'systemctl stop auditd' <<<"$out" && grep -q 'nft flush ruleset' <<<"$out" \
   && grep -q '/etc/cron.d/awsd' <<<"$out" && grep -q '/usr/lib/runtime' <<<"$out" \
   && grep -q 'sshd' <<<"$out" && grep -q '├─\|└─' <<<"$out"; then
    pass alert_story_from_the_session_to_each_command
else
    fail alert_story_from_the_session_to_each_command "alert ${story_alert:-none}: $(head -c 3000 <<<"$out")"
fi

# ---------------------------------------------------------------- a benign admin
# An administrator's ordinary session in a second sandbox: a package with a
# cron job and a unit, a normal cron job, visudo-checked sudoers, a
# firewall rule. No high-severity alert may come of it.
SB2="$T/sb2"
PKG="$T/backup-tools_1.0_all.deb"
mkdir -p "$T/pkg/DEBIAN" "$T/pkg/etc/cron.d" "$T/pkg/lib/systemd/system" "$T/pkg/usr/local/bin"
printf 'Package: backup-tools\nVersion: 1.0\nArchitecture: all\nMaintainer: Ops <ops@example.com>\nDescription: nightly backups\n' \
    >"$T/pkg/DEBIAN/control"
printf '#!/bin/sh\ntar -czf /var/backups/home.tgz /home 2>/dev/null\n' >"$T/pkg/usr/local/bin/backup-home"
chmod 755 "$T/pkg/usr/local/bin/backup-home"
echo '15 3 * * * root /usr/local/bin/backup-home' >"$T/pkg/etc/cron.d/backup-tools"
printf '[Unit]\nDescription=Backups\n[Service]\nExecStart=/usr/local/bin/backup-home\n' \
    >"$T/pkg/lib/systemd/system/backup-tools.service"
if dpkg-deb --build --root-owner-group "$T/pkg" "$PKG" >/dev/null 2>&1 && sandbox_create "$SB2"; then
    BENIGN_START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    BENIGN_NS=$(date +%s%N)
    sandbox_run "$SB2" bash "$ROOT/tests/scenarios/benign_admin.sh" "$PKG" >"$T/benign.log" 2>&1
    # what it did reaches the store (its cron job, then its last command),
    # and detection runs right after each batch is stored
    seen=$(wait_for 60 '/etc/cron.d/backup-home' "$Y" events --device "$DEVICE" --type file \
        --since "$BENIGN_START" --limit 10000 --json)
    wait_for 60 'ps aux' "$Y" events --device "$DEVICE" --type process --since "$BENIGN_START" \
        --limit 10000 --json >/dev/null
    sleep 2
    high=$("$Y" alerts --json --severity high --since "$BENIGN_START" --limit 1000 2>/dev/null | tr -d '\n' \
        | sed 's/": */":/g; s/},\s*{/}\n{/g' | grep -E '^\{"id"' | while read -r a; do
            first=$(grep -oE '"first_event":"[^"]*"' <<<"$a" | head -1 | cut -d'"' -f4)
            [ -n "$first" ] && [ "$(date -d "$first" +%s%N)" -ge "$BENIGN_NS" ] \
                && grep -oE '"title":"[^"]*"' <<<"$a" | head -1
        done)
    if ! grep -q '/etc/cron.d/backup-home' <<<"$seen"; then
        fail benign_admin_raises_no_high_alert "the admin's changes never reached the store: $(tail -5 "$T/benign.log")"
    elif [ -z "$high" ]; then
        pass benign_admin_raises_no_high_alert
    else
        fail benign_admin_raises_no_high_alert "$high"
    fi
else
    fail benign_admin_raises_no_high_alert "cannot build the package or the second sandbox"
fi

# YAMORI_SCENARIO_DEBUG=SECONDS keeps everything running that long for a look
# (HOME below holds the CLI's login).
if [ -n "${YAMORI_SCENARIO_DEBUG:-}" ]; then
    echo "debug: HOME=$HOME, server https://127.0.0.1:$PORT, sandbox $SB" >&2
    sleep "$YAMORI_SCENARIO_DEBUG"
fi
