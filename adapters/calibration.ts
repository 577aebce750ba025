// The one summary every plane's `calibrate` makes of its recorded calls.
import { quantile } from '../common/index.js';
import type { Calibration } from './model.js';
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
