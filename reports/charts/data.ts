// Per-series values the charts and tables read from a Run.
import type { Run } from '../model.js';
import { mean } from '../stats.js';
import { PHASE_ORDER } from './frame.js';

/** Mean over repeats of a run-scope metric (key as built by metricKey), if present. */
export function runValue(run: Run | undefined, key: string): number | undefined {
  const values = run?.metrics.get(key);
  return values && values.length > 0 ? mean(values) : undefined;
}

/** Mean duration per phase: deploy_phase_mean when reported, else the mean of per-node phases. */
export function phaseMeans(run: Run | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (!run) return out;
  for (const [key, values] of run.metrics) {
    const m = /^deploy_phase_mean\[(.+)\]$/.exec(key);
    if (m) out.set(m[1], mean(values));
  }
  if (out.size === 0) for (const [phase, values] of run.nodePhases) out.set(phase, mean(values));
  return out;
}

/** Phases in their protocol order, unknown ones after, alphabetically. */
export function orderPhases(phases: Iterable<string>): string[] {
  const set = [...new Set(phases)];
  const rank = (p: string) => {
    const i = PHASE_ORDER.indexOf(p);
    return i < 0 ? PHASE_ORDER.length : i;
  };
  return set.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
