// The registry of plane models: builds a plane's model for a mode and options, applies a live
// calibration (measured service times per op name) over the defaults, and lists every default
// figure with its source for reports.
import { cloudstackModel } from '../control-cloudstack/index.js';
import { opennebulaModel } from '../control-opennebula/index.js';
import { openstackModel } from '../control-openstack/index.js';
import { z } from 'zod';
import { InputError } from '../common/index.js';
import type {
  ApiOp,
  Calibration,
  ComplexityProfile,
  ModelAssumption,
  NativeStep,
  PlaneMode,
  PlaneModel,
  PlaneName,
  PlaneOptions,
  ServiceTime,
} from './model.js';

export type { Calibration, PlaneOptions } from './model.js';

/** A calibration file may also carry the complexity profile measured on the live stack. */
export type CalibrationWithProfile = Calibration & { profile?: ComplexityProfile };

const planeNameSchema = z.enum(['openstack', 'opennebula', 'cloudstack']);
const profileSchema = z.object({
  plane: planeNameSchema,
  services: z.array(
    z.object({
      name: z.string().min(1),
      processes: z.number().int().nonnegative(),
      memoryMiB: z.number().nonnegative(),
      ports: z.array(z.number().int().min(0).max(65535)),
      configLines: z.number().int().nonnegative(),
      source: z.string().min(1),
    }),
  ),
  coupling: z.enum(['push', 'pull']),
  lacks: z.array(z.string()),
  notes: z.array(z.string()),
});

/** The calibration file `edgeplane calibrate` writes (and `edgeplane run --calibration` reads). */
export const calibrationSchema = z
  .object({
    plane: planeNameSchema,
    source: z.string().min(1),
    ops: z.record(
      z.string().min(1),
      z.object({ medianUs: z.number().positive(), p95Us: z.number().positive(), samples: z.number().int().positive() }).refine((m) => m.p95Us >= m.medianUs, 'p95Us must be >= medianUs'),
    ),
    profile: profileSchema.optional(),
  })
  .refine((c) => !c.profile || c.profile.plane === c.plane, { message: 'profile.plane must equal plane', path: ['profile', 'plane'] });

/** Parse and validate a calibration file's text; InputError (naming `source`) when it is not one. */
export function parseCalibration(text: string, source: string): CalibrationWithProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputError(`${source} is not JSON: ${(err as Error).message}`);
  }
  const parsed = calibrationSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`${source} is not a valid calibration file:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

export const PLANES: PlaneName[] = ['openstack', 'opennebula', 'cloudstack'];
export const PLANE_MODES: PlaneMode[] = ['agent', 'native'];

const FACTORIES: Record<PlaneName, (mode: PlaneMode, opts: PlaneOptions) => PlaneModel> = {
  openstack: openstackModel,
  opennebula: opennebulaModel,
  cloudstack: cloudstackModel,
};

/** A plane's model. Throws NotSupportedError for openstack native, InputError for options that do not apply. */
export function planeModel(plane: PlaneName, mode: PlaneMode, opts: PlaneOptions): PlaneModel {
  const factory = FACTORIES[plane];
  if (!factory) throw new InputError(`unknown control plane "${String(plane)}" (known: ${PLANES.join(', ')})`);
  if (!PLANE_MODES.includes(mode)) throw new InputError(`unknown plane mode "${String(mode)}" (known: ${PLANE_MODES.join(', ')})`);
  const model = factory(mode, opts);
  return opts.calibration ? calibrated(model, opts.calibration) : model;
}

/** Every (mode, options) combination a plane's model accepts, without calibration. */
export function planeVariants(plane: PlaneName): { mode: PlaneMode; options: PlaneOptions }[] {
  const agent = { mode: 'agent' as const, options: { placement: 'pinned' as const, replicaCache: false, directDownload: false } };
  if (plane === 'openstack') return [agent];
  const native: { mode: PlaneMode; options: PlaneOptions }[] = [];
  for (const placement of ['pinned', 'scheduler'] as const) {
    for (const flag of [false, true]) {
      native.push({
        mode: 'native',
        options: {
          placement,
          replicaCache: plane === 'opennebula' ? flag : false,
          directDownload: plane === 'cloudstack' ? flag : false,
        },
      });
    }
  }
  return [agent, ...native];
}

/** Probability that a deployment lands on the intended node among `candidates` equal hosts. */
export function intendedHostProbability(model: PlaneModel, candidates: number): number {
  if (!Number.isInteger(candidates) || candidates < 1) throw new InputError(`candidates must be a positive integer, got ${candidates}`);
  return model.placement.kind === 'exact' ? 1 : model.placement.unpinnedHitProbability(candidates);
}

/** Model assumptions for reports: every default number with its source. */
export function modelAssumptions(model: PlaneModel): { plane: PlaneName; name: string; value: string; source: string }[] {
  const rows: ModelAssumption[] = [...(model.assumptions ?? [])];
  for (const s of model.profile.services) {
    rows.push({
      name: `profile of ${s.name}`,
      value: `${s.processes} processes, ${s.memoryMiB} MiB, ports ${s.ports.join('/') || 'none'}, ${s.configLines} config lines`,
      source: s.source,
    });
  }
  return rows.map((r) => ({ plane: model.plane, ...r }));
}

function checkCalibration(plane: PlaneName, calibration: Calibration): void {
  if (calibration.plane !== plane) {
    throw new InputError(`calibration is for plane "${calibration.plane}", not "${plane}"`);
  }
  const profile = (calibration as CalibrationWithProfile).profile;
  if (profile && profile.plane !== plane) throw new InputError(`calibration profile is for plane "${profile.plane}", not "${plane}"`);
  for (const [op, m] of Object.entries(calibration.ops)) {
    const ok = Number.isFinite(m.medianUs) && m.medianUs > 0 && Number.isFinite(m.p95Us) && m.p95Us >= m.medianUs && Number.isInteger(m.samples) && m.samples > 0;
    if (!ok) throw new InputError(`calibration of ${op}: need 0 < medianUs <= p95Us and samples >= 1`, [JSON.stringify(m)]);
  }
}

/** The model with every op the calibration measured timed by the measurement instead of the default. */
function calibrated(model: PlaneModel, calibration: Calibration): PlaneModel {
  checkCalibration(model.plane, calibration);
  const timeOf = (op: string): ServiceTime | undefined => {
    const m = calibration.ops[op];
    return m && { kind: 'lognormal', medianUs: m.medianUs, p95Us: m.p95Us };
  };
  const apply = (op: ApiOp): ApiOp => {
    const t = timeOf(op.op);
    return t ? { ...op, serviceTime: t } : op;
  };
  const applyStep = (step: NativeStep): NativeStep => ('op' in step ? { ...step, op: apply(step.op) } : step);
  const source = calibration.source.startsWith('measured here') ? calibration.source : `measured here: ${calibration.source}`;
  const assumptions = (model.assumptions ?? []).map((a) => {
    const op = a.name.startsWith('service time of ') ? a.name.slice('service time of '.length) : null;
    const m = op ? calibration.ops[op] : undefined;
    return m ? { name: a.name, value: `median ${m.medianUs / 1000} ms, p95 ${m.p95Us / 1000} ms (${m.samples} samples)`, source } : a;
  });
  const profile = (calibration as CalibrationWithProfile).profile;
  const out: PlaneModel = {
    ...model,
    // the complexity profile measured live, when the calibration carries one
    ...(profile ? { profile } : {}),
    assumptions,
    agentOps: (control) => model.agentOps(control).map(apply),
    dataPath: { ...model.dataPath, op: apply(model.dataPath.op) },
  };
  if (model.tokenValidation) out.tokenValidation = { ...model.tokenValidation, op: apply(model.tokenValidation.op) };
  const steps = model.nativeSteps;
  if (steps) out.nativeSteps = (o) => steps(o).map(applyStep);
  return out;
}
