// The hypervisor driver contract the agent runtime uses to run its one VM.
import type { Assignment } from '../machine/types.js';
import { EnvironmentError } from '../../common/index.js';

/** A verified, decrypted appliance image on local disk (see pipeline/appliance.ts for the format). */
export interface StagedImage {
  imageId: string;
  version: string;
  path: string;
}

export type VmStatus = 'stopped' | 'starting' | 'running' | 'failed';

export interface VmHandle {
  /** unique per start */
  id: string;
  image: Assignment;
  /** the console (serial) output, captured to this file */
  consoleLog: string;
  /** how the VM is accelerated: 'kvm', 'tcg' (qemu/libvirt) or 'sim' */
  accel: 'kvm' | 'tcg' | 'sim';
  pid?: number;
  startedAt: number;
}

export interface Hypervisor {
  readonly name: 'qemu' | 'libvirt' | 'sim';
  /** Starts a VM from the image, stopping the running one first: a node runs exactly one VM. */
  start(image: StagedImage): Promise<VmHandle>;
  /** Resolves when the image's boot marker appears on the console; rejects with VmBootError otherwise. */
  waitForMarker(timeoutMs?: number): Promise<void>;
  /** Stops the VM (graceful first, then forced); a no-op when none runs. */
  stop(): Promise<void>;
  status(): VmStatus;
  /** the running (or last) VM */
  current(): VmHandle | null;
}

/** The VM did not boot: it exited, crashed, or never printed its marker in time. */
export class VmBootError extends EnvironmentError {}
