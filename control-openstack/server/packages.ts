// The Debian packages the local stack runs from, and how to get them.
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { EnvironmentError, type Logger } from '../../common/index.js';

export const OPENSTACK_PACKAGES = [
  'keystone',
  'glance-api',
  'barbican-api',
  'mariadb-server',
  'python3-pymysql',
  'uwsgi',
  'uwsgi-plugin-python3',
  'python3-openstackclient',
  'python3-glanceclient',
] as const;

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

export const APT_INSTALL_COMMAND = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${OPENSTACK_PACKAGES.join(' ')}`;

export function missingPackages(): string[] {
  const missing = new Set<string>();
  for (const [file, pkg] of Object.entries(REQUIRED_FILES)) if (!existsSync(file)) missing.add(pkg);
  return [...missing].sort();
}

/** Install what is missing when root; otherwise say exactly what to run. */
export async function ensurePackages(log: Logger): Promise<void> {
  const missing = missingPackages();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new EnvironmentError(`OpenStack packages missing: ${missing.join(', ')}`, [`run as root: ${APT_INSTALL_COMMAND}`]);
  }
  log.info({ missing }, 'installing Debian packages');
  process.stderr.write(`installing: ${OPENSTACK_PACKAGES.join(' ')}\n`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await execa('apt-get', ['update'], { env, stdio: 'inherit' });
    await execa('apt-get', ['install', '-y', '--no-install-recommends', ...OPENSTACK_PACKAGES], { env, stdio: 'inherit' });
  } catch (err) {
    throw new EnvironmentError('apt-get could not install the OpenStack packages', [(err as Error).message.split('\n')[0] ?? '']);
  }
  const still = missingPackages();
  if (still.length) throw new EnvironmentError(`packages still missing after apt-get: ${still.join(', ')}`);
}
