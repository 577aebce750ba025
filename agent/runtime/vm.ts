// The one VM of the node, on a hypervisor driver. Starting the image that already runs is a
// no-op. The VM's pid is recorded in vm.json: a VM left behind by a crashed agent (qemu runs in
// its own process group and survives a SIGKILL of the agent) is killed at the next start, so
// the node never runs two.
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive, type Logger } from '../../common/index.js';
import type { Hypervisor } from '../hypervisor/index.js';
import type { Assignment } from '../machine/index.js';
import { writeDurable } from './durable.js';

const sameImage = (a: Assignment | null, b: Assignment | null) => a !== null && b !== null && a.imageId === b.imageId && a.version === b.version;

export class VmController {
  private readonly pidFile: string;
  private running: Assignment | null = null;

  constructor(
    private readonly hv: Hypervisor,
    stateDir: string,
    private readonly bootTimeoutMs: number,
    private readonly log: Logger,
  ) {
    this.pidFile = join(stateDir, 'vm.json');
  }

  /** Kills the VM a previous agent process left running, if any. */
  async reapOrphan(): Promise<void> {
    let pid: number;
    try {
      pid = (JSON.parse(await readFile(this.pidFile, 'utf8')) as { pid?: number }).pid ?? 0;
    } catch {
      return;
    }
    if (Number.isInteger(pid) && pid > 1 && (await isHypervisorProcess(pid))) {
      this.log.warn({ pid }, 'killing the VM a previous agent process left behind');
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        try {
          process.kill(-pid, signal);
        } catch {
          break;
        }
        for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
        if (!pidAlive(pid)) break;
      }
    }
    await unlink(this.pidFile).catch(() => undefined);
  }

  /** Starts `image` from `path` and waits for its boot marker; true when it booted. */
  async start(image: Assignment, path: string): Promise<boolean> {
    if (sameImage(image, this.running) && this.hv.status() === 'running') return true;
    this.running = null;
    try {
      const handle = await this.hv.start({ imageId: image.imageId, version: image.version, path });
      if (handle.pid !== undefined) await writeDurable(this.pidFile, JSON.stringify({ pid: handle.pid, image }));
      await this.hv.waitForMarker(this.bootTimeoutMs);
      this.running = image;
      this.log.info({ image, accel: handle.accel, console: handle.consoleLog }, 'VM booted');
      return true;
    } catch (err) {
      this.log.error({ image, err: (err as Error).message }, 'VM did not boot');
      await this.stop().catch(() => undefined);
      return false;
    }
  }

  async stop(): Promise<void> {
    this.running = null;
    await this.hv.stop();
    await unlink(this.pidFile).catch(() => undefined);
  }

  current(): Assignment | null {
    return this.running;
  }
}

/** Only a qemu process is ours to kill: the pid may have been reused since. */
async function isHypervisorProcess(pid: number): Promise<boolean> {
  try {
    return /qemu/.test(await readFile(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}
