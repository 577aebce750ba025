// SimHypervisor: a timed FAKE for tests and emulation runs; it starts no VM. It "boots" after a
// delay and can be told to fail at start or during boot.
import { VmBootError, type Hypervisor, type StagedImage, type VmHandle, type VmStatus } from './types.js';

export type SimFailure = 'start' | 'boot' | null;

export interface SimHypervisorOptions {
  /** time from start() until the boot marker (default 50 ms); a function is asked at each start */
  bootDelayMs?: number | (() => number);
  fail?: SimFailure;
}

interface SimVm {
  handle: VmHandle;
  status: VmStatus;
  booted: Promise<void>;
  cancel: () => void;
}

export class SimHypervisor implements Hypervisor {
  readonly name = 'sim' as const;
  private vm: SimVm | null = null;
  private lastHandle: VmHandle | null = null;
  private starts = 0;
  private failure: SimFailure;
  private readonly bootDelayMs: () => number;

  constructor(opts: SimHypervisorOptions = {}) {
    const delay = opts.bootDelayMs ?? 50;
    this.bootDelayMs = typeof delay === 'function' ? delay : () => delay;
    this.failure = opts.fail ?? null;
  }

  /** Inject (or clear) a failure for the next start. */
  setFailure(failure: SimFailure): void {
    this.failure = failure;
  }

  async start(image: StagedImage): Promise<VmHandle> {
    await this.stop();
    if (this.failure === 'start') throw new VmBootError(`sim: injected start failure for ${image.imageId}@${image.version}`);
    const handle: VmHandle = { id: `${image.imageId}@${image.version}#${++this.starts}`, image: { imageId: image.imageId, version: image.version }, consoleLog: '', accel: 'sim', startedAt: Date.now() };
    const failBoot = this.failure === 'boot';
    let cancel = () => {};
    const booted = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (failBoot) {
          vm.status = 'failed';
          reject(new VmBootError(`sim: injected boot failure for ${handle.id}`));
        } else {
          vm.status = 'running';
          resolve();
        }
      }, this.bootDelayMs());
      cancel = () => {
        clearTimeout(timer);
        reject(new VmBootError(`sim: ${handle.id} was stopped before it booted`));
      };
    });
    booted.catch(() => undefined); // observed through waitForMarker
    const vm: SimVm = { handle, status: 'starting', booted, cancel: () => cancel() };
    this.vm = vm;
    this.lastHandle = handle;
    return handle;
  }

  waitForMarker(timeoutMs = 120_000): Promise<void> {
    const vm = this.vm;
    if (!vm) return Promise.reject(new VmBootError('no VM is running'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new VmBootError(`sim: ${vm.handle.id} printed no boot marker within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([vm.booted, timeout]).finally(() => clearTimeout(timer));
  }

  async stop(): Promise<void> {
    const vm = this.vm;
    if (!vm) return;
    this.vm = null;
    vm.status = 'stopped';
    vm.cancel();
  }

  status(): VmStatus {
    return this.vm?.status ?? 'stopped';
  }

  current(): VmHandle | null {
    return this.vm?.handle ?? this.lastHandle;
  }
}
