// The plane registry: built by the composition root (planes/index.ts) from the planes'
// descriptors, it answers every generic question about them (names, modes, options, models with a
// live calibration applied over the defaults, assumptions for reports). It names no plane itself.
import { z } from 'zod';
import { InputError, NotSupportedError } from '../common/index.js';
import type { PlaneDescriptor } from './descriptor.js';
import type { ApiOp, Calibration, ComplexityProfile, ModelAssumption, NativeStep, PlaneMode, PlaneModel, PlaneName, PlaneOptions, ServiceTime } from './model.js';

export type { Calibration, PlaneOptions } from './model.js';

/** A calibration file may also carry the complexity profile measured on the live stack. */
export type CalibrationWithProfile = Calibration & { profile?: ComplexityProfile };

const planeNameSchema = z.string().min(1);
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

export const PLANE_MODES: readonly PlaneMode[] = ['agent', 'native'];
export const PLACEMENTS = ['pinned', 'scheduler'] as const;

/** The planes edgeplane knows, from their descriptors; the only way the rest reaches a plane. */
export class PlaneRegistry {
  private readonly byName: ReadonlyMap<string, PlaneDescriptor>;

  constructor(readonly descriptors: readonly PlaneDescriptor[]) {
    const map = new Map<string, PlaneDescriptor>();
    for (const d of descriptors) {
      if (!/^[a-z][a-z0-9-]*$/.test(d.name)) throw new Error(`plane name ${JSON.stringify(d.name)}: lower-case letters, digits and "-"`);
      if (map.has(d.name)) throw new Error(`plane ${d.name} is listed twice`);
      if (d.modes.length === 0) throw new Error(`plane ${d.name} has no mode`);
      map.set(d.name, d);
    }
    this.byName = map;
  }

  /** every plane's name, in listing order */
  get names(): string[] {
    return this.descriptors.map((d) => d.name);
  }

  /** the planes a scenario may name: those with a simulation model */
  get simulated(): PlaneDescriptor[] {
    return this.descriptors.filter((d) => d.model !== undefined);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get(name: string): PlaneDescriptor {
    const d = this.byName.get(name);
    if (!d) throw new InputError(`unknown control plane ${JSON.stringify(name)} (known: ${this.names.join(', ')})`);
    return d;
  }

  /** the plane, which must have `what` (NotSupportedError naming the planes that do) */
  with<K extends keyof PlaneDescriptor>(name: string, what: K, doing: string): PlaneDescriptor & Required<Pick<PlaneDescriptor, K>> {
    const d = this.get(name);
    if (d[what] === undefined) {
      const able = this.descriptors.filter((x) => x[what] !== undefined).map((x) => x.name);
      throw new NotSupportedError(`${doing} ${name} (the plane has no ${String(what)}${able.length ? `; planes with one: ${able.join(', ')}` : ''})`);
    }
    return d as PlaneDescriptor & Required<Pick<PlaneDescriptor, K>>;
  }

  /** A plane's model. NotSupportedError/InputError for modes and options the plane does not take. */
  model(plane: PlaneName, mode: PlaneMode, opts: PlaneOptions): PlaneModel {
    const d = this.get(plane);
    if (!PLANE_MODES.includes(mode)) throw new InputError(`unknown plane mode "${String(mode)}" (known: ${PLANE_MODES.join(', ')})`);
    if (!d.model) throw new NotSupportedError(`plane ${plane} has no simulation model`);
    for (const [flag, on] of Object.entries(opts.flags)) {
      const spec = d.options[flag];
      if (!spec) throw new InputError(`plane ${plane} has no option ${flag}${this.ownersOf(flag)}`);
      if (on && !spec.modes.includes(mode)) throw new InputError(`${flag} applies to ${plane} in ${spec.modes.join('/')} mode only`);
    }
    const flags = Object.fromEntries(Object.keys(d.options).map((k) => [k, opts.flags[k] === true]));
    const model = d.model(mode, { ...opts, flags });
    return opts.calibration ? calibrated(model, opts.calibration) : model;
  }

  /** Every (mode, options) combination a plane's model accepts, without calibration. */
  variants(plane: PlaneName): { mode: PlaneMode; options: PlaneOptions }[] {
    const d = this.get(plane);
    if (d.variants) return d.variants();
    const out: { mode: PlaneMode; options: PlaneOptions }[] = [];
    for (const mode of d.modes) {
      const flags = Object.entries(d.options)
        .filter(([, spec]) => spec.modes.includes(mode))
        .map(([k]) => k);
      const placements = mode === 'native' ? PLACEMENTS : (['pinned'] as const);
      for (const placement of placements) {
        for (let bits = 0; bits < 2 ** flags.length; bits++) {
          const set = Object.fromEntries(Object.keys(d.options).map((k) => [k, flags.includes(k) && (bits & (1 << flags.indexOf(k))) !== 0]));
          out.push({ mode, options: { placement, flags: set } });
        }
      }
    }
    return out;
  }

  /** all flags off: the options of a plane entry that sets none */
  defaultFlags(plane: PlaneName): Record<string, boolean> {
    return Object.fromEntries(Object.keys(this.get(plane).options).map((k) => [k, false]));
  }

  /** Parse and validate a calibration file's text; InputError (naming `source`) when it is not one. */
  parseCalibration(text: string, source: string): CalibrationWithProfile {
    const c = parseCalibration(text, source);
    if (!this.has(c.plane)) throw new InputError(`${source}: calibration for unknown plane "${c.plane}" (known: ${this.names.join(', ')})`);
    return c;
  }

  private ownersOf(flag: string): string {
    const owners = this.descriptors.filter((x) => flag in x.options).map((x) => x.name);
    return owners.length ? ` (${flag} is an option of ${owners.join(', ')})` : '';
  }
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
