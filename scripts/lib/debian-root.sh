# Shared by scripts/fresh-machine-check.sh and scripts/node-vm-image.sh (source it): a minimal
# Debian root built with debootstrap, plus packages, and this machine's Node copied into it
# (Node 20 here is one binary that runs inside such a root: same glibc).

# debian_root_build DIR SUITE VARIANT MIRROR PACKAGE...: debootstrap DIR, then the packages, apt's cache cleaned.
debian_root_build() {
  local dir="$1" suite="$2" variant="$3" mirror="$4"
  shift 4
  debootstrap --variant="$variant" "$suite" "$dir" "$mirror"
  if [ $# -gt 0 ]; then
    # no package may start its service while the root is built (openssh-server would start an sshd here)
    printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
    chmod 0755 "$dir/usr/sbin/policy-rc.d"
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "$@"
    rm -f "$dir/usr/sbin/policy-rc.d"
  fi
  chroot "$dir" apt-get clean
}

# debian_root_add_node DIR: this machine's node binary as DIR/usr/bin/node (checked to run).
debian_root_add_node() {
  local dir="$1" bin
  bin="$(readlink -f "$(command -v node)")"
  install -m 0755 "$bin" "$dir/usr/bin/node"
  "$dir/usr/bin/node" --version >/dev/null
}
