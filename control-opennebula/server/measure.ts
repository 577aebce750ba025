// The complexity profile measured on the running front-end (never typed in): the processes under
// each daemon `up` started plus the detached monitoring client, grouped by program, their RSS
// (/proc/<pid>/status VmRSS), their listening TCP ports (/proc/net/tcp* inodes matched with each
// process's socket fds) and the configuration lines written on top of the stock files.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { ComplexityProfile } from '../../adapters/index.js';
import { EnvironmentError } from '../../common/index.js';
import { changedLines } from './configs.js';
import { oneLayout, stockPath, type OneLayout } from './layout.js';
import { monitordClients } from './launcher.js';
import { commandLine, isRunning, processTree } from './processes.js';
import { readOneState } from './state.js';

function rssKiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function listening(): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length >= 10 && c[3] === '0A') out.set(c[9]!, parseInt(c[1]!.split(':')[1]!, 16));
    }
  }
  return out;
}

function portsOf(pid: number, table: Map<string, number>): number[] {
  const out: number[] = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        const port = m ? table.get(m[1]!) : undefined;
        if (port !== undefined) out.push(port);
      } catch {
        // fd closed meanwhile
      }
    }
  } catch {
    // process gone
  }
  return out;
}

/** the program a process runs: the binary, or the script an interpreter runs */
export function programOf(cmd: string): string {
  const words = cmd.split(' ');
  const interpreter = /(^|\/)(ruby|sh|bash|node|env)$/.test(words[0] ?? '');
  const w = interpreter ? (words.slice(1).find((x) => !x.startsWith('-') && !/(^|\/)(ruby)$/.test(x)) ?? words[0]!) : words[0]!;
  return w.split('/').pop() ?? w;
}

export interface ProcessGroup {
  name: string;
  pids: number[];
  rssKiB: number;
  ports: number[];
}

/** every process of the front-end in `l`, grouped by the service it belongs to */
export function frontEndProcesses(l: OneLayout, pids: Record<string, number | undefined>): ProcessGroup[] {
  const table = listening();
  const all = new Set<number>();
  for (const [, pid] of Object.entries(pids)) if (pid !== undefined && commandLine(pid) !== null) for (const p of processTree(pid)) all.add(p);
  // the dummy IM's detached monitoring clients (run from the prefix's remotes or remote-scripts)
  for (const p of monitordClients(l)) all.add(p);
  const groups = new Map<string, ProcessGroup>();
  for (const pid of [...all].sort((a, b) => a - b)) {
    const cmd = commandLine(pid);
    if (cmd === null) continue;
    const prog = programOf(cmd);
    const name =
      prog === 'oned'
        ? 'oned'
        : prog === 'mm_sched'
          ? 'scheduler (mm_sched)'
          : prog === 'onemonitord'
            ? 'onemonitord'
            : prog.startsWith('monitord-client')
              ? 'monitord-client (detached)'
              : prog === 'edge-services.js'
                ? 'edge services (added: byte server + key service)'
                : 'oned drivers (Ruby MADs)';
    const g = groups.get(name) ?? { name, pids: [], rssKiB: 0, ports: [] };
    g.pids.push(pid);
    g.rssKiB += rssKiB(pid);
    for (const port of portsOf(pid, table)) if (!g.ports.includes(port)) g.ports.push(port);
    groups.set(name, g);
  }
  for (const g of groups.values()) g.ports.sort((a, b) => a - b);
  return [...groups.values()];
}

const CONFIGS: Record<string, string[]> = {
  oned: ['etc/oned.conf'],
  onemonitord: ['etc/monitord.conf'],
  'scheduler (mm_sched)': ['etc/sched.conf'],
  'monitord-client (detached)': ['var/remotes/im/dummy.d/monitord-client_control.sh'],
};

export function configLinesOf(l: OneLayout, service: string): number {
  let n = 0;
  for (const f of CONFIGS[service] ?? []) {
    try {
      n += changedLines(readFileSync(stockPath(l.prefix, f), 'utf8'), readFileSync(join(l.prefix, f), 'utf8'));
    } catch {
      // not there (an endpoint front-end)
    }
  }
  return n;
}

/** The live profile of the front-end in `stateDir` (EnvironmentError when oned is not running). */
export function measureLiveProfile(stateDir: string, mode: 'native' | 'agent' = 'native'): ComplexityProfile {
  const l = oneLayout(stateDir);
  const state = readOneState(l.stateFile);
  if (!state || state.mode === 'endpoint') throw new EnvironmentError(`no local OpenNebula front-end in ${l.stateDir} to measure`);
  if (!isRunning(state.pids.oned, join(l.prefix, 'bin', 'oned'))) throw new EnvironmentError(`oned of ${l.stateDir} is not running`);
  const groups = frontEndProcesses(l, mode === 'agent' ? state.pids : { oned: state.pids.oned, mm_sched: state.pids.mm_sched });
  const source = `measured here: the running front-end of ${l.stateDir} (OpenNebula 6.10.5 built from source, dummy drivers): /proc RSS, listening sockets, lines changed against the stock configuration`;
  const services = groups.map((g) => ({ name: g.name, processes: g.pids.length, memoryMiB: Math.round((g.rssKiB / 1024) * 10) / 10, ports: g.ports, configLines: configLinesOf(l, g.name), source }));
  const notes = [
    `Measured with the in-tree dummy IM/VMM/TM drivers: a KVM front-end also runs the kvm VMM/IM drivers and reaches every host over ssh.`,
    `Configuration lines are counted against the stock oned.conf, monitord.conf and sched.conf of the 6.10.5 tree (docs/opennebula.md lists each change).`,
  ];
  if (mode === 'agent') {
    notes.push('Pull: node agents call oned (XML-RPC) and the added edge services with their ONE login token; the centre never connects to a node.');
    return { plane: 'opennebula', services, coupling: 'pull', lacks: ['kms', 'image byte serving over HTTP', 'signed image manifest', 'node-side verification'], notes };
  }
  notes.push('Push: oned drives every host (TM copies, VMM deploy, monitoring probes).');
  return { plane: 'opennebula', services, coupling: 'push', lacks: ['kms', 'signed image manifest', 'node-side verification'], notes };
}
