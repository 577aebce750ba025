// The Debian packages the local stack runs from, and how to get them.
import { existsSync, readdirSync } from 'node:fs';
import { execa } from 'execa';
import { EnvironmentError, type Logger } from '../../common/index.js';

export const OPENSTACK_PACKAGES = ['keystone', 'glance-api', 'barbican-api', 'mariadb-server', 'python3-pymysql', 'uwsgi', 'uwsgi-plugin-python3', 'python3-openstackclient', 'python3-glanceclient'] as const;

/** `up --with-ceph`: a one-node Ceph and the bindings Glance's RBD store imports. */
export const CEPH_PACKAGES = ['ceph-mon', 'ceph-osd', 'ceph-mgr', 'radosgw', 'python3-rbd', 'python3-rados', 'ceph-common'] as const;

/** A file each package installs that the launcher runs. */
const REQUIRED_FILES: Record<string, string> = {
  '/usr/bin/keystone-manage': 'keystone',
  '/usr/bin/keystone-wsgi-public': 'keystone',
  '/usr/bin/glance-api': 'glance-api',
  '/usr/bin/glance-manage': 'glance-api',
  '/usr/bin/barbican-manage': 'barbican-api',
  '/usr/sbin/mariadbd': 'mariadb-server',
  '/usr/bin/mariadb-install-db': 'mariadb-server',
  '/usr/bin/uwsgi': 'uwsgi',
  '/usr/lib/uwsgi/plugins/python3_plugin.so': 'uwsgi-plugin-python3',
  '/usr/lib/python3/dist-packages/pymysql/__init__.py': 'python3-pymysql',
};

const CEPH_REQUIRED_FILES: Record<string, string> = {
  '/usr/bin/ceph-mon': 'ceph-mon',
  '/usr/bin/monmaptool': 'ceph-mon',
  '/usr/bin/ceph-osd': 'ceph-osd',
  '/usr/bin/ceph-mgr': 'ceph-mgr',
  '/usr/bin/radosgw': 'radosgw',
  '/usr/bin/ceph': 'ceph-common',
  '/usr/bin/rbd': 'ceph-common',
  '/usr/bin/rados': 'ceph-common',
};

export const APT_INSTALL_COMMAND = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${OPENSTACK_PACKAGES.join(' ')}`;

function packagesFor(withCeph: boolean): string[] {
  return withCeph ? [...OPENSTACK_PACKAGES, ...CEPH_PACKAGES] : [...OPENSTACK_PACKAGES];
}

/** Python's compiled bindings carry the interpreter version in their file name (rbd.cpython-311-...so). */
function pythonModulePresent(name: string): boolean {
  try {
    return readdirSync('/usr/lib/python3/dist-packages').some((f) => f.startsWith(`${name}.`) && f.endsWith('.so'));
  } catch {
    return false;
  }
}

export function missingPackages(withCeph = false): string[] {
  const missing = new Set<string>();
  for (const [file, pkg] of Object.entries(REQUIRED_FILES)) if (!existsSync(file)) missing.add(pkg);
  if (withCeph) {
    for (const [file, pkg] of Object.entries(CEPH_REQUIRED_FILES)) if (!existsSync(file)) missing.add(pkg);
    if (!pythonModulePresent('rbd')) missing.add('python3-rbd');
    if (!pythonModulePresent('rados')) missing.add('python3-rados');
  }
  return [...missing].sort();
}

/** Install what is missing when root; otherwise say exactly what to run. */
export async function ensurePackages(log: Logger, withCeph = false): Promise<void> {
  const missing = missingPackages(withCeph);
  if (missing.length === 0) return;
  const packages = packagesFor(withCeph);
  if (process.getuid?.() !== 0) {
    throw new EnvironmentError(`${withCeph ? 'OpenStack/Ceph' : 'OpenStack'} packages missing: ${missing.join(', ')}`, [
      `run as root: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}`,
    ]);
  }
  log.info({ missing }, 'installing Debian packages');
  process.stderr.write(`installing: ${packages.join(' ')}\n`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await execa('apt-get', ['update'], { env, stdio: 'inherit' });
    await execa('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env, stdio: 'inherit' });
  } catch (err) {
    throw new EnvironmentError(`apt-get could not install the ${withCeph ? 'OpenStack/Ceph' : 'OpenStack'} packages`, [(err as Error).message.split('\n')[0] ?? '']);
  }
  const still = missingPackages(withCeph);
  if (still.length) throw new EnvironmentError(`packages still missing after apt-get: ${still.join(', ')}`);
}
