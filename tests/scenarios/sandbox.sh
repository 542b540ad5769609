#!/bin/bash
# sandbox.sh — a throw-away copy of this machine for attack scenarios.
#
# Source it, then:
#   sandbox_create DIR      mount and network namespaces kept in DIR/ns; /etc,
#                           /root, /usr/lib, /usr/local and /var are overlays
#                           whose changes land in DIR (the machine's files are
#                           never written); /run is a tmpfs; the network has
#                           only loopback, plus 203.0.113.10 (the attacker's
#                           server) on it
#   sandbox_run DIR CMD...  runs CMD inside
#   sandbox_spawn DIR LOG CMD...  runs CMD inside, in the background; prints its pid
#   sandbox_sshd DIR PORT PASSWORD
#                           starts the real OpenSSH server inside on
#                           127.0.0.1:PORT, root's password set (in the overlay
#                           /etc/shadow only), logging to DIR/sshd.log
#   sandbox_destroy DIR     ends every process living in the sandbox (they were
#                           all started by the scenario), unmounts, removes DIR
#
# Nothing inside can reach another address than its own loopback.
set -u

sandbox_create() {
    local d=$1
    mkdir -p "$d/ns" "$d/upper" "$d/work"
    mount --bind "$d/ns" "$d/ns" && mount --make-private "$d/ns" || return 1
    touch "$d/ns/mnt" "$d/ns/net"
    unshare --mount="$d/ns/mnt" --net="$d/ns/net" --propagation private true || return 1
    nsenter --mount="$d/ns/mnt" --net="$d/ns/net" bash -ec "
        ip link set lo up
        ip addr add 203.0.113.10/32 dev lo
        for dir in /etc /root /usr/lib /usr/local /var; do
            name=\$(echo \$dir | tr / _)
            mkdir -p '$d/upper'/\$name '$d/work'/\$name
            mount -t overlay overlay -o lowerdir=\$dir,upperdir='$d/upper'/\$name,workdir='$d/work'/\$name \$dir
        done
        mount -t tmpfs -o mode=0755 tmpfs /run
        mkdir -p /run/sshd
    "
}

sandbox_run() {
    local d=$1
    shift
    nsenter --mount="$d/ns/mnt" --net="$d/ns/net" "$@"
}

sandbox_spawn() {
    local d=$1 log=$2
    shift 2
    nsenter --mount="$d/ns/mnt" --net="$d/ns/net" "$@" >"$log" 2>&1 &
    echo $!
}

sandbox_sshd() {
    local d=$1 port=$2 pw=$3
    cat > "$d/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM yes
PidFile $d/sshd.pid
MaxAuthTries 3
MaxStartups 100
LogLevel INFO
CONF
    sandbox_run "$d" bash -c "echo 'root:$pw' | chpasswd" || return 1
    sandbox_run "$d" /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || return 1
}

# The pids of processes whose mount namespace is the sandbox's.
sandbox_pids() {
    local d=$1 ns pid
    ns=$(stat -L -c %i "$d/ns/mnt" 2>/dev/null) || return 0
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        [ "$(stat -L -c %i /proc/$pid/ns/mnt 2>/dev/null)" = "$ns" ] && echo "$pid"
    done
}

sandbox_destroy() {
    local d=$1 pids
    pids=$(sandbox_pids "$d")
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    sleep 0.2
    umount "$d/ns/mnt" "$d/ns/net" 2>/dev/null
    umount "$d/ns" 2>/dev/null
    rm -rf "$d"
}
