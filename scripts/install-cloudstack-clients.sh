#!/bin/sh
# Installs the real Apache CloudStack API clients the emulator (`edgeplane up cloudstack`) is
# tested against: Debian's python3-cs (exoscale's `cs` library and CLI) and python3-libcloud (its
# CloudStack compute driver). Idempotent: does nothing when both are installed. Skips
# `apt-get update` when EDGEPLANE_APT_UPDATED=1 (.ci/run has just run it).
set -eu

PACKAGES="python3-cs python3-libcloud"
missing=""
for p in $PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-cloudstack-clients: already installed:$PACKAGES"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-cloudstack-clients: run as root to install:$missing" >&2
  exit 3
fi
[ "${EDGEPLANE_APT_UPDATED:-0}" = 1 ] || apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
/usr/bin/python3 -c 'import cs, libcloud; print("install-cloudstack-clients: cs", getattr(cs, "__version__", "?"), "libcloud", libcloud.__version__)'
