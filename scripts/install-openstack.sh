#!/bin/sh
# Installs the Debian 12 packages the local minimal OpenStack control plane runs from
# (`edgeplane up openstack`): Keystone, Glance, Barbican, MariaDB, uwsgi; with --with-ceph also a
# one-node Ceph for Glance's RBD store (`edgeplane up openstack --with-ceph`). Idempotent: does
# nothing when everything is installed. The packages' postinst may not start any service
# (no systemd); `edgeplane up` starts its own processes from its state directory.
set -eu

PACKAGES="keystone glance-api barbican-api mariadb-server python3-pymysql uwsgi uwsgi-plugin-python3 python3-openstackclient python3-glanceclient"
CEPH_PACKAGES="ceph-mon ceph-osd ceph-mgr radosgw python3-rbd python3-rados ceph-common"

for arg in "$@"; do
  case "$arg" in
    --with-ceph) PACKAGES="$PACKAGES $CEPH_PACKAGES" ;;
    -h|--help) echo "usage: $0 [--with-ceph]"; exit 0 ;;
    *) echo "install-openstack: unknown option $arg (usage: $0 [--with-ceph])" >&2; exit 2 ;;
  esac
done

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-openstack: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-openstack: missing:$missing" >&2
  echo "run as root: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PACKAGES" >&2
  exit 3
fi

echo "install-openstack: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# policy-rc.d keeps the packages' maintainer scripts from starting system-wide services
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PACKAGES
