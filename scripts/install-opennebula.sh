#!/bin/sh
# Installs the Debian 12 packages OpenNebula 6.10's front-end builds and runs from (`edgeplane up
# opennebula`): the C++ build set (scons, xmlrpc-c, sqlite, curl, ...) and the Ruby runtime the
# drivers and the OCA need. Idempotent: does nothing when everything is installed.
#
# With --build TARBALL it also builds oned, mm_sched and onemonitord from the source tarball into a
# build cache keyed by the tarball's SHA-256 (default root /var/cache/edgeplane, override with
# --cache-root DIR or EDGEPLANE_OPENNEBULA_CACHE): CACHE/opennebula-<sha256>/prefix is a complete
# `install.sh -d` prefix (stripped binaries), CACHE/opennebula-<sha256>/BUILD-OK records the build.
# A valid cache is reused; a different tarball gets its own folder. --print-cache prints the folder.
#
# With --build TARBALL --install-system ROOT it then installs the cached build the way OpenNebula's
# own packages lay it out (its install.sh without -d: /usr/bin, /usr/lib/one, /etc/one,
# /var/lib/one/remotes, /usr/share/one) under ROOT (install.sh's DESTDIR; ROOT must not be /): a
# system-wide installation to test `edgeplane up opennebula --prefix ROOT` on.
# Figures (research/opennebula-build.md): ~1,000 CPU-seconds, ~10 min on two idle cores.
set -eu

BUILD_PACKAGES="g++ scons libxmlrpc-c++8-dev libsqlite3-dev libssl-dev libxml2-dev libcurl4-openssl-dev zlib1g-dev ruby ruby-xmlrpc binutils time"
RUNTIME_PACKAGES="ruby ruby-xmlrpc ruby-sqlite3 ruby-ffi-rzmq ruby-nokogiri ruby-treetop ruby-parse-cron ruby-ipaddress"
PACKAGES="$BUILD_PACKAGES $RUNTIME_PACKAGES"
SCONS_FLAGS="sqlite=yes mysql=no new_xmlrpc=yes systemd=no svncterm=no sunstone=no fireedge=no rubygems=no context=no parsers=no"

usage() { echo "usage: $0 [--runtime-only] [--build TARBALL] [--cache-root DIR] [--print-cache] [--install-system ROOT] [--jobs N]"; }

TARBALL=""
CACHE_ROOT="${EDGEPLANE_OPENNEBULA_CACHE:-/var/cache/edgeplane}"
PRINT_CACHE=no
SYSTEM_ROOT=""
JOBS="$(nproc 2>/dev/null || echo 2)"
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime-only) PACKAGES="$RUNTIME_PACKAGES" ;;
    --build) [ $# -ge 2 ] || { usage >&2; exit 2; }; TARBALL="$2"; shift ;;
    --cache-root) [ $# -ge 2 ] || { usage >&2; exit 2; }; CACHE_ROOT="$2"; shift ;;
    --jobs) [ $# -ge 2 ] || { usage >&2; exit 2; }; JOBS="$2"; shift ;;
    --print-cache) PRINT_CACHE=yes ;;
    --install-system) [ $# -ge 2 ] || { usage >&2; exit 2; }; SYSTEM_ROOT="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-opennebula: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

cache_dir() {
  [ -f "$TARBALL" ] || { echo "install-opennebula: source tarball not found: $TARBALL" >&2; exit 2; }
  sha="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
  echo "$CACHE_ROOT/opennebula-$sha"
}

# absolute: the build and the system install change directory
[ -z "$TARBALL" ] || [ ! -f "$TARBALL" ] || TARBALL="$(realpath "$TARBALL")"

if [ -n "$SYSTEM_ROOT" ]; then
  [ -n "$TARBALL" ] || { echo "install-opennebula: --install-system needs --build TARBALL" >&2; exit 2; }
  case "$SYSTEM_ROOT" in
    /*) ;;
    *) echo "install-opennebula: --install-system needs an absolute path" >&2; exit 2 ;;
  esac
  [ "$(realpath -m "$SYSTEM_ROOT")" != / ] || { echo "install-opennebula: --install-system / would install over the system: give a staging root" >&2; exit 2; }
fi

if [ "$PRINT_CACHE" = yes ]; then
  [ -n "$TARBALL" ] || { echo "install-opennebula: --print-cache needs --build TARBALL" >&2; exit 2; }
  cache_dir
  exit 0
fi

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-opennebula: all packages present"
elif [ "$(id -u)" -ne 0 ]; then
  echo "install-opennebula: missing:$missing" >&2
  echo "run as root: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES" >&2
  exit 3
else
  echo "install-opennebula: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # shellcheck disable=SC2086
  apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends $PACKAGES
fi

[ -n "$TARBALL" ] || exit 0

# the three programs install.sh takes from a build tree (src/...) and where the cache keeps them
PROGRAMS="src/nebula/oned:bin/oned src/scheduler/src/sched/mm_sched:bin/mm_sched src/monitor/src/monitor/onemonitord:lib/mads/onemonitord"

# ---- a system-wide installation of the cached build under $SYSTEM_ROOT (install.sh without -d) ----
install_system() {
  work="$(mktemp -d "${TMPDIR:-/tmp}/opennebula-system.XXXXXX")"
  tar -xzf "$TARBALL" -C "$work" --strip-components=1
  for p in $PROGRAMS; do cp "$CACHE/prefix/${p#*:}" "$work/${p%%:*}"; done
  mkdir -p "$SYSTEM_ROOT"
  echo "install-opennebula: installing $CACHE system-wide under $SYSTEM_ROOT (install.sh, DESTDIR=$SYSTEM_ROOT)"
  # install.sh reports (and goes past) the files this build does not make (man pages, Sunstone's dist)
  ( cd "$work" && DESTDIR="$SYSTEM_ROOT" ./install.sh ) > "$work.install.log" 2>&1 || {
    echo "install-opennebula: install.sh failed; last lines:" >&2; tail -20 "$work.install.log" >&2; rm -rf "$work"; exit 3
  }
  rm -rf "$work" "$work.install.log"
  for b in usr/bin/oned usr/bin/mm_sched usr/lib/one/mads/onemonitord etc/one/oned.conf var/lib/one/remotes; do
    [ -e "$SYSTEM_ROOT/$b" ] || { echo "install-opennebula: $SYSTEM_ROOT/$b missing after install.sh" >&2; exit 3; }
  done
  echo "install-opennebula: installed system-wide under $SYSTEM_ROOT"
}

# ---- build into the cache ----
CACHE="$(cache_dir)"
SHA="${CACHE##*/opennebula-}"
if [ -f "$CACHE/BUILD-OK" ] && grep -q "^sha256=$SHA\$" "$CACHE/BUILD-OK" \
   && [ -x "$CACHE/prefix/bin/oned" ] && [ -x "$CACHE/prefix/bin/mm_sched" ] && [ -x "$CACHE/prefix/lib/mads/onemonitord" ]; then
  echo "install-opennebula: build cache valid: $CACHE"
  [ -n "$SYSTEM_ROOT" ] || exit 0
  install_system
  exit 0
fi

mkdir -p "$CACHE_ROOT"
WORK="$CACHE.partial"
rm -rf "$WORK" "$CACHE"
mkdir -p "$WORK/src"
echo "install-opennebula: building $TARBALL into $CACHE (scons -j$JOBS)"
start=$(date +%s)
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
tar -xzf "$TARBALL" -C "$WORK/src" --strip-components=1
cd "$WORK/src"
# -g is hard-coded in SConstruct; dropping it saves ~12% of the compile (the binaries are stripped anyway)
sed -i 's/^    "-g",$//; s/LINKFLAGS=\[.-g., /LINKFLAGS=[/' SConstruct
# shellcheck disable=SC2086
/usr/bin/time -v -o "$WORK/build-time.txt" scons -j"$JOBS" $SCONS_FLAGS > "$WORK/build.log" 2>&1 || {
  echo "install-opennebula: scons failed; last lines of $WORK/build.log:" >&2
  tail -20 "$WORK/build.log" >&2
  exit 3
}
./install.sh -d "$WORK/prefix" > "$WORK/install.log" 2>&1 || {
  echo "install-opennebula: install.sh failed; see $WORK/install.log" >&2
  exit 3
}
# onemonitord is a driver: install.sh puts it in lib/mads
for p in $PROGRAMS; do
  b="${p#*:}"
  [ -x "$WORK/prefix/$b" ] || { echo "install-opennebula: $b missing after install" >&2; exit 3; }
  strip "$WORK/prefix/$b"
done
# Sunstone/FireEdge assets are not used by the front-end edgeplane runs
rm -rf "$WORK/prefix/lib/sunstone" "$WORK/prefix/lib/fireedge" "$WORK/prefix/share/doc"
end=$(date +%s)
cd "$WORK"
rm -rf "$WORK/src"
{
  echo "sha256=$SHA"
  echo "tarball=$TARBALL"
  echo "scons_flags=$SCONS_FLAGS"
  echo "wall_seconds=$((end - start))"
  echo "load_start=$load_start"
  echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
  grep -E "User time|System time|Elapsed|Maximum resident" build-time.txt | sed 's/^\t//'
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$WORK/BUILD-OK.tmp"
mv "$WORK/BUILD-OK.tmp" "$WORK/BUILD-OK"
mv "$WORK" "$CACHE"
echo "install-opennebula: built in $((end - start)) s: $CACHE"
[ -z "$SYSTEM_ROOT" ] || install_system
