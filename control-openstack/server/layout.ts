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

/** The Ceph daemons `up --with-ceph` runs (one of each), in start order. */
export const CEPH_DAEMONS = ['ceph-mon', 'ceph-mgr', 'ceph-osd', 'radosgw'] as const;
export type CephDaemonName = (typeof CEPH_DAEMONS)[number];
/** Any process the launcher starts and records. */
export type StackServiceName = ServiceName | CephDaemonName;

/**
 * Ceph's ports, all on 127.0.0.1 and in a private range (Ceph's own defaults 3300/6789/6800-7300/7480
 * would clash with a system cluster): the monitor's msgr2 and msgr1 ports, the RGW HTTP port, and the
 * range the mgr and OSD bind their messengers in.
 */
export interface CephPorts {
  mon: number;
  monV1: number;
  rgw: number;
  bindMin: number;
  bindMax: number;
}

export const DEFAULT_CEPH_PORT_BASE = 26789;

/** Ceph ports from one base: mon v1 = base, mon v2 = base+1, RGW = base+2, daemons in base+11..base+110. */
export function cephPortsFrom(base: number): CephPorts {
  return { monV1: base, mon: base + 1, rgw: base + 2, bindMin: base + 11, bindMax: base + 110 };
}

/** memstore keeps every object in RAM (and ~2x that while writing): cap it. */
export const DEFAULT_MEMSTORE_BYTES = 2 * 1024 ** 3;

export interface StackLayout {
  root: string;
  stateFile: string;
  openrc: string;
  logDir: string;
  runDir: string;
  mariadb: { dir: string; dataDir: string; socket: string; pidFile: string; log: string };
  keystone: { dir: string; conf: string; fernetKeys: string; credentialKeys: string; pidFile: string; log: string };
  glance: { dir: string; conf: string; policyFile: string; imagesDir: string; stagingDir: string; tasksDir: string; lockDir: string; log: string };
  barbican: { dir: string; conf: string; pasteIni: string; uwsgiIni: string; pidFile: string; log: string };
  ceph: { dir: string; conf: string; monmap: string; runDir: string; monData: string; mgrData: string; osdData: string; rgwData: string; logDir: string };
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
      policyFile: join(dir('glance'), 'policy.yaml'),
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
    ceph: {
      dir: dir('ceph'),
      conf: join(dir('ceph'), 'ceph.conf'),
      monmap: join(dir('ceph'), 'monmap'),
      // admin sockets live here: keep it short (a unix socket path is at most 107 bytes)
      runDir: join(dir('ceph'), 'run'),
      monData: join(dir('ceph'), 'mon'),
      mgrData: join(dir('ceph'), 'mgr'),
      osdData: join(dir('ceph'), 'osd'),
      rgwData: join(dir('ceph'), 'rgw'),
      logDir,
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
