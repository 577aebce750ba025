// The meta line of a results file: `{"type":"meta", ...}`, written by the runner once per
// (scenario, plane, mode) run before its samples. It says what produced the samples after it.
import { z } from 'zod';

export const AssumptionSchema = z.object({
  plane: z.string(),
  name: z.string(),
  value: z.union([z.string(), z.number(), z.boolean()]),
  unit: z.string().optional(),
  /** where the value comes from: a calibration file, a paper, a vendor document, "estimate" */
  source: z.string(),
});

export const MachineSchema = z.looseObject({
  os: z.string(),
  arch: z.string().optional(),
  cpus: z.number().int().positive(),
  cpuModel: z.string().optional(),
  memoryMiB: z.number().optional(),
  node: z.string(),
  hostname: z.string().optional(),
});

// looseObject: newer writers may add fields; readers keep them and ignore what they do not know.
export const MetaSchema = z.looseObject({
  type: z.literal('meta'),
  scenario: z.object({ name: z.string().min(1), text: z.string().optional() }),
  plane: z.string().min(1).optional(),
  mode: z.enum(['agent', 'native']).optional(),
  strategy: z.enum(['origin', 'site-cache', 'peer']).optional(),
  env: z.enum(['sim', 'emulate', 'real']).optional(),
  seed: z.number().int(),
  version: z.string(),
  /** optional so older or partial writers stay readable; the report says "not recorded" */
  machine: MachineSchema.optional(),
  /** calibration used: a file name or id, or the measured values themselves */
  calibration: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  assumptions: z.array(AssumptionSchema).default([]),
  startedAt: z.string().optional(),
  /** set by readResults: the results file this line came from */
  source: z.string().optional(),
});

export type Assumption = z.infer<typeof AssumptionSchema>;
export type Meta = z.infer<typeof MetaSchema>;
