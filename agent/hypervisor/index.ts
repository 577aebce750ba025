// Hypervisor drivers: qemu (real VMs), libvirt (via virsh) and sim (a timed fake for tests).
import type { Logger } from '../../common/index.js';
import { InputError } from '../../common/index.js';
import { LibvirtDriver } from './libvirt.js';
import { QemuDriver, type AccelChoice } from './qemu.js';
import { SimHypervisor, type SimFailure } from './sim.js';
import type { Hypervisor } from './types.js';

export { VmBootError, type Hypervisor, type StagedImage, type VmHandle, type VmStatus } from './types.js';
export { QemuDriver, probeKvm, killProcessGroup, type AccelChoice, type QemuDriverOptions } from './qemu.js';
export { LibvirtDriver, domainXml, requireVirsh, VIRSH_MISSING, type LibvirtDriverOptions } from './libvirt.js';
export { SimHypervisor, type SimFailure, type SimHypervisorOptions } from './sim.js';
export { findExecutable, requireExecutable } from './executables.js';

export const HYPERVISOR_KINDS = ['qemu', 'libvirt', 'sim'] as const;
export type HypervisorKind = (typeof HYPERVISOR_KINDS)[number];

export interface HypervisorOptions {
  workDir: string;
  accel?: AccelChoice;
  log?: Logger;
  /** sim only (a function: asked at each start) */
  bootDelayMs?: number | (() => number);
  fail?: SimFailure;
}

export function createHypervisor(kind: string, opts: HypervisorOptions): Hypervisor {
  switch (kind) {
    case 'qemu':
      return new QemuDriver({ workDir: opts.workDir, accel: opts.accel, log: opts.log });
    case 'libvirt':
      return new LibvirtDriver({ workDir: opts.workDir, accel: opts.accel, log: opts.log });
    case 'sim':
      return new SimHypervisor({ bootDelayMs: opts.bootDelayMs, fail: opts.fail });
    default:
      throw new InputError(`unknown hypervisor "${kind}": use ${HYPERVISOR_KINDS.join(', ')}`);
  }
}
