// The qemu driver: direct kernel boot of an appliance image under qemu-system-x86_64, console on
// the serial port captured to a file, KVM when it works and TCG otherwise.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, createWriteStream, type WriteStream } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { extractBootFiles } from '../../pipeline/index.js';
import { silentLogger, type Logger } from '../../common/index.js';
import { ConsoleWatch } from './console.js';
import { requireExecutable } from './executables.js';
import { VmBootError, type Hypervisor, type StagedImage, type VmHandle, type VmStatus } from './types.js';

export type AccelChoice = 'auto' | 'kvm' | 'tcg';

export interface QemuDriverOptions {
  /** where boot files and console logs of this node's VMs go */
  workDir: string;
  qemuBinary?: string;
  accel?: AccelChoice;
  kvmProbeTimeoutMs?: number;
  /** grace period between SIGTERM and SIGKILL */
  stopTimeoutMs?: number;
  log?: Logger;
}

const QEMU = 'qemu-system-x86_64';
const INSTALL_QEMU = 'install qemu-system-x86 (apt-get install -y qemu-system-x86)';

function baseArgs(memoryMiB: number, accel: 'kvm' | 'tcg'): string[] {
  return ['-accel', accel, '-m', String(memoryMiB), '-smp', '1', '-nodefaults', '-display', 'none', '-serial', 'stdio', '-monitor', 'none', '-no-reboot'];
}

/** Kills a detached child's whole process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function killProcessGroup(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
  if ((await Promise.race([exited, forced])) === 'timeout') {
    signal('SIGKILL');
    await exited;
  }
  clearTimeout(timer);
}

// VMs are detached process groups: do not leave them behind if this process exits without stop()
const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

const probes = new Map<string, Promise<boolean>>();

/**
 * Does KVM run a real guest here? /dev/kvm may exist yet guests hang (nested virtualisation),
 * so boot the kernel briefly and wait for its first protected-mode console line. Cached per
 * qemu binary for the life of the process.
 */
export function probeKvm(qemu: string, kernelPath: string, timeoutMs = 3000): Promise<boolean> {
  let probe = probes.get(qemu);
  if (!probe) {
    probe = runKvmProbe(qemu, kernelPath, timeoutMs);
    probes.set(qemu, probe);
  }
  return probe;
}

async function runKvmProbe(qemu: string, kernelPath: string, timeoutMs: number): Promise<boolean> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  const child = spawn(qemu, [...baseArgs(128, 'kvm'), '-kernel', kernelPath, '-append', 'earlyprintk=ttyS0 console=ttyS0 panic=-1'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  const ok = await new Promise<boolean>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out = (out + d.toString()).slice(-200);
      if (out.includes('Linux version')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    child.once('error', () => resolve(false));
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  await killProcessGroup(child, 1000);
  return ok;
}

interface RunningVm {
  handle: VmHandle;
  child: ChildProcess;
  watch: ConsoleWatch;
  log: WriteStream;
  exited: Promise<void>;
  status: VmStatus;
}

export class QemuDriver implements Hypervisor {
  readonly name = 'qemu' as const;
  private vm: RunningVm | null = null;
  private lastHandle: VmHandle | null = null;
  private starts = 0;
  private readonly log: Logger;

  constructor(private readonly opts: QemuDriverOptions) {
    this.log = opts.log ?? silentLogger;
  }

  async start(image: StagedImage): Promise<VmHandle> {
    await this.stop();
    const qemu = await requireExecutable(this.opts.qemuBinary ?? QEMU, INSTALL_QEMU);
    const id = `${image.imageId}@${image.version}#${++this.starts}`;
    const dir = join(this.opts.workDir, `vm-${this.starts}`);
    await mkdir(dir, { recursive: true });
    const { header, kernelPath, initrdPath } = await extractBootFiles(image.path, join(dir, 'boot'));
    if (header.imageId !== image.imageId || header.version !== image.version) {
      throw new VmBootError(`staged image ${image.path} is ${header.imageId}@${header.version}, not ${image.imageId}@${image.version}`);
    }
    const accel = await this.chooseAccel(qemu, kernelPath);
    const consoleLog = join(dir, 'console.log');
    const log = createWriteStream(consoleLog);
    const args = [...baseArgs(header.memoryMiB, accel), '-kernel', kernelPath, '-initrd', initrdPath, '-append', header.cmdline];
    this.log.info({ id, accel, args }, 'starting qemu');
    // own process group, so stop() reaches qemu and anything it spawned
    const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const watch = new ConsoleWatch(header.marker);
    const handle: VmHandle = { id, image: { imageId: image.imageId, version: image.version }, consoleLog, accel, pid: child.pid, startedAt: Date.now() };
    const vm: RunningVm = { handle, child, watch, log, status: 'starting', exited: new Promise((resolve) => child.once('close', () => resolve())) };
    child.stdout!.on('data', (d: Buffer) => {
      log.write(d);
      watch.feed(d);
    });
    child.stderr!.on('data', (d: Buffer) => {
      log.write(d);
      watch.feed(d);
    });
    watch.onMarker(() => {
      if (vm.status === 'starting') vm.status = 'running';
    });
    liveChildren.add(child);
    child.once('close', () => {
      liveChildren.delete(child);
      // an appliance that powers off after its marker ended normally
      if (vm.status !== 'stopped') vm.status = watch.markerSeen ? 'stopped' : 'failed';
      log.end();
    });
    const spawned = await new Promise<Error | null>((resolve) => {
      child.once('spawn', () => resolve(null));
      child.once('error', (err) => resolve(err));
    });
    if (spawned) throw new VmBootError(`cannot start ${qemu}: ${spawned.message}`);
    this.vm = vm;
    this.lastHandle = handle;
    return handle;
  }

  private async chooseAccel(qemu: string, kernelPath: string): Promise<'kvm' | 'tcg'> {
    const choice = this.opts.accel ?? 'auto';
    if (choice !== 'auto') return choice;
    const kvm = await probeKvm(qemu, kernelPath, this.opts.kvmProbeTimeoutMs ?? 3000);
    if (!kvm) this.log.info('KVM unavailable or not working here: using TCG');
    return kvm ? 'kvm' : 'tcg';
  }

  waitForMarker(timeoutMs = 120_000): Promise<void> {
    const vm = this.vm;
    if (!vm) return Promise.reject(new VmBootError('no VM is running'));
    return new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new VmBootError(`${vm.handle.id} ${why} (console: ${vm.handle.consoleLog})`, vm.watch.tail()));
      };
      const timer = setTimeout(() => {
        vm.status = 'failed';
        fail(`printed no boot marker within ${Math.round(timeoutMs / 1000)} s`);
      }, timeoutMs);
      vm.watch.onMarker(() => {
        clearTimeout(timer);
        resolve();
      });
      void vm.exited.then(() => {
        if (!vm.watch.markerSeen) fail(`exited (code ${vm.child.exitCode ?? vm.child.signalCode}) before its boot marker`);
      });
    });
  }

  async stop(): Promise<void> {
    const vm = this.vm;
    if (!vm) return;
    this.vm = null;
    vm.status = 'stopped';
    await killProcessGroup(vm.child, this.opts.stopTimeoutMs ?? 5000);
    await vm.exited;
    this.log.info({ id: vm.handle.id }, 'qemu stopped');
  }

  status(): VmStatus {
    return this.vm?.status ?? 'stopped';
  }

  current(): VmHandle | null {
    return this.vm?.handle ?? this.lastHandle;
  }
}
