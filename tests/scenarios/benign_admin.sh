#!/bin/bash
# benign_admin.sh — an administrator's ordinary session that looks like the
# attack from afar: a package installed by dpkg (which writes a cron job and
# a systemd unit of its own), a normal cron job added, a service restarted,
# a sudoers rule for a group through visudo's check, a firewall rule added.
# Must not raise any high-severity alert. Run inside the scenario sandbox.
#
#   benign_admin.sh PACKAGE.deb
DEB=$1

dpkg -i "$DEB"
echo '30 2 * * * root /usr/local/bin/backup-home --quiet' > /etc/cron.d/backup-home
chmod 644 /etc/cron.d/backup-home
systemctl restart cron
echo '%backup ALL=(root) /usr/local/bin/backup-home' > /tmp/backup.sudoers
visudo -cf /tmp/backup.sudoers && install -m 0440 /tmp/backup.sudoers /etc/sudoers.d/backup
nft add table inet filter
nft add chain inet filter input '{ type filter hook input priority 0; policy accept; }'
nft add rule inet filter input tcp dport 22 accept
uname -a
df -h /
ps aux > /dev/null
exit 0
