// Builds and tears down an emulated topology for real (ip, tc), and keeps a state file of what
// it created so a later start cleans up after an edgeplane that was killed (SIGKILL, crash):
// the file names the owning process; if that process is gone, every epem-* namespace is removed
// with every process still inside it (processes in our namespaces are ours: we started them).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EnvironmentError, processStartTicks } from '../../common/index.js';
import { creationCommands, namespaceCommands, NS_PREFIX, rootCommands, shapingCommands, sysctlWrites, wanCut, type Topology } from './topology.js';

export const DEFAULT_STATE_FILE = '/run/edgeplane-emulate/state.json';

export function stateFile(): string {
  return process.env.EDGEPLANE_EMULATE_STATE ?? DEFAULT_STATE_FILE;
}

interface EmulationState {
  ownerPid: number;
  /** the owner's start time (field 22 of /proc/<pid>/stat), so a reused pid is not taken for it */
  ownerStart: string;
  startedAt: string;
  namespaces: string[];
}

/** Runs `cmd args` (stdin: `input`); throws EnvironmentError with its stderr on failure. */
export function sh(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw new EnvironmentError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new EnvironmentError(`${cmd} ${args.join(' ')} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(0, 2000)}`);
  return r.stdout;
}

/** Async twin of sh for the fault timeline (does not block the event loop the agents' timers need). */
export function shAsync(cmd: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e) => reject(new EnvironmentError(`${cmd}: ${e.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new EnvironmentError(`${cmd} ${args.join(' ')} failed (exit ${code}): ${err.trim().slice(0, 2000)}`))));
    child.stdin.end(input ?? '');
  });
}

/** Root, `ip` and `tc`: what building namespaces needs (EnvironmentError, exit 3, otherwise). */
export function checkPrerequisites(): void {
  if (process.platform !== 'linux') throw new EnvironmentError('--env emulate needs Linux network namespaces');
  if (process.getuid?.() !== 0) throw new EnvironmentError('--env emulate creates network namespaces and needs root (run as root, or in CI, which runs as root)');
  for (const tool of ['ip', 'tc']) {
    const r = spawnSync(tool, ['-V'], { encoding: 'utf8' });
    if (r.error) throw new EnvironmentError(`--env emulate needs \`${tool}\` (Debian: apt-get install --no-install-recommends iproute2; scripts/install-emulate-deps.sh)`);
  }
}

/** Whether this kernel has the netem qdisc (probed on a veth in a scratch namespace). */
export function probeNetem(): boolean {
  const ns = `${NS_PREFIX}probe${process.pid}`;
  try {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['-n', ns, 'link', 'add', 'epem-pa', 'type', 'veth', 'peer', 'name', 'epem-pb']);
    const r = spawnSync('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'epem-pa', 'root', 'netem', 'delay', '1ms'], { encoding: 'utf8' });
    return r.status === 0;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

export function listEmulationNamespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(NS_PREFIX));
}

/** SIGKILLs every process inside the namespaces, then deletes them (ignores ones already gone). */
export function destroyNamespaces(namespaces: readonly string[]): void {
  for (const ns of namespaces) {
    const pids = (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (namespaces.length > 0) spawnSync('ip', ['-force', '-batch', '-'], { input: namespaces.map((ns) => `netns del ${ns}`).join('\n'), encoding: 'utf8' });
}

/**
 * Before building: a state file whose owner still runs means another emulation is live
 * (EnvironmentError); otherwise whatever a dead owner left (its namespaces and any other epem-*
 * namespace, with their processes) is removed. Returns what was cleaned.
 */
export function cleanupStale(file = stateFile()): string[] {
  if (existsSync(file)) {
    let state: EmulationState | null = null;
    try {
      state = JSON.parse(readFileSync(file, 'utf8')) as EmulationState;
    } catch {
      state = null; // a torn file: its owner died writing it
    }
    if (state && state.ownerPid !== process.pid && processStartTicks(state.ownerPid) === state.ownerStart) {
      throw new EnvironmentError(`another emulation is running (pid ${state.ownerPid}, started ${state.startedAt}; state file ${file}); wait for it or stop it`);
    }
  }
  const leftovers = listEmulationNamespaces();
  destroyNamespaces(leftovers);
  rmSync(file, { force: true });
  return leftovers;
}

function writeState(file: string, namespaces: string[]): void {
  mkdirSync(dirname(file), { recursive: true });
  const state: EmulationState = { ownerPid: process.pid, ownerStart: processStartTicks(process.pid) ?? '', startedAt: new Date().toISOString(), namespaces };
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  writeFileSync(file, JSON.stringify(state));
  rmSync(`${file}.tmp`, { force: true });
}

export interface BuiltTopology {
  topology: Topology;
  netem: boolean;
  /** wall ms building took */
  buildMs: number;
  destroy(): void;
}

/** Creates the namespaces, links, addresses, routes and shaping of `t` (state file first). */
export function buildTopology(t: Topology, o: { netem: boolean; file?: string }): BuiltTopology {
  const file = o.file ?? stateFile();
  const started = performance.now();
  writeState(file, t.namespaces);
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    destroyNamespaces(t.namespaces);
    rmSync(file, { force: true });
  };
  try {
    sh('ip', ['-batch', '-'], `${creationCommands(t).join('\n')}\n`);
    const root = rootCommands(t);
    if (root.length > 0) sh('ip', ['-batch', '-'], `${root.join('\n')}\n`);
    for (const [ns, lines] of namespaceCommands(t)) sh('ip', ['-n', ns, '-batch', '-'], `${lines.join('\n')}\n`);
    const byNs = new Map<string, string[]>();
    for (const e of t.egresses) byNs.set(e.ns, [...(byNs.get(e.ns) ?? []), ...shapingCommands(e, o.netem)]);
    for (const [ns, lines] of byNs) sh('tc', ['-n', ns, '-batch', '-'], `${lines.join('\n')}\n`);
    // routers forward; host namespaces answer ARP per interface
    for (const [ns, writes] of sysctlWrites(t)) sh('ip', ['netns', 'exec', ns, 'sh', '-c', writes.map((w) => `echo ${w.value} > /proc/sys/net/${w.key}`).join(' && ')]);
  } catch (err) {
    destroy();
    throw err;
  }
  return { topology: t, netem: o.netem, buildMs: Math.round(performance.now() - started), destroy };
}

/** Takes site `site`'s WAN link down (both ends) or brings it back with its routes. */
async function setWanCut(t: Topology, site: number, down: boolean): Promise<void> {
  for (const step of wanCut(t, site, down)) await shAsync('ip', ['-n', step.ns, '-batch', '-'], `${step.lines.join('\n')}\n`);
}

/** A repeat's WAN cuts: windows of one site may overlap, so its link goes down at the first cut and comes back at the last restore. */
export class WanCuts {
  private readonly depth = new Map<number, number>();
  constructor(private readonly t: Topology) {}

  /** A cut or restore of the fault timeline; true when it took a link down. */
  async apply(site: number, cut: boolean): Promise<boolean> {
    const depth = (this.depth.get(site) ?? 0) + (cut ? 1 : -1);
    this.depth.set(site, depth);
    if (depth !== (cut ? 1 : 0)) return false;
    await setWanCut(this.t, site, cut);
    return cut;
  }

  /** Brings back every link the timeline left down (at the end of a repeat). */
  async restoreAll(): Promise<void> {
    for (const [site, depth] of this.depth) if (depth > 0) await setWanCut(this.t, site, false).catch(() => {});
  }
}

/** Tears the topology down on Ctrl-C / SIGTERM / exit of edgeplane itself. */
export function guardTeardown(destroy: () => void): () => void {
  const onSignal = (sig: NodeJS.Signals) => {
    destroy();
    process.stderr.write(`edgeplane: ${sig}: emulated topology removed\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  const onExit = () => destroy();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  };
}
