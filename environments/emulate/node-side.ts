// A native plane's own node-side processes on an emulated fleet (NativeNodeProcesses: CloudStack's
// KVM agents): each runs in its node's namespace, so its traffic takes the node's shaped links. The
// environment keeps them so the fault timeline can crash one (SIGKILL) and start it again with the
// same arguments after downFor; the plane's handle follows the restarted process.
import type { NativeNodeProcesses, NodeSideProcess } from '../../adapters/index.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError, safeFolderName } from '../../common/index.js';
import { NsProcess } from './processes.js';
import { ORIGIN_HOST_IP, type EmulatedNode } from './topology.js';

class RestartableProcess implements NodeSideProcess {
  private current: NsProcess;
  private stopped = false;
  starts = 1;

  constructor(
    private readonly ns: string,
    private readonly args: string[],
    readonly what: string,
  ) {
    this.current = new NsProcess(ns, args, what);
  }

  get running(): boolean {
    return this.current.running;
  }

  get exited(): Promise<number | null> {
    return this.current.exited;
  }

  get stderr(): string {
    return this.current.stderr;
  }

  cpuMs(): number {
    return this.current.cpuMs() ?? 0;
  }

  waitFor(re: RegExp, timeoutMs?: number): Promise<unknown> {
    return this.current.waitFor(re, timeoutMs);
  }

  /** SIGKILL (a node crash); false when it was not running */
  crash(): boolean {
    if (this.stopped || !this.current.running) return false;
    this.current.kill('SIGKILL');
    return true;
  }

  /** The node back after a crash: the same program and arguments, a new process. */
  async restart(): Promise<void> {
    await this.current.exited;
    if (this.stopped) return;
    this.current = new NsProcess(this.ns, this.args, this.what);
    this.starts++;
  }

  stop(graceMs?: number): Promise<number | null> {
    this.stopped = true;
    return this.current.stop(graceMs);
  }
}

export class NodeSideProcesses implements NativeNodeProcesses {
  readonly originHost = ORIGIN_HOST_IP;
  private readonly byId = new Map<string, RestartableProcess>();
  /** CPU time of processes that ended (crashed) */
  private endedCpuMs = 0;

  /**
   * `boot`: each node's boot time (ms) in repeat r; the files under `bootDir` hold repeat 0's
   * draws from the start and `setRepeat` rewrites them
   */
  constructor(
    private readonly nodes: ReadonlyMap<string, EmulatedNode>,
    private readonly boot: { dir: string; delayMs: (nodeId: string, repeat: number) => number },
  ) {
    mkdirSync(boot.dir, { recursive: true });
    this.setRepeat(0);
  }

  bootDelayFile(nodeId: string): string {
    return join(this.boot.dir, `${safeFolderName(nodeId)}.ms`);
  }

  /** Every node's boot file holds repeat `r`'s draw (read by its agent at its next VM start). */
  setRepeat(r: number): void {
    for (const id of this.nodes.keys()) writeFileSync(this.bootDelayFile(id), `${this.boot.delayMs(id, r)}\n`);
  }

  start(nodeId: string, args: string[], what: string): NodeSideProcess {
    const node = this.nodes.get(nodeId);
    if (!node) throw new EnvironmentError(`no emulated node ${nodeId} to start ${what} on`);
    if (this.byId.has(nodeId)) throw new EnvironmentError(`node ${nodeId} already runs ${this.byId.get(nodeId)!.what}`);
    const p = new RestartableProcess(node.ns, args, what);
    this.byId.set(nodeId, p);
    return p;
  }

  /** Kills node `nodeId`'s process as a crash would; false when it had none running. */
  crash(nodeId: string): boolean {
    const p = this.byId.get(nodeId);
    if (!p) return false;
    const cpu = p.cpuMs();
    const hit = p.crash();
    if (hit) this.endedCpuMs += cpu;
    return hit;
  }

  async restart(nodeId: string): Promise<void> {
    await this.byId.get(nodeId)?.restart();
  }

  /** Processes started over the run, restarts included. */
  starts(): number {
    return [...this.byId.values()].reduce((a, p) => a + p.starts, 0);
  }

  /** CPU ms of every node-side process so far. */
  cpuMs(): number {
    return this.endedCpuMs + [...this.byId.values()].reduce((a, p) => a + p.cpuMs(), 0);
  }

  /** Stops whatever the plane left running. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.byId.values()].map((p) => p.stop(2_000)));
  }
}
