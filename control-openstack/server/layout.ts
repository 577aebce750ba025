// Where a local stack keeps everything: configs, data, logs, pid files, all under one state dir.
import { join, resolve } from 'node:path';

export const DEFAULT_STATE_DIR = '.state/openstack';

export interface StackPorts {
  keystone: number;
  glance: number;
  barbican: number;
  mariadb: number;
}

export const DEFAULT_PORTS: StackPorts = { keystone: 5000, glance: 9292, barbican: 9311, mariadb: 3306 };

/** bcrypt cost for test stacks: logins cost ~0.3 s at the default 12 rounds (see docs). */
export const TEST_PASSWORD_HASH_ROUNDS = 4;

export const SERVICES = ['mariadb', 'keystone', 'glance', 'barbican'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface StackLayout {
  root: string;
  stateFile: string;
  openrc: string;
  logDir: string;
  runDir: string;
  mariadb: { dir: string; dataDir: string; socket: string; pidFile: string; log: string };
  keystone: { dir: string; conf: string; fernetKeys: string; credentialKeys: string; pidFile: string; log: string };
  glance: { dir: string; conf: string; imagesDir: string; stagingDir: string; tasksDir: string; lockDir: string; log: string };
  barbican: { dir: string; conf: string; pasteIni: string; uwsgiIni: string; pidFile: string; log: string };
}

export function stackLayout(stateDir: string): StackLayout {
  const root = resolve(stateDir);
  const logDir = join(root, 'logs');
  const runDir = join(root, 'run');
  const dir = (name: string) => join(root, name);
  return {
    root,
    stateFile: join(root, 'stack.json'),
    openrc: join(root, 'openrc'),
    logDir,
    runDir,
    mariadb: {
      dir: dir('mariadb'),
      dataDir: join(dir('mariadb'), 'data'),
      socket: join(runDir, 'mariadb.sock'),
      pidFile: join(runDir, 'mariadb.pid'),
      log: join(logDir, 'mariadb.log'),
    },
    keystone: {
      dir: dir('keystone'),
      conf: join(dir('keystone'), 'keystone.conf'),
      fernetKeys: join(dir('keystone'), 'fernet-keys'),
      credentialKeys: join(dir('keystone'), 'credential-keys'),
      pidFile: join(runDir, 'keystone.pid'),
      log: join(logDir, 'keystone.log'),
    },
    glance: {
      dir: dir('glance'),
      conf: join(dir('glance'), 'glance-api.conf'),
      imagesDir: join(dir('glance'), 'images'),
      stagingDir: join(dir('glance'), 'staging'),
      tasksDir: join(dir('glance'), 'tasks'),
      lockDir: join(dir('glance'), 'lock'),
      log: join(logDir, 'glance-api.log'),
    },
    barbican: {
      // barbican finds barbican.conf in $HOME: this dir is its HOME
      dir: dir('barbican'),
      conf: join(dir('barbican'), 'barbican.conf'),
      pasteIni: join(dir('barbican'), 'barbican-api-paste.ini'),
      uwsgiIni: join(dir('barbican'), 'barbican-api-uwsgi.ini'),
      pidFile: join(runDir, 'barbican.pid'),
      log: join(logDir, 'barbican-api.log'),
    },
  };
}

export function endpointsFor(ports: StackPorts): { identity: string; image: string; keyManager: string } {
  return {
    identity: `http://127.0.0.1:${ports.keystone}/v3`,
    image: `http://127.0.0.1:${ports.glance}`,
    keyManager: `http://127.0.0.1:${ports.barbican}`,
  };
}
