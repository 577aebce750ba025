// The one summary every plane's `calibrate` makes of its recorded calls.
import { quantile } from '../common/index.js';
import type { Calibration, PlaneModel } from './model.js';
import type { CallRecord } from './transport/index.js';

/** Per op: median and p95 in whole microseconds of the successful first attempts (retries excluded). */
export function summarizeCalls(records: readonly CallRecord[], ops: readonly string[]): Calibration['ops'] {
  const out: Calibration['ops'] = {};
  for (const op of ops) {
    const ms = records
      .filter((r) => r.op === op && r.attempt === 1 && r.status >= 200 && r.status < 300)
      .map((r) => r.ms)
      .sort((a, b) => a - b);
    if (ms.length === 0) continue;
    const medianUs = Math.max(1, Math.round(quantile(ms, 0.5) * 1000));
    out[op] = { medianUs, p95Us: Math.max(medianUs, Math.round(quantile(ms, 0.95) * 1000)), samples: ms.length };
  }
  return out;
}

/**
 * A calibration that makes every operation of the model near-free (1 µs): what is left is the
 * links and the plane's fixed cycles (the bound tests and `bench -- swarm`).
 */
export function nearFreeCalibration(model: PlaneModel, source: string): Calibration {
  const names = new Set<string>([model.dataPath.op.op]);
  if (model.dataPath.wholeOp) names.add(model.dataPath.wholeOp.op);
  if (model.tokenValidation) names.add(model.tokenValidation.op.op);
  if (model.mode === 'agent') for (const c of ['login', 'getAssignment', 'getManifest', 'getKey', 'report'] as const) for (const o of model.agentOps(c)) names.add(o.op);
  for (const siteCache of [false, true]) for (const s of model.nativeSteps?.({ siteCache, firstOnSite: true }) ?? []) if ('op' in s) names.add(s.op.op);
  return { plane: model.plane, source, ops: Object.fromEntries([...names].map((n) => [n, { medianUs: 1, p95Us: 1, samples: 1 }])) };
}
