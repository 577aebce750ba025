// What a real or emulated run records about the machine it ran on (the results' meta line).
// The simulator records none: its results must not depend on the machine.
import { arch, cpus, hostname, platform, totalmem } from 'node:os';
import type { z } from 'zod';
import type { MachineSchema } from '../reports/index.js';

export function thisMachine(): z.infer<typeof MachineSchema> {
  const cpuList = cpus();
  return {
    os: platform(),
    arch: arch(),
    cpus: cpuList.length,
    ...(cpuList[0]?.model ? { cpuModel: cpuList[0].model } : {}),
    memoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    hostname: hostname(),
  };
}
