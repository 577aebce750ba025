#!/usr/bin/env bash
# The fresh-machine check: runs the README's two commands, exactly as README.md's first ```sh
# block gives them, on a fresh clone inside a minimal Debian 12 root that has only Node 20.
#
#   1. a Debian bookworm root (debootstrap --variant=minbase, plus ca-certificates and git),
#      built once and cached under $CACHE_DIR/debootstrap-<hash of its inputs>;
#   2. a throw-away copy of it, with the host's /usr/bin/node and npm copied in, the host's extra
#      CA certificates (so npm can reach the registry through this network) and an /etc/hosts;
#   3. a fresh `git clone` of this repository's committed HEAD (uncommitted changes are not in it);
#   4. each command of the README's first ```sh block, in a chroot, with a clean environment.
#
# Prints each step's wall time and the total; exits non-zero if any step fails.
# Needs root (debootstrap, chroot, bind mounts); installs the `debootstrap` package if missing.
#
# Usage: scripts/fresh-machine-check.sh [--rebuild] [--keep] [--cache-dir DIR]
#   --rebuild        build the cached Debian root again even if one with the same inputs exists
#   --keep           keep the work root (its path is printed) instead of deleting it at the end
#   --cache-dir DIR  where cached roots live (default $EDGEPLANE_FRESH_CACHE or /var/cache/edgeplane)
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), EDGEPLANE_FRESH_WORK
# (parent of the work root, default /var/tmp).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${EDGEPLANE_FRESH_CACHE:-/var/cache/edgeplane}"
WORK_PARENT="${EDGEPLANE_FRESH_WORK:-/var/tmp}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
VARIANT=minbase
EXTRA_PACKAGES=(ca-certificates git)
REBUILD=0
KEEP=0

while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) REBUILD=1 ;;
    --keep) KEEP=1 ;;
    --cache-dir) CACHE_DIR="$2"; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ "$(id -u)" -ne 0 ]; then echo "fresh-machine-check: must run as root (debootstrap, chroot, mounts)" >&2; exit 3; fi

set -m # each step runs as a job in its own process group, so an interrupt can stop all of it
T0=$(date +%s.%N)
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
SUMMARY=()
JOB=
# step NAME CMD...: runs CMD (with errexit: not in an `||` context, where bash would drop it) as a
# background job, prints its wall time; on failure prints it and exits non-zero.
step() {
  local name="$1"; shift
  local t rc=0
  printf '\n=== fresh-machine-check: %s\n' "$name"
  t=$(date +%s.%N)
  "$@" &
  JOB=$!
  wait "$JOB" || rc=$?
  JOB=
  if [ "$rc" -ne 0 ]; then
    printf '=== FAILED: %s (exit %s) after %ss; total %ss\n' "$name" "$rc" "$(elapsed "$t")" "$(elapsed "$T0")"
    exit "$rc"
  fi
  printf '=== %s: %ss\n' "$name" "$(elapsed "$t")"
  SUMMARY+=("$(printf '%8ss  %s' "$(elapsed "$t")" "$name")")
}

# Unmounts everything mounted at or below DIR, deepest first; fails if anything is left.
unmount_under() { # DIR
  local dir="$1" m
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done < <(findmnt -rno TARGET | grep -E "^$dir(/|$)" | sort -r)
  ! findmnt -rno TARGET | grep -qE "^$dir(/|$)"
}
# Deletes DIR, but never while anything is mounted below it (that would reach into the host's /dev).
remove_tree() { # DIR
  local dir="$1"
  [ -n "$dir" ] && [ -e "$dir" ] || return 0
  if unmount_under "$dir"; then rm -rf --one-file-system "$dir"; else echo "warning: mounts remain under $dir; not deleting it" >&2; fi
}
ROOT=
BASE_TMP=
cleanup() {
  local rc=$?
  trap - INT TERM
  if [ -n "$JOB" ]; then kill -TERM -- "-$JOB" 2>/dev/null || true; wait "$JOB" 2>/dev/null || true; fi
  remove_tree "$BASE_TMP"
  if [ -n "$ROOT" ]; then
    if [ "$KEEP" -eq 1 ]; then
      unmount_under "$ROOT" || echo "warning: could not unmount everything under $ROOT" >&2
      echo "work root kept: $ROOT"
    else
      remove_tree "$ROOT"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the README's commands: every line of its first ```sh block, trailing "# comment" removed.
mapfile -t COMMANDS < <(awk '
  /^```sh[[:space:]]*$/ && !done { inblock = 1; next }
  inblock && /^```/ { inblock = 0; done = 1; next }
  inblock { sub(/[[:space:]]+#.*$/, ""); if ($0 ~ /[^[:space:]]/) print }
' "$REPO/README.md")
if [ ${#COMMANDS[@]} -eq 0 ]; then echo "fresh-machine-check: no commands found in README.md's first \`\`\`sh block" >&2; exit 2; fi
echo "README commands:"; printf '  %s\n' "${COMMANDS[@]}"

# --- 1. the cached Debian root
# shellcheck source=lib/debian-root.sh
. "$REPO/scripts/lib/debian-root.sh"
build_root() { # DIR
  debian_root_build "$1" "$SUITE" "$VARIANT" "$MIRROR" "${EXTRA_PACKAGES[@]}"
}
KEY=$(printf '%s\n' "$SUITE" "$VARIANT" "$MIRROR" "${EXTRA_PACKAGES[*]}" "$(declare -f build_root debian_root_build)" | sha256sum | cut -c1-16)
BASE="$CACHE_DIR/debootstrap-$SUITE-$KEY"

ensure_base() {
  if [ -f "$BASE/.complete" ] && [ "$REBUILD" -eq 0 ]; then echo "cached: $BASE"; return 0; fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap \
      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap; }
  fi
  mkdir -p "$CACHE_DIR"
  local stale
  for stale in "$BASE".tmp.*; do remove_tree "$stale"; done # left by an interrupted build
  build_root "$BASE_TMP"
  touch "$BASE_TMP/.complete"
  remove_tree "$BASE"
  mv "$BASE_TMP" "$BASE"
  echo "built: $BASE ($(du -sh "$BASE" | cut -f1))"
}
BASE_TMP="$BASE.tmp.$$"
step "Debian $SUITE root ($VARIANT + ${EXTRA_PACKAGES[*]})" ensure_base
BASE_TMP=

# --- 2. the throw-away machine
mkdir -p "$WORK_PARENT"
ROOT="$(mktemp -d "$WORK_PARENT/edgeplane-fresh.XXXXXX")"
NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")" # .../node_modules/npm
prepare_root() {
  cp -a "$BASE/." "$ROOT/"
  rm -f "$ROOT/.complete"
  # Node 20 is one binary; npm is a folder of JavaScript with bin/npm-cli.js
  debian_root_add_node "$ROOT"
  mkdir -p "$ROOT/usr/lib/node_modules"
  cp -a "$NPM_DIR" "$ROOT/usr/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/bin/npx"
  # the host's extra CA certificates (this network's egress needs them), and npm pointed at them
  if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
    cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
  fi
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin update-ca-certificates >/dev/null
  mkdir -p "$ROOT/usr/etc"
  echo 'cafile=/etc/ssl/certs/ca-certificates.crt' >"$ROOT/usr/etc/npmrc" # npm's global config (prefix /usr)
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  local m
  for m in /proc /sys /dev /dev/pts; do
    mkdir -p "$ROOT$m"
    mount --bind "$m" "$ROOT$m"
  done
  echo "node $("$ROOT/usr/bin/node" --version), npm $(chroot "$ROOT" /usr/bin/npm --version) in $ROOT"
}
step "fresh machine: copy of the root, node, npm, CA certificates, /etc/hosts, mounts" prepare_root

# --- 3. a fresh clone of the committed HEAD (cloned from the host side: the root cannot see the repo)
CLONE=/root/edgeplane
step "git clone of HEAD $(git -C "$REPO" rev-parse --short HEAD)" git clone -q --no-hardlinks "$REPO" "$ROOT$CLONE"

# --- 4. the README's commands, each in a clean environment, as a new user would type them
run_in_root() { # COMMAND
  chroot "$ROOT" /usr/bin/env -i HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 CI=1 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -o pipefail -ec "cd $CLONE && $1" </dev/null
}
for c in "${COMMANDS[@]}"; do step "$c" run_in_root "$c"; done

printf '\n=== fresh-machine-check: passed in %ss\n' "$(elapsed "$T0")"
printf '%s\n' "${SUMMARY[@]}"
