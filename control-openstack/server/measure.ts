// The plane's complexity profile measured on the live stack (never typed in by hand):
// processes (the tree under each pid we started), their RSS, their listening TCP ports (from
// /proc/net/tcp{,6} and each process's socket fds), and the configuration lines we run them with.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { ComplexityProfile } from '../../adapters/index.js';
import { EnvironmentError } from '../../common/index.js';
import { CEPH_COMMANDS, cephDaemonRunning } from './ceph.js';
import { cephDaemonArgs, cephSectionsOf, countConfigLines, countIniSectionLines, keystoneUwsgiArgs, mariadbArgs, type ConfigInputs } from './configs.js';
import { SERVICE_COMMANDS, serviceRunning } from './launcher.js';
import { CEPH_DAEMONS, SERVICES, stackLayout, type CephDaemonName, type ServiceName } from './layout.js';
import { processTree } from './processes.js';
import { readStackState } from './state.js';

export interface ProcessFacts {
  pids: number[];
  rssKiB: number;
  ports: number[];
}

export function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** inode -> port of every listening TCP socket (IPv4 and IPv6). */
export function listeningSockets(procNetTcp: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const text of procNetTcp) {
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      const port = parseInt(f[1]!.split(':')[1]!, 16);
      out.set(f[9]!, port);
    }
  }
  return out;
}

function socketInodes(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        return m ? [m[1]!] : [];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

export function processFacts(rootPid: number): ProcessFacts {
  const pids = processTree(rootPid);
  const tables = ['/proc/net/tcp', '/proc/net/tcp6'].map((f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  });
  const listening = listeningSockets(tables);
  const ports = new Set<number>();
  for (const pid of pids) for (const inode of socketInodes(pid)) if (listening.has(inode)) ports.add(listening.get(inode)!);
  return { pids, rssKiB: pids.reduce((s, p) => s + rssKiB(p), 0), ports: [...ports].sort((a, b) => a - b) };
}

function fileLines(file: string): number {
  try {
    return countConfigLines(readFileSync(file, 'utf8'));
  } catch {
    return 0;
  }
}

/** The configuration each service runs with: files we wrote plus command-line options. */
export function configLinesOf(name: ServiceName, inputs: ConfigInputs): number {
  const l = inputs.layout;
  const flagCount = (args: string[]) => args.filter((a) => a.startsWith('--')).length;
  switch (name) {
    case 'mariadb':
      return flagCount(mariadbArgs(inputs, 'x'));
    case 'keystone':
      return fileLines(l.keystone.conf) + flagCount(keystoneUwsgiArgs(inputs));
    case 'glance':
      // glance also reads the packaged, unmodified /etc/glance/glance-api-paste.ini (not counted)
      return fileLines(l.glance.conf);
    case 'barbican':
      return fileLines(l.barbican.conf) + fileLines(l.barbican.pasteIni) + fileLines(l.barbican.uwsgiIni);
  }
}

/** A Ceph daemon's configuration: the ceph.conf sections it reads plus its command-line flags. */
export function cephConfigLinesOf(daemon: CephDaemonName, inputs: ConfigInputs): number {
  let text = '';
  try {
    text = readFileSync(inputs.layout.ceph.conf, 'utf8');
  } catch {
    return 0;
  }
  const flags = cephDaemonArgs(inputs, daemon).args.filter((a) => a.startsWith('-')).length;
  return countIniSectionLines(text, cephSectionsOf(daemon)) + flags;
}

/** Measure the running stack in `stateDir` (shaped like adapters/model.ts ComplexityProfile). */
export function measureLiveProfile(stateDir: string): ComplexityProfile {
  const layout = stackLayout(stateDir);
  const state = readStackState(layout.stateFile);
  if (!state) throw new EnvironmentError(`no OpenStack stack in ${layout.root}`);
  const inputs: ConfigInputs = {
    layout,
    ports: state.ports,
    dbPassword: state.secrets.dbPassword,
    glancePassword: state.secrets.glancePassword,
    barbicanPassword: state.secrets.barbicanPassword,
    barbicanKek: state.secrets.barbicanKek,
    passwordHashRounds: state.passwordHashRounds,
    workers: 0,
    ...(state.ceph ? { ceph: state.ceph } : {}),
  };
  const at = new Date().toISOString();
  const services: ComplexityProfile['services'] = SERVICES.map((name) => {
    if (!serviceRunning(state, name, layout.root)) throw new EnvironmentError(`${name} is not running in ${layout.root}: cannot measure it`);
    const pid = state.pids[name]!;
    const facts = processFacts(pid);
    return {
      name,
      processes: facts.pids.length,
      memoryMiB: Math.round((facts.rssKiB / 1024) * 10) / 10,
      ports: facts.ports,
      configLines: configLinesOf(name, inputs),
      source: `measured ${at} on the live stack: /proc of pid ${pid} (${SERVICE_COMMANDS[name]}) and its ${facts.pids.length - 1} descendant(s)`,
    };
  });
  if (state.withCeph) {
    for (const name of CEPH_DAEMONS) {
      if (!cephDaemonRunning(state, name, layout.root)) throw new EnvironmentError(`${name} is not running in ${layout.root}: cannot measure it`);
      const pid = state.pids[name]!;
      const facts = processFacts(pid);
      services.push({
        name,
        processes: facts.pids.length,
        memoryMiB: Math.round((facts.rssKiB / 1024) * 10) / 10,
        ports: facts.ports,
        configLines: cephConfigLinesOf(name, inputs),
        source: `measured ${at} on the live stack: /proc of pid ${pid} (${CEPH_COMMANDS[name]}) and its ${facts.pids.length - 1} descendant(s); config: its sections of ${layout.ceph.conf}`,
      });
    }
  }
  return {
    plane: 'openstack',
    services,
    coupling: 'pull',
    lacks: ['placement: no Nova here; edgeplane pins image@version in a Keystone project tag per node (docs/placement-openstack.md)', 'node status channel: reported into a Keystone credential blob the node owns'],
    notes: [
      `Keystone [identity] password_hash_rounds = ${state.passwordHashRounds} (test stack; production default 12 makes logins ~0.3 s)`,
      state.ceph
        ? `Glance on Ceph RBD (pool images): one-node Ceph with auth none, pool size 1, one memstore OSD capped at ${Math.round(state.ceph.memstoreBytes / 1024 ** 2)} MiB of RAM (test cluster: no redundancy, data lost if the OSD is killed)`
        : 'Glance on the file store (no Ceph)',
      'uwsgi http-socket with "Connection: close" (no keep-alive)',
    ],
  };
}
