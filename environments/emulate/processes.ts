// Processes the emulation starts inside its namespaces (`ip netns exec <ns> node ...`, which execs,
// so the child's pid is the Node process): agents, the plane's service, relays. Each is stopped by
// its own pid only; whatever survives is killed with its namespace (netns.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EnvironmentError, type Logger } from '../../common/index.js';

/** An agent process (or agent host) as the emulation drives it, whatever runs it: a process in a namespace, a container. */
export interface AgentProcess {
  readonly what: string;
  readonly running: boolean;
  /** resolves with the exit code (null: killed by a signal, or never started) */
  readonly exited: Promise<number | null>;
  /** the last of its standard error (and why it could not start) */
  readonly stderr: string;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs`; resolves when it has exited */
  stop(graceMs?: number): Promise<number | null>;
  memory(): ProcessMemory | null;
  cpuMs(): number | null;
}

/** Starts agent processes inside the emulated namespaces: as plain processes (the default) or otherwise (containers). */
export interface AgentLauncher {
  /** for the results' assumptions: how agents run */
  readonly describe: string;
  /** once, before the first start: e.g. an image built and imported */
  prepare?(o: { workDir: string; cliPath: string; logger: Logger }): Promise<void>;
  /** `args` after the Node binary (the CLI and its arguments), run with `nodeFlags` inside network namespace `ns` */
  start(o: { ns: string; args: string[]; what: string; nodeFlags: readonly string[] }): AgentProcess;
  /** after the last stop (and on the next start after a crash): removes whatever it made */
  close?(): Promise<void>;
}

export interface ProcessMemory {
  peakRssBytes: number;
  privateBytes: number;
  pssBytes: number;
}

/**
 * VmHWM (peak RSS), the private bytes (Private_Clean + Private_Dirty of smaps_rollup: what
 * this process alone costs; the Node binary's pages are shared by all agents) and the PSS (its
 * share of every page: the PSS of all processes adds up to the memory they use) of process `pid`
 * in bytes, or null when it is gone.
 */
export function processMemory(pid: number): ProcessMemory | null {
  try {
    const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const peak = kb(status, 'VmHWM');
    const priv = kb(rollup, 'Private_Clean') + kb(rollup, 'Private_Dirty');
    const pss = kb(rollup, 'Pss');
    return Number.isFinite(peak) && Number.isFinite(priv) && Number.isFinite(pss) ? { peakRssBytes: peak, privateBytes: priv, pssBytes: pss } : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system, ms) process `pid` has used so far, or null when it is gone. */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 (utime, stime) in clock ticks, 100 per second on Linux
    const ticks = Number(f[11]) + Number(f[12]);
    return Number.isFinite(ticks) ? ticks * 10 : null;
  } catch {
    return null;
  }
}

/** The default launcher: `ip netns exec <ns> node ...`. */
export const namespaceLauncher: AgentLauncher = {
  describe: 'processes',
  start: (o) => new NsProcess(o.ns, o.args, o.what, o.nodeFlags),
};

export class NsProcess implements AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr = '';
  private stdoutText = '';

  constructor(
    readonly ns: string,
    readonly args: string[],
    readonly what: string,
    nodeFlags: readonly string[] = [],
    /** the program run with `args` (default: this Node with `nodeFlags`) */
    program?: string,
  ) {
    const argv = program === undefined ? [process.execPath, ...nodeFlags, ...args] : [program, ...args];
    this.child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.on('error', (err) => {
      this.stderr += `cannot start: ${err.message}\n`;
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 16_384) this.stderr += d.toString();
    });
    this.child.stdout!.on('data', (d: Buffer) => {
      if (this.stdoutText.length < 16_384) this.stdoutText += d.toString();
    });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first line of `stream` (default stdout) matching `re` (EnvironmentError if the process exits first or after `timeoutMs`). */
  async waitFor(re: RegExp, timeoutMs = 30_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(stream === 'stdout' ? this.stdoutText : this.stderr);
      if (m) return m;
      if (!this.running) throw new EnvironmentError(`${this.what} in ${this.ns} exited before it was ready: ${this.stderr.trim().slice(-1500)}`);
      if (Date.now() > deadline) throw new EnvironmentError(`${this.what} in ${this.ns} not ready after ${timeoutMs / 1000} s: ${this.stderr.trim().slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  memory(): ProcessMemory | null {
    return processMemory(this.pid);
  }

  cpuMs(): number | null {
    return processCpuMs(this.pid);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
