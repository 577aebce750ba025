#!/usr/bin/env bash
# The guest image of edgeplane's node VMs (`edgeplane nodes vms up`): a minimal Debian bookworm
# root (scripts/lib/debian-root.sh, as scripts/fresh-machine-check.sh builds it) with
# openssh-server, iproute2 and this machine's Node, and a small PID 1 (/sbin/ep-init) that brings
# up user-mode networking, installs the root key given on the kernel command line, generates a
# host key and starts sshd. Written as an ext4 qcow2 disk beside this machine's kernel and initrd
# (/boot/vmlinuz-*, /boot/initrd.img-*: Debian's initrd loads virtio_blk and virtio_net).
#
# Built once per set of inputs (suite, mirror, packages, the build functions, ep-init, the Node
# binary, the kernel) into $CACHE_DIR/node-vm-<hash>/; prints that folder as its last line. The
# Debian root alone (the slow part, ~2-10 min) is cached as $CACHE_DIR/node-vm-root-<hash>/.
# Needs root (debootstrap, chroot). Usage: scripts/node-vm-image.sh [--cache-dir DIR] [--rebuild]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${EDGEPLANE_VM_CACHE:-/var/cache/edgeplane}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
VARIANT=minbase
PACKAGES=(openssh-server iproute2 procps)
REBUILD=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache-dir) CACHE_DIR="$2"; shift ;;
    --rebuild) REBUILD=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" -ne 0 ]; then echo "node-vm-image: must run as root (debootstrap, chroot)" >&2; exit 3; fi
for tool in debootstrap mkfs.ext4 qemu-img; do
  command -v "$tool" >/dev/null 2>&1 || { echo "node-vm-image: $tool is missing (scripts/install-test-deps.sh installs it)" >&2; exit 3; }
done
# shellcheck source=lib/debian-root.sh
. "$REPO/scripts/lib/debian-root.sh"

KERNEL="$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)"
[ -n "$KERNEL" ] || { echo "node-vm-image: no kernel in /boot (apt-get install linux-image-amd64)" >&2; exit 3; }
KVER="${KERNEL#/boot/vmlinuz-}"
INITRD="/boot/initrd.img-$KVER"
[ -f "$INITRD" ] || { echo "node-vm-image: no $INITRD beside $KERNEL" >&2; exit 3; }

# PID 1 of the guest
read -r -d '' EP_INIT <<'INIT' || true
#!/bin/sh
# PID 1 of an edgeplane node VM (scripts/node-vm-image.sh): mounts, user-mode network
# (10.0.2.15, gateway 10.0.2.2), the root key from ep.key=, a fresh host key, sshd; halts on TERM.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sys /sys 2>/dev/null
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -o remount,rw /
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | head -n 1; }
NAME="$(arg ep.name)"
hostname "${NAME:-nodevm}"
ip link set lo up
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up
ip route add default via 10.0.2.2
echo 'nameserver 10.0.2.3' >/etc/resolv.conf
mkdir -p /root/.ssh
chmod 700 /root/.ssh
arg ep.key | base64 -d >/root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
mkdir -p /run/sshd
/usr/sbin/sshd -e
echo "EPVM-READY ${NAME} $(cut -d' ' -f1 /proc/uptime)" >/dev/ttyS0
trap 'kill -TERM -1 2>/dev/null; sync; echo o >/proc/sysrq-trigger' TERM INT
while :; do wait; sleep 1; done
INIT

SSHD_CONF='PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
HostKey /etc/ssh/ssh_host_ed25519_key
AllowTcpForwarding yes'

# the Debian root with the packages: cached on its own (the slow part), so that changes to what is
# added below do not run debootstrap again
ROOT_KEY=$(
  {
    printf '%s\n' "$SUITE" "$VARIANT" "$MIRROR" "${PACKAGES[*]}"
    declare -f debian_root_build
  } | sha256sum | cut -c1-16
)
BASE_ROOT="$CACHE_DIR/node-vm-root-$ROOT_KEY"

build_image() { # DIR
  local out="$1" root="$1/root"
  if [ ! -f "$BASE_ROOT/.complete" ]; then
    local tmp="$BASE_ROOT.tmp.$$"
    rm -rf --one-file-system "$tmp"
    debian_root_build "$tmp" "$SUITE" "$VARIANT" "$MIRROR" "${PACKAGES[@]}"
    touch "$tmp/.complete"
    rm -rf --one-file-system "$BASE_ROOT"
    mv "$tmp" "$BASE_ROOT"
  fi
  cp -a "$BASE_ROOT" "$root"
  rm -f "$root/.complete"
  debian_root_add_node "$root"
  printf '%s\n' "$EP_INIT" >"$root/sbin/ep-init"
  chmod 0755 "$root/sbin/ep-init"
  printf '%s\n' "$SSHD_CONF" >"$root/etc/ssh/sshd_config.d/edgeplane.conf"
  rm -f "$root"/etc/ssh/ssh_host_* # each VM makes its own at boot
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  # the guest's sshd must start with this configuration (a bad line would only show on its console)
  ssh-keygen -q -t ed25519 -N '' -f "$root/tmp/check_host_key"
  mkdir -p "$root/run/sshd"
  chroot "$root" /usr/sbin/sshd -t -h /tmp/check_host_key
  rm -f "$root"/tmp/check_host_key*
  local mib
  mib=$(( $(du -sm "$root" | cut -f1) * 3 / 2 + 512 ))
  truncate -s "${mib}M" "$out/rootfs.raw"
  mkfs.ext4 -q -F -L eproot -d "$root" "$out/rootfs.raw"
  qemu-img convert -O qcow2 "$out/rootfs.raw" "$out/rootfs.qcow2"
  rm -rf --one-file-system "$root" "$out/rootfs.raw"
  cp "$KERNEL" "$out/vmlinuz"
  cp "$INITRD" "$out/initrd.img"
  printf '%s\n' "$KVER" >"$out/kernel-version"
}

KEY=$(
  {
    printf '%s\n' "$ROOT_KEY" "$EP_INIT" "$SSHD_CONF"
    declare -f build_image debian_root_add_node
    sha256sum "$(readlink -f "$(command -v node)")" "$KERNEL" "$INITRD" | cut -d' ' -f1
  } | sha256sum | cut -c1-16
)
OUT="$CACHE_DIR/node-vm-$KEY"
if [ -f "$OUT/.complete" ] && [ "$REBUILD" -eq 0 ]; then
  echo "cached: $OUT" >&2
  echo "$OUT"
  exit 0
fi
mkdir -p "$CACHE_DIR"
TMP="$OUT.tmp.$$"
trap 'rm -rf --one-file-system "$TMP"' EXIT
for stale in "$OUT".tmp.*; do [ -e "$stale" ] && rm -rf --one-file-system "$stale"; done
T0=$(date +%s)
mkdir -p "$TMP"
build_image "$TMP" >&2
touch "$TMP/.complete"
rm -rf "$OUT"
mv "$TMP" "$OUT"
trap - EXIT
echo "built: $OUT ($(du -sh "$OUT" | cut -f1), $(( $(date +%s) - T0 )) s)" >&2
echo "$OUT"
