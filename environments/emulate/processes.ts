// Processes the emulation starts inside its namespaces (`ip netns exec <ns> node ...`, which execs,
// so the child's pid is the Node process): agents, the plane's service, relays. Each is stopped by
// its own pid only; whatever survives is killed with its namespace (netns.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { EnvironmentError } from '../../common/index.js';

export class NsProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stderr = '';
  private stdoutText = '';

  constructor(
    readonly ns: string,
    readonly args: string[],
    readonly what: string,
    nodeFlags: readonly string[] = [],
  ) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeFlags, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

  /** Resolves with the first stdout line matching `re` (EnvironmentError if the process exits first or after `timeoutMs`). */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.stdoutText);
      if (m) return m;
      if (!this.running) throw new EnvironmentError(`${this.what} in ${this.ns} exited before it was ready: ${this.stderr.trim().slice(-1500)}`);
      if (Date.now() > deadline) throw new EnvironmentError(`${this.what} in ${this.ns} not ready after ${timeoutMs / 1000} s: ${this.stderr.trim().slice(-1500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * VmHWM (peak RSS) and the private bytes (Private_Clean + Private_Dirty of smaps_rollup: what
   * this process alone costs; the Node binary's pages are shared by all agents) in bytes, or null
   * when it is gone.
   */
  memory(): { peakRssBytes: number; privateBytes: number } | null {
    try {
      const kb = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const rollup = readFileSync(`/proc/${this.pid}/smaps_rollup`, 'utf8');
      const peak = kb(status, 'VmHWM');
      const priv = kb(rollup, 'Private_Clean') + kb(rollup, 'Private_Dirty');
      return Number.isFinite(peak) && Number.isFinite(priv) ? { peakRssBytes: peak, privateBytes: priv } : null;
    } catch {
      return null;
    }
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
