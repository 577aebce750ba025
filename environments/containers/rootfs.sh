#!/usr/bin/env bash
# The root filesystem of the agent container image (`run --env emulate --runtime containers`): a
# minimal Debian bookworm root (debootstrap --variant=minbase, built by scripts/lib/debian-root.sh,
# the same builder as scripts/fresh-machine-check.sh) with this machine's Node copied in, cached
# under $EDGEPLANE_CONTAINER_CACHE (default /var/cache/edgeplane), written as a tar. No registry:
# the engine imports the tar (environments/containers/image.ts). The edgeplane code itself is not
# in the image: the container bind-mounts the package read-only.
#
# Usage: rootfs.sh OUT.tar      prints the root's cache key (part of the image tag) on stdout
# Needs root (debootstrap, chroot). Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../../scripts/lib/debian-root.sh
. "$REPO/scripts/lib/debian-root.sh"
OUT="${1:?usage: rootfs.sh OUT.tar}"
CACHE_DIR="${EDGEPLANE_CONTAINER_CACHE:-/var/cache/edgeplane}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
NODE_BIN="$(readlink -f "$(command -v node)")"
KEY=$(printf '%s\n' bookworm minbase "$MIRROR" "$(declare -f debian_root_build debian_root_add_node)" "$(sha256sum "$NODE_BIN" | cut -c1-64)" | sha256sum | cut -c1-16)
BASE="$CACHE_DIR/container-root-$KEY"
if [ ! -f "$BASE/.complete" ]; then
  mkdir -p "$CACHE_DIR"
  TMP="$BASE.tmp.$$"
  trap 'rm -rf --one-file-system "$TMP"' EXIT
  debian_root_build "$TMP" bookworm minbase "$MIRROR" >&2
  debian_root_add_node "$TMP"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$TMP/etc/hosts"
  touch "$TMP/.complete"
  rm -rf --one-file-system "$BASE"
  mv "$TMP" "$BASE"
  trap - EXIT
fi
tar -C "$BASE" --exclude=./.complete --numeric-owner -cf "$OUT" .
echo "$KEY"
