// Statistics shared by the report, the gate and the simulator's runner.
import { errorFunction } from 'simple-statistics';

import { quantile } from '../common/index.js';

export { quantile };

export function sortedAscending(values: readonly number[]): number[] {
  return Float64Array.from(values).sort() as unknown as number[];
}

export function median(values: readonly number[]): number {
  return quantile(sortedAscending(values), 0.5);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of an empty array');
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

export interface MannWhitneyResult {
  /** U of the first sample: pairs (a_i, b_j) with a_i > b_j, ties counting one half (SciPy's convention) */
  u: number;
  /** two-sided p-value */
  p: number;
  /** normal-approximation z (tie- and continuity-corrected); absent for the exact test */
  z?: number;
  exact: boolean;
}

/** Largest m·n for which the exact null distribution is computed (no ties only). */
const EXACT_MAX_PRODUCT = 2500;

/**
 * Two-sided Mann–Whitney U test. Exact null distribution when there are no ties and the samples
 * are small (as SciPy's `method="auto"` does for n ≤ 8; we go further since it is cheap), otherwise
 * the normal approximation with tie and continuity corrections.
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[], opts: { method?: 'auto' | 'exact' | 'asymptotic' } = {}): MannWhitneyResult {
  const m = a.length;
  const n = b.length;
  if (m === 0 || n === 0) throw new RangeError('Mann-Whitney U needs at least one value in each sample');
  const { ranks, tieTerm } = midranks([...a, ...b]);
  let rankSumA = 0;
  for (let i = 0; i < m; i++) rankSumA += ranks[i];
  const u = rankSumA - (m * (m + 1)) / 2;
  const method = opts.method ?? 'auto';
  const useExact = method === 'exact' || (method === 'auto' && tieTerm === 0 && m * n <= EXACT_MAX_PRODUCT);
  if (useExact) {
    const uMin = Math.min(u, m * n - u);
    return { u, p: Math.min(1, 2 * exactCdf(Math.floor(uMin), m, n)), exact: true };
  }
  const total = m + n;
  const variance = ((m * n) / 12) * (total + 1 - tieTerm / (total * (total - 1)));
  if (variance === 0) return { u, p: 1, z: 0, exact: false }; // every value identical
  const centred = u - (m * n) / 2;
  const z = (centred - 0.5 * Math.sign(centred)) / Math.sqrt(variance);
  const p = Math.min(1, 1 - errorFunction(Math.abs(z) / Math.SQRT2));
  return { u, p, z, exact: false };
}

/** Smallest two-sided p-value the exact test can reach with samples of sizes m and n. */
export function minimumAttainableP(m: number, n: number): number {
  // both extreme orderings: 2 / C(m+n, m)
  let c = 1;
  for (let i = 1; i <= Math.min(m, n); i++) c = (c * (m + n - Math.min(m, n) + i)) / i;
  return Math.min(1, 2 / c);
}

function midranks(values: number[]): { ranks: number[]; tieTerm: number } {
  const order = values.map((_, i) => i).sort((i, j) => values[i] - values[j]);
  const ranks = new Array<number>(values.length);
  let tieTerm = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]] = rank;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  return { ranks, tieTerm };
}

/** P(U ≤ u) under H0 for sample sizes m, n (no ties), by the counting recurrence. */
function exactCdf(u: number, m: number, n: number): number {
  // counts[j][k] = arrangements of j values from sample a and the rest from b giving U = k,
  // built up one sample-b value at a time (Mann & Whitney 1947 recurrence).
  let prev: number[][] = Array.from({ length: m + 1 }, (_, j) => (j === 0 ? [1] : [1]));
  for (let nb = 1; nb <= n; nb++) {
    const next: number[][] = [];
    for (let j = 0; j <= m; j++) {
      const size = j * nb + 1;
      const row = new Array<number>(size).fill(0);
      // last value belongs to b: contributes U unchanged from (j, nb-1)
      const fromB = prev[j];
      for (let k = 0; k < fromB.length; k++) row[k] += fromB[k];
      // last value belongs to a: it exceeds all nb values of b
      if (j > 0) {
        const fromA = next[j - 1];
        for (let k = 0; k < fromA.length; k++) row[k + nb] += fromA[k];
      }
      next.push(row);
    }
    prev = next;
  }
  const dist = prev[m];
  let total = 0;
  let below = 0;
  for (let k = 0; k < dist.length; k++) {
    total += dist[k];
    if (k <= u) below += dist[k];
  }
  return below / total;
}
