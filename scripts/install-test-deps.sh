#!/usr/bin/env bash
# Debian packages the integration suite needs beyond Node (the unit and e2e tests need none):
# headless Chromium (report browser test), qemu + a kernel + busybox-static (appliance image build
# and boot), debootstrap (scripts/fresh-machine-check.sh; the node-VM guest image), python3-simpy3 (SimPy 3 for `npm run bench -- simpy`),
# openssh-server (the SSH-node tests start their own sshds in network namespaces; the node-VM guests). Idempotent.
set -euo pipefail
PACKAGES=(chromium qemu-system-x86 qemu-utils linux-image-amd64 busybox-static cpio openssl curl procps iproute2 debootstrap python3-simpy3 openssh-server podman runc)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "test dependencies: all installed"; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages; run as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
[ -n "${EDGEPLANE_APT_UPDATED:-}" ] || apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
