#!/bin/sh
# deps.sh — install the Debian packages Yamori needs to build, run and test.
#
# Idempotent and quiet: when everything is present it prints nothing and
# exits 0. When something is missing it runs `apt-get update` once and
# installs only the missing packages. Needs root when it has work to do.
# The list is the single place where the project's system dependencies are
# named; docs/decisions.md says why each one is here.
set -eu

PACKAGES="
  make gcc pkg-config clang llvm bpftool
  libbpf-dev libelf-dev zlib1g-dev
  libssl-dev libsystemd-dev libjansson-dev uthash-dev
  libyaml-dev libpcre2-dev
  libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev libsqlite3-dev
  libzstd-dev libsodium-dev libnftables-dev libarchive-dev
  libyara-dev libclamav-dev libedit-dev
  iproute2 util-linux procps
  openssh-server openssh-client sshpass nftables
"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = "installed" ] || missing="$missing $pkg"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi

echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# Packages installed for the tests (openssh-server) must not start services
# on this machine: Debian's policy-rc.d refuses every start during install.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
fi
# shellcheck disable=SC2086  # word splitting of the package list is intended
if apt-get install -y -qq --no-install-recommends $missing >/dev/null; then rc=0; else rc=$?; fi
if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
exit $rc
